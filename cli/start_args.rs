//! The flags of `passenger start`, with Passenger Standalone's names and help texts.
//!
//! Owns parsing the command line into [`StartArgs`] and handing it to core as
//! [`StartOptions`]. It applies no defaults: a flag that was not given stays `None`,
//! so `Passengerfile.json` can set it; `passenger_core::config::load` applies the
//! defaults the help texts state, and validates everything.

use std::path::PathBuf;

use clap::{ArgAction, Args, ValueEnum};
use passenger_core::app::SpawnMethod;
use passenger_core::config::StartOptions;

/// Start the server in the foreground (or daemonized with -d) and serve one or more
/// web applications.
#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    /// The app directory. Default: the current directory
    #[arg(value_name = "APP_DIR")]
    pub app_dir: Option<PathBuf>,

    /// Serve the apps listed in this TOML file instead of APP_DIR
    #[arg(long = "config", value_name = "FILE", help_heading = "Server options")]
    pub config: Option<PathBuf>,

    /// Bind to the given address. Default: 0.0.0.0
    #[arg(
        short = 'a',
        long,
        value_name = "HOST",
        help_heading = "Server options"
    )]
    pub address: Option<String>,

    /// Use the given port number. Default: 3000
    #[arg(
        short = 'p',
        long,
        value_name = "NUMBER",
        help_heading = "Server options"
    )]
    pub port: Option<u16>,

    /// Bind to Unix domain socket instead of TCP socket
    #[arg(
        short = 'S',
        long,
        value_name = "FILE",
        help_heading = "Server options"
    )]
    pub socket: Option<PathBuf>,

    /// Daemonize into the background
    #[arg(short = 'd', long, help_heading = "Server options")]
    pub daemonize: bool,

    /// User to run apps as, instead of the owner of their startup file. Only used
    /// when running as root; `root` runs apps as root (with a warning)
    #[arg(long, value_name = "USERNAME", help_heading = "Server options")]
    pub user: Option<String>,

    /// Group to run apps as. Default: the app user's primary group. Only used when
    /// running as root
    #[arg(long, value_name = "GROUPNAME", help_heading = "Server options")]
    pub group: Option<String>,

    /// When running as root, run each app as the owner of its startup file
    /// (config.ru, passenger_wsgi.py, app.js, or the app directory). Default: on
    #[arg(
        long,
        overrides_with = "no_user_switching",
        help_heading = "Server options"
    )]
    pub user_switching: bool,

    /// When running as root, run every app as the default user
    #[arg(
        long,
        overrides_with = "user_switching",
        help_heading = "Server options"
    )]
    pub no_user_switching: bool,

    /// User for apps whose startup file root or an unknown user owns, and for every
    /// app without user switching. Default: nobody
    #[arg(long, value_name = "USERNAME", help_heading = "Server options")]
    pub default_user: Option<String>,

    /// Group that goes with the default user. Default: the default user's primary
    /// group
    #[arg(long, value_name = "GROUPNAME", help_heading = "Server options")]
    pub default_group: Option<String>,

    /// When started as root, the core (the process serving HTTP) runs as this user
    /// once its sockets are bound; a small root helper keeps starting apps as their
    /// users. Default: the core stays root
    #[arg(long, value_name = "USERNAME", help_heading = "Server options")]
    pub core_user: Option<String>,

    /// Where to store the PID file. Default: passenger.<port>.pid in the app directory
    #[arg(long, value_name = "PATH", help_heading = "Server options")]
    pub pid_file: Option<PathBuf>,

    /// Use the given instance registry directory. Default: $TMPDIR or /tmp
    #[arg(long, value_name = "PATH", help_heading = "Server options")]
    pub instance_registry_dir: Option<PathBuf>,

    /// Seconds a graceful stop waits for requests and app processes before killing
    /// them. Default: 60
    #[arg(long, value_name = "SECONDS", help_heading = "Server options")]
    pub shutdown_timeout: Option<u64>,

    /// Web framework environment. Default: development
    #[arg(
        short = 'e',
        long,
        value_name = "NAME",
        help_heading = "Application loading options"
    )]
    pub environment: Option<String>,

    /// Executable to use for Ruby apps. Default: ruby
    #[arg(
        long,
        value_name = "FILENAME",
        help_heading = "Application loading options"
    )]
    pub ruby: Option<String>,

    /// Executable to use for Python apps. Default: python3
    #[arg(
        long,
        value_name = "FILENAME",
        help_heading = "Application loading options"
    )]
    pub python: Option<String>,

    /// Executable to use for Node.js apps. Default: node
    #[arg(
        long,
        value_name = "FILENAME",
        help_heading = "Application loading options"
    )]
    pub nodejs: Option<String>,

    /// Force the app to be detected as the given type. Default: autodetect from
    /// config.ru, passenger_wsgi.py, app.js
    #[arg(
        long,
        value_name = "NAME",
        value_parser = ["ruby", "rack", "python", "wsgi", "nodejs", "node", "generic"],
        help_heading = "Application loading options"
    )]
    pub app_type: Option<String>,

    /// Consider the app a Ruby app and use the given rackup file (relative to the
    /// current directory)
    #[arg(
        short = 'R',
        long,
        value_name = "FILENAME",
        help_heading = "Application loading options"
    )]
    pub rackup: Option<PathBuf>,

    /// Force the given startup file to be used (relative to the app directory)
    #[arg(
        long,
        value_name = "FILENAME",
        help_heading = "Application loading options"
    )]
    pub startup_file: Option<PathBuf>,

    /// Command that starts the app, which must listen on $PORT; makes the app a
    /// generic app unless --app-type says otherwise
    #[arg(
        long,
        value_name = "COMMAND",
        help_heading = "Application loading options"
    )]
    pub app_start_command: Option<String>,

    /// The spawn method: smart (Ruby and Python apps; others always start directly) or
    /// direct. Default: smart for Ruby apps, direct otherwise
    #[arg(
        long,
        value_name = "NAME",
        value_enum,
        help_heading = "Application loading options"
    )]
    pub spawn_method: Option<SpawnMethodArg>,

    /// Directory with restart.txt, relative to the app directory. Default: tmp
    #[arg(
        long,
        value_name = "PATH",
        help_heading = "Application loading options"
    )]
    pub restart_dir: Option<PathBuf>,

    /// Pass an environment variable to the app; may be given more than once
    #[arg(
        long = "envvar",
        value_name = "NAME=VALUE",
        value_parser = parse_envvar,
        action = ArgAction::Append,
        help_heading = "Application loading options"
    )]
    pub envvars: Vec<(String, String)>,

    /// Turn on friendly error pages. Default: on in the development environment
    #[arg(
        long,
        overrides_with = "no_friendly_error_pages",
        help_heading = "Application loading options"
    )]
    pub friendly_error_pages: bool,

    /// Turn off friendly error pages
    #[arg(
        long,
        overrides_with = "friendly_error_pages",
        help_heading = "Application loading options"
    )]
    pub no_friendly_error_pages: bool,

    /// Maximum number of application processes. Default: 6
    #[arg(
        long,
        value_name = "NUMBER",
        allow_negative_numbers = true,
        value_parser = parse_pool_size,
        help_heading = "Process management options"
    )]
    pub max_pool_size: Option<u32>,

    /// Minimum number of processes per application. Default: 1
    #[arg(
        long,
        value_name = "NUMBER",
        help_heading = "Process management options"
    )]
    pub min_instances: Option<u32>,

    /// Maximum number of processes per application. Default: 0 (no limit)
    #[arg(
        long,
        value_name = "NUMBER",
        help_heading = "Process management options"
    )]
    pub max_instances_per_app: Option<u32>,

    /// Maximum time that processes may be idle, in seconds. Default: 300
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Process management options"
    )]
    pub pool_idle_time: Option<u64>,

    /// Maximum time that preloader processes may be idle, in seconds; 0 means they
    /// never time out. Default: 300
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Process management options"
    )]
    pub max_preloader_idle_time: Option<u64>,

    /// Force Passenger to believe that an application process can handle the given
    /// number of concurrent requests
    #[arg(
        long,
        value_name = "NUMBER",
        help_heading = "Process management options"
    )]
    pub force_max_concurrent_requests_per_process: Option<u32>,

    /// The maximum time an application process may take to start up, in seconds.
    /// Default: 90
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Process management options"
    )]
    pub start_timeout: Option<u64>,

    /// Restart application processes that have handled the given number of
    /// requests. Default: 0 (never)
    #[arg(long, value_name = "NUMBER", help_heading = "Request handling options")]
    pub max_requests: Option<u64>,

    /// Specify the request queue size; 0 means unlimited. Default: 100
    #[arg(long, value_name = "NUMBER", help_heading = "Request handling options")]
    pub max_request_queue_size: Option<u32>,

    /// Answer 413 to a request whose body is larger than this many bytes (by its
    /// Content-Length up front, a chunked body once it passes the limit); 0 means no
    /// limit. Default: 1073741824 (1 GiB)
    #[arg(long, value_name = "BYTES", help_heading = "Request handling options")]
    pub max_request_body_size: Option<u64>,

    /// Answer 431 to a request whose head (request line and headers) is larger than
    /// this many bytes; at least 8192. Default: 32768
    #[arg(long, value_name = "BYTES", help_heading = "Request handling options")]
    pub max_header_size: Option<u64>,

    /// Answer 414 to a request whose request line is longer than this many bytes.
    /// Default: 8192
    #[arg(long, value_name = "BYTES", help_heading = "Request handling options")]
    pub max_request_line_size: Option<u64>,

    /// Close a connection whose request head has not arrived whole this many seconds
    /// after its first byte (or after the connection opened); 0 means never.
    /// Default: 30
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Request handling options"
    )]
    pub header_read_timeout: Option<u64>,

    /// Close a keep-alive connection idle this many seconds between two requests; 0
    /// means never. Default: 60
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Request handling options"
    )]
    pub keep_alive_timeout: Option<u64>,

    /// Answer 504 to a request whose app process has not begun its response this
    /// many seconds after getting it, and replace that process; 0 means no limit.
    /// Default: 0
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Request handling options"
    )]
    pub max_request_time: Option<u64>,

    /// Replace an app process, after its current request, once its private dirty
    /// memory passes this many megabytes (checked every few seconds); 0 means no
    /// limit. Default: 0
    #[arg(long, value_name = "MB", help_heading = "Process management options")]
    pub memory_limit: Option<u64>,

    /// Check restart.txt at most once per this many seconds. Default: 10
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Request handling options"
    )]
    pub stat_throttle_rate: Option<u64>,

    /// Hand a busy Ruby process up to four more bodyless requests, started as soon as
    /// it is free; one kept waiting behind a slow request is taken back after 20 ms
    /// for the next free process. Default: on
    #[arg(
        long,
        overrides_with = "no_request_pipelining",
        help_heading = "Request handling options"
    )]
    pub request_pipelining: bool,

    /// Turn off request pipelining
    #[arg(
        long,
        overrides_with = "request_pipelining",
        help_heading = "Request handling options"
    )]
    pub no_request_pipelining: bool,

    /// Buffer each app response in the core, so the process is free as soon as it has
    /// written it, however slowly the client reads. Not for text/event-stream, upgrades
    /// or responses with X-Accel-Buffering: no. Default: on
    #[arg(
        long,
        overrides_with = "no_buffer_response",
        help_heading = "Request handling options"
    )]
    pub buffer_response: bool,

    /// Stream responses to the client; the process stays busy until the client has
    /// read all of it
    #[arg(
        long,
        overrides_with = "buffer_response",
        help_heading = "Request handling options"
    )]
    pub no_buffer_response: bool,

    /// Read each request body whole (in memory, then in a file) before a process is
    /// chosen, so slow uploads hold no process and broken bodies get 400. Default: on
    #[arg(
        long,
        overrides_with = "no_buffer_upload",
        help_heading = "Request handling options"
    )]
    pub buffer_upload: bool,

    /// Stream request bodies to the app as they arrive
    #[arg(
        long,
        overrides_with = "buffer_upload",
        help_heading = "Request handling options"
    )]
    pub no_buffer_upload: bool,

    /// Bytes of one response the core buffers (128 KiB in memory, the rest in a file)
    /// before it stops reading from the app until the client catches up.
    /// Default: 134217728 (128 MiB)
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = "Request handling options"
    )]
    pub response_buffer_high_watermark: Option<u64>,

    /// Directory for buffer files (unlinked at once). Default: buffers/ in the
    /// instance directory
    #[arg(long, value_name = "PATH", help_heading = "Server options")]
    pub data_buffer_dir: Option<PathBuf>,

    /// Log level to use, 0 (crit) to 7 (debug2). Default: 3
    #[arg(
        long,
        value_name = "NUMBER",
        help_heading = "Logging & debugging options"
    )]
    pub log_level: Option<u8>,

    /// Where to write log messages. Default: console, or passenger.<port>.log in the
    /// app directory when daemonized
    #[arg(
        long,
        value_name = "PATH",
        help_heading = "Logging & debugging options"
    )]
    pub log_file: Option<PathBuf>,

    /// Add X-Powered-By with the version to every response. Default: on
    #[arg(
        long,
        overrides_with = "no_show_version_in_header",
        help_heading = "Request handling options"
    )]
    pub show_version_in_header: bool,

    /// Name no version in X-Powered-By
    #[arg(
        long,
        overrides_with = "show_version_in_header",
        help_heading = "Request handling options"
    )]
    pub no_show_version_in_header: bool,

    /// Underlying HTTP engine. Only builtin exists: passenger-rs serves HTTP
    /// itself; nginx is refused. Default: builtin
    #[arg(long, value_name = "NAME", help_heading = "Advanced options")]
    pub engine: Option<String>,

    /// Run as the core of a web server module (`apache`): no app is configured up
    /// front, each request names its app. Set by mod_passenger, not by people.
    #[arg(long, value_name = "MODE", hide = true)]
    pub integration_mode: Option<String>,

    /// The file holding the web server module's per-instance secret (0600).
    #[arg(long, value_name = "PATH", hide = true)]
    pub web_server_secret_file: Option<PathBuf>,

    /// A URL the core requests (HEAD) once it is up, so its app is started before
    /// the first visitor (`PassengerPreStart`). Repeatable. Set by mod_passenger.
    #[arg(long = "prestart-url", value_name = "URL", hide = true)]
    pub prestart_urls: Vec<String>,

    /// Run CMD when the watchdog starts, before it opens its log
    #[arg(
        long = "hook-before-watchdog-initialization",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_before_watchdog_initialization: Option<String>,

    /// Run CMD once the watchdog is set up, before the core and any app process start
    #[arg(
        long = "hook-after-watchdog-initialization",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_after_watchdog_initialization: Option<String>,

    /// Run CMD when the watchdog is asked to stop, before it stops the core
    #[arg(
        long = "hook-before-watchdog-shutdown",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_before_watchdog_shutdown: Option<String>,

    /// Run CMD after the core and its apps have stopped
    #[arg(
        long = "hook-after-watchdog-shutdown",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_after_watchdog_shutdown: Option<String>,

    /// Run CMD when an app process joins the pool
    #[arg(
        long = "hook-attached-process",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_attached_process: Option<String>,

    /// Run CMD when an app process leaves the pool
    #[arg(
        long = "hook-detached-process",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_detached_process: Option<String>,

    /// Run CMD when an app process fails to start
    #[arg(
        long = "hook-spawn-failed",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_spawn_failed: Option<String>,

    /// Run CMD when a request is refused because the request queue is full
    #[arg(
        long = "hook-queue-full-error",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_queue_full_error: Option<String>,

    /// Accepted for the Apache module installer (not built yet); passenger start never runs it
    #[arg(
        long = "hook-after-install-prerequisites",
        value_name = "CMD",
        help_heading = "Hook options"
    )]
    pub hook_after_install_prerequisites: Option<String>,

    /// Accepted for compatibility; passenger-rs never checks for security updates
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub disable_security_update_check: bool,

    /// Accepted for compatibility; passenger-rs never checks for security updates
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Accepted for compatibility, without effect"
    )]
    pub security_update_check_proxy: Option<String>,

    /// Accepted for compatibility; passenger-rs sends no telemetry
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub disable_anonymous_telemetry: bool,

    /// Accepted for compatibility; passenger-rs sends no telemetry
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Accepted for compatibility, without effect"
    )]
    pub anonymous_telemetry_proxy: Option<String>,

    /// Accepted for compatibility; apps do not load shell startup files (use --envvar)
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub load_shell_envvars: bool,

    /// Accepted for compatibility; sticky sessions are not implemented
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub sticky_sessions: bool,

    /// Accepted for compatibility; sticky sessions are not implemented
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Accepted for compatibility, without effect"
    )]
    pub sticky_sessions_cookie_name: Option<String>,

    /// Accepted for compatibility; the listen backlog is 2048
    #[arg(
        long,
        value_name = "NUMBER",
        help_heading = "Accepted for compatibility, without effect"
    )]
    pub socket_backlog: Option<u32>,

    /// Accepted for compatibility; passenger-rs never asks questions at startup
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub auto: bool,

    /// Accepted for compatibility; there is no Standalone runtime to install
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub no_install_runtime: bool,

    /// Accepted for compatibility; there is no Standalone runtime to compile
    #[arg(long, help_heading = "Accepted for compatibility, without effect")]
    pub no_compile_runtime: bool,
}

/// `--spawn-method` values.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnMethodArg {
    /// Load the app once in a preloader and fork processes from it (Ruby and Python apps).
    Smart,
    /// Load the app from scratch in every process.
    Direct,
}

impl StartArgs {
    /// The flags as core's [`StartOptions`]; flags not given stay unset.
    pub fn to_options(&self) -> StartOptions {
        let friendly_error_pages = if self.friendly_error_pages {
            Some(true)
        } else if self.no_friendly_error_pages {
            Some(false)
        } else {
            None
        };
        let user_switching = if self.user_switching {
            Some(true)
        } else if self.no_user_switching {
            Some(false)
        } else {
            None
        };
        let request_pipelining = if self.request_pipelining {
            Some(true)
        } else if self.no_request_pipelining {
            Some(false)
        } else {
            None
        };
        let switch = |on: bool, off: bool| match (on, off) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let buffer_response = switch(self.buffer_response, self.no_buffer_response);
        let buffer_upload = switch(self.buffer_upload, self.no_buffer_upload);
        let switches = [
            (
                "disable_security_update_check",
                self.disable_security_update_check,
            ),
            (
                "disable_anonymous_telemetry",
                self.disable_anonymous_telemetry,
            ),
            ("load_shell_envvars", self.load_shell_envvars),
            ("sticky_sessions", self.sticky_sessions),
            ("auto", self.auto),
            ("dont_install_runtime", self.no_install_runtime),
            ("dont_compile_runtime", self.no_compile_runtime),
        ];
        let values = [
            (
                "security_update_check_proxy",
                self.security_update_check_proxy.clone(),
            ),
            (
                "anonymous_telemetry_proxy",
                self.anonymous_telemetry_proxy.clone(),
            ),
            (
                "sticky_sessions_cookie_name",
                self.sticky_sessions_cookie_name.clone(),
            ),
            ("socket_backlog", self.socket_backlog.map(|n| n.to_string())),
        ];
        let no_effect = switches
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(key, _)| (key.to_string(), None))
            .chain(
                values
                    .into_iter()
                    .filter_map(|(key, v)| Some((key.to_string(), Some(v?)))),
            )
            .collect();
        let show_version_in_header = if self.show_version_in_header {
            Some(true)
        } else if self.no_show_version_in_header {
            Some(false)
        } else {
            None
        };
        let hooks = [
            (
                "before_watchdog_initialization",
                &self.hook_before_watchdog_initialization,
            ),
            (
                "after_watchdog_initialization",
                &self.hook_after_watchdog_initialization,
            ),
            (
                "before_watchdog_shutdown",
                &self.hook_before_watchdog_shutdown,
            ),
            (
                "after_watchdog_shutdown",
                &self.hook_after_watchdog_shutdown,
            ),
            ("attached_process", &self.hook_attached_process),
            ("detached_process", &self.hook_detached_process),
            ("spawn_failed", &self.hook_spawn_failed),
            ("queue_full_error", &self.hook_queue_full_error),
            (
                "after_install_prerequisites",
                &self.hook_after_install_prerequisites,
            ),
        ]
        .into_iter()
        .filter_map(|(name, cmd)| Some((name.to_string(), cmd.clone()?)))
        .collect();
        StartOptions {
            app_dir: self.app_dir.clone(),
            config_file: self.config.clone(),
            address: self.address.clone(),
            port: self.port,
            socket: self.socket.clone(),
            environment: self.environment.clone(),
            max_pool_size: self.max_pool_size,
            min_instances: self.min_instances,
            max_instances_per_app: self.max_instances_per_app,
            pool_idle_time: self.pool_idle_time,
            max_requests: self.max_requests,
            max_request_queue_size: self.max_request_queue_size,
            stat_throttle_rate: self.stat_throttle_rate,
            start_timeout: self.start_timeout,
            force_max_concurrent_requests_per_process: self
                .force_max_concurrent_requests_per_process,
            // `-R FILE` is Passenger's shorthand for a Ruby app with that rackup file.
            app_type: self
                .app_type
                .clone()
                .or_else(|| self.rackup.as_ref().map(|_| "rack".to_string())),
            startup_file: self.startup_file.clone().or_else(|| {
                let rackup = self.rackup.as_ref()?;
                Some(std::path::absolute(rackup).unwrap_or_else(|_| rackup.clone()))
            }),
            app_start_command: self.app_start_command.clone(),
            restart_dir: self.restart_dir.clone(),
            log_level: self.log_level,
            log_file: self.log_file.clone(),
            friendly_error_pages,
            request_pipelining,
            envvars: self.envvars.clone(),
            daemonize: self.daemonize,
            pid_file: self.pid_file.clone(),
            instance_registry_dir: self.instance_registry_dir.clone(),
            spawn_method: self.spawn_method.map(|m| match m {
                SpawnMethodArg::Smart => SpawnMethod::Smart,
                SpawnMethodArg::Direct => SpawnMethod::Direct,
            }),
            max_preloader_idle_time: self.max_preloader_idle_time,
            user: self.user.clone(),
            group: self.group.clone(),
            user_switching,
            default_user: self.default_user.clone(),
            default_group: self.default_group.clone(),
            core_user: self.core_user.clone(),
            ruby: self.ruby.clone(),
            python: self.python.clone(),
            nodejs: self.nodejs.clone(),
            shutdown_timeout: self.shutdown_timeout,
            engine: self.engine.clone(),
            integration_mode: self.integration_mode.clone(),
            web_server_secret_file: self.web_server_secret_file.clone(),
            prestart_urls: self.prestart_urls.clone(),
            show_version_in_header,
            hooks,
            response_buffer_high_watermark: self.response_buffer_high_watermark,
            data_buffer_dir: self.data_buffer_dir.clone(),
            buffer_response,
            buffer_upload,
            no_effect,
            max_header_size: self.max_header_size,
            max_request_line_size: self.max_request_line_size,
            header_read_timeout: self.header_read_timeout,
            keep_alive_timeout: self.keep_alive_timeout,
            max_request_body_size: self.max_request_body_size,
            memory_limit: self.memory_limit,
            max_request_time: self.max_request_time,
        }
    }
}

/// `NAME=VALUE`, split at the first `=`; the value may be empty or contain `=`.
fn parse_envvar(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {arg:?}")),
    }
}

/// `--max-pool-size`: a whole number of at least 1; 0 and negative numbers get the
/// same message as in Passengerfile.json.
fn parse_pool_size(arg: &str) -> Result<u32, String> {
    match arg.trim().parse::<i64>() {
        Ok(n) if n >= 1 => {
            u32::try_from(n).map_err(|_| format!("must be at most {}, got {n}", u32::MAX))
        }
        Ok(n) => Err(format!("must be an integer of at least 1, got {n}")),
        Err(_) => Err(format!("must be an integer of at least 1, got {arg:?}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        start: StartArgs,
    }

    fn parse(args: &[&str]) -> Result<StartOptions, clap::Error> {
        let argv = std::iter::once("start").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.start.to_options())
    }

    #[test]
    fn no_flags_means_nothing_set() {
        let opts = parse(&[]).expect("parses");
        assert_eq!(opts, StartOptions::default());
    }

    #[test]
    fn flags_map_to_options() {
        let opts = parse(&[
            "site",
            "-p",
            "4000",
            "-a",
            "127.0.0.1",
            "-e",
            "production",
            "-d",
            "--envvar",
            "A=1=2",
            "--envvar",
            "B=",
            "--spawn-method",
            "direct",
            "--no-friendly-error-pages",
            "--log-level",
            "5",
            "--app-type",
            "node",
        ])
        .expect("parses");
        assert_eq!(opts.app_dir, Some(PathBuf::from("site")));
        assert_eq!(opts.port, Some(4000));
        assert_eq!(opts.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(opts.environment.as_deref(), Some("production"));
        assert!(opts.daemonize);
        assert_eq!(
            opts.envvars,
            vec![("A".into(), "1=2".into()), ("B".into(), String::new())]
        );
        assert_eq!(opts.spawn_method, Some(SpawnMethod::Direct));
        assert_eq!(opts.friendly_error_pages, Some(false));
        assert_eq!(opts.log_level, Some(5));
        assert_eq!(opts.app_type.as_deref(), Some("node"));
    }

    #[test]
    fn bad_flags_are_rejected() {
        assert!(parse(&["--envvar", "NOEQUALS"]).is_err());
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--app-type", "cobol"]).is_err());
    }

    #[test]
    fn help_states_defaults_in_passengers_style() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        command.clone().debug_assert();
        let help = command.render_help().to_string();
        for expected in [
            "-S, --socket <FILE>",
            "Use the given port number. Default: 3000",
            "Web framework environment. Default: development",
            "Maximum number of application processes. Default: 6",
            "Log level to use, 0 (crit) to 7 (debug2). Default: 3",
        ] {
            assert!(
                help.contains(expected),
                "missing {expected:?} in help:\n{help}"
            );
        }
    }

    #[test]
    fn rackup_makes_a_ruby_app_with_that_file_and_compat_flags_are_kept() {
        let opts = parse(&[
            "-R",
            "/srv/app/other.ru",
            "--socket-backlog",
            "1024",
            "--auto",
        ])
        .expect("parses");
        assert_eq!(opts.app_type.as_deref(), Some("rack"));
        assert_eq!(opts.startup_file, Some(PathBuf::from("/srv/app/other.ru")));
        assert!(opts.no_effect.contains(&("auto".into(), None)));
        assert!(opts
            .no_effect
            .contains(&("socket_backlog".into(), Some("1024".into()))));
        let explicit = parse(&["-R", "x.ru", "--app-type", "python"]).expect("parses");
        assert_eq!(explicit.app_type.as_deref(), Some("python"));
    }

    #[test]
    fn last_friendly_error_pages_flag_wins() {
        let opts = parse(&["--no-friendly-error-pages", "--friendly-error-pages"]).expect("ok");
        assert_eq!(opts.friendly_error_pages, Some(true));
    }

    #[test]
    fn user_switching_flags_map_to_options() {
        let opts = parse(&[
            "--user",
            "alice",
            "--group",
            "staff",
            "--no-user-switching",
            "--default-user",
            "www",
            "--default-group",
            "web",
            "--core-user",
            "passenger-core",
        ])
        .expect("ok");
        assert_eq!(opts.core_user.as_deref(), Some("passenger-core"));
        assert_eq!(opts.user.as_deref(), Some("alice"));
        assert_eq!(opts.group.as_deref(), Some("staff"));
        assert_eq!(opts.user_switching, Some(false));
        assert_eq!(opts.default_user.as_deref(), Some("www"));
        assert_eq!(opts.default_group.as_deref(), Some("web"));
        let opts = parse(&["--no-user-switching", "--user-switching"]).expect("ok");
        assert_eq!(opts.user_switching, Some(true));
        assert_eq!(parse(&[]).expect("ok").user_switching, None);
    }

    #[test]
    fn last_request_pipelining_flag_wins() {
        let opts = parse(&["--request-pipelining", "--no-request-pipelining"]).expect("ok");
        assert_eq!(opts.request_pipelining, Some(false));
        let opts = parse(&["--no-request-pipelining", "--request-pipelining"]).expect("ok");
        assert_eq!(opts.request_pipelining, Some(true));
        assert_eq!(parse(&[]).expect("ok").request_pipelining, None);
    }
}
