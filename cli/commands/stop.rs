//! `passenger stop`: stop a running server gracefully.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::api_client::select_instance;
use crate::exit;
use crate::output::Tool;

/// Arguments of `passenger stop`.
#[derive(clap::Args, Debug, Clone)]
pub struct StopArgs {
    /// The app directory of the server (default: the current directory): its PID file is
    /// the one `passenger start` there writes (`--pid-file`, else the Passengerfile.json's
    /// `pid_file`, else `passenger.<PORT>.pid`).
    #[arg(value_name = "APP_DIR")]
    pub app_dir: Option<PathBuf>,
    /// The PID file of the server to stop.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// The port of the server to stop: uses `<APP_DIR>/passenger.<PORT>.pid`. Default:
    /// the Passengerfile.json's `port`, else 3000.
    #[arg(short, long, value_name = "NUMBER")]
    pub port: Option<u16>,
    /// The instance to stop, by name or unique prefix (see `passenger-config
    /// list-instances`), instead of a PID file.
    #[arg(long, value_name = "NAME", conflicts_with = "pid_file")]
    pub instance: Option<String>,
    /// Seconds to wait for the server to exit.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `passenger stop`.
pub fn run(args: &StopArgs) -> Result<i32> {
    if let Some(name) = &args.instance {
        // The tools' selection: their messages, and the cleanup report of stale directories.
        let info = select_instance(Tool::Config, "passenger stop", Some(name), false)?;
        let pid = Pid::from_raw(info.watchdog_pid as i32);
        if kill(pid, None).is_err() {
            bail!("instance {} (PID {pid}) is not running", info.name);
        }
        return stop_pid(pid, args.timeout);
    }
    // The same PID file `passenger start` in that directory would write: the flags,
    // then the app dir's Passengerfile.json, then `passenger.<port>.pid`.
    let opts = passenger_core::config::StartOptions {
        app_dir: args.app_dir.clone(),
        port: args.port,
        pid_file: args.pid_file.clone(),
        ..Default::default()
    };
    let pid_file = passenger_core::config::pid_file(&opts).map_err(|e| anyhow!("{e}"))?;
    let text = std::fs::read_to_string(&pid_file).map_err(|err| {
        anyhow!(
            "no server seems to be running: cannot read PID file {}: {err}",
            pid_file.display()
        )
    })?;
    let pid: i32 = text.trim().parse().map_err(|_| {
        anyhow!(
            "PID file {} does not hold a PID: {:?}",
            pid_file.display(),
            text.trim()
        )
    })?;
    let pid = Pid::from_raw(pid);
    if kill(pid, None).is_err() {
        let _ = std::fs::remove_file(&pid_file);
        bail!(
            "no server is running with PID {pid} (from {}); removed the stale PID file",
            pid_file.display()
        );
    }
    stop_pid(pid, args.timeout)
}

/// Sends SIGTERM (graceful stop) and waits until the process is gone.
fn stop_pid(pid: Pid, timeout: u64) -> Result<i32> {
    kill(pid, Signal::SIGTERM).with_context(|| format!("cannot signal PID {pid}"))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while Instant::now() < deadline {
        if kill(pid, None).is_err() || is_zombie(pid) {
            return Ok(exit::OK);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("server with PID {pid} did not stop within {timeout} seconds")
}

/// An exited process its parent has not reaped yet (`State: Z`) has stopped, though
/// `kill(pid, 0)` still finds it.
fn is_zombie(pid: Pid) -> bool {
    procfs::process::Process::new(pid.as_raw())
        .and_then(|p| p.stat())
        .is_ok_and(|stat| stat.state == 'Z')
}
