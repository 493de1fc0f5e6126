//! Pipelining claims of loader processes (ARCHITECTURE.md, "Request pipelining").
//!
//! A Rack loader started with `PASSENGER_CLAIMS=<dir>` makes a FIFO, its *claims
//! pipe* `<dir>/<session socket name>.c`, before it listens. The core may send a busy
//! loader more requests on other kept-alive connections, the *pipelined* requests,
//! which wait in those connections until the loader is free. Before writing one the
//! core issues its claim: it names a number `n` in the header block
//! (`PASSENGER_CLAIM`) and writes `n` (8 bytes, little-endian) into the claims pipe.
//! The loader runs the request only if it reads `n` from the pipe (numbers it reads
//! on the way are claims it holds and runs later); the core takes requests back by
//! reading the pipe itself. A pipe hands each record to exactly one reader, so a
//! request taken back was never run, and a request the loader claimed is never sent
//! again. A pipe costs one short `write(2)` and `read(2)` per request and no
//! file-system work.
//!
//! Owns the claims (issuing, taking back, waiting for a withdrawal). It does not
//! decide when to pipeline or withdraw (the pool does) nor send requests (the proxy
//! does).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// Bytes of one claim in the claims pipe: its number, little-endian. Fewer than
/// `PIPE_BUF`, so writes are atomic and every read of this size gets one record.
const CLAIM_SIZE: usize = 8;

/// Claims remembered before the ones whose sessions ended are swept out.
const SWEEP_ABOVE: usize = 64;

/// The claims pipe, in `dir`, of the loader listening on `socket`.
pub fn claims_path(dir: &Path, socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".c");
    dir.join(name)
}

/// The claims pipe of one loader process, and the claims issued on it that may
/// still be in it. Dropping it removes the pipe (the process is gone by then: the
/// pool drops it when the process exits, and its claims when their sessions end).
#[derive(Debug)]
pub struct Claims {
    path: PathBuf,
    /// Opened for reading and writing, non-blocking: reads of an empty pipe say
    /// so at once instead of waiting for a writer.
    pipe: File,
    next: AtomicU64,
    /// Claims by number. Locked while the pipe is read, so that a number read is
    /// settled before anyone asks about it again.
    issued: Mutex<HashMap<u64, Weak<Claim>>>,
}

impl Claims {
    /// The claims of the loader listening on `socket`, if it made a claims pipe in
    /// `dir`.
    pub fn open(dir: &Path, socket: &Path) -> Option<Claims> {
        let path = claims_path(dir, socket);
        let pipe = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path)
            .ok()?;
        if !pipe.metadata().ok()?.file_type().is_fifo() {
            tracing::warn!(path = %path.display(), "the claims pipe is not a FIFO");
            return None;
        }
        Some(Claims {
            path,
            pipe,
            next: AtomicU64::new(1),
            issued: Mutex::new(HashMap::new()),
        })
    }

    /// Issues the claim of one pipelined request: one `write(2)` of its number.
    /// Fails if the pipe is full (the loader stopped reading it).
    pub fn issue(self: &Arc<Self>) -> io::Result<Arc<Claim>> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let claim = Arc::new(Claim {
            number,
            claims: Some(Arc::clone(self)),
            state: Mutex::new(ClaimState::Pending),
            withdrawn: Notify::new(),
        });
        let mut issued = self.lock();
        if issued.len() > SWEEP_ABOVE {
            issued.retain(|_, claim| claim.strong_count() > 0);
        }
        // Known before it is written: whoever reads it back finds it.
        issued.insert(number, Arc::downgrade(&claim));
        match (&self.pipe).write(&number.to_le_bytes()) {
            Ok(CLAIM_SIZE) => Ok(claim),
            Ok(n) => {
                issued.remove(&number);
                Err(io::Error::other(format!("wrote {n} bytes of a claim")))
            }
            Err(err) => {
                issued.remove(&number);
                Err(err)
            }
        }
    }

    /// Takes back every request whose claim is still in the pipe: their sessions
    /// learn it through [`Claim::withdrawn`].
    pub fn withdraw_all(&self) {
        let mut issued = self.lock();
        self.read_back(&mut issued, None);
    }

    /// Reads claims out of the pipe, oldest first, until `until` is read (true) or
    /// the pipe is empty (false). Every claim read is withdrawn.
    fn read_back(&self, issued: &mut HashMap<u64, Weak<Claim>>, until: Option<u64>) -> bool {
        let mut record = [0u8; CLAIM_SIZE];
        loop {
            match (&self.pipe).read(&mut record) {
                Ok(CLAIM_SIZE) => {
                    let number = u64::from_le_bytes(record);
                    if let Some(claim) = issued.remove(&number).and_then(|c| c.upgrade()) {
                        claim.settle(ClaimState::Withdrawn);
                    }
                    if until == Some(number) {
                        return true;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
                Ok(n) => {
                    tracing::warn!(path = %self.path.display(), "read {n} bytes of a claim");
                    return false;
                }
                Err(err) => {
                    tracing::warn!(path = %self.path.display(), "could not read claims back: {err}");
                    return false;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<Claim>>> {
        // A map of weak references: a panic while holding the lock leaves at worst
        // an entry that is swept later.
        self.issued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a pipelined request stands, as far as the core knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// Issued; the loader may or may not have claimed it.
    Pending,
    /// The loader claimed it (its response began, or a withdrawal did not find it
    /// in the pipe): it runs, or ran, and must not be sent again.
    Started,
    /// The core read it back first: the loader never runs it.
    Withdrawn,
}

/// The claim of one pipelined request, shared by its session and the pool's actor.
#[derive(Debug)]
pub struct Claim {
    number: u64,
    /// `None` for a [`void`](Self::void) claim.
    claims: Option<Arc<Claims>>,
    state: Mutex<ClaimState>,
    withdrawn: Notify,
}

impl Claim {
    /// A claim that is withdrawn from the start (it could not be issued), so that
    /// its request is checked out again instead of pipelined.
    pub fn void() -> Arc<Claim> {
        Arc::new(Claim {
            number: 0,
            claims: None,
            state: Mutex::new(ClaimState::Withdrawn),
            withdrawn: Notify::new(),
        })
    }

    /// The number the loader is told (`PASSENGER_CLAIM`).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Whether it was issued to the loader (not [`void`](Self::void)).
    pub fn was_issued(&self) -> bool {
        self.claims.is_some()
    }

    /// The current state.
    pub fn state(&self) -> ClaimState {
        *self.lock()
    }

    /// Takes the request back unless the loader claimed it already: true when it is
    /// (now or already) withdrawn. Whoever learns the answer first records it, so
    /// every later call agrees. Claims older than this one that are still in the
    /// pipe are read back with it (and withdrawn): that is how a pipe works, and
    /// single withdrawals are rare (a client that left, a failed write).
    pub fn withdraw(&self) -> bool {
        let Some(claims) = &self.claims else {
            return self.state() == ClaimState::Withdrawn;
        };
        let mut issued = claims.lock();
        if self.state() == ClaimState::Pending {
            // Not found in the pipe: the loader read it.
            let found = claims.read_back(&mut issued, Some(self.number));
            self.settle(if found {
                ClaimState::Withdrawn
            } else {
                ClaimState::Started
            });
        }
        drop(issued);
        self.state() == ClaimState::Withdrawn
    }

    /// Records that the loader's response began: the loader claimed the request.
    pub fn mark_started(&self) {
        self.settle(ClaimState::Started);
    }

    /// Resolves once the request is withdrawn (at once if it already is).
    pub async fn withdrawn(&self) {
        loop {
            if self.state() == ClaimState::Withdrawn {
                return;
            }
            self.withdrawn.notified().await;
        }
    }

    /// Moves a pending claim to `to` (a settled one stays as it is).
    fn settle(&self, to: ClaimState) {
        let mut state = self.lock();
        if *state == ClaimState::Pending {
            *state = to;
            if to == ClaimState::Withdrawn {
                self.withdrawn.notify_one();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClaimState> {
        // The state is a plain enum: a panic while holding the lock cannot leave it
        // half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The claims of the new process listening on `socket`, for an app whose loader
/// pipelines requests; `None` if it pipelines none (then the process is simply
/// never sent pipelined requests).
pub fn claims_for(
    app: &crate::app::AppSpec,
    dir: Option<PathBuf>,
    socket: &Path,
) -> Option<Arc<Claims>> {
    if !crate::spawn::plan::pipelines(app) {
        return None;
    }
    let claims = Claims::open(&dir?, socket);
    if claims.is_none() {
        tracing::warn!(app = %app.name, socket = %socket.display(), "the loader made no claims pipe; no request pipelining for this process");
    }
    claims.map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_pipe_is_named_after_the_socket() {
        assert_eq!(
            claims_path(
                Path::new("/tmp/i/apps.s"),
                Path::new("/tmp/i/apps.s/ruby.00ff")
            ),
            PathBuf::from("/tmp/i/apps.s/ruby.00ff.c")
        );
    }

    /// A claims pipe as a loader makes it, the core's claims on it, and the
    /// loader's end.
    fn claims() -> (tempfile::TempDir, Arc<Claims>, File) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let socket = tmp.path().join("s");
        assert!(
            Claims::open(tmp.path(), &socket).is_none(),
            "no claims pipe yet"
        );
        let path = claims_path(tmp.path(), &socket);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let loader = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .expect("loader end");
        let claims = Claims::open(tmp.path(), &socket).expect("claims pipe exists");
        (tmp, Arc::new(claims), loader)
    }

    /// What the loader does: reads one claim, if there is one.
    fn loader_reads(loader: &File) -> Option<u64> {
        let mut record = [0u8; CLAIM_SIZE];
        match (&*loader).read(&mut record) {
            Ok(CLAIM_SIZE) => Some(u64::from_le_bytes(record)),
            Ok(n) => panic!("a partial claim of {n} bytes"),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => None,
            Err(err) => panic!("reading claims: {err}"),
        }
    }

    #[test]
    fn a_claim_is_won_by_the_core_or_the_loader_never_both() {
        let (_tmp, claims, loader) = claims();
        let first = claims.issue().expect("issue");
        let second = claims.issue().expect("issue");
        assert_ne!(first.number(), second.number());
        // The loader claims the first: the core can no longer take it back.
        assert_eq!(loader_reads(&loader), Some(first.number()));
        assert!(!first.withdraw());
        assert_eq!(first.state(), ClaimState::Started);
        // The core takes the second back: the loader then finds nothing.
        assert!(second.withdraw());
        assert!(second.withdraw(), "a second call agrees");
        assert_eq!(loader_reads(&loader), None);
    }

    #[test]
    fn withdrawing_one_claim_takes_back_the_older_ones_still_in_the_pipe() {
        let (_tmp, claims, loader) = claims();
        let older = claims.issue().expect("issue");
        let claim = claims.issue().expect("issue");
        let newer = claims.issue().expect("issue");
        assert!(claim.withdraw());
        assert_eq!(older.state(), ClaimState::Withdrawn, "read back on the way");
        assert_eq!(newer.state(), ClaimState::Pending, "left in the pipe");
        assert_eq!(loader_reads(&loader), Some(newer.number()));
    }

    #[test]
    fn withdrawing_all_takes_back_what_the_loader_has_not_read() {
        let (_tmp, claims, loader) = claims();
        let read = claims.issue().expect("issue");
        let left: Vec<_> = (0..3).map(|_| claims.issue().expect("issue")).collect();
        assert_eq!(loader_reads(&loader), Some(read.number()));
        claims.withdraw_all();
        assert!(left.iter().all(|c| c.state() == ClaimState::Withdrawn));
        assert_eq!(read.state(), ClaimState::Pending, "the loader runs it");
        assert!(!read.withdraw(), "not in the pipe any more");
        assert_eq!(loader_reads(&loader), None);
    }

    #[test]
    fn a_started_request_cannot_be_withdrawn() {
        let (_tmp, claims, _loader) = claims();
        let claim = claims.issue().expect("issue");
        claim.mark_started();
        assert!(!claim.withdraw());
        assert_eq!(claim.state(), ClaimState::Started);
    }

    #[test]
    fn a_full_pipe_refuses_a_claim() {
        let (_tmp, claims, _loader) = claims();
        let mut issued = Vec::new();
        let err = loop {
            match claims.issue() {
                Ok(claim) => issued.push(claim),
                Err(err) => break err,
            }
            assert!(issued.len() < 1 << 20, "a pipe holds less than 8 MiB");
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // The refused claim is forgotten; the ones in the pipe can be taken back.
        claims.withdraw_all();
        assert!(issued.iter().all(|c| c.state() == ClaimState::Withdrawn));
        claims.issue().expect("room again");
    }

    #[tokio::test]
    async fn a_withdrawal_wakes_the_waiting_session() {
        let (_tmp, claims, _loader) = claims();
        let claim = claims.issue().expect("issue");
        let waiter = {
            let claim = Arc::clone(&claim);
            tokio::spawn(async move { claim.withdrawn().await })
        };
        tokio::task::yield_now().await;
        assert!(claim.withdraw());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("task");
        assert!(Claim::void().withdraw(), "a void claim is withdrawn");
        assert!(!Claim::void().was_issued() && claim.was_issued());
    }

    #[test]
    fn dropping_the_claims_removes_the_pipe() {
        let (tmp, claims, _loader) = claims();
        let path = claims_path(tmp.path(), &tmp.path().join("s"));
        let claim = claims.issue().expect("issue");
        drop(claims);
        assert!(path.exists(), "a claim still holds the pipe");
        drop(claim);
        assert!(!path.exists());
    }

    #[test]
    fn a_regular_file_is_no_claims_pipe() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let socket = tmp.path().join("s");
        std::fs::write(claims_path(tmp.path(), &socket), b"").expect("write");
        assert!(Claims::open(tmp.path(), &socket).is_none());
    }
}
