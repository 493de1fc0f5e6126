//! The pool actor: one task owning the [`state`](super::state) machine. STUB: the
//! signatures here are the contract; the bodies are being written.

use std::sync::Arc;
use std::time::Duration;

use crate::app::AppSpec;
use crate::spawn::{Gupid, ProcessAddress, SpawnError, Spawner};

use super::snapshot::PoolSnapshot;

/// Global pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Maximum processes across all groups.
    pub max_pool_size: u32,
    /// Idle time after which processes above `min_instances` stop; zero = never.
    pub pool_idle_time: Duration,
    /// Time a terminated process gets before SIGKILL.
    pub process_shutdown_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_pool_size: 6,
            pool_idle_time: Duration::from_secs(300),
            process_shutdown_timeout: Duration::from_secs(60),
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

/// Why a request could not get a process.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckoutError {
    /// The group's request queue is full.
    #[error("request queue of {group} is full")]
    QueueFull {
        /// The group name.
        group: String,
    },
    /// Spawning a process failed.
    #[error("could not spawn a process: {0}")]
    SpawnFailed(Arc<SpawnError>),
    /// The pool is shutting down.
    #[error("the pool is shutting down")]
    ShuttingDown,
}

/// Errors of pool management calls.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    /// No group has that name.
    #[error("no application group named {0}")]
    NoSuchGroup(String),
    /// The actor task is gone.
    #[error("the pool has stopped")]
    Stopped,
}

/// Cheap-to-clone handle to the pool actor.
#[derive(Clone, Debug)]
pub struct PoolHandle {}

/// Starts the pool actor on the current tokio runtime.
pub fn start(_options: PoolOptions, _spawner: Arc<dyn Spawner>) -> PoolHandle {
    unimplemented!("pool actor")
}

impl PoolHandle {
    /// Waits for a process slot of `app` (creating the group on first use). Dropping
    /// the future withdraws the request from the queue.
    pub async fn checkout(&self, _app: Arc<AppSpec>) -> Result<Session, CheckoutError> {
        unimplemented!()
    }
    /// The whole pool state.
    pub async fn snapshot(&self) -> Result<PoolSnapshot, PoolError> {
        unimplemented!()
    }
    /// Restarts one group.
    pub async fn restart_group(
        &self,
        _name: &str,
        _method: RestartMethod,
    ) -> Result<(), PoolError> {
        unimplemented!()
    }
    /// Detaches the process with this pid; false if no such process.
    pub async fn detach_process(&self, _pid: u32) -> Result<bool, PoolError> {
        unimplemented!()
    }
    /// Stops every process: terminate, SIGKILL after the shutdown timeout, wait.
    pub async fn shutdown(&self) -> Result<(), PoolError> {
        unimplemented!()
    }
}

/// One checked-out request slot. Dropping it checks the slot back in.
#[derive(Debug)]
pub struct Session {}

impl Session {
    /// The process's pid.
    pub fn pid(&self) -> u32 {
        unimplemented!()
    }
    /// The process's gupid.
    pub fn gupid(&self) -> &Gupid {
        unimplemented!()
    }
    /// Where to send the request.
    pub fn address(&self) -> &ProcessAddress {
        unimplemented!()
    }
    /// The process could not be reached or died mid-request: detach it on check-in.
    pub fn mark_process_failed(&mut self) {
        unimplemented!()
    }
}
