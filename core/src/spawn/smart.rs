//! Smart spawning: one preloader per app loads the app once and forks its processes.
//!
//! Owns the per-app preloader registry of a [`DirectSpawner`](super::DirectSpawner)
//! (keyed by [`AppSpec::name`]), the preloader protocol on the core's side (see
//! ARCHITECTURE.md, "Preloader protocol"), exit tracking of forked workers (which are
//! not children of the core) and their [`ProcessControl`]. It does not start the
//! preloader process itself: that is a [`Journey`] in [`Mode::Preloader`], so load
//! failures, timeouts and output capture behave exactly like a direct spawn.
//!
//! # A spawn
//!
//! 1. Under the app's slot lock, reuse the preloader if it is alive, not stopped and of
//!    the current restart generation; otherwise start one (`Passenger AppPreloader:
//!    <app root>`, listening on `<apps dir>/preloader.<hex>`). Its failure is the
//!    spawn's failure (a broken app gives [`SpawnStep::AppLoad`]).
//! 2. Connect to the preloader and send, in one `sendmsg`, the JSON command line
//!    `{"command":"spawn","socket":…,"password":…,"auth":…}` with two fds attached
//!    (SCM_RIGHTS): the read end of a fresh stdin pipe and the write end of a fresh
//!    output pipe. The core keeps the other ends: closing the stdin write end is the
//!    worker's graceful stop (and happens by itself if the core dies), and the output
//!    pipe is logged like a direct process's stdout/stderr.
//! 3. The forked worker answers `{"pid":N}` once it leads its own process group, then
//!    `{"result":"ok"}` once its socket listens, or `{"result":"error","message":…}`.
//!    Its exit is watched through a pidfd; it is raced against readiness and the
//!    deadline (`app.start_timeout` covers the whole spawn, preloader start included).
//!
//! A connection that cannot be made, or that ends before the pid line, means the
//! preloader is gone (crashed or stopped meanwhile): it is replaced and the spawn is
//! retried once.
//!
//! # Lifetime of a preloader
//!
//! It is stopped (stdin closed; its workers live on) when it has not spawned for
//! `app.max_preloader_idle_time` (zero: never), when the pool restarts the app's group
//! ([`Spawner::app_restarted`](super::Spawner::app_restarted)), and when the spawner
//! is dropped. The next spawn starts a fresh one. A preloader gets `PR_SET_PDEATHSIG`
//! like every direct child; its workers do not (fork clears it, and they must survive
//! the preloader): they exit on stdin EOF when the core dies.
//!
//! # Exit status of workers
//!
//! Workers are children of the preloader, which reaps them; orphans (preloader gone)
//! are reaped by init. The core does not become a subreaper. A worker's exit is seen
//! through `pidfd_open` (polling `kill(pid, 0)` if pidfds are unavailable); its exit
//! code is only known when it happens to be the core's child, otherwise
//! [`ExitInfo::Unknown`].

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::direct::{self, AppsDir, Journey, Mode, SpawnerOptions, OUTPUT_GRACE};
use super::output::OutputCapture;
use super::unix::signal_group;
use super::{ExitInfo, ProcessControl, SpawnError, SpawnStep, SpawnedProcess};
use crate::app::AppSpec;
use crate::pool::{Gupid, ProcessAddress};

/// Longest line accepted from a preloader or worker.
const MAX_REPLY: u64 = 64 * 1024;

/// How often a worker's liveness is polled when pidfds are unavailable.
const EXIT_POLL: Duration = Duration::from_millis(250);

/// The preloaders of one spawner, one slot per app name.
#[derive(Debug, Default)]
pub(crate) struct Preloaders {
    apps: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One app's preloader and its restart generation.
#[derive(Debug, Default)]
struct Slot {
    /// Bumped by `app_restarted`; a preloader of an older generation is replaced.
    generation: AtomicU64,
    /// Held while a spawn looks up or starts the preloader, so only one starts.
    current: tokio::sync::Mutex<Option<Arc<Preloader>>>,
}

impl Preloaders {
    fn slot(&self, app_name: &str) -> Arc<Slot> {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(apps.entry(app_name.to_string()).or_default())
    }

    fn existing_slot(&self, app_name: &str) -> Option<Arc<Slot>> {
        let apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        apps.get(app_name).cloned()
    }

    /// See [`DirectSpawner::preloader_pid`](super::DirectSpawner::preloader_pid).
    pub(crate) fn preloader_pid(&self, app_name: &str) -> Option<u32> {
        let slot = self.existing_slot(app_name)?;
        let current = slot.current.try_lock().ok()?;
        let generation = slot.generation.load(Ordering::SeqCst);
        current
            .as_ref()
            .filter(|p| p.usable(generation))
            .map(|p| p.pid)
    }

    /// Stops the app's preloader now if no spawn holds it, and in any case makes the
    /// next spawn start a fresh one.
    pub(crate) fn app_restarted(&self, app_name: &str) {
        let Some(slot) = self.existing_slot(app_name) else {
            return;
        };
        slot.generation.fetch_add(1, Ordering::SeqCst);
        let old = match slot.current.try_lock() {
            Ok(mut current) => current.take(),
            Err(_) => None,
        };
        if let Some(preloader) = old {
            tracing::info!(
                app = app_name,
                pid = preloader.pid,
                "app restarted; stopping its preloader"
            );
            preloader.stop();
        }
    }
}

/// A running preloader process.
#[derive(Debug)]
struct Preloader {
    pid: u32,
    socket: PathBuf,
    /// The preloader's connect password, sent as `auth` in every command.
    auth: String,
    control: Arc<dyn ProcessControl>,
    generation: u64,
    /// Cleared once the process has exited.
    alive: Arc<AtomicBool>,
    /// Set once it was asked to stop.
    stopped: AtomicBool,
    /// Spawns in progress; the idle timer does not stop a busy preloader.
    busy: AtomicUsize,
    last_used: Mutex<Instant>,
    /// Concurrency its workers advertise.
    concurrency: i32,
    /// Prefix of worker socket names (`ruby`, `wsgi`).
    socket_prefix: &'static str,
    /// Command, environment and user of the preloader, for worker spawn errors.
    journey: Journey,
}

impl Preloader {
    fn usable(&self, generation: u64) -> bool {
        self.alive.load(Ordering::SeqCst)
            && !self.stopped.load(Ordering::SeqCst)
            && self.generation == generation
    }

    fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            self.control.terminate();
        }
    }

    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Preloader {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Marks a preloader busy for the lifetime of the guard.
struct Busy(Arc<Preloader>);

impl Busy {
    fn new(preloader: Arc<Preloader>) -> Busy {
        preloader.busy.fetch_add(1, Ordering::SeqCst);
        preloader.touch();
        Busy(preloader)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why one attempt to fork a worker failed.
enum Failure {
    /// The preloader did not take the command: replace it and try again once.
    PreloaderGone(String),
    /// A final error.
    Spawn(SpawnError),
}

/// Spawns one process of `app` through its preloader; see the module docs.
pub(crate) async fn spawn(
    preloaders: &Arc<Preloaders>,
    options: &Arc<SpawnerOptions>,
    apps_dir: &Arc<AppsDir>,
    app: Arc<AppSpec>,
    gupid: Gupid,
) -> Result<SpawnedProcess, SpawnError> {
    let spawn_started = SystemTime::now();
    let deadline = Instant::now() + app.start_timeout;
    let slot = preloaders.slot(&app.name);
    let mut retried = false;
    loop {
        let preloader = current_preloader(&slot, options, apps_dir, &app, deadline).await?;
        let busy = Busy::new(Arc::clone(&preloader));
        let result = spawn_worker(&preloader, options, apps_dir, &app, &gupid, deadline).await;
        drop(busy);
        match result {
            Ok(mut process) => {
                process.spawn_started = spawn_started;
                return Ok(process);
            }
            Err(Failure::Spawn(e)) => return Err(e),
            Err(Failure::PreloaderGone(why)) => {
                preloader.stop();
                if retried {
                    return Err(preloader.journey.error(
                        SpawnStep::ForkSubprocess,
                        format!("The preloader of the app did not accept a spawn command: {why}"),
                        String::new(),
                    ));
                }
                tracing::warn!(app = %app.name, pid = preloader.pid, reason = %why, "the preloader is gone; starting a new one");
                retried = true;
            }
        }
    }
}

/// The app's usable preloader, started if needed.
async fn current_preloader(
    slot: &Slot,
    options: &Arc<SpawnerOptions>,
    apps_dir: &Arc<AppsDir>,
    app: &Arc<AppSpec>,
    deadline: Instant,
) -> Result<Arc<Preloader>, SpawnError> {
    let Ok(mut current) = tokio::time::timeout_at(deadline, slot.current.lock()).await else {
        return Err(Journey::new(app).error(
            SpawnStep::HandshakePerform,
            format!(
                "The app's preloader did not start within the start timeout of {:.1} seconds.",
                app.start_timeout.as_secs_f64()
            ),
            String::new(),
        ));
    };
    let generation = slot.generation.load(Ordering::SeqCst);
    if let Some(preloader) = current.as_ref() {
        if preloader.usable(generation) {
            return Ok(Arc::clone(preloader));
        }
    }
    if let Some(old) = current.take() {
        old.stop();
    }
    let preloader = start_preloader(options, apps_dir, app, generation, deadline).await?;
    *current = Some(Arc::clone(&preloader));
    Ok(preloader)
}

async fn start_preloader(
    options: &Arc<SpawnerOptions>,
    apps_dir: &Arc<AppsDir>,
    app: &Arc<AppSpec>,
    generation: u64,
    deadline: Instant,
) -> Result<Arc<Preloader>, SpawnError> {
    let started = std::time::Instant::now();
    let mut journey = Journey::new(app);
    let gupid = Gupid(format!("{}-preloader", app.name));
    let process = journey
        .run(options, apps_dir, app, &gupid, Mode::Preloader, deadline)
        .await?;
    let ProcessAddress::Session(socket) = process.address.clone() else {
        process.control.kill();
        return Err(journey.error(
            SpawnStep::Preparation,
            "Internal error: the preloader has no session socket.".to_string(),
            String::new(),
        ));
    };
    let auth = super::connect_password_for(&socket).unwrap_or_default();
    let alive = Arc::new(AtomicBool::new(true));
    let watched = Arc::clone(&alive);
    let exited = process.exited;
    let pid = process.pid;
    tokio::spawn(async move {
        let info = exited.await;
        watched.store(false, Ordering::SeqCst);
        tracing::debug!(pid, exit = ?info, "preloader exited");
    });
    let preloader = Arc::new(Preloader {
        pid,
        socket,
        auth,
        control: process.control,
        generation,
        alive,
        stopped: AtomicBool::new(false),
        busy: AtomicUsize::new(0),
        last_used: Mutex::new(Instant::now()),
        concurrency: process.concurrency,
        socket_prefix: super::plan::socket_prefix(&app.app_type),
        journey,
    });
    if !app.max_preloader_idle_time.is_zero() {
        watch_idle(Arc::downgrade(&preloader), app.max_preloader_idle_time);
    }
    tracing::info!(app = %app.name, pid, elapsed_ms = started.elapsed().as_millis() as u64, "preloader started");
    Ok(preloader)
}

/// Stops the preloader once it has not spawned for `idle`.
fn watch_idle(preloader: Weak<Preloader>, idle: Duration) {
    tokio::spawn(async move {
        loop {
            let due = {
                let Some(p) = preloader.upgrade() else {
                    return;
                };
                if !p.alive.load(Ordering::SeqCst) || p.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let due = p.last_used() + idle;
                if Instant::now() >= due && p.busy.load(Ordering::SeqCst) == 0 {
                    tracing::info!(
                        pid = p.pid,
                        idle_secs = idle.as_secs_f64(),
                        "stopping the idle preloader"
                    );
                    p.stop();
                    return;
                }
                due.max(Instant::now() + Duration::from_millis(50))
            };
            tokio::time::sleep_until(due).await;
        }
    });
}

/// Kills the worker's process group if the spawn does not complete.
struct KillGuard(Option<Arc<WorkerControl>>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            control.kill();
        }
    }
}

/// Removes a worker's password registration unless the spawn succeeded (then the exit
/// watcher owns it).
struct PasswordGuard(Option<PathBuf>);

impl Drop for PasswordGuard {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            super::forget_connect_password(&socket);
        }
    }
}

/// One line from the preloader or the worker.
#[derive(Debug, Default, serde::Deserialize)]
struct Reply {
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    message: String,
}

async fn read_reply(reader: &mut BufReader<UnixStream>) -> Result<Option<Reply>, String> {
    let mut line = String::new();
    let n = (&mut *reader)
        .take(MAX_REPLY)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("reading the reply failed: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    serde_json::from_str(line.trim_end())
        .map(Some)
        .map_err(|e| format!("invalid reply {:?}: {e}", line.trim_end()))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Sends `line` with `fds` attached, then the rest of the line if the kernel took
/// only part of it.
async fn send_command(stream: &mut UnixStream, line: &[u8], fds: &[i32]) -> io::Result<()> {
    let sent = loop {
        stream.writable().await?;
        let result = stream.try_io(Interest::WRITABLE, || {
            sendmsg::<UnixAddr>(
                stream.as_raw_fd(),
                &[IoSlice::new(line)],
                &[ControlMessage::ScmRights(fds)],
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        });
        match result {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    stream.write_all(&line[sent..]).await
}

async fn spawn_worker(
    preloader: &Preloader,
    options: &SpawnerOptions,
    apps_dir: &Arc<AppsDir>,
    app: &AppSpec,
    gupid: &Gupid,
    deadline: Instant,
) -> Result<SpawnedProcess, Failure> {
    let journey = &preloader.journey;
    let fail = |step: SpawnStep, summary: String, output: String| {
        Failure::Spawn(journey.error(step, summary, output))
    };
    let socket = direct::new_socket_path(options, apps_dir, preloader.socket_prefix)
        .map_err(|e| fail(SpawnStep::Preparation, e, String::new()))?;
    let password = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let direct_port = super::readiness::pick_free_port().map_err(|e| {
        fail(
            SpawnStep::Preparation,
            format!("Could not find a free port on 127.0.0.1 for the app: {e}"),
            String::new(),
        )
    })?;
    let pipes = pipe().and_then(|stdin| Ok((stdin, pipe()?)));
    let ((stdin_r, stdin_w), (out_r, out_w)) = pipes.map_err(|e| {
        fail(
            SpawnStep::Preparation,
            format!("Could not create the pipes for a new worker: {e}"),
            String::new(),
        )
    })?;
    let timed_out = |what: &str| {
        fail(
            SpawnStep::HandshakePerform,
            format!(
                "The app process {what} within the start timeout of {:.1} seconds, so it was \
                 killed.",
                app.start_timeout.as_secs_f64()
            ),
            String::new(),
        )
    };

    // Command.
    let mut stream =
        match tokio::time::timeout_at(deadline, UnixStream::connect(&preloader.socket)).await {
            Err(_) => return Err(timed_out("was not forked by the preloader")),
            Ok(Err(e)) => return Err(Failure::PreloaderGone(format!("connect: {e}"))),
            Ok(Ok(stream)) => stream,
        };
    let command = serde_json::json!({
        "command": "spawn",
        "socket": socket.to_string_lossy(),
        "password": password,
        "direct_port": direct_port,
        "auth": preloader.auth,
    });
    let mut line = command.to_string().into_bytes();
    line.push(b'\n');
    let fds = [stdin_r.as_raw_fd(), out_w.as_raw_fd()];
    match tokio::time::timeout_at(deadline, send_command(&mut stream, &line, &fds)).await {
        Err(_) => return Err(timed_out("was not forked by the preloader")),
        Ok(Err(e)) => return Err(Failure::PreloaderGone(format!("send: {e}"))),
        Ok(Ok(())) => {}
    }
    // Only the worker may hold these now, or EOF would never come.
    drop(stdin_r);
    drop(out_w);
    super::register_connect_password(socket.clone(), password.clone());
    let mut password_guard = PasswordGuard(Some(socket.clone()));
    let mut reader = BufReader::new(stream);

    // The worker's pid.
    let pid = match tokio::time::timeout_at(deadline, read_reply(&mut reader)).await {
        Err(_) => return Err(timed_out("was not forked by the preloader")),
        Ok(Err(e)) => return Err(Failure::PreloaderGone(e)),
        Ok(Ok(None)) => {
            return Err(Failure::PreloaderGone(
                "it closed the connection without forking".to_string(),
            ))
        }
        Ok(Ok(Some(Reply { pid: Some(pid), .. }))) => pid,
        Ok(Ok(Some(reply))) => {
            return Err(fail(
                SpawnStep::ForkSubprocess,
                format!("The preloader could not fork a process: {}", reply.message),
                String::new(),
            ))
        }
    };
    let capture = match tokio::net::unix::pipe::Receiver::from_owned_fd(out_r) {
        Ok(receiver) => OutputCapture::start(pid, [receiver]),
        Err(e) => {
            tracing::warn!(pid, error = %e, "cannot read the worker's output");
            OutputCapture::start(pid, Vec::<tokio::net::unix::pipe::Receiver>::new())
        }
    };
    let control = Arc::new(WorkerControl::new(pid, stdin_w));
    let mut guard = KillGuard(Some(Arc::clone(&control)));
    let (exited_tx, mut exited_rx) = oneshot::channel();
    let watcher = ExitWatcher::new(pid);
    tokio::spawn(watcher.run(
        Arc::clone(&control),
        exited_tx,
        socket.clone(),
        Arc::clone(apps_dir),
    ));
    password_guard.0 = None;
    tracing::debug!(pid, %gupid, app = %app.name, preloader = preloader.pid, "forked app process, waiting for it to listen");

    // Readiness.
    enum Outcome {
        Reply(Result<Option<Reply>, String>),
        Exited(ExitInfo),
        TimedOut,
    }
    let outcome = tokio::select! {
        biased;
        reply = read_reply(&mut reader) => Outcome::Reply(reply),
        exit = &mut exited_rx => Outcome::Exited(
            exit.unwrap_or_else(|_| ExitInfo::Unknown("exit watcher ended".to_string())),
        ),
        () = tokio::time::sleep_until(deadline) => Outcome::TimedOut,
    };
    let summary = match outcome {
        Outcome::Reply(Ok(Some(reply))) if reply.result.as_deref() == Some("ok") => {
            capture.stop_capturing();
            guard.0 = None;
            tracing::info!(pid, %gupid, app = %app.name, preloader = preloader.pid, "app process is ready");
            let pipeline =
                crate::loader::pipeline::claims_for(app, apps_dir.claims_base(options), &socket);
            return Ok(SpawnedProcess {
                pid,
                address: ProcessAddress::Session(socket),
                concurrency: preloader.concurrency,
                spawn_started: SystemTime::now(),
                spawn_ended: SystemTime::now(),
                control,
                pipeline,
                connect_password: Some(password),
                direct_address: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, direct_port))),
                exited: exited_rx,
            });
        }
        Outcome::Reply(Ok(Some(reply))) => {
            let output = finish(guard, exited_rx, capture).await;
            return Err(fail(
                SpawnStep::AppLoad,
                format!("The app process could not start: {}", reply.message),
                output,
            ));
        }
        Outcome::Reply(Ok(None)) => {
            "The application process exited prematurely (it closed the preloader connection)."
                .to_string()
        }
        Outcome::Reply(Err(e)) => format!("The application process sent a bad reply: {e}."),
        Outcome::Exited(info) => format!(
            "The application process exited prematurely. It {}.",
            direct::describe_exit(&info)
        ),
        Outcome::TimedOut => format!(
            "The application process did not start listening on the socket {} within the \
             start timeout of {:.1} seconds, so it was killed.",
            socket.display(),
            app.start_timeout.as_secs_f64()
        ),
    };
    let output = finish(guard, exited_rx, capture).await;
    Err(fail(SpawnStep::HandshakePerform, summary, output))
}

/// After a failed worker spawn: kills it, waits briefly for its exit and its output.
async fn finish(
    guard: KillGuard,
    exited: oneshot::Receiver<ExitInfo>,
    capture: OutputCapture,
) -> String {
    drop(guard);
    let _ = tokio::time::timeout(OUTPUT_GRACE * 4, exited).await;
    capture.finish(OUTPUT_GRACE).await
}

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
struct WorkerControl {
    pid: u32,
    state: Mutex<WorkerState>,
}

impl WorkerControl {
    fn new(pid: u32, stdin: OwnedFd) -> WorkerControl {
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
struct ExitWatcher {
    pid: u32,
    pidfd: Option<AsyncFd<OwnedFd>>,
}

impl ExitWatcher {
    fn new(pid: u32) -> ExitWatcher {
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

    async fn run(
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
        super::forget_connect_password(&socket);
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
