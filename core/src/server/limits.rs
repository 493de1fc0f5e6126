//! The limits the HTTP front puts on clients: how large a request head and body may
//! be, and how slowly a client may send its head or idle between requests.
//!
//! Owns [`HttpLimits`] (the values and their defaults), the per-connection clock that
//! closes connections which idle too long or trickle their head in (slowloris), and
//! the checks that refuse a request before it reaches the proxy: 414 for a request
//! line over [`HttpLimits::max_request_line`], 413 for a body over
//! [`HttpLimits::max_request_body_size`] (by `Content-Length` up front; a chunked body
//! when its count passes the limit). A head over [`HttpLimits::max_header_size`] is
//! answered 431 by hyper, which reads heads. Per-app limits (memory, request time)
//! are the pool's and the proxy's.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::proxy::{error_page, ProxyBody};

/// Default of [`HttpLimits::max_header_size`]: 32 KiB, nginx's default
/// (`large_client_header_buffers 4 8k`) in one figure.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 32 * 1024;
/// Default of [`HttpLimits::max_request_line`]: 8 KiB, as nginx and Apache
/// (`LimitRequestLine 8190`).
pub const DEFAULT_MAX_REQUEST_LINE: usize = 8 * 1024;
/// Default of [`HttpLimits::header_read_timeout`]: 30 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`HttpLimits::keep_alive_timeout`]: 60 s.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`HttpLimits::max_request_body_size`]: 1 GiB.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: u64 = 1024 * 1024 * 1024;
/// hyper's default largest read buffer; it must hold a whole head.
pub(crate) const HYPER_READ_BUFFER: usize = 8192 + 4096 * 100;
/// The smallest [`HttpLimits::max_header_size`] accepted: hyper's first read.
pub const MIN_HEADER_SIZE: usize = 8192;

/// What a client may send, and how slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The request head (request line and headers) in bytes; over it: 431.
    pub max_header_size: usize,
    /// The request line in bytes; over it: 414.
    pub max_request_line: usize,
    /// A request head must arrive whole within this after its first byte (after the
    /// connection opened, for the first request); else the connection is closed.
    /// Zero: no limit.
    pub header_read_timeout: Duration,
    /// A connection idle this long between two requests is closed. Zero: no limit.
    pub keep_alive_timeout: Duration,
    /// The request body in bytes; over it: 413. Zero: no limit.
    pub max_request_body_size: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_request_line: DEFAULT_MAX_REQUEST_LINE,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
        }
    }
}

/// Why [`ConnClock::expired`] closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// A request head did not arrive whole within `header_read_timeout`.
    HeaderRead,
    /// The connection idled between requests for `keep_alive_timeout`.
    KeepAlive,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in flight since `since`; `head` is when the next head's first byte
    /// came; `fresh` until the connection's first request.
    Waiting {
        since: Instant,
        head: Option<Instant>,
        fresh: bool,
    },
    /// This many requests in flight (their responses not yet sent).
    Busy(u32),
}

/// One client connection's clock: whether it is idle, reading a head or busy.
#[derive(Debug)]
pub(crate) struct ConnClock {
    phase: Mutex<Phase>,
    /// Set while waiting for the first byte of a head, so that reads cost one atomic
    /// load otherwise.
    watching: AtomicBool,
    changed: Notify,
}

impl ConnClock {
    /// The clock of a connection accepted now.
    pub fn new() -> Arc<ConnClock> {
        Arc::new(ConnClock {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                head: None,
                fresh: true,
            }),
            watching: AtomicBool::new(true),
            changed: Notify::new(),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes came from the client.
    fn bytes_read(&self) {
        if self.watching.load(Ordering::Relaxed) && self.watching.swap(false, Ordering::Relaxed) {
            if let Phase::Waiting { head, .. } = &mut *self.phase() {
                head.get_or_insert_with(Instant::now);
            }
            self.changed.notify_one();
        }
    }

    /// A request head was read: the connection is busy until the guard is dropped
    /// (with the response body, once it is sent).
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        {
            let mut phase = self.phase();
            *phase = match *phase {
                Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
                Phase::Waiting { .. } => Phase::Busy(1),
            };
        }
        self.watching.store(false, Ordering::Relaxed);
        self.changed.notify_one();
        BusyGuard(self.clone())
    }

    fn done(&self) {
        {
            let mut phase = self.phase();
            *phase = match *phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => {
                    self.watching.store(true, Ordering::Relaxed);
                    Phase::Waiting {
                        since: Instant::now(),
                        head: None,
                        fresh: false,
                    }
                }
            };
        }
        self.changed.notify_one();
    }

    /// The deadline in force, and what passing it means.
    fn deadline(&self, limits: &HttpLimits) -> Option<(Instant, Expiry)> {
        let after = |t: Instant, d: Duration, why| (!d.is_zero()).then(|| (t + d, why));
        match *self.phase() {
            Phase::Busy(_) => None,
            Phase::Waiting {
                head: Some(head), ..
            } => after(head, limits.header_read_timeout, Expiry::HeaderRead),
            // A new connection owes its first head: that is a header read.
            Phase::Waiting {
                since, fresh: true, ..
            } => after(since, limits.header_read_timeout, Expiry::HeaderRead),
            Phase::Waiting { since, .. } => {
                after(since, limits.keep_alive_timeout, Expiry::KeepAlive)
            }
        }
    }

    /// Resolves once the connection has idled or been reading a head for too long.
    pub async fn expired(&self, limits: &HttpLimits) -> Expiry {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.deadline(limits) {
                None => notified.await,
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
            }
        }
    }
}

/// Keeps its connection busy while alive; see [`ConnClock::busy`].
#[derive(Debug)]
pub(crate) struct BusyGuard(Arc<ConnClock>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// A client connection that tells its [`ConnClock`] when bytes arrive.
pub(crate) struct ClockedIo<I> {
    inner: I,
    clock: Arc<ConnClock>,
}

impl<I> ClockedIo<I> {
    pub fn new(inner: I, clock: Arc<ConnClock>) -> ClockedIo<I> {
        ClockedIo { inner, clock }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ClockedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.bytes_read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ClockedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that keeps its connection busy until it is sent (or dropped).
pub(crate) struct ClockedBody {
    inner: ProxyBody,
    _busy: BusyGuard,
}

impl ClockedBody {
    pub fn new(inner: ProxyBody, busy: BusyGuard) -> ClockedBody {
        ClockedBody { inner, _busy: busy }
    }
}

impl Body for ClockedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The length of the request line hyper parsed: method, target and version.
fn request_line_len<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let target = match (uri.scheme_str(), uri.authority()) {
        // Absolute form (`GET http://host/path HTTP/1.1`).
        (Some(scheme), Some(authority)) => {
            scheme.len()
                + "://".len()
                + authority.as_str().len()
                + uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        }
        // Authority form (`CONNECT host:443`), origin form, `*`.
        _ => uri
            .path_and_query()
            .map(|pq| pq.as_str().len())
            .or_else(|| uri.authority().map(|a| a.as_str().len()))
            .unwrap_or(1),
    };
    req.method().as_str().len() + 1 + target + " HTTP/1.1".len()
}

/// The declared body length, if the request has a valid `Content-Length`.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The answer to a request that breaks a limit before its body is read: 414 for a
/// request line over the limit, 413 for a `Content-Length` over the body limit.
pub(crate) fn check_head<B>(req: &Request<B>, limits: &HttpLimits) -> Option<Response<ProxyBody>> {
    let line = request_line_len(req);
    if line > limits.max_request_line {
        return Some(error_page::limit_exceeded(
            StatusCode::URI_TOO_LONG,
            &format!(
                "The request line is {line} bytes long; this server accepts at most {}.",
                limits.max_request_line
            ),
        ));
    }
    let max = limits.max_request_body_size;
    if max > 0 {
        if let Some(length) = content_length(req.headers()).filter(|l| *l > max) {
            return Some(body_too_large(Some(length), max));
        }
    }
    None
}

/// The 413 page.
pub(crate) fn body_too_large(length: Option<u64>, max: u64) -> Response<ProxyBody> {
    let message = match length {
        Some(length) => {
            format!("The request body is {length} bytes long; this server accepts at most {max}.")
        }
        None => format!("The request body is longer than the {max} bytes this server accepts."),
    };
    error_page::limit_exceeded(StatusCode::PAYLOAD_TOO_LARGE, &message)
}

/// A 4xx answer the server gives itself, with Passenger's `Status` header.
pub(crate) fn with_status_header(mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let status = resp.status();
    let text = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if let Ok(value) = HeaderValue::from_str(text.trim_end()) {
        resp.headers_mut()
            .insert(http::HeaderName::from_static("status"), value);
    }
    resp
}

/// The error a [`LimitedBody`] ends with once its count passes the limit.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than {max} bytes")]
pub struct BodyTooLarge {
    /// The limit.
    pub max: u64,
}

/// A request body that fails with [`BodyTooLarge`] once more than `max` bytes came,
/// and says so through its flag. Bodies with a `Content-Length` within the limit are
/// framed by hyper and not counted.
pub struct LimitedBody<B> {
    inner: B,
    /// `None`: not counted.
    count: Option<(u64, u64, Arc<AtomicBool>)>,
}

impl<B: Body> LimitedBody<B> {
    /// `inner` limited by `limits`; the flag (if counted) turns true when it fails.
    /// Bodies that are empty (most requests) or framed by a `Content-Length` are not
    /// counted, and cost nothing.
    pub(crate) fn new(
        inner: B,
        headers: &http::HeaderMap,
        limits: &HttpLimits,
    ) -> (LimitedBody<B>, Option<Arc<AtomicBool>>) {
        let max = limits.max_request_body_size;
        if max == 0 || inner.is_end_stream() || content_length(headers).is_some() {
            return (LimitedBody { inner, count: None }, None);
        }
        let flag = Arc::new(AtomicBool::new(false));
        (
            LimitedBody {
                inner,
                count: Some((0, max, flag.clone())),
            },
            Some(flag),
        )
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let (Some((seen, max, flag)), Some(data)) = (this.count.as_mut(), frame.data_ref()) {
            *seen = seen.saturating_add(data.len() as u64);
            if *seen > *max {
                flag.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(BodyTooLarge { max: *max }))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn limits() -> HttpLimits {
        HttpLimits {
            max_request_line: 64,
            max_request_body_size: 10,
            ..HttpLimits::default()
        }
    }

    #[test]
    fn long_request_lines_get_414_and_large_declared_bodies_413() {
        let ok = Request::get("/short").body(()).unwrap();
        assert!(check_head(&ok, &limits()).is_none());
        let long = Request::get(format!("/{}", "a".repeat(60)))
            .body(())
            .unwrap();
        let resp = check_head(&long, &limits()).expect("refused");
        assert_eq!(resp.status(), StatusCode::URI_TOO_LONG);
        let big = Request::post("/")
            .header("content-length", "11")
            .body(())
            .unwrap();
        assert_eq!(
            check_head(&big, &limits()).unwrap().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let exact = Request::post("/")
            .header("content-length", "10")
            .body(())
            .unwrap();
        assert!(check_head(&exact, &limits()).is_none());
        let unlimited = HttpLimits {
            max_request_body_size: 0,
            ..limits()
        };
        assert!(check_head(&big, &unlimited).is_none());
    }

    #[test]
    fn absolute_form_targets_count_whole() {
        let req = Request::get("http://example.test/abc").body(()).unwrap();
        assert_eq!(
            request_line_len(&req),
            "GET http://example.test/abc HTTP/1.1".len()
        );
    }

    #[tokio::test]
    async fn a_chunked_body_fails_once_past_the_limit() {
        let frames = ["12345", "67890", "1"]
            .into_iter()
            .map(|s| Ok::<_, std::io::Error>(Frame::data(Bytes::from(s))));
        let body = StreamBody::new(futures_util::stream::iter(frames));
        let (mut limited, flag) = LimitedBody::new(body, &http::HeaderMap::new(), &limits());
        let flag = flag.expect("counted");
        let mut seen = 0;
        loop {
            match limited.frame().await {
                Some(Ok(frame)) => seen += frame.into_data().unwrap().len(),
                Some(Err(err)) => {
                    assert!(err.to_string().contains("larger than 10"), "{err}");
                    break;
                }
                None => panic!("the body should have failed"),
            }
        }
        assert_eq!(seen, 10);
        assert!(flag.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_slow_head_deadlines() {
        let limits = HttpLimits {
            header_read_timeout: Duration::from_secs(3),
            keep_alive_timeout: Duration::from_secs(10),
            ..HttpLimits::default()
        };
        // A fresh connection owes its head within the header timeout.
        let clock = ConnClock::new();
        let start = Instant::now();
        assert_eq!(clock.expired(&limits).await, Expiry::HeaderRead);
        assert_eq!(start.elapsed(), Duration::from_secs(3));

        // Busy: no deadline; idle afterwards: the keep-alive timeout.
        let clock = ConnClock::new();
        let guard = clock.busy();
        let waited = tokio::time::timeout(Duration::from_secs(100), clock.expired(&limits)).await;
        assert!(waited.is_err(), "a busy connection never expires");
        drop(guard);
        let start = Instant::now();
        assert_eq!(clock.expired(&limits).await, Expiry::KeepAlive);
        assert_eq!(start.elapsed(), Duration::from_secs(10));

        // A head begun while idle must finish within the header timeout.
        let clock = ConnClock::new();
        drop(clock.busy());
        tokio::time::advance(Duration::from_secs(5)).await;
        clock.bytes_read();
        let start = Instant::now();
        assert_eq!(clock.expired(&limits).await, Expiry::HeaderRead);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
