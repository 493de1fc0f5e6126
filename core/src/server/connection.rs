//! One client connection: accepting it, serving it with hyper and the [`Proxy`], and
//! closing it when the server stops.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::bind::BoundListener;
use super::limits::{self, ClockedBody, ClockedIo, ConnClock, HttpLimits, LimitedBody};
use crate::proxy::forward::{PeerInfo, Proxy};
use crate::serve;

/// While stopping, how long an idle keep-alive client connection is kept open for a
/// last request (answered with `Connection: close`) before we close it.
const DRAIN_IDLE_KEEPALIVE: Duration = Duration::from_millis(500);

/// Accepts clients on `listener` until `stop`, serving each connection in a task of
/// its own that holds a clone of `token` (the server knows every connection has ended
/// when the last clone is dropped).
pub(super) async fn accept_loop(
    listener: BoundListener,
    proxy: Arc<Proxy>,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
    token: mpsc::Sender<()>,
) {
    serve::accept_until_stopped(&listener, "HTTP server", stop.clone(), |accepted| {
        let peer = match &accepted {
            Accepted::Tcp(_, peer) => Some(*peer),
            Accepted::Unix(_) => None,
        };
        let info = PeerInfo::new(peer, false).with_client(proxy.counters().client_connected());
        let (proxy, stop, token) = (proxy.clone(), stop.clone(), token.clone());
        match accepted {
            Accepted::Tcp(stream, _) => {
                tokio::spawn(serve_connection(stream, info, proxy, limits, stop, token));
            }
            Accepted::Unix(stream) => {
                tokio::spawn(serve_connection(stream, info, proxy, limits, stop, token));
            }
        }
    })
    .await;
}

/// A client connection and, over TCP, its address.
pub(super) enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

impl serve::Listener for BoundListener {
    type Accepted = Accepted;
    async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            BoundListener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                let _ = s.set_nodelay(true);
                Accepted::Tcp(s, peer)
            }),
            BoundListener::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        }
    }
}

async fn serve_connection<I>(
    io: I,
    peer: PeerInfo,
    proxy: Arc<Proxy>,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
    _token: mpsc::Sender<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    // Once the server stops, every answer on this connection says `Connection:
    // close`: a keep-alive client learns it from a response, instead of finding its
    // next request on a connection we closed under it (a failed request).
    let closing = Arc::new(std::sync::atomic::AtomicBool::new(*stop.borrow()));
    let closing_flag = closing.clone();
    let clock = ConnClock::new();
    let service_clock = clock.clone();
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let proxy = proxy.clone();
        let peer = peer.clone();
        let closing = closing_flag.clone();
        let busy = service_clock.busy();
        async move {
            let mut resp = match limits::check_head(&req, &limits) {
                Some(refused) => {
                    proxy.counters().response(refused.status().as_u16());
                    limits::with_status_header(refused)
                }
                None => {
                    let (parts, body) = req.into_parts();
                    let (body, too_large) = LimitedBody::new(body, &parts.headers, &limits);
                    let resp = proxy
                        .handle(http::Request::from_parts(parts, body), &peer)
                        .await;
                    if too_large.is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed)) {
                        // Whatever the proxy made of the failed body, the client
                        // learns why.
                        drop(resp);
                        let max = limits.max_request_body_size;
                        proxy.counters().response(413);
                        limits::with_status_header(limits::body_too_large(None, max))
                    } else {
                        resp
                    }
                }
            };
            if closing.load(std::sync::atomic::Ordering::Relaxed)
                && resp.status() != http::StatusCode::SWITCHING_PROTOCOLS
            {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, Infallible>(resp.map(|body| ClockedBody::new(body, busy)))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The connection clock times heads and idle connections (see `limits`).
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_size.max(limits::HYPER_READ_BUFFER))
        .max_header_size(limits.max_header_size)
        .keep_alive(true)
        // Header names as the app wrote them (see proxy::header_case); ours, and any
        // without a recorded spelling, Title-Cased as Passenger writes them.
        .preserve_header_case(true)
        .title_case_headers(true);
    let conn = builder
        .serve_connection(TokioIo::new(ClockedIo::new(io, clock.clone())), service)
        .with_upgrades();
    serve::serve_until_stopped(
        conn,
        stop,
        serve::Ending {
            name: "client connection",
            deadline: async {
                let why = clock.expired(&limits).await;
                tracing::debug!("closing client connection: {why:?} timeout");
            },
            on_stop: || closing.store(true, std::sync::atomic::Ordering::Relaxed),
            // A busy keep-alive client sends its next request within this and gets
            // `Connection: close` with the answer; only a connection idle that long is
            // closed from our side.
            linger: DRAIN_IDLE_KEEPALIVE,
        },
    )
    .await;
}
