//! The application pool: which app processes exist and which one serves a request.
//!
//! Owns: Groups (one per app, each with ONE request queue), their Processes, Sessions
//! (one checked-out request slot on one process), capacity limits, eviction, idle
//! cleanup, max_requests replacement, restarts (blocking and rolling) and detaching.
//! It does not spawn, signal or connect to anything itself.
//!
//! Two layers:
//! - [`state`]: a state machine without I/O and without a clock. Inputs go in with
//!   the current time, [`state::PoolAction`]s come out.
//! - [`actor`]: one tokio task that owns the state machine, performs its actions
//!   (spawning through a [`Spawner`](crate::spawn::Spawner), stopping processes,
//!   answering waiters), checks restart files and drives timers. Everyone else talks
//!   to it through the cheap-to-clone [`PoolHandle`].

pub mod actor;
mod group;
pub mod ids;
pub mod memory_watch;
mod process;
pub mod snapshot;
pub mod state;

pub use actor::{
    start, CheckoutError, CheckoutKind, PoolError, PoolHandle, PoolOptions, RestartMethod, Session,
};
pub use ids::{Gupid, ProcessAddress};
pub use snapshot::{GroupOptions, GroupSnapshot, PoolSnapshot, ProcessSnapshot};
