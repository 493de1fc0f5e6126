//! The admin API: HTTP/1.1 on the instance's `agents.s/core_api` unix socket, with
//! the original Core API's endpoints, authentication and error replies.
//!
//! Owns: binding the socket ([`bind`]), serving connections ([`serve`]), deciding
//! who may do what ([`auth`]), and rendering the pool for tools (`/pool.txt`,
//! `/pool.xml`, `/pool.json`, `/metrics`). It does not own the pool: it talks to it
//! through the small [`PoolApi`] trait (implemented for [`PoolHandle`](crate::pool::PoolHandle)), and it
//! does not stop the server or reopen logs itself: it calls [`AdminCallbacks`].
//!
//! Start reading at [`serve`] and [`routes`].

pub mod auth;
pub mod pool_text;
pub mod pool_xml;
pub mod prometheus;
pub mod routes;

mod log_level;
mod socket;
mod state;

pub use log_level::LogLevel;
pub use socket::{bind, serve, AdminError};
pub use state::{
    AdminCallbacks, AdminState, PoolApi, ReopenLogsCallback, ServerInfo, ServerStatsCallback,
    SetLogLevelCallback, ShutdownCallback,
};
