//! The validated description of one application: [`AppSpec`].
//!
//! Owns the per-app settings that the pool, the spawner and the proxy read. It does
//! not load or validate them: `config` builds `AppSpec`s from flags, Passengerfile.json
//! and the multi-app TOML file, and later a web server module will build them from
//! per-request headers. An `AppSpec` is immutable once built and shared as
//! `Arc<AppSpec>`; a changed app is a new `AppSpec`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// How an app is started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppType {
    /// Any program that listens on `$PORT`, started with `/bin/sh -c 'exec <command>'`.
    Generic {
        /// The shell command, run in the app root.
        start_command: String,
    },
    /// A Rack app (`config.ru`), loaded by the Ruby loader.
    Ruby,
    /// A WSGI app (`passenger_wsgi.py`), loaded by the Python loader.
    Python,
    /// A Node app (`app.js`), started with `PORT` set.
    Node,
}

impl AppType {
    /// The name Passenger uses for this type (`ruby`, `python`, `nodejs`, `generic`).
    pub fn name(&self) -> &'static str {
        match self {
            AppType::Generic { .. } => "generic",
            AppType::Ruby => "ruby",
            AppType::Python => "python",
            AppType::Node => "nodejs",
        }
    }
}

/// How processes of a Ruby or Python app are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpawnMethod {
    /// A preloader loads the app once and forks processes from it.
    #[default]
    Smart,
    /// Every process loads the app from scratch.
    Direct,
}

/// Everything the pool, spawner and proxy need to know about one app.
#[derive(Debug, Clone, Serialize)]
pub struct AppSpec {
    /// The app group name: the pool key, shown by `passenger-status`.
    pub name: String,
    /// The app root directory (absolute).
    pub app_root: PathBuf,
    /// How the app is started.
    pub app_type: AppType,
    /// The startup file (absolute), for loader-based types.
    pub startup_file: Option<PathBuf>,
    /// `development`, `production`, ...
    pub environment: String,
    /// The base URI the app is mounted under; `None` means `/`.
    pub base_uri: Option<String>,
    /// Host names this app answers to (empty: any host).
    pub server_names: Vec<String>,
    /// Extra environment variables, in order.
    pub env_vars: Vec<(String, String)>,
    /// Processes started with the server and kept alive.
    pub min_instances: u32,
    /// Maximum processes for this app; 0 means no limit other than the pool's.
    pub max_instances: u32,
    /// Requests after which a process is replaced; 0 means never.
    pub max_requests: u64,
    /// Maximum queued requests; 0 means unlimited.
    pub max_request_queue_size: u32,
    /// Time a spawn may take before it fails.
    pub start_timeout: Duration,
    /// Overrides the concurrency a process advertises.
    pub force_max_concurrent_requests_per_process: Option<u32>,
    /// Directory holding `restart.txt` and `always_restart.txt` (absolute).
    pub restart_dir: PathBuf,
    /// Minimum time between two checks of the restart files.
    pub stat_throttle_rate: Duration,
    /// Whether spawn errors show details to the client.
    pub friendly_error_pages: bool,
    /// Whether a busy Ruby loader process may be handed more bodyless requests to
    /// start as soon as it is free (ARCHITECTURE.md, "Request pipelining").
    pub request_pipelining: bool,
    /// Whether responses are buffered in the core so the process is free as soon
    /// as it has written them (`buffer_response`, `--no-buffer-response`).
    pub buffer_response: bool,
    /// Whether request bodies are read whole before a process is checked out
    /// (`buffer_upload`, `--no-buffer-upload`).
    pub buffer_upload: bool,
    /// Smart or direct spawning.
    pub spawn_method: SpawnMethod,
    /// Preloader idle time before it stops; zero means never.
    pub max_preloader_idle_time: Duration,
    /// The user to run the app as (only when the server runs as root).
    pub user: Option<String>,
    /// The group to run the app as (only when the server runs as root).
    pub group: Option<String>,
    /// A process whose private dirty memory (plus swap) passes this many megabytes
    /// is replaced after its current request; 0 means no limit.
    pub memory_limit_mb: u64,
    /// A request whose response head has not come this long after it was sent to
    /// the process gets 504 and the process is replaced; zero means no limit.
    pub max_request_time: Duration,
    /// Interpreter for Ruby apps.
    pub ruby: String,
    /// Interpreter for Python apps.
    pub python: String,
    /// Interpreter for Node apps.
    pub nodejs: String,
}

impl AppSpec {
    /// A spec with Passenger's defaults for an app at `app_root` of `app_type`.
    pub fn new(name: impl Into<String>, app_root: PathBuf, app_type: AppType) -> AppSpec {
        let restart_dir = app_root.join("tmp");
        AppSpec {
            name: name.into(),
            app_root,
            app_type,
            startup_file: None,
            environment: "development".to_string(),
            base_uri: None,
            server_names: Vec::new(),
            env_vars: Vec::new(),
            min_instances: 1,
            max_instances: 0,
            max_requests: 0,
            max_request_queue_size: 100,
            start_timeout: Duration::from_secs(90),
            force_max_concurrent_requests_per_process: None,
            restart_dir,
            stat_throttle_rate: Duration::from_secs(10),
            friendly_error_pages: true,
            request_pipelining: true,
            buffer_response: true,
            buffer_upload: true,
            spawn_method: SpawnMethod::Smart,
            max_preloader_idle_time: Duration::from_secs(300),
            user: None,
            group: None,
            memory_limit_mb: 0,
            max_request_time: Duration::ZERO,
            ruby: "ruby".to_string(),
            python: "python3".to_string(),
            nodejs: "node".to_string(),
        }
    }
}
