//! Real apps under the real interpreters (Debian's `ruby`, `ruby-rack`, `ruby-sinatra`,
//! `python3`, `python3-flask`, `nodejs`; `tests/run-all` installs them): hello apps of every
//! type, Sinatra and Flask, streaming and large bodies, the Passenger Ruby API events,
//! out-of-band work, every app-loading failure in both error page modes, smart versus direct
//! spawning, preloader idle stop and restart.txt replacing the preloader.
//!
//! The apps live in `tests/fixtures/apps/<name>/` and are copied into the test dir, so tests
//! can write `tmp/restart.txt` without touching the repository. A missing interpreter or
//! package fails the test with what to install, rather than skipping it.
//!
//! Smart spawning tests (`--spawn-method smart`) need the preloader; direct-mode tests name
//! `--spawn-method direct` explicitly so they do not depend on it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::process::marked_pids;
use crate::support::{deadline, get, pid_alive, wait_until, Request, Server, TestDir};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The python that has Debian's `python3-flask` (not a pyenv shim).
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

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

pub(crate) fn require_rack() {
    require("ruby", &["-e", "require 'rack'"], "ruby ruby-rack");
}

fn require_sinatra() {
    require("ruby", &["-e", "require 'sinatra/base'"], "ruby-sinatra");
}

pub(crate) fn require_python() {
    require("python3", &["-c", "import json"], "python3");
}

fn require_flask() {
    require(DEBIAN_PYTHON, &["-c", "import flask"], "python3-flask");
}

fn require_node() {
    require("node", &["-e", "0"], "nodejs");
}

/// Copies `tests/fixtures/apps/<name>` into the test dir (with `tmp/` and `public/`).
pub(crate) fn copy_app(dir: &TestDir, name: &str) -> PathBuf {
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

/// `passenger start <root> --address 127.0.0.1 --port 0 <extra>`.
pub(crate) fn start_app(dir: &TestDir, root: &Path, extra: &[&str]) -> Server {
    let root = root.to_string_lossy().into_owned();
    let mut args: Vec<&str> = vec!["start", &root, "--address", "127.0.0.1", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(dir, &args)
}

/// `GET path`, asserting a 200 with a JSON body.
fn get_json(server: &Server, path: &str) -> serde_json::Value {
    let resp = get(server.addr, path);
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
    resp.json()
}

fn pid_of(v: &serde_json::Value) -> i32 {
    v["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no pid in {v}"))
}

/// `/proc/<pid>/cmdline` with NULs as spaces: what `ps` shows as the process title.
fn title(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Live processes of this test whose title starts with `prefix`.
fn pids_titled(dir: &TestDir, prefix: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = marked_pids(dir.marker())
        .into_iter()
        .filter(|pid| title(*pid).starts_with(prefix))
        .collect();
    pids.sort_unstable();
    pids
}

fn preloader_title(root: &Path) -> String {
    format!("Passenger AppPreloader: {}", root.display())
}

/// Waits for exactly one preloader of `root` and returns its pid.
fn the_preloader(dir: &TestDir, root: &Path) -> i32 {
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

fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Hello apps of each type
// ---------------------------------------------------------------------------------------------

fn rack_hello(spawn_method: &str) {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_hello");
    let server = start_app(&dir, &root, &["--spawn-method", spawn_method]);
    let v = get_json(&server, "/some/path");
    let pid = pid_of(&v);
    assert_eq!(v["path"], "/some/path");
    assert_eq!(
        v["passenger"], true,
        "defined?(PhusionPassenger) in the app"
    );
    assert_eq!(v["env"], "development", "the default environment");
    let expected = format!("Passenger RubyApp: {} (development)", root.display());
    assert_eq!(title(pid), expected, "process title");
    assert_eq!(v["title"], expected.as_str(), "$0 as the app sees it");
    assert_eq!(
        pid_of(&get_json(&server, "/")),
        pid,
        "the process is reused"
    );
    if spawn_method == "smart" {
        let preloader = the_preloader(&dir, &root);
        assert_eq!(
            parent_pid(pid),
            Some(preloader),
            "forked from the preloader"
        );
    }
}

#[test]
fn rack_hello_direct() {
    rack_hello("direct");
}

#[test]
fn rack_hello_smart() {
    rack_hello("smart");
}

#[test]
fn rack_environment_flag_reaches_the_app_and_the_title() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_hello");
    let server = start_app(&dir, &root, &["--spawn-method", "direct", "-e", "staging"]);
    let v = get_json(&server, "/");
    assert_eq!(v["env"], "staging");
    assert_eq!(
        title(pid_of(&v)),
        format!("Passenger RubyApp: {} (staging)", root.display())
    );
}

#[test]
fn wsgi_hello() {
    require_python();
    let dir = TestDir::new();
    let root = copy_app(&dir, "wsgi_hello");
    let server = start_app(&dir, &root, &[]);
    let v = get_json(&server, "/a/b?c=d");
    assert_eq!(v["path"], "/a/b");
    let pid = pid_of(&v);
    assert!(pid_alive(pid));
    assert_eq!(
        pid_of(&get_json(&server, "/")),
        pid,
        "the process is reused"
    );
}

// ---------------------------------------------------------------------------------------------
// Session connections kept alive between the core and the Ruby/Python loaders
// ---------------------------------------------------------------------------------------------

/// Each request's answer names the loader-side connection it came on (the socket's
/// inode, read through the loader's input object), so the test can count connections.
const RACK_CONNECTION_APP: &str = r##"
run(lambda do |env|
  body = env['rack.input'].read
  ino = env['rack.input'].instance_variable_get(:@io).stat.ino
  [200, { 'content-type' => 'text/plain' }, ["#{ino} #{body}"]]
end)
"##;

const WSGI_CONNECTION_APP: &str = r#"
import os

def application(environ, start_response):
    body = environ['wsgi.input'].read()
    ino = os.fstat(environ['wsgi.input']._sock.fileno()).st_ino
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d ' % ino).encode() + body]
"#;

/// Sends many sequential requests (some with bodies) and checks they all succeed
/// over a handful of loader connections, not one per request.
fn session_connections_are_reused(file: &str, app: &str) {
    let dir = TestDir::new();
    let root = dir.path().join("keepalive_app");
    std::fs::create_dir_all(root.join("public")).expect("invariant: test dir is writable");
    std::fs::write(root.join(file), app).expect("invariant: test dir is writable");
    let server = start_app(
        &dir,
        &root,
        &["--spawn-method", "direct", "--max-pool-size", "1"],
    );
    let mut connections = BTreeSet::new();
    let mut sequence = Vec::new();
    let requests = 40;
    for i in 0..requests {
        let resp = if i % 5 == 4 {
            Request::new("POST", "/upload")
                .body(format!("body{i}"))
                .send(server.addr)
                .unwrap_or_else(|e| panic!("POST {i} failed: {e}"))
        } else {
            get(server.addr, &format!("/r{i}"))
        };
        assert_eq!(resp.status, 200, "request {i}: {}", resp.text());
        let text = resp.text();
        let (connection, body) = text
            .split_once(' ')
            .unwrap_or_else(|| panic!("unexpected answer {text:?}"));
        if i % 5 == 4 {
            assert_eq!(body, format!("body{i}"), "request {i}");
        }
        connections.insert(connection.to_string());
        sequence.push(connection.to_string());
    }
    assert!(
        connections.len() <= 3,
        "{requests} requests used {} loader connections: the core opened one per request \
         (connection of each request: {sequence:?})",
        connections.len()
    );
}

#[test]
fn rack_session_connections_are_kept_alive() {
    require_rack();
    session_connections_are_reused("config.ru", RACK_CONNECTION_APP);
}

#[test]
fn wsgi_session_connections_are_kept_alive() {
    require_python();
    session_connections_are_reused("passenger_wsgi.py", WSGI_CONNECTION_APP);
}

/// `-R FILE`, Passenger's rackup flag: a Ruby app whatever the directory holds.
#[test]
fn rackup_flag_serves_that_rackup_file() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_hello");
    let other = root.join("other.ru");
    std::fs::rename(root.join("config.ru"), &other).expect("rename config.ru");
    let other = other.to_string_lossy().into_owned();
    let server = start_app(&dir, &root, &["-R", &other]);
    let v = get_json(&server, "/x");
    assert_eq!(v["path"], "/x");
}

#[test]
fn node_hello() {
    require_node();
    let dir = TestDir::new();
    let root = copy_app(&dir, "node_hello");
    let server = start_app(&dir, &root, &[]);
    let v = get_json(&server, "/x?y=1");
    assert_eq!(v["path"], "/x?y=1");
    let pid = pid_of(&v);
    let expected = format!("Passenger NodeApp: {}", root.display());
    assert!(
        title(pid).starts_with(&expected),
        "process title {:?}, expected {expected:?}",
        title(pid)
    );
}

/// Asserts that `GET /case` (see the hello fixtures) reaches the client with the header names as
/// the app spelled them, plus Passenger's `Status` and `X-Powered-By` (`powered_by`).
fn assert_spelled_as_the_app_wrote(server: &Server, powered_by: &str) {
    for _ in 0..2 {
        // Twice: the second answer reuses what the first one learned about the spelling.
        let resp = get(server.addr, "/case");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let names: Vec<&str> = resp.headers.iter().map(|(k, _)| k.as_str()).collect();
        for spelled in [
            "x-lower-case",
            "X-UPPER-CASE",
            "X-Mixed-Case",
            "Status",
            "X-Powered-By",
        ] {
            assert!(names.contains(&spelled), "{spelled} in {names:?}");
        }
        assert_eq!(resp.header("status"), Some("200 OK"));
        assert_eq!(resp.header("x-powered-by"), Some(powered_by));
    }
}

#[test]
fn header_names_reach_the_client_as_every_kind_of_app_wrote_them() {
    require_rack();
    require_python();
    require_node();
    let powered_by = format!("passenger-rs {}", env!("CARGO_PKG_VERSION"));
    for app in ["rack_hello", "wsgi_hello", "node_hello"] {
        let dir = TestDir::new();
        let root = copy_app(&dir, app);
        let server = start_app(&dir, &root, &[]);
        assert_spelled_as_the_app_wrote(&server, &powered_by);
    }
    let dir = TestDir::new();
    let root = crate::support::app_root(&dir, "app");
    let server =
        crate::support::start_fixture(&dir, &root, "hello.py", &["--no-show-version-in-header"]);
    assert_spelled_as_the_app_wrote(&server, "passenger-rs");
}

// ---------------------------------------------------------------------------------------------
// Frameworks
// ---------------------------------------------------------------------------------------------

fn framework_checks(server: &Server, framework: &str, name: &str) {
    let v = get_json(server, "/");
    assert_eq!(v["framework"], framework);
    let hello = get(server.addr, "/hello/world");
    assert_eq!(hello.status, 200, "{}", hello.text());
    assert_eq!(hello.text(), format!("Hello world from {name}"));
    let echo = Request::new("POST", "/echo")
        .header("Content-Type", "text/plain")
        .body("ping pong")
        .send(server.addr)
        .expect("POST /echo");
    assert_eq!(echo.status, 200, "{}", echo.text());
    assert_eq!(echo.text(), "echo: ping pong");
    let missing = get(server.addr, "/no/such/route");
    assert_eq!(missing.status, 404, "the framework's own 404");
}

#[test]
fn sinatra_app_direct() {
    require_sinatra();
    let dir = TestDir::new();
    let root = copy_app(&dir, "sinatra");
    let server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    framework_checks(&server, "sinatra", "Sinatra");
}

#[test]
fn sinatra_app_smart() {
    require_sinatra();
    let dir = TestDir::new();
    let root = copy_app(&dir, "sinatra");
    let server = start_app(&dir, &root, &["--spawn-method", "smart"]);
    framework_checks(&server, "sinatra", "Sinatra");
    the_preloader(&dir, &root);
}

#[test]
fn flask_app() {
    // The fixture's Passengerfile.json sets `"python": "/usr/bin/python3"`: Debian's
    // python3-flask is only importable by Debian's python.
    require_flask();
    let dir = TestDir::new();
    let root = copy_app(&dir, "flask");
    let server = start_app(&dir, &root, &[]);
    framework_checks(&server, "flask", "Flask");
}

#[test]
fn flask_app_with_python_flag() {
    require_flask();
    let dir = TestDir::new();
    let root = copy_app(&dir, "flask");
    std::fs::remove_file(root.join("Passengerfile.json")).expect("remove Passengerfile.json");
    let server = start_app(&dir, &root, &["--python", DEBIAN_PYTHON]);
    framework_checks(&server, "flask", "Flask");
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn rack_streaming_body_arrives_chunk_by_chunk() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_stream");
    let server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    // Warm up, so the spawn is not part of the timing.
    assert_eq!(get(server.addr, "/").status, 200);

    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(deadline()))
        .expect("set timeout");
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .expect("send request");
    let started = Instant::now();
    let mut got = Vec::new();
    let mut first_chunk_at = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read the streamed response");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if first_chunk_at.is_none() && String::from_utf8_lossy(&got).contains("chunk 0") {
            first_chunk_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for want in ["chunk 0", "chunk 4", "last"] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    let first = first_chunk_at.expect("invariant: chunk 0 was seen above");
    // The app sleeps 0.5 s after each of 5 chunks: the first chunk must not wait for them.
    assert!(
        total.saturating_sub(first) >= Duration::from_millis(1500),
        "first chunk after {first:?}, whole body after {total:?}: the body was buffered"
    );
}

#[test]
fn rack_large_upload_is_streamed_to_the_app() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_upload");
    let server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    let size = 20 * 1024 * 1024;
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let resp = Request::new("POST", "/upload")
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .timeout(deadline() * 3)
        .send(server.addr)
        .expect("POST 20 MB");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), size.to_string(), "the app counted every byte");
}

// ---------------------------------------------------------------------------------------------
// Passenger Ruby API events, smart versus direct
// ---------------------------------------------------------------------------------------------

fn events(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn events_direct_starting_worker_process_not_forked() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_events");
    let mut server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    let v = get_json(&server, "/");
    let pid = pid_of(&v);
    assert_eq!(
        v["loaded_in"], pid,
        "direct: the app is loaded in the process itself"
    );
    let ev = events(&v);
    assert_eq!(ev.len(), 1, "one starting_worker_process: {v}");
    assert_eq!(ev[0]["event"], "starting_worker_process");
    assert_eq!(ev[0]["forked"], false);
    assert!(
        pids_titled(&dir, "Passenger AppPreloader:").is_empty(),
        "direct spawning has no preloader"
    );

    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(deadline() * 2).is_some(), "server stops");
    assert!(
        server
            .log()
            .contains(&format!("EVENT stopping_worker_process {pid}")),
        "stopping_worker_process runs on shutdown; log:\n{}",
        server.log()
    );
}

#[test]
fn events_smart_starting_worker_process_forked() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_events");
    let mut server = start_app(&dir, &root, &["--spawn-method", "smart"]);
    let v = get_json(&server, "/");
    let pid = pid_of(&v);
    let preloader = the_preloader(&dir, &root);
    assert_ne!(preloader, pid);
    assert_eq!(
        v["loaded_in"], preloader,
        "smart: the app was loaded once, in the preloader"
    );
    assert_eq!(
        parent_pid(pid),
        Some(preloader),
        "the worker is forked from the preloader"
    );
    let ev = events(&v);
    assert_eq!(ev.len(), 1, "one starting_worker_process: {v}");
    assert_eq!(ev[0]["event"], "starting_worker_process");
    assert_eq!(ev[0]["forked"], true);
    assert_eq!(ev[0]["pid"], pid, "the handler ran in the worker");
    assert_eq!(
        title(pid),
        format!("Passenger RubyApp: {} (development)", root.display())
    );

    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(deadline() * 2).is_some(), "server stops");
    assert!(
        server
            .log()
            .contains(&format!("EVENT stopping_worker_process {pid}")),
        "stopping_worker_process runs on shutdown; log:\n{}",
        server.log()
    );
}

// ---------------------------------------------------------------------------------------------
// Out-of-band work
// ---------------------------------------------------------------------------------------------

/// Starts the Rack fixture `app` with two processes spawned by `spawn_method` and waits
/// until both run. Returns the test dir, the app root and the server.
fn two_ruby_processes(app: &str, spawn_method: &str) -> (TestDir, PathBuf, Server) {
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

fn oob_work(spawn_method: &str) {
    require_rack();
    let (_dir, _root, server) = two_ruby_processes("rack_oob", spawn_method);

    let resp = get(server.addr, "/oob");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.header("x-passenger-request-oob-work").is_none(),
        "the core strips the OOB header: {:?}",
        resp.headers
    );
    let oob_pid = pid_of(&resp.json());
    let started = format!("OOBW_START {oob_pid}");
    let ended = format!("OOBW_END {oob_pid}");
    wait_until("the app runs its :oob_work handler", deadline(), || {
        server.log().contains(&started)
    });

    // The handler takes 3 s; meanwhile every request goes to the other process.
    let mut served_meanwhile = BTreeSet::new();
    while !server.log().contains(&ended) {
        let pid = pid_of(&get_json(&server, "/"));
        if server.log().contains(&ended) {
            break; // The answer may have raced the end of the OOB work.
        }
        assert_ne!(
            pid, oob_pid,
            "a request was routed to a process doing OOB work"
        );
        served_meanwhile.insert(pid);
    }
    assert_eq!(
        served_meanwhile.len(),
        1,
        "the other process served during OOB work"
    );

    // Back in rotation afterwards: two concurrent requests use both processes.
    let addr = server.addr;
    let mut seen = BTreeSet::new();
    let limit = Instant::now() + deadline() * 2;
    while !seen.contains(&oob_pid) && Instant::now() < limit {
        let handles: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(move || get(addr, "/sleep")))
            .collect();
        for h in handles {
            let v = h.join().expect("request thread").json();
            let pid = pid_of(&v);
            if pid == oob_pid {
                assert_eq!(v["oob_runs"], 1, "the app saw one :oob_work event");
            }
            seen.insert(pid);
        }
    }
    assert!(
        seen.contains(&oob_pid),
        "the process that did OOB work serves again"
    );
}

#[test]
fn oob_work_direct() {
    oob_work("direct");
}

#[test]
fn oob_work_smart() {
    oob_work("smart");
}

// ---------------------------------------------------------------------------------------------
// App loading failures, friendly and plain pages
// ---------------------------------------------------------------------------------------------

/// One way for an app to fail to start, and what its pages must show.
struct Failure {
    /// Fixture app name.
    app: &'static str,
    /// Extra flags (e.g. a short start timeout).
    flags: &'static [&'static str],
    /// In the friendly page (the error message or the app's output), never in the plain one.
    marker: &'static str,
    /// Backtrace fragments the friendly page shows.
    backtrace: &'static [&'static str],
    /// Text of the "Failed step" row.
    step: &'static str,
    /// Further text the friendly page shows (e.g. captured output).
    also: &'static [&'static str],
}

fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn error_id(body: &str) -> String {
    let start = body
        .find("<span class=\"id\">")
        .map(|i| i + "<span class=\"id\">".len())
        .unwrap_or_else(|| panic!("no error ID in {body}"));
    let len = body[start..]
        .find('<')
        .unwrap_or_else(|| panic!("unterminated error ID in {body}"));
    let id = body[start..start + len].to_string();
    assert!(!id.is_empty(), "empty error ID in {body}");
    id
}

fn table_cell<'a>(body: &'a str, header: &str) -> &'a str {
    let key = format!("<th>{header}</th><td>");
    let start = body
        .find(&key)
        .map(|i| i + key.len())
        .unwrap_or_else(|| panic!("no {header:?} row in {body}"));
    let len = body[start..]
        .find("</td>")
        .unwrap_or_else(|| panic!("unterminated {header:?} cell in {body}"));
    &body[start..start + len]
}

/// Starts the failing app and checks its page; `friendly` picks the development default
/// (friendly) or production (plain). Ruby apps use `spawn_method`.
fn check_failure(f: &Failure, spawn_method: Option<&str>, friendly: bool) {
    if f.app.starts_with("rack") {
        require_rack();
    } else {
        require_python();
    }
    let dir = TestDir::new();
    let root = copy_app(&dir, f.app);
    let mut flags: Vec<&str> = f.flags.to_vec();
    // A secret of the app's own: the page lists the variable but not its value.
    flags.extend(["--envvar", "SECRET_KEY_BASE=topsecret-value"]);
    if let Some(method) = spawn_method {
        flags.extend(["--spawn-method", method]);
    }
    if !friendly {
        flags.extend(["-e", "production"]);
    }
    let server = start_app(&dir, &root, &flags);
    let resp = Request::new("GET", "/")
        .timeout(deadline() * 2)
        .send(server.addr)
        .expect("GET /");
    assert_eq!(resp.status, 500, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        resp.headers
    );
    let raw = resp.text();
    let body = unescape(&raw);
    let id = error_id(&raw);
    let root_text = root.display().to_string();
    if friendly {
        assert!(
            body.contains(f.marker),
            "error message {:?} in {body}",
            f.marker
        );
        for frame in f.backtrace {
            assert!(body.contains(frame), "backtrace frame {frame:?} in {body}");
        }
        let step = table_cell(&raw, "Failed step");
        assert!(
            !step.trim().is_empty() && step.contains(f.step),
            "step {:?} in {body}",
            f.step
        );
        assert_eq!(unescape(table_cell(&raw, "App root")), root_text);
        let user = table_cell(&raw, "User and group");
        assert!(
            !user.trim().is_empty() && user.contains("group"),
            "user and group: {user:?}"
        );
        assert!(
            body.contains("Application output"),
            "captured output: {body}"
        );
        for text in f.also {
            assert!(body.contains(text), "{text:?} in {body}");
        }
        assert!(body.contains("Environment variables"), "{body}");
        assert!(
            !body.contains("PASSENGER_CONNECT_PASSWORD") && !body.contains("topsecret-value"),
            "no secret on the page: {body}"
        );
        assert!(body.contains("SECRET_KEY_BASE"), "{body}");
        assert!(
            body.contains("PASSENGER_APP_ENV") && body.contains("development"),
            "the app's environment: {body}"
        );
    } else {
        assert!(
            body.contains("We're sorry, but something went wrong"),
            "apology: {body}"
        );
        assert!(!body.contains(f.marker), "leaks the error: {body}");
        assert!(!body.contains(&root_text), "leaks the app root: {body}");
        assert!(!body.contains("Environment variables"), "{body}");
        for text in f.also {
            assert!(!body.contains(text), "leaks {text:?}: {body}");
        }
    }
    let log = server.log();
    assert!(log.contains(&id), "the log names error ID {id}:\n{log}");
    assert!(
        log.contains(f.marker),
        "the log has the details ({:?}):\n{log}",
        f.marker
    );
}

const RACK_RAISE: Failure = Failure {
    app: "rack_raise",
    flags: &[],
    marker: "ArgumentError: RACK_RAISE_MARKER: the app refuses to load",
    backtrace: &["config.ru:3:in `load_things'", "config.ru:6"],
    step: "APP_LOAD",
    also: &["RACK_RAISE_OUTPUT before raising"],
};

const RACK_SYNTAX: Failure = Failure {
    app: "rack_syntax",
    flags: &[],
    marker: "syntax error",
    backtrace: &["config.ru:2"],
    step: "APP_LOAD",
    also: &[],
};

const RACK_MISSING_GEM: Failure = Failure {
    app: "rack_missing_gem",
    flags: &[],
    marker: "cannot load such file -- passenger_rs_no_such_gem_marker",
    backtrace: &["config.ru:2"],
    step: "APP_LOAD",
    also: &[],
};

const RACK_EXIT: Failure = Failure {
    app: "rack_exit",
    flags: &[],
    marker: "RACK_EXIT_MARKER going away",
    backtrace: &[],
    step: "",
    also: &["exited prematurely", "code 3"],
};

const RACK_SLOW: Failure = Failure {
    app: "rack_slow",
    flags: &["--start-timeout", "2"],
    marker: "RACK_SLOW_MARKER loading slowly",
    backtrace: &[],
    step: "",
    also: &["start timeout"],
};

const WSGI_RAISE: Failure = Failure {
    app: "wsgi_raise",
    flags: &[],
    marker: "ValueError: WSGI_RAISE_MARKER: the app refuses to load",
    backtrace: &["passenger_wsgi.py\", line 6, in load_things"],
    step: "APP_LOAD",
    also: &["WSGI_RAISE_OUTPUT before raising"],
};

const WSGI_SYNTAX: Failure = Failure {
    app: "wsgi_syntax",
    flags: &[],
    marker: "SyntaxError",
    backtrace: &["passenger_wsgi.py\", line 2"],
    step: "APP_LOAD",
    also: &[],
};

const WSGI_MISSING_MODULE: Failure = Failure {
    app: "wsgi_missing_module",
    flags: &[],
    marker: "No module named 'passenger_rs_no_such_module_marker'",
    backtrace: &["passenger_wsgi.py\", line 2"],
    step: "APP_LOAD",
    also: &[],
};

const WSGI_EXIT: Failure = Failure {
    app: "wsgi_exit",
    flags: &[],
    marker: "WSGI_EXIT_MARKER going away",
    backtrace: &[],
    step: "",
    also: &["exited prematurely", "code 3"],
};

const WSGI_SLOW: Failure = Failure {
    app: "wsgi_slow",
    flags: &["--start-timeout", "2"],
    marker: "WSGI_SLOW_MARKER loading slowly",
    backtrace: &[],
    step: "",
    also: &["start timeout"],
};

/// Two tests (friendly and plain page) for one failure and spawn method.
macro_rules! failure_tests {
    ($friendly:ident, $plain:ident, $case:expr, $method:expr) => {
        #[test]
        fn $friendly() {
            check_failure(&$case, $method, true);
        }

        #[test]
        fn $plain() {
            check_failure(&$case, $method, false);
        }
    };
}

failure_tests!(
    rack_raise_direct_friendly,
    rack_raise_direct_plain,
    RACK_RAISE,
    Some("direct")
);
failure_tests!(
    rack_syntax_direct_friendly,
    rack_syntax_direct_plain,
    RACK_SYNTAX,
    Some("direct")
);
failure_tests!(
    rack_missing_gem_direct_friendly,
    rack_missing_gem_direct_plain,
    RACK_MISSING_GEM,
    Some("direct")
);
failure_tests!(
    rack_exit_direct_friendly,
    rack_exit_direct_plain,
    RACK_EXIT,
    Some("direct")
);
failure_tests!(
    rack_slow_direct_friendly,
    rack_slow_direct_plain,
    RACK_SLOW,
    Some("direct")
);
failure_tests!(
    rack_raise_smart_friendly,
    rack_raise_smart_plain,
    RACK_RAISE,
    Some("smart")
);
failure_tests!(
    rack_syntax_smart_friendly,
    rack_syntax_smart_plain,
    RACK_SYNTAX,
    Some("smart")
);
failure_tests!(
    rack_missing_gem_smart_friendly,
    rack_missing_gem_smart_plain,
    RACK_MISSING_GEM,
    Some("smart")
);
failure_tests!(
    rack_exit_smart_friendly,
    rack_exit_smart_plain,
    RACK_EXIT,
    Some("smart")
);
failure_tests!(
    rack_slow_smart_friendly,
    rack_slow_smart_plain,
    RACK_SLOW,
    Some("smart")
);
failure_tests!(wsgi_raise_friendly, wsgi_raise_plain, WSGI_RAISE, None);
failure_tests!(wsgi_syntax_friendly, wsgi_syntax_plain, WSGI_SYNTAX, None);
failure_tests!(
    wsgi_missing_module_friendly,
    wsgi_missing_module_plain,
    WSGI_MISSING_MODULE,
    None
);
failure_tests!(wsgi_exit_friendly, wsgi_exit_plain, WSGI_EXIT, None);
failure_tests!(wsgi_slow_friendly, wsgi_slow_plain, WSGI_SLOW, None);

#[test]
fn friendly_pages_flag_overrides_production() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_raise");
    let server = start_app(
        &dir,
        &root,
        &[
            "--spawn-method",
            "direct",
            "-e",
            "production",
            "--friendly-error-pages",
        ],
    );
    let body = unescape(&get(server.addr, "/").text());
    assert!(body.contains("RACK_RAISE_MARKER"), "{body}");
    assert!(body.contains("production"), "the app's environment: {body}");
}

#[test]
fn no_friendly_pages_flag_overrides_development() {
    require_python();
    let dir = TestDir::new();
    let root = copy_app(&dir, "wsgi_raise");
    let server = start_app(&dir, &root, &["--no-friendly-error-pages"]);
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500);
    let body = resp.text();
    assert!(body.contains("Error ID"), "{body}");
    assert!(!body.contains("WSGI_RAISE_MARKER"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// Preloader lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn direct_spawning_loads_the_app_in_every_process() {
    require_rack();
    let (dir, _root, _server) = two_ruby_processes("rack_events", "direct");
    assert!(pids_titled(&dir, "Passenger AppPreloader:").is_empty());
    for pid in pids_titled(&dir, "Passenger RubyApp:") {
        let parent = parent_pid(pid).unwrap_or_else(|| panic!("no parent of {pid}"));
        assert!(
            !title(parent).starts_with("Passenger"),
            "worker {pid} is not forked from an app process ({})",
            title(parent)
        );
    }
}

#[test]
fn smart_spawning_forks_every_process_from_one_preloader() {
    require_rack();
    let (dir, root, _server) = two_ruby_processes("rack_events", "smart");
    let preloader = the_preloader(&dir, &root);
    for pid in pids_titled(&dir, "Passenger RubyApp:") {
        assert_eq!(parent_pid(pid), Some(preloader), "worker {pid}");
    }
}

#[test]
fn idle_preloader_stops_and_the_workers_keep_serving() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_events");
    let server = start_app(
        &dir,
        &root,
        &[
            "--spawn-method",
            "smart",
            "--max-preloader-idle-time",
            "1",
            "--stat-throttle-rate",
            "0",
        ],
    );
    let pid = pid_of(&get_json(&server, "/"));
    let preloader = the_preloader(&dir, &root);
    wait_until("the idle preloader stops", deadline() * 2, || {
        !pid_alive(preloader)
    });
    assert_eq!(
        pid_of(&get_json(&server, "/")),
        pid,
        "the worker outlives its preloader"
    );

    // The next spawn starts a new preloader.
    std::fs::write(root.join("tmp/restart.txt"), "").expect("touch restart.txt");
    let v = get_json(&server, "/");
    assert_ne!(pid_of(&v), pid, "restarted");
    let again = the_preloader(&dir, &root);
    assert_ne!(again, preloader);
    assert_eq!(v["loaded_in"], again);
}

#[test]
fn restart_txt_replaces_the_preloader() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_events");
    let server = start_app(
        &dir,
        &root,
        &["--spawn-method", "smart", "--stat-throttle-rate", "0"],
    );
    let first = get_json(&server, "/");
    let old_pid = pid_of(&first);
    let old_preloader = the_preloader(&dir, &root);
    assert_eq!(first["loaded_in"], old_preloader);

    // The app changes on disk; the restart must load the new code in a new preloader.
    let config = std::fs::read_to_string(root.join("config.ru")).expect("read config.ru");
    std::fs::write(
        root.join("config.ru"),
        config.replace(
            "'pid' => Process.pid",
            "'version' => 2, 'pid' => Process.pid",
        ),
    )
    .expect("rewrite config.ru");
    std::fs::write(root.join("tmp/restart.txt"), "").expect("touch restart.txt");

    let second = get_json(&server, "/");
    let new_pid = pid_of(&second);
    assert_ne!(new_pid, old_pid, "a new worker");
    assert_eq!(second["version"], 2, "the new code is loaded");
    wait_until("the old preloader exits", deadline(), || {
        !pid_alive(old_preloader)
    });
    wait_until("the old worker exits", deadline(), || !pid_alive(old_pid));
    let new_preloader = the_preloader(&dir, &root);
    assert_ne!(new_preloader, old_preloader);
    assert_eq!(second["loaded_in"], new_preloader);
    assert_eq!(events(&second)[0]["forked"], true);
}

#[test]
fn restart_txt_direct_loads_new_code() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_events");
    let server = start_app(
        &dir,
        &root,
        &["--spawn-method", "direct", "--stat-throttle-rate", "0"],
    );
    let old_pid = pid_of(&get_json(&server, "/"));
    let config = std::fs::read_to_string(root.join("config.ru")).expect("read config.ru");
    std::fs::write(
        root.join("config.ru"),
        config.replace(
            "'pid' => Process.pid",
            "'version' => 2, 'pid' => Process.pid",
        ),
    )
    .expect("rewrite config.ru");
    std::fs::write(root.join("tmp/restart.txt"), "").expect("touch restart.txt");
    let v = get_json(&server, "/");
    assert_ne!(pid_of(&v), old_pid);
    assert_eq!(v["version"], 2);
    wait_until("the old process exits", deadline(), || !pid_alive(old_pid));
}

/// Logs every request's path to `hits.log` (one line each, appended before the
/// answer) so a test can count how often the app ran each request; `/slow` takes a
/// few seconds, long enough that a request waiting behind it is taken back first;
/// `/second…` takes one second.
const RACK_HIT_COUNTER_APP: &str = r##"
run lambda { |env|
  path = env['PATH_INFO']
  File.open(File.join(__dir__, 'hits.log'), 'a') { |f| f.write("#{path}\n") }
  sleep 3.0 if path == '/slow'
  sleep 1.0 if path.start_with?('/second')
  if path == '/crash'
    sleep 1.0
    Process.kill(:KILL, Process.pid)
  end
  [200, { 'content-type' => 'text/plain', 'x-pid' => Process.pid.to_s }, [path]]
}
"##;

fn hits(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("hits.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn metric(instance: &Path, name: &str) -> f64 {
    let text = crate::admin::api(instance, "GET", "/metrics", None).text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Starts the hit-counting Rack app in `dir/<name>` with one direct-spawned process
/// (or with the pool options in `extra` instead), pipelining timing `timing` (`<window>,<patience>`
/// in ms), and one request served. Returns the app root, the server and its
/// instance directory.
fn start_hit_counter_app(
    dir: &TestDir,
    name: &str,
    timing: &str,
    extra: &[&str],
) -> (PathBuf, Server, PathBuf) {
    let root = dir.path().join(name);
    std::fs::create_dir_all(root.join("public")).expect("invariant: test dir is writable");
    std::fs::write(root.join("config.ru"), RACK_HIT_COUNTER_APP)
        .expect("invariant: test dir is writable");
    // The app (as root: `nobody`, user switching) writes hits.log next to its config.ru.
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .expect("invariant: test dir is writable");
    let root_arg = root.to_string_lossy().into_owned();
    let mut args = vec!["start", &root_arg, "--address", "127.0.0.1", "--port", "0"];
    if extra.is_empty() {
        args.extend_from_slice(&["--max-pool-size", "1", "--spawn-method", "direct"]);
    }
    args.extend_from_slice(extra);
    let server = Server::start_with_env(dir, &args, &[("PASSENGER_PIPELINE_TIMING_MS", timing)]);
    let instance = crate::admin::instance_dir(dir, &server);
    assert_eq!(get(server.addr, "/warmup").status, 200);
    (root, server, instance)
}

/// Six threads each send `per_thread` requests to `/<prefix><thread>-<i>` at once;
/// every one must answer with its path and have run exactly once.
fn load_runs_each_request_once(
    addr: std::net::SocketAddr,
    root: &Path,
    prefix: &str,
    per_thread: usize,
) {
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let prefix = prefix.to_string();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let path = format!("/{prefix}{w}-{i}");
                    let resp = get(addr, &path);
                    assert_eq!((resp.status, resp.text()), (200, path.clone()), "{path}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .expect("a load thread failed; see its assertion above");
    }
    let seen = hits(root);
    for w in 0..6 {
        for i in 0..per_thread {
            let path = format!("/{prefix}{w}-{i}");
            let count = seen.iter().filter(|h| **h == path).count();
            assert_eq!(count, 1, "{path} ran {count} times");
        }
    }
}

/// Request pipelining end to end: a request pipelined behind a slow one is taken back
/// (the app never sees it twice, nor loses it), and under concurrent load every
/// pipelined request runs exactly once.
#[test]
fn rack_pipelined_requests_run_exactly_once() {
    require_rack();
    let dir = TestDir::new();
    // Window a minute: every request finding the process busy is pipelined; one waiting
    // behind /slow is taken back after 300 ms.
    let (root, server, instance) = start_hit_counter_app(&dir, "pipelined_app", "60000,300", &[]);
    let addr = server.addr;

    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the app started /slow", deadline(), || {
        hits(&root).contains(&"/slow".to_string())
    });
    let started = Instant::now();
    let fast = std::thread::spawn(move || get(addr, "/behind-slow"));
    wait_until("the waiting request was taken back", deadline(), || {
        metric(&instance, "passenger_pipeline_withdrawals_total") >= 1.0
    });
    assert!(
        !hits(&root).contains(&"/behind-slow".to_string()),
        "the app ran the request that was taken back"
    );
    let slow = slow
        .join()
        .expect("invariant: the /slow thread does not panic");
    let fast = fast
        .join()
        .expect("invariant: the request thread does not panic");
    assert_eq!((slow.status, slow.text()), (200, "/slow".to_string()));
    assert_eq!(
        (fast.status, fast.text()),
        (200, "/behind-slow".to_string())
    );
    assert!(started.elapsed() < deadline(), "served once /slow ended");
    assert!(metric(&instance, "passenger_pipelined_requests_total") >= 1.0);

    // Concurrent load on the lone process: nearly every request is pipelined.
    load_runs_each_request_once(addr, &root, "w", 60);
    let seen = hits(&root);
    assert_eq!(seen.iter().filter(|h| *h == "/behind-slow").count(), 1);
    assert!(
        metric(&instance, "passenger_pipelined_requests_total") >= 20.0,
        "hardly any request was pipelined under load"
    );
}

/// The queue limit holds with pipelining: requests pipelined behind a busy process
/// wait like queued ones. 50 concurrent one-second requests at pool 1 / queue 5: one
/// runs, five wait, 44 get 503 at once, as in Passenger (before, four pipelined plus
/// five queued waited and 40 got 503).
#[test]
fn rack_queue_limit_counts_pipelined_requests() {
    require_rack();
    let dir = TestDir::new();
    // Every request finding the process busy is pipelined, and none is taken back.
    let (root, server, _instance) = start_hit_counter_app(
        &dir,
        "queue_limit_app",
        "600000,600000",
        &[
            "--max-pool-size",
            "1",
            "--max-request-queue-size",
            "5",
            "--spawn-method",
            "direct",
        ],
    );
    let addr = server.addr;
    let first = std::thread::spawn(move || get(addr, "/second-0"));
    wait_until("the app started /second-0", deadline(), || {
        hits(&root).contains(&"/second-0".to_string())
    });
    let started = Instant::now();
    let others: Vec<_> = (1..50)
        .map(|i| {
            std::thread::spawn(move || {
                let resp = get(addr, &format!("/second-{i}"));
                (resp.status, started.elapsed())
            })
        })
        .collect();
    let mut statuses = vec![
        first
            .join()
            .expect("invariant: the request thread does not panic")
            .status,
    ];
    let mut slowest_200 = Duration::ZERO;
    let mut slowest_503 = Duration::ZERO;
    for t in others {
        let (status, took) = t
            .join()
            .expect("invariant: the request thread does not panic");
        match status {
            200 => slowest_200 = slowest_200.max(took),
            503 => slowest_503 = slowest_503.max(took),
            _ => {}
        }
        statuses.push(status);
    }
    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    assert_eq!(
        (count(200), count(503)),
        (6, 44),
        "one in the process, five waiting, the rest turned away: {statuses:?}"
    );
    let ran = hits(&root)
        .iter()
        .filter(|h| h.starts_with("/second-"))
        .count();
    assert_eq!(ran, 6, "a request answered 503 never reaches the app");
    assert!(
        slowest_503 < Duration::from_secs(1),
        "a 503 is answered at once, not after waiting: {slowest_503:?}"
    );
    assert!(
        slowest_200 < Duration::from_secs(6) + deadline() / 2,
        "the last of the five waiters is served about 5 s later: {slowest_200:?}"
    );
}

/// A request pipelined behind one whose process dies is not lost with it: the core
/// takes back its claim once the process is gone, and a new process serves it.
#[test]
fn rack_pipelined_request_survives_its_process_dying() {
    require_rack();
    let dir = TestDir::new();
    // Never taken back for waiting: only the process's death frees it.
    let (root, server, instance) =
        start_hit_counter_app(&dir, "pipelined_crash_app", "600000,600000", &[]);
    let addr = server.addr;
    let crash = std::thread::spawn(move || get(addr, "/crash"));
    wait_until("the app started /crash", deadline(), || {
        hits(&root).contains(&"/crash".to_string())
    });
    let after = std::thread::spawn(move || get(addr, "/after-crash"));
    wait_until("the second request was pipelined", deadline(), || {
        metric(&instance, "passenger_pipelined_requests_total") >= 1.0
    });
    let crash = crash
        .join()
        .expect("invariant: the /crash thread does not panic");
    let after = after
        .join()
        .expect("invariant: the request thread does not panic");
    assert_eq!(
        crash.status,
        502,
        "the request its process died in: {}",
        crash.text()
    );
    assert_eq!(
        (after.status, after.text()),
        (200, "/after-crash".to_string()),
        "the pipelined request is served by a new process"
    );
    assert_eq!(
        hits(&root).iter().filter(|h| *h == "/after-crash").count(),
        1
    );
    assert!(metric(&instance, "passenger_pipeline_withdrawals_total") >= 1.0);
}

/// Pipelining with two smart-spawned processes: while one is held up by a slow
/// request, concurrent requests are pipelined to both, those waiting behind the slow
/// one are taken back, and every request runs exactly once.
#[test]
fn rack_pipelining_over_two_smart_spawned_processes_runs_each_request_once() {
    require_rack();
    let dir = TestDir::new();
    let (root, server, instance) = start_hit_counter_app(
        &dir,
        "pipelined_pair_app",
        "60000,200",
        &[
            "--max-pool-size",
            "2",
            "--min-instances",
            "2",
            "--spawn-method",
            "smart",
        ],
    );
    let addr = server.addr;
    wait_until("two processes serve", deadline(), || {
        let pool = crate::admin::api(&instance, "GET", "/pool.json", None).text();
        pool.matches("\"pid\"").count() >= 2
    });
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the app started /slow", deadline(), || {
        hits(&root).contains(&"/slow".to_string())
    });
    let load = {
        let root = root.clone();
        std::thread::spawn(move || load_runs_each_request_once(addr, &root, "p", 40))
    };
    let slow = slow
        .join()
        .expect("invariant: the /slow thread does not panic");
    assert_eq!((slow.status, slow.text()), (200, "/slow".to_string()));
    load.join()
        .expect("the load failed; see its assertion above");
    // Requests taken back from behind /slow are still in their connections to that
    // process. Once it has answered a request sent after /slow ended, it has read
    // them all: none may have run again.
    let slow_pid = slow
        .header("x-pid")
        .expect("the app names its pid")
        .to_string();
    let mut probes = 0;
    wait_until("the process of /slow serves again", deadline(), || {
        let pair: Vec<_> = (0..2)
            .map(|_| {
                probes += 1;
                let path = format!("/probe-{probes}");
                std::thread::spawn(move || get(addr, &path))
            })
            .collect();
        pair.into_iter()
            .map(|t| t.join().expect("invariant: a probe thread does not panic"))
            .any(|resp| resp.header("x-pid") == Some(slow_pid.as_str()))
    });
    let seen = hits(&root);
    for w in 0..6 {
        for i in 0..40 {
            let path = format!("/p{w}-{i}");
            let count = seen.iter().filter(|h| **h == path).count();
            assert_eq!(count, 1, "{path} ran {count} times");
        }
    }
    assert!(
        metric(&instance, "passenger_pipelined_requests_total") >= 20.0,
        "hardly any request was pipelined under load"
    );
    assert!(
        metric(&instance, "passenger_pipeline_withdrawals_total") >= 1.0,
        "requests pipelined behind /slow were taken back"
    );

    // Each worker's claims pipe is in the socket directory and goes with the server.
    let pool = crate::admin::api(&instance, "GET", "/pool.json", None).text();
    let pid: u32 = pool
        .split("\"pid\":")
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no process pid in /pool.json:\n{pool}"));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("worker environment");
    let base = environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"PASSENGER_CLAIMS="))
        .map(|v| PathBuf::from(String::from_utf8_lossy(v).into_owned()))
        .expect("the worker was told where its claims go");
    let claims_pipes = |dir: &std::path::Path| {
        use std::os::unix::fs::FileTypeExt;
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".c"))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_fifo()))
                .count()
        })
    };
    assert_eq!(
        claims_pipes(&base),
        2,
        "one claims pipe per worker in {}",
        base.display()
    );
    drop(server);
    wait_until("the claims pipes are removed at stop", deadline(), || {
        claims_pipes(&base) == 0
    });
}
