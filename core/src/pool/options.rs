//! What callers tell the pool: its global settings ([`PoolOptions`]), how a restart
//! proceeds ([`RestartMethod`]) and what a checkout may be given ([`CheckoutKind`]).
//!
//! Plain data shared by the state machine and the actor; it owns no behaviour.

use std::sync::Arc;
use std::time::Duration;

/// Global pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Maximum processes across all groups.
    pub max_pool_size: u32,
    /// Idle time after which processes above `min_instances` stop; zero = never.
    pub pool_idle_time: Duration,
    /// Time a terminated process gets before SIGKILL.
    pub process_shutdown_timeout: Duration,
    /// Where the actor counts spawns (shared with the admin API).
    pub counters: Arc<crate::counters::Counters>,
    /// How recently a lone busy process must have begun its current work to be
    /// handed a pipelined request ([`state::PIPELINE_WINDOW`](super::state::PIPELINE_WINDOW)).
    pub pipeline_window: Duration,
    /// How long a pipelined request waits before it is taken back
    /// ([`state::PIPELINE_PATIENCE`](super::state::PIPELINE_PATIENCE)).
    pub pipeline_patience: Duration,
    /// Lifecycle hooks; the actor fires the process and queue events, each on a
    /// thread of its own ([`Hooks::spawn`](crate::hooks::Hooks::spawn)).
    pub hooks: Arc<crate::hooks::Hooks>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_pool_size: 6,
            pool_idle_time: Duration::from_secs(300),
            process_shutdown_timeout: Duration::from_secs(60),
            counters: Arc::default(),
            pipeline_window: super::state::PIPELINE_WINDOW,
            pipeline_patience: super::state::PIPELINE_PATIENCE,
            hooks: Arc::default(),
        }
    }
}

/// How `restart_group` replaces processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMethod {
    /// Detach everything, then spawn anew (requests wait meanwhile).
    Blocking,
    /// Replace processes one by one; old ones serve until their replacement is ready.
    Rolling,
}

/// What a checkout may be given besides a free slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckoutKind {
    /// The request has no body and no upgrade: it may be pipelined to a busy loader
    /// process (ARCHITECTURE.md, "Request pipelining").
    pub pipelinable: bool,
    /// The request's pipelined session was withdrawn: it keeps its place in the queue.
    pub retry: bool,
}
