//! Builds a [`ServerConfig`] from layers: single-app mode (flags over
//! `Passengerfile.json`) and multi-app mode (`[[app]]` tables over flags over the TOML
//! file's top level), app type detection and the cross-app checks.
//!
//! Owns the defaults and the meaning of every key. It does not parse the command line
//! and does not start anything.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::keys::{check_keys, NoEffectKind, APP_KEYS, APP_TABLE_KEYS, NO_EFFECT, SERVER_KEYS};
use super::value::{absolutize, Layer, Origin, Resolver, Val};
use super::{
    default_log_file, default_pid_file, ConfigError, ConfigProblem, ListenAddr, ServerConfig,
    StartOptions,
};
use crate::app::{AppSpec, AppType, SpawnMethod};
use crate::server::limits::{HttpLimits, MIN_HEADER_SIZE};

/// Passenger Standalone's defaults for server-wide settings.
const DEFAULT_ADDRESS: &str = "0.0.0.0";
const DEFAULT_PORT: u16 = 3000;
const DEFAULT_MAX_POOL_SIZE: u32 = 6;
const DEFAULT_POOL_IDLE_TIME: u64 = 300;
const DEFAULT_LOG_LEVEL: u8 = 3;
const DEFAULT_SHUTDOWN_TIMEOUT: u64 = 60;
const DEFAULT_ENVIRONMENT: &str = "development";

/// The keys environment variables live under: `env` (flags, TOML) or `envvars`
/// (`Passengerfile.json`, as in Passenger).
const ENV_KEYS: &[&str] = &["env", "envvars"];

/// The `group` value that means "the group of the app's startup file".
const STARTUP_FILE_GROUP: &str = crate::spawn::unix::STARTUP_FILE_GROUP;

/// Files that identify an app's type, in detection order.
const DETECTION: &[(&str, AppType)] = &[
    ("config.ru", AppType::Ruby),
    ("passenger_wsgi.py", AppType::Python),
    ("app.js", AppType::Node),
];

pub(crate) fn load(opts: &StartOptions, cwd: &Path) -> Result<ServerConfig, ConfigError> {
    let opts = absolute_options(opts, cwd);
    let flags = flags_layer(&opts, cwd);
    if opts.integration_mode.is_some() {
        return load_web_server(opts, &flags);
    }
    match opts.config_file.clone() {
        None => load_single(opts, &flags),
        Some(file) => load_multi(opts, &flags, file),
    }
}

/// `opts` with every path that is relative to the current directory made absolute, so
/// that a reload after daemonizing (which changes directory) reads the same files.
fn absolute_options(opts: &StartOptions, cwd: &Path) -> StartOptions {
    let mut out = opts.clone();
    for path in [
        &mut out.config_file,
        &mut out.socket,
        &mut out.log_file,
        &mut out.pid_file,
        &mut out.instance_registry_dir,
        &mut out.data_buffer_dir,
    ] {
        // An empty path stays empty, so validation reports it instead of it becoming `cwd`.
        if let Some(p) = path.as_mut().filter(|p| !p.as_os_str().is_empty()) {
            *p = absolutize(cwd, p);
        }
    }
    if out.config_file.is_none() {
        let dir = out.app_dir.as_deref().unwrap_or(cwd);
        out.app_dir = Some(absolutize(cwd, dir));
    } else if let Some(dir) = out.app_dir.as_mut() {
        *dir = absolutize(cwd, dir);
    }
    out
}

/// The flags as a layer. `startup_file` and `restart_dir` stay as given: they are
/// relative to the app root, which is only known per app.
fn flags_layer(o: &StartOptions, cwd: &Path) -> Layer {
    let mut l = Layer::new(Origin::Flags, cwd.to_path_buf());
    let int = |v: u64| Val::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let strings = [
        ("address", &o.address),
        ("environment", &o.environment),
        ("app_type", &o.app_type),
        ("app_start_command", &o.app_start_command),
        ("user", &o.user),
        ("group", &o.group),
        ("default_user", &o.default_user),
        ("default_group", &o.default_group),
        ("core_user", &o.core_user),
        ("ruby", &o.ruby),
        ("python", &o.python),
        ("nodejs", &o.nodejs),
        ("engine", &o.engine),
    ];
    for (key, value) in strings {
        if let Some(v) = value {
            l.set(key, Val::Str(v.clone()));
        }
    }
    let paths = [
        ("socket", &o.socket),
        ("startup_file", &o.startup_file),
        ("restart_dir", &o.restart_dir),
        ("log_file", &o.log_file),
        ("pid_file", &o.pid_file),
        ("instance_registry_dir", &o.instance_registry_dir),
        ("data_buffer_dir", &o.data_buffer_dir),
    ];
    for (key, value) in paths {
        if let Some(v) = value {
            l.set(key, Val::Path(v.clone()));
        }
    }
    let u32s = [
        ("max_pool_size", o.max_pool_size),
        ("min_instances", o.min_instances),
        ("max_instances_per_app", o.max_instances_per_app),
        ("max_request_queue_size", o.max_request_queue_size),
        (
            "force_max_concurrent_requests_per_process",
            o.force_max_concurrent_requests_per_process,
        ),
    ];
    for (key, value) in u32s {
        if let Some(v) = value {
            l.set(key, int(u64::from(v)));
        }
    }
    let u64s = [
        ("pool_idle_time", o.pool_idle_time),
        ("max_requests", o.max_requests),
        ("stat_throttle_rate", o.stat_throttle_rate),
        ("start_timeout", o.start_timeout),
        ("max_preloader_idle_time", o.max_preloader_idle_time),
        ("shutdown_timeout", o.shutdown_timeout),
        ("max_header_size", o.max_header_size),
        ("max_request_line_size", o.max_request_line_size),
        ("header_read_timeout", o.header_read_timeout),
        ("keep_alive_timeout", o.keep_alive_timeout),
        ("max_request_body_size", o.max_request_body_size),
        ("memory_limit", o.memory_limit),
        ("max_request_time", o.max_request_time),
        (
            "response_buffer_high_watermark",
            o.response_buffer_high_watermark,
        ),
    ];
    for (key, value) in u64s {
        if let Some(v) = value {
            l.set(key, int(v));
        }
    }
    if let Some(port) = o.port {
        l.set("port", int(u64::from(port)));
    }
    if let Some(level) = o.log_level {
        l.set("log_level", int(u64::from(level)));
    }
    if let Some(friendly) = o.friendly_error_pages {
        l.set("friendly_error_pages", Val::Bool(friendly));
    }
    if let Some(pipelining) = o.request_pipelining {
        l.set("request_pipelining", Val::Bool(pipelining));
    }
    if let Some(show) = o.show_version_in_header {
        l.set("show_version_in_header", Val::Bool(show));
    }
    if let Some(switching) = o.user_switching {
        l.set("user_switching", Val::Bool(switching));
    }
    if let Some(buffer) = o.buffer_response {
        l.set("buffer_response", Val::Bool(buffer));
    }
    if let Some(buffer) = o.buffer_upload {
        l.set("buffer_upload", Val::Bool(buffer));
    }
    for (key, value) in &o.no_effect {
        let int = NO_EFFECT
            .iter()
            .any(|(k, kind, _)| k == key && *kind == NoEffectKind::Int);
        let value = match value {
            Some(v) => match v.parse::<i64>() {
                Ok(n) if int => Val::Int(n),
                _ => Val::Str(v.clone()),
            },
            None => Val::Bool(true),
        };
        l.set(key, value);
    }
    if o.daemonize {
        l.set("daemonize", Val::Bool(true));
    }
    if let Some(method) = o.spawn_method {
        let name = match method {
            SpawnMethod::Smart => "smart",
            SpawnMethod::Direct => "direct",
        };
        l.set("spawn_method", Val::Str(name.to_string()));
    }
    if !o.envvars.is_empty() {
        let table = o
            .envvars
            .iter()
            .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
            .collect();
        l.set("env", Val::Table(table));
    }
    if !o.hooks.is_empty() {
        let table = o
            .hooks
            .iter()
            .map(|(k, v)| (k.clone(), Val::Str(v.clone())))
            .collect();
        l.set("hooks", Val::Table(table));
    }
    l
}

fn load_single(opts: StartOptions, flags: &Layer) -> Result<ServerConfig, ConfigError> {
    let root = opts
        .app_dir
        .clone()
        .expect("invariant: absolute_options sets app_dir in single-app mode");
    if !root.is_dir() {
        return Err(ConfigError::Invalid {
            problems: vec![ConfigProblem {
                location: Some("APP_DIR".to_string()),
                message: format!("{} is not a directory", root.display()),
            }],
        });
    }
    let mut problems = Vec::new();
    let passengerfile_path = root.join("Passengerfile.json");
    let passengerfile = read_passengerfile(&passengerfile_path, &root, &mut problems)?;
    let mut layers = vec![flags];
    layers.extend(passengerfile.as_ref());

    let server = resolve_server(&mut Resolver::new(layers.clone(), &mut problems), &root);
    let mut notices = Vec::new();
    no_effect_notices(
        &mut Resolver::new(layers.clone(), &mut problems),
        &mut notices,
    );
    let place = AppPlace {
        root: root.clone(),
        label: Some("APP_DIR".to_string()),
        // Passenger Standalone names its single app group after the app root alone.
        name: Some(root.display().to_string()),
        server_names: Vec::new(),
        base_uri: None,
    };
    let app = build_app(&mut Resolver::new(layers, &mut problems), place);
    finish(problems)?;
    let app = app.expect("invariant: build_app only fails after reporting a problem");
    root_notices(&server.users, std::slice::from_ref(&app), &mut notices);
    Ok(ServerConfig {
        listen: server.listen,
        environment: app.environment.clone(),
        apps: vec![Arc::new(app)],
        multi_app: false,
        max_pool_size: server.max_pool_size,
        pool_idle_time: server.pool_idle_time,
        log_level: server.log_level,
        log_file: server.log_file,
        pid_file: server.pid_file,
        daemonize: server.daemonize,
        config_file: passengerfile.map(|_| passengerfile_path),
        instance_registry_dir: server.instance_registry_dir,
        shutdown_grace: server.shutdown_grace,
        show_version_in_header: server.show_version_in_header,
        response_buffer_high_watermark: server.response_buffer_high_watermark,
        data_buffer_dir: server.data_buffer_dir,
        hooks: server.hooks,
        users: server.users,
        core_user: server.core_user,
        http_limits: server.http_limits,
        notices,
        web_server: None,
        start_options: opts,
    })
}

/// The PID file of the server these flags would start, from the flags and the app
/// dir's `Passengerfile.json` (only its `port`, `socket` and `pid_file`: the app
/// itself is not validated, so a stop works whatever else the file says).
pub(crate) fn pid_file(opts: &StartOptions, cwd: &Path) -> Result<PathBuf, ConfigError> {
    let mut opts = absolute_options(opts, cwd);
    opts.config_file = None;
    let root = opts
        .app_dir
        .clone()
        .unwrap_or_else(|| absolutize(cwd, Path::new(".")));
    let flags = flags_layer(&opts, cwd);
    let mut other_keys = Vec::new();
    let mut file = read_passengerfile(&root.join("Passengerfile.json"), &root, &mut other_keys)?;
    if let Some(layer) = file.as_mut() {
        layer
            .values
            .retain(|key, _| matches!(key.as_str(), "port" | "socket" | "pid_file"));
    }
    let mut layers = vec![&flags];
    layers.extend(file.as_ref());
    let mut problems = Vec::new();
    let server = resolve_server(&mut Resolver::new(layers, &mut problems), &root);
    finish(problems)?;
    Ok(server
        .pid_file
        .expect("invariant: resolve_server always names a PID file"))
}

/// Reads `Passengerfile.json` if it exists; unknown and unsupported keys become problems.
fn read_passengerfile(
    path: &Path,
    root: &Path,
    problems: &mut Vec<ConfigProblem>,
) -> Result<Option<Layer>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::ReadFile {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| ConfigError::ParseJson {
            path: path.to_path_buf(),
            source,
        })?;
    let serde_json::Value::Object(map) = json else {
        problems.push(ConfigProblem {
            location: Some(path.display().to_string()),
            message: "must contain a JSON object of settings".to_string(),
        });
        return Ok(None);
    };
    let origin = Origin::Passengerfile(path.to_path_buf());
    let app_keys: Vec<&str> = APP_KEYS.iter().copied().filter(|k| *k != "env").collect();
    check_keys(
        &origin,
        map.keys(),
        &[SERVER_KEYS, &app_keys, &["envvars"]],
        &[],
        problems,
    );
    let mut layer = Layer::new(origin, root.to_path_buf());
    for (key, value) in map {
        layer.set(&key, Val::from_json(value));
    }
    Ok(Some(layer))
}

fn load_multi(
    opts: StartOptions,
    flags: &Layer,
    file: PathBuf,
) -> Result<ServerConfig, ConfigError> {
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::ReadFile {
        path: file.clone(),
        source,
    })?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|source| ConfigError::ParseToml {
            path: file.clone(),
            source,
        })?;
    let mut problems = Vec::new();
    if opts.app_dir.is_some() {
        problems.push(ConfigProblem {
            location: Some("APP_DIR".to_string()),
            message: "cannot be combined with --config; give each [[app]] a `root` in the file"
                .to_string(),
        });
    }
    let app_tables = match table.remove("app") {
        Some(toml::Value::Array(items)) if !items.is_empty() => {
            let mut tables = Vec::new();
            for item in items {
                match item {
                    toml::Value::Table(t) => tables.push(t),
                    _ => problems.push(ConfigProblem {
                        location: Some(format!("`app` in {}", file.display())),
                        message: "must be an array of tables, written [[app]]".to_string(),
                    }),
                }
            }
            tables
        }
        Some(toml::Value::Array(_)) | None => {
            problems.push(ConfigProblem {
                location: Some(file.display().to_string()),
                message: "lists no apps: add an [[app]] table with a `root` for each app"
                    .to_string(),
            });
            Vec::new()
        }
        Some(_) => {
            problems.push(ConfigProblem {
                location: Some(format!("`app` in {}", file.display())),
                message: "must be an array of tables, written [[app]]".to_string(),
            });
            Vec::new()
        }
    };

    let top_origin = Origin::TomlTop(file.clone());
    check_keys(
        &top_origin,
        table.keys(),
        &[SERVER_KEYS, APP_KEYS],
        &[],
        &mut problems,
    );
    let mut top = Layer::new(top_origin, dir.clone());
    for (key, value) in table {
        top.set(&key, Val::from_toml(value));
    }

    let server = resolve_server(&mut Resolver::new(vec![flags, &top], &mut problems), &dir);
    let mut notices = Vec::new();
    no_effect_notices(
        &mut Resolver::new(vec![flags, &top], &mut problems),
        &mut notices,
    );
    // Bad values here are reported again, with the same location, by every app.
    let environment = Resolver::new(vec![flags, &top], &mut Vec::new())
        .string("environment")
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());

    let mut apps: Vec<(usize, AppSpec)> = Vec::new();
    for (i, app_table) in app_tables.into_iter().enumerate() {
        let index = i + 1;
        let origin = Origin::TomlApp {
            file: file.clone(),
            index,
        };
        check_keys(
            &origin,
            app_table.keys(),
            &[APP_KEYS, APP_TABLE_KEYS],
            SERVER_KEYS,
            &mut problems,
        );
        let mut layer = Layer::new(origin, dir.clone());
        for (key, value) in app_table {
            layer.set(&key, Val::from_toml(value));
        }
        let label = format!("[[app]] #{index} in {}", file.display());
        no_effect_notices(
            &mut Resolver::new(vec![&layer], &mut problems),
            &mut notices,
        );
        let mut res = Resolver::new(vec![&layer, flags, &top], &mut problems);
        if let Some(app) = app_from_table(&mut res, label) {
            apps.push((index, app));
        }
    }
    check_routes(&apps, &file, &mut problems);
    finish(problems)?;
    let specs: Vec<AppSpec> = apps.iter().map(|(_, app)| app.clone()).collect();
    root_notices(&server.users, &specs, &mut notices);

    Ok(ServerConfig {
        listen: server.listen,
        apps: apps.into_iter().map(|(_, app)| Arc::new(app)).collect(),
        multi_app: true,
        max_pool_size: server.max_pool_size,
        pool_idle_time: server.pool_idle_time,
        log_level: server.log_level,
        log_file: server.log_file,
        pid_file: server.pid_file,
        daemonize: server.daemonize,
        config_file: Some(file),
        instance_registry_dir: server.instance_registry_dir,
        shutdown_grace: server.shutdown_grace,
        show_version_in_header: server.show_version_in_header,
        response_buffer_high_watermark: server.response_buffer_high_watermark,
        data_buffer_dir: server.data_buffer_dir,
        hooks: server.hooks,
        users: server.users,
        core_user: server.core_user,
        http_limits: server.http_limits,
        notices,
        environment,
        web_server: None,
        start_options: opts,
    })
}

/// The core of a web server module (`--integration-mode apache`): server-wide
/// settings from the flags only, no app (each request brings its own), and the
/// module's secret from `--web-server-secret-file`.
fn load_web_server(opts: StartOptions, flags: &Layer) -> Result<ServerConfig, ConfigError> {
    let mut problems = Vec::new();
    let mode = opts.integration_mode.clone().unwrap_or_default();
    if mode != "apache" {
        problems.push(ConfigProblem {
            location: Some("--integration-mode".to_string()),
            message: format!("must be apache, got {mode:?}"),
        });
    }
    let dir = Path::new("/");
    let server = resolve_server(&mut Resolver::new(vec![flags], &mut problems), dir);
    let mut notices = Vec::new();
    no_effect_notices(&mut Resolver::new(vec![flags], &mut problems), &mut notices);
    let secret = match &opts.web_server_secret_file {
        None => {
            problems.push(ConfigProblem {
                location: Some("--web-server-secret-file".to_string()),
                message: "is required with --integration-mode".to_string(),
            });
            String::new()
        }
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) if text.trim().len() >= 16 => text.trim().to_string(),
            Ok(_) => {
                problems.push(ConfigProblem {
                    location: Some("--web-server-secret-file".to_string()),
                    message: format!(
                        "{} holds no secret of 16 or more characters",
                        path.display()
                    ),
                });
                String::new()
            }
            Err(source) => {
                return Err(ConfigError::ReadFile {
                    path: path.clone(),
                    source,
                })
            }
        },
    };
    finish(problems)?;
    Ok(ServerConfig {
        listen: server.listen,
        apps: Vec::new(),
        multi_app: true,
        max_pool_size: server.max_pool_size,
        pool_idle_time: server.pool_idle_time,
        log_level: server.log_level,
        log_file: server.log_file,
        // The web server owns its PID file; the instance directory names this core.
        pid_file: None,
        daemonize: false,
        config_file: None,
        instance_registry_dir: server.instance_registry_dir,
        shutdown_grace: server.shutdown_grace,
        show_version_in_header: server.show_version_in_header,
        hooks: server.hooks,
        users: server.users,
        core_user: server.core_user,
        http_limits: server.http_limits,
        response_buffer_high_watermark: server.response_buffer_high_watermark,
        data_buffer_dir: server.data_buffer_dir,
        notices,
        environment: "production".to_string(),
        web_server: Some(super::WebServerMode {
            integration_mode: mode,
            secret,
            prestart_urls: opts.prestart_urls.clone(),
        }),
        start_options: opts,
    })
}

/// Keys whose values a web server module sends as decimal text.
const WEB_SERVER_INT_KEYS: &[&str] = &[
    "min_instances",
    "max_instances_per_app",
    "max_requests",
    "max_request_queue_size",
    "stat_throttle_rate",
    "start_timeout",
    "force_max_concurrent_requests_per_process",
    "max_preloader_idle_time",
];

/// Keys whose values a web server module sends as `on`/`off` (or `true`/`false`).
const WEB_SERVER_BOOL_KEYS: &[&str] = &[
    "friendly_error_pages",
    "request_pipelining",
    "buffer_response",
    "buffer_upload",
];

/// See [`super::app_from_web_server`]. Keys: the per-app keys, `root`, `name`,
/// `base_uri`, and `group` (the user/group to run as, carried for user switching).
pub(crate) fn app_from_web_server(options: &[(String, String)]) -> Result<AppSpec, ConfigError> {
    let mut problems = Vec::new();
    let mut layer = Layer::new(Origin::WebServer, PathBuf::from("/"));
    let mut group = None;
    for (key, value) in options {
        let key = key.as_str();
        if key == "group" {
            group = Some(value.clone());
            continue;
        }
        if !APP_KEYS.contains(&key) && !["root", "name", "base_uri"].contains(&key) {
            problems.push(ConfigProblem {
                location: Some(Origin::WebServer.locate(key)),
                message: "is not an option of an app".to_string(),
            });
            continue;
        }
        let val = if key == "env" {
            let mut pairs = Vec::new();
            for line in value.split('\n').filter(|l| !l.is_empty()) {
                let (name, v) = line.split_once('=').unwrap_or((line, ""));
                pairs.push((name.to_string(), Val::Str(v.to_string())));
            }
            Val::Table(pairs)
        } else if WEB_SERVER_INT_KEYS.contains(&key) {
            value
                .trim()
                .parse::<i64>()
                .map_or_else(|_| Val::Str(value.clone()), Val::Int)
        } else if WEB_SERVER_BOOL_KEYS.contains(&key) {
            match value.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => Val::Bool(true),
                "off" | "false" | "0" => Val::Bool(false),
                _ => Val::Str(value.clone()),
            }
        } else {
            Val::Str(value.clone())
        };
        layer.set(key, val);
    }
    let mut res = Resolver::new(vec![&layer], &mut problems);
    let app = app_from_table(&mut res, "the web server's app".to_string());
    finish(problems)?;
    let mut app = app.expect("invariant: app_from_table only fails after reporting a problem");
    app.group = group.filter(|g| !g.trim().is_empty());
    Ok(app)
}

/// The routing keys and root of one `[[app]]` table, then the app itself.
fn app_from_table(res: &mut Resolver<'_>, label: String) -> Option<AppSpec> {
    let Some(root) = res.path("root", None) else {
        if !res.is_set("root") {
            res.push_problem(
                Some(label),
                "missing `root`, the app's directory".to_string(),
            );
        }
        return None;
    };
    if !root.is_dir() {
        res.report("root", format!("{} is not a directory", root.display()));
        return None;
    }
    let name = res.string("name");
    let mut server_names = Vec::new();
    for host in res.strings("server_names").unwrap_or_default() {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            res.report("server_names", format!("{host:?} is not a host name"));
        } else if !server_names.contains(&host) {
            server_names.push(host);
        }
    }
    let base_uri = match res.string("base_uri") {
        None => None,
        Some(uri) => match normalize_base_uri(&uri) {
            Ok(uri) => uri,
            Err(message) => {
                res.report("base_uri", message);
                None
            }
        },
    };
    let place = AppPlace {
        root,
        label: Some(label),
        name,
        server_names,
        base_uri,
    };
    build_app(res, place)
}

/// `"/"` is no base URI; otherwise it must start with `/` and not end with one.
fn normalize_base_uri(uri: &str) -> Result<Option<String>, String> {
    if uri == "/" {
        return Ok(None);
    }
    if !uri.starts_with('/') {
        return Err(format!("must start with \"/\", got {uri:?}"));
    }
    if uri.ends_with('/') {
        return Err(format!("must not end with \"/\", got {uri:?}"));
    }
    if uri.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') || uri.contains("//") {
        return Err(format!(
            "must be a plain URL path like \"/blog\", got {uri:?}"
        ));
    }
    Ok(Some(uri.to_string()))
}

/// Group names must be unique, and no two apps may claim the same host and base URI.
fn check_routes(apps: &[(usize, AppSpec)], file: &Path, problems: &mut Vec<ConfigProblem>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut routes: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, app) in apps {
        let location = Some(format!("[[app]] #{index} in {}", file.display()));
        if let Some(other) = names.insert(&app.name, *index) {
            problems.push(ConfigProblem {
                location: location.clone(),
                message: format!(
                    "app group name {:?} is also used by [[app]] #{other}; set a distinct `name`",
                    app.name
                ),
            });
        }
        let base = app.base_uri.as_deref().unwrap_or("/");
        let hosts: Vec<&str> = if app.server_names.is_empty() {
            vec!["*"]
        } else {
            app.server_names.iter().map(String::as_str).collect()
        };
        for host in hosts {
            if let Some(other) = routes.insert((host, base), *index) {
                let shown = if host == "*" { "any host" } else { host };
                problems.push(ConfigProblem {
                    location: location.clone(),
                    message: format!(
                        "routes {shown} with base URI {base} like [[app]] #{other}; \
                         give them different server_names or base_uri"
                    ),
                });
            }
        }
    }
}

/// Fails with every problem, each reported once, in the order found.
fn finish(problems: Vec<ConfigProblem>) -> Result<(), ConfigError> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let problems = problems
        .into_iter()
        .filter(|p| seen.insert(p.to_string()))
        .collect();
    Err(ConfigError::Invalid { problems })
}

/// The server-wide part of the configuration.
struct ServerPart {
    listen: Vec<ListenAddr>,
    max_pool_size: u32,
    pool_idle_time: Duration,
    log_level: u8,
    log_file: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    daemonize: bool,
    instance_registry_dir: Option<PathBuf>,
    shutdown_grace: Duration,
    show_version_in_header: bool,
    hooks: crate::hooks::Hooks,
    users: super::UserSwitching,
    core_user: Option<String>,
    http_limits: HttpLimits,
    response_buffer_high_watermark: u64,
    data_buffer_dir: Option<PathBuf>,
}

/// One line per [`NO_EFFECT`] option that is set (a switch only when on), naming
/// where it was set and why it changes nothing.
fn no_effect_notices(res: &mut Resolver<'_>, notices: &mut Vec<String>) {
    for (key, kind, reason) in NO_EFFECT {
        let given = match kind {
            NoEffectKind::Bool => res.bool(key) == Some(true),
            NoEffectKind::Str => res.string(key).is_some(),
            NoEffectKind::Int => res.int(key, 0, i64::MAX).is_some(),
        };
        if !given {
            continue;
        }
        if let Some(location) = res.location(key) {
            let notice = format!("{location} has no effect: {reason}");
            if !notices.contains(&notice) {
                notices.push(notice);
            }
        }
    }
}

/// Server-wide settings; `dir` holds the default PID and log files.
fn resolve_server(res: &mut Resolver<'_>, dir: &Path) -> ServerPart {
    let port = res
        .int("port", 0, i64::from(u16::MAX))
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(DEFAULT_PORT);
    let address = res.string("address");
    let socket = res.path("socket", None);
    let listen = match &socket {
        Some(path) => vec![ListenAddr::Unix(path.clone())],
        None => {
            let host = address.as_deref().unwrap_or(DEFAULT_ADDRESS);
            match resolve_address(host, port) {
                Ok(addr) => vec![ListenAddr::Tcp(addr)],
                Err(message) => {
                    res.report("address", message);
                    Vec::new()
                }
            }
        }
    };
    let daemonize = res.bool("daemonize").unwrap_or(false);
    // passenger-rs is its own HTTP server, which Passenger calls the builtin engine.
    if res.choice("engine", &[("builtin", true), ("nginx", false)]) == Some(false) {
        res.report(
            "engine",
            "the nginx engine is not available: passenger-rs serves HTTP itself, as \
             Passenger's builtin engine does; use `builtin` or leave the engine out"
                .to_string(),
        );
    }
    // With a unix socket there is no port to tell instances apart by.
    let (default_pid, default_log) = match socket {
        Some(_) => (dir.join("passenger.pid"), dir.join("passenger.log")),
        None => (default_pid_file(dir, port), default_log_file(dir, port)),
    };
    let log_file = res
        .path("log_file", None)
        .or_else(|| daemonize.then_some(default_log));
    ServerPart {
        listen,
        max_pool_size: res.u32("max_pool_size", 1).unwrap_or(DEFAULT_MAX_POOL_SIZE),
        pool_idle_time: res
            .secs("pool_idle_time")
            .unwrap_or(Duration::from_secs(DEFAULT_POOL_IDLE_TIME)),
        log_level: res
            .int("log_level", 0, 7)
            .and_then(|l| u8::try_from(l).ok())
            .unwrap_or(DEFAULT_LOG_LEVEL),
        log_file,
        pid_file: Some(res.path("pid_file", None).unwrap_or(default_pid)),
        daemonize,
        instance_registry_dir: res.path("instance_registry_dir", None),
        shutdown_grace: res
            .secs("shutdown_timeout")
            .unwrap_or(Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT)),
        show_version_in_header: res.bool("show_version_in_header").unwrap_or(true),
        hooks: res.hooks(),
        users: resolve_users(res),
        core_user: resolve_core_user(res),
        http_limits: resolve_http_limits(res),
        response_buffer_high_watermark: res
            .int("response_buffer_high_watermark", 1, i64::MAX)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(crate::proxy::buffer::DEFAULT_HIGH_WATERMARK),
        data_buffer_dir: data_buffer_dir(res),
    }
}

/// `core_user`, checked to exist when running as root (the only case it is used).
fn resolve_core_user(res: &mut Resolver<'_>) -> Option<String> {
    let user = res.string("core_user")?;
    if crate::spawn::unix::is_root() {
        check_account(res, "core_user", &user, Account::User);
    }
    Some(user)
}

/// `user_switching`, `default_user` and `default_group`. As root, a default user or
/// group that does not exist is a problem (apps would have no one to run as); when
/// not root they are never used, so they are not looked up.
fn resolve_users(res: &mut Resolver<'_>) -> super::UserSwitching {
    let defaults = super::UserSwitching::default();
    let users = super::UserSwitching {
        enabled: res.bool("user_switching").unwrap_or(defaults.enabled),
        default_user: res.string("default_user").unwrap_or(defaults.default_user),
        default_group: res.string("default_group"),
    };
    if crate::spawn::unix::is_root() {
        check_account(res, "default_user", &users.default_user, Account::User);
        if let Some(group) = &users.default_group {
            check_account(res, "default_group", group, Account::Group);
        }
    }
    users
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    User,
    Group,
}

/// Reports `key` when the user or group `name` it names does not exist.
fn check_account(res: &mut Resolver<'_>, key: &str, name: &str, kind: Account) {
    use crate::spawn::unix::{lookup_group, lookup_user};
    let found = match kind {
        Account::User => lookup_user(name),
        Account::Group => lookup_group(name),
    };
    let what = match kind {
        Account::User => "user",
        Account::Group => "group",
    };
    match found {
        Ok(Some(_)) => {}
        Ok(None) if res.is_set(key) => {
            res.report(key, format!("the {what} {name:?} does not exist"));
        }
        // The default `nobody` is missing: name it, there is no key to blame.
        Ok(None) => res.push_problem(
            Some(super::value::flag_name(key)),
            format!(
                "the default {what} {name:?} does not exist; create it or name another \
                 one with {}",
                super::value::flag_name(key)
            ),
        ),
        Err(e) => res.report(key, e.to_string()),
    }
}

/// Warnings for settings that make apps run as root: only an explicit `user`,
/// `group` or default user does that, and it deserves a line in the log.
fn root_notices(users: &super::UserSwitching, apps: &[AppSpec], notices: &mut Vec<String>) {
    use crate::spawn::unix::{lookup_group, lookup_user};
    if !crate::spawn::unix::is_root() {
        return;
    }
    let mut warn = |text: String| {
        if !notices.contains(&text) {
            notices.push(text);
        }
    };
    if matches!(lookup_user(&users.default_user), Ok(Some(0))) {
        warn(format!(
            "the default user {:?} is root: apps whose startup file root owns{} run as root",
            users.default_user,
            if users.enabled {
                ""
            } else {
                " (every app, with user switching off)"
            }
        ));
    }
    if !users.enabled {
        return;
    }
    for app in apps {
        let user_root = app
            .user
            .as_deref()
            .is_some_and(|u| matches!(lookup_user(u), Ok(Some(0))));
        let group_root = app
            .group
            .as_deref()
            .is_some_and(|g| matches!(lookup_group(g), Ok(Some(0))));
        if user_root || group_root {
            warn(format!(
                "app {} runs as {}, as configured: its processes have root privileges",
                app.name,
                if user_root { "root" } else { "group root" }
            ));
        }
    }
}

/// The HTTP front's limits; sizes in bytes, times in seconds.
fn resolve_http_limits(res: &mut Resolver<'_>) -> HttpLimits {
    let defaults = HttpLimits::default();
    let size = |res: &mut Resolver<'_>, key: &str, min: usize| {
        res.int(
            key,
            i64::try_from(min).unwrap_or(i64::MAX),
            i64::from(i32::MAX),
        )
        .and_then(|v| usize::try_from(v).ok())
    };
    HttpLimits {
        max_header_size: size(res, "max_header_size", MIN_HEADER_SIZE)
            .unwrap_or(defaults.max_header_size),
        max_request_line: size(res, "max_request_line_size", 64)
            .unwrap_or(defaults.max_request_line),
        header_read_timeout: res
            .secs("header_read_timeout")
            .unwrap_or(defaults.header_read_timeout),
        keep_alive_timeout: res
            .secs("keep_alive_timeout")
            .unwrap_or(defaults.keep_alive_timeout),
        max_request_body_size: res
            .u64("max_request_body_size")
            .unwrap_or(defaults.max_request_body_size),
    }
}

/// `data_buffer_dir`, which must be an existing directory.
fn data_buffer_dir(res: &mut Resolver<'_>) -> Option<PathBuf> {
    let dir = res.path("data_buffer_dir", None)?;
    if !dir.is_dir() {
        res.report(
            "data_buffer_dir",
            format!("{} is not an existing directory", dir.display()),
        );
        return None;
    }
    Some(dir)
}

/// An IP address (IPv6 optionally in brackets) or a host name resolved once, now.
fn resolve_address(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("host name {host:?} has no addresses")),
        Err(e) => Err(format!("cannot resolve host name {host:?}: {e}")),
    }
}

/// Where an app comes from, decided before its per-app keys are read.
struct AppPlace {
    root: PathBuf,
    /// Names the app in problems that are not about one key.
    label: Option<String>,
    /// The group name; `None` = `"<app_root> (<environment>)"`.
    name: Option<String>,
    server_names: Vec<String>,
    base_uri: Option<String>,
}

/// The app type as named in the configuration, before `generic` gets its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeName {
    Ruby,
    Python,
    Node,
    Generic,
}

const TYPE_NAMES: &[(&str, TypeName)] = &[
    ("ruby", TypeName::Ruby),
    ("rack", TypeName::Ruby),
    ("python", TypeName::Python),
    ("wsgi", TypeName::Python),
    ("nodejs", TypeName::Node),
    ("node", TypeName::Node),
    ("generic", TypeName::Generic),
];

/// Builds one app from the per-app keys; `None` after reporting why not.
fn build_app(res: &mut Resolver<'_>, place: AppPlace) -> Option<AppSpec> {
    let AppPlace {
        root,
        label,
        name,
        server_names,
        base_uri,
    } = place;
    let environment = res
        .string("environment")
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_string());
    let app_type = resolve_app_type(res, &root, label);

    let name = name.unwrap_or_else(|| format!("{} ({environment})", root.display()));
    let mut spec = AppSpec::new(
        name,
        root.clone(),
        app_type.clone().unwrap_or(AppType::Ruby),
    );
    let default_startup = match &spec.app_type {
        AppType::Generic { .. } => None,
        AppType::Ruby => Some("config.ru"),
        AppType::Python => Some("passenger_wsgi.py"),
        AppType::Node => Some("app.js"),
    };
    spec.startup_file = res
        .path("startup_file", Some(&root))
        .or_else(|| default_startup.map(|f| root.join(f)));
    if let Some(dir) = res.path("restart_dir", Some(&root)) {
        spec.restart_dir = dir;
    }
    spec.friendly_error_pages = res
        .bool("friendly_error_pages")
        .unwrap_or(environment == "development");
    if let Some(pipelining) = res.bool("request_pipelining") {
        spec.request_pipelining = pipelining;
    }
    if let Some(buffer) = res.bool("buffer_response") {
        spec.buffer_response = buffer;
    }
    if let Some(buffer) = res.bool("buffer_upload") {
        spec.buffer_upload = buffer;
    }
    spec.environment = environment;
    spec.base_uri = base_uri;
    spec.server_names = server_names;
    spec.env_vars = res.env(ENV_KEYS);
    if let Some(v) = res.u32("min_instances", 0) {
        spec.min_instances = v;
    }
    if let Some(v) = res.u32("max_instances_per_app", 0) {
        spec.max_instances = v;
    }
    if let Some(v) = res.u64("max_requests") {
        spec.max_requests = v;
    }
    if let Some(v) = res.u32("max_request_queue_size", 0) {
        spec.max_request_queue_size = v;
    }
    if let Some(v) = res.int("start_timeout", 1, i64::MAX) {
        spec.start_timeout = Duration::from_secs(v.unsigned_abs());
    }
    if let Some(v) = res.secs("stat_throttle_rate") {
        spec.stat_throttle_rate = v;
    }
    // Passenger's "not set" is -1; accept it in files written for Passenger.
    spec.force_max_concurrent_requests_per_process = res
        .int(
            "force_max_concurrent_requests_per_process",
            -1,
            i64::from(u32::MAX),
        )
        .and_then(|v| u32::try_from(v).ok());
    // Ruby and Python apps can have a preloader; Passenger's dynamic default is smart
    // for Ruby, direct for everything else.
    spec.spawn_method = res
        .choice(
            "spawn_method",
            &[
                ("smart", SpawnMethod::Smart),
                ("direct", SpawnMethod::Direct),
            ],
        )
        .unwrap_or(if spec.app_type == AppType::Ruby {
            SpawnMethod::Smart
        } else {
            SpawnMethod::Direct
        });
    if let Some(v) = res.secs("max_preloader_idle_time") {
        spec.max_preloader_idle_time = v;
    }
    spec.user = res.string("user");
    spec.group = res.string("group");
    if crate::spawn::unix::is_root() {
        if let Some(user) = spec.user.clone() {
            check_account(res, "user", &user, Account::User);
        }
        // `!STARTUP_FILE!` is Passenger's "the startup file's group".
        if let Some(group) = spec.group.clone().filter(|g| g != STARTUP_FILE_GROUP) {
            check_account(res, "group", &group, Account::Group);
        }
    }
    if let Some(v) = res.u64("memory_limit") {
        spec.memory_limit_mb = v;
    }
    if let Some(v) = res.secs("max_request_time") {
        spec.max_request_time = v;
    }
    if let Some(v) = res.string("ruby") {
        spec.ruby = v;
    }
    if let Some(v) = res.string("python") {
        spec.python = v;
    }
    if let Some(v) = res.string("nodejs") {
        spec.nodejs = v;
    }
    app_type.map(|_| spec)
}

/// The app type from `app_type` / `app_start_command`, or detected from the files in
/// the app root; `None` after reporting why not.
fn resolve_app_type(res: &mut Resolver<'_>, root: &Path, label: Option<String>) -> Option<AppType> {
    let named = res.choice("app_type", TYPE_NAMES);
    let command = res.string("app_start_command");
    match (named, command) {
        (Some(TypeName::Generic), Some(start_command)) => Some(AppType::Generic { start_command }),
        (Some(TypeName::Generic), _) => {
            res.report(
                "app_type",
                "generic apps need app_start_command, the command that starts the app \
                 listening on $PORT"
                    .to_string(),
            );
            None
        }
        (Some(named), Some(_)) => {
            res.report(
                "app_start_command",
                format!(
                    "is only used for generic apps, but app_type is {}; remove one of them",
                    type_name(named)
                ),
            );
            None
        }
        (Some(TypeName::Ruby), None) => Some(AppType::Ruby),
        (Some(TypeName::Python), None) => Some(AppType::Python),
        (Some(TypeName::Node), None) => Some(AppType::Node),
        // An invalid app_type was already reported; don't pile a detection error on it.
        (None, _) if res.is_set("app_type") => None,
        (None, Some(start_command)) => Some(AppType::Generic { start_command }),
        (None, None) => {
            let detected = DETECTION
                .iter()
                .find(|(file, _)| root.join(file).is_file())
                .map(|(_, app_type)| app_type.clone());
            if detected.is_none() {
                res.push_problem(
                    label,
                    format!(
                        "could not detect the app type of {}: looked for config.ru, \
                         passenger_wsgi.py and app.js; or set app_start_command",
                        root.display()
                    ),
                );
            }
            detected
        }
    }
}

fn type_name(named: TypeName) -> &'static str {
    match named {
        TypeName::Ruby => "ruby",
        TypeName::Python => "python",
        TypeName::Node => "nodejs",
        TypeName::Generic => "generic",
    }
}
