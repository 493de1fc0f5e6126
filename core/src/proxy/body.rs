//! The body type of the proxy's responses and the two bodies it builds itself.

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
