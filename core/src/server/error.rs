//! The errors of starting and running the server.

/// Errors of starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listening socket could not be created.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address, as given.
        addr: String,
        /// The cause.
        #[source]
        source: super::listen::ListenError,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    /// The instance directory could not be created.
    #[error("cannot create the instance directory")]
    Instance(#[source] crate::instance::InstanceError),
    /// The admin API socket could not be created.
    #[error("cannot start the admin API")]
    Admin(#[source] crate::admin::AdminError),
    /// The core could not become its `core_user`.
    #[error("cannot run the core as {user}")]
    Privileges {
        /// The user.
        user: String,
        /// The cause.
        #[source]
        source: crate::spawn::unix::UserError,
    },
}
