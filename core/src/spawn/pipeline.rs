//! Pipelining claims of loader processes (ARCHITECTURE.md, "Request pipelining").
//!
//! A Rack loader started with `PASSENGER_CLAIMS=<base>` creates a claims directory,
//! `<base>/<session socket name>.c/`, before it listens. The base is in memory
//! (tmpfs) when possible: the socket directory if it is, else `/dev/shm`. The core may send a busy loader one more
//! request on another kept-alive connection, the *pipelined* request, which waits in
//! that connection until the loader is free. Before writing it the core creates a
//! claim for it, an entry `<claims dir>/<n>`, and names `n` in the header block
//! (`PASSENGER_CLAIM`). The loader runs the request only if it can `unlink(2)` that
//! entry; the core takes the request back by unlinking it first. `unlink` succeeds
//! for exactly one of them, so a request taken back was never run, and a request the
//! loader claimed is never sent again.
//!
//! Owns the claims (creating, claiming back, waiting for a withdrawal) and the small
//! control header blocks the core sends to loaders. It does not decide when to
//! pipeline or withdraw (the pool does) nor send requests (the proxy does).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The claims directory, under `base`, of the loader listening on `socket`.
pub fn claims_dir(base: &Path, socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".c");
    base.join(name)
}

/// Whether `path` is on a file system in memory (tmpfs).
pub fn in_memory(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    statfs(path).is_ok_and(|fs| fs.filesystem_type() == TMPFS_MAGIC)
}

/// A header block (ARCHITECTURE.md, "Session protocol") for a control request with
/// `method`, carrying the connect password if the loader has one.
pub fn control_block(method: &str, password: Option<&str>) -> Vec<u8> {
    let mut block = Vec::with_capacity(128);
    block.extend_from_slice(&[0, 0, 0, 0]);
    block.extend_from_slice(b"REQUEST_METHOD\0");
    block.extend_from_slice(method.as_bytes());
    block.push(0);
    if let Some(password) = password {
        block.extend_from_slice(b"PASSENGER_CONNECT_PASSWORD\0");
        block.extend_from_slice(password.as_bytes());
        block.push(0);
    }
    let len = u32::try_from(block.len() - 4).expect("invariant: a control block is tiny");
    block[..4].copy_from_slice(&len.to_be_bytes());
    block
}

/// The claims directory of one loader process. Dropping it removes the directory
/// (the process is gone by then: the pool drops it when the process exits).
#[derive(Debug)]
pub struct Claims {
    dir: PathBuf,
    next: AtomicU64,
}

impl Claims {
    /// The claims of the loader listening on `socket`, if it made a claims
    /// directory under `base`.
    pub fn open(base: &Path, socket: &Path) -> Option<Claims> {
        let dir = claims_dir(base, socket);
        dir.is_dir().then(|| Claims {
            dir,
            next: AtomicU64::new(1),
        })
    }

    /// Creates the claim of one pipelined request. The entry is a symlink: one
    /// system call, and nothing to open or close.
    pub fn issue(&self) -> io::Result<Arc<Claim>> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(number.to_string());
        std::os::unix::fs::symlink("c", &path)?;
        Ok(Arc::new(Claim {
            number,
            path,
            state: Mutex::new(ClaimState::Pending),
            withdrawn: Notify::new(),
        }))
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where a pipelined request stands, as far as the core knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// Written or about to be; the loader may or may not have claimed it.
    Pending,
    /// The loader claimed it (its response began, or a withdrawal found the entry
    /// gone): it runs, or ran, and must not be sent again.
    Started,
    /// The core unlinked the entry first: the loader never runs it.
    Withdrawn,
}

/// The claim of one pipelined request, shared by its session and the pool's actor.
#[derive(Debug)]
pub struct Claim {
    number: u64,
    path: PathBuf,
    state: Mutex<ClaimState>,
    withdrawn: Notify,
}

impl Claim {
    /// A claim that is withdrawn from the start (it could not be created), so that
    /// its request is checked out again instead of pipelined.
    pub fn void() -> Arc<Claim> {
        Arc::new(Claim {
            number: 0,
            path: PathBuf::new(),
            state: Mutex::new(ClaimState::Withdrawn),
            withdrawn: Notify::new(),
        })
    }

    /// The number the loader is told (`PASSENGER_CLAIM`).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Whether it was created for the loader (not [`void`](Self::void)).
    pub fn was_issued(&self) -> bool {
        self.number != 0
    }

    /// The current state.
    pub fn state(&self) -> ClaimState {
        *self.lock()
    }

    /// Takes the request back unless the loader claimed it already: true when it is
    /// (now or already) withdrawn. Whoever learns the answer first records it, so
    /// every later call agrees.
    pub fn withdraw(&self) -> bool {
        let mut state = self.lock();
        if *state == ClaimState::Pending {
            *state = match std::fs::remove_file(&self.path) {
                Ok(()) => ClaimState::Withdrawn,
                Err(err) => {
                    if err.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(claim = %self.path.display(), "could not take a pipelined request back: {err}");
                    }
                    ClaimState::Started
                }
            };
            if *state == ClaimState::Withdrawn {
                self.withdrawn.notify_one();
            }
        }
        *state == ClaimState::Withdrawn
    }

    /// Records that the loader's response began: the loader claimed the request.
    pub fn mark_started(&self) {
        let mut state = self.lock();
        if *state == ClaimState::Pending {
            *state = ClaimState::Started;
        }
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
    base: Option<PathBuf>,
    socket: &Path,
) -> Option<Arc<Claims>> {
    if !super::plan::pipelines(app) {
        return None;
    }
    let claims = Claims::open(&base?, socket);
    if claims.is_none() {
        tracing::warn!(app = %app.name, socket = %socket.display(), "the loader made no claims directory; no request pipelining for this process");
    }
    claims.map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_dir_is_named_after_the_socket() {
        assert_eq!(
            claims_dir(
                Path::new("/dev/shm/b"),
                Path::new("/tmp/i/apps.s/ruby.00ff")
            ),
            PathBuf::from("/dev/shm/b/ruby.00ff.c")
        );
    }

    #[test]
    fn dev_shm_is_in_memory_and_the_root_is_not_a_tmpfs_here() {
        // A sanity check of the statfs test on Linux machines with /dev/shm.
        if Path::new("/dev/shm").is_dir() {
            assert!(in_memory(Path::new("/dev/shm")));
        }
        assert!(!in_memory(Path::new("/proc")));
    }

    #[test]
    fn control_block_is_length_prefixed_pairs() {
        let block = control_block("PING", Some("pw"));
        let len = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
        assert_eq!(len, block.len() - 4);
        assert_eq!(
            &block[4..],
            b"REQUEST_METHOD\0PING\0PASSENGER_CONNECT_PASSWORD\0pw\0"
        );
    }

    fn claims() -> (tempfile::TempDir, Claims) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let socket = tmp.path().join("s");
        assert!(
            Claims::open(tmp.path(), &socket).is_none(),
            "no claims dir yet"
        );
        std::fs::create_dir(claims_dir(tmp.path(), &socket)).expect("claims dir");
        let claims = Claims::open(tmp.path(), &socket).expect("claims dir exists");
        (tmp, claims)
    }

    #[test]
    fn a_claim_is_won_by_the_core_or_the_loader_never_both() {
        let (_tmp, claims) = claims();
        let first = claims.issue().expect("issue");
        let second = claims.issue().expect("issue");
        assert_ne!(first.number(), second.number());
        // The loader claims the first: the core can no longer take it back.
        std::fs::remove_file(claims.dir.join(first.number().to_string())).expect("loader claim");
        assert!(!first.withdraw());
        assert_eq!(first.state(), ClaimState::Started);
        // The core takes the second back: the loader's unlink then fails.
        assert!(second.withdraw());
        assert!(second.withdraw(), "a second call agrees");
        assert_eq!(
            std::fs::remove_file(claims.dir.join(second.number().to_string()))
                .expect_err("loader finds it gone")
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_started_request_cannot_be_withdrawn() {
        let (_tmp, claims) = claims();
        let claim = claims.issue().expect("issue");
        claim.mark_started();
        assert!(!claim.withdraw());
        assert_eq!(claim.state(), ClaimState::Started);
    }

    #[tokio::test]
    async fn a_withdrawal_wakes_the_waiting_session() {
        let (_tmp, claims) = claims();
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
    fn dropping_the_claims_removes_the_directory() {
        let (tmp, claims) = claims();
        let _claim = claims.issue().expect("issue");
        drop(claims);
        assert!(!claims_dir(tmp.path(), &tmp.path().join("s")).exists());
    }
}
