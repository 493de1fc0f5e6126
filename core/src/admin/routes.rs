//! Request routing and the endpoint handlers of the admin API.
//!
//! Order of checks per request, as in the original: route (404), method (405),
//! authorization (401), body size (413), JSON syntax (422), required fields (400).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::auth::{authorize, Access};
use super::pool_text::{self, TextOptions};
use super::prometheus::{self, ServerMetrics};
use super::{pool_xml, AdminState, LogLevel};
use crate::pool::{PoolError, PoolSnapshot, RestartMethod};

/// Largest accepted request body.
pub const MAX_BODY: usize = 128 * 1024;

/// Version of the `/pool.json` document layout.
pub const POOL_JSON_SCHEMA_VERSION: u32 = 1;

const NO_CACHE: &str = "no-cache, no-store, must-revalidate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Ping,
    Info,
    Server,
    PoolTxt,
    PoolXml,
    PoolJson,
    RestartGroup,
    DetachProcess,
    Config,
    ReopenLogs,
    Shutdown,
    Metrics,
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        Some(match path {
            "/ping.json" => Route::Ping,
            "/info.json" | "/version.json" => Route::Info,
            "/server.json" => Route::Server,
            "/pool.txt" => Route::PoolTxt,
            "/pool.xml" => Route::PoolXml,
            "/pool.json" => Route::PoolJson,
            "/pool/restart_app_group.json" => Route::RestartGroup,
            "/pool/detach_process.json" => Route::DetachProcess,
            "/config.json" => Route::Config,
            "/reopen_logs.json" => Route::ReopenLogs,
            "/shutdown.json" => Route::Shutdown,
            "/metrics" => Route::Metrics,
            _ => return None,
        })
    }

    /// The access a method needs on this route; `None` = method not allowed.
    fn needs(self, method: &Method) -> Option<Access> {
        let read = method == Method::GET || method == Method::HEAD;
        match self {
            Route::RestartGroup | Route::DetachProcess | Route::ReopenLogs | Route::Shutdown => {
                (method == Method::POST).then_some(Access::Full)
            }
            Route::Config if method == Method::PUT => Some(Access::Full),
            _ => read.then_some(Access::ReadOnly),
        }
    }

    fn is_pool_view(self) -> bool {
        matches!(self, Route::PoolTxt | Route::PoolXml | Route::PoolJson)
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // The original sends a CGI-style Status header too; some scripts read it.
    let status_line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if let Ok(v) = HeaderValue::from_str(status_line.trim_end()) {
        headers.insert("status", v);
    }
    resp
}

fn no_cache(mut resp: Resp) -> Resp {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    resp
}

fn error_text(status: StatusCode, text: &str) -> Resp {
    no_cache(respond(
        status,
        "text/html; charset=UTF-8",
        text.to_string(),
    ))
}

fn json_text(status: StatusCode, text: String) -> Resp {
    respond(status, "application/json", text)
}

fn json_value(status: StatusCode, value: &Value) -> Resp {
    let mut text =
        serde_json::to_string_pretty(value).expect("invariant: a Value always serializes");
    text.push('\n');
    json_text(status, text)
}

fn unauthorized() -> Resp {
    let mut resp = error_text(StatusCode::UNAUTHORIZED, "Unauthorized");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"api\""),
    );
    resp
}

fn pool_error(err: &PoolError) -> Resp {
    no_cache(json_value(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"status": "error", "message": err.to_string()}),
    ))
}

fn query_flag(query: Option<&str>, name: &str) -> bool {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .any(|(k, v)| k == name && matches!(v, "true" | "1" | "yes"))
}

fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Reads the body (up to [`MAX_BODY`]) and parses it as JSON. `Ok(None)` when empty.
async fn read_json(req: Request<Incoming>) -> Result<Option<Value>, Resp> {
    let too_large = || error_text(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(too_large());
            }
            return Err(error_text(
                StatusCode::BAD_REQUEST,
                "Cannot read request body",
            ));
        }
    };
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    serde_json::from_slice(&body).map(Some).map_err(|err| {
        let text = format!(
            "* Line {}, Column {}\n  Syntax error: {}\n",
            err.line(),
            err.column(),
            err
        );
        no_cache(respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text/plain; charset=utf-8",
            text,
        ))
    })
}

/// Answers one admin API request.
pub async fn handle(req: Request<Incoming>, state: &AdminState, peer_uid: Option<u32>) -> Resp {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let Some(route) = Route::find(&path) else {
        return error_text(StatusCode::NOT_FOUND, "Not found");
    };
    let Some(needed) = route.needs(req.method()) else {
        return error_text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    };
    let access = authorize(state, peer_uid, req.headers());
    if access < needed {
        let mut resp = unauthorized();
        // Lets `passenger status` say "not serving any applications" to users who
        // may not read the pool.
        if route.is_pool_view() {
            if let Ok(snapshot) = state.pool.snapshot().await {
                if snapshot.groups.is_empty() {
                    resp.headers_mut()
                        .insert("pool-empty", HeaderValue::from_static("true"));
                }
            }
        }
        return resp;
    }
    let query = query.as_deref();
    match route {
        Route::Ping => json_text(StatusCode::OK, "{ \"status\": \"ok\" }\n".into()),
        Route::Info => json_value(StatusCode::OK, &info_json(state)),
        Route::Server => server_json(state).await,
        Route::PoolTxt | Route::PoolXml | Route::PoolJson => pool_view(route, state, query).await,
        Route::Metrics => {
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            metrics_endpoint(state, prometheus::Format::negotiate(accept)).await
        }
        Route::RestartGroup => restart_group(req, state).await,
        Route::DetachProcess => detach_process(req, state).await,
        Route::Config if req.method() == Method::PUT => put_config(req, state).await,
        Route::Config => json_value(StatusCode::OK, &config_json(state)),
        Route::ReopenLogs => match (state.callbacks.reopen_logs)() {
            Ok(()) => json_text(StatusCode::OK, "{ \"status\": \"ok\" }\n".into()),
            Err(message) => json_value(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"status": "error", "code": "OS_ERROR", "message": message}),
            ),
        },
        Route::Shutdown => {
            tracing::info!("shutdown requested through the admin API");
            (state.callbacks.shutdown)();
            json_text(StatusCode::OK, "{ \"status\": \"ok\" }\n".into())
        }
    }
}

fn info_json(state: &AdminState) -> Value {
    json!({
        "api_version": "0.3",
        "api_version_major": 0,
        "api_version_minor": 3,
        "pid": state.info.pid,
        "program_name": "passenger-rs",
        "program_version": state.info.version,
        "server_software": state.info.server_software,
        "instance_name": state.info.instance_name,
    })
}

async fn server_json(state: &AdminState) -> Resp {
    let uptime = SystemTime::now()
        .duration_since(state.info.started_at)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let started_at = state
        .info
        .started_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let pool = match state.pool.snapshot().await {
        Ok(s) => {
            let processes = s.groups.iter().flat_map(|g| g.processes.iter());
            let (count, sessions, processed) = processes.fold((0u64, 0u64, 0u64), |acc, p| {
                (
                    acc.0 + u64::from(pool_text::is_counted(p)),
                    acc.1 + u64::from(p.sessions),
                    acc.2 + p.processed,
                )
            });
            json!({
                "max_pool_size": s.max_pool_size,
                "capacity_used": s.capacity_used,
                "group_count": s.groups.len(),
                "process_count": count,
                "top_level_queue_length": s.top_level_queue_len,
                "queue_length": s.groups.iter().map(|g| u64::from(g.queue_len)).sum::<u64>(),
                "active_sessions": sessions,
                "total_requests_processed": processed,
            })
        }
        Err(err) => return pool_error(&err),
    };
    let mut doc = json!({
        "pid": state.info.pid,
        "version": state.info.version,
        "server_software": state.info.server_software,
        "instance_name": state.info.instance_name,
        "instance_dir": state.info.instance_dir.to_string_lossy(),
        "listen_addresses": state.info.listen_addresses,
        "started_at": started_at,
        "uptime_sec": uptime,
        "pool": pool,
    });
    if let (Some(stats), Some(map)) = (&state.callbacks.server_stats, doc.as_object_mut()) {
        map.insert("server".into(), stats());
    }
    if let (Some(counters), Some(map)) = (&state.callbacks.counters, doc.as_object_mut()) {
        // The original's per-event-loop object; we have one request path, so one
        // "thread", with the keys we have a figure for.
        map.insert("threads".into(), 1.into());
        map.insert("thread1".into(), clients_json(state.info.pid, counters));
    }
    json_value(StatusCode::OK, &doc)
}

/// `{timestamp, relative, relative_timestamp}` of a moment `ago` in the past, as the
/// original writes times in `/server.json`.
fn time_json(at: SystemTime, ago: std::time::Duration) -> Value {
    let timestamp = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    json!({
        "timestamp": timestamp,
        "relative": format!("{}s ago", ago.as_secs()),
        "relative_timestamp": -ago.as_secs_f64(),
    })
}

/// The original's `thread1` object: client connections and the requests in flight
/// (`active_clients` lists the connections that have one, keyed `1-<connection>`).
fn clients_json(pid: u32, counters: &crate::counters::Counters) -> Value {
    let c = counters.snapshot();
    let now = SystemTime::now();
    let mut active = serde_json::Map::new();
    for r in counters.requests_in_flight() {
        let connected_ago = now.duration_since(r.connected_at).unwrap_or_default();
        let session = match r.pid {
            Some(pid) => json!({ "pid": pid }),
            None => Value::Null,
        };
        active.insert(
            format!("1-{}", r.client),
            json!({
                "connected_at": time_json(r.connected_at, connected_ago),
                "connection_state": "ACTIVE",
                "current_request": {
                    "method": r.method,
                    "path": r.path,
                    "host": r.host,
                    "session": session,
                    "started_at": time_json(r.started_at, r.age),
                },
            }),
        );
    }
    json!({
        "active_client_count": c.clients_active,
        "active_clients": active,
        "peak_active_client_count": c.clients_peak,
        "pid": pid,
        "total_clients_accepted": c.clients_accepted,
        "total_requests_begun": c.requests_begun,
    })
}

async fn pool_view(route: Route, state: &AdminState, query: Option<&str>) -> Resp {
    let snapshot: PoolSnapshot = match state.pool.snapshot().await {
        Ok(s) => s,
        Err(err) => return pool_error(&err),
    };
    let now = now_usec();
    let mut resp = match route {
        Route::PoolTxt => {
            let opts = TextOptions {
                colorize: query_flag(query, "colorize"),
                verbose: query_flag(query, "verbose"),
            };
            respond(
                StatusCode::OK,
                "text/plain",
                pool_text::render(&snapshot, now, opts),
            )
        }
        Route::PoolXml => respond(
            StatusCode::OK,
            "text/xml",
            pool_xml::render(&snapshot, now, query_flag(query, "secrets")),
        ),
        _ => {
            let mut doc = serde_json::to_value(&snapshot)
                .expect("invariant: a pool snapshot always serializes");
            if let Some(map) = doc.as_object_mut() {
                map.insert("schema_version".into(), POOL_JSON_SCHEMA_VERSION.into());
            }
            json_value(StatusCode::OK, &doc)
        }
    };
    if snapshot.groups.is_empty() {
        resp.headers_mut()
            .insert("pool-empty", HeaderValue::from_static("true"));
    }
    resp
}

async fn metrics_endpoint(state: &AdminState, format: prometheus::Format) -> Resp {
    let snapshot = match state.pool.snapshot().await {
        Ok(s) => s,
        Err(err) => return pool_error(&err),
    };
    let server = ServerMetrics {
        version: state.info.version.clone(),
        instance: state.info.instance_name.clone(),
        start_time_secs: state
            .info
            .started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        counters: state.callbacks.counters.as_ref().map(|c| c.snapshot()),
    };
    respond(
        StatusCode::OK,
        format.content_type(),
        prometheus::render(snapshot, server, format),
    )
}

async fn restart_group(req: Request<Incoming>, state: &AdminState) -> Resp {
    let body = match read_json(req).await {
        Ok(Some(v)) => v,
        Ok(None) => return error_text(StatusCode::BAD_REQUEST, "Body required"),
        Err(resp) => return resp,
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return error_text(StatusCode::BAD_REQUEST, "Name required");
    };
    let method_value = body.get("method").or_else(|| body.get("restart_method"));
    let method = match method_value {
        None | Some(Value::Null) => RestartMethod::Blocking,
        Some(v) => match v.as_str() {
            Some("blocking") => RestartMethod::Blocking,
            Some("rolling") => RestartMethod::Rolling,
            _ => return error_text(StatusCode::BAD_REQUEST, "Unsupported restart method"),
        },
    };
    let restarted = match state.pool.restart_group(name, method).await {
        Ok(()) => true,
        Err(PoolError::NoSuchGroup(_)) => false,
        Err(err) => return pool_error(&err),
    };
    tracing::info!(
        group = name,
        ?method,
        restarted,
        "restart requested through the admin API"
    );
    no_cache(json_text(
        StatusCode::OK,
        format!("{{ \"restarted\": {restarted} }}\n"),
    ))
}

async fn detach_process(req: Request<Incoming>, state: &AdminState) -> Resp {
    let body = match read_json(req).await {
        Ok(Some(v)) => v,
        Ok(None) => return error_text(StatusCode::BAD_REQUEST, "Body required"),
        Err(resp) => return resp,
    };
    let pid = body.get("pid").and_then(|v| match v {
        Value::Number(n) => n.as_u64(),
        // Tools written against the original sometimes send the pid as a string.
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    let Some(pid) = pid.and_then(|p| u32::try_from(p).ok()) else {
        return error_text(StatusCode::BAD_REQUEST, "PID required");
    };
    match state.pool.detach_process(pid).await {
        Ok(detached) => no_cache(json_text(
            StatusCode::OK,
            format!("{{ \"detached\": {detached} }}\n"),
        )),
        Err(err) => pool_error(&err),
    }
}

fn config_json(state: &AdminState) -> Value {
    let level = state.log_level();
    let mut doc = serde_json::Map::new();
    doc.insert(
        "log_level".into(),
        json!({
            "type": "string",
            "effective_value": level.name(),
            "user_value": level.name(),
            "default_value": LogLevel::Notice.name(),
            "has_default_value": "static",
            "changeable": true,
        }),
    );
    for (key, value) in &state.static_config {
        doc.insert(
            key.clone(),
            json!({"effective_value": value, "user_value": value, "changeable": false}),
        );
    }
    Value::Object(doc)
}

fn reconfigure_error(message: String) -> Resp {
    json_value(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"status": "error", "message": format!("Error reconfiguring: {message}")}),
    )
}

async fn put_config(req: Request<Incoming>, state: &AdminState) -> Resp {
    let body = match read_json(req).await {
        Ok(Some(v)) => v,
        Ok(None) => return error_text(StatusCode::BAD_REQUEST, "Body required"),
        Err(resp) => return resp,
    };
    let Some(changes) = body.as_object() else {
        return reconfigure_error("the body must be a JSON object".into());
    };
    // Validate everything before applying anything.
    let mut new_level = None;
    for (key, value) in changes {
        match key.as_str() {
            "log_level" => {
                let parsed = match value {
                    Value::String(s) => LogLevel::parse(s),
                    Value::Number(n) => n.as_u64().and_then(|n| LogLevel::parse(&n.to_string())),
                    _ => None,
                };
                match parsed {
                    Some(level) => new_level = Some(level),
                    None => {
                        return reconfigure_error(format!(
                            "invalid log_level {value}: expected crit, error, warn, notice, info, debug, debug2, debug3 or 0-7"
                        ))
                    }
                }
            }
            other if state.static_config.contains_key(other) => {
                return reconfigure_error(format!("'{other}' cannot be changed at runtime"))
            }
            other => return reconfigure_error(format!("unknown option '{other}'")),
        }
    }
    if let Some(level) = new_level {
        if let Err(message) = (state.callbacks.set_log_level)(level) {
            return reconfigure_error(message);
        }
        state.store_log_level(level);
        tracing::info!(
            level = level.name(),
            "log level changed through the admin API"
        );
    }
    json_text(StatusCode::OK, "{ \"status\": \"ok\" }\n".into())
}
