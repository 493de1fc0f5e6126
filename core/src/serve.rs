//! Serving HTTP/1.1 with hyper until the server stops, written once for the two
//! servers of a core: the client-facing one (`server`) and the admin API (`admin`).
//!
//! Owns: the accept loop (each connection handed to the caller, a failed accept
//! backed off instead of spun on) and the order in which a connection ends when the
//! server stops (a moment to end by itself, then hyper's graceful shutdown, which
//! lets the request in progress finish). It does not own what is served, how hyper
//! is configured, or how long the server waits for its connections: callers build
//! the connection and count them.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// How long a failed accept (usually EMFILE) waits before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A listening socket: what [`accept_until_stopped`] accepts from.
pub(crate) trait Listener {
    /// One accepted connection (with what the caller wants to know of its peer).
    type Accepted;
    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Accepted>> + Send;
}

impl Listener for UnixListener {
    type Accepted = UnixStream;
    async fn accept(&self) -> std::io::Result<UnixStream> {
        UnixListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// Accepts connections on `listener` and hands each to `on_accept` (which spawns
/// its task) until `stop` is true or its sender is gone. `name` says which server
/// in the log.
pub(crate) async fn accept_until_stopped<L: Listener>(
    listener: &L,
    name: &str,
    mut stop: watch::Receiver<bool>,
    mut on_accept: impl FnMut(L::Accepted),
) {
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => on_accept(accepted),
                Err(err) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::error!("{name}: accept failed: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    tracing::debug!("{name} stopped accepting connections");
}

/// A hyper server connection that can be asked to end gracefully: finish the
/// request in progress, take no new one.
pub(crate) trait GracefulConnection: Future<Output = hyper::Result<()>> {
    /// hyper's `graceful_shutdown`.
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for http1::Connection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: Read + Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self);
    }
}

impl<I, S, B> GracefulConnection for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: Read + Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::UpgradeableConnection::graceful_shutdown(self);
    }
}

/// How one connection ends once its server stops.
pub(crate) struct Ending<D, F> {
    /// Names the connection in the log ("client connection").
    pub name: &'static str,
    /// Closes the connection early (dropped, not shut down) when it completes: a
    /// timeout of the caller's. `std::future::pending()` for none.
    pub deadline: D,
    /// Runs once when the server stops, before anything else happens to the
    /// connection.
    pub on_stop: F,
    /// How long the connection may still end by itself after the stop (a
    /// keep-alive client's last request) before hyper's graceful shutdown.
    pub linger: Duration,
}

/// Drives `conn` until it ends or `ending.deadline` passes, or until `stop` is true
/// (or its sender is gone): then `on_stop` runs, the connection gets `linger` to end
/// by itself, then it is shut down gracefully and driven to its end.
pub(crate) async fn serve_until_stopped<C, D, F>(
    conn: C,
    mut stop: watch::Receiver<bool>,
    ending: Ending<D, F>,
) where
    C: GracefulConnection,
    D: Future<Output = ()>,
    F: FnOnce(),
{
    let Ending {
        name,
        deadline,
        on_stop,
        linger,
    } = ending;
    tokio::pin!(conn);
    if !*stop.borrow() {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(err) = res {
                    tracing::debug!("{name} ended: {err}");
                }
                return;
            }
            () = deadline => return,
            _ = stop.changed() => {}
        }
    }
    on_stop();
    if !linger.is_zero() {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(err) = res {
                    tracing::debug!("{name} ended during shutdown: {err}");
                }
                return;
            }
            () = tokio::time::sleep(linger) => {}
        }
    }
    conn.as_mut().graceful_shutdown();
    if let Err(err) = conn.await {
        tracing::debug!("{name} ended during shutdown: {err}");
    }
}
