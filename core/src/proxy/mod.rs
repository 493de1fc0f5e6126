//! The HTTP front: routes each request to an app, serves `public/` files, and forwards
//! the rest to a process checked out of the pool.
//!
//! Owns: the per-request path (route → static file → checkout → forward → stream →
//! check-in), the pages the core itself answers with, and connections to app
//! processes. It does not decide which process serves (the pool does) nor accept
//! client connections (the server does).

mod body;
pub mod buffer;
pub mod error_page;
pub mod forward;
pub mod header_case;
pub mod route;
pub mod session;
pub mod static_files;
pub mod web_server;

pub use body::{empty_body, full_body, ProxyBody};
