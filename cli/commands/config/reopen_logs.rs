//! `passenger-config reopen-logs`: make the instance reopen its log file (after
//! logrotate moved it).

use super::InstanceArg;
use crate::api_client::{select_instance, ApiClient, Auth};
use crate::applet::Invocation;
use crate::exit;
use crate::output::{self, Tool, PRODUCT};

/// Instruct passenger-rs to reopen its log file.
#[derive(clap::Args, Debug, Clone)]
pub struct ReopenLogsArgs {
    #[command(flatten)]
    pub instance: InstanceArg,
}

/// Runs `reopen-logs`.
pub fn run(args: &ReopenLogsArgs, inv: &Invocation) -> anyhow::Result<i32> {
    let instance = select_instance(
        Tool::Config,
        &inv.command_for("config"),
        args.instance.instance.as_deref(),
        false,
    )?;
    let client = ApiClient::for_instance(&instance)?;
    output::print(&format!("Reopening logs for {PRODUCT} core\n"))?;
    let resp = client.request("POST", "/reopen_logs.json", None, Auth::Full)?;
    if resp.status == 401 {
        return Err(client.not_authorized("reopen the logs of", &resp).into());
    }
    if !resp.ok() {
        return Err(client.api_error("reopen the logs", &resp).into());
    }
    output::print("All done\n")?;
    Ok(exit::OK)
}
