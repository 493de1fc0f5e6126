//! The pool actor: one tokio task owning the [`state`](super::state) machine.
//!
//! Owns the I/O around the state machine: calling the [`Spawner`], holding each
//! process's [`ProcessControl`] and forwarding its exit, answering waiting checkouts,
//! the restart-file check (`restart.txt`, `always_restart.txt`: read on a blocking
//! thread, see [`restart_file`]) and the timer that drives [`PoolInput::Tick`]. Every
//! pool decision is made by the state machine; this module only carries them out.
//! Everyone else talks to it through [`PoolHandle`]. The actor task makes no blocking
//! call: file system reads, spawns, hooks and out-of-band work run elsewhere and come
//! back as messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use crate::app::AppSpec;
use crate::loader::{Claim, Claims};
use crate::pool::ids::{Gupid, ProcessAddress};
use crate::spawn::{ProcessControl, SpawnError, SpawnedProcess, Spawner};

use super::error::{CheckoutError, PoolError};
use super::options::{CheckoutKind, PoolOptions, RestartMethod};
use super::restart_file::{self, Gate, RestartFiles};
use super::snapshot::PoolSnapshot;
use super::state::{Pool, PoolAction, PoolInput, RequestId, SessionOutcome, SpawnId, SpawnedInfo};

type CheckoutReply = oneshot::Sender<Result<Session, CheckoutError>>;

/// Messages to the actor.
#[derive(Debug)]
enum Msg {
    Checkout {
        request: RequestId,
        app: Arc<AppSpec>,
        kind: CheckoutKind,
        reply: CheckoutReply,
    },
    Cancel {
        request: RequestId,
    },
    SessionClosed {
        gupid: Gupid,
        outcome: SessionOutcome,
        claim: Option<Arc<Claim>>,
    },
    SpawnDone {
        group: String,
        spawn: SpawnId,
        gupid: Gupid,
        result: Result<SpawnedProcess, SpawnError>,
    },
    Exited {
        gupid: Gupid,
    },
    Snapshot {
        reply: oneshot::Sender<PoolSnapshot>,
    },
    Restart {
        name: String,
        method: RestartMethod,
        reply: oneshot::Sender<Result<(), PoolError>>,
    },
    Detach {
        pid: u32,
        reply: oneshot::Sender<bool>,
    },
    OobDone {
        gupid: Gupid,
    },
    /// A restart-file check ended (`None`: it could not run).
    RestartFilesSeen {
        group: String,
        seen: Option<restart_file::Seen>,
    },
    MemoryOver {
        gupid: Gupid,
        used_kb: u64,
    },
    UpdateApp {
        app: Arc<AppSpec>,
    },
    Prestart {
        app: Arc<AppSpec>,
    },
    RemoveGroup {
        name: String,
        reply: oneshot::Sender<bool>,
    },
    SetMaxPoolSize {
        max: u32,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    Abandon {
        reply: oneshot::Sender<()>,
    },
}

/// Cheap-to-clone handle to the pool actor.
#[derive(Clone, Debug)]
pub struct PoolHandle {
    tx: mpsc::UnboundedSender<Msg>,
    next_request: Arc<AtomicU64>,
}

/// Starts the pool actor on the current tokio runtime.
///
/// The actor runs until every `PoolHandle` and `Session` is gone; it then asks the
/// remaining processes to terminate. Call [`PoolHandle::shutdown`] for an orderly stop.
pub fn start(options: PoolOptions, spawner: Arc<dyn Spawner>) -> PoolHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let actor = Actor {
        pool: Pool::new(options),
        spawner,
        weak: tx.downgrade(),
        waiters: HashMap::new(),
        controls: HashMap::new(),
        pipelines: HashMap::new(),
        shutdown_waiters: Vec::new(),
        restart_files: RestartFiles::default(),
        app_roots: HashMap::new(),
        attached: HashMap::new(),
        memory_limits: HashMap::new(),
        watched: super::memory_watch::Watched::default(),
    };
    // Measures outside the actor and feeds what it finds in as messages.
    let weak = tx.downgrade();
    let alive = tx.downgrade();
    tokio::spawn(super::memory_watch::run(
        actor.watched.clone(),
        super::memory_watch::check_interval(),
        move || alive.strong_count() > 0,
        move |gupid, used_kb| match weak.upgrade() {
            Some(tx) => tx.send(Msg::MemoryOver { gupid, used_kb }).is_ok(),
            None => false,
        },
    ));
    tokio::spawn(actor.run(rx));
    PoolHandle {
        tx,
        next_request: Arc::new(AtomicU64::new(1)),
    }
}

/// Withdraws a queued checkout when its future is dropped before the answer.
struct CancelGuard {
    tx: mpsc::UnboundedSender<Msg>,
    request: RequestId,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            // If the actor is gone there is nothing to withdraw from.
            let _ = self.tx.send(Msg::Cancel {
                request: self.request,
            });
        }
    }
}

impl PoolHandle {
    /// Waits for a process slot of `app` (creating the group on first use). Dropping
    /// the future withdraws the request from the queue.
    pub async fn checkout(&self, app: Arc<AppSpec>) -> Result<Session, CheckoutError> {
        self.checkout_with(app, CheckoutKind::default()).await
    }

    /// [`checkout`](Self::checkout) for a request that may be pipelined, or that
    /// comes back after its pipelined session was withdrawn.
    pub async fn checkout_with(
        &self,
        app: Arc<AppSpec>,
        kind: CheckoutKind,
    ) -> Result<Session, CheckoutError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Msg::Checkout {
                request,
                app,
                kind,
                reply,
            })
            .is_err()
        {
            return Err(CheckoutError::ShuttingDown);
        }
        let mut guard = CancelGuard {
            tx: self.tx.clone(),
            request,
            armed: true,
        };
        let answer = rx.await;
        guard.armed = false;
        answer.unwrap_or(Err(CheckoutError::ShuttingDown))
    }

    /// The whole pool state.
    pub async fn snapshot(&self) -> Result<PoolSnapshot, PoolError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Snapshot { reply })?;
        rx.await.map_err(|_| PoolError::Stopped)
    }

    /// Restarts one group; resolves once the restart has begun.
    pub async fn restart_group(&self, name: &str, method: RestartMethod) -> Result<(), PoolError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Restart {
            name: name.to_string(),
            method,
            reply,
        })?;
        rx.await.map_err(|_| PoolError::Stopped)?
    }

    /// Detaches the process with this pid; false if no such process.
    pub async fn detach_process(&self, pid: u32) -> Result<bool, PoolError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Detach { pid, reply })?;
        rx.await.map_err(|_| PoolError::Stopped)
    }

    /// Makes processes of the app's group spawned from now on use `app` (after a
    /// configuration reload); a restart then replaces the running ones.
    pub fn update_app(&self, app: Arc<AppSpec>) -> Result<(), PoolError> {
        self.send(Msg::UpdateApp { app })
    }

    /// Starts `app`'s first process now (see [`PoolInput::Prestart`]): called for every
    /// app when the server starts and for apps a reload adds.
    pub fn prestart(&self, app: Arc<AppSpec>) -> Result<(), PoolError> {
        self.send(Msg::Prestart { app })
    }

    /// Removes a group whose app left the configuration: its processes stop once
    /// their requests finish. False if there was no such group.
    pub async fn remove_group(&self, name: &str) -> Result<bool, PoolError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::RemoveGroup {
            name: name.to_string(),
            reply,
        })?;
        rx.await.map_err(|_| PoolError::Stopped)
    }

    /// Changes max_pool_size; a larger pool serves waiting requests at once, a
    /// smaller one shrinks as processes go away (nothing is stopped for it).
    pub fn set_max_pool_size(&self, max: u32) -> Result<(), PoolError> {
        self.send(Msg::SetMaxPoolSize { max })
    }

    /// Stops every process: terminate, SIGKILL after the shutdown timeout, wait.
    /// Later checkouts fail with [`CheckoutError::ShuttingDown`].
    pub async fn shutdown(&self) -> Result<(), PoolError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Shutdown { reply })?;
        rx.await.map_err(|_| PoolError::Stopped)
    }

    /// Stop now (a second stop signal during [`PoolHandle::shutdown`]): SIGKILLs every
    /// process still in the pool and fires `detached_process` for each, without
    /// waiting for them to be reaped. Answers once the hooks are started.
    pub async fn abandon(&self) -> Result<(), PoolError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Abandon { reply })?;
        rx.await.map_err(|_| PoolError::Stopped)
    }

    fn send(&self, msg: Msg) -> Result<(), PoolError> {
        self.tx.send(msg).map_err(|_| PoolError::Stopped)
    }
}

/// One checked-out request slot. Dropping it checks the slot back in.
#[derive(Debug)]
pub struct Session {
    group: String,
    pid: u32,
    gupid: Gupid,
    address: ProcessAddress,
    connect_password: Option<Arc<str>>,
    failed: bool,
    oob: bool,
    withdrawn: bool,
    claim: Option<Arc<Claim>>,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Session {
    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// The process's gupid.
    pub fn gupid(&self) -> &Gupid {
        &self.gupid
    }
    /// Where to send the request.
    pub fn address(&self) -> &ProcessAddress {
        &self.address
    }
    /// The secret the process checks (loaders only): every header block sent to it
    /// carries it (`PASSENGER_CONNECT_PASSWORD`).
    pub fn connect_password(&self) -> Option<&Arc<str>> {
        self.connect_password.as_ref()
    }
    /// The app group name.
    pub fn group_name(&self) -> &str {
        &self.group
    }
    /// The process could not be reached or died mid-request: detach it on check-in.
    pub fn mark_process_failed(&mut self) {
        self.failed = true;
    }
    /// The app asked for out-of-band work (`X-Passenger-Request-OOB-Work`): once the
    /// process is idle and another can serve, the pool runs its `:oob_work`.
    pub fn request_oob_work(&mut self) {
        self.oob = true;
    }
    /// The claim of a pipelined request, `None` for any other (`loader::pipeline`):
    /// the process is busy and starts the request when free, unless the pool takes it
    /// back first. The proxy names it to the loader, and whoever unlinks it first
    /// decides whether the request runs.
    pub fn claim(&self) -> Option<&Arc<Claim>> {
        self.claim.as_ref()
    }
    /// The pool took the pipelined request back before the process started it:
    /// check in without counting a processed request.
    pub fn mark_withdrawn(&mut self) {
        self.withdrawn = true;
    }
    /// Whether [`mark_withdrawn`](Self::mark_withdrawn) was called.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let outcome = if self.withdrawn {
            SessionOutcome::Withdrawn
        } else if self.failed {
            SessionOutcome::ProcessFailed
        } else if self.oob {
            SessionOutcome::OobWorkRequested
        } else {
            SessionOutcome::Ok
        };
        // A stopped actor no longer tracks sessions.
        let _ = self.tx.send(Msg::SessionClosed {
            gupid: self.gupid.clone(),
            outcome,
            claim: self.claim.take(),
        });
    }
}

/// A checkout waiting for its group's restart-file check (its reply is in
/// `Actor::waiters` meanwhile).
#[derive(Debug)]
struct WaitingCheckout {
    request: RequestId,
    app: Arc<AppSpec>,
    kind: CheckoutKind,
}

struct Actor {
    pool: Pool,
    spawner: Arc<dyn Spawner>,
    /// Weak so that the actor stops once every handle and session is gone.
    weak: mpsc::WeakUnboundedSender<Msg>,
    waiters: HashMap<RequestId, CheckoutReply>,
    controls: HashMap<Gupid, Arc<dyn ProcessControl>>,
    /// Claims pipes of processes that take pipelined requests; each knows the
    /// claims issued on it.
    pipelines: HashMap<Gupid, Arc<Claims>>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    restart_files: RestartFiles<WaitingCheckout>,
    /// App root of each group that has spawned, for the hooks' `PASSENGER_APP_ROOT`.
    app_roots: HashMap<String, String>,
    /// Pid and group of each live process, for `detached_process`.
    attached: HashMap<Gupid, (u32, String)>,
    /// Each group's `memory_limit` in MB, as of its latest spawn.
    memory_limits: HashMap<String, u64>,
    /// The processes the memory watcher reads (`memory_watch`).
    watched: super::memory_watch::Watched,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let deadline = self
                .pool
                .next_deadline()
                .map(tokio::time::Instant::from_std);
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.on_msg(msg),
                    None => break,
                },
                () = timer => {
                    self.apply(PoolInput::Tick);
                }
            }
        }
        // Nobody can talk to the pool any more: ask what is left to stop.
        for control in self.controls.values() {
            control.terminate();
        }
        self.detach_all();
        tracing::debug!("pool actor stopped");
    }

    /// Fires `detached_process` for every process still attached, which is leaving
    /// without its exit being awaited (the pool is stopping now).
    fn detach_all(&mut self) {
        let attached: Vec<_> = self.attached.drain().collect();
        for (gupid, (pid, group)) in attached {
            self.fire_detached(&gupid, pid, &group);
        }
    }

    fn fire_detached(&self, gupid: &Gupid, pid: u32, group: &str) {
        self.fire_hook(
            "detached_process",
            group,
            vec![
                ("PASSENGER_PID", pid.to_string()),
                ("PASSENGER_GUPID", gupid.to_string()),
            ],
        );
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Checkout {
                request,
                app,
                kind,
                reply,
            } => {
                self.waiters.insert(request, reply);
                let waiting = WaitingCheckout { request, app, kind };
                let app = Arc::clone(&waiting.app);
                match self.restart_files.checkout(&app, waiting, now()) {
                    Gate::Pass(waiting) => self.checkout(waiting),
                    Gate::Wait { start_check } => {
                        if start_check {
                            self.check_restart_files(&app);
                        }
                    }
                }
            }
            Msg::Cancel { request } => {
                if self.waiters.remove(&request).is_some()
                    && self
                        .restart_files
                        .cancel(|w| w.request == request)
                        .is_none()
                {
                    self.apply(PoolInput::CancelCheckout { request });
                }
            }
            Msg::RestartFilesSeen { group, seen } => {
                let (restart, waiting) = self.restart_files.observed(&group, seen);
                if restart && self.pool.has_group(&group) && !self.pool.is_restarting(&group) {
                    tracing::info!(group, "restart file changed; restarting the group");
                    self.apply(PoolInput::RestartGroup {
                        name: group,
                        method: RestartMethod::Blocking,
                    });
                }
                for waiting in waiting {
                    self.checkout(waiting);
                }
            }
            Msg::SessionClosed {
                gupid,
                mut outcome,
                claim,
            } => {
                if let Some(claim) = claim {
                    // A session dropped while its request still waited (the client
                    // left): take the request back so that the app does not run it.
                    if claim.withdraw() {
                        outcome = SessionOutcome::Withdrawn;
                        if claim.was_issued() {
                            self.pool.options().counters.pipeline_withdrawn();
                        }
                    }
                }
                self.apply(PoolInput::SessionClosed { gupid, outcome });
            }
            Msg::SpawnDone {
                group,
                spawn,
                gupid,
                result,
            } => self.spawn_done(group, spawn, gupid, result),
            Msg::Exited { gupid } => {
                self.controls.remove(&gupid);
                self.watched.remove(&gupid);
                if let Some((pid, group)) = self.attached.remove(&gupid) {
                    self.fire_detached(&gupid, pid, &group);
                }
                // Requests still waiting for the dead process go elsewhere: the ones
                // it had not claimed never ran.
                self.withdraw_claims(&gupid);
                // The claims pipe is removed once its last claim is gone too.
                self.pipelines.remove(&gupid);
                self.apply(PoolInput::ProcessExited { gupid });
            }
            Msg::Snapshot { reply } => {
                let _ = reply.send(self.pool.snapshot(now(), SystemTime::now()));
            }
            Msg::Restart {
                name,
                method,
                reply,
            } => {
                let answers = self.apply(PoolInput::RestartGroup {
                    name: name.clone(),
                    method,
                });
                let found = answers
                    .iter()
                    .any(|a| matches!(a, PoolAction::RestartStarted { .. }));
                let _ = reply.send(if found {
                    Ok(())
                } else {
                    Err(PoolError::NoSuchGroup(name))
                });
            }
            Msg::Detach { pid, reply } => {
                let answers = self.apply(PoolInput::DetachProcess { pid });
                let found = answers
                    .iter()
                    .any(|a| matches!(a, PoolAction::DetachResult { found: true, .. }));
                let _ = reply.send(found);
            }
            Msg::OobDone { gupid } => {
                self.apply(PoolInput::OobWorkDone { gupid });
            }
            Msg::MemoryOver { gupid, used_kb } => {
                self.apply(PoolInput::MemoryLimitExceeded { gupid, used_kb });
            }
            Msg::UpdateApp { app } => {
                self.apply(PoolInput::UpdateApp { app });
            }
            Msg::Prestart { app } => {
                // Records restart.txt as it is now, so that touching it later counts.
                if self.restart_files.baseline(&app, now()) {
                    self.check_restart_files(&app);
                }
                self.apply(PoolInput::Prestart { app });
            }
            Msg::RemoveGroup { name, reply } => {
                let answers = self.apply(PoolInput::RemoveGroup { name });
                let found = answers
                    .iter()
                    .any(|a| matches!(a, PoolAction::GroupRemoved { .. }));
                let _ = reply.send(found);
            }
            Msg::SetMaxPoolSize { max } => {
                self.apply(PoolInput::SetMaxPoolSize { max });
            }
            Msg::Shutdown { reply } => {
                self.shutdown_waiters.push(reply);
                self.apply(PoolInput::Shutdown);
            }
            Msg::Abandon { reply } => {
                for control in self.controls.values() {
                    control.kill();
                }
                self.detach_all();
                let _ = reply.send(());
            }
        }
    }

    fn spawn_done(
        &mut self,
        group: String,
        spawn: SpawnId,
        gupid: Gupid,
        result: Result<SpawnedProcess, SpawnError>,
    ) {
        let counters = &self.pool.options().counters;
        match &result {
            Ok(p) => counters.spawn(
                p.spawn_ended
                    .duration_since(p.spawn_started)
                    .unwrap_or_default(),
                true,
            ),
            Err(_) => counters.spawn(Duration::ZERO, false),
        }
        match result {
            Ok(process) => {
                self.controls
                    .insert(gupid.clone(), Arc::clone(&process.control));
                let pipeline = process.pipeline.is_some();
                if let Some(listener) = process.pipeline {
                    self.pipelines.insert(gupid.clone(), listener);
                }
                let weak = self.weak.clone();
                let watched = gupid.clone();
                let exited = process.exited;
                tokio::spawn(async move {
                    // A dropped sender means the reaper is gone: the process is too.
                    let _ = exited.await;
                    if let Some(tx) = weak.upgrade() {
                        let _ = tx.send(Msg::Exited { gupid: watched });
                    }
                });
                tracing::info!(%gupid, pid = process.pid, group, "process spawned");
                self.attached
                    .insert(gupid.clone(), (process.pid, group.clone()));
                let limit = self.memory_limits.get(&group).copied().unwrap_or(0);
                self.watched.add(gupid.clone(), process.pid, limit);
                self.fire_hook(
                    "attached_process",
                    &group,
                    vec![
                        ("PASSENGER_PID", process.pid.to_string()),
                        ("PASSENGER_GUPID", gupid.to_string()),
                    ],
                );
                self.apply(PoolInput::SpawnSucceeded {
                    group,
                    spawn,
                    gupid,
                    info: SpawnedInfo {
                        pid: process.pid,
                        address: process.address,
                        concurrency: process.concurrency,
                        spawn_started: process.spawn_started,
                        spawn_ended: process.spawn_ended,
                        pipeline,
                        connect_password: process.connect_password.map(Arc::from),
                        direct_address: process.direct_address,
                    },
                });
            }
            Err(error) => {
                tracing::warn!(group, error_id = %error.error_id, error = %error, "spawn failed");
                self.fire_hook(
                    "spawn_failed",
                    &group,
                    vec![
                        ("PASSENGER_ERROR", error.to_string()),
                        ("PASSENGER_ERROR_ID", error.error_id.to_string()),
                    ],
                );
                self.apply(PoolInput::SpawnFailed {
                    group,
                    spawn,
                    error: Arc::new(error),
                });
            }
        }
    }

    /// Starts hook `name` (if configured) for `group` off the actor: the actor never
    /// waits for it.
    fn fire_hook(&self, name: &'static str, group: &str, mut env: Vec<(&'static str, String)>) {
        let hooks = &self.pool.options().hooks;
        if hooks.command(name).is_none() {
            return;
        }
        env.push(("PASSENGER_APP_GROUP", group.to_string()));
        if let Some(root) = self.app_roots.get(group) {
            env.push(("PASSENGER_APP_ROOT", root.clone()));
        }
        hooks.spawn(name, env);
    }

    /// Feeds one input (and the check-ins it causes) to the state machine, performs
    /// the actions, and returns the answer actions for the caller to inspect.
    fn apply(&mut self, input: PoolInput) -> Vec<PoolAction> {
        let mut answers = Vec::new();
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            for action in self.pool.handle(input, now()) {
                if let Some(follow_up) = self.perform(action, &mut answers) {
                    inputs.push(follow_up);
                }
            }
        }
        answers
    }

    /// Creates the claim of a pipelined session on `gupid`. If that fails, the
    /// session gets a claim that is already withdrawn, so its request is simply
    /// checked out again.
    fn issue_claim(&mut self, gupid: &Gupid) -> Arc<Claim> {
        let issued = match self.pipelines.get(gupid) {
            Some(claims) => claims.issue().map_err(|err| err.to_string()),
            None => Err("the process has no claims pipe".to_string()),
        };
        match issued {
            Ok(claim) => claim,
            Err(err) => {
                tracing::warn!(%gupid, "could not pipeline a request: {err}");
                Claim::void()
            }
        }
    }

    /// Takes back every pipelined request of `gupid` the process has not claimed;
    /// their sessions learn it through [`Claim::withdrawn`].
    fn withdraw_claims(&mut self, gupid: &Gupid) {
        if let Some(claims) = self.pipelines.get(gupid) {
            claims.withdraw_all();
        }
    }

    fn perform(&mut self, action: PoolAction, answers: &mut Vec<PoolAction>) -> Option<PoolInput> {
        match action {
            PoolAction::Spawn {
                group,
                spawn,
                app,
                gupid,
            } => {
                self.app_roots
                    .insert(group.clone(), app.app_root.display().to_string());
                self.memory_limits
                    .insert(group.clone(), app.memory_limit_mb);
                let tx = self.weak.upgrade()?;
                let spawner = Arc::clone(&self.spawner);
                tokio::spawn(async move {
                    let result = spawner.spawn(app, gupid.clone()).await;
                    let _ = tx.send(Msg::SpawnDone {
                        group,
                        spawn,
                        gupid,
                        result,
                    });
                });
            }
            PoolAction::Assign { request, process } => {
                let checked_in = PoolInput::SessionClosed {
                    gupid: process.gupid.clone(),
                    outcome: SessionOutcome::Ok,
                };
                let (Some(reply), Some(tx)) = (self.waiters.remove(&request), self.weak.upgrade())
                else {
                    return Some(checked_in);
                };
                let claim = process.pipelined.then(|| self.issue_claim(&process.gupid));
                let session = Session {
                    group: process.group,
                    pid: process.pid,
                    gupid: process.gupid,
                    address: process.address,
                    connect_password: process.connect_password,
                    failed: false,
                    oob: false,
                    withdrawn: false,
                    claim,
                    tx,
                };
                // If the waiter just left, dropping the session checks it back in.
                let _ = reply.send(Ok(session));
            }
            PoolAction::Reject { request, error } => {
                if let CheckoutError::QueueFull { group } = &error {
                    let group = group.clone();
                    self.fire_hook(
                        "queue_full_error",
                        &group,
                        vec![("PASSENGER_ERROR", error.to_string())],
                    );
                }
                if let Some(reply) = self.waiters.remove(&request) {
                    let _ = reply.send(Err(error));
                }
            }
            PoolAction::Terminate { gupid } => match self.controls.get(&gupid) {
                Some(control) => control.terminate(),
                None => tracing::debug!(%gupid, "terminate: process already gone"),
            },
            PoolAction::RunOobWork {
                gupid,
                address,
                connect_password,
            } => {
                let weak = self.weak.clone();
                tokio::spawn(async move {
                    // Only our loaders do out-of-band work; other apps are done at once.
                    if let ProcessAddress::Session(socket) = address {
                        let work =
                            crate::loader::run_oob_work(&socket, connect_password.as_deref());
                        if let Err(err) = work.await {
                            tracing::warn!(%gupid, "out-of-band work failed: {err}");
                        }
                    }
                    if let Some(tx) = weak.upgrade() {
                        let _ = tx.send(Msg::OobDone { gupid });
                    }
                });
            }
            PoolAction::Unpipeline { gupid } => self.withdraw_claims(&gupid),
            PoolAction::Kill { gupid } => {
                if let Some(control) = self.controls.get(&gupid) {
                    tracing::warn!(%gupid, "process did not shut down in time; killing it");
                    control.kill();
                }
            }
            PoolAction::RollingRestartFinished { ref group } => {
                tracing::info!(group, "rolling restart finished");
                answers.push(action);
            }
            PoolAction::RollingRestartFailed {
                ref group,
                ref error,
            } => {
                tracing::error!(group, error = %error, "rolling restart stopped: a new process failed to spawn; old processes keep serving");
                answers.push(action);
            }
            PoolAction::ShutdownComplete => {
                if !self.shutdown_waiters.is_empty() {
                    let _ = self.shutdown_waiters.remove(0).send(());
                }
            }
            PoolAction::RestartStarted { ref group, .. } => {
                // Before the restart's spawns: a smart spawner drops the old preloader.
                self.spawner.app_restarted(group);
                answers.push(action);
            }
            PoolAction::GroupRemoved { ref name } => {
                // A removed app's preloader has nothing left to spawn.
                self.spawner.app_restarted(name);
                answers.push(action);
            }
            PoolAction::GroupNotFound { .. } | PoolAction::DetachResult { .. } => {
                answers.push(action);
            }
        }
        None
    }

    /// Hands a checkout whose restart-file check is done (or not due) to the state
    /// machine.
    fn checkout(&mut self, waiting: WaitingCheckout) {
        let WaitingCheckout { request, app, kind } = waiting;
        self.apply(PoolInput::Checkout {
            request,
            app,
            pipelinable: kind.pipelinable,
            retry: kind.retry,
        });
    }

    /// Reads `app`'s restart files on a blocking thread; the result comes back as
    /// [`Msg::RestartFilesSeen`].
    fn check_restart_files(&self, app: &AppSpec) {
        let group = app.name.clone();
        let dir = app.restart_dir.clone();
        let weak = self.weak.clone();
        tokio::spawn(async move {
            let seen = tokio::task::spawn_blocking(move || restart_file::observe(&dir))
                .await
                .ok();
            if let Some(tx) = weak.upgrade() {
                let _ = tx.send(Msg::RestartFilesSeen { group, seen });
            }
        });
    }
}

#[cfg(test)]
mod tests;
