//! The privileged spawn helper: the privilege boundary of a core that dropped root.
//!
//! With `core_user`, the core (the process that talks to the internet) gives up root after it
//! has its sockets, but apps must still start as their own users. A small helper process,
//! `passenger __spawn-helper`, stays root for that: the core starts it (a fresh image, forked
//! before the core's runtime exists) with one end of a `SOCK_SEQPACKET` socketpair on fd 3, and from then
//! on asks it, and only it, to do the three things that need root:
//!
//! - `spawn`: fork and exec `/bin/sh -c "exec <command>"` in the app root, as the leader of a new
//!   process group, switched to the uid, gid and groups the core resolved (never uid or gid 0
//!   unless the configuration named root at startup), with the environment the
//!   core sends (nothing inherited), `PR_SET_PDEATHSIG(SIGKILL)` tied to the helper, and pipes for
//!   stdin (loaders) and stdout/stderr. The answer carries the pid and, as `SCM_RIGHTS`, the
//!   core's ends of the pipes.
//! - `signal`: signal a process group, only one whose leader is a child of the helper or a
//!   descendant of one (workers forked by a preloader).
//! - reaping: the helper is the apps' parent; when one exits it SIGKILLs the rest of its group
//!   and tells the core `{"exited": pid, ...}` with the exit status.
//!
//! It does nothing else: it reads no files, opens no sockets and serves only the fd it was given.
//! When the core goes away (the socket reads EOF, or `PR_SET_PDEATHSIG`), the helper exits, and
//! its apps die with it (their own parent-death signal). It ignores stop signals sent to the
//! whole service: stopping is the core's job, and the core needs the helper until its apps are
//! gone.
//!
//! The messages are JSON, one per `SOCK_SEQPACKET` message; the core closing its end reads as
//! EOF, which is how the helper learns that the core is gone. It does
//! not decide who an app runs as ([`super::unix::resolve_run_as`] does, in the core).

use std::collections::{HashMap, HashSet};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::oneshot;

use super::identity::{self, RunAs};
use super::ExitInfo;

/// Largest message either side sends (an environment fits easily).
const MAX_MESSAGE: usize = 1 << 20;
/// The fd the helper finds its end of the socketpair on.
pub const HELPER_FD: RawFd = 3;
/// `1` when the configuration names root for some app (an explicit `user`, `group` or default
/// user): only then does the helper start processes with uid or gid 0. Fixed at startup, so a
/// core taken over later cannot ask for root.
const ENV_ROOT_ALLOWED: &str = "PASSENGER_SPAWN_HELPER_ROOT_ALLOWED";

/// What the core asks the helper.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Spawn {
        id: u64,
        /// The `/bin/sh -c` argument.
        command: String,
        /// Bytes: paths and variables need not be UTF-8.
        cwd: Vec<u8>,
        env: Vec<(Vec<u8>, Vec<u8>)>,
        uid: u32,
        gid: u32,
        groups: Vec<u32>,
        stdin_pipe: bool,
    },
    Signal {
        pgid: u32,
        signal: i32,
    },
}

/// What the helper answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Reply {
    /// Spawned; fds follow: stdout, stderr, then stdin when asked for.
    Spawned {
        id: u64,
        pid: u32,
    },
    Failed {
        id: u64,
        error: String,
    },
    Exited {
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// A process the helper started for the core.
pub struct HelperChild {
    /// Its pid (and process group).
    pub pid: u32,
    /// Read end of its stdout.
    pub stdout: OwnedFd,
    /// Read end of its stderr.
    pub stderr: OwnedFd,
    /// Write end of its stdin, when a pipe was asked for.
    pub stdin: Option<OwnedFd>,
    /// Resolves when it exited (reaped by the helper).
    pub exited: oneshot::Receiver<ExitInfo>,
}

type SpawnAnswer = Result<HelperChild, String>;

#[derive(Default)]
struct Waiters {
    spawns: HashMap<u64, oneshot::Sender<SpawnAnswer>>,
    exits: HashMap<u32, oneshot::Sender<ExitInfo>>,
    next_id: u64,
}

/// The core's side: sends requests and dispatches answers and exit notices.
pub struct HelperClient {
    fd: Arc<OwnedFd>,
    waiters: Arc<Mutex<Waiters>>,
}

static HELPER: OnceLock<HelperClient> = OnceLock::new();

/// The helper, once the core has one (it dropped root).
pub fn client() -> Option<&'static HelperClient> {
    HELPER.get()
}

/// Starts the helper: forks and execs `exe __spawn-helper` with its end of a new socketpair on
/// fd 3 (every other fd closed), in a process group of its own. Call it single-threaded, before the runtime exists, on the
/// thread that lives as long as the process (its parent-death signal is tied to that thread).
/// Returns the core's end, for [`install`].
pub fn start(exe: &std::path::Path, root_allowed: bool) -> io::Result<OwnedFd> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let theirs_raw = theirs.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(exe);
    cmd.arg0("passenger-rs spawn-helper")
        .arg("__spawn-helper")
        .env(ENV_ROOT_ALLOWED, if root_allowed { "1" } else { "0" })
        .stdin(Stdio::null())
        .process_group(0);
    // SAFETY: async-signal-safe calls only (dup2, prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(theirs_raw, HELPER_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Nothing else of the core's (listeners, the watchdog's ready pipe) stays open
            // in the helper.
            if libc::syscall(libc::SYS_close_range, HELPER_FD + 1, libc::c_uint::MAX, 0) != 0 {
                for fd in HELPER_FD + 1..1024 {
                    libc::close(fd);
                }
            }
            // Only while the core is still root: a parent-death signal from a core that
            // dropped root is not allowed to reach a root process. The helper exits when
            // the core's end of the socket closes.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn()?;
    drop(theirs);
    Ok(ours)
}

/// Makes `fd` (from [`start`]) the helper every later spawn and group signal goes through, and
/// starts the task that reads its answers. Must run inside the runtime.
pub fn install(fd: OwnedFd) -> io::Result<()> {
    set_nonblocking(fd.as_raw_fd())?;
    let fd = Arc::new(fd);
    let waiters = Arc::new(Mutex::new(Waiters::default()));
    // SAFETY: the fd stays open (the Arc is kept in the client) as long as it is registered.
    let reader = unsafe { AsyncFd::register_with_interest(Arc::clone(&fd), Interest::READABLE)? };
    tokio::spawn(read_answers(reader, Arc::clone(&waiters)));
    let _ = HELPER.set(HelperClient { fd, waiters });
    Ok(())
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(io::Error::from)?;
    Ok(())
}

/// One message and the fds that came with it; `None` at EOF.
fn receive(fd: RawFd) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut cmsg = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: the kernel just installed these descriptors in this process for us.
            fds.extend(raw.into_iter().map(|r| unsafe { OwnedFd::from_raw_fd(r) }));
        }
    }
    let len = msg.bytes;
    if len == 0 {
        return Ok(None);
    }
    buf.truncate(len);
    Ok(Some((buf, fds)))
}

fn send(fd: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let iov = [IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &cmsg };
    sendmsg::<()>(fd, &iov, cmsgs, MsgFlags::empty(), None).map_err(io::Error::from)?;
    Ok(())
}

async fn read_answers(reader: AsyncFd<Arc<OwnedFd>>, waiters: Arc<Mutex<Waiters>>) {
    loop {
        let got = reader
            .async_io(Interest::READABLE, |fd| receive(fd.as_raw_fd()))
            .await;
        let (bytes, mut fds) = match got {
            Ok(Some(message)) => message,
            Ok(None) | Err(_) => {
                tracing::error!("the spawn helper is gone; no app process can be started");
                return;
            }
        };
        let Ok(reply) = serde_json::from_slice::<Reply>(&bytes) else {
            tracing::warn!("unreadable message from the spawn helper");
            continue;
        };
        let mut w = waiters.lock().unwrap_or_else(|p| p.into_inner());
        match reply {
            Reply::Spawned { id, pid } => {
                let (exit_tx, exit_rx) = oneshot::channel();
                w.exits.insert(pid, exit_tx);
                let answer = if fds.len() >= 2 {
                    let stdin = (fds.len() == 3).then(|| fds.remove(2));
                    let stderr = fds.remove(1);
                    let stdout = fds.remove(0);
                    Ok(HelperChild {
                        pid,
                        stdout,
                        stderr,
                        stdin,
                        exited: exit_rx,
                    })
                } else {
                    Err("the spawn helper sent no pipes".to_string())
                };
                if let Some(tx) = w.spawns.remove(&id) {
                    let _ = tx.send(answer);
                }
            }
            Reply::Failed { id, error } => {
                if let Some(tx) = w.spawns.remove(&id) {
                    let _ = tx.send(Err(error));
                }
            }
            Reply::Exited { pid, code, signal } => {
                let info = match (code, signal) {
                    (Some(code), _) => ExitInfo::Code(code),
                    (None, Some(sig)) => ExitInfo::Signal(sig),
                    (None, None) => ExitInfo::Unknown("reaped by the spawn helper".into()),
                };
                if let Some(tx) = w.exits.remove(&pid) {
                    let _ = tx.send(info);
                }
            }
        }
    }
}

impl HelperClient {
    /// Asks the helper to start `/bin/sh -c <command>` in `cwd` as `run_as` with exactly `env`.
    pub async fn spawn(
        &self,
        command: &str,
        cwd: &std::path::Path,
        env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
        run_as: &RunAs,
        stdin_pipe: bool,
    ) -> Result<HelperChild, String> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.next_id += 1;
            let id = w.next_id;
            w.spawns.insert(id, tx);
            id
        };
        let request = Request::Spawn {
            id,
            command: command.to_string(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
            env: env
                .into_iter()
                .map(|(k, v)| (k.into_vec(), v.into_vec()))
                .collect(),
            uid: run_as.uid,
            gid: run_as.gid,
            groups: run_as
                .switch
                .as_ref()
                .map(|s| s.groups.clone())
                .unwrap_or_else(|| vec![run_as.gid]),
            stdin_pipe,
        };
        let bytes = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        if let Err(e) = send(self.fd.as_raw_fd(), &bytes, &[]) {
            let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.spawns.remove(&id);
            return Err(format!("cannot reach the spawn helper: {e}"));
        }
        rx.await
            .unwrap_or_else(|_| Err("the spawn helper is gone".to_string()))
    }

    /// Asks the helper to send `signal` to process group `pgid` (fire and forget).
    pub fn signal(&self, pgid: u32, signal: i32) {
        let request = Request::Signal { pgid, signal };
        if let Ok(bytes) = serde_json::to_vec(&request) {
            if let Err(e) = send(self.fd.as_raw_fd(), &bytes, &[]) {
                tracing::warn!(pgid, error = %e, "cannot ask the spawn helper to signal");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The helper process.

/// `passenger __spawn-helper`: serves the core on fd 3 until it goes away. Returns the exit code.
pub fn serve() -> i32 {
    // SAFETY: fd 3 was set up by `start` for this process; nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(HELPER_FD) };
    // dup2 cleared close-on-exec: apps must never inherit the way to the helper.
    if nix::fcntl::fcntl(
        sock.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .is_err()
    {
        return 1;
    }
    // Stop signals for the whole service are the core's to act on; the helper lives until the
    // core is gone. SIGCHLD is taken through a signalfd.
    let mut mask = nix::sys::signal::SigSet::empty();
    mask.add(nix::sys::signal::Signal::SIGCHLD);
    for sig in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGQUIT,
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGUSR1,
        nix::sys::signal::Signal::SIGUSR2,
    ] {
        mask.add(sig);
    }
    if mask.thread_block().is_err() {
        return 1;
    }
    let mut chld = nix::sys::signal::SigSet::empty();
    chld.add(nix::sys::signal::Signal::SIGCHLD);
    let Ok(sigfd) =
        nix::sys::signalfd::SignalFd::with_flags(&chld, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC)
    else {
        return 1;
    };
    let root_allowed = std::env::var(ENV_ROOT_ALLOWED).is_ok_and(|v| v == "1");
    std::env::remove_var(ENV_ROOT_ALLOWED);
    let mut children: HashSet<u32> = HashSet::new();
    loop {
        let mut polls = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on two valid pollfd structs we own.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return 1;
        }
        if polls[1].revents != 0 {
            let _ = sigfd.read_signal();
            reap(&sock, &mut children);
        }
        if polls[0].revents != 0 {
            match receive(sock.as_raw_fd()) {
                Ok(Some((bytes, _))) => handle(&sock, &bytes, &mut children, root_allowed),
                Ok(None) | Err(_) => return 0,
            }
        }
    }
}

fn reply(sock: &OwnedFd, reply: &Reply, fds: &[RawFd]) {
    if let Ok(bytes) = serde_json::to_vec(reply) {
        let _ = send(sock.as_raw_fd(), &bytes, fds);
    }
}

fn handle(sock: &OwnedFd, bytes: &[u8], children: &mut HashSet<u32>, root_allowed: bool) {
    match serde_json::from_slice::<Request>(bytes) {
        Ok(Request::Spawn {
            id,
            command,
            cwd,
            env,
            uid,
            gid,
            groups,
            stdin_pipe,
        }) => {
            if (uid == 0 || gid == 0) && !root_allowed {
                let error = "refusing to start an app as root that was not configured to".into();
                reply(sock, &Reply::Failed { id, error }, &[]);
                return;
            }
            match spawn_child(&command, &cwd, env, uid, gid, groups, stdin_pipe) {
                Ok((pid, fds)) => {
                    children.insert(pid);
                    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
                    reply(sock, &Reply::Spawned { id, pid }, &raw);
                }
                Err(e) => reply(
                    sock,
                    &Reply::Failed {
                        id,
                        error: format!("Could not start the app process: {e}"),
                    },
                    &[],
                ),
            }
        }
        Ok(Request::Signal { pgid, signal }) => {
            if may_signal(pgid, children) {
                // SAFETY: killpg has no memory-safety preconditions.
                unsafe { libc::killpg(pgid as libc::pid_t, signal) };
            }
        }
        Err(_) => {}
    }
}

/// Whether `pgid` leads a group the core may signal: a child of ours, or a descendant of one.
fn may_signal(pgid: u32, children: &HashSet<u32>) -> bool {
    let mut pid = pgid;
    for _ in 0..8 {
        if children.contains(&pid) {
            return true;
        }
        match parent_of(pid) {
            Some(ppid) if ppid > 1 => pid = ppid,
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn spawn_child(
    command: &str,
    cwd: &[u8],
    env: Vec<(Vec<u8>, Vec<u8>)>,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    stdin_pipe: bool,
) -> io::Result<(u32, Vec<OwnedFd>)> {
    let pipe = || -> io::Result<(OwnedFd, OwnedFd)> {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdin = if stdin_pipe { Some(pipe()?) } else { None };
    let run_as = RunAs {
        user_name: String::new(),
        uid,
        group_name: String::new(),
        gid,
        switch: Some(identity::Switch {
            groups,
            home: String::new(),
            shell: String::new(),
        }),
    };
    let mut hook = identity::pre_exec_hook(&run_as);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(std::ffi::OsStr::from_bytes(cwd))
        .env_clear()
        .envs(env.into_iter().map(|(k, v)| {
            (
                std::ffi::OsString::from_vec(k),
                std::ffi::OsString::from_vec(v),
            )
        }))
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .process_group(0);
    match &stdin {
        Some((r, _)) => {
            cmd.stdin(Stdio::from(r.try_clone()?));
        }
        None => {
            cmd.stdin(Stdio::null());
        }
    }
    // SAFETY: async-signal-safe calls only: sigprocmask, then the spawner's own hook.
    unsafe {
        cmd.pre_exec(move || {
            // The helper blocks its signals; the app must not inherit that.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            hook()
        });
    }
    let child = cmd.spawn()?;
    let mut fds = vec![out_r, err_r];
    if let Some((_, w)) = stdin {
        fds.push(w);
    }
    // The Child is dropped without waiting: the helper reaps every child with waitpid.
    Ok((child.id(), fds))
}

fn reap(sock: &OwnedFd, children: &mut HashSet<u32>) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => exited(sock, children, pid, Some(code), None),
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                exited(sock, children, pid, None, Some(sig as i32))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn exited(
    sock: &OwnedFd,
    children: &mut HashSet<u32>,
    pid: nix::unistd::Pid,
    code: Option<i32>,
    signal: Option<i32>,
) {
    let pid = pid.as_raw() as u32;
    if children.remove(&pid) {
        // What is left of its group (daemonized grandchildren) goes with it.
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) };
        reply(sock, &Reply::Exited { pid, code, signal }, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair")
    }

    #[test]
    fn root_is_refused_unless_the_configuration_allowed_it() {
        let (core, helper) = pair();
        let request = Request::Spawn {
            id: 7,
            command: "exit 0".into(),
            cwd: b"/".to_vec(),
            env: Vec::new(),
            uid: 0,
            gid: 0,
            groups: vec![0],
            stdin_pipe: false,
        };
        let bytes = serde_json::to_vec(&request).expect("json");
        let mut children = HashSet::new();
        handle(&helper, &bytes, &mut children, false);
        let (answer, fds) = receive(core.as_raw_fd())
            .expect("receive")
            .expect("an answer");
        assert!(fds.is_empty());
        match serde_json::from_slice::<Reply>(&answer).expect("a reply") {
            Reply::Failed { id, error } => {
                assert_eq!(id, 7);
                assert!(error.contains("root"), "{error}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(children.is_empty(), "nothing was started");
    }

    #[test]
    fn only_groups_of_its_own_descendants_may_be_signalled() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        let children: HashSet<u32> = [pid].into_iter().collect();
        assert!(may_signal(pid, &children), "its own child");
        assert!(!may_signal(1, &children), "init");
        assert!(!may_signal(std::process::id(), &children), "its parent");
        assert!(
            !may_signal(pid, &HashSet::new()),
            "not a child of the helper"
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
