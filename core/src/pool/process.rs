//! One app process as the pool state machine sees it: [`Process`].
//!
//! Owns the bookkeeping of a single process (sessions, requests processed, last use,
//! enabled and life status, generation). It does not own the OS process: the actor
//! keeps the `ProcessControl` and reports the exit.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::pool::ids::{Gupid, ProcessAddress};

use super::snapshot::ProcessSnapshot;
use super::state::PIPELINE_DEPTH;

/// Whether the process takes new requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enabled {
    /// In rotation.
    Enabled,
    /// Out of rotation for good: finishes its sessions, then stops.
    Detached,
}

/// Where the process is in its shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Running.
    Alive,
    /// Asked to stop at `at`; `killed` once SIGKILL was requested.
    ShutdownTriggered {
        /// When the stop was requested.
        at: Instant,
        /// Whether Kill was already requested.
        killed: bool,
    },
}

/// One process of a group.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub pid: u32,
    pub gupid: Gupid,
    pub address: ProcessAddress,
    /// Concurrency after `force_max_concurrent_requests_per_process`.
    pub concurrency: i32,
    pub sessions: u32,
    pub processed: u64,
    pub last_used: Instant,
    pub spawn_started: SystemTime,
    pub spawn_ended: SystemTime,
    pub enabled: Enabled,
    pub life: Life,
    /// The group generation it was spawned for; older ones are replaced by restarts.
    pub generation: u64,
    /// Out-of-band work the app asked for (Passenger's OOBW status).
    pub oob: Oob,
    /// The process takes pipelined requests: while busy it may be handed one more
    /// bodyless request (ARCHITECTURE.md, "Request pipelining").
    pub pipeline: bool,
    /// The secret the process checks (loaders only): it travels with the process
    /// and its sessions.
    pub connect_password: Option<std::sync::Arc<str>>,
    /// The loader's direct-access HTTP socket.
    pub direct_address: Option<std::net::SocketAddr>,
    /// When the process last made progress: finished a session, or became busy
    /// after being idle. A pipelined request waits behind the work begun then.
    pub progress_at: Instant,
    /// A pipelined request on this process was taken back (it waited too long);
    /// no other is handed to it before its next progress.
    pub pipeline_blocked: bool,
    /// Shown as `sticky_session_id`: derived from the gupid, so unique in practice
    /// and stable for the process's life.
    pub sticky_session_id: u32,
    /// See [`ProcessSnapshot::spawner_creation_time`].
    pub spawner_created: SystemTime,
    /// Measured above its app's `memory_limit`: replaced once its sessions end, and
    /// handed no new ones.
    pub over_memory_limit: bool,
}

/// A non-zero id derived from `gupid` (FNV-1a), for `sticky_session_id`.
pub(crate) fn sticky_session_id(gupid: &Gupid) -> u32 {
    let hash = gupid.0.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.max(1)
}

/// Out-of-band work state of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oob {
    /// Nothing asked.
    None,
    /// The app asked; runs once the process is idle and another can serve.
    Requested,
    /// Out of rotation while its `:oob_work` handlers run.
    InProgress,
}

impl Process {
    /// Passenger's `busyness()`: `sessions` when concurrency is unlimited or unknown,
    /// else sessions scaled so that a full process is `i32::MAX`.
    pub fn busyness(&self) -> u64 {
        if self.concurrency <= 0 {
            u64::from(self.sessions)
        } else {
            u64::from(self.sessions) * (i32::MAX as u64) / (self.concurrency as u64)
        }
    }

    /// Whether it can be handed a pipelined request at `now`: a one-slot process
    /// in rotation, busy with fewer than [`PIPELINE_DEPTH`] pipelined requests
    /// beyond its one session, that began its current work less than `window` ago.
    pub fn takes_pipelined(&self, now: Instant, window: Duration) -> bool {
        self.pipeline
            && !self.pipeline_blocked
            && !self.over_memory_limit
            && self.concurrency == 1
            && (1..=PIPELINE_DEPTH).contains(&self.sessions)
            && self.oob == Oob::None
            && now.saturating_duration_since(self.progress_at) < window
    }

    /// Whether a pipelined request waits in this process: more sessions than slots.
    pub fn has_pipelined(&self) -> bool {
        self.pipelined_waiting() > 0
    }

    /// How many pipelined requests wait in this process: sessions beyond its slots.
    /// They count against the group's `max_request_queue_size` like queued ones.
    pub fn pipelined_waiting(&self) -> usize {
        match u32::try_from(self.concurrency) {
            Ok(slots) if slots > 0 => self.sessions.saturating_sub(slots) as usize,
            _ => 0,
        }
    }

    /// No free slot: only processes with a positive concurrency can be totally busy.
    pub fn is_totally_busy(&self) -> bool {
        self.concurrency > 0 && u64::from(self.sessions) >= self.concurrency as u64
    }

    /// The serializable view; `now`/`now_wall` convert monotonic times to wall time.
    pub fn snapshot(&self, now: Instant, now_wall: SystemTime) -> ProcessSnapshot {
        let last_used_wall = now_wall
            .checked_sub(now.saturating_duration_since(self.last_used))
            .unwrap_or(UNIX_EPOCH);
        ProcessSnapshot {
            pid: self.pid,
            gupid: self.gupid.0.clone(),
            sessions: self.sessions,
            concurrency: self.concurrency,
            processed: self.processed,
            spawn_start_time: micros(self.spawn_started),
            spawn_end_time: micros(self.spawn_ended),
            last_used: micros(last_used_wall),
            enabled: match self.enabled {
                Enabled::Enabled if self.oob == Oob::InProgress => "disabled",
                Enabled::Enabled => "enabled",
                Enabled::Detached => "detached",
            }
            .to_string(),
            life_status: match self.life {
                Life::Alive => "alive",
                Life::ShutdownTriggered { .. } => "shutdown_triggered",
            }
            .to_string(),
            address: self.address.to_string(),
            // Filled from /proc by the server's metrics sampler; the state machine
            // reads no /proc.
            cpu_percent: None,
            real_memory_kb: None,
            connect_password: self.connect_password.as_deref().map(str::to_owned),
            direct_url: self
                .direct_address
                .map(|a| format!("http://{a}"))
                .or_else(|| match &self.address {
                    // A generic or Node app's own port (or socket) is its direct URL.
                    ProcessAddress::Tcp(a) => Some(format!("http://{a}")),
                    ProcessAddress::Unix(p) => Some(format!("http://unix:{}", p.display())),
                    ProcessAddress::Session(_) => None,
                }),
            sticky_session_id: self.sticky_session_id,
            spawner_creation_time: micros(self.spawner_created),
            rss_kb: None,
            pss_kb: None,
            private_dirty_kb: None,
            swap_kb: None,
            vmsize_kb: None,
            process_group_id: None,
            command: None,
        }
    }
}

pub(crate) fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
