//! `passenger-core`: the app server behind the `passenger` binary.
//!
//! Owns the pool of app processes, the spawner that starts them, the HTTP proxy in
//! front of them, configuration loading and the server lifecycle. It never prints to
//! stdout and never exits the process: the `cli` crate does both. Logging goes
//! through `tracing`; the subscriber is installed by `cli`.
//!
//! Start reading at [`server::Server::run`], which wires the other modules together.

pub mod admin;
pub mod app;
pub mod config;
pub mod counters;
pub mod hooks;
pub mod instance;
pub mod loader;
pub mod metrics;
pub mod pool;
pub mod proxy;
pub mod resources;
mod serve;
pub mod server;
pub mod spawn;
pub mod starter;

#[cfg(test)]
mod proptests;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

/// Version of this installation, shown by `--version` and in `Server` headers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `server_software` string, in the shape Passenger's tools expect.
pub const SERVER_SOFTWARE: &str = concat!("passenger-rs/", env!("CARGO_PKG_VERSION"));
