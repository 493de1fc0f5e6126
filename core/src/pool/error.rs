//! The pool's errors: why a checkout got no process ([`CheckoutError`], answered by
//! the state machine) and why a management call failed ([`PoolError`], answered by
//! the actor). Two enums because the two are different questions: a request's
//! answer, and a tool's.

use std::sync::Arc;

use crate::spawn::SpawnError;

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
    /// The pool is shutting down (or its actor has stopped).
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
