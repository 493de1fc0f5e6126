//! The request path: route → static file → checkout → forward → stream back → check-in.
//!
//! Owns [`Proxy`], the hyper service body of the core, and the cache of keep-alive
//! connections to app processes. The client's request body is read whole first (or,
//! with uploads streamed, handed to the app connection as it arrives), and the app's
//! response body is read frame by frame, holding the pool [`Session`] until the last
//! frame so the process counts as busy exactly as long as it works on the request;
//! unless it is a stream, it goes through a buffer so a slow client does not slow the
//! app down (see [`buffer`](super::buffer)).
//!
//! It does not accept client connections (see `server`) and does not choose the
//! process (see `pool`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};

use super::buffer::{self, BufferSettings};
use super::route::{Route, Router};
use super::session::{self, IdleConnections, LoaderConnection};
use super::{empty_body, error_page, static_files, ProxyBody};
use crate::app::AppSpec;
use crate::counters::{Counters, RequestTicket};
use crate::loader::{self, ClaimState, RequestInfo, SessionProtocolError};
use crate::pool::{CheckoutError, CheckoutKind, PoolHandle, Session};
use crate::pool::{Gupid, ProcessAddress};

/// How many times a request is re-routed when the chosen process cannot be reached
/// before any of the request was sent (Passenger retries up to 10 times).
const MAX_CHECKOUT_ATTEMPTS: usize = 5;

/// How many times one request may have its pipelined session withdrawn. Each
/// withdrawal blocks pipelining to that process until it makes progress, so this is
/// a backstop, never reached in practice.
const MAX_WITHDRAWALS: usize = 64;

/// Idle keep-alive connections kept per process.
const MAX_IDLE_PER_PROCESS: usize = 64;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
pub(crate) const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Passenger's `Status: <code> <reason>` response header.
const STATUS_HEADER: HeaderName = HeaderName::from_static("status");

/// The response header with which an app asks for out-of-band work; never sent on.
const OOB_WORK_HEADER: &str = "x-passenger-request-oob-work";

/// What the proxy knows about the client connection a request came on.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The client's address; `None` on a unix socket.
    pub remote: Option<SocketAddr>,
    /// Whether the client connection is TLS.
    pub https: bool,
    /// The client's IP as an `X-Forwarded-For` value, made once per connection.
    pub forwarded_for: Option<HeaderValue>,
    /// The connection as the server counts it (`/server.json`); `None` in tests.
    pub client: Option<Arc<crate::counters::ClientGuard>>,
    /// CGI variables for loader apps beyond the request's own (a web server
    /// module's `REMOTE_USER`).
    pub vars: Vec<(String, String)>,
}

impl PeerInfo {
    /// Describes a client connection.
    pub fn new(remote: Option<SocketAddr>, https: bool) -> PeerInfo {
        let forwarded_for = remote.and_then(|r| HeaderValue::from_str(&r.ip().to_string()).ok());
        PeerInfo {
            remote,
            https,
            forwarded_for,
            client: None,
            vars: Vec::new(),
        }
    }

    /// The same, counted as the server's client connection `client`.
    pub fn with_client(mut self, client: crate::counters::ClientGuard) -> PeerInfo {
        self.client = Some(Arc::new(client));
        self
    }
}

/// A response body that keeps its request listed in flight until it is dropped.
struct TrackedBody {
    inner: ProxyBody,
    _ticket: RequestTicket,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The per-request logic shared by every client connection.
#[derive(Debug)]
pub struct Proxy {
    router: RwLock<Arc<Router>>,
    pool: PoolHandle,
    conns: ConnectionCache,
    /// Idle kept-alive connections to session-protocol loaders.
    loader_conns: IdleConnections,
    counters: Arc<Counters>,
    /// Whether each app has a `public/` directory, and when that was checked:
    /// rechecked once a second (see `may_have_public_dir`).
    public_dirs: Mutex<HashMap<String, (std::time::Instant, bool)>>,
    /// Request paths that recently named no file in a `public/`.
    static_misses: static_files::Misses,
    /// `X-Powered-By`, added to every response from an app, as Passenger does.
    powered_by: HeaderValue,
    /// Set in the core of a web server module: requests name their app themselves.
    web_server: Option<super::web_server::Channel>,
    /// Where and how much request and response bodies are buffered.
    buffering: BufferSettings,
}

/// The `X-Powered-By` value: the product, and its version unless
/// `show_version_in_header` is off.
pub fn powered_by(show_version_in_header: bool) -> HeaderValue {
    if show_version_in_header {
        HeaderValue::from_static(concat!("passenger-rs ", env!("CARGO_PKG_VERSION")))
    } else {
        HeaderValue::from_static("passenger-rs")
    }
}

/// Passenger's `Status: <code> <reason>` header value.
fn status_value(status: StatusCode) -> HeaderValue {
    match status {
        StatusCode::OK => HeaderValue::from_static("200 OK"),
        StatusCode::NOT_MODIFIED => HeaderValue::from_static("304 Not Modified"),
        StatusCode::NOT_FOUND => HeaderValue::from_static("404 Not Found"),
        other => {
            let text = format!(
                "{} {}",
                other.as_u16(),
                other.canonical_reason().unwrap_or("")
            );
            HeaderValue::from_str(text.trim_end())
                .unwrap_or_else(|_| HeaderValue::from(other.as_u16()))
        }
    }
}

impl Proxy {
    /// A proxy routing with `router` to processes of `pool`; `powered_by` is the
    /// `X-Powered-By` of app responses (see [`powered_by`]).
    pub fn new(
        router: Router,
        pool: PoolHandle,
        counters: Arc<Counters>,
        powered_by: HeaderValue,
        web_server: Option<super::web_server::Channel>,
        buffering: BufferSettings,
    ) -> Arc<Proxy> {
        Arc::new(Proxy {
            router: RwLock::new(Arc::new(router)),
            pool,
            conns: ConnectionCache::default(),
            loader_conns: IdleConnections::default(),
            counters,
            public_dirs: Mutex::new(HashMap::new()),
            static_misses: static_files::Misses::default(),
            powered_by,
            web_server,
            buffering,
        })
    }

    /// Replaces the routing table (configuration reload).
    pub fn set_router(&self, router: Router) {
        let mut slot = self.router.write().unwrap_or_else(|e| e.into_inner());
        *slot = Arc::new(router);
    }

    /// Idle kept-alive connections to session-protocol loaders (for tests and stats).
    pub fn idle_loader_connections(&self) -> &IdleConnections {
        &self.loader_conns
    }

    /// The pool this proxy checks processes out of.
    pub fn pool(&self) -> &PoolHandle {
        &self.pool
    }

    /// Whether `app` may have a `public/` directory worth looking into. The answer
    /// is kept for a second either way: a missing directory then costs no system
    /// call per request, and an existing one no more than the file lookup itself.
    fn may_have_public_dir(&self, app: &AppSpec) -> bool {
        const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);
        let mut seen = self.public_dirs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((checked, exists)) = seen.get(&app.name) {
            if checked.elapsed() < RECHECK {
                return *exists;
            }
        }
        let exists = std::fs::symlink_metadata(app.app_root.join("public")).is_ok();
        if seen.len() >= 4096 {
            seen.clear(); // Apps come and go; the map never outgrows a bound.
        }
        seen.insert(app.name.clone(), (std::time::Instant::now(), exists));
        exists
    }

    /// The server's counters (requests, clients, spawns).
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Adds `X-Powered-By` to a response that came from an app, and buffers its
    /// body unless it is a stream or the app opted out (see [`buffer`]).
    async fn powered(&self, mut resp: Response<ProxyBody>, app: &AppSpec) -> Response<ProxyBody> {
        resp.headers_mut().append(
            header::HeaderName::from_static("x-powered-by"),
            self.powered_by.clone(),
        );
        let mode = buffer::response_mode(
            app.buffer_response,
            resp.status(),
            resp.headers(),
            resp.body(),
        );
        buffer::respond(resp, mode, &self.buffering).await
    }

    /// Answers one client request. It is listed in flight until its response body
    /// has been sent (or dropped). Every final response carries Passenger's `Status`
    /// header.
    pub async fn handle<B>(&self, req: Request<B>, peer: &PeerInfo) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let ticket = self.counters.request_begun(
            peer.client.as_deref(),
            req.method().as_str(),
            req.uri().path_and_query().map_or("/", |pq| pq.as_str()),
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok()),
        );
        let mut resp = self.answer(req, peer, &ticket).await;
        self.counters.response(resp.status().as_u16());
        if !resp.status().is_informational() {
            let status = status_value(resp.status());
            resp.headers_mut().insert(STATUS_HEADER, status);
        }
        resp.map(|inner| {
            TrackedBody {
                inner,
                _ticket: ticket,
            }
            .boxed_unsync()
        })
    }

    /// The steps of one request: route it, serve a `public/` file, take its body,
    /// forward it to a process.
    async fn answer<B>(
        &self,
        mut req: Request<B>,
        peer: &PeerInfo,
        ticket: &RequestTicket,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (route, web_peer) = match self.route(&mut req, peer) {
            Ok(routed) => routed,
            Err(resp) => return resp,
        };
        let peer = web_peer.as_ref().unwrap_or(peer);
        if let Some(resp) = self.serve_public(&req, &route).await {
            return resp;
        }
        let outgoing = match self.request_body(req, &route.app).await {
            Ok(outgoing) => outgoing,
            Err(resp) => return resp,
        };
        self.forward(outgoing, &route, peer, ticket).await
    }

    /// The app of a request: named by the web server module's reserved headers (with
    /// the client it describes), else by the routing table. `Err` is the answer for a
    /// request no app takes.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the request's answer, returned at once; boxing it would only add an allocation"
    )]
    fn route<B>(
        &self,
        req: &mut Request<B>,
        peer: &PeerInfo,
    ) -> Result<(Route, Option<PeerInfo>), Response<ProxyBody>> {
        let Some(channel) = &self.web_server else {
            let router = self
                .router
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| req.uri().host());
            return match router.route(host, req.uri().path()) {
                Some(route) => Ok((route, None)),
                None => Err(error_page::no_app()),
            };
        };
        let web = match channel.take(req.headers_mut()) {
            Ok(web) => web,
            Err(err @ super::web_server::ChannelError::BadOptions(_)) => {
                tracing::error!("the web server module sent bad app options: {err}");
                return Err(error_page::internal_error(Some(&err.to_string())));
            }
            Err(err) => {
                tracing::warn!("refused a request: {err}");
                return Err(error_page::bad_request());
            }
        };
        let mut web_peer = PeerInfo::new(web.remote, web.https);
        web_peer.client = peer.client.clone();
        web_peer.vars = web.vars;
        if let Some(app) = web.restart {
            // The app's processes would start differently now (another
            // environment): replace them one at a time, serving meanwhile.
            tracing::info!(group = %app.name, "the web server changed the app's options; restarting it (rolling)");
            let pool = self.pool.clone();
            tokio::spawn(async move {
                let _ = pool.update_app(app.clone());
                let _ = pool
                    .restart_group(&app.name, crate::pool::RestartMethod::Rolling)
                    .await;
            });
        }
        let base_uri = web.app.base_uri.clone();
        let route = Route {
            app: web.app,
            base_uri,
        };
        Ok((route, Some(web_peer)))
    }

    /// The answer from the app's `public/` directory, if a file there takes a GET or
    /// HEAD. Behind a web server, its module has already served the files that exist
    /// (and the page cache): a second lookup here would only find nothing again.
    async fn serve_public<B>(
        &self,
        req: &Request<B>,
        route: &Route,
    ) -> Option<Response<ProxyBody>> {
        let app = &route.app;
        if !(req.method() == http::Method::GET || req.method() == http::Method::HEAD)
            || self.web_server.is_some()
            || !self.may_have_public_dir(app)
        {
            return None;
        }
        let public = app.app_root.join("public");
        let pq = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        static_files::serve(
            &public,
            req.method(),
            pq,
            route.base_uri.as_deref(),
            req.headers(),
            &self.static_misses,
        )
        .await
    }

    /// The request as it goes to a process. Unless it is an upgrade or the app
    /// streams uploads, the whole body is read first, so a slow upload holds no
    /// process and a broken one never reaches the app. `Err` is the answer for a body
    /// that could not be read.
    async fn request_body<B>(
        &self,
        mut req: Request<B>,
        app: &AppSpec,
    ) -> Result<Outgoing, Response<ProxyBody>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let client_upgrade =
            is_upgrade_request(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let mut body_is_empty = body.is_end_stream();
        let mut body = body.map_err(std::io::Error::other).boxed_unsync();
        if !body_is_empty && client_upgrade.is_none() && app.buffer_upload {
            match buffer::spool_request(body, &self.buffering).await {
                Ok((spooled, len)) => {
                    body = spooled;
                    body_is_empty = len == 0;
                    parts.headers.remove(header::TRANSFER_ENCODING);
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                }
                Err(err @ buffer::BufferError::Body(_)) => {
                    tracing::info!(group = %app.name, "answering 400: {err}");
                    return Err(error_page::bad_request());
                }
                Err(err @ buffer::BufferError::Spool(_)) => {
                    tracing::error!(group = %app.name, "{err}");
                    return Err(error_page::internal_error(None));
                }
            }
        }
        Ok(Outgoing {
            parts,
            body: Some(body),
            body_is_empty,
            client_upgrade,
        })
    }

    /// Checks a process out and sends the request to it, over the session protocol
    /// or HTTP; another process is tried when one cannot be reached before any of the
    /// request was sent, and a withdrawn pipelined request asks again at the front
    /// of the queue.
    async fn forward(
        &self,
        mut out: Outgoing,
        route: &Route,
        peer: &PeerInfo,
        ticket: &RequestTicket,
    ) -> Response<ProxyBody> {
        let app = &route.app;
        let pipelinable = out.body_is_empty && out.client_upgrade.is_none();
        let mut retry = false;
        let mut attempts = 0;
        let mut withdrawals = 0;
        while attempts < MAX_CHECKOUT_ATTEMPTS {
            attempts += 1;
            let asked = std::time::Instant::now();
            let kind = CheckoutKind { pipelinable, retry };
            let checkout = self.pool.checkout_with(app.clone(), kind).await;
            self.counters.checkout(asked.elapsed());
            let session = match checkout {
                Ok(session) => session,
                Err(err) => return checkout_error_response(&err, app),
            };
            ticket.set_process(session.pid());
            let sent = match session.address().clone() {
                ProcessAddress::Session(path) => {
                    self.send_to_loader(&mut out, session, &path, route, peer)
                        .await
                }
                _ => self.send_over_http(&mut out, session, peer, app).await,
            };
            match sent {
                Sent::Answered(resp) => return resp,
                Sent::TryAnother => {}
                Sent::Withdrawn => {
                    withdrawals += 1;
                    if withdrawals > MAX_WITHDRAWALS {
                        return error_page::incomplete_response();
                    }
                    attempts -= 1;
                    retry = true;
                }
                Sent::GiveUp => break,
            }
        }
        tracing::error!(group = %app.name, "no process of {} could be reached", app.name);
        error_page::incomplete_response()
    }

    /// Sends the request to a loader process over the session protocol. A bodyless
    /// request on an idle connection the loader closed meanwhile is sent again on a
    /// new one (nothing was consumed); a pipelined one that is taken back is
    /// [`Sent::Withdrawn`].
    async fn send_to_loader(
        &self,
        out: &mut Outgoing,
        mut session: Session,
        path: &Path,
        route: &Route,
        peer: &PeerInfo,
    ) -> Sent {
        let app = &route.app;
        let upgrade = out.client_upgrade.is_some();
        // A pipelined request waits on its own connection until the busy process is
        // free, unless the pool takes it back (loader::pipeline).
        let claim = session.claim().cloned();
        if let Some(claim) = &claim {
            if claim.state() == ClaimState::Withdrawn {
                // It could not be pipelined after all: ask again.
                session.mark_withdrawn();
            } else {
                self.counters.pipelined();
            }
        }
        let keep_alive = loader::can_keep_alive(&out.parts, out.body_is_empty, upgrade);
        let password = session.connect_password().cloned();
        let mut cached = self.idle_loader_connection(path, keep_alive, out.body_is_empty);
        while !session.is_withdrawn() {
            let reused = cached.is_some();
            let stream = match cached.take() {
                Some(stream) => stream,
                None => match UnixStream::connect(path).await {
                    Err(_) if claim.as_ref().is_some_and(|c| c.withdraw()) => {
                        // Nothing was sent: ask again.
                        session.mark_withdrawn();
                        break;
                    }
                    Ok(stream) => stream,
                    Err(err) => {
                        unreachable_process(&mut session, app, &err);
                        break;
                    }
                },
            };
            let Some(body) = out.take_body() else {
                return Sent::Answered(error_page::incomplete_response());
            };
            let info = RequestInfo {
                parts: &out.parts,
                base_uri: route.base_uri.as_deref(),
                remote: peer.remote,
                https: peer.https,
                vars: &peer.vars,
                connect_password: password.as_deref(),
                upgrade,
                keep_alive,
                claim: claim.as_ref().map(|c| c.number()),
            };
            let conn = LoaderConnection {
                stream,
                reused,
                path: path.to_path_buf(),
                idle: self.loader_conns.clone(),
            };
            let pid = session.pid();
            let exchange = session::exchange(conn, info, body, session, out.client_upgrade.take());
            tokio::pin!(exchange);
            let Some(result) = within(app.max_request_time, exchange.as_mut()).await else {
                // Detached before the exchange (and its session) is dropped, so the
                // process gets no other request meanwhile.
                return Sent::Answered(self.request_timed_out(pid, true, app).await);
            };
            match result {
                Ok(resp) => return Sent::Answered(self.powered(resp, app).await),
                Err((SessionProtocolError::Withdrawn, mut s)) => {
                    s.mark_withdrawn();
                    session = s;
                }
                Err((SessionProtocolError::Stale(err), s)) if reused && out.body_is_empty => {
                    // The loader closed the idle connection (another connection came
                    // in, or it restarted); it never saw this request.
                    tracing::debug!(pid = s.pid(), "reused loader connection was closed: {err}");
                    session = s;
                }
                Err((err, session)) => {
                    // A stale connection with a body already consumed: the process is
                    // fine, but the request cannot be sent again.
                    tracing::warn!(
                        pid = session.pid(),
                        group = %app.name,
                        "incomplete response from process {}: {err}",
                        session.pid()
                    );
                    return Sent::Answered(error_page::incomplete_response());
                }
            }
        }
        if session.is_withdrawn() {
            // Taken back unstarted: ask again, keeping the place in the queue.
            Sent::Withdrawn
        } else {
            Sent::TryAnother
        }
    }

    /// An idle kept-alive connection to the loader at `path`, when keep-alive is
    /// offered. A request with a body cannot be sent twice, so it only takes a
    /// connection that is verifiably still open.
    fn idle_loader_connection(
        &self,
        path: &Path,
        keep_alive: bool,
        body_is_empty: bool,
    ) -> Option<UnixStream> {
        match (keep_alive, body_is_empty) {
            (false, _) => None,
            (true, true) => self.loader_conns.take(path),
            (true, false) => self.loader_conns.take_open(path),
        }
    }

    /// Sends the request to a process that speaks HTTP (generic and Node apps), on a
    /// kept-alive connection when one is idle. A bodyless request whose reused
    /// connection the app had closed goes to another attempt.
    async fn send_over_http(
        &self,
        out: &mut Outgoing,
        mut session: Session,
        peer: &PeerInfo,
        app: &AppSpec,
    ) -> Sent {
        let mut conn = match self.conns.checkout(&session).await {
            Ok(conn) => conn,
            Err(err) => {
                unreachable_process(&mut session, app, &err);
                return Sent::TryAnother;
            }
        };
        let Some(body) = out.take_body() else {
            return Sent::GiveUp;
        };
        let upgrade = out.client_upgrade.is_some();
        let upstream = build_upstream_request(&out.parts, body, peer, upgrade);
        let sent = within(app.max_request_time, conn.sender.send_request(upstream)).await;
        let Some(sent) = sent else {
            let pid = session.pid();
            session.mark_process_failed();
            drop(session);
            return Sent::Answered(self.request_timed_out(pid, false, app).await);
        };
        match sent {
            Ok(resp) => {
                let resp = self.respond(resp, session, conn, out.client_upgrade.take());
                Sent::Answered(self.powered(resp, app).await)
            }
            Err(err) if conn.reused && out.body_is_empty && retryable(&err) => {
                // The app closed an idle keep-alive connection as we reused it;
                // nothing reached it, so the request is safe to send again.
                tracing::debug!(pid = session.pid(), "reused connection was closed: {err}");
                Sent::TryAnother
            }
            Err(err) if err.is_user() => {
                // The client's body failed (cut short, over the size limit): the
                // process did nothing wrong.
                tracing::debug!(pid = session.pid(), "request body failed: {err}");
                Sent::Answered(error_page::bad_request())
            }
            Err(err) => {
                tracing::warn!(
                    pid = session.pid(),
                    group = %app.name,
                    "incomplete response from process {}: {err}",
                    session.pid()
                );
                session.mark_process_failed();
                Sent::Answered(error_page::incomplete_response())
            }
        }
    }

    /// 504 for a request that passed the app's `max_request_time`; the process `pid`
    /// is detached (here if `detach`, else by its failed session) and replaced.
    async fn request_timed_out(
        &self,
        pid: u32,
        detach: bool,
        app: &AppSpec,
    ) -> Response<ProxyBody> {
        tracing::warn!(
            group = %app.name,
            pid,
            "request took longer than max_request_time ({}s); answering 504 and replacing the process",
            app.max_request_time.as_secs()
        );
        if detach {
            let _ = self.pool.detach_process(pid).await;
        }
        error_page::gateway_timeout()
    }

    fn respond(
        &self,
        mut resp: Response<Incoming>,
        session: Session,
        conn: AppConnection,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ) -> Response<ProxyBody> {
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let app_upgrade = hyper::upgrade::on(&mut resp);
                tokio::spawn(tunnel(client_upgrade, app_upgrade, session));
                let (mut parts, _) = resp.into_parts();
                keep_only_end_to_end(&mut parts.headers, true);
                return Response::from_parts(parts, empty_body());
            }
        }
        let (mut parts, body) = resp.into_parts();
        keep_only_end_to_end(&mut parts.headers, false);
        let mut session = session;
        if parts.headers.contains_key(OOB_WORK_HEADER) {
            parts.headers.remove(OOB_WORK_HEADER);
            session.request_oob_work();
        }
        let body = SessionBody {
            inner: body,
            session: Some(session),
            conn: Some(conn),
            cache: self.conns.clone_handle(),
        };
        Response::from_parts(parts, body.boxed_unsync())
    }
}

/// A request on its way to a process.
struct Outgoing {
    parts: http::request::Parts,
    /// Taken by the attempt that sends it.
    body: Option<ProxyBody>,
    /// Whether the body is empty: an empty body can be sent again.
    body_is_empty: bool,
    /// The client's side of an upgrade (`Upgrade`/`Connection: upgrade`).
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Outgoing {
    /// The body for one attempt; `None` if an earlier attempt consumed it.
    fn take_body(&mut self) -> Option<ProxyBody> {
        match self.body.take() {
            Some(body) => Some(body),
            None if self.body_is_empty => Some(empty_body()),
            None => None,
        }
    }
}

/// How one attempt to send a request to a process ended.
enum Sent {
    /// With this answer for the client.
    Answered(Response<ProxyBody>),
    /// The process could not be reached before any of the request was sent:
    /// another attempt may check out another process.
    TryAnother,
    /// The pool took the pipelined request back unstarted: it asks again.
    Withdrawn,
    /// The body went with an earlier attempt; no other can be made.
    GiveUp,
}

/// The checked-out process does not accept connections: it is detached when the
/// session is checked in, and the request (not sent yet) goes to another process.
fn unreachable_process(session: &mut Session, app: &AppSpec, err: &std::io::Error) {
    tracing::warn!(
        pid = session.pid(),
        group = %app.name,
        "cannot connect to process {} at {}: {err}; detaching it",
        session.pid(),
        session.address()
    );
    session.mark_process_failed();
}

fn checkout_error_response(err: &CheckoutError, app: &AppSpec) -> Response<ProxyBody> {
    match err {
        CheckoutError::QueueFull { group } => {
            tracing::warn!(group = %group, "Returning HTTP 503 due to: request queue full");
            error_page::queue_full()
        }
        CheckoutError::SpawnFailed(spawn_err) => {
            tracing::error!(
                group = %app.name,
                error_id = %spawn_err.error_id,
                "Could not spawn process for application {}: {}\n  Error ID: {}\n  Output: {}",
                app.name,
                spawn_err.summary,
                spawn_err.error_id,
                spawn_err.output.trim_end()
            );
            error_page::spawn_error(spawn_err, app.friendly_error_pages)
        }
        CheckoutError::ShuttingDown => error_page::service_unavailable(),
    }
}

fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers, including those the Connection header names. With
/// `upgrade`, keeps `Connection: upgrade` and `Upgrade`, which an upgrade needs.
pub(crate) fn keep_only_end_to_end(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of these; one pass over the names is cheaper than
    // hashing every hop-by-hop name for a removal.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let upgrade_value = headers.get(header::UPGRADE).cloned();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if upgrade {
        if let Some(value) = upgrade_value {
            headers.insert(header::UPGRADE, value);
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }
}

pub(crate) fn build_upstream_request(
    parts: &http::request::Parts,
    body: ProxyBody,
    peer: &PeerInfo,
    upgrade: bool,
) -> Request<ProxyBody> {
    let mut headers = parts.headers.clone();
    keep_only_end_to_end(&mut headers, upgrade);
    if let Some(ip) = &peer.forwarded_for {
        let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(existing) => {
                HeaderValue::from_str(&format!("{existing}, {}", ip.to_str().unwrap_or_default()))
                    .unwrap_or_else(|_| ip.clone())
            }
            None => ip.clone(),
        };
        headers.insert("x-forwarded-for", value);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if peer.https { "https" } else { "http" }),
    );
    if !headers.contains_key(header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                headers.insert(header::HOST, value);
            }
        }
    }
    // Origin form: the path and query the client sent (no re-parsing).
    let mut uri_parts = http::uri::Parts::default();
    uri_parts.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    let uri = http::Uri::from_parts(uri_parts).unwrap_or_else(|_| http::Uri::from_static("/"));
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    // The client's header spellings (hyper's case map) go to the app too.
    *req.extensions_mut() = parts.extensions.clone();
    req
}

/// `fut`'s output, or `None` if `limit` (non-zero) passed first.
async fn within<F: std::future::Future>(limit: std::time::Duration, fut: F) -> Option<F::Output> {
    if limit.is_zero() {
        return Some(fut.await);
    }
    tokio::time::timeout(limit, fut).await.ok()
}

fn retryable(err: &hyper::Error) -> bool {
    err.is_canceled() || err.is_closed() || err.is_incomplete_message()
}

/// Copies bytes both ways between an upgraded client and an upgraded app connection,
/// holding the session until both sides are done.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    app: hyper::upgrade::OnUpgrade,
    session: Session,
) {
    match tokio::join!(client, app) {
        (Ok(client), Ok(app)) => {
            let mut client = TokioIo::new(client);
            let mut app = TokioIo::new(app);
            if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut app).await {
                tracing::debug!(pid = session.pid(), "upgraded connection ended: {err}");
            }
        }
        (client, app) => {
            tracing::debug!(
                pid = session.pid(),
                "upgrade did not complete: client {:?}, app {:?}",
                client.err(),
                app.err()
            );
        }
    }
    drop(session);
}

/// One HTTP/1.1 connection to an app process.
struct AppConnection {
    gupid: Gupid,
    sender: SendRequest<ProxyBody>,
    reused: bool,
}

/// Idle keep-alive connections to app processes, by process.
#[derive(Debug, Default, Clone)]
struct ConnectionCache {
    idle: Arc<Mutex<HashMap<Gupid, Vec<SendRequest<ProxyBody>>>>>,
}

impl ConnectionCache {
    fn clone_handle(&self) -> ConnectionCache {
        self.clone()
    }

    /// A ready connection to the session's process: a cached one, else a new one.
    async fn checkout(&self, session: &Session) -> std::io::Result<AppConnection> {
        loop {
            let cached = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(session.gupid());
                let sender = list.and_then(|l| l.pop());
                if sender.is_none() {
                    idle.remove(session.gupid());
                }
                sender
            };
            let Some(mut sender) = cached else { break };
            if sender.ready().await.is_ok() {
                return Ok(AppConnection {
                    gupid: session.gupid().clone(),
                    sender,
                    reused: true,
                });
            }
        }
        let sender = connect(session.address()).await?;
        Ok(AppConnection {
            gupid: session.gupid().clone(),
            sender,
            reused: false,
        })
    }

    fn checkin(&self, conn: AppConnection) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() > 256 {
            idle.retain(|_, list| {
                list.retain(|s| !s.is_closed());
                !list.is_empty()
            });
        }
        let list = idle.entry(conn.gupid).or_default();
        if list.len() < MAX_IDLE_PER_PROCESS {
            list.push(conn.sender);
        }
    }
}

impl std::fmt::Debug for AppConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConnection")
            .field("gupid", &self.gupid)
            .field("reused", &self.reused)
            .finish()
    }
}

async fn connect(address: &ProcessAddress) -> std::io::Result<SendRequest<ProxyBody>> {
    let mut builder = hyper::client::conn::http1::Builder::new();
    // Response header names reach the client as the app wrote them.
    builder.preserve_header_case(true);
    match address {
        ProcessAddress::Tcp(addr) => {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) = builder
                .handshake(TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(async move {
                if let Err(err) = conn.with_upgrades().await {
                    tracing::trace!("app connection ended: {err}");
                }
            });
            Ok(sender)
        }
        ProcessAddress::Session(path) => Err(std::io::Error::other(format!(
            "{} speaks the session protocol, not HTTP",
            path.display()
        ))),
        ProcessAddress::Unix(path) => {
            let stream = UnixStream::connect(path).await?;
            let (sender, conn) = builder
                .handshake(TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(async move {
                if let Err(err) = conn.with_upgrades().await {
                    tracing::trace!("app connection ended: {err}");
                }
            });
            Ok(sender)
        }
    }
}

/// The app's response body on its way to the client. Holds the session (the process
/// stays busy) until the last frame, then returns the connection for reuse.
struct SessionBody {
    inner: Incoming,
    session: Option<Session>,
    conn: Option<AppConnection>,
    cache: ConnectionCache,
}

impl SessionBody {
    /// The app's response ended cleanly: the connection can serve another request
    /// and the process is free again.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.cache.checkin(conn);
        }
        self.session.take();
    }
}

impl Body for SessionBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                if let Some(session) = this.session.as_mut() {
                    tracing::warn!(
                        pid = session.pid(),
                        "incomplete response body from process {}: {err}",
                        session.pid()
                    );
                    session.mark_process_failed();
                }
                this.conn.take();
                this.session.take();
                Poll::Ready(Some(Err(std::io::Error::other(err))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                // hyper stops polling a body of known length once `is_end_stream` says
                // so, so the end is noticed here rather than at `Ready(None)`.
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for SessionBody {
    fn drop(&mut self) {
        // Dropped after the last byte without a final poll (empty bodies, HEAD):
        // still a clean end. Dropped earlier (client went away): the connection has
        // unread response bytes and is not reused.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed_including_connection_tokens() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        keep_only_end_to_end(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn upgrade_keeps_upgrade_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade_request(&h));
        keep_only_end_to_end(&mut h, true);
        assert_eq!(h.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "upgrade");
    }

    #[test]
    fn forwarded_headers_are_added_and_host_kept() {
        let req = Request::builder()
            .uri("/a?b=1")
            .header(header::HOST, "example.test")
            .header("x-forwarded-for", "10.0.0.1")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let peer = PeerInfo::new(Some("127.0.0.1:5000".parse().unwrap()), false);
        let up = build_upstream_request(&parts, empty_body(), &peer, false);
        assert_eq!(up.uri(), "/a?b=1");
        assert_eq!(up.headers()["host"], "example.test");
        assert_eq!(up.headers()["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(up.headers()["x-forwarded-proto"], "http");
    }
}
