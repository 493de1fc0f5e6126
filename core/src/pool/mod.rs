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
//!
//! Besides: [`options`] (what callers tell the pool), [`error`] (what it answers when
//! it cannot), [`restart_file`] (the `restart.txt` check), [`snapshot`] (serde views)
//! and [`memory_watch`] (the `memory_limit` reader).

pub mod actor;
pub mod error;
mod group;
pub mod ids;
pub mod memory_watch;
pub mod options;
mod process;
pub mod restart_file;
pub mod snapshot;
pub mod state;

pub use actor::{start, PoolHandle, Session};
pub use error::{CheckoutError, PoolError};
pub use ids::{Gupid, ProcessAddress};
pub use options::{CheckoutKind, PoolOptions, RestartMethod};
pub use snapshot::{GroupOptions, GroupSnapshot, PoolSnapshot, ProcessSnapshot};
