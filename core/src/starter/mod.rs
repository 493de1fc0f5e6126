//! `start_server`: a Server::Starter-compatible superdaemon for hot deploys.
//!
//! Owns: the superdaemon's options, its setup (log file or log pipe, sockets bound
//! once and handed to every generation through `SERVER_STARTER_PORT`, pid file,
//! status file), the generation loop (`supervisor`: start a worker, swap
//! generations on SIGHUP or auto restart, forward SIGTERM/SIGINT, reap) and the two
//! client modes `--restart` and `--stop` (`control`). Its log lines are
//! Server::Starter's, word for word, because deploy scripts read them.
//!
//! Does not own: argument parsing, daemonizing and exit codes (`cli`), nor how a
//! socket notation is parsed and bound (`crate::server::listen`). The supervisor is
//! single-threaded with no async runtime: it forks workers, so it keeps no other
//! thread, and waits for signals with `sigtimedwait` (every signal it handles is
//! blocked, none has a handler).

mod control;
mod supervisor;

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::server::listen::{self, ListenError, PortSpec, UnixBind};

pub use control::{restart_server, stop_server};
pub use supervisor::Prepared;

/// The Server::Starter release whose behaviour this module reproduces.
pub const COMPATIBLE_VERSION: &str = "0.35";

/// Errors of the superdaemon and its client modes. Messages keep Server::Starter's
/// wording where scripts may match on it.
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    /// A socket could not be parsed or bound.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A signal name is not one this system knows.
    #[error("invalid signal name for --{option}: {value}")]
    Signal {
        /// `signal-on-hup` or `signal-on-term`.
        option: &'static str,
        /// The name as given.
        value: String,
    },
    /// A file step failed (`failed to open log file:PATH`, ...).
    #[error("{what}: {source}")]
    Io {
        /// The step, naming its file.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A client mode lacks a file it needs, or found nothing to act on.
    #[error("{0}")]
    Usage(String),
}

impl StarterError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StarterError {
        let what = what.into();
        move |source| StarterError::Io { what, source }
    }
}

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

/// Sockets bound for the workers, in `SERVER_STARTER_PORT` order.
#[derive(Debug, Default)]
struct Sockets {
    /// `(name, socket)`; the socket's fd number is what workers get.
    bound: Vec<(String, OwnedFd)>,
    /// Unix socket files we created, with their inode, removed at exit if still ours.
    unix_files: Vec<(PathBuf, u64, u64)>,
}

impl Sockets {
    fn env_value(&self) -> String {
        let entries: Vec<(String, RawFd)> = self
            .bound
            .iter()
            .map(|(name, fd)| (name.clone(), fd.as_raw_fd()))
            .collect();
        listen::format_server_starter_port(&entries)
    }

    /// Binds every `--port` then every `--path`, as the original does. Sockets that
    /// go to a chosen fd are moved there only after everything of ours sits above
    /// the highest chosen number, so a move never replaces one of our own fds.
    fn bind(
        opts: &StarterOptions,
        backlog: i32,
        log: &mut dyn Write,
    ) -> Result<Sockets, StarterError> {
        let specs = opts
            .ports
            .iter()
            .map(|p| PortSpec::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let floor = specs
            .iter()
            .filter_map(|s| s.fd)
            .max()
            .map_or(3, |m| m + 1)
            .max(3);
        let mut sockets = Sockets::default();
        for spec in &specs {
            let fd = lift(listen::bind_port(spec, backlog)?, floor)?;
            let fd = match spec.fd {
                Some(target) => {
                    let moved = listen::move_to_fd(fd, target)?;
                    let _ = writeln!(log, "socket is duplicated to file descriptor {target}");
                    moved
                }
                None => fd,
            };
            sockets.bound.push((spec.name.clone(), fd));
        }
        for path in &opts.paths {
            let (fd, how) = listen::bind_unix(path, backlog)?;
            if how == UnixBind::ReplacedStaleSocket {
                let _ = writeln!(log, "removing existing socket file:{}", path.display());
            }
            let fd = lift(fd, floor)?;
            use std::os::unix::fs::MetadataExt;
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                sockets
                    .unix_files
                    .push((path.clone(), meta.dev(), meta.ino()));
            }
            sockets.bound.push((path.display().to_string(), fd));
        }
        Ok(sockets)
    }

    /// Removes the unix socket files we created, if they are still the same files.
    fn remove_unix_files(&mut self) {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        for (path, dev, ino) in self.unix_files.drain(..) {
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if meta.file_type().is_socket() && meta.dev() == dev && meta.ino() == ino {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

/// Moves `fd` to the lowest free number at or above `floor`, keeping it inheritable.
fn lift(fd: OwnedFd, floor: RawFd) -> Result<OwnedFd, StarterError> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    let raw = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_DUPFD(floor)).map_err(|e| {
        StarterError::Io {
            what: "fcntl(F_DUPFD) failed".to_string(),
            source: e.into(),
        }
    })?;
    drop(fd);
    // SAFETY: F_DUPFD returned a new open fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
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
