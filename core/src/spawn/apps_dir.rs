//! [`AppsDir`]: the directory of one spawner where loaders, preloaders and forked
//! workers listen, and fresh socket paths in it.
//!
//! The directory is [`SpawnerOptions::apps_dir`], else `<instance_dir>/apps.s`, else a
//! private temp dir `$TMPDIR/passenger-rs.<random>` created on first use and removed
//! once the spawner and all processes it started are gone (their reapers hold it).
//! Directories the spawner creates have mode 0700, or 01733 when the core runs as root
//! (switched users must be able to create their sockets; sticky and unlistable, so
//! they can neither remove nor find each other's).
//!
//! It does not remove sockets: a process's reaper does.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::unix;
use super::SpawnerOptions;

/// Longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The socket directory of one spawner, created on first use.
#[derive(Debug, Default)]
pub(crate) struct AppsDir {
    dir: OnceLock<Result<PathBuf, String>>,
    /// Set when the dir is the spawner's private temp dir, removed on drop.
    private: OnceLock<PathBuf>,
}

impl AppsDir {
    /// The directory, created (with the right mode) on first use.
    pub(crate) fn get(&self, options: &SpawnerOptions) -> Result<PathBuf, String> {
        self.dir
            .get_or_init(|| {
                let (dir, private) = match (&options.apps_dir, &options.instance_dir) {
                    (Some(dir), _) => (dir.clone(), false),
                    (None, Some(instance)) => (instance.join("apps.s"), false),
                    (None, None) => (
                        std::env::temp_dir()
                            .join(format!("passenger-rs.{:012x}", rand::random::<u64>() >> 16)),
                        true,
                    ),
                };
                // As root the dir must take sockets from every run-as user, also when
                // it exists already (the instance's apps.s/ is created 0700).
                if !dir.is_dir() || unix::is_root() {
                    make_dir(&dir, shared_dir_mode()).map_err(|e| {
                        format!(
                            "Could not create the socket directory {}: {e}",
                            dir.display()
                        )
                    })?;
                }
                if private {
                    let _ = self.private.set(dir.clone());
                }
                Ok(dir)
            })
            .clone()
    }

    /// Where loaders make their claims pipes (`PASSENGER_CLAIMS`): the socket
    /// directory. Claims go through the pipe, not the file system, so any file
    /// system does. `None` if there is no socket directory.
    pub(crate) fn claims_base(&self, options: &SpawnerOptions) -> Option<PathBuf> {
        self.get(options).ok()
    }

    /// A fresh socket path `<apps dir>/<prefix>.<random>`, checked against
    /// [`MAX_SOCKET_PATH`].
    pub(crate) fn new_socket_path(
        &self,
        options: &SpawnerOptions,
        prefix: &str,
    ) -> Result<PathBuf, String> {
        let dir = self.get(options)?;
        let socket = dir.join(format!("{prefix}.{:016x}", rand::random::<u64>()));
        if socket.as_os_str().as_bytes().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "The socket path {} is longer than {MAX_SOCKET_PATH} bytes; configure a shorter \
                 socket directory.",
                socket.display()
            ));
        }
        Ok(socket)
    }
}

impl Drop for AppsDir {
    fn drop(&mut self) {
        if let Some(dir) = self.private.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Mode of directories several run-as users must create sockets in.
fn shared_dir_mode() -> u32 {
    if nix::unistd::Uid::effective().is_root() {
        0o1733
    } else {
        0o700
    }
}

/// Creates `dir` and its parents with `mode`, whatever the umask (also when `dir`
/// exists already).
pub(crate) fn make_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)?;
    // The umask may have removed bits (and `recursive` skips an existing dir).
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
}
