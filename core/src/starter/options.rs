//! What `start_server` is told on its command line, and signal names as it reads and
//! prints them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::StarterError;

/// The Server::Starter release whose behaviour this module reproduces.
pub const COMPATIBLE_VERSION: &str = "0.35";

/// Everything `start_server` is told on its command line.
#[derive(Debug, Clone, Default)]
pub struct StarterOptions {
    /// `--port` values, in order.
    pub ports: Vec<String>,
    /// `--path` values (unix sockets), in order.
    pub paths: Vec<PathBuf>,
    /// `--interval`: how long a new worker must stay up to count as started.
    pub interval: Option<Duration>,
    /// `--log-file`: a file to append to, or `| command` to pipe into.
    pub log_file: Option<String>,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--dir`: the workers' working directory.
    pub dir: Option<PathBuf>,
    /// `--signal-on-hup` (default TERM): what old workers get after a swap.
    pub signal_on_hup: Option<String>,
    /// `--signal-on-term` (default TERM): what workers get when we get SIGTERM.
    pub signal_on_term: Option<String>,
    /// `--backlog` (default SOMAXCONN).
    pub backlog: Option<i32>,
    /// `--envdir`: one file per variable, re-read before every spawn.
    pub envdir: Option<PathBuf>,
    /// `--enable-auto-restart`.
    pub enable_auto_restart: bool,
    /// `--auto-restart-interval` in seconds (default 360).
    pub auto_restart_interval: Option<u64>,
    /// `--kill-old-delay` in seconds (default 0, or 5 with auto restart).
    pub kill_old_delay: Option<u64>,
    /// `--status-file`.
    pub status_file: Option<PathBuf>,
    /// The server program and its arguments.
    pub command: Vec<OsString>,
}

/// Parses a signal name as `kill` would: `TERM`, `SIGTERM`, `term` or a number.
pub fn parse_signal(option: &'static str, value: &str) -> Result<Signal, StarterError> {
    let bad = || StarterError::Signal {
        option,
        value: value.to_string(),
    };
    let upper = value.trim().to_ascii_uppercase();
    if let Ok(n) = upper.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// The signal's name as Server::Starter prints it (`TERM`, not `SIGTERM`).
pub fn signal_name(sig: Signal) -> &'static str {
    let full = sig.as_str();
    full.strip_prefix("SIG").unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_parse_like_kill() {
        for (input, want) in [
            ("TERM", Signal::SIGTERM),
            ("sigterm", Signal::SIGTERM),
            ("SIGUSR1", Signal::SIGUSR1),
            ("cont", Signal::SIGCONT),
            ("9", Signal::SIGKILL),
        ] {
            assert_eq!(parse_signal("signal-on-hup", input).expect(input), want);
        }
        let err = parse_signal("signal-on-term", "NOPE")
            .expect_err("unknown")
            .to_string();
        assert_eq!(err, "invalid signal name for --signal-on-term: NOPE");
        assert_eq!(signal_name(Signal::SIGTERM), "TERM");
    }
}
