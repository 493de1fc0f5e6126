//! The server's listening sockets as tokio listeners: bound from the configuration,
//! or adopted from a watchdog. Binding and checking sockets is
//! [`listen`](super::listen)'s; this file only turns the sockets into listeners.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::net::{TcpListener, UnixListener};

use super::listen::{self, ListenError};
use super::ServerError;
use crate::config::ListenAddr;

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
            source: ListenError::Sys {
                what: "adopting the inherited sockets".into(),
                source: std::io::Error::other(format!(
                    "expected {} inherited listening sockets, got {}",
                    addrs.len(),
                    fds.len()
                )),
            },
        });
    }
    addrs
        .iter()
        .zip(fds)
        .map(|(addr, fd)| {
            listener(addr, fd).map_err(|source| ServerError::Bind {
                addr: format!("inherited socket for {}", listen::listen_url(addr)),
                source: ListenError::Sys {
                    what: "adopting it".into(),
                    source,
                },
            })
        })
        .collect()
}

pub(super) fn bind(addr: &ListenAddr) -> Result<BoundListener, ServerError> {
    let name = || match addr {
        ListenAddr::Tcp(a) => a.to_string(),
        ListenAddr::Unix(p) => p.display().to_string(),
    };
    let fd = listen::bind_listen_addr(addr).map_err(|source| ServerError::Bind {
        addr: name(),
        source,
    })?;
    listener(addr, fd).map_err(|source| ServerError::Bind {
        addr: name(),
        source: ListenError::Sys {
            what: "registering it with the runtime".into(),
            source,
        },
    })
}

/// A tokio listener on `fd`, a listening socket of `addr`'s kind.
fn listener(addr: &ListenAddr, fd: OwnedFd) -> std::io::Result<BoundListener> {
    match addr {
        ListenAddr::Tcp(_) => {
            let std = std::net::TcpListener::from(fd);
            std.set_nonblocking(true)?;
            Ok(BoundListener::Tcp(TcpListener::from_std(std)?))
        }
        ListenAddr::Unix(path) => {
            let std = std::os::unix::net::UnixListener::from(fd);
            std.set_nonblocking(true)?;
            Ok(BoundListener::Unix(
                UnixListener::from_std(std)?,
                path.clone(),
            ))
        }
    }
}
