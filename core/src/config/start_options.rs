//! What `passenger start` was asked for ([`StartOptions`]), before defaults.

use std::path::PathBuf;

use crate::app::SpawnMethod;

/// What `passenger start` was asked for: every flag, unset unless given.
///
/// Defaults are applied by [`load`](super::load), not here, so that a flag that was not given does
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
