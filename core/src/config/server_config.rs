//! The validated configuration of one server ([`ServerConfig`]) and its parts.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::StartOptions;
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
    /// Log file; `None` = stderr. Defaults to `<dir>/passenger.<port>.log` when
    /// daemonized (dir = the app dir, or the config file's dir).
    pub log_file: Option<PathBuf>,
    /// PID file to write. Defaults to [`default_pid_file`](super::default_pid_file) of the app dir (single-app)
    /// or the config file's dir (multi-app), as Passenger Standalone does.
    pub pid_file: Option<PathBuf>,
    /// Whether to detach into the background.
    pub daemonize: bool,
    /// The config file, for reloads: the TOML file in multi-app mode, the app's
    /// `Passengerfile.json` in single-app mode when it exists.
    pub config_file: Option<PathBuf>,
    /// Where to create the instance directory; `None` = the default registry
    /// (`$TMPDIR` or `/tmp`).
    pub instance_registry_dir: Option<PathBuf>,
    /// How long a graceful stop waits for requests and processes before killing.
    pub shutdown_grace: Duration,
    /// The server's default environment (`development` unless set); in single-app
    /// mode, the app's.
    pub environment: String,
    /// Whether `X-Powered-By` names the version (`--show-version-in-header`,
    /// default on, as in Passenger).
    pub show_version_in_header: bool,
    /// Passenger options that were given but change nothing here, and settings worth a
    /// warning (an app configured to run as root), one sentence each naming the flag or
    /// key and file; `passenger start` logs them once.
    pub notices: Vec<String>,
    /// Who apps run as when the server runs as root (the guide's user switching).
    pub users: UserSwitching,
    /// The user the core runs as once its sockets are bound (`core_user`), when the server
    /// starts as root; `None`: the core stays root. Apps are then started by the
    /// privileged spawn helper (`spawn::helper`).
    pub core_user: Option<String>,
    /// Lifecycle hooks (`--hook-<name>`, the `hooks` key), validated by name.
    pub hooks: crate::hooks::Hooks,
    /// Set when this is the core of a web server module (`--integration-mode`).
    pub web_server: Option<WebServerMode>,
    /// What a client may send and how slowly (`--max-header-size` and friends).
    pub http_limits: crate::server::limits::HttpLimits,
    /// Bytes of one response buffered (128 KiB in memory, the rest in a file) before
    /// the core stops reading from the app (`--response-buffer-high-watermark`,
    /// default 128 MiB as in Passenger).
    pub response_buffer_high_watermark: u64,
    /// Where buffered bodies spill to (`--data-buffer-dir`); `None`: `buffers/` in
    /// the instance directory.
    pub data_buffer_dir: Option<PathBuf>,
    /// The options this config was loaded from (paths made absolute), for [`reload`](super::reload).
    pub start_options: StartOptions,
}

/// The core of a web server module: every request carries its app's options in
/// reserved headers, authenticated by the module's secret (`proxy::web_server`).
#[derive(Clone, PartialEq, Eq)]
pub struct WebServerMode {
    /// `properties.json`'s `integration_mode`: `apache`.
    pub integration_mode: String,
    /// The secret only the module and this core know.
    pub secret: String,
    /// `PassengerPreStart` URLs: requested (HEAD, through the web server) once the
    /// core is up, so their apps start before the first visitor.
    pub prestart_urls: Vec<String>,
}

impl fmt::Debug for WebServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebServerMode")
            .field("integration_mode", &self.integration_mode)
            .field("secret", &"<hidden>")
            .field("prestart_urls", &self.prestart_urls)
            .finish()
    }
}

/// Who apps run as when the server runs as root: Passenger's `user_switching`,
/// `default_user` and `default_group` (per-app `user`/`group` live in [`AppSpec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSwitching {
    /// Run each app as the owner of its startup file (default on). Off: every app runs
    /// as `default_user`.
    pub enabled: bool,
    /// The user for apps whose startup file root or an unknown user owns, and for every
    /// app with switching off (default `nobody`).
    pub default_user: String,
    /// The group that goes with `default_user`; `None` = its primary group.
    pub default_group: Option<String>,
}

impl Default for UserSwitching {
    fn default() -> UserSwitching {
        UserSwitching {
            enabled: true,
            default_user: "nobody".to_string(),
            default_group: None,
        }
    }
}
