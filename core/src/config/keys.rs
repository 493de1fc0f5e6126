//! The keys each configuration source accepts, and the check that rejects the rest.
//!
//! Owns the key lists (server-wide, per-app, `[[app]]`-only) and the list of Passenger
//! Standalone options that passenger-rs knows about but does not support. It does not
//! interpret values: `build` does.

use super::value::Origin;
use super::ConfigProblem;

/// Server-wide keys: flags, the top level of the TOML file, `Passengerfile.json`.
pub(crate) const SERVER_KEYS: &[&str] = &[
    "address",
    "port",
    "socket",
    "max_pool_size",
    "pool_idle_time",
    "log_level",
    "log_file",
    "pid_file",
    "instance_registry_dir",
    "daemonize",
    "shutdown_timeout",
    "engine",
    "show_version_in_header",
    "hooks",
    "user_switching",
    "default_user",
    "default_group",
    "core_user",
    "max_header_size",
    "max_request_line_size",
    "header_read_timeout",
    "keep_alive_timeout",
    "max_request_body_size",
    "response_buffer_high_watermark",
    "data_buffer_dir",
];

/// Per-app keys; at the top level of the TOML file they are defaults for every app.
/// `env` is `envvars` in `Passengerfile.json` and `--envvar` on the command line.
pub(crate) const APP_KEYS: &[&str] = &[
    "environment",
    "min_instances",
    "max_instances_per_app",
    "max_requests",
    "max_request_queue_size",
    "stat_throttle_rate",
    "start_timeout",
    "force_max_concurrent_requests_per_process",
    "app_type",
    "startup_file",
    "app_start_command",
    "restart_dir",
    "friendly_error_pages",
    "request_pipelining",
    "buffer_response",
    "buffer_upload",
    "spawn_method",
    "max_preloader_idle_time",
    "user",
    "group",
    "memory_limit",
    "max_request_time",
    "ruby",
    "python",
    "nodejs",
    "env",
];

/// Keys only an `[[app]]` table has.
pub(crate) const APP_TABLE_KEYS: &[&str] = &["root", "name", "server_names", "base_uri"];

/// Passenger Standalone options (flags and `Passengerfile.json` keys) that
/// passenger-rs does not implement. They are rejected by name rather than reported
/// as unknown, so a `Passengerfile.json` written for Passenger gets a clear answer.
const UNSUPPORTED: &[&str] = &[
    "nginx_version",
    "nginx_bin",
    "nginx_config_template",
    "nginx_tarball",
    "ssl",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_certificate_chain",
    "ssl_port",
    "static_files_dir",
    "core_file_descriptor_ulimit",
    "app_file_descriptor_ulimit",
    "turbocaching",
    "vary_turbocache_by_cookie",
    "unlimited_concurrency_path",
    "app_supports_kuria_protocol",
    "preload_bundler",
    "rackup",
    "meteor_app_settings",
    "concurrency_model",
    "thread_count",
    "rolling_restarts",
    "resist_deployment_errors",
    "max_request_queue_time",
    "debugger",
    "union_station_key",
    "polling_interval",
    "abort_websockets_on_process_shutdown",
    "custom_error_page",
    "admin_panel_url",
    "admin_panel_auth_type",
    "admin_panel_username",
    "admin_panel_password",
    "ctls",
    "dump_config_manifest",
    "direct_instance_request_address",
    "app_log_file",
    "envvars_file",
    "runtime_check_only",
    "binaries_url_root",
];

/// The kind of value a key in [`NO_EFFECT`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoEffectKind {
    /// A switch; only `true` is worth a notice (`false` is what passenger-rs does).
    Bool,
    /// A name, address or path; any value is worth a notice.
    Str,
    /// A whole number; any value is worth a notice.
    Int,
}

/// Passenger Standalone options that scripts and `Passengerfile.json` files commonly
/// carry, accepted everywhere (flags, `Passengerfile.json`, the TOML file and its
/// `[[app]]` tables) although they change nothing here, with the reason the startup
/// notice gives.
pub(crate) const NO_EFFECT: &[(&str, NoEffectKind, &str)] = &[
    (
        "disable_security_update_check",
        NoEffectKind::Bool,
        "passenger-rs never checks for security updates",
    ),
    (
        "security_update_check_proxy",
        NoEffectKind::Str,
        "passenger-rs never checks for security updates",
    ),
    (
        "disable_anonymous_telemetry",
        NoEffectKind::Bool,
        "passenger-rs sends no telemetry",
    ),
    (
        "anonymous_telemetry_proxy",
        NoEffectKind::Str,
        "passenger-rs sends no telemetry",
    ),
    (
        "load_shell_envvars",
        NoEffectKind::Bool,
        "apps do not load shell startup files; pass variables with --envvar or `envvars`",
    ),
    (
        "sticky_sessions",
        NoEffectKind::Bool,
        "sticky sessions are not implemented; every request goes to the least busy process",
    ),
    (
        "sticky_sessions_cookie_name",
        NoEffectKind::Str,
        "sticky sessions are not implemented; every request goes to the least busy process",
    ),
    (
        "sticky_sessions_cookie_attributes",
        NoEffectKind::Str,
        "sticky sessions are not implemented; every request goes to the least busy process",
    ),
    (
        "socket_backlog",
        NoEffectKind::Int,
        "the listen backlog is 2048, Passenger's default",
    ),
    (
        "auto",
        NoEffectKind::Bool,
        "passenger-rs never asks questions at startup",
    ),
    (
        "dont_install_runtime",
        NoEffectKind::Bool,
        "passenger-rs has no Standalone runtime to install",
    ),
    (
        "dont_compile_runtime",
        NoEffectKind::Bool,
        "passenger-rs has no Standalone runtime to compile",
    ),
];

/// Reports every key of `keys` that is not in `allowed`. `server_only` are keys that
/// are valid elsewhere in the same file but not here (server keys in `[[app]]`).
pub(crate) fn check_keys<'k>(
    origin: &Origin,
    keys: impl Iterator<Item = &'k String>,
    allowed: &[&[&str]],
    server_only: &[&str],
    problems: &mut Vec<ConfigProblem>,
) {
    for key in keys {
        if allowed.iter().any(|list| list.contains(&key.as_str()))
            || NO_EFFECT.iter().any(|(k, _, _)| k == key)
        {
            continue;
        }
        let message = if server_only.contains(&key.as_str()) {
            "is a server-wide setting; set it at the top level of the file".to_string()
        } else if UNSUPPORTED.contains(&key.as_str()) {
            "is a Passenger Standalone option that passenger-rs does not support; remove it"
                .to_string()
        } else {
            match suggestion(key, allowed) {
                Some(near) => format!("unknown key (did you mean `{near}`?)"),
                None => "unknown key".to_string(),
            }
        };
        problems.push(ConfigProblem {
            location: Some(origin.locate(key)),
            message,
        });
    }
}

/// The allowed key closest to `key`, if it is close enough to be a typo.
fn suggestion<'a>(key: &str, allowed: &[&[&'a str]]) -> Option<&'a str> {
    allowed
        .iter()
        .flat_map(|list| list.iter().copied())
        .map(|candidate| (edit_distance(key, candidate), candidate))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
