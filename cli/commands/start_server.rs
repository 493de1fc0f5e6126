//! `start_server` (also `passenger start-server`): the Server::Starter-compatible
//! superdaemon. Parses the original's command line, picks the client modes
//! (`--restart`, `--stop`), daemonizes, and hands the rest to
//! `passenger_core::starter`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use passenger_core::starter::{self, Prepared, StarterOptions};

use crate::exit::{self, Exit};

/// The long help's tail: the worker protocol, signals, environment, exit status.
pub const AFTER_HELP: &str = "\
The server program gets the sockets in SERVER_STARTER_PORT (ADDRESS=FD;ADDRESS=FD,
e.g. 8080=3;/tmp/app.sock=4) and its generation, counted from 1 for every start
attempt, in SERVER_STARTER_GENERATION. It must serve on those fds and stop
gracefully on SIGTERM.

Signals (to start_server):
  SIGHUP           Start a new generation on the same sockets; once it has been
                   up for --interval, the old one gets --signal-on-hup (after
                   --kill-old-delay). A new worker that exits sooner is retried
                   and the old one keeps serving.
  SIGTERM, SIGINT  Send --signal-on-term (SIGINT: TERM) to every worker, wait for
                   them, remove the status file, pid file and --path sockets, exit.

Environment: ENVDIR, ENABLE_AUTO_RESTART, KILL_OLD_DELAY and AUTO_RESTART_INTERVAL
are the defaults of the matching options, and are passed on to the workers.

Exit status: 0 after a clean stop (and for --restart, --stop, --help, --version);
1 when the options are wrong, a socket or file cannot be set up, or a client mode
finds no running start_server.";

/// A superdaemon for hot-deploying server programs (Server::Starter compatible):
/// binds the sockets once, runs the server program with them, and replaces it
/// with a new generation on SIGHUP without closing them.
#[derive(clap::Args, Debug, Clone)]
pub struct StartServerArgs {
    /// TCP port to listen on: PORT, HOST:PORT, [IPV6]:PORT, with =FD to put the
    /// socket on that fd number, and a u before the port for UDP (u8080). Without
    /// a host, binds 0.0.0.0. Repeatable.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<String>,
    /// Unix socket to listen on (mode 0777); removed at exit. Repeatable.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Seconds a new server program must stay up to count as started (and the
    /// pause between failed attempts).
    #[arg(long, value_name = "SECONDS", default_value = "1")]
    pub interval: f64,
    /// Append stdout and stderr to this file, or "| COMMAND" to pipe them into a
    /// command.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<String>,
    /// Write start_server's pid here (locked while it runs; read by --restart/--stop).
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Working directory of the server program.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Signal sent to the old generation after a SIGHUP swap.
    #[arg(long, value_name = "SIGNAL", default_value = "TERM")]
    pub signal_on_hup: String,
    /// Signal sent to the workers when start_server gets SIGTERM.
    #[arg(long, value_name = "SIGNAL", default_value = "TERM")]
    pub signal_on_term: String,
    /// Listen backlog [default: SOMAXCONN].
    #[arg(long, value_name = "SIZE")]
    pub backlog: Option<i32>,
    /// Directory of environment variables (one file each, first line is the
    /// value), re-read before every new generation: a changed file gives the new
    /// value, a removed file removes the variable. Env: ENVDIR.
    #[arg(long, value_name = "DIR")]
    pub envdir: Option<PathBuf>,
    /// Start a new generation every --auto-restart-interval. Env: ENABLE_AUTO_RESTART.
    #[arg(long)]
    pub enable_auto_restart: bool,
    /// Seconds between automatic restarts [default: 360]. Env: AUTO_RESTART_INTERVAL.
    #[arg(long, value_name = "SECONDS")]
    pub auto_restart_interval: Option<u64>,
    /// Seconds to wait before signalling the old generation [default: 0, or 5 with
    /// auto restart]. Env: KILL_OLD_DELAY.
    #[arg(long, value_name = "SECONDS")]
    pub kill_old_delay: Option<u64>,
    /// Keep "GENERATION:PID" lines of the live generations here.
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,
    /// Run in the background (fork, setsid, fork); requires --log-file.
    #[arg(long)]
    pub daemonize: bool,
    /// Ask the running start_server (--pid-file) for a new generation and wait
    /// until the old ones are gone (--status-file).
    #[arg(long)]
    pub restart: bool,
    /// Stop the running start_server (--pid-file) and wait until it has exited.
    #[arg(long)]
    pub stop: bool,
    /// Print the version.
    #[arg(long)]
    pub version: bool,
    /// The server program and its arguments (after --).
    #[arg(trailing_var_arg = true, value_name = "SERVER_PROGRAM")]
    pub command: Vec<OsString>,
}

/// Runs `start_server`.
pub fn run(args: &StartServerArgs) -> anyhow::Result<i32> {
    let fail = |e: starter::StarterError| Exit::new(exit::FAILURE, e.to_string());
    if args.version {
        crate::output::print(&format!(
            "{} (passenger-rs {})\n",
            starter::COMPATIBLE_VERSION,
            passenger_core::VERSION
        ))?;
        return Ok(exit::OK);
    }
    if args.restart {
        starter::restart_server(args.pid_file.as_deref(), args.status_file.as_deref())
            .map_err(fail)?;
        return Ok(exit::OK);
    }
    if args.stop {
        starter::stop_server(args.pid_file.as_deref(), &mut std::io::stderr()).map_err(fail)?;
        return Ok(exit::OK);
    }
    if args.daemonize && args.log_file.is_none() {
        return Err(Exit::new(
            exit::FAILURE,
            "Usage: --log-file option must be specified together with --daemonize",
        )
        .into());
    }
    if args.command.is_empty() {
        return Err(Exit::new(exit::FAILURE, "server program not specified").into());
    }
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        return Err(Exit::new(
            exit::FAILURE,
            format!(
                "--interval must be a number of seconds, 0 or more (got {})",
                args.interval
            ),
        )
        .into());
    }
    let opts = StarterOptions {
        ports: args.ports.clone(),
        paths: args.paths.clone(),
        interval: Some(Duration::from_secs_f64(args.interval)),
        log_file: args.log_file.clone(),
        pid_file: args.pid_file.clone(),
        dir: args.dir.clone(),
        signal_on_hup: Some(args.signal_on_hup.clone()),
        signal_on_term: Some(args.signal_on_term.clone()),
        backlog: args.backlog,
        envdir: args.envdir.clone(),
        enable_auto_restart: args.enable_auto_restart,
        auto_restart_interval: args.auto_restart_interval,
        kill_old_delay: args.kill_old_delay,
        status_file: args.status_file.clone(),
        command: args.command.clone(),
    };
    let mut stderr = std::io::stderr();
    let prepared = Prepared::prepare(opts, &mut stderr).map_err(fail)?;
    if args.daemonize {
        daemonize(&prepared)?;
    }
    prepared.run(&mut stderr).map_err(fail)?;
    Ok(exit::OK)
}

/// fork, setsid, fork, as the original; the parents exit 0 without removing the
/// sockets the daemon keeps serving on.
fn daemonize(prepared: &Prepared) -> anyhow::Result<()> {
    use nix::unistd::{fork, setsid, ForkResult};
    for second in [false, true] {
        // SAFETY: no thread or runtime exists yet in this process.
        match unsafe { fork() }? {
            ForkResult::Parent { .. } => std::process::exit(exit::OK),
            ForkResult::Child => {
                if !second {
                    setsid()?;
                }
            }
        }
    }
    if !prepared.socket_on_stdin() {
        let null = std::fs::File::open("/dev/null")?;
        nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0)?;
    }
    Ok(())
}
