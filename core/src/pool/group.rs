//! One app's share of the pool: [`Group`].
//!
//! Owns the group's processes (enabled and detached), its single FIFO request queue,
//! its one in-flight spawn and its restart state, plus the routing rule (least busy
//! enabled process). Capacity across groups, eviction and the order of operations
//! are decided by [`state`](super::state), not here.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::distributions::{Alphanumeric, DistString};

use crate::app::{AppSpec, AppType, SpawnMethod};

use super::process::{Oob, Process};
use super::snapshot::{GroupOptions, GroupSnapshot};
use super::state::{RequestId, SpawnId};

/// Why the group's one in-flight spawn was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpawnKind {
    /// Demand: waiters, min_instances, all processes busy, replacement.
    Normal,
    /// One step of a rolling restart.
    Rolling,
}

/// A rolling restart under way: processes of generations below `generation` are old.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rolling {
    pub generation: u64,
}

/// One app group.
#[derive(Debug)]
pub(crate) struct Group {
    pub name: String,
    /// The latest spec seen for this app; new processes are spawned from it.
    pub app: Arc<AppSpec>,
    /// Enabled processes, in spawn order (ties in routing go to the first).
    pub processes: Vec<Process>,
    /// Detached processes that have not exited yet.
    pub detached: Vec<Process>,
    /// Requests waiting for a free slot, oldest first.
    pub queue: VecDeque<RequestId>,
    /// The queued requests that may be pipelined (no body, no upgrade).
    pub pipelinable: HashSet<RequestId>,
    /// The one spawn in flight, if any.
    pub spawning: Option<(SpawnId, SpawnKind)>,
    /// A spawn failed: no further spawn until the next checkout (no retry loop).
    pub spawn_blocked: bool,
    /// A blocking restart detached everything and its first spawn is pending.
    pub restarting: bool,
    pub rolling: Option<Rolling>,
    /// Bumped by each restart; new processes get the current value.
    pub generation: u64,
    /// Removed from the configuration: spawns nothing, goes away once empty.
    pub removed: bool,
    /// Random id shown as the group's `uuid`, fixed for the group's lifetime.
    pub uuid: String,
    /// When the first spawn of `spawner_generation` started: what the group's
    /// processes report as `spawner_creation_time`.
    pub spawner_created: Option<(u64, SystemTime)>,
}

impl Group {
    /// An empty group for `app`.
    pub fn new(app: Arc<AppSpec>) -> Group {
        Group {
            name: app.name.clone(),
            app,
            processes: Vec::new(),
            detached: Vec::new(),
            queue: VecDeque::new(),
            pipelinable: HashSet::new(),
            spawning: None,
            spawn_blocked: false,
            restarting: false,
            rolling: None,
            generation: 0,
            removed: false,
            uuid: Alphanumeric.sample_string(&mut rand::thread_rng(), 20),
            spawner_created: None,
        }
    }

    /// The spawner creation time for a process of the current generation whose spawn
    /// started at `spawn_started`: the first such spawn's start after each restart.
    pub fn spawner_creation_time(&mut self, spawn_started: SystemTime) -> SystemTime {
        match self.spawner_created {
            Some((generation, at)) if generation == self.generation => at,
            _ => {
                self.spawner_created = Some((self.generation, spawn_started));
                spawn_started
            }
        }
    }

    /// Processes counted against max_pool_size: enabled ones plus the spawn in flight.
    pub fn capacity_used(&self) -> u32 {
        let used = self.processes.len() + usize::from(self.spawning.is_some());
        u32::try_from(used).unwrap_or(u32::MAX)
    }

    /// Whether `app.max_instances` forbids another process.
    pub fn at_max_instances(&self) -> bool {
        let max = self.app.max_instances as usize;
        max > 0 && self.processes.len() + usize::from(self.spawning.is_some()) >= max
    }

    /// Below `min_instances` (enabled processes only).
    pub fn below_min(&self) -> bool {
        self.processes.len() < self.app.min_instances as usize
    }

    /// Whether every enabled process is totally busy (true when there are none).
    pub fn all_totally_busy(&self) -> bool {
        self.processes
            .iter()
            .all(|p| p.is_totally_busy() || p.oob == Oob::InProgress)
    }

    /// Passenger's `route()`: the enabled process with the lowest busyness, ties to
    /// the first; `None` if that one is totally busy (or there is none).
    pub fn route(&self) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, p) in self.processes.iter().enumerate() {
            if p.oob == Oob::InProgress || p.over_memory_limit {
                continue;
            }
            let b = p.busyness();
            if best.is_none_or(|(_, bb)| b < bb) {
                best = Some((i, b));
            }
        }
        let (i, _) = best?;
        (!self.processes[i].is_totally_busy()).then_some(i)
    }

    /// Where a pipelined request can go when [`route`](Self::route) finds no free
    /// slot: a process that [takes one](Process::takes_pipelined); of several, the
    /// one with the fewest sessions, then the one whose current work began first. A process idles between two requests
    /// while the core hands it the next one; pipelining fills that gap.
    pub fn route_pipelined(&self, now: Instant, window: Duration) -> Option<usize> {
        self.processes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.takes_pipelined(now, window))
            .min_by_key(|(_, p)| (p.sessions, p.progress_at))
            .map(|(i, _)| i)
    }

    /// Requests waiting for a process: queued ones plus those pipelined behind a busy
    /// process's current work. `max_request_queue_size` bounds this number.
    pub fn waiting(&self) -> usize {
        self.queue.len()
            + self
                .processes
                .iter()
                .map(Process::pipelined_waiting)
                .sum::<usize>()
    }

    /// Whether `max_request_queue_size` (0: unlimited) turns away another waiter.
    pub fn queue_full(&self) -> bool {
        let max = self.app.max_request_queue_size as usize;
        max > 0 && self.waiting() >= max
    }

    /// Takes the oldest queued request off the queue.
    pub fn pop_queued(&mut self) -> Option<(RequestId, bool)> {
        let request = self.queue.pop_front()?;
        Some((request, self.pipelinable.remove(&request)))
    }

    /// No process, no spawn, but requests waiting: blocked only by pool capacity.
    pub fn waiting_for_capacity(&self) -> bool {
        self.processes.is_empty() && self.spawning.is_none() && !self.queue.is_empty()
    }

    /// Whether an old-generation enabled process remains (rolling restart).
    pub fn has_old(&self, generation: u64) -> bool {
        self.processes.iter().any(|p| p.generation < generation)
    }

    /// The serializable view.
    pub fn snapshot(&self, now: Instant, now_wall: std::time::SystemTime) -> GroupSnapshot {
        GroupSnapshot {
            name: self.name.clone(),
            app_root: self.app.app_root.display().to_string(),
            environment: self.app.environment.clone(),
            app_type: self.app.app_type.name().to_string(),
            queue_len: u32::try_from(self.queue.len()).unwrap_or(u32::MAX),
            processes_being_spawned: u32::from(self.spawning.is_some()),
            restarting: self.restarting || self.rolling.is_some(),
            processes: self
                .processes
                .iter()
                .chain(self.detached.iter())
                .map(|p| p.snapshot(now, now_wall))
                .collect(),
            uuid: self.uuid.clone(),
            // Who the processes run as is read from /proc by the server.
            user: None,
            uid: None,
            group: None,
            gid: None,
            options: options(&self.app),
        }
    }
}

/// The original's `<options>` block of `app`.
fn options(app: &AppSpec) -> GroupOptions {
    let (start_command, process_title) = match &app.app_type {
        AppType::Generic { start_command } => (start_command.clone(), None),
        AppType::Ruby => (
            format!("{} rack-loader.rb", app.ruby),
            Some("Passenger RubyApp"),
        ),
        AppType::Python => (
            format!("{} wsgi-loader.py", app.python),
            Some("Passenger PythonApp"),
        ),
        AppType::Node => (
            format!("{} node-loader.js", app.nodejs),
            Some("Passenger NodeApp"),
        ),
    };
    let smart = app.spawn_method == SpawnMethod::Smart
        && matches!(app.app_type, AppType::Ruby | AppType::Python);
    GroupOptions {
        app_root: app.app_root.clone(),
        app_group_name: app.name.clone(),
        app_type: app.app_type.name().to_string(),
        start_command,
        startup_file: app
            .startup_file
            .as_ref()
            .map(|f| app.app_root.join(f).to_string_lossy().into_owned()),
        process_title: process_title.map(str::to_string),
        start_timeout: u64::try_from(app.start_timeout.as_millis()).unwrap_or(u64::MAX),
        environment: app.environment.clone(),
        base_uri: app.base_uri.clone().unwrap_or_else(|| "/".to_string()),
        spawn_method: if smart { "smart" } else { "direct" }.to_string(),
        integration_mode: "standalone".to_string(),
        ruby: app.ruby.clone(),
        python: app.python.clone(),
        nodejs: app.nodejs.clone(),
        min_processes: app.min_instances,
        max_processes: app.max_instances,
        max_preloader_idle_time: app.max_preloader_idle_time.as_secs(),
        user: app.user.clone(),
        group: app.group.clone(),
    }
}
