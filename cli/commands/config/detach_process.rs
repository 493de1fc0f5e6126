//! `passenger-config detach-process PID`: take one process out of the pool; the
//! pool shuts it down once its requests finish.

use serde_json::json;

use super::InstanceArg;
use crate::api_client::{select_instance, ApiClient, Auth};
use crate::applet::Invocation;
use crate::exit;
use crate::output::{self, Tool};

/// Detach an application process from the process pool.
#[derive(clap::Args, Debug, Clone)]
pub struct DetachProcessArgs {
    /// The PID of the application process.
    #[arg(value_name = "PID")]
    pub pid: u32,
    /// Exit successfully even if no process has this PID.
    #[arg(long, alias = "ignore-nonexistant-pid")]
    pub ignore_nonexistent_pid: bool,
    #[command(flatten)]
    pub instance: InstanceArg,
}

/// Runs `detach-process`.
pub fn run(args: &DetachProcessArgs, inv: &Invocation) -> anyhow::Result<i32> {
    let instance = select_instance(
        Tool::Config,
        &inv.command_for("config"),
        args.instance.instance.as_deref(),
        false,
    )?;
    let client = ApiClient::for_instance(&instance)?;
    let resp = client.post_json(
        "/pool/detach_process.json",
        &json!({ "pid": args.pid }),
        Auth::Full,
    )?;
    if resp.status == 401 {
        return Err(client.not_authorized("detach processes of", &resp).into());
    }
    if !resp.ok() {
        return Err(client.api_error("detach the process", &resp).into());
    }
    let detached = resp.json()?["detached"].as_bool().unwrap_or(false);
    if detached {
        output::print(&format!("Process {} detached.\n", args.pid))?;
        Ok(exit::OK)
    } else {
        output::print(&format!("Could not detach process {}.\n", args.pid))?;
        Ok(if args.ignore_nonexistent_pid {
            exit::OK
        } else {
            exit::FAILURE
        })
    }
}
