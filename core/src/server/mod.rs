//! The server lifecycle: bind listeners, accept client connections, serve them with
//! the [`Proxy`], and stop gracefully.
//!
//! Owns: listening sockets, the per-connection HTTP/1.1 server, signal handling
//! (see [`ShutdownKind`] for the mapping) and the shutdown sequence: stop accepting,
//! let in-flight requests finish within the grace period, then stop every app
//! process through the pool. It contains no pool or routing logic.
//!
//! Start reading at [`Server::bind`] and [`Server::run`].

mod bind;
mod connection;
mod error;
mod lifecycle;
pub mod limits;
pub mod listen;
pub mod notify;
pub(crate) mod prestart;
mod reload;
mod signals;

pub use error::ServerError;
pub use lifecycle::{instance_properties, HostCallbacks, Inherited, Server, ShutdownKind};
