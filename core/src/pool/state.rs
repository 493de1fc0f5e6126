//! The pool state machine: [`Pool`]. No I/O, no clock, no randomness.
//!
//! Owns every decision of the application pool: which process serves a request,
//! when a request waits (group queue or the pool's top-level queue), when to spawn,
//! evict, detach, terminate and kill, and how restarts and shutdown proceed. Inputs
//! ([`PoolInput`]) come in with the current time; [`PoolAction`]s come out for the
//! actor to perform. It does not spawn, signal, stat files or talk to clients.
//!
//! Invariants (hold after every [`Pool::handle`]):
//! - A group has at most ONE spawn in flight (`Group::spawning`); spawns started
//!   before a restart or shutdown are "stale": their process is terminated on arrival.
//! - If a group's queue is non-empty, none of its enabled processes has a free slot.
//! - Capacity used = enabled processes + spawns in flight; detached processes do not
//!   count (the pool may briefly exceed max_pool_size while they drain). Only a
//!   rolling restart spawns above the limits, by one process at a time.
//! - A detached process gets exactly one Terminate, when its sessions reach 0 (at
//!   once on shutdown), and at most one Kill, `process_shutdown_timeout` later. It
//!   leaves the pool only on ProcessExited.
//! - After a failed spawn the group does not spawn again until its next Checkout,
//!   so a broken app never causes a spawn loop.
//! - Every Checkout is answered exactly once (Assign or Reject) unless cancelled.
//! - Groups are created on first Checkout or Prestart. RemoveGroup (its app left the
//!   configuration) detaches its processes; the group leaves once the last of them has
//!   exited and no spawn is in flight, unless a Checkout for it came first (which
//!   keeps it). Nothing else removes a group.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::app::AppSpec;
use crate::pool::ids::{Gupid, ProcessAddress};
use crate::spawn::SpawnError;

use super::error::CheckoutError;
use super::group::{Group, Rolling, SpawnKind};
use super::options::{PoolOptions, RestartMethod};
use super::process::{Enabled, Life, Oob, Process};
use super::snapshot::PoolSnapshot;

/// A busy process takes a pipelined request only if its current work began less
/// than this long ago: pipelining pays off for fast requests, and a request that
/// has already run this long is more likely to be a slow one.
pub const PIPELINE_WINDOW: Duration = Duration::from_millis(2);
/// A pipelined request still waiting this long after its process's current work
/// began is taken back ([`PoolAction::Unpipeline`]) and served by the next free
/// process instead.
pub const PIPELINE_PATIENCE: Duration = Duration::from_millis(20);
/// How many pipelined requests a busy process may hold beyond its one session.
/// With fewer, a process often ran dry while the core, sharing the CPUs with the
/// apps, had not yet sent the next request: for a hello app with two processes
/// (bench/apps), four gave about 15% more requests per second than two. Deeper
/// gave little more and a worse p99; [`PIPELINE_WINDOW`] keeps slow requests
/// from collecting a pipeline at all.
pub const PIPELINE_DEPTH: u32 = 4;

/// Identifies one checkout request; chosen by the caller, unique while pending.
pub type RequestId = u64;
/// Identifies one spawn; chosen by the pool.
pub type SpawnId = u64;

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOutcome {
    /// Normal check-in.
    Ok,
    /// The process could not be reached or died mid-request: detach it.
    ProcessFailed,
    /// The app asked for out-of-band work (`X-Passenger-Request-OOB-Work`).
    OobWorkRequested,
    /// A pipelined request was taken back before the process started it: nothing
    /// was processed.
    Withdrawn,
}

/// What a successful spawn reports.
#[derive(Debug, Clone)]
pub struct SpawnedInfo {
    /// OS pid.
    pub pid: u32,
    /// Where it accepts requests.
    pub address: ProcessAddress,
    /// Advertised concurrency (`n` > 0, 0 unlimited, -1 unknown).
    pub concurrency: i32,
    /// When the spawn started.
    pub spawn_started: SystemTime,
    /// When the process became ready.
    pub spawn_ended: SystemTime,
    /// Whether the process takes pipelined requests (see [`PIPELINE_WINDOW`]).
    pub pipeline: bool,
    /// The secret the process checks (loaders only): sessions carry it to the
    /// loader, and operators see it.
    pub connect_password: Option<Arc<str>>,
    /// The process's direct-access HTTP socket (loaders only).
    pub direct_address: Option<std::net::SocketAddr>,
}

/// Something that happened, fed to [`Pool::handle`].
#[derive(Debug, Clone)]
pub enum PoolInput {
    /// A request wants a process of `app`.
    Checkout {
        /// Caller-chosen id, echoed in Assign/Reject.
        request: RequestId,
        /// The app (its `name` is the group key).
        app: Arc<AppSpec>,
        /// The request has no body and no upgrade, so it may be pipelined.
        pipelinable: bool,
        /// A withdrawn pipelined request asking again: it goes first in the queue.
        retry: bool,
    },
    /// The server starts serving `app` (at boot, or added by a reload): create its
    /// group and spawn its first process now, as Passenger Standalone does, so the
    /// first visitor does not wait for it; the group then grows to `min_instances`.
    /// Nothing happens if the group exists or the pool is full.
    Prestart {
        /// The app (its `name` is the group key).
        app: Arc<AppSpec>,
    },
    /// The client gave up while queued.
    CancelCheckout {
        /// The request to withdraw.
        request: RequestId,
    },
    /// A session was checked back in.
    SessionClosed {
        /// The process it ran on.
        gupid: Gupid,
        /// Whether the process failed.
        outcome: SessionOutcome,
    },
    /// A spawn finished successfully.
    SpawnSucceeded {
        /// Group name.
        group: String,
        /// The id from the Spawn action.
        spawn: SpawnId,
        /// The gupid from the Spawn action.
        gupid: Gupid,
        /// What the spawner reported.
        info: SpawnedInfo,
    },
    /// A spawn failed.
    SpawnFailed {
        /// Group name.
        group: String,
        /// The id from the Spawn action.
        spawn: SpawnId,
        /// Why.
        error: Arc<SpawnError>,
    },
    /// A process exited (reaped).
    ProcessExited {
        /// Which one.
        gupid: Gupid,
    },
    /// Time passed: run idle cleanup and kill timers.
    Tick,
    /// Restart a group.
    RestartGroup {
        /// Group name.
        name: String,
        /// Blocking or rolling.
        method: RestartMethod,
    },
    /// Detach the (enabled) process with this pid.
    DetachProcess {
        /// OS pid.
        pid: u32,
    },
    /// A process uses more memory than its app's `memory_limit` (measured by the
    /// actor): it is replaced now if idle, else after its current requests.
    MemoryLimitExceeded {
        /// Which process.
        gupid: Gupid,
        /// What it used, in KiB (for the log).
        used_kb: u64,
    },
    /// A process's out-of-band work finished (or failed): back into rotation.
    OobWorkDone {
        /// Which process.
        gupid: Gupid,
    },
    /// The app's configuration changed: processes spawned from now on use `app`.
    /// (Running ones are replaced by a restart.) Ignored for an unknown group.
    UpdateApp {
        /// The new spec; its `name` is the group key.
        app: Arc<AppSpec>,
    },
    /// The app was removed from the configuration: stop its processes gracefully
    /// (in-flight requests finish), reject its queue, and forget the group.
    RemoveGroup {
        /// Group name.
        name: String,
    },
    /// Change max_pool_size.
    SetMaxPoolSize {
        /// The new maximum.
        max: u32,
    },
    /// Stop everything.
    Shutdown,
}

/// The process a request was assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedProcess {
    /// Group name.
    pub group: String,
    /// OS pid.
    pub pid: u32,
    /// Gupid.
    pub gupid: Gupid,
    /// Where to send the request.
    pub address: ProcessAddress,
    /// The secret the process checks (loaders only), for the header block.
    pub connect_password: Option<Arc<str>>,
    /// Pipelined: the process is busy and starts
    /// this request when it is free, unless the pool takes it back first.
    pub pipelined: bool,
}

/// Something the actor must do, produced by [`Pool::handle`].
#[derive(Debug, Clone)]
pub enum PoolAction {
    /// Start a process of `app` named `gupid`; report SpawnSucceeded/SpawnFailed.
    Spawn {
        /// Group name.
        group: String,
        /// Echo in the report.
        spawn: SpawnId,
        /// What to spawn.
        app: Arc<AppSpec>,
        /// Its gupid.
        gupid: Gupid,
    },
    /// Hand a session on `process` to `request`.
    Assign {
        /// The request.
        request: RequestId,
        /// The process.
        process: AssignedProcess,
    },
    /// Answer `request` with an error.
    Reject {
        /// The request.
        request: RequestId,
        /// Why.
        error: CheckoutError,
    },
    /// Ask the process to exit.
    Terminate {
        /// Which one.
        gupid: Gupid,
    },
    /// Force the process to exit.
    Kill {
        /// Which one.
        gupid: Gupid,
    },
    /// Answer to RestartGroup: the restart began.
    RestartStarted {
        /// Group name.
        group: String,
        /// How.
        method: RestartMethod,
    },
    /// Answer to RestartGroup/RemoveGroup: no such group.
    GroupNotFound {
        /// The name asked for.
        name: String,
    },
    /// Run the app's out-of-band work in this idle, out-of-rotation process, then
    /// report OobWorkDone.
    RunOobWork {
        /// The process.
        gupid: Gupid,
        /// Where it listens.
        address: ProcessAddress,
        /// The secret it checks (loaders only).
        connect_password: Option<Arc<str>>,
    },
    /// Take back the pipelined request waiting in this process, if it has not
    /// started it yet (its session then closes as [`SessionOutcome::Withdrawn`]).
    Unpipeline {
        /// The process.
        gupid: Gupid,
    },
    /// Answer to RemoveGroup: its processes are being stopped.
    GroupRemoved {
        /// The group.
        name: String,
    },
    /// A rolling restart replaced every old process.
    RollingRestartFinished {
        /// Group name.
        group: String,
    },
    /// A rolling restart stopped because a new process failed to spawn; the
    /// remaining old processes keep serving.
    RollingRestartFailed {
        /// Group name.
        group: String,
        /// The spawn error.
        error: Arc<SpawnError>,
    },
    /// Answer to DetachProcess.
    DetachResult {
        /// The pid asked for.
        pid: u32,
        /// Whether an enabled process with that pid was detached.
        found: bool,
    },
    /// Shutdown finished: every process has exited. Emitted once per Shutdown input.
    ShutdownComplete,
}

/// Spawn trigger: on a request, "all processes busy" also justifies a spawn; the
/// background loop only continues for waiters and min_instances (as Passenger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    OnRequest,
    Continue,
}

/// The application pool state machine.
#[derive(Debug)]
pub struct Pool {
    options: PoolOptions,
    /// In creation order.
    groups: Vec<Group>,
    /// Requests for groups that could not be created because the pool was full.
    top_queue: VecDeque<(RequestId, Arc<AppSpec>)>,
    next_spawn: SpawnId,
    /// Spawns whose group no longer wants them (restart, shutdown).
    stale_spawns: HashSet<SpawnId>,
    shutting_down: bool,
    /// Number of Shutdown inputs still owed a ShutdownComplete.
    shutdown_reports_owed: u32,
}

impl Pool {
    /// An empty pool.
    pub fn new(options: PoolOptions) -> Pool {
        Pool {
            options,
            groups: Vec::new(),
            top_queue: VecDeque::new(),
            next_spawn: 1,
            stale_spawns: HashSet::new(),
            shutting_down: false,
            shutdown_reports_owed: 0,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// Whether a group with this name exists.
    pub fn has_group(&self, name: &str) -> bool {
        self.group_index(name).is_some()
    }

    /// Whether the group is in a blocking restart whose first new process is not up
    /// yet. The restart-file check skips restarting such a group again, so that
    /// `always_restart.txt` with concurrent requests cannot abort every spawn.
    pub fn is_restarting(&self, name: &str) -> bool {
        self.group_index(name)
            .is_some_and(|gi| self.groups[gi].restarting)
    }

    /// Applies one input at time `now` and returns what to do.
    pub fn handle(&mut self, input: PoolInput, now: Instant) -> Vec<PoolAction> {
        let mut out = Vec::new();
        match input {
            PoolInput::Checkout {
                request,
                app,
                pipelinable,
                retry,
            } => self.checkout(request, app, (pipelinable, retry), now, &mut out),
            PoolInput::Prestart { app } => self.prestart(app, &mut out),
            PoolInput::CancelCheckout { request } => self.cancel(request),
            PoolInput::SessionClosed { gupid, outcome } => {
                self.session_closed(&gupid, outcome, now, &mut out)
            }
            PoolInput::SpawnSucceeded {
                group,
                spawn,
                gupid,
                info,
            } => self.spawn_succeeded(&group, spawn, gupid, info, now, &mut out),
            PoolInput::SpawnFailed {
                group,
                spawn,
                error,
            } => self.spawn_failed(&group, spawn, error, now, &mut out),
            PoolInput::ProcessExited { gupid } => self.process_exited(&gupid),
            PoolInput::Tick => self.tick(now, &mut out),
            PoolInput::RestartGroup { name, method } => self.restart(&name, method, now, &mut out),
            PoolInput::DetachProcess { pid } => self.detach_pid(pid, now, &mut out),
            PoolInput::RemoveGroup { name } => self.remove_group(&name, now, &mut out),
            PoolInput::MemoryLimitExceeded { gupid, used_kb } => {
                self.memory_limit_exceeded(&gupid, used_kb, now, &mut out)
            }
            PoolInput::OobWorkDone { gupid } => {
                if let Some((gi, pi, Enabled::Enabled)) = self.locate(&gupid) {
                    self.groups[gi].processes[pi].oob = Oob::None;
                }
            }
            PoolInput::UpdateApp { app } => {
                if let Some(gi) = self.group_index(&app.name) {
                    self.groups[gi].app = app;
                }
            }
            PoolInput::SetMaxPoolSize { max } => self.options.max_pool_size = max,
            PoolInput::Shutdown => self.shutdown(now, &mut out),
        }
        self.rebalance(now, &mut out);
        out
    }

    /// The earliest time at which [`PoolInput::Tick`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        let idle = self.options.pool_idle_time;
        for g in &self.groups {
            for p in g.processes.iter().filter(|p| p.has_pipelined()) {
                if !p.pipeline_blocked {
                    consider(p.progress_at + self.options.pipeline_patience);
                }
            }
            for p in &g.detached {
                if let Life::ShutdownTriggered { at, killed: false } = p.life {
                    consider(at + self.options.process_shutdown_timeout);
                }
            }
            if !idle.is_zero()
                && !self.shutting_down
                && g.processes.len() > g.app.min_instances as usize
            {
                for p in g.processes.iter().filter(|p| p.sessions == 0) {
                    consider(p.last_used + idle);
                }
            }
        }
        best
    }

    /// The whole pool, for status tools.
    pub fn snapshot(&self, now: Instant, now_wall: SystemTime) -> PoolSnapshot {
        PoolSnapshot {
            max_pool_size: self.options.max_pool_size,
            capacity_used: self.capacity_used(),
            top_level_queue_len: u32::try_from(self.top_queue.len()).unwrap_or(u32::MAX),
            groups: self
                .groups
                .iter()
                .map(|g| g.snapshot(now, now_wall))
                .collect(),
        }
    }

    // ----- capacity -----

    fn capacity_used(&self) -> u32 {
        self.groups.iter().map(Group::capacity_used).sum()
    }

    fn pool_full(&self) -> bool {
        self.capacity_used() >= self.options.max_pool_size.max(1)
    }

    fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    /// Detaches the least recently used idle enabled process outside `exclude`.
    fn evict_lru(
        &mut self,
        exclude: Option<usize>,
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) -> bool {
        let mut victim: Option<(usize, usize, Instant)> = None;
        for (gi, g) in self.groups.iter().enumerate() {
            if Some(gi) == exclude {
                continue;
            }
            for (pi, p) in g.processes.iter().enumerate() {
                if p.sessions == 0 && victim.is_none_or(|(_, _, t)| p.last_used < t) {
                    victim = Some((gi, pi, p.last_used));
                }
            }
        }
        let Some((gi, pi, _)) = victim else {
            return false;
        };
        tracing::debug!(group = %self.groups[gi].name, "evicting idle process to free pool capacity");
        self.detach(gi, pi, now, out);
        true
    }

    // ----- checkout -----

    fn checkout(
        &mut self,
        request: RequestId,
        app: Arc<AppSpec>,
        flags: (bool, bool),
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        if self.shutting_down {
            out.push(PoolAction::Reject {
                request,
                error: CheckoutError::ShuttingDown,
            });
            return;
        }
        let gi = match self.group_index(&app.name) {
            Some(gi) => gi,
            None => {
                // Earlier top-level waiters go first; a newcomer may not overtake them.
                if !self.top_queue.is_empty()
                    || (self.pool_full() && !self.evict_lru(None, now, out))
                {
                    self.top_queue.push_back((request, app));
                    return;
                }
                self.groups.push(Group::new(Arc::clone(&app)));
                self.groups.len() - 1
            }
        };
        self.group_get(gi, request, app, flags, now, out);
    }

    /// Passenger's `Group::get`: route, else queue (bounded), then spawn if needed.
    fn group_get(
        &mut self,
        gi: usize,
        request: RequestId,
        app: Arc<AppSpec>,
        (pipelinable, retry): (bool, bool),
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        let window = self.options.pipeline_window;
        let g = &mut self.groups[gi];
        g.app = app;
        g.removed = false;
        g.spawn_blocked = false;
        // Decided before routing, as Passenger does: "all busy" means busy without
        // this request, so one request on an idle process does not spawn another.
        self.maybe_spawn(gi, Trigger::OnRequest, out);
        let g = &mut self.groups[gi];
        // A request that would wait (queued, or pipelined behind a busy process's
        // current work) counts against max_request_queue_size; a retry was counted
        // once already and keeps its turn.
        let free = if g.queue.is_empty() { g.route() } else { None };
        if let Some(pi) = free {
            assign(g, pi, request, false, now, out);
        } else if !retry && g.queue_full() {
            out.push(PoolAction::Reject {
                request,
                error: CheckoutError::QueueFull {
                    group: g.name.clone(),
                },
            });
        } else if let Some(pi) = (pipelinable && g.queue.is_empty())
            .then(|| g.route_pipelined(now, window))
            .flatten()
        {
            assign(g, pi, request, true, now, out);
        } else {
            if pipelinable {
                g.pipelinable.insert(request);
            }
            if retry {
                g.queue.push_front(request);
            } else {
                g.queue.push_back(request);
            }
        }
        let g = &self.groups[gi];
        if g.processes.is_empty() && g.spawning.is_none() && g.rolling.is_none() && self.pool_full()
        {
            self.evict_lru(Some(gi), now, out);
            self.maybe_spawn(gi, Trigger::Continue, out);
        }
    }

    fn cancel(&mut self, request: RequestId) {
        for g in &mut self.groups {
            if let Some(pos) = g.queue.iter().position(|r| *r == request) {
                g.queue.remove(pos);
                g.pipelinable.remove(&request);
                return;
            }
        }
        if let Some(pos) = self.top_queue.iter().position(|(r, _)| *r == request) {
            self.top_queue.remove(pos);
        }
    }

    fn prestart(&mut self, app: Arc<AppSpec>, out: &mut Vec<PoolAction>) {
        if self.shutting_down || self.group_index(&app.name).is_some() || self.pool_full() {
            return;
        }
        self.groups.push(Group::new(app));
        let gi = self.groups.len() - 1;
        // At least one process even with min_instances 0 (Passenger's prespawn
        // request); more follow as the group's spawns continue up to min_instances.
        self.start_spawn(gi, SpawnKind::Normal, out);
    }

    // ----- spawning -----

    fn maybe_spawn(&mut self, gi: usize, trigger: Trigger, out: &mut Vec<PoolAction>) {
        if self.shutting_down {
            return;
        }
        let pool_full = self.pool_full();
        let g = &self.groups[gi];
        if g.removed
            || g.spawning.is_some()
            || g.spawn_blocked
            || g.rolling.is_some()
            || g.at_max_instances()
            || pool_full
        {
            return;
        }
        let wanted = g.below_min()
            || !g.queue.is_empty()
            || (trigger == Trigger::OnRequest && g.all_totally_busy());
        if wanted {
            self.start_spawn(gi, SpawnKind::Normal, out);
        }
    }

    fn start_spawn(&mut self, gi: usize, kind: SpawnKind, out: &mut Vec<PoolAction>) {
        let spawn = self.next_spawn;
        self.next_spawn += 1;
        let g = &mut self.groups[gi];
        g.spawning = Some((spawn, kind));
        let gupid = Gupid(format!("{spawn:x}-{gi}"));
        out.push(PoolAction::Spawn {
            group: g.name.clone(),
            spawn,
            app: Arc::clone(&g.app),
            gupid,
        });
    }

    /// Forgets the group's spawn in flight; its result will be thrown away.
    fn make_spawn_stale(&mut self, gi: usize) {
        if let Some((id, _)) = self.groups[gi].spawning.take() {
            self.stale_spawns.insert(id);
        }
    }

    fn spawn_succeeded(
        &mut self,
        group: &str,
        spawn: SpawnId,
        gupid: Gupid,
        info: SpawnedInfo,
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        let Some(gi) = self.group_index(group) else {
            tracing::warn!(%gupid, group, "spawn finished for an unknown group; terminating it");
            out.push(PoolAction::Terminate { gupid });
            return;
        };
        let g = &mut self.groups[gi];
        let concurrency = match g.app.force_max_concurrent_requests_per_process {
            Some(n) => i32::try_from(n).unwrap_or(i32::MAX),
            None => info.concurrency,
        };
        let spawner_created = g.spawner_creation_time(info.spawn_started);
        let mut process = Process {
            pid: info.pid,
            sticky_session_id: super::process::sticky_session_id(&gupid),
            spawner_created,
            gupid: gupid.clone(),
            address: info.address,
            concurrency,
            sessions: 0,
            processed: 0,
            last_used: now,
            spawn_started: info.spawn_started,
            spawn_ended: info.spawn_ended,
            enabled: Enabled::Enabled,
            life: Life::Alive,
            generation: g.generation,
            oob: Oob::None,
            pipeline: info.pipeline,
            connect_password: info.connect_password,
            direct_address: info.direct_address,
            progress_at: now,
            pipeline_blocked: false,
            over_memory_limit: false,
        };
        let kind = match g.spawning {
            Some((id, kind)) if id == spawn => kind,
            _ => {
                self.stale_spawns.remove(&spawn);
                process.enabled = Enabled::Detached;
                process.life = Life::ShutdownTriggered {
                    at: now,
                    killed: false,
                };
                g.detached.push(process);
                out.push(PoolAction::Terminate { gupid });
                return;
            }
        };
        g.spawning = None;
        g.restarting = false;
        g.processes.push(process);
        serve_queue(g, self.options.pipeline_window, now, out);
        if kind == SpawnKind::Rolling {
            self.rolling_step(gi, now, out);
        }
        self.maybe_spawn(gi, Trigger::Continue, out);
    }

    /// After a rolling spawn: retire one old process, then spawn the next or finish.
    fn rolling_step(&mut self, gi: usize, now: Instant, out: &mut Vec<PoolAction>) {
        let Some(Rolling { generation }) = self.groups[gi].rolling else {
            return;
        };
        // Newest old process first, as Passenger Enterprise does since 6.0.23.
        if let Some(pi) = self.groups[gi]
            .processes
            .iter()
            .rposition(|p| p.generation < generation)
        {
            self.detach(gi, pi, now, out);
        }
        if self.groups[gi].has_old(generation) {
            self.start_spawn(gi, SpawnKind::Rolling, out);
        } else {
            self.groups[gi].rolling = None;
            out.push(PoolAction::RollingRestartFinished {
                group: self.groups[gi].name.clone(),
            });
        }
    }

    fn spawn_failed(
        &mut self,
        group: &str,
        spawn: SpawnId,
        error: Arc<SpawnError>,
        _now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        if self.stale_spawns.remove(&spawn) {
            return;
        }
        let Some(gi) = self.group_index(group) else {
            return;
        };
        let g = &mut self.groups[gi];
        let kind = match g.spawning {
            Some((id, kind)) if id == spawn => kind,
            _ => return,
        };
        g.spawning = None;
        g.restarting = false;
        g.spawn_blocked = true;
        tracing::warn!(group = %g.name, error = %error, "spawning a process failed");
        if kind == SpawnKind::Rolling {
            g.rolling = None;
            out.push(PoolAction::RollingRestartFailed {
                group: g.name.clone(),
                error: Arc::clone(&error),
            });
            // Deployment error resistance: the old processes keep serving the queue.
            if !g.processes.is_empty() {
                return;
            }
        }
        g.pipelinable.clear();
        for request in g.queue.drain(..) {
            out.push(PoolAction::Reject {
                request,
                error: CheckoutError::SpawnFailed(Arc::clone(&error)),
            });
        }
    }

    // ----- sessions and processes -----

    fn session_closed(
        &mut self,
        gupid: &Gupid,
        outcome: SessionOutcome,
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        let Some((gi, pi, enabled)) = self.locate(gupid) else {
            return;
        };
        let g = &mut self.groups[gi];
        if enabled == Enabled::Detached {
            let p = &mut g.detached[pi];
            p.sessions = p.sessions.saturating_sub(1);
            if outcome != SessionOutcome::Withdrawn {
                p.processed += 1;
            }
            p.last_used = now;
            if p.sessions == 0 && p.life == Life::Alive {
                trigger_shutdown(p, now, out);
            }
            return;
        }
        let p = &mut g.processes[pi];
        p.sessions = p.sessions.saturating_sub(1);
        if outcome == SessionOutcome::Withdrawn {
            // Nothing ran; the process is still busy with the work that held the
            // request up, so it gets no other pipelined request until it progresses.
            p.pipeline_blocked = true;
            serve_queue(g, self.options.pipeline_window, now, out);
            return;
        }
        p.processed += 1;
        p.last_used = now;
        p.progress_at = now;
        p.pipeline_blocked = false;
        let max_requests = g.app.max_requests;
        if outcome == SessionOutcome::ProcessFailed {
            tracing::warn!(%gupid, group = %g.name, "process failed during a request; detaching it");
            self.detach(gi, pi, now, out);
            return;
        }
        if p.over_memory_limit {
            tracing::info!(%gupid, group = %g.name, "process is above memory_limit; replacing it after its request");
            self.detach(gi, pi, now, out);
            return;
        }
        if max_requests > 0 && p.processed >= max_requests {
            tracing::info!(%gupid, group = %g.name, "process reached max_requests; replacing it");
            self.detach(gi, pi, now, out);
            return;
        }
        if outcome == SessionOutcome::OobWorkRequested && p.oob == Oob::None {
            p.oob = Oob::Requested;
        }
        serve_queue(g, self.options.pipeline_window, now, out);
        // Give an idle process up if someone else is starved for capacity.
        let idle = g
            .processes
            .get(pi)
            .is_some_and(|p| p.sessions == 0 && p.gupid == *gupid);
        if idle && g.queue.is_empty() {
            let others_starved = !self.top_queue.is_empty()
                || self
                    .groups
                    .iter()
                    .enumerate()
                    .any(|(i, o)| i != gi && o.waiting_for_capacity());
            if others_starved && self.pool_full() {
                self.detach(gi, pi, now, out);
            }
        }
    }

    fn memory_limit_exceeded(
        &mut self,
        gupid: &Gupid,
        used_kb: u64,
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        let Some((gi, pi, Enabled::Enabled)) = self.locate(gupid) else {
            return;
        };
        let g = &mut self.groups[gi];
        let limit = g.app.memory_limit_mb;
        let p = &mut g.processes[pi];
        if p.over_memory_limit {
            return;
        }
        tracing::warn!(
            %gupid,
            pid = p.pid,
            group = %g.name,
            "process {} uses {} MB, above memory_limit ({limit} MB); replacing it{}",
            p.pid,
            used_kb / 1024,
            if p.sessions == 0 { "" } else { " after its current request" }
        );
        p.over_memory_limit = true;
        if p.sessions == 0 {
            self.detach(gi, pi, now, out);
        }
    }

    fn process_exited(&mut self, gupid: &Gupid) {
        let Some((gi, pi, enabled)) = self.locate(gupid) else {
            return;
        };
        let g = &mut self.groups[gi];
        match enabled {
            Enabled::Detached => {
                g.detached.remove(pi);
            }
            Enabled::Enabled => {
                tracing::warn!(%gupid, group = %g.name, "process exited unexpectedly; removing it from the pool");
                g.processes.remove(pi);
            }
        }
    }

    fn locate(&self, gupid: &Gupid) -> Option<(usize, usize, Enabled)> {
        for (gi, g) in self.groups.iter().enumerate() {
            if let Some(pi) = g.processes.iter().position(|p| p.gupid == *gupid) {
                return Some((gi, pi, Enabled::Enabled));
            }
            if let Some(pi) = g.detached.iter().position(|p| p.gupid == *gupid) {
                return Some((gi, pi, Enabled::Detached));
            }
        }
        None
    }

    /// Moves an enabled process to the detached list; stops it once it is idle.
    fn detach(&mut self, gi: usize, pi: usize, now: Instant, out: &mut Vec<PoolAction>) {
        let g = &mut self.groups[gi];
        let mut p = g.processes.remove(pi);
        p.enabled = Enabled::Detached;
        if p.sessions == 0 {
            trigger_shutdown(&mut p, now, out);
        }
        g.detached.push(p);
    }

    fn detach_pid(&mut self, pid: u32, now: Instant, out: &mut Vec<PoolAction>) {
        let found = self.groups.iter().enumerate().find_map(|(gi, g)| {
            g.processes
                .iter()
                .position(|p| p.pid == pid)
                .map(|pi| (gi, pi))
        });
        if let Some((gi, pi)) = found {
            self.detach(gi, pi, now, out);
        }
        out.push(PoolAction::DetachResult {
            pid,
            found: found.is_some(),
        });
    }

    // ----- timers -----

    fn tick(&mut self, now: Instant, out: &mut Vec<PoolAction>) {
        let timeout = self.options.process_shutdown_timeout;
        let patience = self.options.pipeline_patience;
        for g in &mut self.groups {
            for p in &mut g.processes {
                if p.has_pipelined() && !p.pipeline_blocked && now >= p.progress_at + patience {
                    tracing::debug!(gupid = %p.gupid, pid = p.pid, "taking back a pipelined request that waited too long");
                    p.pipeline_blocked = true;
                    out.push(PoolAction::Unpipeline {
                        gupid: p.gupid.clone(),
                    });
                }
            }
            for p in &mut g.detached {
                if let Life::ShutdownTriggered { at, killed: false } = p.life {
                    if now >= at + timeout {
                        tracing::warn!(gupid = %p.gupid, pid = p.pid, "detached process did not shut down in time; killing it");
                        p.life = Life::ShutdownTriggered { at, killed: true };
                        out.push(PoolAction::Kill {
                            gupid: p.gupid.clone(),
                        });
                    }
                }
            }
        }
        let idle = self.options.pool_idle_time;
        if idle.is_zero() || self.shutting_down {
            return;
        }
        for gi in 0..self.groups.len() {
            loop {
                let g = &self.groups[gi];
                if g.processes.len() <= g.app.min_instances as usize {
                    break;
                }
                let Some(pi) = g
                    .processes
                    .iter()
                    .position(|p| p.sessions == 0 && now >= p.last_used + idle)
                else {
                    break;
                };
                tracing::debug!(group = %g.name, "detaching idle process");
                self.detach(gi, pi, now, out);
            }
        }
    }

    // ----- restart, shutdown -----

    fn restart(
        &mut self,
        name: &str,
        method: RestartMethod,
        now: Instant,
        out: &mut Vec<PoolAction>,
    ) {
        let Some(gi) = self.group_index(name) else {
            out.push(PoolAction::GroupNotFound {
                name: name.to_string(),
            });
            return;
        };
        out.push(PoolAction::RestartStarted {
            group: name.to_string(),
            method,
        });
        if self.shutting_down {
            return;
        }
        // A spawn in flight runs the old code (and, for smart spawning, an old preloader).
        self.make_spawn_stale(gi);
        let g = &mut self.groups[gi];
        g.generation += 1;
        g.spawn_blocked = false;
        g.rolling = None;
        g.restarting = false;
        match method {
            RestartMethod::Blocking => {
                g.restarting = true;
                while !self.groups[gi].processes.is_empty() {
                    self.detach(gi, 0, now, out);
                }
                self.maybe_spawn(gi, Trigger::Continue, out);
                if self.groups[gi].spawning.is_none() {
                    self.groups[gi].restarting = false;
                }
            }
            RestartMethod::Rolling => {
                let generation = g.generation;
                if g.has_old(generation) {
                    g.rolling = Some(Rolling { generation });
                    self.start_spawn(gi, SpawnKind::Rolling, out);
                } else {
                    out.push(PoolAction::RollingRestartFinished {
                        group: name.to_string(),
                    });
                }
            }
        }
    }

    fn remove_group(&mut self, name: &str, now: Instant, out: &mut Vec<PoolAction>) {
        let Some(gi) = self.group_index(name) else {
            out.push(PoolAction::GroupNotFound {
                name: name.to_string(),
            });
            return;
        };
        self.make_spawn_stale(gi);
        let g = &mut self.groups[gi];
        g.rolling = None;
        g.restarting = false;
        g.removed = true;
        g.pipelinable.clear();
        for request in g.queue.drain(..) {
            out.push(PoolAction::Reject {
                request,
                error: CheckoutError::ShuttingDown,
            });
        }
        while !self.groups[gi].processes.is_empty() {
            self.detach(gi, 0, now, out);
        }
        out.push(PoolAction::GroupRemoved {
            name: name.to_string(),
        });
    }

    fn shutdown(&mut self, now: Instant, out: &mut Vec<PoolAction>) {
        self.shutdown_reports_owed += 1;
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        for (request, _) in self.top_queue.drain(..) {
            out.push(PoolAction::Reject {
                request,
                error: CheckoutError::ShuttingDown,
            });
        }
        for gi in 0..self.groups.len() {
            self.make_spawn_stale(gi);
            let g = &mut self.groups[gi];
            g.rolling = None;
            g.restarting = false;
            g.pipelinable.clear();
            for request in g.queue.drain(..) {
                out.push(PoolAction::Reject {
                    request,
                    error: CheckoutError::ShuttingDown,
                });
            }
            while !self.groups[gi].processes.is_empty() {
                self.detach(gi, 0, now, out);
            }
            // Shutdown does not wait for in-flight requests: stop busy processes too.
            for p in &mut self.groups[gi].detached {
                if p.life == Life::Alive {
                    trigger_shutdown(p, now, out);
                }
            }
        }
    }

    /// Runs after every input: serve the top-level queue while capacity allows, let
    /// groups spawn what they need, and report a finished shutdown.
    fn rebalance(&mut self, now: Instant, out: &mut Vec<PoolAction>) {
        if self.shutting_down {
            let done = self.stale_spawns.is_empty()
                && self.groups.iter().all(|g| {
                    g.processes.is_empty() && g.detached.is_empty() && g.spawning.is_none()
                });
            if done {
                for _ in 0..self.shutdown_reports_owed {
                    out.push(PoolAction::ShutdownComplete);
                }
                self.shutdown_reports_owed = 0;
            }
            return;
        }
        while let Some(app) = self.top_queue.front().map(|(_, app)| Arc::clone(app)) {
            let gi = match self.group_index(&app.name) {
                Some(gi) => gi,
                None => {
                    if self.pool_full() && !self.evict_lru(None, now, out) {
                        break;
                    }
                    self.groups.push(Group::new(app));
                    self.groups.len() - 1
                }
            };
            let Some((request, app)) = self.top_queue.pop_front() else {
                break;
            };
            // Whether it could be pipelined is not kept in the top-level queue.
            self.group_get(gi, request, app, (false, false), now, out);
        }
        for gi in 0..self.groups.len() {
            serve_queue(&mut self.groups[gi], self.options.pipeline_window, now, out);
            self.maybe_spawn(gi, Trigger::Continue, out);
            start_oob_work(&mut self.groups[gi], out);
        }
        // A removed group goes once its last process has exited. Nothing keeps
        // group indices across inputs, so removing entries here is safe.
        self.groups.retain(|g| {
            !(g.removed && g.processes.is_empty() && g.detached.is_empty() && g.spawning.is_none())
        });
    }
}

/// Passenger's OOBW rule: at most one process per group out of rotation for
/// out-of-band work, only once it is idle and another enabled process can serve.
fn start_oob_work(g: &mut Group, out: &mut Vec<PoolAction>) {
    if g.processes.iter().any(|p| p.oob == Oob::InProgress) {
        return;
    }
    let Some(pi) = g
        .processes
        .iter()
        .position(|p| p.oob == Oob::Requested && p.sessions == 0)
    else {
        return;
    };
    if g.processes.len() < 2 {
        return;
    }
    let p = &mut g.processes[pi];
    p.oob = Oob::InProgress;
    out.push(PoolAction::RunOobWork {
        gupid: p.gupid.clone(),
        address: p.address.clone(),
        connect_password: p.connect_password.clone(),
    });
}

fn assign(
    g: &mut Group,
    pi: usize,
    request: RequestId,
    pipelined: bool,
    now: Instant,
    out: &mut Vec<PoolAction>,
) {
    let p = &mut g.processes[pi];
    if p.sessions == 0 {
        p.progress_at = now;
    }
    p.sessions += 1;
    p.last_used = now;
    out.push(PoolAction::Assign {
        request,
        process: AssignedProcess {
            group: g.name.clone(),
            pid: p.pid,
            gupid: p.gupid.clone(),
            address: p.address.clone(),
            connect_password: p.connect_password.clone(),
            pipelined,
        },
    });
}

/// Hands queued requests to free slots, oldest request first.
fn serve_queue(g: &mut Group, window: Duration, now: Instant, out: &mut Vec<PoolAction>) {
    while let Some(&request) = g.queue.front() {
        let (pi, pipelined) = if let Some(pi) = g.route() {
            (pi, false)
        } else if g.pipelinable.contains(&request) {
            match g.route_pipelined(now, window) {
                Some(pi) => (pi, true),
                None => return,
            }
        } else {
            return;
        };
        g.pop_queued();
        assign(g, pi, request, pipelined, now, out);
    }
}

fn trigger_shutdown(p: &mut Process, now: Instant, out: &mut Vec<PoolAction>) {
    p.life = Life::ShutdownTriggered {
        at: now,
        killed: false,
    };
    out.push(PoolAction::Terminate {
        gupid: p.gupid.clone(),
    });
}

#[cfg(any(test, feature = "fuzzing"))]
pub mod harness;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
