//! Server configuration: from `passenger start` flags, `Passengerfile.json` and the
//! multi-app TOML file to a validated [`ServerConfig`].
//!
//! Owns: defaults (Passenger Standalone's), the priority order (flags win over
//! Passengerfile.json, which wins over defaults; in multi-app mode an `[[app]]` table
//! wins over flags, which win over the file's top level), app type detection, and
//! validation that names the bad key and the file. All problems are collected and
//! reported together. It does not parse the command line (`cli` turns flags into
//! [`StartOptions`]) and reads nothing after startup except when asked to [`reload`].

mod build;
mod keys;
#[cfg(test)]
mod tests;
mod value;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::app::{AppSpec, SpawnMethod};

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
    /// PID file to write. Defaults to [`default_pid_file`] of the app dir (single-app)
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
    /// The options this config was loaded from (paths made absolute), for [`reload`].
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

/// Builds the app a web server module describes in one request: `options` are
/// (config key, value) pairs as the module sent them (values as text; `env` as
/// `NAME=VALUE` lines). Validated like an `[[app]]` table; problems name the key.
pub fn app_from_web_server(options: &[(String, String)]) -> Result<AppSpec, ConfigError> {
    build::app_from_web_server(options)
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

/// What `passenger start` was asked for: every flag, unset unless given.
///
/// Defaults are applied by [`load`], not here, so that a flag that was not given does
/// not override `Passengerfile.json`. Durations are whole seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// `APP_DIR`; default: the current directory.
    pub app_dir: Option<PathBuf>,
    /// `--config FILE`: the multi-app TOML file.
    pub config_file: Option<PathBuf>,
    /// `--address` (default 0.0.0.0).
    pub address: Option<String>,
    /// `--port` (default 3000).
    pub port: Option<u16>,
    /// `--socket`: listen on this unix socket instead of TCP.
    pub socket: Option<PathBuf>,
    /// `--environment` (default development).
    pub environment: Option<String>,
    /// `--max-pool-size` (default 6).
    pub max_pool_size: Option<u32>,
    /// `--min-instances` (default 1).
    pub min_instances: Option<u32>,
    /// `--max-instances-per-app` (default 0 = no limit).
    pub max_instances_per_app: Option<u32>,
    /// `--pool-idle-time` seconds (default 300).
    pub pool_idle_time: Option<u64>,
    /// `--max-requests` (default 0 = never).
    pub max_requests: Option<u64>,
    /// `--max-request-queue-size` (default 100).
    pub max_request_queue_size: Option<u32>,
    /// `--stat-throttle-rate` seconds (default 10).
    pub stat_throttle_rate: Option<u64>,
    /// `--start-timeout` seconds (default 90).
    pub start_timeout: Option<u64>,
    /// `--force-max-concurrent-requests-per-process`.
    pub force_max_concurrent_requests_per_process: Option<u32>,
    /// `--app-type`: ruby/rack, python/wsgi, nodejs/node or generic.
    pub app_type: Option<String>,
    /// `--startup-file`, relative to the app root.
    pub startup_file: Option<PathBuf>,
    /// `--app-start-command`: makes the app generic unless `app_type` says otherwise.
    pub app_start_command: Option<String>,
    /// `--restart-dir`, relative to the app root (default `tmp`).
    pub restart_dir: Option<PathBuf>,
    /// `--log-level` 0-7 (default 3).
    pub log_level: Option<u8>,
    /// `--log-file`.
    pub log_file: Option<PathBuf>,
    /// `--friendly-error-pages` / `--no-friendly-error-pages` (default: on in development).
    pub friendly_error_pages: Option<bool>,
    /// `--request-pipelining` / `--no-request-pipelining` (default: on).
    pub request_pipelining: Option<bool>,
    /// `--envvar NAME=VALUE`, in order.
    pub envvars: Vec<(String, String)>,
    /// `--daemonize`; `false` means "not given" (Passengerfile.json may still set it).
    pub daemonize: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--instance-registry-dir`.
    pub instance_registry_dir: Option<PathBuf>,
    /// `--spawn-method` (default smart for Ruby, direct otherwise).
    pub spawn_method: Option<SpawnMethod>,
    /// `--max-preloader-idle-time` seconds (default 300).
    pub max_preloader_idle_time: Option<u64>,
    /// `--user`: the user to run apps as (only when running as root).
    pub user: Option<String>,
    /// `--group`: the group to run apps as (only when running as root).
    pub group: Option<String>,
    /// `--user-switching` / `--no-user-switching` (default: on).
    pub user_switching: Option<bool>,
    /// `--default-user` (default `nobody`).
    pub default_user: Option<String>,
    /// `--default-group` (default: the default user's primary group).
    pub default_group: Option<String>,
    /// `--core-user`: the user the core drops to after binding (only as root).
    pub core_user: Option<String>,
    /// `--ruby` interpreter (default ruby).
    pub ruby: Option<String>,
    /// `--python` interpreter (default python3).
    pub python: Option<String>,
    /// `--nodejs` interpreter (default node).
    pub nodejs: Option<String>,
    /// `--shutdown-timeout` seconds (default 60).
    pub shutdown_timeout: Option<u64>,
    /// `--engine`: only `builtin` is accepted (`nginx` is refused by name).
    pub engine: Option<String>,
    /// `--integration-mode` (hidden): `apache` makes this the core of a web server
    /// module; apps then come with each request, none from flags or files.
    pub integration_mode: Option<String>,
    /// `--web-server-secret-file` (hidden): the module's per-instance secret.
    pub web_server_secret_file: Option<PathBuf>,
    /// `--prestart-url` (hidden, repeatable): `PassengerPreStart` URLs the core
    /// requests once it is up (web server mode only).
    pub prestart_urls: Vec<String>,
    /// `--show-version-in-header` / `--no-show-version-in-header` (default: on).
    pub show_version_in_header: Option<bool>,
    /// `--hook-<name> CMD`, by hook name (`spawn_failed`), in order.
    pub hooks: Vec<(String, String)>,
    /// `--max-header-size` bytes (default 32 KiB).
    pub max_header_size: Option<u64>,
    /// `--max-request-line-size` bytes (default 8 KiB).
    pub max_request_line_size: Option<u64>,
    /// `--header-read-timeout` seconds (default 30; 0 = none).
    pub header_read_timeout: Option<u64>,
    /// `--keep-alive-timeout` seconds (default 60; 0 = none).
    pub keep_alive_timeout: Option<u64>,
    /// `--max-request-body-size` bytes (default 1 GiB; 0 = no limit).
    pub max_request_body_size: Option<u64>,
    /// `--memory-limit` megabytes per app process (default 0 = none).
    pub memory_limit: Option<u64>,
    /// `--max-request-time` seconds (default 0 = none).
    pub max_request_time: Option<u64>,
    /// `--response-buffer-high-watermark` bytes (default 128 MiB).
    pub response_buffer_high_watermark: Option<u64>,
    /// `--data-buffer-dir` (default: `buffers/` in the instance directory).
    pub data_buffer_dir: Option<PathBuf>,
    /// `--buffer-response` / `--no-buffer-response` (default: on).
    pub buffer_response: Option<bool>,
    /// `--buffer-upload` / `--no-buffer-upload` (default: on).
    pub buffer_upload: Option<bool>,
    /// Passenger flags accepted without effect, by key: `None` for a switch that was
    /// given, `Some(value)` for an option with a value (a number as its digits).
    pub no_effect: Vec<(String, Option<String>)>,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The flag (`--port`) or key and file (`` `port` in /app/Passengerfile.json ``);
    /// `None` when the problem is not about one setting.
    pub location: Option<String>,
    /// What is wrong, e.g. `must be an integer from 0 to 7, got 9`.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Errors of configuration loading.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The current directory (the default app dir, the base of relative flags) is unknown.
    #[error("cannot determine the current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// `Passengerfile.json` or the TOML file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `Passengerfile.json` is not valid JSON.
    #[error("{} is not valid JSON: {source}", path.display())]
    ParseJson {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The multi-app config file is not valid TOML.
    #[error("{} is not valid TOML: {source}", path.display())]
    ParseToml {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: toml::de::Error,
    },
    /// Settings are missing, unknown, unsupported or out of range; all of them listed.
    #[error("{}", invalid_message(problems))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<ConfigProblem>,
    },
}

fn invalid_message(problems: &[ConfigProblem]) -> String {
    match problems {
        [one] => format!("invalid configuration: {one}"),
        many => {
            let mut out = format!("invalid configuration ({} problems):", many.len());
            for problem in many {
                out.push_str("\n  - ");
                out.push_str(&problem.to_string());
            }
            out
        }
    }
}

/// Loads and validates the configuration for `passenger start`.
///
/// Single-app mode (no `config_file`): the app in `app_dir` (default: the current
/// directory), its `Passengerfile.json` merged under the flags. Multi-app mode: the
/// TOML file's `[[app]]` tables. Relative paths in flags are relative to the current
/// directory.
pub fn load(opts: &StartOptions) -> Result<ServerConfig, ConfigError> {
    let cwd = std::env::current_dir().map_err(ConfigError::CurrentDir)?;
    build::load(opts, &cwd)
}

/// Loads the configuration again from the same sources (flags as given at startup,
/// the same `Passengerfile.json` or TOML file), e.g. on SIGHUP. Server-wide settings
/// that cannot change while running (listen addresses) are the caller's to compare.
pub fn reload(config: &ServerConfig) -> Result<ServerConfig, ConfigError> {
    // Every path in start_options is absolute, so the current directory no longer matters.
    build::load(&config.start_options, Path::new("/"))
}

/// The PID file of the server `passenger start` would run with these options, read
/// from the flags and the app dir's `Passengerfile.json` (`pid_file`, `port`,
/// `socket`) only: what `passenger stop` signals.
pub fn pid_file(opts: &StartOptions) -> Result<PathBuf, ConfigError> {
    let cwd = std::env::current_dir().map_err(ConfigError::CurrentDir)?;
    build::pid_file(opts, &cwd)
}

/// The PID file Passenger Standalone uses for a server on `port` started in `dir`:
/// `<dir>/passenger.<port>.pid`; `passenger stop --port` looks there too.
pub fn default_pid_file(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("passenger.{port}.pid"))
}

/// The log file Passenger Standalone uses when daemonized: `<dir>/passenger.<port>.log`.
pub fn default_log_file(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("passenger.{port}.log"))
}
