//! Exit codes of every command, documented in the man pages.

/// Success.
pub const OK: i32 = 0;
/// Failure: the server did not start, is not running, or the command failed.
pub const FAILURE: i32 = 1;
/// Usage error (bad flags); clap uses the same code.
#[allow(dead_code)]
pub const USAGE: i32 = 2;
