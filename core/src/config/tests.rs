//! Tests of configuration loading: defaults, priority, validation messages, multi-app
//! routing keys, type detection and reload. Every test works in its own temp dir and
//! passes the "current directory" explicitly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::*;
use crate::app::{AppType, SpawnMethod};

/// A temp dir holding `files` (path, contents); parent directories are created.
fn dir_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("invariant: temp dir can be created");
    for (path, contents) in files {
        let full = dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("invariant: test dirs can be created");
        }
        std::fs::write(full, contents).expect("invariant: test files can be written");
    }
    dir
}

fn single(dir: &Path) -> StartOptions {
    StartOptions {
        app_dir: Some(dir.to_path_buf()),
        ..StartOptions::default()
    }
}

fn load_in(opts: &StartOptions, cwd: &Path) -> Result<ServerConfig, ConfigError> {
    build::load(opts, cwd)
}

/// The problems of an `Invalid` error, as displayed.
fn problems(result: Result<ServerConfig, ConfigError>) -> Vec<String> {
    match result {
        Err(ConfigError::Invalid { problems }) => problems.iter().map(|p| p.to_string()).collect(),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(config) => panic!("expected Invalid, got a config: {config:?}"),
    }
}

fn tcp(addr: &str) -> ListenAddr {
    ListenAddr::Tcp(addr.parse::<SocketAddr>().expect("invariant: test address"))
}

#[test]
fn single_app_defaults_are_passenger_standalone_defaults() {
    let dir = dir_with(&[("config.ru", "run App")]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    let root = dir.path().to_path_buf();

    assert_eq!(config.listen, vec![tcp("0.0.0.0:3000")]);
    assert!(!config.multi_app);
    assert_eq!(config.max_pool_size, 6);
    assert_eq!(config.pool_idle_time, Duration::from_secs(300));
    assert_eq!(config.log_level, 3);
    assert_eq!(config.log_file, None);
    assert_eq!(config.pid_file, Some(root.join("passenger.3000.pid")));
    assert!(!config.daemonize);
    assert_eq!(config.config_file, None);
    assert_eq!(config.instance_registry_dir, None);
    assert_eq!(config.shutdown_grace, Duration::from_secs(60));
    assert_eq!(config.environment, "development");

    assert_eq!(config.apps.len(), 1);
    let app = &config.apps[0];
    assert_eq!(app.name, root.display().to_string());
    assert_eq!(app.app_root, root);
    assert_eq!(app.app_type, AppType::Ruby);
    assert_eq!(app.startup_file, Some(root.join("config.ru")));
    assert_eq!(app.restart_dir, root.join("tmp"));
    assert_eq!(app.environment, "development");
    assert!(app.friendly_error_pages);
    assert_eq!(app.base_uri, None);
    assert!(app.server_names.is_empty());
    assert_eq!(app.min_instances, 1);
    assert_eq!(app.max_instances, 0);
    assert_eq!(app.max_requests, 0);
    assert_eq!(app.max_request_queue_size, 100);
    assert_eq!(app.start_timeout, Duration::from_secs(90));
    assert_eq!(app.stat_throttle_rate, Duration::from_secs(10));
    assert_eq!(app.spawn_method, SpawnMethod::Smart);
    assert_eq!(app.force_max_concurrent_requests_per_process, None);
}

#[test]
fn app_dir_defaults_to_cwd_and_relative_paths_become_absolute() {
    let dir = dir_with(&[("site/app.js", ""), ("site/tmp2/.keep", "")]);
    let opts = StartOptions {
        restart_dir: Some(PathBuf::from("tmp2")),
        log_file: Some(PathBuf::from("logs/p.log")),
        ..StartOptions::default()
    };
    let cwd = dir.path().join("site");
    let config = load_in(&opts, &cwd).expect("loads");
    let app = &config.apps[0];
    assert_eq!(app.app_root, cwd);
    assert_eq!(app.app_type, AppType::Node);
    assert_eq!(app.spawn_method, SpawnMethod::Direct);
    assert_eq!(app.restart_dir, cwd.join("tmp2"));
    assert_eq!(config.log_file, Some(cwd.join("logs/p.log")));

    let relative = StartOptions {
        app_dir: Some(PathBuf::from("./site/../site")),
        ..StartOptions::default()
    };
    let config = load_in(&relative, dir.path()).expect("loads");
    assert_eq!(config.apps[0].app_root, cwd);
}

#[test]
fn passengerfile_is_merged_and_flags_win() {
    let dir = dir_with(&[
        ("passenger_wsgi.py", ""),
        (
            "Passengerfile.json",
            r#"{"port": 4000, "environment": "production", "max_pool_size": 3,
                "envvars": {"A": "1", "B": "2"}, "min_instances": 2, "daemonize": true}"#,
        ),
    ]);
    let mut opts = single(dir.path());
    opts.port = Some(5000);
    opts.min_instances = Some(4);
    opts.envvars = vec![("B".into(), "3".into()), ("C".into(), "4".into())];
    let config = load_in(&opts, Path::new("/")).expect("loads");
    let root = dir.path();

    assert_eq!(config.listen, vec![tcp("0.0.0.0:5000")]);
    assert_eq!(config.max_pool_size, 3);
    assert!(config.daemonize);
    assert_eq!(config.log_file, Some(root.join("passenger.5000.log")));
    assert_eq!(config.pid_file, Some(root.join("passenger.5000.pid")));
    assert_eq!(config.config_file, Some(root.join("Passengerfile.json")));
    let app = &config.apps[0];
    assert_eq!(app.app_type, AppType::Python);
    assert_eq!(app.environment, "production");
    assert!(!app.friendly_error_pages, "off outside development");
    assert_eq!(app.min_instances, 4);
    let env: Vec<(&str, &str)> = app
        .env_vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, vec![("A", "1"), ("B", "3"), ("C", "4")]);
}

#[test]
fn unknown_and_unsupported_passengerfile_keys_name_the_key_and_file() {
    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"max_pool_sise": 3, "ssl": true, "engine": "nginx", "frobnicate": 1}"#,
        ),
    ]);
    let file = dir.path().join("Passengerfile.json").display().to_string();
    let found = problems(load_in(&single(dir.path()), Path::new("/")));
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.contains(&format!(
        "`max_pool_sise` in {file}: unknown key (did you mean `max_pool_size`?)"
    )));
    assert!(found.contains(&format!("`frobnicate` in {file}: unknown key")));
    assert!(found
        .iter()
        .any(|p| p.starts_with(&format!("`ssl` in {file}:")) && p.contains("not support")));
    assert!(found
        .iter()
        .any(|p| p.starts_with(&format!("`engine` in {file}:"))
            && p.contains("nginx engine is not available")));
}

#[test]
fn options_without_effect_are_accepted_type_checked_and_noted() {
    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"engine": "builtin", "sticky_sessions": true, "load_shell_envvars": false,
                "anonymous_telemetry_proxy": "http://proxy:8080"}"#,
        ),
    ]);
    let file = dir.path().join("Passengerfile.json").display().to_string();
    let mut opts = single(dir.path());
    opts.no_effect = vec![("auto".into(), None)];
    let config = load_in(&opts, Path::new("/")).expect("accepted");
    assert_eq!(
        config.notices,
        vec![
            format!("`anonymous_telemetry_proxy` in {file} has no effect: passenger-rs sends no telemetry"),
            format!("`sticky_sessions` in {file} has no effect: sticky sessions are not implemented; every request goes to the least busy process"),
            "--auto has no effect: passenger-rs never asks questions at startup".to_string(),
        ]
    );
    assert!(config.show_version_in_header);

    let bad = dir_with(&[
        ("config.ru", ""),
        ("Passengerfile.json", r#"{"sticky_sessions": "yes"}"#),
    ]);
    let found = problems(load_in(&single(bad.path()), Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`sticky_sessions`") && found[0].contains("true or false"));
}

#[test]
fn bad_values_are_all_reported_with_key_and_file() {
    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"port": 70000, "log_level": 9, "friendly_error_pages": "yes",
                "pool_idle_time": -1, "spawn_method": "fork"}"#,
        ),
    ]);
    let file = dir.path().join("Passengerfile.json").display().to_string();
    let found = problems(load_in(&single(dir.path()), Path::new("/")));
    let expected = [
        format!("`port` in {file}: must be an integer from 0 to 65535, got 70000"),
        format!("`log_level` in {file}: must be an integer from 0 to 7, got 9"),
        format!("`friendly_error_pages` in {file}: must be true or false, got a string \"yes\""),
        format!("`pool_idle_time` in {file}: must be an integer of at least 0, got -1"),
        format!("`spawn_method` in {file}: must be one of smart, direct, got \"fork\""),
    ];
    for e in &expected {
        assert!(found.contains(e), "missing {e:?} in {found:?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:?}");
}

#[test]
fn bad_flag_values_name_the_flag() {
    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    opts.log_level = Some(8);
    opts.max_pool_size = Some(0);
    opts.envvars = vec![(String::new(), "x".into())];
    let found = problems(load_in(&opts, Path::new("/")));
    assert!(found.contains(&"--log-level: must be an integer from 0 to 7, got 8".to_string()));
    assert!(found.contains(&"--max-pool-size: must be an integer of at least 1, got 0".to_string()));
    assert!(
        found.iter().any(|p| p.starts_with("--envvar: ")),
        "{found:?}"
    );
}

#[test]
fn invalid_json_is_a_parse_error_naming_the_file() {
    let dir = dir_with(&[("config.ru", ""), ("Passengerfile.json", "{\"port\": ")]);
    match load_in(&single(dir.path()), Path::new("/")) {
        Err(e @ ConfigError::ParseJson { .. }) => {
            assert!(e
                .to_string()
                .contains("Passengerfile.json is not valid JSON"))
        }
        other => panic!("expected ParseJson, got {other:?}"),
    }
}

#[test]
fn app_type_detection_order_and_explicit_types() {
    let cases: &[(&[&str], AppType)] = &[
        (&["config.ru", "passenger_wsgi.py", "app.js"], AppType::Ruby),
        (&["passenger_wsgi.py", "app.js"], AppType::Python),
        (&["app.js"], AppType::Node),
    ];
    for (files, expected) in cases {
        let entries: Vec<(&str, &str)> = files.iter().map(|f| (*f, "")).collect();
        let dir = dir_with(&entries);
        let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
        assert_eq!(&config.apps[0].app_type, expected, "files {files:?}");
    }

    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    opts.app_start_command = Some("./server --port $PORT".into());
    let app = &load_in(&opts, Path::new("/")).expect("loads").apps[0];
    assert_eq!(
        app.app_type,
        AppType::Generic {
            start_command: "./server --port $PORT".into()
        }
    );
    assert_eq!(app.startup_file, None);

    let mut opts = single(dir.path());
    opts.app_type = Some("wsgi".into());
    opts.startup_file = Some("main.py".into());
    let app = &load_in(&opts, Path::new("/")).expect("loads").apps[0];
    assert_eq!(app.app_type, AppType::Python);
    assert_eq!(app.startup_file, Some(dir.path().join("main.py")));

    let mut opts = single(dir.path());
    opts.app_type = Some("generic".into());
    let found = problems(load_in(&opts, Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("--app-type: generic apps need app_start_command"));
}

#[test]
fn undetectable_app_is_an_error_saying_what_was_looked_for() {
    let dir = dir_with(&[("index.html", "")]);
    let found = problems(load_in(&single(dir.path()), Path::new("/")));
    assert_eq!(
        found,
        vec![format!(
            "APP_DIR: could not detect the app type of {}: looked for config.ru, \
             passenger_wsgi.py and app.js; or set app_start_command",
            dir.path().display()
        )]
    );
}

const MULTI: &str = r#"
address = "127.0.0.1"
port = 8000
max_pool_size = 10
environment = "production"
min_instances = 0

[env]
SHARED = "top"

[[app]]
root = "blog"
server_names = ["Example.com", "www.example.com"]
base_uri = "/blog"
min_instances = 3
env = { SHARED = "blog", ONLY_BLOG = 1 }

[[app]]
root = "apps/api"
name = "api"
server_names = ["example.com"]
environment = "staging"
app_type = "generic"
app_start_command = "./api --port $PORT"
restart_dir = "/var/restart"

[[app]]
root = "blog"
name = "catch-all"
base_uri = "/"
"#;

fn multi_dir(toml_text: &str) -> TempDir {
    dir_with(&[
        ("passenger.toml", toml_text),
        ("blog/config.ru", ""),
        ("apps/api/README", ""),
    ])
}

fn multi(dir: &Path) -> StartOptions {
    StartOptions {
        config_file: Some(dir.join("passenger.toml")),
        ..StartOptions::default()
    }
}

#[test]
fn multi_app_toml_routes_and_defaults() {
    let dir = multi_dir(MULTI);
    let root = dir.path();
    let config = load_in(&multi(root), Path::new("/")).expect("loads");

    assert!(config.multi_app);
    assert_eq!(config.listen, vec![tcp("127.0.0.1:8000")]);
    assert_eq!(config.max_pool_size, 10);
    assert_eq!(config.environment, "production");
    assert_eq!(config.config_file, Some(root.join("passenger.toml")));
    assert_eq!(config.pid_file, Some(root.join("passenger.8000.pid")));
    assert_eq!(config.apps.len(), 3);

    let blog = &config.apps[0];
    assert_eq!(blog.app_root, root.join("blog"));
    assert_eq!(
        blog.name,
        format!("{} (production)", root.join("blog").display())
    );
    assert_eq!(blog.server_names, vec!["example.com", "www.example.com"]);
    assert_eq!(blog.base_uri.as_deref(), Some("/blog"));
    assert_eq!(blog.min_instances, 3);
    assert_eq!(blog.app_type, AppType::Ruby);
    assert!(!blog.friendly_error_pages);
    assert_eq!(
        blog.env_vars,
        vec![
            ("SHARED".to_string(), "blog".to_string()),
            ("ONLY_BLOG".to_string(), "1".to_string())
        ]
    );

    let api = &config.apps[1];
    assert_eq!(api.name, "api");
    assert_eq!(api.environment, "staging");
    assert_eq!(api.min_instances, 0, "top-level default applies");
    assert_eq!(api.restart_dir, PathBuf::from("/var/restart"));
    assert_eq!(
        api.app_type,
        AppType::Generic {
            start_command: "./api --port $PORT".into()
        }
    );
    assert_eq!(api.env_vars, vec![("SHARED".into(), "top".into())]);

    let catch_all = &config.apps[2];
    assert_eq!(catch_all.base_uri, None, "\"/\" means no base URI");
    assert!(catch_all.server_names.is_empty());
}

#[test]
fn flags_override_the_files_globals_but_not_app_tables() {
    let dir = multi_dir(MULTI);
    let mut opts = multi(dir.path());
    opts.port = Some(9000);
    opts.min_instances = Some(2);
    opts.environment = Some("development".into());
    let config = load_in(&opts, Path::new("/")).expect("loads");
    assert_eq!(config.listen, vec![tcp("127.0.0.1:9000")]);
    assert_eq!(config.environment, "development");
    assert_eq!(config.apps[0].min_instances, 3, "[[app]] key wins");
    assert_eq!(config.apps[1].min_instances, 2, "flag beats top level");
    assert_eq!(config.apps[1].environment, "staging");
    assert_eq!(config.apps[2].environment, "development");
}

#[test]
fn duplicate_routes_and_group_names_are_errors() {
    let text = r#"
[[app]]
root = "blog"
server_names = ["a.test", "b.test"]
base_uri = "/x"

[[app]]
root = "blog"
server_names = ["B.test"]
base_uri = "/x"
"#;
    let dir = multi_dir(text);
    let file = dir.path().join("passenger.toml").display().to_string();
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with(&format!("[[app]] #2 in {file}: app group name")));
    assert!(found[0].contains("also used by [[app]] #1"));
    assert!(found[1].starts_with(&format!(
        "[[app]] #2 in {file}: routes b.test with base URI /x like [[app]] #1"
    )));
}

#[test]
fn multi_app_key_errors_are_collected() {
    let text = r#"
prot = 1
[[app]]
port = 80
base_uri = "/blog/"
server_names = "example.com"

[[app]]
root = "blog"
min_instances = "two"
"#;
    let dir = multi_dir(text);
    let file = dir.path().join("passenger.toml").display().to_string();
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    let expected = [
        format!("`prot` in {file}: unknown key (did you mean `port`?)"),
        format!(
            "`port` of [[app]] #1 in {file}: is a server-wide setting; \
             set it at the top level of the file"
        ),
        format!("[[app]] #1 in {file}: missing `root`, the app's directory"),
        format!(
            "`min_instances` of [[app]] #2 in {file}: must be an integer of at least 0, \
             got a string \"two\""
        ),
    ];
    for e in &expected {
        assert!(found.contains(e), "missing {e:?} in {found:?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:?}");
}

#[test]
fn base_uri_and_server_names_are_validated() {
    let text = r#"
[[app]]
root = "blog"
base_uri = "blog/"
server_names = ["ok.test", "not ok"]
"#;
    let dir = multi_dir(text);
    let file = dir.path().join("passenger.toml").display().to_string();
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    assert_eq!(
        found,
        vec![
            format!("`server_names` of [[app]] #1 in {file}: \"not ok\" is not a host name"),
            format!("`base_uri` of [[app]] #1 in {file}: must start with \"/\", got \"blog/\""),
        ]
    );
}

#[test]
fn app_dir_with_config_and_missing_apps_are_errors() {
    let dir = multi_dir("port = 1\n");
    let mut opts = multi(dir.path());
    opts.app_dir = Some(dir.path().to_path_buf());
    let found = problems(load_in(&opts, Path::new("/")));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("APP_DIR: cannot be combined with --config"));
    assert!(found[1].contains("lists no apps"));
}

#[test]
fn socket_replaces_tcp() {
    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    opts.socket = Some(PathBuf::from("run/p.sock"));
    let config = load_in(&opts, dir.path()).expect("loads");
    assert_eq!(
        config.listen,
        vec![ListenAddr::Unix(dir.path().join("run/p.sock"))]
    );
}

#[test]
fn reload_rereads_the_same_file_from_any_directory() {
    let dir = multi_dir(MULTI);
    let relative = StartOptions {
        config_file: Some(PathBuf::from("passenger.toml")),
        ..StartOptions::default()
    };
    let config = load_in(&relative, dir.path()).expect("loads");
    assert_eq!(config.apps.len(), 3);

    let fewer = MULTI
        .split("[[app]]\nroot = \"blog\"\nname")
        .next()
        .unwrap_or(MULTI);
    std::fs::write(dir.path().join("passenger.toml"), fewer).expect("rewrite");
    let reloaded = reload(&config).expect("reloads");
    assert_eq!(reloaded.apps.len(), 2);
    assert_eq!(reloaded.config_file, config.config_file);

    std::fs::write(
        dir.path().join("passenger.toml"),
        "port = \"x\"\n[[app]]\nroot = \"blog\"\n",
    )
    .expect("rewrite");
    let found = problems(reload(&config));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("`port` in "));
}

#[test]
fn reload_in_single_app_mode_rereads_passengerfile() {
    let dir = dir_with(&[("config.ru", "")]);
    let config = load_in(&StartOptions::default(), dir.path()).expect("loads");
    assert_eq!(config.apps[0].max_requests, 0);
    std::fs::write(
        dir.path().join("Passengerfile.json"),
        r#"{"max_requests": 50}"#,
    )
    .expect("write");
    let reloaded = reload(&config).expect("reloads");
    assert_eq!(reloaded.apps[0].max_requests, 50);
}

#[test]
fn request_pipelining_is_on_by_default_and_the_passengerfile_can_turn_it_off() {
    let dir = dir_with(&[("config.ru", "")]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    assert!(config.apps[0].request_pipelining);

    let dir = dir_with(&[
        ("config.ru", ""),
        ("Passengerfile.json", r#"{"request_pipelining": false}"#),
    ]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    assert!(!config.apps[0].request_pipelining);
}

#[test]
fn request_pipelining_flag_wins_over_the_passengerfile() {
    let dir = dir_with(&[
        ("config.ru", ""),
        ("Passengerfile.json", r#"{"request_pipelining": false}"#),
    ]);
    let mut opts = single(dir.path());
    opts.request_pipelining = Some(true);
    let config = load_in(&opts, Path::new("/")).expect("loads");
    assert!(config.apps[0].request_pipelining);

    let dir = dir_with(&[
        ("config.ru", ""),
        ("Passengerfile.json", r#"{"request_pipelining": true}"#),
    ]);
    let mut opts = single(dir.path());
    opts.request_pipelining = Some(false);
    let config = load_in(&opts, Path::new("/")).expect("loads");
    assert!(!config.apps[0].request_pipelining);
}

#[test]
fn request_pipelining_that_is_not_a_bool_names_the_key_and_file() {
    let dir = dir_with(&[
        ("config.ru", ""),
        ("Passengerfile.json", r#"{"request_pipelining": "no"}"#),
    ]);
    let file = dir.path().join("Passengerfile.json").display().to_string();
    let found = problems(load_in(&single(dir.path()), Path::new("/")));
    assert_eq!(
        found,
        vec![format!(
            "`request_pipelining` in {file}: must be true or false, got a string \"no\""
        )]
    );
}

#[test]
fn request_pipelining_in_toml_is_a_default_and_an_app_may_override_it() {
    let dir = multi_dir(
        r#"
request_pipelining = false

[[app]]
root = "blog"
base_uri = "/blog"

[[app]]
root = "apps/api"
app_start_command = "./api"
request_pipelining = true
"#,
    );
    let config = load_in(&multi(dir.path()), Path::new("/")).expect("loads");
    assert!(!config.apps[0].request_pipelining, "top-level default");
    assert!(config.apps[1].request_pipelining, "per-app override");
}

#[test]
fn hooks_merge_flags_over_passengerfile_and_unknown_names_are_named() {
    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"hooks": {"spawn_failed": "echo file", "attached_process": "echo attached"}}"#,
        ),
    ]);
    let mut opts = single(dir.path());
    opts.hooks = vec![("spawn_failed".into(), "echo flag".into())];
    let config = load_in(&opts, Path::new("/")).expect("valid");
    assert_eq!(config.hooks.command("spawn_failed"), Some("echo flag"));
    assert_eq!(
        config.hooks.command("attached_process"),
        Some("echo attached")
    );

    let bad = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"hooks": {"spawn_failure": "x", "queue_full_error": 3}}"#,
        ),
    ]);
    let file = bad.path().join("Passengerfile.json").display().to_string();
    let found = problems(load_in(&single(bad.path()), Path::new("/")));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|p| p.starts_with(&format!(
        "`hooks` in {file}: unknown hook \"spawn_failure\""
    ))));
    assert!(found
        .iter()
        .any(|p| p.contains("the command of hook queue_full_error must be a string")));
}

// ----- Assertions that kill the mutation survivors of `tests/mutants config` -----

#[test]
fn an_invalid_configuration_names_one_problem_or_counts_many() {
    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    opts.log_level = Some(8);
    let one = load_in(&opts, Path::new("/")).expect_err("invalid");
    assert_eq!(
        one.to_string(),
        "invalid configuration: --log-level: must be an integer from 0 to 7, got 8"
    );
    opts.max_pool_size = Some(0);
    let two = load_in(&opts, Path::new("/")).expect_err("invalid");
    assert_eq!(
        two.to_string(),
        "invalid configuration (2 problems):\n  \
         - --max-pool-size: must be an integer of at least 1, got 0\n  \
         - --log-level: must be an integer from 0 to 7, got 8"
    );
}

#[test]
fn the_pid_file_comes_from_the_flags_or_the_passengerfile_port() {
    let dir = dir_with(&[(
        "Passengerfile.json",
        r#"{"port": 4123, "max_pool_size": "x"}"#,
    )]);
    let opts = single(dir.path());
    // The rest of the file is not validated: a stop works whatever else it says.
    assert_eq!(
        build::pid_file(&opts, Path::new("/")).expect("pid file"),
        dir.path().join("passenger.4123.pid")
    );
    assert_eq!(
        super::pid_file(&opts).expect("pid file"),
        dir.path().join("passenger.4123.pid")
    );
    let mut opts = single(dir.path());
    opts.pid_file = Some(PathBuf::from("run/x.pid"));
    assert_eq!(
        build::pid_file(&opts, dir.path()).expect("pid file"),
        dir.path().join("run/x.pid")
    );
}

#[test]
fn options_without_effect_keep_their_type() {
    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    // An integer option given a number, a string option given a number: both fine.
    opts.no_effect = vec![
        ("socket_backlog".into(), Some("5".into())),
        ("sticky_sessions_cookie_attributes".into(), Some("5".into())),
    ];
    let config = load_in(&opts, Path::new("/")).expect("accepted");
    assert_eq!(config.notices.len(), 2, "{:?}", config.notices);
    // An integer option given a word is a problem.
    opts.no_effect = vec![("socket_backlog".into(), Some("many".into()))];
    let found = problems(load_in(&opts, Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("--socket-backlog: "), "{found:?}");
}

#[test]
fn an_unreadable_passengerfile_is_an_error_not_an_absent_one() {
    let dir = dir_with(&[("config.ru", "")]);
    std::fs::create_dir(dir.path().join("Passengerfile.json")).expect("mkdir");
    match load_in(&single(dir.path()), Path::new("/")) {
        Err(ConfigError::ReadFile { path, .. }) => {
            assert_eq!(path, dir.path().join("Passengerfile.json"))
        }
        other => panic!("expected ReadFile, got {other:?}"),
    }
}

#[test]
fn an_empty_app_array_lists_no_apps() {
    let dir = multi_dir("app = []\n");
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("lists no apps"), "{found:?}");
}

#[test]
fn a_base_uri_is_a_plain_path() {
    for bad in ["/a b", "/a?b", "/a#b", "/a//b"] {
        let text = format!("[[app]]\nroot = \"blog\"\nbase_uri = \"{bad}\"\n");
        let dir = multi_dir(&text);
        let found = problems(load_in(&multi(dir.path()), Path::new("/")));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert!(found[0].contains("must be a plain URL path"), "{found:?}");
    }
}

#[test]
fn passengers_unset_concurrency_minus_one_and_unlimited_zero_are_accepted() {
    for (value, expected) in [("-1", None), ("0", Some(0)), ("3", Some(3))] {
        let file = format!(r#"{{"force_max_concurrent_requests_per_process": {value}}}"#);
        let dir = dir_with(&[("config.ru", ""), ("Passengerfile.json", &file)]);
        let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
        assert_eq!(
            config.apps[0].force_max_concurrent_requests_per_process, expected,
            "{value}"
        );
    }
    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"force_max_concurrent_requests_per_process": -2}"#,
        ),
    ]);
    assert_eq!(
        problems(load_in(&single(dir.path()), Path::new("/"))).len(),
        1
    );
}

#[test]
fn app_type_problems_are_reported_once_and_name_the_type() {
    // An invalid app_type in an app without detectable files: one problem, no detection error.
    let dir = dir_with(&[("Passengerfile.json", r#"{"app_type": "perl"}"#)]);
    let found = problems(load_in(&single(dir.path()), Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`app_type`"), "{found:?}");
    // An invalid app_type with a start command does not become a generic app either.
    let mut opts = single(dir.path());
    opts.app_start_command = Some("./server".into());
    let found = problems(load_in(&opts, Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    // A start command with a non-generic type names that type.
    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    opts.app_type = Some("ruby".into());
    opts.app_start_command = Some("./server".into());
    let found = problems(load_in(&opts, Path::new("/")));
    assert_eq!(
        found,
        vec!["--app-start-command: is only used for generic apps, but app_type is ruby; remove one of them".to_string()]
    );
}

#[test]
fn unknown_keys_get_a_suggestion_only_when_one_is_near() {
    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"max_pool_siz": 1, "mmax_pool_size": 1, "completely_unrelated_thing": 1,
                "mps": 1, "max_pool_size_of_the_other_server": 1, "max_pool_sizes": 1}"#,
        ),
    ]);
    let file = dir.path().join("Passengerfile.json").display().to_string();
    let mut found = problems(load_in(&single(dir.path()), Path::new("/")));
    found.sort();
    // Far from every key, by insertions ("mps") or deletions (the long one): no suggestion.
    assert_eq!(
        found,
        vec![
            format!("`completely_unrelated_thing` in {file}: unknown key"),
            format!("`max_pool_siz` in {file}: unknown key (did you mean `max_pool_size`?)"),
            format!("`max_pool_size_of_the_other_server` in {file}: unknown key"),
            format!("`max_pool_sizes` in {file}: unknown key (did you mean `max_pool_size`?)"),
            format!("`mmax_pool_size` in {file}: unknown key (did you mean `max_pool_size`?)"),
            format!("`mps` in {file}: unknown key"),
        ]
    );
}

#[test]
fn flags_are_named_as_the_command_line_spells_them() {
    assert_eq!(value::flag_name("app_dir"), "APP_DIR");
    assert_eq!(
        value::flag_name("dont_install_runtime"),
        "--no-install-runtime"
    );
    assert_eq!(
        value::flag_name("dont_compile_runtime"),
        "--no-compile-runtime"
    );
    assert_eq!(value::flag_name("env"), "--envvar");
    assert_eq!(value::flag_name("max_pool_size"), "--max-pool-size");
}

#[test]
fn empty_strings_paths_and_list_items_are_problems() {
    let dir = dir_with(&[
        ("config.ru", ""),
        ("Passengerfile.json", r#"{"ruby": " ", "log_file": ""}"#),
    ]);
    let file = dir.path().join("Passengerfile.json").display().to_string();
    let mut found = problems(load_in(&single(dir.path()), Path::new("/")));
    found.sort();
    assert_eq!(
        found,
        vec![
            format!("`log_file` in {file}: must not be empty"),
            format!("`ruby` in {file}: must not be empty"),
        ]
    );
    let mut opts = single(dir.path());
    std::fs::remove_file(dir.path().join("Passengerfile.json")).expect("rm");
    opts.log_file = Some(PathBuf::new());
    assert_eq!(
        problems(load_in(&opts, Path::new("/"))),
        vec!["--log-file: must not be empty".to_string()]
    );
    let dir = multi_dir("[[app]]\nroot = \"blog\"\nserver_names = [\"ok.test\", \"\"]\n");
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("non-empty strings"), "{found:?}");
}

#[test]
fn an_environment_variable_name_with_an_equals_sign_or_nul_is_a_problem() {
    for name in ["A=B", "A\0B"] {
        let dir = dir_with(&[("config.ru", "")]);
        let mut opts = single(dir.path());
        opts.envvars = vec![(name.to_string(), "x".into())];
        let found = problems(load_in(&opts, Path::new("/")));
        assert_eq!(found.len(), 1, "{name:?}: {found:?}");
        assert!(
            found[0].contains("must not contain '=' or NUL"),
            "{found:?}"
        );
    }
}

#[test]
fn user_switching_keys_default_and_come_from_every_source() {
    let dir = dir_with(&[("config.ru", "run App")]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    assert_eq!(config.users, UserSwitching::default());
    assert!(config.users.enabled);
    assert_eq!(config.users.default_user, "nobody");
    assert_eq!(config.apps[0].user, None);
    assert_eq!(config.apps[0].group, None);

    // `root` and `0` exist everywhere, so these load whoever runs the tests.
    let dir = dir_with(&[
        ("config.ru", "run App"),
        (
            "Passengerfile.json",
            r#"{"user_switching": false, "default_user": "root", "default_group": "0",
                "user": "0", "group": "root"}"#,
        ),
    ]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    assert!(!config.users.enabled);
    assert_eq!(config.users.default_user, "root");
    assert_eq!(config.users.default_group.as_deref(), Some("0"));
    assert_eq!(config.apps[0].user.as_deref(), Some("0"));
    assert_eq!(config.apps[0].group.as_deref(), Some("root"));

    let opts = StartOptions {
        user_switching: Some(true),
        group: Some("0".into()),
        ..single(dir.path())
    };
    let config = load_in(&opts, Path::new("/")).expect("loads");
    assert!(config.users.enabled, "the flag wins over the file");
    assert_eq!(config.apps[0].group.as_deref(), Some("0"));
}

#[test]
fn missing_accounts_are_problems_only_as_root() {
    let dir = dir_with(&[("config.ru", "run App")]);
    let opts = StartOptions {
        default_user: Some("prs-surely-missing-user".into()),
        default_group: Some("prs-surely-missing-group".into()),
        user: Some("prs-surely-missing-user".into()),
        group: Some(crate::spawn::unix::STARTUP_FILE_GROUP.into()),
        ..single(dir.path())
    };
    let result = load_in(&opts, Path::new("/"));
    if !crate::spawn::unix::is_root() {
        result.expect("not root: accounts are never used, so never looked up");
        return;
    }
    assert_eq!(
        problems(result),
        vec![
            "--default-user: the user \"prs-surely-missing-user\" does not exist",
            "--default-group: the group \"prs-surely-missing-group\" does not exist",
            "--user: the user \"prs-surely-missing-user\" does not exist",
        ]
    );
}

#[test]
fn an_app_configured_to_run_as_root_is_warned_about() {
    let dir = dir_with(&[("config.ru", "run App")]);
    let opts = StartOptions {
        user: Some("root".into()),
        ..single(dir.path())
    };
    let config = load_in(&opts, Path::new("/")).expect("loads");
    let warned = config
        .notices
        .iter()
        .any(|n| n.contains("runs as root, as configured"));
    assert_eq!(
        warned,
        crate::spawn::unix::is_root(),
        "{:?}",
        config.notices
    );
}

#[test]
fn limits_have_defaults_flags_and_keys_and_per_app_values() {
    let dir = dir_with(&[("config.ru", "")]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    assert_eq!(
        config.http_limits,
        crate::server::limits::HttpLimits::default()
    );
    assert_eq!(config.apps[0].memory_limit_mb, 0);
    assert_eq!(config.apps[0].max_request_time, Duration::ZERO);

    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"memory_limit": 200, "max_request_time": 30, "max_header_size": 16384,
                "keep_alive_timeout": 5, "max_request_body_size": 0}"#,
        ),
    ]);
    let mut opts = single(dir.path());
    opts.max_header_size = Some(9000);
    opts.header_read_timeout = Some(7);
    let config = load_in(&opts, Path::new("/")).expect("loads");
    let limits = config.http_limits;
    assert_eq!(limits.max_header_size, 9000, "the flag wins");
    assert_eq!(limits.header_read_timeout, Duration::from_secs(7));
    assert_eq!(limits.keep_alive_timeout, Duration::from_secs(5));
    assert_eq!(limits.max_request_body_size, 0);
    assert_eq!(config.apps[0].memory_limit_mb, 200);
    assert_eq!(config.apps[0].max_request_time, Duration::from_secs(30));

    let dir = multi_dir(
        r#"
memory_limit = 100
[[app]]
root = "blog"
max_request_time = 9
[[app]]
root = "apps/api"
base_uri = "/api"
app_start_command = "true"
memory_limit = 50
max_header_size = 100
"#,
    );
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("max_header_size") && found[0].contains("server-wide"));

    let dir = multi_dir(
        "memory_limit = 100\nmax_header_size = 100\n[[app]]\nroot = \"blog\"\nmax_request_time = 9\n[[app]]\nroot = \"apps/api\"\nbase_uri = \"/api\"\napp_start_command = \"true\"\nmemory_limit = 50\n",
    );
    let found = problems(load_in(&multi(dir.path()), Path::new("/")));
    assert!(
        found[0].contains("at least 8192") || found[0].contains("from 8192"),
        "{found:?}"
    );
    let dir = multi_dir(
        "memory_limit = 100\n[[app]]\nroot = \"blog\"\nmax_request_time = 9\n[[app]]\nroot = \"apps/api\"\nbase_uri = \"/api\"\napp_start_command = \"true\"\nmemory_limit = 50\n",
    );
    let config = load_in(&multi(dir.path()), Path::new("/")).expect("loads");
    assert_eq!(config.apps[0].memory_limit_mb, 100);
    assert_eq!(config.apps[0].max_request_time, Duration::from_secs(9));
    assert_eq!(config.apps[1].memory_limit_mb, 50);
}

#[test]
fn buffering_defaults_flags_and_per_app_keys() {
    let dir = dir_with(&[("config.ru", "")]);
    let config = load_in(&single(dir.path()), Path::new("/")).expect("loads");
    assert!(config.apps[0].buffer_response && config.apps[0].buffer_upload);
    assert_eq!(config.response_buffer_high_watermark, 128 * 1024 * 1024);
    assert_eq!(config.data_buffer_dir, None);

    let dir = dir_with(&[
        ("config.ru", ""),
        (
            "Passengerfile.json",
            r#"{"buffer_response": false, "buffer_upload": false, "response_buffer_high_watermark": 4096}"#,
        ),
    ]);
    let mut opts = single(dir.path());
    opts.buffer_upload = Some(true);
    opts.data_buffer_dir = Some(dir.path().to_path_buf());
    let config = load_in(&opts, Path::new("/")).expect("loads");
    assert!(!config.apps[0].buffer_response);
    assert!(config.apps[0].buffer_upload, "the flag wins");
    assert_eq!(config.response_buffer_high_watermark, 4096);
    assert_eq!(config.data_buffer_dir.as_deref(), Some(dir.path()));

    let dir = multi_dir(
        r#"
buffer_response = false

[[app]]
root = "blog"
base_uri = "/blog"

[[app]]
root = "apps/api"
app_start_command = "./api"
buffer_response = true
buffer_upload = false
"#,
    );
    let config = load_in(&multi(dir.path()), Path::new("/")).expect("loads");
    assert!(!config.apps[0].buffer_response, "top-level default");
    assert!(config.apps[1].buffer_response, "per-app override");
    assert!(config.apps[0].buffer_upload && !config.apps[1].buffer_upload);
}

#[test]
fn a_data_buffer_dir_that_is_not_a_directory_or_a_zero_watermark_is_a_problem() {
    let dir = dir_with(&[("config.ru", "")]);
    let mut opts = single(dir.path());
    opts.data_buffer_dir = Some(dir.path().join("missing"));
    opts.response_buffer_high_watermark = Some(0);
    let found = problems(load_in(&opts, Path::new("/")));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.iter().any(|p| p.starts_with("--data-buffer-dir: ")
            && p.ends_with("missing is not an existing directory")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("--response-buffer-high-watermark")),
        "{found:?}"
    );
}
