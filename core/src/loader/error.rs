//! Why a request could not be exchanged with a loader.

/// Why a request could not be exchanged with a loader.
#[derive(Debug, thiserror::Error)]
pub enum SessionProtocolError {
    /// Writing the request failed.
    #[error("cannot send the request to the loader")]
    Send(#[source] std::io::Error),
    /// Reading the response head failed or it ended early.
    #[error("incomplete response head from the loader")]
    Incomplete(#[source] std::io::Error),
    /// The response head is not valid HTTP.
    #[error("malformed response head from the loader: {0}")]
    Malformed(String),
    /// A reused kept-alive connection was closed before the loader answered: the
    /// loader dropped it while idle and never saw the request, which is safe to send
    /// again on a new connection if no request body was consumed.
    #[error("the reused loader connection was closed before the loader answered")]
    Stale(#[source] std::io::Error),
    /// The pool took the pipelined request back before the process started it; it
    /// can be sent to another process.
    #[error("the pipelined request was taken back before the process started it")]
    Withdrawn,
}
