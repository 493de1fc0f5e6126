//! Smart spawning: one preloader per app loads the app once and forks its processes.
//!
//! Owns the per-app preloader registry of a [`SpawnerFactory`](super::SpawnerFactory)
//! (keyed by [`AppSpec::name`]), the preloader protocol on the core's side (see
//! ARCHITECTURE.md, "Preloader protocol"; one worker's spawn is [`worker`]), exit
//! tracking of forked workers (which are not children of the core) and their
//! [`ProcessControl`] ([`exit_watch`]). It does not start the preloader process itself:
//! that is a [`Journey`] in [`Mode::Preloader`], so load failures, timeouts and output
//! capture behave exactly like a direct spawn.
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
//! [`ExitInfo::Unknown`](super::ExitInfo::Unknown).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::apps_dir::AppsDir;
use super::journey::{Journey, Mode};
use super::{plan, ProcessControl, SpawnError, SpawnStep, SpawnedProcess, SpawnerOptions};
use crate::app::AppSpec;
use crate::pool::{Gupid, ProcessAddress};

mod exit_watch;
mod worker;

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

    /// See [`SpawnerFactory::preloader_pid`](super::SpawnerFactory::preloader_pid).
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
    /// A final error (boxed: it is large).
    Spawn(Box<SpawnError>),
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
        let result =
            worker::spawn_worker(&preloader, options, apps_dir, &app, &gupid, deadline).await;
        drop(busy);
        match result {
            Ok(mut process) => {
                process.spawn_started = spawn_started;
                return Ok(process);
            }
            Err(Failure::Spawn(e)) => return Err(*e),
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
    let auth = process.connect_password.clone().unwrap_or_default();
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
        socket_prefix: plan::socket_prefix(&app.app_type),
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
