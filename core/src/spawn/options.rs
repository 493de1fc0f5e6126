//! [`SpawnerOptions`]: the settings shared by every spawn of one spawner.
//!
//! Owns their defaults only; the journey ([`journey`](super::journey)) applies them.

use std::path::PathBuf;

use crate::resources;

/// Settings shared by every spawn of a [`SpawnerFactory`](super::SpawnerFactory).
#[derive(Debug, Clone)]
pub struct SpawnerOptions {
    /// User an app runs as when the core is root and the app would otherwise run as
    /// root (Passenger's `default_user`, `nobody`).
    pub default_user: String,
    /// Group used when the chosen group is root; `None` means the primary group of
    /// `default_user` (Passenger's `default_group`).
    pub default_group: Option<String>,
    /// The instance directory; loaders will get unix sockets under `<dir>/apps.s`.
    /// Unused by generic and Node apps, which listen on TCP.
    pub instance_dir: Option<PathBuf>,
    /// Whether a root core runs apps as the owner of their startup file (the default,
    /// as in Apache and nginx); off, every app runs as `default_user`. Not root, apps
    /// always run as the core's own user.
    pub user_switching: bool,
    /// The installation's resources (loader scripts); defaults to
    /// [`resources::resources_dir`]. Ruby and Python apps fail to spawn without it.
    pub resources_dir: Option<PathBuf>,
    /// Where loaders' session sockets go. `None`: `<instance_dir>/apps.s` when
    /// `instance_dir` is set, else a private temp dir (see [`AppsDir`](super::apps_dir::AppsDir)). Socket
    /// paths must stay under [`MAX_SOCKET_PATH`](super::apps_dir::MAX_SOCKET_PATH) bytes, so keep this short.
    pub apps_dir: Option<PathBuf>,
}

impl Default for SpawnerOptions {
    fn default() -> SpawnerOptions {
        SpawnerOptions {
            default_user: "nobody".to_string(),
            default_group: None,
            instance_dir: None,
            user_switching: true,
            resources_dir: resources::resources_dir(),
            apps_dir: None,
        }
    }
}
