//! Test harness for the end-to-end tests: temp dirs, the real `passenger` binary, process guards with
//! leak detection, deadline polling and a tiny HTTP client.
//!
//! Start reading at [`Server::start`]. Everything here is blocking std code on purpose: the tests drive
//! the product from the outside, like a user with `curl` would, and must not share a runtime with it.

pub mod apache;
pub mod apps;
pub mod dir;
pub mod http;
pub mod process;
pub mod users;
pub mod wait;

pub use dir::TestDir;
pub use http::{get, get_host, Request};
pub use process::{pid_alive, run_with_deadline, ProcGuard, Server};
pub use wait::{deadline, wait_until};

use std::path::{Path, PathBuf};
use std::process::Command;

/// Absolute path of a fixture file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The `--app-start-command` value that runs a python fixture.
pub fn py_command(fixture_name: &str) -> String {
    format!("python3 {}", fixture(fixture_name).display())
}

/// A `Command` for the real `passenger` binary, isolated into `dir`.
///
/// Inherited `PASSENGER_*` variables are removed so a developer's environment cannot change a test,
/// `TMPDIR` and the instance registry point into the test dir, and the test marker is set so every
/// process the server starts (apps inherit its environment) can be found by the leak check.
///
/// `PASSENGER_TEST_BIN` (read by the test process only) runs the suite against another binary, e.g. a
/// release build.
pub fn passenger(dir: &TestDir) -> Command {
    let bin = std::env::var_os("PASSENGER_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_passenger").into());
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PASSENGER_") {
            cmd.env_remove(&key);
        }
    }
    let tmp = dir.path().join("tmp");
    let registry = dir.path().join("registry");
    for d in [&tmp, &registry] {
        std::fs::create_dir_all(d).expect("invariant: test dir is writable");
    }
    cmd.env("TMPDIR", &tmp)
        .env("PASSENGER_INSTANCE_REGISTRY_DIR", &registry)
        .env(process::MARKER_VAR, dir.marker())
        .current_dir(dir.path());
    cmd
}

/// Creates `dir/<name>` as an app root with `public/` and `tmp/` and returns its path.
pub fn app_root(dir: &TestDir, name: &str) -> PathBuf {
    let root = dir.path().join(name);
    std::fs::create_dir_all(root.join("public")).expect("invariant: test dir is writable");
    std::fs::create_dir_all(root.join("tmp")).expect("invariant: test dir is writable");
    root
}

/// Starts `passenger start <root> --address 127.0.0.1 --port 0 --app-start-command 'python3 <fixture>'`
/// plus `extra` flags.
pub fn start_fixture(dir: &TestDir, root: &Path, fixture_name: &str, extra: &[&str]) -> Server {
    start_fixture_with_env(dir, root, fixture_name, extra, &[])
}

/// A test dir whose app root `app` is served by the `hello.py` fixture, started with `extra`
/// flags: what most tests need first. Returns the dir, the app root and the server (bind them in
/// that order, so the server stops before the dir checks for leaks).
pub fn start_hello_app(extra: &[&str]) -> (TestDir, PathBuf, Server) {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "hello.py", extra);
    (dir, root, server)
}

/// [`start_fixture`] with `env` set for `passenger start`.
pub fn start_fixture_with_env(
    dir: &TestDir,
    root: &Path,
    fixture_name: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Server {
    let cmd = py_command(fixture_name);
    Server::start_with_env(dir, &generic_start_args(root, &cmd, extra), env)
}

/// `start <root> --address 127.0.0.1 --port 0` plus `extra`: serving `root` on a free loopback
/// port.
pub fn start_args<'a>(root: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let root = root.to_str().expect("test paths are UTF-8");
    let mut args: Vec<&str> = vec!["start", root, "--address", "127.0.0.1", "--port", "0"];
    args.extend_from_slice(extra);
    args
}

/// `passenger start <root> --address 127.0.0.1 --port 0 <extra>`: the app type is detected from
/// what `root` holds.
pub fn start_app(dir: &TestDir, root: &Path, extra: &[&str]) -> Server {
    Server::start(dir, &start_args(root, extra))
}

/// `start <root> --address 127.0.0.1 --port 0 --app-start-command <command>` plus `extra`.
pub fn generic_start_args<'a>(root: &'a Path, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = start_args(root, &["--app-start-command", command]);
    args.extend_from_slice(extra);
    args
}

/// Writes `registry/<dir_name>`, a complete-looking but unlocked instance directory of ours named
/// `name` (with our ownership marker naming `dead_pid`), as a crashed server leaves behind, and
/// returns its path.
pub fn fake_stale_instance(registry: &Path, dir_name: &str, name: &str, dead_pid: u32) -> PathBuf {
    let stale = registry.join(dir_name);
    std::fs::create_dir_all(stale.join("agents.s")).expect("invariant: writable");
    std::fs::create_dir_all(stale.join("apps.s")).expect("invariant: writable");
    let props = serde_json::json!({
        "instance_dir": {"major_version": 4, "minor_version": 0, "created_at": 1,
                         "created_at_monotonic_usec": 1},
        "passenger_version": "0.0.0", "watchdog_pid": dead_pid, "core_pid": dead_pid,
        "instance_id": "x-y-z", "name": name, "integration_mode": "standalone",
        "server_software": "passenger-rs/0.0.0", "listen_addresses": [],
    });
    let owner = serde_json::json!({"product": "passenger-rs", "pid": dead_pid});
    for (file, text) in [
        ("lock", String::new()),
        ("passenger_rs_owner.json", owner.to_string()),
        ("core.pid", dead_pid.to_string()),
        ("properties.json", props.to_string()),
        ("read_only_admin_password.txt", "ro".into()),
        ("full_admin_password.txt", "full".into()),
        ("creation_finalized", String::new()),
    ] {
        std::fs::write(stale.join(file), text).expect("invariant: writable");
    }
    stale
}

/// Writes `registry/<dir_name>` as Phusion Passenger 6 leaves an instance directory after a
/// crash (its layout, a lock nobody holds, a dead watchdog PID, no marker of ours) and returns its
/// path.
pub fn fake_original_instance(registry: &Path, dir_name: &str, dead_pid: u32) -> PathBuf {
    let dir = registry.join(dir_name);
    for sub in ["agents.s", "apps.s", "web_server_info"] {
        std::fs::create_dir_all(dir.join(sub)).expect("invariant: writable");
    }
    let props = serde_json::json!({
        "instance_dir": {"created_at": 1, "created_at_monotonic_usec": 1,
                         "major_version": 4, "minor_version": 0},
        "instance_id": "toupcz-jrWPst-ej3k9D", "integration_mode": "standalone",
        "name": "GhIUaCOr", "passenger_version": "6.0.17",
        "server_software": "Phusion_Passenger/6.0.17", "standalone_engine": "builtin",
        "watchdog_pid": dead_pid,
    });
    for (file, text) in [
        ("lock", String::new()),
        ("creation_finalized", String::new()),
        ("properties.json", props.to_string()),
        ("watchdog.pid", dead_pid.to_string()),
        ("core.pid", dead_pid.to_string()),
        ("read_only_admin_password.txt", "r".repeat(24)),
        ("full_admin_password.txt", "f".repeat(24)),
    ] {
        std::fs::write(dir.join(file), text).expect("invariant: writable");
    }
    dir
}

/// A port that was free a moment ago on 127.0.0.1, for a server whose stdout is detached (a
/// daemon) and so cannot report the port it picked. The tiny race is acceptable in tests.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Sends `GET path` and returns the app's `pid` from its JSON reply, asserting a 200.
pub fn app_pid(server: &Server, path: &str) -> i32 {
    let resp = get(server.addr, path);
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
    pid_of(&resp, path)
}

/// The app's `pid` from a fixture's JSON reply to `what`; a reply without one fails the test
/// (a made-up 0 would compare unequal to every real pid and let a test pass).
pub fn pid_of(resp: &http::Response, what: &str) -> i32 {
    resp.json()["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or_else(|| panic!("{what}: no pid in {}", resp.text()))
}
