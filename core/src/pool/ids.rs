//! The pool's names for its processes: the [`Gupid`] that identifies one process and
//! the [`ProcessAddress`] where it takes requests.
//!
//! Owns: these two value types, shared by the pool, the spawner (which fills them in)
//! and the proxy (which connects to an address). It does not allocate gupids (the
//! pool's state does) nor bind or connect to addresses.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

/// Group-unique process id, Passenger's `gupid`: stable name of one process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Gupid(pub String);

impl fmt::Display for Gupid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a ready process accepts HTTP requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ProcessAddress {
    /// A TCP address, normally on 127.0.0.1.
    Tcp(SocketAddr),
    /// A unix socket path speaking HTTP/1.1.
    Unix(PathBuf),
    /// A unix socket path speaking the session protocol of our Ruby and Python
    /// loaders (see ARCHITECTURE.md, "Session protocol").
    Session(PathBuf),
}

impl fmt::Display for ProcessAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessAddress::Tcp(addr) => write!(f, "tcp://{addr}"),
            ProcessAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ProcessAddress::Session(path) => write!(f, "session:{}", path.display()),
        }
    }
}
