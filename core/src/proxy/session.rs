//! The core side of loader connections: sending one request to a Ruby or Python
//! loader and streaming its response back.
//!
//! Owns the exchange of one request over one connection (header block, body writer
//! task, response head, then the body until EOF, or exactly the announced length on
//! a kept-alive connection), the cache of idle kept-alive loader connections
//! ([`IdleConnections`]), and tunnelling a `101` (rack.hijack) connection. What goes
//! over the wire is the [`loader`](crate::loader) module's.
//!
//! It does not choose the process or retry: [`forward`](super::forward) does both.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::{empty_body, ProxyBody};
use crate::loader::{self, RequestInfo, SessionProtocolError};
use crate::pool::Session;

/// Read buffer for response bodies.
const READ_CHUNK: usize = 64 * 1024;

/// Idle kept-alive connections cached per loader socket: one for the request a
/// process is serving and one for each pipelined request it may hold, so that a
/// busy process never needs a new connection. Loaders keep more than this open.
const MAX_IDLE_PER_SOCKET: usize = crate::pool::state::PIPELINE_DEPTH as usize + 1;

/// How long a kept-alive connection waits for the task writing its request body to
/// return after the response ended, before it is closed instead of reused.
const WRITER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Above this many sockets in the idle cache, closed connections (those of exited
/// processes among them) are swept out.
const SWEEP_ABOVE: usize = 64;

/// Idle kept-alive connections to session-protocol processes, by socket path.
///
/// Cheap to clone (shared). A connection is put back only after its response body
/// was read completely, while the pool session is still held, so the next session
/// of that process finds it. Only a session of a live process takes one out, so the
/// connections of a process that exited are never used; they are dropped when the
/// cache grows (the process closed them when it exited).
#[derive(Debug, Default, Clone)]
pub struct IdleConnections {
    idle: Arc<Mutex<IdleMap>>,
}

/// The cached connections, and the size above which closed ones are swept out.
#[derive(Debug, Default)]
struct IdleMap {
    by_socket: HashMap<PathBuf, Vec<UnixStream>>,
    /// [`SWEEP_ABOVE`], or twice the sockets left by the last sweep if that is more:
    /// a cache of many live processes is not swept at every request.
    sweep_above: usize,
}

impl IdleMap {
    /// Drops every connection the loader closed, and the sockets left with none.
    fn sweep(&mut self) {
        self.by_socket.retain(|_, list| {
            list.retain(still_open);
            !list.is_empty()
        });
        self.sweep_above = SWEEP_ABOVE.max(2 * self.by_socket.len());
    }
}

impl IdleConnections {
    /// An idle connection to the loader at `path`, if one is cached.
    pub fn take(&self, path: &Path) -> Option<UnixStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.by_socket.get_mut(path)?;
        let stream = list.pop();
        if list.is_empty() {
            idle.by_socket.remove(path);
        }
        stream
    }

    /// Caches `stream`, idle after a complete response, for the loader at `path`.
    pub fn put(&self, path: &Path, stream: UnixStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.by_socket.len() > idle.sweep_above.max(SWEEP_ABOVE) {
            idle.sweep();
        }
        let list = idle.by_socket.entry(path.to_path_buf()).or_default();
        if list.len() >= MAX_IDLE_PER_SOCKET {
            // The oldest is the likeliest to be dead: a loader closes its oldest
            // idle connections when it holds too many.
            list.remove(0);
        }
        list.push(stream);
    }

    /// An idle connection to the loader at `path` that is still open right now,
    /// for requests with a body: those cannot be sent again if the loader turns out
    /// to have closed the connection, so closed ones are skipped first.
    pub fn take_open(&self, path: &Path) -> Option<UnixStream> {
        while let Some(stream) = self.take(path) {
            if still_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// How many idle connections are cached for `path`.
    pub fn count(&self, path: &Path) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.by_socket.get(path).map_or(0, Vec::len)
    }
}

/// Whether an idle connection is still open: no EOF, reset or stray bytes waiting.
fn still_open(stream: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    // SAFETY: the fd belongs to `stream`, alive for the call; the buffer is valid
    // for one byte. MSG_PEEK | MSG_DONTWAIT neither consumes data nor blocks.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

/// The loader connection one request is exchanged over.
pub struct LoaderConnection {
    /// The connected stream.
    pub stream: UnixStream,
    /// Whether it was taken from [`IdleConnections`] (it may have been closed since).
    pub reused: bool,
    /// The loader's socket, under which the connection is cached afterwards.
    pub path: PathBuf,
    /// Where the connection goes when the loader keeps it alive.
    pub idle: IdleConnections,
}

/// The request-writing side of a loader connection.
enum Writer {
    /// Everything was written; the half waits to be reunited with the read half.
    Done(OwnedWriteHalf),
    /// A task still writes the request body.
    Task(tokio::task::JoinHandle<std::io::Result<OwnedWriteHalf>>),
}

impl Writer {
    /// The write half once all of the request has been written.
    async fn finished(self) -> Option<OwnedWriteHalf> {
        match self {
            Writer::Done(write) => Some(write),
            Writer::Task(task) => task.await.ok().and_then(Result::ok),
        }
    }

    fn abort(&self) {
        if let Writer::Task(task) = self {
            task.abort();
        }
    }
}

/// Sends one request over `conn` and returns the response, whose body holds the
/// session until the response ends: at EOF, or, when the loader keeps the
/// connection alive, after the announced length, when the connection is put back
/// into the idle cache. A `101` answer is tunnelled to `client_upgrade`.
///
/// On a reused connection that turns out to be closed, the error is
/// [`SessionProtocolError::Stale`] and the process is not marked failed; any other
/// error marks it failed.
pub async fn exchange(
    conn: LoaderConnection,
    info: RequestInfo<'_>,
    body: ProxyBody,
    mut session: Session,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response<ProxyBody>, (SessionProtocolError, Session)> {
    let block = loader::header_block(&info);
    let framed_body = loader::body_is_framed(info.parts, info.upgrade);
    let chunked = info.parts.headers.contains_key(header::TRANSFER_ENCODING)
        && !info.parts.headers.contains_key(header::CONTENT_LENGTH);
    let keep_alive = info.keep_alive;
    let head_request = info.parts.method == http::Method::HEAD;
    let LoaderConnection {
        stream,
        reused,
        path,
        idle,
    } = conn;
    let (mut read, mut write) = stream.into_split();
    let writer = if body.is_end_stream() && !chunked {
        // Nothing but the header block to send: write it here, no task needed.
        if let Err(err) = write.write_all(&block).await {
            if let Some(err) = settle_pipelined(&mut session) {
                return Err((err, session));
            }
            if reused {
                return Err((SessionProtocolError::Stale(err), session));
            }
            session.mark_process_failed();
            return Err((SessionProtocolError::Send(err), session));
        }
        Writer::Done(write)
    } else {
        // The body is written by its own task so that a loader answering before it
        // has read the whole upload cannot deadlock against us.
        Writer::Task(tokio::spawn(loader::write_request(
            write,
            block,
            body,
            framed_body,
        )))
    };

    let claim = session.claim().cloned();
    let head = match &claim {
        // A pipelined request waits for the process, or for the pool to take it back.
        Some(claim) => tokio::select! {
            head = loader::read_head(&mut read, reused) => head,
            () = claim.withdrawn() => Err(SessionProtocolError::Withdrawn),
        },
        None => loader::read_head(&mut read, reused).await,
    };
    let (head, mut rest) = match head {
        Ok(parts) => {
            if let Some(claim) = &claim {
                claim.mark_started();
            }
            parts
        }
        Err(err) => {
            writer.abort();
            if let Some(err) = settle_pipelined(&mut session) {
                return Err((err, session));
            }
            if !matches!(err, SessionProtocolError::Stale(_)) {
                session.mark_process_failed();
            }
            return Err((err, session));
        }
    };
    if head.oob {
        session.request_oob_work();
    }
    let mut response = Response::new(empty_body());
    *response.status_mut() = head.status;
    if let Some(names) = &head.spelled {
        if let Some(spelling) = super::header_case::extensions_for(names).await {
            response.extensions_mut().extend(spelling);
        }
    }
    let headers = response.headers_mut();
    for (name, value) in head.headers {
        headers.append(name, value);
    }

    if head.status == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            tokio::spawn(async move {
                let Some(write) = writer.finished().await else {
                    return;
                };
                let Ok(mut stream) = read.reunite(write) else {
                    return;
                };
                if let Ok(client) = client_upgrade.await {
                    let mut client = TokioIo::new(client);
                    if !rest.is_empty() {
                        let _ = tokio::io::AsyncWriteExt::write_all(&mut client, &rest).await;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut stream).await;
                }
                drop(session);
            });
            return Ok(response);
        }
    }

    let framed = match head.keep_alive {
        Some(length) if keep_alive => Some(length),
        _ => None,
    };
    let mut reusable = framed.is_some();
    if let Some(length) = framed {
        if rest.len() as u64 > length {
            // More bytes than announced: the framing cannot be trusted.
            rest.truncate(length as usize);
            reusable = false;
        }
        if !head_request
            && body_allowed(head.status)
            && !headers.contains_key(header::CONTENT_LENGTH)
        {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    let mut body = LoaderBody {
        read: Some(read),
        buf: BytesMut::new(),
        leftover: None,
        remaining: framed,
        reusable,
        session: Some(session),
        writer: Some(writer),
        idle: framed.map(|_| (idle, path)),
        done: false,
    };
    body.take_leftover(rest);
    if body.remaining == Some(0) {
        body.finish();
    }
    *response.body_mut() = body.boxed_unsync();
    Ok(response)
}

/// After a failure before the response head of a pipelined request: whoever wins
/// its claim decides. Withdrawn, the request never ran and can go elsewhere;
/// claimed by the loader, it may have run, so the process is marked failed and the
/// request is not sent again (not even as `Stale`). `None` for other requests.
fn settle_pipelined(session: &mut Session) -> Option<SessionProtocolError> {
    let claim = session.claim()?;
    if claim.withdraw() {
        return Some(SessionProtocolError::Withdrawn);
    }
    session.mark_process_failed();
    Some(SessionProtocolError::Incomplete(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the process claimed the pipelined request but did not answer it",
    )))
}

/// Whether a response with `status` may carry a body (RFC 9110 §6.4.1).
fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// The loader's response body: everything until EOF, or exactly `remaining` bytes
/// on a kept-alive connection. Holds the session until then.
struct LoaderBody {
    read: Option<OwnedReadHalf>,
    buf: BytesMut,
    leftover: Option<Bytes>,
    /// Body bytes still expected on a kept-alive connection; `None`: until EOF.
    remaining: Option<u64>,
    /// The connection can serve another request once `remaining` reaches 0.
    reusable: bool,
    session: Option<Session>,
    writer: Option<Writer>,
    /// Where a kept-alive connection goes back to.
    idle: Option<(IdleConnections, PathBuf)>,
    done: bool,
}

impl LoaderBody {
    /// Queues bytes that came with the response head.
    fn take_leftover(&mut self, rest: Bytes) {
        if rest.is_empty() {
            return;
        }
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= rest.len() as u64;
        }
        self.leftover = Some(rest);
    }

    /// The response ended. A kept-alive connection whose request was completely
    /// written goes back to the idle cache before the session is released, so the
    /// next session of the process finds it.
    fn finish(&mut self) {
        self.done = true;
        if self.reusable {
            self.settle_writer();
        }
        let writer = self.writer.take();
        let read = self.read.take();
        let idle = self.idle.take();
        match (self.reusable, writer, read, idle) {
            (true, Some(Writer::Done(write)), Some(read), Some((idle, path))) => {
                if let Ok(stream) = read.reunite(write) {
                    idle.put(&path, stream);
                }
            }
            (true, Some(Writer::Task(task)), Some(read), Some((idle, path))) => {
                // The loader drained the request body before answering, so the task
                // writing it is about to return (it still waits for the client
                // body's end). The session is held until the connection is cached,
                // so the next session of the process finds it.
                let session = self.session.take();
                tokio::spawn(async move {
                    let abort = task.abort_handle();
                    match tokio::time::timeout(WRITER_GRACE, task).await {
                        Ok(Ok(Ok(write))) => {
                            if let Ok(stream) = read.reunite(write) {
                                idle.put(&path, stream);
                            }
                        }
                        Ok(_) => {}
                        Err(_) => abort.abort(),
                    }
                    drop(session);
                });
            }
            (_, Some(writer), _, _) => writer.abort(),
            _ => {}
        }
        self.session.take();
    }

    /// Turns a finished writer task into [`Writer::Done`] (or, if it failed, makes
    /// the connection unusable); a task still running is left as it is.
    fn settle_writer(&mut self) {
        if let Some(Writer::Task(task)) = self.writer.as_mut() {
            if !task.is_finished() {
                return;
            }
            // A finished task is ready at the first poll; no wake-up is needed.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match Pin::new(task).poll(&mut cx) {
                Poll::Ready(Ok(Ok(write))) => self.writer = Some(Writer::Done(write)),
                _ => self.reusable = false,
            }
        }
    }

    /// Hands out a chunk of body, finishing first if it is the last one (hyper
    /// drops a body of known length once it has all of its bytes).
    fn emit(&mut self, bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == Some(0) {
            self.finish();
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl Body for LoaderBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if let Some(bytes) = this.leftover.take() {
            return this.emit(bytes);
        }
        if this.done {
            return Poll::Ready(None);
        }

        let Some(read) = this.read.as_mut() else {
            this.finish();
            return Poll::Ready(None);
        };
        let want = match this.remaining {
            Some(remaining) => remaining.min(READ_CHUNK as u64) as usize,
            None => READ_CHUNK,
        };
        this.buf.reserve(want);
        let spare = &mut this.buf.spare_capacity_mut()[..want];
        let mut read_buf = ReadBuf::uninit(spare);
        match Pin::new(read).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                if n == 0 {
                    let short = this.remaining.is_some();
                    this.reusable = false;
                    this.finish();
                    if short {
                        // The loader announced more than it sent: an app whose
                        // Content-Length was wrong. Not the process's fault.
                        return Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the loader closed the connection before the announced end of the body",
                        ))));
                    }
                    return Poll::Ready(None);
                }
                // SAFETY: poll_read initialized the first `n` bytes of the spare
                // capacity, which directly follows the buffer's current length.
                unsafe { this.buf.set_len(this.buf.len() + n) };
                if let Some(remaining) = this.remaining.as_mut() {
                    *remaining -= n as u64;
                }
                let bytes = this.buf.split().freeze();
                this.emit(bytes)
            }
            Poll::Ready(Err(err)) => {
                if let Some(session) = this.session.as_mut() {
                    tracing::warn!(
                        pid = session.pid(),
                        "incomplete response body from process {}: {err}",
                        session.pid()
                    );
                    session.mark_process_failed();
                }
                this.reusable = false;
                this.finish();
                Poll::Ready(Some(Err(err)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.leftover.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.remaining, &self.leftover) {
            (Some(remaining), leftover) => {
                SizeHint::with_exact(remaining + leftover.as_ref().map_or(0, |b| b.len() as u64))
            }
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// (without a pool session), with `first` already read along with the head.
    fn loader_body(
        stream: UnixStream,
        framed: Option<u64>,
        first: &[u8],
        idle: &IdleConnections,
        path: &Path,
    ) -> LoaderBody {
        let (read, write) = stream.into_split();
        let mut body = LoaderBody {
            read: Some(read),
            buf: BytesMut::new(),
            leftover: None,
            remaining: framed,
            reusable: framed.is_some(),
            session: None,
            writer: Some(Writer::Done(write)),
            idle: framed.map(|_| (idle.clone(), path.to_path_buf())),
            done: false,
        };
        body.take_leftover(Bytes::copy_from_slice(first));
        if body.remaining == Some(0) {
            body.finish();
        }
        body
    }

    #[tokio::test]
    async fn framed_body_ends_at_its_length_and_the_connection_is_kept() {
        let idle = IdleConnections::default();
        let path = Path::new("/nonexistent/ruby.framed");
        let (a, mut b) = UnixStream::pair().unwrap();
        // The loader's body, then bytes that must stay unread (a next response).
        b.write_all(b"lo worldNEXT").await.unwrap();
        let body = loader_body(a, Some(10), b"hel", &idle, path);
        assert_eq!(body.size_hint().exact(), Some(10));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"hello worl");
        assert_eq!(
            idle.count(path),
            1,
            "the connection went back to the idle cache"
        );
        let mut kept = idle.take(path).expect("cached connection");
        let mut next = [0u8; 6];
        let n = kept.read(&mut next).await.unwrap();
        assert_eq!(&next[..n], b"dNEXT", "nothing past the frame was consumed");
        assert_eq!(idle.count(path), 0);
    }

    #[tokio::test]
    async fn take_open_skips_connections_the_loader_closed() {
        let idle = IdleConnections::default();
        let path = Path::new("/nonexistent/ruby.open");
        let (open, _open_peer) = UnixStream::pair().unwrap();
        idle.put(path, open);
        let (closed, closed_peer) = UnixStream::pair().unwrap();
        idle.put(path, closed);
        drop(closed_peer);
        let taken = idle.take_open(path).expect("the open connection");
        assert!(still_open(&taken));
        assert_eq!(idle.count(path), 0, "the closed one was dropped");
    }

    #[tokio::test]
    async fn a_full_idle_list_drops_its_oldest_connection() {
        let idle = IdleConnections::default();
        let path = Path::new("/nonexistent/ruby.full");
        let mut peers = Vec::new();
        for _ in 0..=MAX_IDLE_PER_SOCKET {
            let (a, b) = UnixStream::pair().unwrap();
            idle.put(path, a);
            peers.push(b);
        }
        assert_eq!(idle.count(path), MAX_IDLE_PER_SOCKET);
        let mut newest = peers.pop().unwrap();
        let taken = idle.take(path).expect("cached");
        drop(taken);
        let mut buf = [0u8; 1];
        assert_eq!(
            newest.read(&mut buf).await.unwrap(),
            0,
            "the newest connection is handed out first"
        );
    }

    #[tokio::test]
    async fn empty_framed_body_keeps_the_connection_at_once() {
        let idle = IdleConnections::default();
        let path = Path::new("/nonexistent/ruby.empty");
        let (a, _b) = UnixStream::pair().unwrap();
        let body = loader_body(a, Some(0), b"", &idle, path);
        assert!(body.is_end_stream());
        assert_eq!(idle.count(path), 1);
    }

    #[tokio::test]
    async fn a_growing_cache_drops_the_connections_of_exited_processes() {
        let idle = IdleConnections::default();
        let mut live = Vec::new();
        for i in 0..=SWEEP_ABOVE {
            let (a, b) = UnixStream::pair().unwrap();
            idle.put(&PathBuf::from(format!("/nonexistent/ruby.{i}")), a);
            if i % 2 == 0 {
                live.push(b); // The others' processes exited: their ends are closed.
            }
        }
        let newest = Path::new("/nonexistent/ruby.new");
        let (a, _b) = UnixStream::pair().unwrap();
        idle.put(newest, a);
        let sockets = idle.idle.lock().unwrap().by_socket.len();
        assert_eq!(sockets, live.len() + 1, "the closed connections were swept");
        assert_eq!(idle.count(Path::new("/nonexistent/ruby.0")), 1);
        assert_eq!(idle.count(Path::new("/nonexistent/ruby.1")), 0);
        assert_eq!(idle.count(newest), 1);
    }

    #[tokio::test]
    async fn unframed_body_ends_at_eof_and_is_not_kept() {
        let idle = IdleConnections::default();
        let path = Path::new("/nonexistent/ruby.eof");
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"streamed").await.unwrap();
        drop(b);
        let body = loader_body(a, None, b"", &idle, path);
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"streamed");
        assert_eq!(idle.count(path), 0);
    }

    #[tokio::test]
    async fn short_framed_body_is_an_error_and_not_kept() {
        let idle = IdleConnections::default();
        let path = Path::new("/nonexistent/ruby.short");
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"abc").await.unwrap();
        drop(b);
        let body = loader_body(a, Some(10), b"", &idle, path);
        assert!(body.collect().await.is_err());
        assert_eq!(idle.count(path), 0);
    }
}
