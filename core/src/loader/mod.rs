//! The core's side of the wire protocol spoken with our Ruby and Python loaders
//! (ARCHITECTURE.md, "Session protocol" and "Request pipelining"; the loaders live
//! in `resources/helper-scripts/`).
//!
//! Owns what goes over a loader connection: the header block of CGI variables that
//! opens a request and the small control blocks (`OOBW`, `PING`), the request body's
//! framing, the response head with its private headers (`!~Keep-Alive`,
//! `X-Passenger-Request-OOB-Work`), the claims of pipelined requests, and the
//! out-of-band-work exchange. The connect password a block carries comes with the
//! process's pool session.
//!
//! It does not choose processes or connections, retry, or stream response bodies:
//! the proxy (`proxy::session`) does, with the pool.

mod error;
mod header_block;
mod oob;
pub mod pipeline;
mod request_body;
mod response_head;

pub use error::SessionProtocolError;
pub use header_block::{body_is_framed, can_keep_alive, control_block, header_block, RequestInfo};
pub use oob::run_oob_work;
pub use pipeline::{Claim, ClaimState, Claims};
pub use request_body::write_request;
pub use response_head::{read_head, Head};
