//! End-to-end tests against the real `passenger` binary.
//!
//! One test binary (fast to link, one place for the harness). Each topic is a module; put new tests in
//! the module whose name matches what they exercise. The harness lives in `support/`: every test gets a
//! [`support::TestDir`], starts the server with [`support::Server::start`], talks HTTP with
//! [`support::get`], waits with [`support::wait_until`], and fails if it leaves a process behind.

mod support;

mod harness;
mod hooks;

mod admin;
mod apache;
mod apache_installer;
mod apps;
mod buffering;
mod cli_misc;
mod config_files;
mod errors;
mod examples;
mod generic_app;
mod inherited_sockets;
mod instance;
mod lifecycle;
mod limits;
mod pool;
mod proxy;
mod restart;
mod routing;
mod start_server;
mod static_files;
mod tools;
mod user_switching;
