//! The errors of the superdaemon and its client modes.

use crate::server::listen::ListenError;

/// Errors of the superdaemon and its client modes. Messages keep Server::Starter's
/// wording where scripts may match on it.
#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    /// A socket could not be parsed or bound.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A signal name is not one this system knows.
    #[error("invalid signal name for --{option}: {value}")]
    Signal {
        /// `signal-on-hup` or `signal-on-term`.
        option: &'static str,
        /// The name as given.
        value: String,
    },
    /// A file step failed (`failed to open log file:PATH`, ...).
    #[error("{what}: {source}")]
    Io {
        /// The step, naming its file.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A client mode lacks a file it needs, or found nothing to act on.
    #[error("{0}")]
    Usage(String),
}

impl StarterError {
    pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StarterError {
        let what = what.into();
        move |source| StarterError::Io { what, source }
    }
}
