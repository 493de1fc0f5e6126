//! Server configuration: from `passenger start` flags, `Passengerfile.json` and the
//! multi-app TOML file to a validated [`ServerConfig`].
//!
//! Owns: defaults (Passenger Standalone's), the priority order (flags win over
//! Passengerfile.json, which wins over defaults), app type detection, and validation
//! that names the bad key and the file. It does not read anything after startup except
//! when asked to reload.
//! STUB: the contract; the body is being written.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::AppSpec;

/// Where the server accepts client connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

/// The validated configuration of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listening addresses.
    pub listen: Vec<ListenAddr>,
    /// The apps served; single-app mode has exactly one with no routing keys.
    pub apps: Vec<Arc<AppSpec>>,
    /// Whether apps route by Host/base URI (config file) or one app takes everything.
    pub multi_app: bool,
    /// Maximum processes across all apps.
    pub max_pool_size: u32,
    /// Idle time before extra processes stop; zero = never.
    pub pool_idle_time: Duration,
    /// Log level 0-7 (Passenger's scale: 3 = notice).
    pub log_level: u8,
    /// Log file; `None` = stderr.
    pub log_file: Option<PathBuf>,
    /// PID file to write.
    pub pid_file: Option<PathBuf>,
    /// Whether to detach into the background.
    pub daemonize: bool,
    /// The config file, for reloads.
    pub config_file: Option<PathBuf>,
}

/// Errors of configuration loading.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Placeholder until the loader lands.
    #[error("configuration loading is not implemented")]
    NotImplemented,
}
