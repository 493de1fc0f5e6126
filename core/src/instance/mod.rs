//! The instance directory: the on-disk identity of one running server, and the
//! registry that tools search to find running servers.
//!
//! Owns: creating `<registry>/passenger.XXXXXXX` with the original's layout
//! (`lock`, `properties.json`, `watchdog.pid`, `core.pid`, the two admin password
//! files, `agents.s/`, `apps.s/`, and `creation_finalized` last), holding its `flock` for the server's lifetime,
//! rewriting `properties.json` atomically, and removing the directory on clean
//! shutdown. Our directories carry an ownership marker ([`OWNER_MARKER`]). For tools:
//! [`list_instances`] and [`find_instance`], which also delete stale directories of
//! ours (never anyone else's, see [`registry`]).
//!
//! It does not bind sockets (the server binds `agents.s/core_api` and hands the
//! listener to [`crate::admin::serve`]) and it does not print anything.

pub mod registry;

mod directory;
mod error;
mod properties;
#[cfg(test)]
mod tests;

pub(crate) use directory::try_lock;
pub use directory::{
    default_registry_dir, Instance, CORE_API_SOCKET, MAJOR_VERSION, MINOR_VERSION, OWNER_MARKER,
    OWNER_PRODUCT, REGISTRY_DIR_ENV, SUN_PATH_MAX,
};
pub use error::InstanceError;
pub use properties::InstanceProperties;
pub use registry::{
    find_instance, find_instance_by_pid, find_instance_in, list_instances, registry_search_dirs,
    InstanceInfo, RegistryScan,
};
