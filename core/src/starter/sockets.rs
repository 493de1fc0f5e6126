//! The sockets bound once for every generation of workers, in the original's order.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::{StarterError, StarterOptions};
use crate::server::listen::{self, PortSpec, UnixBind};

/// Sockets bound for the workers, in `SERVER_STARTER_PORT` order.
#[derive(Debug, Default)]
pub(super) struct Sockets {
    /// `(name, socket)`; the socket's fd number is what workers get.
    pub(super) bound: Vec<(String, OwnedFd)>,
    /// Unix socket files we created, with their inode, removed at exit if still ours.
    unix_files: Vec<(PathBuf, u64, u64)>,
}

impl Sockets {
    pub(super) fn env_value(&self) -> String {
        let entries: Vec<(String, RawFd)> = self
            .bound
            .iter()
            .map(|(name, fd)| (name.clone(), fd.as_raw_fd()))
            .collect();
        listen::format_server_starter_port(&entries)
    }

    /// Binds every `--port` then every `--path`, as the original does. Sockets that
    /// go to a chosen fd are moved there only after everything of ours sits above
    /// the highest chosen number, so a move never replaces one of our own fds.
    pub(super) fn bind(
        opts: &StarterOptions,
        backlog: i32,
        log: &mut dyn Write,
    ) -> Result<Sockets, StarterError> {
        let specs = opts
            .ports
            .iter()
            .map(|p| PortSpec::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let floor = specs
            .iter()
            .filter_map(|s| s.fd)
            .max()
            .map_or(3, |m| m + 1)
            .max(3);
        let mut sockets = Sockets::default();
        for spec in &specs {
            let fd = lift(listen::bind_port(spec, backlog)?, floor)?;
            let fd = match spec.fd {
                Some(target) => {
                    let moved = listen::move_to_fd(fd, target)?;
                    let _ = writeln!(log, "socket is duplicated to file descriptor {target}");
                    moved
                }
                None => fd,
            };
            sockets.bound.push((spec.name.clone(), fd));
        }
        for path in &opts.paths {
            let (fd, how) = listen::bind_unix(path, backlog)?;
            if how == UnixBind::ReplacedStaleSocket {
                let _ = writeln!(log, "removing existing socket file:{}", path.display());
            }
            let fd = lift(fd, floor)?;
            use std::os::unix::fs::MetadataExt;
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                sockets
                    .unix_files
                    .push((path.clone(), meta.dev(), meta.ino()));
            }
            sockets.bound.push((path.display().to_string(), fd));
        }
        Ok(sockets)
    }

    /// Removes the unix socket files we created, if they are still the same files.
    pub(super) fn remove_unix_files(&mut self) {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        for (path, dev, ino) in self.unix_files.drain(..) {
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if meta.file_type().is_socket() && meta.dev() == dev && meta.ino() == ino {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

/// Moves `fd` to the lowest free number at or above `floor`, keeping it inheritable.
fn lift(fd: OwnedFd, floor: RawFd) -> Result<OwnedFd, StarterError> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    let raw = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_DUPFD(floor)).map_err(|e| {
        StarterError::Io {
            what: "fcntl(F_DUPFD) failed".to_string(),
            source: e.into(),
        }
    })?;
    drop(fd);
    // SAFETY: F_DUPFD returned a new open fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}
