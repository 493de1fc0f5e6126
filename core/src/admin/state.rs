//! What the admin API serves from: the pool (through [`PoolApi`]), facts about the
//! server, the callbacks into it, and the log level.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::future::BoxFuture;

use super::LogLevel;
use crate::instance::Instance;
use crate::pool::{PoolError, PoolHandle, PoolSnapshot, RestartMethod};

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
    pub counters: Option<Arc<crate::counters::Counters>>,
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
