//! `passenger-config upgrade-core`: replace an instance's core with one from the
//! `passenger` binary now on disk, without refusing a connection (SIGUSR2 to its
//! watchdog; see README "Hot deploys").

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::InstanceArg;
use crate::api_client::select_instance;
use crate::applet::Invocation;
use crate::exit::{self, Exit};
use crate::output::{self, Tool};

/// How long the new core gets to start and the old one to drain before we give up
/// waiting (the upgrade itself goes on).
const UPGRADE_WAIT: Duration = Duration::from_secs(90);

/// Replace the instance's core with one from the binary on disk, on the same sockets.
#[derive(clap::Args, Debug, Clone)]
pub struct UpgradeCoreArgs {
    #[command(flatten)]
    pub instance: InstanceArg,
}

fn core_pid(path: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(path.join("core.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Runs `upgrade-core`: signals the watchdog the instance recorded (its lock shows
/// it is alive), then waits until a new core is recorded and the old one is gone.
pub fn run(args: &UpgradeCoreArgs, inv: &Invocation) -> anyhow::Result<i32> {
    let instance = select_instance(
        Tool::Config,
        &inv.command_for("config"),
        args.instance.instance.as_deref(),
        false,
    )?;
    let old = core_pid(&instance.path)
        .or(instance.core_pid)
        .ok_or_else(|| {
            Exit::new(
                exit::FAILURE,
                format!("{} records no core process", instance.name),
            )
        })?;
    let watchdog = i32::try_from(instance.watchdog_pid).map_err(|_| {
        Exit::new(
            exit::FAILURE,
            "the instance records an invalid watchdog pid",
        )
    })?;
    kill(Pid::from_raw(watchdog), Signal::SIGUSR2).map_err(|e| {
        Exit::new(
            exit::API_ERROR,
            format!(
                "cannot signal the watchdog (pid {watchdog}): {e}; run as root or as the instance's user"
            ),
        )
    })?;
    output::print(&format!(
        "Upgrading the core of {} (pid {old}) from the passenger binary on disk...\n",
        instance.name
    ))?;
    let start = Instant::now();
    while start.elapsed() < UPGRADE_WAIT {
        let now = core_pid(&instance.path);
        let old_gone = kill(Pid::from_raw(old as i32), None).is_err();
        match now {
            Some(new) if new != old && old_gone => {
                output::print(&format!("Core upgraded: pid {old} -> {new}\n"))?;
                return Ok(exit::OK);
            }
            None if !instance.path.exists() => {
                return Err(
                    Exit::new(exit::FAILURE, "the instance stopped during the upgrade").into(),
                )
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(Exit::new(
        exit::FAILURE,
        format!(
            "no new core after {}s: the old one (pid {old}) keeps serving; the log says why",
            UPGRADE_WAIT.as_secs()
        ),
    )
    .into())
}
