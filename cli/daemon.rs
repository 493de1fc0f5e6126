//! Detaching `passenger start --daemonize` into the background.
//!
//! The parent forks before any thread or runtime exists, then waits on a pipe until
//! the child reports that it listens (or why it could not start), so the exit code
//! and the banner of `passenger start -d` tell the truth.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::unistd::{dup2, fork, setsid, ForkResult};

/// What the daemonized child uses to tell the waiting parent how startup went.
pub struct ReadyPipe {
    fd: Option<File>,
}

impl ReadyPipe {
    /// The pipe itself, for a process that reports later (after an exec).
    pub fn into_fd(mut self) -> Option<OwnedFd> {
        self.fd.take().map(OwnedFd::from)
    }

    /// Reports a startup failure; the parent prints it and exits 1.
    pub fn failed(&mut self, message: &str) {
        if let Some(mut f) = self.fd.take() {
            let _ = writeln!(f, "error {message}");
        }
    }
}

/// The outcome of forking: in the parent, what the child reported.
pub enum Forked {
    /// We are the parent: the child's report.
    Parent(Result<String>),
    /// We are the daemon.
    Child(ReadyPipe),
}

/// Forks into a new session with stdio redirected (stdout/stderr to `log_file`).
///
/// Must be called while the process has a single thread.
pub fn daemonize(log_file: &Path) -> Result<Forked> {
    // Close-on-exec: the child hands the write end on by an explicit dup2. A plain pipe's
    // write end survived the exec whenever the caller's open fds pushed it past the
    // numbers that hand-over reuses, and the parent then waited for an EOF forever.
    let (read_end, write_end): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create a pipe")?;
    // SAFETY: called before any other thread exists (no runtime yet), so the child
    // may run arbitrary code after fork.
    match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut report = String::new();
            File::from(read_end)
                .read_to_string(&mut report)
                .context("cannot read the daemon's startup report")?;
            let report = report.trim_end();
            if let Some(msg) = report.strip_prefix("ready ") {
                Ok(Forked::Parent(Ok(msg.to_string())))
            } else if let Some(msg) = report.strip_prefix("error ") {
                Ok(Forked::Parent(Err(anyhow::anyhow!("{msg}"))))
            } else {
                Ok(Forked::Parent(Err(anyhow::anyhow!(
                    "the server exited during startup; see its log file {}",
                    log_file.display()
                ))))
            }
        }
        ForkResult::Child => {
            drop(read_end);
            setsid().context("setsid")?;
            let devnull = File::open("/dev/null").context("cannot open /dev/null")?;
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_file)
                .with_context(|| format!("cannot open log file {}", log_file.display()))?;
            if dup2(devnull.as_raw_fd(), 0).is_err()
                || dup2(log.as_raw_fd(), 1).is_err()
                || dup2(log.as_raw_fd(), 2).is_err()
            {
                bail!("cannot redirect standard streams");
            }
            Ok(Forked::Child(ReadyPipe {
                fd: Some(File::from(write_end)),
            }))
        }
    }
}
