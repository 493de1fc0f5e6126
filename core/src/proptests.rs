//! Property tests over the paths where outside bytes meet our code: the HTTP head
//! and chunked body as the core sees them (header handling, forwarded headers, the
//! limits), route and static path decoding, the configuration files, and the
//! loader response head. The pool's are in `pool::state::proptests`, the admin API
//! JSON bodies' in `core/tests/admin_api.rs`. `fuzz/` has the same targets for long
//! runs (bench/README.md).
//!
//! Case counts are small so that CI runs them in seconds; `PROPTEST_CASES=N` raises
//! them for a longer local run.

use proptest::prelude::*;

/// `default` cases, or `PROPTEST_CASES` when set.
pub(crate) fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // No regression files in the source tree: a failure prints its minimal case,
        // which becomes a unit test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
