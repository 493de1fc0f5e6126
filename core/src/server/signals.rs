//! The stop signals (SIGTERM, SIGINT, SIGQUIT) with their senders, so that one
//! operator action counts once.
//!
//! A Ctrl-C in a terminal signals the whole foreground process group, and `systemctl
//! stop` signals the whole service: the core gets the signal directly *and* forwarded
//! by its watchdog. Counting both as two signals would turn one Ctrl-C into "stop now".
//! So each signal is counted per sender (the watchdog, our parent, or anyone else):
//! an operator's signal reaches the core once per sender, and a *real* second signal
//! is a second one from the same sender.
//!
//! tokio's signal streams do not say who sent a signal, so this installs its own
//! `SA_SIGINFO` handler, which writes `(signal, sender pid)` into a non-blocking pipe
//! (`write(2)` is async-signal-safe); the server reads the pipe asynchronously. One
//! process has one such pipe: installing again replaces it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::io::AsyncReadExt;

use super::ShutdownKind;

/// The write end of the current pipe, for the signal handler; -1 before install.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// The process that installed the handler. A child between fork and exec still runs
/// it (and shares the pipe): its signals are not ours.
static OWNER_PID: AtomicI32 = AtomicI32::new(0);

/// One record: the signal number and the sender's pid (0 for the kernel, e.g. a
/// terminal's Ctrl-C), native-endian.
const RECORD: usize = 8;

extern "C" fn on_stop_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: errno is thread-local; saving and restoring it keeps the interrupted
    // code's view intact. `info` is the kernel's siginfo for this delivery (or null).
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        let pid = if info.is_null() { 0 } else { (*info).si_pid() };
        let mut record = [0u8; RECORD];
        record[..4].copy_from_slice(&sig.to_ne_bytes());
        record[4..].copy_from_slice(&pid.to_ne_bytes());
        let fd = WRITE_FD.load(Ordering::Relaxed);
        if fd >= 0 && libc::getpid() == OWNER_PID.load(Ordering::Relaxed) {
            // A full pipe drops the record: hundreds are already waiting.
            libc::write(fd, record.as_ptr().cast(), RECORD);
        }
        *errno = saved;
    }
}

/// Turns the stop signals received so far into shutdown decisions.
pub(super) struct StopSignals {
    pipe: tokio::net::unix::pipe::Receiver,
    /// Kept open for the handler (its fd is in [`WRITE_FD`]).
    _write: OwnedFd,
    counter: SignalCounter,
}

impl StopSignals {
    /// Installs the handler for SIGTERM, SIGINT and SIGQUIT. Signals from our parent
    /// (the watchdog) are told apart from all others.
    pub(super) fn install() -> std::io::Result<StopSignals> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(std::io::Error::from)?;
        let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(read)?;
        OWNER_PID.store(std::process::id() as i32, Ordering::Relaxed);
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
            // SAFETY: a zeroed sigaction with an empty mask is valid; the handler only
            // makes async-signal-safe calls (write) and touches an atomic.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_stop_signal as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(StopSignals {
            pipe,
            _write: write,
            counter: SignalCounter::new(std::os::unix::process::parent_id() as i32),
        })
    }

    /// Waits for the next operator action that changes something: the first stop
    /// signal, then each further one (a signal's copy from a second sender is not
    /// one). Returns how to stop from now on.
    pub(super) async fn next(&mut self) -> ShutdownKind {
        let mut record = [0u8; RECORD];
        loop {
            if self.pipe.read_exact(&mut record).await.is_err() {
                // The pipe cannot fail while we hold its write end; never busy-loop.
                std::future::pending::<()>().await;
            }
            let sig = i32::from_ne_bytes(record[..4].try_into().expect("invariant: 4 bytes"));
            let pid = i32::from_ne_bytes(record[4..].try_into().expect("invariant: 4 bytes"));
            tracing::debug!("stop signal {sig} from pid {pid}");
            if let Some(kind) = self.counter.count(sig, pid) {
                return kind;
            }
        }
    }
}

/// Counts stop signals per sender (the watchdog, or anyone else). Pure logic.
#[derive(Debug)]
struct SignalCounter {
    watchdog: i32,
    from_watchdog: u32,
    from_others: u32,
    /// Operator actions seen: the larger of the two counts.
    actions: u32,
    quit: bool,
}

impl SignalCounter {
    fn new(watchdog: i32) -> SignalCounter {
        SignalCounter {
            watchdog,
            from_watchdog: 0,
            from_others: 0,
            actions: 0,
            quit: false,
        }
    }

    /// Counts signal `sig` from `pid`; returns the shutdown kind when this is a new
    /// operator action, `None` when it is another sender's copy of one already seen.
    fn count(&mut self, sig: i32, pid: i32) -> Option<ShutdownKind> {
        let slot = if pid == self.watchdog && pid > 1 {
            &mut self.from_watchdog
        } else {
            &mut self.from_others
        };
        *slot += 1;
        self.quit |= sig == libc::SIGQUIT;
        let actions = self.from_watchdog.max(self.from_others);
        if actions <= self.actions {
            return None;
        }
        self.actions = actions;
        Some(if self.quit || actions > 1 {
            ShutdownKind::Immediate
        } else {
            ShutdownKind::Graceful
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATCHDOG: i32 = 4242;

    #[test]
    fn a_group_wide_signal_counts_once() {
        // Ctrl-C: the kernel (pid 0) signals the core, the watchdog forwards it.
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(c.count(libc::SIGINT, 0), Some(ShutdownKind::Graceful));
        assert_eq!(c.count(libc::SIGINT, WATCHDOG), None);
        // The forwarded copy may come first, too (systemctl stop: pid 1 signals all).
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(
            c.count(libc::SIGTERM, WATCHDOG),
            Some(ShutdownKind::Graceful)
        );
        assert_eq!(c.count(libc::SIGTERM, 1), None);
    }

    #[test]
    fn a_real_second_signal_stops_now() {
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(c.count(libc::SIGINT, 0), Some(ShutdownKind::Graceful));
        assert_eq!(c.count(libc::SIGINT, WATCHDOG), None);
        assert_eq!(
            c.count(libc::SIGINT, WATCHDOG),
            Some(ShutdownKind::Immediate)
        );
        assert_eq!(c.count(libc::SIGINT, 0), None);
        // A third one is news again (it cuts the wait for the apps short).
        assert_eq!(c.count(libc::SIGINT, 0), Some(ShutdownKind::Immediate));

        // Forwarded only (`passenger stop`, `kill <watchdog pid>`), twice.
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(
            c.count(libc::SIGTERM, WATCHDOG),
            Some(ShutdownKind::Graceful)
        );
        assert_eq!(
            c.count(libc::SIGTERM, WATCHDOG),
            Some(ShutdownKind::Immediate)
        );
        // Sent to the core directly, twice.
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(c.count(libc::SIGTERM, 777), Some(ShutdownKind::Graceful));
        assert_eq!(c.count(libc::SIGTERM, 777), Some(ShutdownKind::Immediate));
    }

    #[test]
    fn sigquit_stops_now() {
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(
            c.count(libc::SIGQUIT, WATCHDOG),
            Some(ShutdownKind::Immediate)
        );
        assert_eq!(c.count(libc::SIGQUIT, 0), None);
        let mut c = SignalCounter::new(WATCHDOG);
        assert_eq!(
            c.count(libc::SIGTERM, WATCHDOG),
            Some(ShutdownKind::Graceful)
        );
        assert_eq!(
            c.count(libc::SIGQUIT, WATCHDOG),
            Some(ShutdownKind::Immediate)
        );
    }
}
