//! Readiness checks: picking a free loopback port and polling it until it accepts, and
//! polling a loader's session socket until it accepts.
//!
//! Owns the `PORT` choice and the connect-ping of generic and Node apps (internals
//! §3.2 step 5, §3.4), and the connect-ping of Ruby and Python loaders. It does not
//! watch the process: the caller races this against the process's exit and the start
//! timeout.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

/// Time between two connection attempts.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Asks the kernel for a free port on 127.0.0.1 and releases it for the app.
///
/// Another program could take the port before the app binds it; the app then fails to
/// listen and the spawn fails with its output, which is the same outcome Passenger has.
pub fn pick_free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Resolves once `addr` accepts a TCP connection. Never gives up: the caller bounds it.
pub async fn wait_until_accepts(addr: SocketAddr) {
    loop {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await
        {
            // On Linux, connecting to a free port in the ephemeral range can "succeed"
            // by connecting the socket to itself (TCP simultaneous open). That is not
            // the app.
            if stream.local_addr().ok() != Some(addr) {
                return;
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Resolves once the unix socket at `path` accepts a connection. The connection is
/// closed at once without a header block, which loaders treat as a no-op request.
/// Never gives up: the caller bounds it.
pub async fn wait_until_unix_accepts(path: &Path) {
    loop {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(500), UnixStream::connect(path)).await
        {
            drop(stream);
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detects_a_listener() {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::time::timeout(Duration::from_secs(5), wait_until_accepts(addr))
            .await
            .expect("listener is seen");
    }

    #[tokio::test]
    async fn keeps_waiting_without_listener() {
        let port = pick_free_port().expect("free port");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let waited =
            tokio::time::timeout(Duration::from_millis(200), wait_until_accepts(addr)).await;
        assert!(waited.is_err());
    }
}
