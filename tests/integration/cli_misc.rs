//! Command-line edge cases: `--config` files with mistakes, `passenger stop --port N APP_DIR` for a
//! daemon, `passenger stop` with nothing running, and `passenger start` on a directory with no app.

use std::process::Output;

use crate::support::{
    app_root, deadline, free_port, get, passenger, pid_alive, py_command, run_with_deadline,
    start_hello_app, wait_until, TestDir,
};

/// stdout and stderr of a finished command, for assertions and failure messages.
fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `passenger start --config <file>` with `config` as the file's text; asserts it fails without
/// serving and returns its output and the file's path.
fn start_with_bad_config(dir: &TestDir, config: &str) -> (String, String) {
    app_root(dir, "app");
    let path = dir.write("apps.toml", config);
    let path_arg = path.to_string_lossy().into_owned();
    let mut cmd = passenger(dir);
    cmd.args(["start", "--config", &path_arg]);
    let out = run_with_deadline(dir, &mut cmd, deadline());
    let all = all_output(&out);
    assert!(!out.status.success(), "must fail; output:\n{all}");
    assert!(
        !all.contains("Accessible via:"),
        "must not start serving:\n{all}"
    );
    (all, path_arg)
}

/// One `[[app]]` table serving `./app` with hello.py.
fn app_table(extra: &str) -> String {
    format!(
        "[[app]]\nroot = \"app\"\napp_start_command = {:?}\n{extra}\n",
        py_command("hello.py")
    )
}

#[test]
fn config_file_with_an_unknown_key_names_the_key_and_file() {
    let dir = TestDir::new();
    let config = format!(
        "address = \"127.0.0.1\"\nport = 0\nmax_pool_sise = 3\n\n{}",
        app_table("frobnicate_xyz = true")
    );
    let (all, file) = start_with_bad_config(&dir, &config);
    for key in ["max_pool_sise", "frobnicate_xyz"] {
        assert!(all.contains(key), "names {key}:\n{all}");
    }
    assert!(all.contains(&file), "names the file {file}:\n{all}");
    assert!(
        all.contains("max_pool_size"),
        "suggests the near miss:\n{all}"
    );
}

#[test]
fn config_file_with_a_bad_value_names_the_key_and_file() {
    let dir = TestDir::new();
    let config = format!(
        "address = \"127.0.0.1\"\nport = 0\n\n{}",
        app_table("min_instances = \"two\"")
    );
    let (all, file) = start_with_bad_config(&dir, &config);
    assert!(all.contains("min_instances"), "names the key:\n{all}");
    assert!(all.contains(&file), "names the file {file}:\n{all}");
}

#[test]
fn config_file_with_a_duplicate_route_names_both_apps_and_the_file() {
    let dir = TestDir::new();
    app_root(&dir, "other");
    let config = format!(
        "address = \"127.0.0.1\"\nport = 0\n\n{}\n[[app]]\nroot = \"other\"\napp_start_command = {:?}\n\
         server_names = [\"A.test\"]\nbase_uri = \"/x\"\n",
        app_table("server_names = [\"a.test\"]\nbase_uri = \"/x\""),
        py_command("hello.py")
    );
    let (all, file) = start_with_bad_config(&dir, &config);
    assert!(all.contains(&file), "names the file {file}:\n{all}");
    assert!(
        all.contains("[[app]] #2") && all.contains("[[app]] #1"),
        "names both apps:\n{all}"
    );
    assert!(
        all.to_ascii_lowercase().contains("a.test"),
        "names the route:\n{all}"
    );
}

#[test]
fn stop_by_port_and_app_dir_stops_a_daemon() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let port = free_port().to_string();
    let mut cmd = passenger(&dir);
    cmd.arg("start")
        .arg(&root)
        .args(["--address", "127.0.0.1", "--port", &port, "--daemonize"])
        .args(["--app-start-command", &py_command("hello.py")]);
    let out = run_with_deadline(&dir, &mut cmd, deadline());
    let log = root.join(format!("passenger.{port}.log"));
    let show = |out: &Output| {
        format!(
            "{}\nlog:\n{}",
            all_output(out),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    };
    assert!(out.status.success(), "start --daemonize: {}", show(&out));

    let pid_file = root.join(format!("passenger.{port}.pid"));
    let daemon: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}: {}", pid_file.display(), show(&out)));
    let addr = ([127, 0, 0, 1], port.parse::<u16>().expect("a port number")).into();
    let resp = get(addr, "/pid");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let app = crate::support::pid_of(&resp, "GET /pid");

    // From another directory, so APP_DIR (not the current directory) picks the PID file.
    let mut stop = passenger(&dir);
    stop.args(["stop", "--port", &port])
        .arg(&root)
        .current_dir("/");
    let out = run_with_deadline(&dir, &mut stop, deadline() * 2);
    assert!(out.status.success(), "passenger stop: {}", show(&out));
    wait_until("the daemon exits", deadline(), || !pid_alive(daemon));
    wait_until("its app exits", deadline(), || !pid_alive(app));
}

#[test]
fn stop_with_nothing_running_exits_1_with_a_clear_message() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let mut stop = passenger(&dir);
    stop.args(["stop", "--port", "3999"]).arg(&root);
    let out = run_with_deadline(&dir, &mut stop, deadline());
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("no server seems to be running"),
        "says nothing runs:\n{all}"
    );
    assert!(
        all.contains("passenger.3999.pid"),
        "names the PID file it looked for:\n{all}"
    );
}

#[test]
fn start_on_a_directory_without_an_app_fails() {
    let dir = TestDir::new();
    let root = app_root(&dir, "empty");
    let mut cmd = passenger(&dir);
    cmd.arg("start")
        .arg(&root)
        .args(["--address", "127.0.0.1", "--port", "0"]);
    let out = run_with_deadline(&dir, &mut cmd, deadline());
    let all = all_output(&out);
    assert!(!out.status.success(), "must fail:\n{all}");
    assert!(
        all.contains("could not detect the app type"),
        "says why:\n{all}"
    );
    assert!(
        all.contains(&root.to_string_lossy().into_owned()),
        "names the directory:\n{all}"
    );
    assert!(!all.contains("Accessible via:"), "must not serve:\n{all}");
}

/// `passenger stop --instance NAME` finds the server through the instance registry.
#[test]
fn stop_by_instance_name() {
    let (dir, _root, mut server) = start_hello_app(&[]);
    let registry = dir.join("registry");
    let name = wait_for_instance_name(&registry);
    let mut cmd = passenger(&dir);
    cmd.args(["stop", "--instance", &name[..4]]);
    let out = run_with_deadline(&dir, &mut cmd, deadline());
    assert!(
        out.status.success(),
        "stop --instance failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        server.wait_exit(deadline()).is_some(),
        "the server exited after `passenger stop --instance`"
    );
}

fn wait_for_instance_name(registry: &std::path::Path) -> String {
    let mut name = String::new();
    wait_until(
        "the instance has written properties.json",
        deadline(),
        || {
            let Ok(entries) = std::fs::read_dir(registry) else {
                return false;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path().join("properties.json")) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                        if let Some(n) = v["name"].as_str() {
                            name = n.to_string();
                            return true;
                        }
                    }
                }
            }
            false
        },
    );
    name
}

/// Runs `passenger start <args> --daemonize` in `cwd` and asserts that it succeeded; returns its
/// stdout (the banner).
fn start_daemon(dir: &TestDir, cwd: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = passenger(dir);
    cmd.arg("start")
        .args(args)
        .arg("--daemonize")
        .current_dir(cwd);
    let out = run_with_deadline(dir, &mut cmd, deadline());
    assert!(
        out.status.success(),
        "start --daemonize: {}",
        all_output(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `passenger stop <args>` in `cwd`, asserts success and waits until `daemon` is gone.
fn stop_daemon(dir: &TestDir, cwd: &std::path::Path, args: &[&str], daemon: i32) {
    let mut stop = passenger(dir);
    stop.arg("stop").args(args).current_dir(cwd);
    let out = run_with_deadline(dir, &mut stop, deadline() * 2);
    assert!(
        out.status.success(),
        "passenger stop {args:?}: {}",
        all_output(&out)
    );
    wait_until("the daemon exits", deadline(), || !pid_alive(daemon));
}

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

/// `passenger stop` in an app directory finds the server `passenger start` started there with the
/// port from its Passengerfile.json, as the original does.
#[test]
fn stop_in_an_app_dir_uses_the_passengerfile_port() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let port = free_port();
    let config = serde_json::json!({
        "port": port, "address": "127.0.0.1", "app_start_command": py_command("hello.py"),
    });
    std::fs::write(root.join("Passengerfile.json"), config.to_string()).expect("write");
    start_daemon(&dir, &root, &[]);
    let daemon = read_pid(&root.join(format!("passenger.{port}.pid")));
    stop_daemon(&dir, &root, &[], daemon);
}

/// With `--port 0 -d` the PID and log files are named after the port the kernel picked, so two
/// such servers in one app directory each keep their own.
#[test]
fn port_0_daemons_name_their_files_after_the_real_port() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let root_arg = root.to_string_lossy().into_owned();
    let cmd = py_command("hello.py");
    let args = [
        root_arg.as_str(),
        "--address",
        "127.0.0.1",
        "--port",
        "0",
        "--app-start-command",
        &cmd,
    ];
    let mut started = Vec::new();
    for _ in 0..2 {
        let banner = start_daemon(&dir, dir.path(), &args);
        let port = banner
            .lines()
            .find_map(|l| l.strip_prefix("Accessible via: http://127.0.0.1:"))
            .and_then(|rest| rest.trim_end_matches('/').parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no address in the banner:\n{banner}"));
        let pid_file = root.join(format!("passenger.{port}.pid"));
        let log_file = root.join(format!("passenger.{port}.log"));
        assert!(
            banner.contains(&format!("PID file: {}", pid_file.display()))
                && banner.contains(&format!("Log file: {}", log_file.display())),
            "the banner names the real port's files:\n{banner}"
        );
        assert!(log_file.is_file(), "{} exists", log_file.display());
        started.push((port, read_pid(&pid_file)));
    }
    assert_ne!(started[0], started[1]);
    assert!(!root.join("passenger.0.pid").exists());
    assert!(!root.join("passenger.0.log").exists());
    for (port, daemon) in started {
        stop_daemon(&dir, &root, &["--port", &port.to_string()], daemon);
    }
}

/// `--max-pool-size` 0 or negative gets one clear message naming the flag and the rule, the same
/// the Passengerfile.json key gets.
#[test]
fn max_pool_size_below_1_gets_one_clear_message() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    for value in ["-1", "0"] {
        let mut cmd = passenger(&dir);
        cmd.arg("start")
            .arg(&root)
            .args(["--port", "0", "--max-pool-size", value]);
        let out = run_with_deadline(&dir, &mut cmd, deadline());
        let all = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(
            all.contains(&format!(
                "'--max-pool-size <NUMBER>': must be an integer of at least 1, got {value}"
            )),
            "{value}: {all}"
        );
    }
    std::fs::write(root.join("Passengerfile.json"), r#"{"max_pool_size": -1}"#).expect("write");
    let mut cmd = passenger(&dir);
    cmd.arg("start").arg(&root).args(["--port", "0"]);
    let all = all_output(&run_with_deadline(&dir, &mut cmd, deadline()));
    assert!(
        all.contains("`max_pool_size` in ")
            && all.contains("must be an integer of at least 1, got -1"),
        "{all}"
    );
}

/// An app's descendant that leaves the app's process group (`setsid`) and loses its parent is
/// re-parented to the watchdog (a child subreaper), so a stop still ends it: nothing escapes.
#[test]
fn a_setsid_grandchild_of_an_app_is_stopped_with_the_server() {
    use crate::support::{generic_start_args, Server};
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let pid_file = dir.path().join("escaped.pid");
    // The intermediate shell exits at once, so the sleeper loses its parent.
    let command = format!(
        "sh -c '(setsid sleep 300 & echo $! > {pid}) ; exec {app}'",
        pid = pid_file.display(),
        app = py_command("hello.py")
    );
    let mut server = Server::start(&dir, &generic_start_args(&root, &command, &[]));
    wait_until(
        "the app started its escaping grandchild",
        deadline(),
        || {
            std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .is_some()
        },
    );
    let escaped: i32 = std::fs::read_to_string(&pid_file)
        .expect("invariant: just seen")
        .trim()
        .parse()
        .expect("invariant: just parsed");
    // If the server lets it escape, the test still ends it (its pid is recorded above).
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let guard = KillOnDrop(escaped);
    assert!(pid_alive(escaped), "the grandchild runs");
    // `$!` is written right after the fork, before the child has called setsid(2): poll.
    wait_until("the grandchild leads its own session", deadline(), || {
        crate::support::process::leads_own_session(escaped)
    });
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        server.wait_exit(deadline()).is_some(),
        "the server stops:\n{}",
        server.log()
    );
    wait_until("the escaped grandchild is gone", deadline(), || {
        !pid_alive(escaped)
    });
    // Gone: its pid may be someone else's now, so the guard must not fire.
    std::mem::forget(guard);
}

/// The internal watchdog takes its fd numbers from the environment: a number that is not an
/// open descriptor, or a socket count that is not a number, is refused with the variable named
/// (exit 2), never adopted.
#[test]
fn the_internal_watchdog_refuses_fd_numbers_it_was_not_handed() {
    let dir = TestDir::new();
    let instance = dir.path().join("instance");
    for (vars, expected) in [
        (
            vec![("PASSENGER_WD_LISTEN_FDS", "two")],
            "PASSENGER_WD_LISTEN_FDS: \"two\" is not a count of sockets",
        ),
        (
            vec![
                ("PASSENGER_WD_LISTEN_FDS", "0"),
                ("PASSENGER_WD_LOCK_FD", "1000"),
            ],
            "PASSENGER_WD_LOCK_FD: fd 1000 is not open",
        ),
        (
            vec![
                ("PASSENGER_WD_LISTEN_FDS", "0"),
                ("PASSENGER_WD_ANNOUNCE_FD", "1"),
            ],
            "PASSENGER_WD_ANNOUNCE_FD: fd 1 is standard input, output or error",
        ),
    ] {
        let mut cmd = passenger(&dir);
        cmd.arg("__watchdog")
            .env("PASSENGER_WD_INSTANCE_DIR", &instance)
            .envs(vars.iter().copied());
        let out = run_with_deadline(&dir, &mut cmd, deadline());
        let all = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {all}");
        assert!(all.contains(expected), "{vars:?}: {all}");
    }
}
