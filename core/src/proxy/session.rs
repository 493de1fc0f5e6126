//! The core side of the session protocol spoken with the Ruby and Python loaders.
//!
//! Owns: encoding one request as a header block of CGI variables plus the body,
//! parsing the loader's HTTP/1.1 response head, streaming the response body (until
//! EOF, or exactly the announced length on a kept-alive connection), the cache of
//! idle kept-alive loader connections ([`IdleSessions`]), and tunnelling a `101`
//! (rack.hijack) connection. The protocol itself is specified in ARCHITECTURE.md
//! ("Session protocol"); the loaders live in `resources/helper-scripts/`.
//!
//! It does not choose the process or retry: [`forward`](super::forward) does both.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::forward::PeerInfo;
use super::{empty_body, ProxyBody};
use crate::pool::Session;

/// Largest response head a loader may send.
const MAX_HEAD: usize = 64 * 1024;

/// Read buffer for response bodies.
const READ_CHUNK: usize = 64 * 1024;

/// Response headers that describe the loader connection, not the response.
const DROPPED_RESPONSE_HEADERS: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "status",
    "x-passenger-request-oob-work",
    KEEP_ALIVE_HEADER,
];

/// The private response header with which a loader keeps the connection open: its
/// value is the number of body bytes that follow the head. Never sent to clients.
const KEEP_ALIVE_HEADER: &str = "!~keep-alive";

/// Idle kept-alive connections cached per loader socket: one for the request a
/// process is serving and one for each pipelined request it may hold, so that a
/// busy process never needs a new connection. Loaders keep more than this open.
const MAX_IDLE_PER_SOCKET: usize = crate::pool::state::PIPELINE_DEPTH as usize + 1;

/// How long a kept-alive connection waits for the task writing its request body to
/// return after the response ended, before it is closed instead of reused.
const WRITER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Above this many sockets in the idle cache, entries of exited processes are swept.
const SWEEP_ABOVE: usize = 64;

/// Request headers that are hop-by-hop and never become `HTTP_*` variables (except
/// on an upgrade, where the loader needs `Connection` and `Upgrade`).
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Why a request could not be exchanged with a loader.
#[derive(Debug, thiserror::Error)]
pub enum SessionProtocolError {
    /// Writing the request failed.
    #[error("cannot send the request to the loader")]
    Send(#[source] std::io::Error),
    /// Reading the response head failed or it ended early.
    #[error("incomplete response head from the loader")]
    Incomplete(#[source] std::io::Error),
    /// The response head is not valid HTTP.
    #[error("malformed response head from the loader: {0}")]
    Malformed(String),
    /// A reused kept-alive connection was closed before the loader answered: the
    /// loader dropped it while idle and never saw the request, which is safe to send
    /// again on a new connection if no request body was consumed.
    #[error("the reused loader connection was closed before the loader answered")]
    Stale(#[source] std::io::Error),
    /// The pool took the pipelined request back before the process started it; it
    /// can be sent to another process.
    #[error("the pipelined request was taken back before the process started it")]
    Withdrawn,
}

/// Idle kept-alive connections to session-protocol processes, by socket path.
///
/// Cheap to clone (shared). A connection is put back only after its response body
/// was read completely, while the pool session is still held, so the next session
/// of that process finds it.
#[derive(Debug, Default, Clone)]
pub struct IdleSessions {
    idle: Arc<Mutex<HashMap<PathBuf, Vec<UnixStream>>>>,
}

impl IdleSessions {
    /// An idle connection to the loader at `path`, if one is cached. Connections of
    /// a process that has exited (`password` is `None`: nothing is registered for
    /// the socket any more) are dropped.
    pub fn take(&self, path: &Path, password: Option<&str>) -> Option<UnixStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if password.is_none() {
            idle.remove(path);
            return None;
        }
        let list = idle.get_mut(path)?;
        let stream = list.pop();
        if list.is_empty() {
            idle.remove(path);
        }
        stream
    }

    /// Caches `stream`, idle after a complete response, for the loader at `path`.
    pub fn put(&self, path: &Path, stream: UnixStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() > SWEEP_ABOVE {
            idle.retain(|p, _| crate::spawn::connect_password_for(p).is_some());
        }
        let list = idle.entry(path.to_path_buf()).or_default();
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
    pub fn take_open(&self, path: &Path, password: Option<&str>) -> Option<UnixStream> {
        while let Some(stream) = self.take(path, password) {
            if still_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// How many idle connections are cached for `path`.
    pub fn count(&self, path: &Path) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(path).map_or(0, Vec::len)
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
    /// Whether it was taken from [`IdleSessions`] (it may have been closed since).
    pub reused: bool,
    /// The loader's socket, under which the connection is cached afterwards.
    pub path: PathBuf,
    /// Where the connection goes when the loader keeps it alive.
    pub idle: IdleSessions,
}

/// Whether the core can offer keep-alive for a request: its body length is known
/// up front (no body, or `Content-Length`) and it is not an upgrade, so the end of
/// the request does not depend on closing the connection.
pub fn can_keep_alive(parts: &http::request::Parts, body_is_empty: bool, upgrade: bool) -> bool {
    if upgrade {
        return false;
    }
    let has_length = parts.headers.contains_key(header::CONTENT_LENGTH);
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING) && !has_length;
    !chunked && (body_is_empty || has_length)
}

/// What the proxy knows about one request, for the header block.
pub struct RequestInfo<'a> {
    /// The request parts.
    pub parts: &'a http::request::Parts,
    /// The base URI the app is mounted under.
    pub base_uri: Option<&'a str>,
    /// The client.
    pub peer: PeerInfo,
    /// The secret the loader expects.
    pub connect_password: Option<&'a str>,
    /// Whether the client asked for a protocol upgrade.
    pub upgrade: bool,
    /// Offer keep-alive (`PASSENGER_KEEP_ALIVE=1`); see [`can_keep_alive`].
    pub keep_alive: bool,
    /// The claim number of a pipelined request (`PASSENGER_CLAIM`): the loader runs
    /// it only if it wins the claim (`spawn::pipeline`).
    pub claim: Option<u64>,
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
    let block = header_block(&info);
    let chunked = info.parts.headers.contains_key(header::TRANSFER_ENCODING)
        && !info.parts.headers.contains_key(header::CONTENT_LENGTH);
    let upgrade = info.upgrade;
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
        Writer::Task(tokio::spawn(write_request(
            write, block, body, chunked, upgrade,
        )))
    };

    let claim = session.claim().cloned();
    let head = match &claim {
        // A pipelined request waits for the process, or for the pool to take it back.
        Some(claim) => tokio::select! {
            head = read_head(&mut read, reused) => head,
            () = claim.withdrawn() => Err(SessionProtocolError::Withdrawn),
        },
        None => read_head(&mut read, reused).await,
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
    if let Some(spelling) = head.spelling {
        response.extensions_mut().extend(spelling);
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

async fn write_request(
    mut write: OwnedWriteHalf,
    block: Vec<u8>,
    mut body: ProxyBody,
    chunked: bool,
    upgrade: bool,
) -> std::io::Result<OwnedWriteHalf> {
    write.write_all(&block).await?;
    // A body whose length was not known up front goes in pieces, each a 4-byte
    // big-endian length and its bytes, and a zero length at the end: a body that
    // breaks off (the client's error, returned here) ends the connection without
    // that end, which the loader raises as an error instead of a shorter body.
    let framed = chunked && !upgrade;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            if framed {
                if data.is_empty() {
                    continue;
                }
                let len = u32::try_from(data.len()).map_err(std::io::Error::other)?;
                write.write_all(&len.to_be_bytes()).await?;
            }
            write.write_all(&data).await?;
        }
    }
    if framed {
        write.write_all(&[0, 0, 0, 0]).await?;
    }
    Ok(write)
}

pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// Makes hyper write the header names as the app spelled them
    /// ([`header_case`](super::header_case)); `None` when Title-Case does.
    spelling: Option<http::Extensions>,
    /// The app asked for out-of-band work.
    oob: bool,
    /// The loader keeps the connection open; this many body bytes follow the head.
    pub(crate) keep_alive: Option<u64>,
}

/// Reads the response head. On a `reused` connection, EOF or a reset before the
/// first byte is [`SessionProtocolError::Stale`]: the loader closed the idle
/// connection without reading the request.
pub(crate) async fn read_head(
    read: &mut OwnedReadHalf,
    reused: bool,
) -> Result<(Head, Bytes), SessionProtocolError> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let n = match read.read_buf(&mut buf).await {
            Ok(n) => n,
            // A loader that closes an idle connection with our request unread in it
            // resets the connection.
            Err(err)
                if reused
                    && buf.is_empty()
                    && err.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                return Err(SessionProtocolError::Stale(err))
            }
            Err(err) => return Err(SessionProtocolError::Incomplete(err)),
        };
        if n == 0 {
            let err = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the loader closed the connection before sending a response",
            );
            return Err(if reused && buf.is_empty() {
                SessionProtocolError::Stale(err)
            } else {
                SessionProtocolError::Incomplete(err)
            });
        }
        let mut raw = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Response::new(&mut raw);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = parsed
                    .code
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .ok_or_else(|| SessionProtocolError::Malformed("bad status code".into()))?;
                let mut headers = Vec::with_capacity(parsed.headers.len());
                let mut spelled: Vec<&[u8]> = Vec::with_capacity(parsed.headers.len());
                let mut oob = false;
                let mut keep_alive = None;
                for h in parsed.headers.iter() {
                    if h.name.eq_ignore_ascii_case("x-passenger-request-oob-work") {
                        oob = true;
                    }
                    if h.name.eq_ignore_ascii_case(KEEP_ALIVE_HEADER) {
                        keep_alive = Some(parse_length(h.value).ok_or_else(|| {
                            SessionProtocolError::Malformed(format!(
                                "bad {KEEP_ALIVE_HEADER} value {:?}",
                                String::from_utf8_lossy(h.value)
                            ))
                        })?);
                        continue;
                    }
                    if DROPPED_RESPONSE_HEADERS
                        .iter()
                        .any(|d| h.name.eq_ignore_ascii_case(d))
                        && status != StatusCode::SWITCHING_PROTOCOLS
                    {
                        continue;
                    }
                    let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                        SessionProtocolError::Malformed(format!("bad header name {:?}", h.name))
                    })?;
                    let value = HeaderValue::from_bytes(h.value).map_err(|_| {
                        SessionProtocolError::Malformed(format!("bad value for header {}", h.name))
                    })?;
                    headers.push((name, value));
                    spelled.push(h.name.as_bytes());
                }
                let spelled: Option<Vec<Vec<u8>>> =
                    (!spelled.iter().all(|n| super::header_case::is_title_case(n)))
                        .then(|| spelled.iter().map(|n| n.to_vec()).collect());
                let rest = buf.split_off(len).freeze();
                let spelling = match spelled {
                    Some(names) => super::header_case::extensions_for(&names).await,
                    None => None,
                };
                return Ok((
                    Head {
                        status,
                        headers,
                        spelling,
                        oob,
                        keep_alive,
                    },
                    rest,
                ));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(SessionProtocolError::Malformed(format!(
                    "response head larger than {MAX_HEAD} bytes"
                )))
            }
            Err(err) => return Err(SessionProtocolError::Malformed(err.to_string())),
        }
    }
}

/// A decimal byte count, digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether the request body goes to the loader framed (`PASSENGER_BODY_FRAMED`): a
/// chunked body, whose length is not known up front, outside an upgrade.
fn body_is_framed(parts: &http::request::Parts, upgrade: bool) -> bool {
    !upgrade
        && parts.headers.contains_key(header::TRANSFER_ENCODING)
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
}

/// Builds the length-prefixed block of `NAME\0VALUE\0` pairs.
pub fn header_block(info: &RequestInfo<'_>) -> Vec<u8> {
    let parts = info.parts;
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&[0, 0, 0, 0]);
    let mut put = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let base = info.base_uri.unwrap_or("");
    let path_info = path.strip_prefix(base).unwrap_or(path);
    put(b"REQUEST_METHOD", parts.method.as_str().as_bytes());
    put(b"SCRIPT_NAME", base.as_bytes());
    put(b"PATH_INFO", path_info.as_bytes());
    put(b"QUERY_STRING", query.as_bytes());
    put(
        b"REQUEST_URI",
        parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .as_bytes(),
    );
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let (server_name, server_port) = split_host(host, info.peer.https);
    put(b"SERVER_NAME", server_name.as_bytes());
    put(b"SERVER_PORT", server_port.as_bytes());
    put(b"SERVER_PROTOCOL", version_str(parts.version).as_bytes());
    put(b"SERVER_SOFTWARE", crate::SERVER_SOFTWARE.as_bytes());
    if let Some(remote) = info.peer.remote {
        put(b"REMOTE_ADDR", remote.ip().to_string().as_bytes());
        put(b"REMOTE_PORT", remote.port().to_string().as_bytes());
    } else {
        put(b"REMOTE_ADDR", b"127.0.0.1");
        put(b"REMOTE_PORT", b"0");
    }
    if info.peer.https {
        put(b"HTTPS", b"on");
    }
    for (name, value) in &info.peer.vars {
        put(name.as_bytes(), value.as_bytes());
    }
    if let Some(password) = info.connect_password {
        put(b"PASSENGER_CONNECT_PASSWORD", password.as_bytes());
    }
    if let Some(claim) = info.claim {
        put(b"PASSENGER_CLAIM", claim.to_string().as_bytes());
    }
    if info.keep_alive {
        put(b"PASSENGER_KEEP_ALIVE", b"1");
    }
    if body_is_framed(parts, info.upgrade) {
        put(b"PASSENGER_BODY_FRAMED", b"1");
    }
    if let Some(v) = parts.headers.get(header::CONTENT_TYPE) {
        put(b"CONTENT_TYPE", v.as_bytes());
    }
    if let Some(v) = parts.headers.get(header::CONTENT_LENGTH) {
        put(b"CONTENT_LENGTH", v.as_bytes());
    }
    let mut name_buf = Vec::with_capacity(64);
    for name in parts.headers.keys() {
        let n = name.as_str();
        if n == "content-type" || n == "content-length" {
            continue;
        }
        if !info.upgrade && HOP_BY_HOP.contains(&n) {
            continue;
        }
        // Headers whose names would collide after `-` → `_` are dropped, so a client
        // cannot forge one variable through another (CVE-2015-7519).
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        name_buf.clear();
        name_buf.extend_from_slice(b"HTTP_");
        name_buf.extend(n.bytes().map(|b| {
            if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            }
        }));
        let mut values = parts.headers.get_all(name).iter();
        let mut value: Vec<u8> = values
            .next()
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        for more in values {
            value.extend_from_slice(b", ");
            value.extend_from_slice(more.as_bytes());
        }
        put(&name_buf, &value);
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

fn split_host(host: &str, https: bool) -> (&str, String) {
    let default_port = if https { "443" } else { "80" };
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        if let Some((addr, port)) = rest.split_once("]:") {
            return (addr, port.to_string());
        }
        return (rest.trim_end_matches(']'), default_port.to_string());
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            (name, port.to_string())
        }
        _ => (host, default_port.to_string()),
    }
}

fn version_str(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    }
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
    idle: Option<(IdleSessions, PathBuf)>,
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

    fn pairs(block: &[u8]) -> Vec<(String, String)> {
        let len = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
        assert_eq!(len, block.len() - 4);
        let fields: Vec<&[u8]> = block[4..].split(|b| *b == 0).collect();
        fields
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| {
                (
                    String::from_utf8_lossy(c[0]).into_owned(),
                    String::from_utf8_lossy(c[1]).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn header_block_has_cgi_variables() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/app/items?x=1")
            .header("host", "example.test:8080")
            .header("content-type", "text/plain")
            .header("content-length", "5")
            .header("x-custom", "a")
            .header("x-custom", "b")
            .header("x_sneaky", "1")
            .header("connection", "keep-alive")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let info = RequestInfo {
            parts: &parts,
            base_uri: Some("/app"),
            peer: PeerInfo::new(Some("10.1.2.3:4567".parse().unwrap()), false),
            connect_password: Some("secret"),
            upgrade: false,
            keep_alive: false,
            claim: Some(7),
        };
        let vars = pairs(&header_block(&info));
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("REQUEST_METHOD"), Some("POST"));
        assert_eq!(get("PASSENGER_CLAIM"), Some("7"));
        assert_eq!(get("SCRIPT_NAME"), Some("/app"));
        assert_eq!(get("PATH_INFO"), Some("/items"));
        assert_eq!(get("QUERY_STRING"), Some("x=1"));
        assert_eq!(get("REQUEST_URI"), Some("/app/items?x=1"));
        assert_eq!(get("SERVER_NAME"), Some("example.test"));
        assert_eq!(get("SERVER_PORT"), Some("8080"));
        assert_eq!(get("REMOTE_ADDR"), Some("10.1.2.3"));
        assert_eq!(get("CONTENT_LENGTH"), Some("5"));
        assert_eq!(get("CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get("HTTP_X_CUSTOM"), Some("a, b"));
        assert_eq!(get("PASSENGER_CONNECT_PASSWORD"), Some("secret"));
        assert_eq!(get("HTTP_X_SNEAKY"), None, "underscore headers are dropped");
        assert_eq!(
            get("HTTP_CONNECTION"),
            None,
            "hop-by-hop headers are dropped"
        );
        assert_eq!(get("HTTP_CONTENT_LENGTH"), None);
        assert_eq!(get("PASSENGER_KEEP_ALIVE"), None, "keep-alive not offered");
    }

    fn parts(builder: http::request::Builder) -> http::request::Parts {
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn keep_alive_is_offered_only_for_bodies_of_known_length() {
        let get = parts(http::Request::builder().uri("/"));
        assert!(can_keep_alive(&get, true, false));
        assert!(!can_keep_alive(&get, true, true), "upgrades end at EOF");
        let post = parts(
            http::Request::builder()
                .method("POST")
                .header("content-length", "3"),
        );
        assert!(can_keep_alive(&post, false, false));
        let chunked = parts(
            http::Request::builder()
                .method("POST")
                .header("transfer-encoding", "chunked"),
        );
        assert!(!can_keep_alive(&chunked, false, false), "EOF ends the body");
        assert!(
            body_is_framed(&chunked, false),
            "a chunked body goes framed"
        );
        assert!(!body_is_framed(&chunked, true), "not inside an upgrade");
        assert!(
            !body_is_framed(&post, false),
            "a body of known length is not"
        );
        let unknown = parts(http::Request::builder().method("POST"));
        assert!(
            !can_keep_alive(&unknown, false, false),
            "a body without a length (HTTP/2) cannot be framed"
        );

        let info = RequestInfo {
            parts: &get,
            base_uri: None,
            peer: PeerInfo::new(None, false),
            connect_password: None,
            upgrade: false,
            keep_alive: true,
            claim: None,
        };
        let vars = pairs(&header_block(&info));
        assert!(
            vars.contains(&("PASSENGER_KEEP_ALIVE".to_string(), "1".to_string())),
            "{vars:?}"
        );
    }

    #[tokio::test]
    async fn keep_alive_header_is_parsed_and_stripped() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut read, _write) = a.into_split();
        b.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n!~Keep-Alive: 5\r\n\r\nhello")
            .await
            .unwrap();
        let (head, rest) = read_head(&mut read, false).await.unwrap();
        assert_eq!(head.keep_alive, Some(5));
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec!["content-type"],
            "the private header is never sent on"
        );
        assert_eq!(&rest[..], b"hello");
    }

    #[tokio::test]
    async fn bad_keep_alive_length_is_malformed() {
        for value in ["", "-1", "1x", "99999999999999999999999"] {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (mut read, _write) = a.into_split();
            b.write_all(format!("HTTP/1.1 200 OK\r\n!~Keep-Alive: {value}\r\n\r\n").as_bytes())
                .await
                .unwrap();
            assert!(
                matches!(
                    read_head(&mut read, false).await,
                    Err(SessionProtocolError::Malformed(_))
                ),
                "{value:?}"
            );
        }
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"12345"), Some(12345));
    }

    #[tokio::test]
    async fn eof_on_a_reused_connection_is_stale_only_before_the_first_byte() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (mut read, _write) = a.into_split();
        assert!(matches!(
            read_head(&mut read, true).await,
            Err(SessionProtocolError::Stale(_))
        ));

        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        drop(b);
        let (mut read, _write) = a.into_split();
        assert!(matches!(
            read_head(&mut read, true).await,
            Err(SessionProtocolError::Incomplete(_))
        ));
    }

    /// A response body over one end of a socket pair, as `exchange` builds it
    /// (without a pool session), with `first` already read along with the head.
    fn loader_body(
        stream: UnixStream,
        framed: Option<u64>,
        first: &[u8],
        idle: &IdleSessions,
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
        let idle = IdleSessions::default();
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
        let mut kept = idle
            .take(path, Some("password"))
            .expect("cached connection");
        let mut next = [0u8; 6];
        let n = kept.read(&mut next).await.unwrap();
        assert_eq!(&next[..n], b"dNEXT", "nothing past the frame was consumed");
        assert_eq!(idle.count(path), 0);
    }

    #[tokio::test]
    async fn take_open_skips_connections_the_loader_closed() {
        let idle = IdleSessions::default();
        let path = Path::new("/nonexistent/ruby.open");
        let (open, _open_peer) = UnixStream::pair().unwrap();
        idle.put(path, open);
        let (closed, closed_peer) = UnixStream::pair().unwrap();
        idle.put(path, closed);
        drop(closed_peer);
        let taken = idle
            .take_open(path, Some("pw"))
            .expect("the open connection");
        assert!(still_open(&taken));
        assert_eq!(idle.count(path), 0, "the closed one was dropped");
    }

    #[tokio::test]
    async fn a_full_idle_list_drops_its_oldest_connection() {
        let idle = IdleSessions::default();
        let path = Path::new("/nonexistent/ruby.full");
        let mut peers = Vec::new();
        for _ in 0..=MAX_IDLE_PER_SOCKET {
            let (a, b) = UnixStream::pair().unwrap();
            idle.put(path, a);
            peers.push(b);
        }
        assert_eq!(idle.count(path), MAX_IDLE_PER_SOCKET);
        let mut newest = peers.pop().unwrap();
        let taken = idle.take(path, Some("pw")).expect("cached");
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
        let idle = IdleSessions::default();
        let path = Path::new("/nonexistent/ruby.empty");
        let (a, _b) = UnixStream::pair().unwrap();
        let body = loader_body(a, Some(0), b"", &idle, path);
        assert!(body.is_end_stream());
        assert_eq!(idle.count(path), 1);
        assert!(
            idle.take(path, None).is_none(),
            "connections of an exited process (no password) are dropped"
        );
        assert_eq!(idle.count(path), 0);
    }

    #[tokio::test]
    async fn unframed_body_ends_at_eof_and_is_not_kept() {
        let idle = IdleSessions::default();
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
        let idle = IdleSessions::default();
        let path = Path::new("/nonexistent/ruby.short");
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"abc").await.unwrap();
        drop(b);
        let body = loader_body(a, Some(10), b"", &idle, path);
        assert!(body.collect().await.is_err());
        assert_eq!(idle.count(path), 0);
    }

    #[test]
    fn host_splitting() {
        assert_eq!(split_host("a.test", false), ("a.test", "80".to_string()));
        assert_eq!(split_host("a.test:81", true), ("a.test", "81".to_string()));
        assert_eq!(split_host("[::1]:82", false), ("::1", "82".to_string()));
        assert_eq!(split_host("[::1]", true), ("::1", "443".to_string()));
    }

    #[tokio::test]
    async fn response_head_is_parsed_and_connection_headers_dropped() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut read, _write) = a.into_split();
        b.write_all(b"HTTP/1.1 201 Whatever\r\nContent-Type: text/plain\r\nConnection: close\r\nStatus: 201\r\nX-Passenger-Request-OOB-Work: true\r\n\r\nhello")
            .await
            .unwrap();
        let (head, rest) = read_head(&mut read, false).await.unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["content-type"]);
        assert_eq!(&rest[..], b"hello");
    }

    #[tokio::test]
    async fn eof_before_head_is_incomplete() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (mut read, _write) = a.into_split();
        assert!(matches!(
            read_head(&mut read, false).await,
            Err(SessionProtocolError::Incomplete(_))
        ));
    }
}
