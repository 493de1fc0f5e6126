//! Watching a worker forked by a preloader: it is not the core's child, so its exit is
//! seen through a pidfd (or by polling its pid), and its [`ProcessControl`] stops it by
//! closing its stdin pipe.
//!
//! Owns [`WorkerControl`] and [`ExitWatcher`]; the worker's spawn is in
//! [`worker`](super::worker).

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::oneshot;

use crate::spawn::apps_dir::AppsDir;
use crate::spawn::unix::signal_group;
use crate::spawn::{ExitInfo, ProcessControl};

/// How often a worker's liveness is polled when pidfds are unavailable.
const EXIT_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct WorkerState {
    /// Set once the worker has exited and the rest of its group was killed.
    gone: bool,
    /// The write end of the worker's stdin pipe; dropping it asks the worker to exit.
    stdin: Option<OwnedFd>,
}

/// [`ProcessControl`] of a worker forked by a preloader: the leader of its own
/// process group, stopped by closing its stdin pipe.
#[derive(Debug)]
pub(super) struct WorkerControl {
    pid: u32,
    state: Mutex<WorkerState>,
}

impl WorkerControl {
    pub(super) fn new(pid: u32, stdin: OwnedFd) -> WorkerControl {
        WorkerControl {
            pid,
            state: Mutex::new(WorkerState {
                gone: false,
                stdin: Some(stdin),
            }),
        }
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut WorkerState) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// The worker exited: kill what is left of its group, then never signal again
    /// (the pid may be reused).
    fn exited(&self) {
        self.with_state(|s| {
            if !s.gone {
                signal_group(self.pid, Signal::SIGKILL);
                s.gone = true;
                s.stdin = None;
            }
        });
    }
}

impl ProcessControl for WorkerControl {
    fn terminate(&self) {
        self.with_state(|s| {
            s.stdin = None;
        });
    }

    fn kill(&self) {
        self.with_state(|s| {
            if !s.gone {
                signal_group(self.pid, Signal::SIGKILL);
            }
        });
    }
}

/// Watches a process that is not the core's child.
pub(super) struct ExitWatcher {
    pid: u32,
    pidfd: Option<AsyncFd<OwnedFd>>,
}

impl ExitWatcher {
    pub(super) fn new(pid: u32) -> ExitWatcher {
        let pidfd = match pidfd_open(pid) {
            // SAFETY: an OwnedFd stays open and returns the same fd until it is dropped,
            // which only happens with the AsyncFd.
            Ok(fd) => match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                Ok(fd) => Some(fd),
                Err(e) => {
                    tracing::debug!(pid, error = %e, "cannot poll the pidfd; polling the pid");
                    None
                }
            },
            Err(e) => {
                tracing::debug!(pid, error = %e, "pidfd_open failed; polling the pid");
                None
            }
        };
        ExitWatcher { pid, pidfd }
    }

    pub(super) async fn run(
        self,
        control: Arc<WorkerControl>,
        exited: oneshot::Sender<ExitInfo>,
        socket: PathBuf,
        _apps_dir: Arc<AppsDir>,
    ) {
        match &self.pidfd {
            Some(fd) => {
                if let Err(e) = fd.readable().await {
                    tracing::warn!(pid = self.pid, error = %e, "waiting on the pidfd failed; polling the pid");
                    poll_until_gone(self.pid).await;
                }
            }
            None => poll_until_gone(self.pid).await,
        }
        control.exited();
        let _ = std::fs::remove_file(&socket);
        let info = self.exit_status();
        tracing::debug!(pid = self.pid, exit = ?info, "app process exited");
        let _ = exited.send(info);
    }

    /// The exit status when the worker happens to be our child (the core is init or a
    /// subreaper); waiting through the pidfd cannot pick up an unrelated process.
    fn exit_status(&self) -> ExitInfo {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        let Some(fd) = &self.pidfd else {
            return ExitInfo::Unknown("not a child of the core".to_string());
        };
        match waitid(
            Id::PIDFd(fd.get_ref().as_fd()),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
        ) {
            Ok(WaitStatus::Exited(_, code)) => ExitInfo::Code(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => ExitInfo::Signal(sig as i32),
            _ => ExitInfo::Unknown("not a child of the core".to_string()),
        }
    }
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

async fn poll_until_gone(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    loop {
        if let Err(nix::errno::Errno::ESRCH) =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None)
        {
            return;
        }
        tokio::time::sleep(EXIT_POLL).await;
    }
}
