//! Exit codes of every command, documented in the man pages.
//!
//! The admin tools keep the original's codes: 0 ok; 1 not running, several
//! instances without a choice, unknown instance name, or the command failed; 2 not
//! authorized or an admin API error (`api-call` included: a non-2xx answer exits 2,
//! where the original exits 1). `validate-install` has its own scale (0, 1 errors,
//! 2 warnings only, 9 internal error).

/// Success.
pub const OK: i32 = 0;
/// Failure: the server did not start, is not running, the instance is ambiguous or
/// unknown, or the command failed.
pub const FAILURE: i32 = 1;
/// Usage error (bad flags); clap uses the same code.
pub const USAGE: i32 = 2;
/// The admin API refused us (run as root or the instance's user) or failed.
pub const API_ERROR: i32 = 2;
/// `validate-install`: no check failed, but some produced warnings.
pub const WARNINGS: i32 = 2;
/// `validate-install`: a check could not run at all.
#[expect(
    dead_code,
    reason = "documented in the man page; no check fails that way yet"
)]
pub const INTERNAL: i32 = 9;

/// An error that carries its own operator-facing message and exit code. `main`
/// prints the message verbatim (no program-name prefix), to stderr unless
/// `on_stdout`.
#[derive(Debug)]
pub struct Exit {
    /// The process exit code.
    pub code: i32,
    /// The full message, possibly several lines.
    pub message: String,
    /// Print the message on stdout, where the original prints it (`puts` before
    /// `exit 1`, e.g. the list of instances to choose from).
    pub on_stdout: bool,
}

impl Exit {
    /// An [`Exit`] with `code` and `message`, printed on stderr.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Exit {
            code,
            message: message.into(),
            on_stdout: false,
        }
    }

    /// An [`Exit`] whose message goes to stdout.
    pub fn on_stdout(code: i32, message: impl Into<String>) -> Self {
        Exit {
            on_stdout: true,
            ..Exit::new(code, message)
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}
