//! systemd's readiness protocol (`sd_notify`): `READY=1`, `STOPPING=1` and
//! `STATUS=...` datagrams to the socket named by `NOTIFY_SOCKET`.
//!
//! Owns: finding the socket (a path, or `@name` in the abstract namespace) and
//! sending a state. It does not decide when to send: the process systemd watches
//! (the watchdog) does.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Where readiness goes; does nothing when not run under a notify-aware manager.
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<SocketAddr>,
}

impl Notifier {
    /// The notifier for the value of `NOTIFY_SOCKET` (`None`: unset, no-op).
    pub fn new(socket: Option<&std::ffi::OsStr>) -> std::io::Result<Notifier> {
        use std::os::unix::ffi::OsStrExt;
        let Some(raw) = socket.filter(|s| !s.is_empty()) else {
            return Ok(Notifier::default());
        };
        let bytes = raw.as_bytes();
        let target = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(std::path::Path::new(raw))?,
        };
        Ok(Notifier {
            target: Some(target),
        })
    }

    /// Whether a manager listens.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments).
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), target).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_the_notify_socket() {
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::new(Some(path.as_os_str())).expect("notifier");
        assert!(n.is_active());
        n.notify("READY=1\nSTATUS=serving").expect("send");
        let mut buf = [0u8; 128];
        let len = manager.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=serving");
        let off = Notifier::new(None).expect("none");
        assert!(!off.is_active());
        off.notify("READY=1").expect("a no-op");
    }

    #[test]
    fn abstract_names_are_supported() {
        let name = format!("passenger-rs-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let manager = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        let n = Notifier::new(Some(std::ffi::OsStr::new(&format!("@{name}")))).expect("notifier");
        n.notify("STOPPING=1").expect("send");
        let mut buf = [0u8; 64];
        let len = manager.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"STOPPING=1");
    }
}
