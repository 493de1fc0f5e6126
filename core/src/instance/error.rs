//! The errors of instance directories and of looking instances up.

use std::path::PathBuf;

use super::InstanceInfo;

/// Errors of creating, updating or removing an instance directory, and of looking
/// instances up.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// An instance directory made by the watchdog could not be joined.
    #[error("cannot use instance directory {path}: {reason}")]
    Adopt {
        /// The directory.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The admin socket path would not fit in `sockaddr_un`.
    #[error(
        "the instance registry directory {registry} is too long: the admin socket path \
         {socket_path_len} bytes long would not fit in a unix socket address (limit {limit} \
         bytes); set PASSENGER_INSTANCE_REGISTRY_DIR or --instance-registry-dir to a shorter path"
    )]
    RegistryPathTooLong {
        /// The registry directory.
        registry: PathBuf,
        /// Length of `<instance dir>/agents.s/core_api` in bytes.
        socket_path_len: usize,
        /// The maximum length, NUL excluded.
        limit: usize,
    },
    /// The registry directory is missing or unusable.
    #[error("cannot use instance registry directory {path}")]
    Registry {
        /// The registry directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No free random directory name was found.
    #[error("cannot create an instance directory in {registry}")]
    CreateDir {
        /// The registry directory.
        registry: PathBuf,
        /// The last cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing one file or directory of the instance failed.
    #[error("cannot write {path}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The `lock` file could not be locked.
    #[error("cannot lock {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Removing the directory on shutdown failed.
    #[error("cannot remove instance directory {path}")]
    Remove {
        /// The instance directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No instance is running.
    #[error("Phusion Passenger(R) doesn't seem to be running")]
    NoInstance,
    /// Several instances match; the caller must choose.
    #[error("multiple Phusion Passenger(R) instances are running: {}", .names.join(", "))]
    Ambiguous {
        /// Names of the matching instances.
        names: Vec<String>,
        /// The matching instances, for a table.
        instances: Vec<InstanceInfo>,
    },
    /// No instance has that name (prefix) or pid.
    #[error(
        "there doesn't seem to be a Phusion Passenger(R) instance running with the name '{0}'"
    )]
    UnknownName(String),
}
