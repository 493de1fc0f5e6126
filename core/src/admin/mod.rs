//! The admin API: HTTP/1.1 on the instance's `agents.s/core_api` unix socket, with
//! the original Core API's endpoints, authentication and error replies.
//!
//! Owns: binding the socket ([`bind`]), serving connections ([`serve`]), deciding
//! who may do what ([`auth`]), and rendering the pool for tools (`/pool.txt`,
//! `/pool.xml`, `/pool.json`, `/metrics`). It does not own the pool: it talks to it
//! through the small [`PoolApi`] trait (implemented for [`PoolHandle`]), and it
//! does not stop the server or reopen logs itself: it calls [`AdminCallbacks`].
//!
//! Start reading at [`serve`] and [`routes`].

pub mod auth;
pub mod metrics;
pub mod pool_text;
pub mod pool_xml;
pub mod routes;

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::instance::Instance;
use crate::pool::{PoolError, PoolHandle, PoolSnapshot, RestartMethod};

/// Errors of setting up the admin API.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be bound.
    #[error("cannot listen on admin socket {path}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The socket's permissions could not be set.
    #[error("cannot chmod admin socket {path}")]
    Chmod {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What the admin API needs from the pool. Implemented for [`PoolHandle`]; tests
/// use a fake.
pub trait PoolApi: Send + Sync + 'static {
    /// The whole pool state.
    fn snapshot(&self) -> BoxFuture<'_, Result<PoolSnapshot, PoolError>>;
    /// Restarts one group.
    fn restart_group<'a>(
        &'a self,
        name: &'a str,
        method: RestartMethod,
    ) -> BoxFuture<'a, Result<(), PoolError>>;
    /// Detaches the process with this pid; false if no such process.
    fn detach_process(&self, pid: u32) -> BoxFuture<'_, Result<bool, PoolError>>;
}

impl PoolApi for PoolHandle {
    fn snapshot(&self) -> BoxFuture<'_, Result<PoolSnapshot, PoolError>> {
        Box::pin(PoolHandle::snapshot(self))
    }
    fn restart_group<'a>(
        &'a self,
        name: &'a str,
        method: RestartMethod,
    ) -> BoxFuture<'a, Result<(), PoolError>> {
        Box::pin(PoolHandle::restart_group(self, name, method))
    }
    fn detach_process(&self, pid: u32) -> BoxFuture<'_, Result<bool, PoolError>> {
        Box::pin(PoolHandle::detach_process(self, pid))
    }
}

/// Log levels, Passenger's numbering (`log_level` 0..=7) and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// 0
    Crit,
    /// 1
    Error,
    /// 2
    Warn,
    /// 3, Passenger's default.
    Notice,
    /// 4
    Info,
    /// 5
    Debug,
    /// 6
    Debug2,
    /// 7
    Debug3,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Crit,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Debug2,
        LogLevel::Debug3,
    ];

    /// The name used in `/config.json`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Debug2 => "debug2",
            LogLevel::Debug3 => "debug3",
        }
    }

    /// Passenger's number for this level.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The closest `tracing` level (crit/error → ERROR, notice/info → INFO,
    /// debug2/debug3 → TRACE).
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            LogLevel::Crit | LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Notice | LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Debug2 | LogLevel::Debug3 => tracing::Level::TRACE,
        }
    }

    /// Parses a name (Passenger's or `tracing`'s: `trace` = debug3, `warning` =
    /// warn) or a number 0..=7.
    pub fn parse(text: &str) -> Option<LogLevel> {
        let lower = text.trim().to_ascii_lowercase();
        if let Ok(n) = lower.parse::<usize>() {
            return Self::ALL.get(n).copied();
        }
        match lower.as_str() {
            "trace" => Some(LogLevel::Debug3),
            "warning" => Some(LogLevel::Warn),
            "critical" => Some(LogLevel::Crit),
            other => Self::ALL.iter().copied().find(|l| l.name() == other),
        }
    }
}

/// Static facts about the running server, for `/info.json` and `/server.json`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Our pid.
    pub pid: u32,
    /// Program version.
    pub version: String,
    /// `server_software`.
    pub server_software: String,
    /// The instance name.
    pub instance_name: String,
    /// The instance directory.
    pub instance_dir: PathBuf,
    /// Public listen addresses, e.g. `http://0.0.0.0:3000`.
    pub listen_addresses: Vec<String>,
    /// When the server started.
    pub started_at: SystemTime,
}

/// Callback that triggers a graceful server shutdown.
pub type ShutdownCallback = Arc<dyn Fn() + Send + Sync>;
/// Callback that reopens log files; the error text is returned to the client.
pub type ReopenLogsCallback = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;
/// Callback that applies a new log level (e.g. through a tracing reload handle).
pub type SetLogLevelCallback = Arc<dyn Fn(LogLevel) -> Result<(), String> + Send + Sync>;
/// Callback returning extra server-level JSON (connection counters...) for
/// `/server.json`.
pub type ServerStatsCallback = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// What the admin API asks the rest of the server to do.
#[derive(Clone)]
pub struct AdminCallbacks {
    /// `POST /shutdown.json`.
    pub shutdown: ShutdownCallback,
    /// `POST /reopen_logs.json`.
    pub reopen_logs: ReopenLogsCallback,
    /// `PUT /config.json` with `log_level`.
    pub set_log_level: SetLogLevelCallback,
    /// Extra `server` object in `/server.json`, if the server keeps counters.
    pub server_stats: Option<ServerStatsCallback>,
    /// Request, wait and spawn counters for `/metrics` and `/server.json`.
    pub counters: Option<Arc<crate::stats::Counters>>,
}

impl AdminCallbacks {
    /// Callbacks that do nothing and succeed.
    pub fn noop() -> Self {
        AdminCallbacks {
            shutdown: Arc::new(|| {}),
            reopen_logs: Arc::new(|| Ok(())),
            set_log_level: Arc::new(|_| Ok(())),
            server_stats: None,
            counters: None,
        }
    }
}

/// Everything the admin API serves from.
pub struct AdminState {
    /// The pool.
    pub pool: Arc<dyn PoolApi>,
    /// Password of `ro_admin` (read-only).
    pub read_only_password: String,
    /// Password of `admin` (full access).
    pub full_password: String,
    /// Peers with this uid (or root) get full access without a password: the owner of
    /// the instance directory, i.e. the user who started the server.
    pub owner_uid: u32,
    /// Facts for `/info.json` and `/server.json`.
    pub info: ServerInfo,
    /// Callbacks into the server.
    pub callbacks: AdminCallbacks,
    /// Current log level; `PUT /config.json` changes it.
    pub log_level: Mutex<LogLevel>,
    /// Read-only configuration values shown by `GET /config.json`
    /// (e.g. `max_pool_size`, `environment`).
    pub static_config: serde_json::Map<String, serde_json::Value>,
}

impl AdminState {
    /// State for an [`Instance`]: its passwords, this process's euid as owner, and
    /// the instance name and directory filled into `info`.
    pub fn for_instance(
        pool: Arc<dyn PoolApi>,
        instance: &Instance,
        mut info: ServerInfo,
        callbacks: AdminCallbacks,
        log_level: LogLevel,
    ) -> AdminState {
        info.instance_name = instance.name().to_string();
        info.instance_dir = instance.path().to_path_buf();
        AdminState {
            pool,
            read_only_password: instance.read_only_admin_password().to_string(),
            full_password: instance.full_admin_password().to_string(),
            // The instance's owner is who started the server (the watchdog made the
            // directory); a core that dropped root to `core_user` grants that user nothing.
            owner_uid: std::fs::metadata(instance.path())
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .unwrap_or_else(|_| nix::unistd::geteuid().as_raw()),
            info,
            callbacks,
            log_level: Mutex::new(log_level),
            static_config: serde_json::Map::new(),
        }
    }

    /// The current log level.
    pub fn log_level(&self) -> LogLevel {
        match self.log_level.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    pub(crate) fn store_log_level(&self, level: LogLevel) {
        match self.log_level.lock() {
            Ok(mut guard) => *guard = level,
            Err(poisoned) => *poisoned.into_inner() = level,
        }
    }
}

/// Binds the admin socket at `path` (replacing a leftover socket file) with mode
/// 0666: access is decided per request by [`auth`], as in the original.
pub fn bind(path: &Path) -> Result<UnixListener, AdminError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| AdminError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(|source| {
        AdminError::Chmod {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(listener)
}

/// Serves the admin API on `listener` until `shutdown` becomes true (or its sender
/// is dropped). Connections open at that point finish their current request.
pub async fn serve(
    listener: UnixListener,
    state: Arc<AdminState>,
    shutdown: watch::Receiver<bool>,
) {
    crate::serve::accept_until_stopped(&listener, "admin API", shutdown.clone(), |stream| {
        let peer_uid = match stream.peer_cred() {
            Ok(cred) => Some(cred.uid()),
            Err(err) => {
                tracing::debug!("admin API: no peer credentials: {err}");
                None
            }
        };
        tokio::spawn(serve_connection(
            stream,
            peer_uid,
            state.clone(),
            shutdown.clone(),
        ));
    })
    .await;
}

async fn serve_connection(
    stream: tokio::net::UnixStream,
    peer_uid: Option<u32>,
    state: Arc<AdminState>,
    stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(routes::handle(req, &state, peer_uid).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    crate::serve::serve_until_stopped(
        conn,
        stop,
        crate::serve::Ending {
            name: "admin connection",
            deadline: std::future::pending(),
            on_stop: || {},
            linger: Duration::ZERO,
        },
    )
    .await;
}
