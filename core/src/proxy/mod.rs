//! The HTTP front: routes each request to an app, serves `public/` files, and forwards
//! the rest to a process checked out of the pool.
//!
//! Owns: the per-request path (route → static file → checkout → forward → stream →
//! check-in), the pages the core itself answers with, and connections to app
//! processes. It does not decide which process serves (the pool does) nor accept
//! client connections (the server does).

pub mod buffer;
pub mod error_page;
pub mod forward;
pub mod header_case;
pub mod route;
pub mod session;
pub mod static_files;
pub mod web_server;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

/// The body type of every response the proxy produces, whether built here, streamed
/// from a file or forwarded from an app process.
pub type ProxyBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::io::Error>;

/// A [`ProxyBody`] holding `b` in full.
pub fn full_body(b: impl Into<bytes::Bytes>) -> ProxyBody {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty [`ProxyBody`].
pub fn empty_body() -> ProxyBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
