//! Binding the server's listening sockets, or adopting the ones a watchdog holds.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::net::{TcpListener, TcpSocket, UnixListener};

use super::ServerError;
use crate::config::ListenAddr;

/// Listen backlog, Passenger's `socket_backlog` default.
const SOCKET_BACKLOG: u32 = 2048;

/// A listening socket the server accepts clients on.
pub(super) enum BoundListener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

pub(super) fn adopt_listeners(
    addrs: &[ListenAddr],
    fds: Vec<OwnedFd>,
) -> Result<Vec<BoundListener>, ServerError> {
    if fds.len() != addrs.len() {
        return Err(ServerError::Bind {
            addr: format!("{} inherited sockets", fds.len()),
            source: std::io::Error::other(format!(
                "expected {} inherited listening sockets, got {}",
                addrs.len(),
                fds.len()
            )),
        });
    }
    addrs
        .iter()
        .zip(fds)
        .map(|(addr, fd)| {
            let err = |source| ServerError::Bind {
                addr: format!("inherited socket for {addr:?}"),
                source,
            };
            match addr {
                ListenAddr::Tcp(_) => {
                    let std = std::net::TcpListener::from(fd);
                    std.set_nonblocking(true).map_err(err)?;
                    Ok(BoundListener::Tcp(TcpListener::from_std(std).map_err(err)?))
                }
                ListenAddr::Unix(path) => {
                    let std = std::os::unix::net::UnixListener::from(fd);
                    std.set_nonblocking(true).map_err(err)?;
                    Ok(BoundListener::Unix(
                        UnixListener::from_std(std).map_err(err)?,
                        path.clone(),
                    ))
                }
            }
        })
        .collect()
}

pub(super) fn bind(addr: &ListenAddr) -> Result<BoundListener, ServerError> {
    match addr {
        ListenAddr::Tcp(sock_addr) => {
            let err = |source| ServerError::Bind {
                addr: sock_addr.to_string(),
                source,
            };
            let socket = if sock_addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(err)?;
            socket.set_reuseaddr(true).map_err(err)?;
            socket.bind(*sock_addr).map_err(err)?;
            Ok(BoundListener::Tcp(
                socket.listen(SOCKET_BACKLOG).map_err(err)?,
            ))
        }
        ListenAddr::Unix(path) => {
            let err = |source| ServerError::Bind {
                addr: path.display().to_string(),
                source,
            };
            // A socket file left by a crashed server would make bind fail; only a
            // socket is removed, never a regular file given by mistake.
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_socket() {
                    std::fs::remove_file(path).map_err(err)?;
                }
            }
            let listener = UnixListener::bind(path).map_err(err)?;
            Ok(BoundListener::Unix(listener, path.clone()))
        }
    }
}
