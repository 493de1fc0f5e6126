//! Real apps under the real interpreters, for `apps/` and the other modules that need one:
//! interpreter checks (a missing one fails the test with the Debian package to install),
//! copying a fixture app into the test dir, starting it, reading its JSON answers, and finding
//! its processes by title.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::process::pids_titled;
use crate::support::{deadline, get, start_app, wait_until, Server, TestDir};

/// The python that has Debian's `python3-flask` (not a pyenv shim).
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3";

fn require(cmd: &str, args: &[&str], package: &str) {
    let ok = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{cmd} {args:?}` failed: this test needs the Debian package(s) {package}; \
         tests/run-all installs them"
    );
}

pub fn require_rack() {
    require("ruby", &["-e", "require 'rack'"], "ruby ruby-rack");
}

pub fn require_sinatra() {
    require("ruby", &["-e", "require 'sinatra/base'"], "ruby-sinatra");
}

pub fn require_python() {
    require("python3", &["-c", "import json"], "python3");
}

pub fn require_flask() {
    require(DEBIAN_PYTHON, &["-c", "import flask"], "python3-flask");
}

pub fn require_node() {
    require("node", &["-e", "0"], "nodejs");
}

/// The `rack_events` fixture (it answers with its pid, where its code was loaded and the
/// Ruby API events it saw) copied into `dir` and started with `extra` flags; needs Ruby + Rack.
pub fn start_events_app(dir: &TestDir, extra: &[&str]) -> (PathBuf, crate::support::Server) {
    require_rack();
    let root = copy_app(dir, "rack_events");
    let server = crate::support::start_app(dir, &root, extra);
    (root, server)
}

/// Copies `tests/fixtures/apps/<name>` into the test dir (with `tmp/` and `public/`).
pub fn copy_app(dir: &TestDir, name: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("invariant: test dir is writable");
        let entries = std::fs::read_dir(from)
            .unwrap_or_else(|e| panic!("cannot read fixture dir {}: {e}", from.display()));
        for entry in entries.flatten() {
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target)
                    .unwrap_or_else(|e| panic!("cannot copy {}: {e}", entry.path().display()));
            }
        }
    }
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/apps")
        .join(name);
    let root = dir.path().join(name);
    copy(&from, &root);
    for sub in ["tmp", "public"] {
        std::fs::create_dir_all(root.join(sub)).expect("invariant: test dir is writable");
    }
    root
}

/// `GET path`, asserting a 200 with a JSON body.
pub fn get_json(server: &Server, path: &str) -> serde_json::Value {
    let resp = get(server.addr, path);
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
    resp.json()
}

pub fn pid_of(v: &serde_json::Value) -> i32 {
    v["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid in {v}"))
}

pub fn preloader_title(root: &Path) -> String {
    format!("Passenger AppPreloader: {}", root.display())
}

/// Waits for exactly one preloader of `root` and returns its pid.
pub fn the_preloader(dir: &TestDir, root: &Path) -> i32 {
    let prefix = preloader_title(root);
    let mut found = Vec::new();
    let ok = crate::support::wait::poll(deadline(), || {
        found = pids_titled(dir, &prefix);
        found.len() == 1
    });
    assert!(
        ok,
        "expected one process titled {prefix:?}, found {found:?}"
    );
    found[0]
}

pub fn events(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["events"].as_array().cloned().unwrap_or_default()
}

/// Starts the Rack fixture `app` with two processes spawned by `spawn_method` and waits
/// until both run. Returns the test dir, the app root and the server.
pub fn two_ruby_processes(app: &str, spawn_method: &str) -> (TestDir, PathBuf, Server) {
    let dir = TestDir::new();
    let root = copy_app(&dir, app);
    let server = start_app(
        &dir,
        &root,
        &[
            "--spawn-method",
            spawn_method,
            "--min-instances",
            "2",
            "--max-pool-size",
            "2",
        ],
    );
    get_json(&server, "/");
    wait_until("two app processes run", deadline() * 2, || {
        pids_titled(&dir, "Passenger RubyApp:").len() == 2
    });
    (dir, root, server)
}
