//! The admin API on `<instance>/agents.s/core_api`, end to end: every endpoint, the auth matrix as
//! root (peer credentials) and as an unprivileged client (HTTP Basic), `/metrics` through a real
//! Prometheus text parser, and rolling restarts under load.
//!
//! The helpers here ([`instance_dir`], [`api`], [`Load`]) are shared with `instance.rs`.

use std::io::{self, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::http::{read_response, Response};
use crate::support::{
    app_root, deadline, fixture, generic_start_args, run_with_deadline, start_fixture,
    start_hello_app, wait_until, Request, Server, TestDir,
};

/// The uid of `nobody`, the unprivileged client of the auth tests.
pub const NOBODY: u32 = 65534;

/// Every `passenger.*` instance directory in the test's registry.
pub fn instance_dirs(dir: &TestDir) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("registry")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("passenger."))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// The one instance directory of the test's registry whose `watchdog_pid` is `server`'s pid.
pub fn instance_dir(dir: &TestDir, server: &Server) -> PathBuf {
    let mut found = None;
    wait_until("the instance directory is finalized", deadline(), || {
        // The core binds the admin socket and records its pid after the server reports that it
        // serves (see `the_admin_socket_is_up_when_the_server_reports_ready`), so wait for both.
        found = instance_dirs(dir).into_iter().find(|d| {
            let props = properties(d);
            let watchdog = props["watchdog_pid"].as_i64();
            d.join("creation_finalized").exists()
                && watchdog == Some(i64::from(server.pid()))
                && props["core_pid"]
                    .as_i64()
                    .is_some_and(|c| Some(c) != watchdog)
                && api_socket(d).exists()
        });
        found.is_some()
    });
    found.expect("invariant: wait_until returned")
}

/// `properties.json` of an instance directory (`Null` when unreadable).
pub fn properties(instance: &Path) -> serde_json::Value {
    std::fs::read_to_string(instance.join("properties.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// `<instance>/agents.s/core_api`.
pub fn api_socket(instance: &Path) -> PathBuf {
    instance.join("agents.s").join("core_api")
}

/// One request over the admin socket, optionally with HTTP Basic credentials.
pub fn api_request(
    socket: &Path,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
) -> io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(deadline()))?;
    stream.set_write_timeout(Some(deadline()))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some((user, password)) = auth {
        head.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{user}:{password}").as_bytes())
        ));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes())?;
    read_response(&mut BufReader::new(stream), method == "HEAD")
}

/// [`api_request`] as the test process (root or the owner: full access), panicking on I/O errors.
pub fn api(instance: &Path, method: &str, path: &str, body: Option<&str>) -> Response {
    api_request(&api_socket(instance), method, path, None, body)
        .unwrap_or_else(|e| panic!("{method} {path} on the admin socket failed: {e}"))
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Pids of the group's processes per `/pool.json`, with their `enabled` state.
pub fn pool_pids(instance: &Path) -> Vec<(u32, String)> {
    let doc = api(instance, "GET", "/pool.json", None).json();
    let mut pids = Vec::new();
    for group in doc["groups"].as_array().into_iter().flatten() {
        for p in group["processes"].as_array().into_iter().flatten() {
            if let Some(pid) = p["pid"].as_u64().and_then(|p| u32::try_from(p).ok()) {
                pids.push((pid, p["enabled"].as_str().unwrap_or("").to_string()));
            }
        }
    }
    pids
}

/// A bounded load loop: `threads` threads send `GET path` on fresh connections until stopped,
/// counting successes (200) and failures (anything else, including transport errors), and noting
/// which app pids answered.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stats: Arc<Mutex<LoadStats>>,
}

/// What a [`Load`] saw.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    /// Requests answered 200.
    pub ok: u64,
    /// Failed requests, with a reason each.
    pub failed: Vec<String>,
    /// `(finished at, app pid)` of each 200 answer, in arrival order per thread.
    pub pids: Vec<(Instant, i64)>,
}

impl Load {
    /// Starts `threads` threads against `addr`.
    pub fn start(addr: SocketAddr, path: &str, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(LoadStats::default()));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                let stats = stats.clone();
                let path = path.to_string();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let result = Request::new("GET", &path)
                            .timeout(Duration::from_secs(20))
                            .send(addr);
                        let mut s = stats.lock().expect("invariant: no panics under the lock");
                        match result {
                            Ok(resp) if resp.status == 200 => {
                                let pid = serde_json::from_slice::<serde_json::Value>(&resp.body)
                                    .ok()
                                    .and_then(|v| v["pid"].as_i64());
                                match pid {
                                    Some(pid) => {
                                        s.ok += 1;
                                        s.pids.push((Instant::now(), pid));
                                    }
                                    None => s.failed.push(format!(
                                        "200 without a pid: {}",
                                        resp.text().chars().take(200).collect::<String>()
                                    )),
                                }
                            }
                            Ok(resp) => s.failed.push(format!(
                                "status {}: {}",
                                resp.status,
                                resp.text().chars().take(200).collect::<String>()
                            )),
                            Err(e) => s.failed.push(format!("transport: {e}")),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            threads,
            stats,
        }
    }

    /// A copy of the counts so far.
    pub fn stats(&self) -> LoadStats {
        self.stats
            .lock()
            .expect("invariant: no panics under the lock")
            .clone()
    }

    /// Stops the threads (each finishes its current request) and returns the counts; a
    /// thread that panicked fails the test with its panic.
    pub fn finish(mut self) -> LoadStats {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
        self.stats()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            if let Err(panic) = t.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

fn start_hello(dir: &TestDir, min_instances: &str) -> (Server, PathBuf, PathBuf) {
    let root = app_root(dir, "app");
    let server = start_fixture(
        dir,
        &root,
        "hello.py",
        &["--min-instances", min_instances, "--max-pool-size", "3"],
    );
    let instance = instance_dir(dir, &server);
    (server, root, instance)
}

/// Sends one request and waits until the group has `n` enabled processes (the app starts with the
/// server, up to its `min_instances`; more come with load).
fn wait_for_processes(server: &Server, instance: &Path, n: usize) -> Vec<u32> {
    assert_eq!(crate::support::get(server.addr, "/").status, 200);
    let mut pids = Vec::new();
    wait_until(&format!("{n} enabled processes"), deadline(), || {
        pids = pool_pids(instance)
            .into_iter()
            .filter(|(_, e)| e == "enabled")
            .map(|(p, _)| p)
            .collect();
        pids.len() == n
    });
    pids
}

/// `Accessible via:` (the core's readiness) should mean the whole server is up, admin API
/// included: tools run right after `passenger start --daemonize` returns.
#[test]
fn the_admin_socket_is_up_when_the_server_reports_ready() {
    let (dir, _root, server) = start_hello_app(&[]);
    let dirs = instance_dirs(&dir);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let socket = api_socket(&dirs[0]);
    let resp = api_request(&socket, "GET", "/ping.json", None, None);
    assert!(
        resp.as_ref().is_ok_and(|r| r.status == 200),
        "admin API right after 'Accessible via': {resp:?}"
    );
    let props = properties(&dirs[0]);
    assert_ne!(
        props["core_pid"], props["watchdog_pid"],
        "core_pid is recorded by then: {props}"
    );
    drop(server);
}

#[test]
fn every_read_endpoint_answers_the_owner() {
    let dir = TestDir::new();
    let (server, root, instance) = start_hello(&dir, "1");
    let group = root.to_string_lossy().into_owned();
    let pids = wait_for_processes(&server, &instance, 1);
    let core_pid = properties(&instance)["core_pid"].as_i64();

    let ping = api(&instance, "GET", "/ping.json", None);
    assert_eq!(ping.status, 200);
    assert_eq!(ping.json()["status"], "ok");

    for path in ["/info.json", "/version.json"] {
        let info = api(&instance, "GET", path, None);
        assert_eq!(info.status, 200, "{path}: {}", info.text());
        let info = info.json();
        assert_eq!(info["pid"].as_i64(), core_pid, "{path}: pid is the core's");
        assert_eq!(info["api_version"], "0.3");
        assert!(info["program_version"].is_string(), "{path}: {info}");
    }

    let srv = api(&instance, "GET", "/server.json", None);
    assert_eq!(srv.status, 200, "{}", srv.text());
    let srv = srv.json();
    assert_eq!(srv["pid"].as_i64(), core_pid);
    assert_eq!(srv["pool"]["group_count"], 1, "{srv}");
    assert_eq!(srv["pool"]["process_count"], 1, "{srv}");
    let listen = srv["listen_addresses"].to_string();
    assert!(
        listen.contains(&server.addr.to_string()),
        "listen_addresses {listen} name {}",
        server.addr
    );
    assert_eq!(
        srv["instance_dir"].as_str(),
        Some(instance.to_string_lossy().as_ref()),
        "/server.json names the instance directory: {srv}"
    );
    let props = properties(&instance);
    assert_eq!(
        srv["instance_name"], props["name"],
        "/server.json names the instance: {srv}"
    );

    let txt = api(&instance, "GET", "/pool.txt", None);
    assert_eq!(txt.status, 200);
    assert!(txt.text().contains(&group), "{}", txt.text());
    assert!(txt.text().contains(&pids[0].to_string()), "{}", txt.text());

    let xml = api(&instance, "GET", "/pool.xml", None);
    assert_eq!(xml.status, 200);
    assert!(xml.text().starts_with("<?xml"), "{}", xml.text());
    assert!(
        xml.text().contains(&format!("<pid>{}</pid>", pids[0])),
        "{}",
        xml.text()
    );

    let pool = api(&instance, "GET", "/pool.json", None).json();
    assert_eq!(pool["schema_version"], 1);
    assert_eq!(pool["groups"][0]["name"].as_str(), Some(group.as_str()));
    assert_eq!(pool["groups"][0]["app_root"].as_str(), Some(group.as_str()));

    let config = api(&instance, "GET", "/config.json", None);
    assert_eq!(config.status, 200);
    assert!(config.json()["log_level"]["effective_value"].is_string());

    let metrics = api(&instance, "GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("passenger_pool_groups 1"));

    // Errors, in the original's order of checks.
    assert_eq!(api(&instance, "GET", "/nope.json", None).status, 404);
    assert_eq!(api(&instance, "POST", "/pool.json", Some("{}")).status, 405);
    assert_eq!(
        api(&instance, "GET", "/pool/restart_app_group.json", None).status,
        405
    );
    assert_eq!(api(&instance, "GET", "/shutdown.json", None).status, 405);
    drop(server);
}

#[test]
fn every_write_endpoint_acts_for_the_owner() {
    let dir = TestDir::new();
    let (mut server, root, instance) = start_hello(&dir, "2");
    let group = root.to_string_lossy().into_owned();
    let before = wait_for_processes(&server, &instance, 2);

    // PUT /config.json
    let put = api(
        &instance,
        "PUT",
        "/config.json",
        Some(r#"{"log_level": "debug"}"#),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let config = api(&instance, "GET", "/config.json", None).json();
    assert_eq!(config["log_level"]["effective_value"], "debug");
    let bad = api(
        &instance,
        "PUT",
        "/config.json",
        Some(r#"{"log_level": "loud"}"#),
    );
    assert_eq!(bad.status, 500, "{}", bad.text());
    assert_eq!(
        api(&instance, "PUT", "/config.json", Some("{nope")).status,
        422
    );

    // POST /reopen_logs.json
    let reopen = api(&instance, "POST", "/reopen_logs.json", Some(""));
    assert_eq!(reopen.status, 200, "{}", reopen.text());

    // POST /pool/detach_process.json
    assert_eq!(
        api(&instance, "POST", "/pool/detach_process.json", Some("{}")).status,
        400
    );
    let detach = api(
        &instance,
        "POST",
        "/pool/detach_process.json",
        Some(&format!(r#"{{"pid": {}}}"#, before[0])),
    );
    assert_eq!(detach.status, 200, "{}", detach.text());
    assert_eq!(detach.json()["detached"], true);
    let unknown = api(
        &instance,
        "POST",
        "/pool/detach_process.json",
        Some(r#"{"pid": 1}"#),
    );
    assert_eq!(unknown.json()["detached"], false, "{}", unknown.text());
    wait_until("the detached process is gone", deadline(), || {
        !pool_pids(&instance).iter().any(|(p, _)| *p == before[0])
    });

    // POST /pool/restart_app_group.json
    assert_eq!(
        api(
            &instance,
            "POST",
            "/pool/restart_app_group.json",
            Some(r#"{"method": "rolling"}"#)
        )
        .status,
        400
    );
    assert_eq!(
        api(
            &instance,
            "POST",
            "/pool/restart_app_group.json",
            Some(&format!(r#"{{"name": {group:?}, "method": "sideways"}}"#))
        )
        .status,
        400
    );
    let missing = api(
        &instance,
        "POST",
        "/pool/restart_app_group.json",
        Some(r#"{"name": "/no/such/app"}"#),
    );
    assert_eq!(missing.json()["restarted"], false, "{}", missing.text());
    let current = wait_for_processes(&server, &instance, 2);
    let restart = api(
        &instance,
        "POST",
        "/pool/restart_app_group.json",
        Some(&format!(r#"{{"name": {group:?}, "method": "blocking"}}"#)),
    );
    assert_eq!(restart.status, 200, "{}", restart.text());
    assert_eq!(restart.json()["restarted"], true);
    wait_until("every process is replaced", deadline(), || {
        let now = pool_pids(&instance);
        now.len() == 2 && now.iter().all(|(p, _)| !current.contains(p))
    });
    let big = "x".repeat(200 * 1024);
    assert_eq!(
        api(
            &instance,
            "POST",
            "/pool/restart_app_group.json",
            Some(&big)
        )
        .status,
        413
    );

    // POST /shutdown.json stops the whole server, and it cleans up after itself.
    let shutdown = api(&instance, "POST", "/shutdown.json", Some(""));
    assert_eq!(shutdown.status, 200, "{}", shutdown.text());
    let status = server.wait_exit(deadline());
    assert!(
        status.is_some_and(|s| s.success()),
        "passenger start exits 0 after /shutdown.json: {status:?}\n{}",
        server.log()
    );
    assert!(!instance.exists(), "the instance directory is removed");
}

/// The python client the unprivileged user runs: one request per argv triple
/// `METHOD PATH USER:PASSWORD|-`, printing `STATUS` per line (or `ERR <reason>`), then `READ <file>`
/// lines try to read files.
const NOBODY_CLIENT: &str = r#"
import base64, socket, sys
sock_path = sys.argv[1]
args = sys.argv[2:]
while args:
    if args[0] == "READ":
        try:
            open(args[1]).read()
            print("READABLE")
        except OSError as e:
            print("ERR %s" % type(e).__name__)
        args = args[2:]
        continue
    method, path, cred = args[:3]
    args = args[3:]
    head = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % (method, path)
    if cred != "-":
        head += "Authorization: Basic %s\r\n" % base64.b64encode(cred.encode()).decode()
    body = "{}" if method == "POST" else ""
    if method == "POST":
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall((head + "\r\n" + body).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        print(data.split(b" ", 2)[1].decode())
    except OSError as e:
        print("ERR %s" % e)
"#;

#[test]
fn auth_matrix_for_root_and_an_unprivileged_client() {
    use std::os::unix::process::CommandExt;

    let dir = TestDir::new();
    let (server, root, instance) = start_hello(&dir, "1");
    wait_for_processes(&server, &instance, 1);
    let ro = std::fs::read_to_string(instance.join("read_only_admin_password.txt"))
        .expect("root reads the read-only password");
    let full = std::fs::read_to_string(instance.join("full_admin_password.txt"))
        .expect("root reads the full password");
    assert_ne!(ro, full);
    // An empty body is "Body required" (400), which proves authorization passed without
    // restarting anything.
    let restart = "/pool/restart_app_group.json";

    // Root: peer credentials give full access without a password.
    assert_eq!(api(&instance, "GET", "/pool.json", None).status, 200);
    assert_eq!(api(&instance, "POST", restart, Some("")).status, 400);

    let socket = api_socket(&instance);
    let ro_cred = format!("ro_admin:{ro}");
    let full_cred = format!("admin:{full}");
    let wrong_ro = format!("ro_admin:{full}");
    let matrix: Vec<(&str, &str, &str, &str)> = vec![
        // (method, path, credentials, expected status)
        ("GET", "/ping.json", "-", "401"),
        ("GET", "/pool.json", "-", "401"),
        ("GET", "/metrics", "-", "401"),
        ("POST", restart, "-", "401"),
        ("GET", "/pool.json", &ro_cred, "200"),
        ("GET", "/pool.txt", &ro_cred, "200"),
        ("GET", "/server.json", &ro_cred, "200"),
        ("GET", "/metrics", &ro_cred, "200"),
        ("GET", "/config.json", &ro_cred, "200"),
        ("POST", restart, &ro_cred, "401"),
        ("POST", "/shutdown.json", &ro_cred, "401"),
        ("POST", "/reopen_logs.json", &ro_cred, "401"),
        ("GET", "/pool.json", &wrong_ro, "401"),
        ("GET", "/pool.json", "admin:wrong", "401"),
        ("GET", "/pool.json", "root:", "401"),
        ("GET", "/pool.json", &full_cred, "200"),
        ("POST", restart, &full_cred, "400"),
    ];
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(NOBODY_CLIENT)
        .arg(&socket)
        .uid(NOBODY)
        .gid(NOBODY);
    for (method, path, cred, _) in &matrix {
        cmd.args([method, path, cred]);
    }
    for file in ["read_only_admin_password.txt", "full_admin_password.txt"] {
        cmd.arg("READ").arg(instance.join(file));
    }
    let out = run_with_deadline(&dir, &mut cmd, deadline());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client as uid {NOBODY} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), matrix.len() + 2, "{stdout}");
    let mut wrong = Vec::new();
    for ((method, path, cred, want), got) in matrix.iter().zip(&lines) {
        if want != got {
            let who = cred.split(':').next().unwrap_or("");
            wrong.push(format!("{method} {path} as {who}: want {want}, got {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "auth matrix for uid {NOBODY}:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        &lines[matrix.len()..],
        &["ERR PermissionError", "ERR PermissionError"],
        "uid {NOBODY} cannot read the password files"
    );
    // Nothing the unprivileged client did changed the pool.
    assert_eq!(pool_pids(&instance).len(), 1);
    drop((server, root));
}

#[test]
fn metrics_parse_with_a_prometheus_text_parser() {
    let dir = TestDir::new();
    let (server, root, instance) = start_hello(&dir, "2");
    let pids = wait_for_processes(&server, &instance, 2);
    let group = root.to_string_lossy().into_owned();
    for _ in 0..5 {
        assert_eq!(crate::support::get(server.addr, "/").status, 200);
    }

    let resp = api(&instance, "GET", "/metrics", None);
    assert_eq!(resp.status, 200);
    let ctype = resp.header("content-type").unwrap_or_default().to_string();
    assert!(
        ctype.starts_with("text/plain") && ctype.contains("version=0.0.4"),
        "content type {ctype:?}"
    );
    let text = resp.text();
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let find = |metric: &str, labels: &[(&str, &str)]| -> Vec<&prometheus_parse::Sample> {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect()
    };
    let value = |s: &prometheus_parse::Sample| match s.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{} is not a scalar: {other:?}", s.metric),
    };

    let groups = find("passenger_pool_groups", &[]);
    assert_eq!(groups.len(), 1, "{text}");
    assert!(matches!(groups[0].value, prometheus_parse::Value::Gauge(_)));
    assert_eq!(value(groups[0]), 1.0);
    assert_eq!(value(find("passenger_pool_max_size", &[])[0]), 3.0);
    let enabled = find(
        "passenger_group_processes",
        &[("group", &group), ("state", "enabled")],
    );
    assert_eq!(enabled.len(), 1, "{text}");
    assert_eq!(value(enabled[0]), 2.0);
    let info = find("passenger_info", &[]);
    assert_eq!(info.len(), 1, "{text}");
    assert!(info[0].labels.get("version").is_some(), "{text}");

    let mut total = 0.0;
    for pid in &pids {
        let processed = find(
            "passenger_process_processed_total",
            &[("pid", &pid.to_string())],
        );
        assert_eq!(processed.len(), 1, "process {pid}: {text}");
        assert!(
            matches!(processed[0].value, prometheus_parse::Value::Counter(_)),
            "{:?}",
            processed[0]
        );
        total += value(processed[0]);
    }
    // Five plus the one `wait_for_processes` sent.
    assert_eq!(total, 6.0, "every proxied request is counted: {text}");
    // Every sample has HELP text.
    for s in &scrape.samples {
        assert!(
            scrape.docs.contains_key(&s.metric),
            "no HELP for {}",
            s.metric
        );
    }
}

/// Starts the `breakable.py` fixture with `--min-instances 3 --max-pool-size 3`; touching the
/// returned marker file makes new processes fail to start, touching [`slow_marker`] makes them
/// take 0.5 s to start.
fn start_breakable(dir: &TestDir) -> (Server, String, PathBuf, PathBuf) {
    let root = app_root(dir, "app");
    let marker = dir.join("broken");
    let cmd = format!(
        "python3 {} {} {}",
        fixture("breakable.py").display(),
        marker.display(),
        slow_marker(dir).display()
    );
    let server = Server::start(
        dir,
        &generic_start_args(
            &root,
            &cmd,
            &[
                "--min-instances",
                "3",
                "--max-pool-size",
                "3",
                "--start-timeout",
                "10",
            ],
        ),
    );
    let root_arg = root.to_string_lossy().into_owned();
    let instance = instance_dir(dir, &server);
    (server, root_arg, instance, marker)
}

fn rolling_restart(instance: &Path, group: &str) {
    let resp = api(
        instance,
        "POST",
        "/pool/restart_app_group.json",
        Some(&format!(r#"{{"name": {group:?}, "method": "rolling"}}"#)),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["restarted"], true, "{}", resp.text());
}

/// The file that makes `breakable.py` processes started after it appears take 0.5 s to start.
fn slow_marker(dir: &TestDir) -> PathBuf {
    dir.join("slow")
}

/// One `/pool.json` sample during a restart: enabled processes of the old and the new version,
/// and the old ones still listed (enabled or detached).
#[derive(Debug, Clone, Copy, PartialEq)]
struct RestartSample {
    old_enabled: usize,
    new_enabled: usize,
    old_listed: usize,
}

/// Samples `/pool.json` every poll until `n` enabled processes none of which is in `old` remain
/// and no old one is listed; returns the samples and the new pids.
fn watch_restart(instance: &Path, old: &[u32], n: usize) -> (Vec<RestartSample>, Vec<u32>) {
    let mut samples = Vec::new();
    let mut new = Vec::new();
    wait_until("all processes are replaced", deadline(), || {
        let pids = pool_pids(instance);
        let enabled = |want_old: bool| {
            pids.iter()
                .filter(|(p, e)| e == "enabled" && old.contains(p) == want_old)
                .map(|(p, _)| *p)
                .collect::<Vec<u32>>()
        };
        new = enabled(false);
        let sample = RestartSample {
            old_enabled: enabled(true).len(),
            new_enabled: new.len(),
            old_listed: pids.iter().filter(|(p, _)| old.contains(p)).count(),
        };
        samples.push(sample);
        sample.new_enabled == n && sample.old_listed == 0
    });
    (samples, new)
}

/// What makes a restart rolling, checked on every sample: some process is enabled; an old
/// process has left only once its replacement was ready (old ones gone <= new ones enabled);
/// old ones leave one at a time (every count from `n` down to 0 is seen, never a drop of two);
/// old and new processes serve side by side.
fn assert_rolling(samples: &[RestartSample], n: usize) {
    let why = || format!("samples (old enabled, new enabled, old listed): {samples:?}");
    for s in samples {
        assert!(
            s.old_enabled + s.new_enabled > 0,
            "no enabled process at one moment; {}",
            why()
        );
        assert!(
            n - s.old_enabled <= s.new_enabled,
            "an old process left before its replacement was ready; {}",
            why()
        );
    }
    for pair in samples.windows(2) {
        assert!(
            pair[1].old_enabled + 1 >= pair[0].old_enabled,
            "two old processes left at once; {}",
            why()
        );
    }
    for count in 0..=n {
        assert!(
            samples.iter().any(|s| s.old_enabled == count),
            "never {count} old processes enabled; {}",
            why()
        );
    }
    assert!(
        samples
            .iter()
            .any(|s| s.old_enabled > 0 && s.new_enabled > 0),
        "old and new processes never served together; {}",
        why()
    );
}

#[test]
fn rolling_restart_under_load_fails_no_request() {
    let dir = TestDir::new();
    let (server, group, instance, _marker) = start_breakable(&dir);
    let old = wait_for_processes(&server, &instance, 3);

    let load = Load::start(server.addr, "/", 4);
    wait_until("the load is flowing", deadline(), || load.stats().ok >= 20);
    // New processes take 0.5 s to start: long enough to see every step at one poll per 25 ms.
    std::fs::write(slow_marker(&dir), "").expect("invariant: test dir is writable");
    rolling_restart(&instance, &group);
    let (samples, new) = watch_restart(&instance, &old, 3);
    assert_rolling(&samples, 3);
    // Keep the load on the new processes for a moment before counting.
    let served = load.stats().ok;
    wait_until("the new processes serve", deadline(), || {
        load.stats().ok >= served + 20
    });
    let stats = load.finish();
    assert!(
        stats.failed.is_empty(),
        "{} of {} requests failed during a rolling restart: {:?}",
        stats.failed.len(),
        stats.ok + stats.failed.len() as u64,
        &stats.failed[..stats.failed.len().min(5)]
    );
    let answered_by_new = stats
        .pids
        .iter()
        .filter(|(_, p)| new.contains(&(*p as u32)))
        .count();
    assert!(answered_by_new > 0, "the new processes answered");
    for pid in &old {
        assert!(
            !crate::support::pid_alive(*pid as i32),
            "old process {pid} was stopped"
        );
    }
}

#[test]
fn a_broken_new_version_keeps_the_old_processes_serving() {
    let dir = TestDir::new();
    let (server, group, instance, marker) = start_breakable(&dir);
    let old = wait_for_processes(&server, &instance, 3);

    let load = Load::start(server.addr, "/", 4);
    wait_until("the load is flowing", deadline(), || load.stats().ok >= 20);
    std::fs::write(&marker, "").expect("invariant: test dir is writable");
    rolling_restart(&instance, &group);
    // The restart fails on its first new process; give it time to try (and to fail), then count.
    let started = Instant::now();
    let mut spawn_failed = false;
    while started.elapsed() < Duration::from_secs(6) {
        spawn_failed |= server.log().contains("breakable.py: refusing to start");
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = load.finish();
    assert!(spawn_failed, "the new version was tried:\n{}", server.log());
    assert!(
        stats.failed.is_empty(),
        "{} of {} requests failed while a broken version was rolled out: {:?}",
        stats.failed.len(),
        stats.ok + stats.failed.len() as u64,
        &stats.failed[..stats.failed.len().min(5)]
    );
    let late: Vec<i64> = stats
        .pids
        .iter()
        .filter(|(t, _)| t.duration_since(started) > Duration::from_secs(4))
        .map(|(_, p)| *p)
        .collect();
    assert!(!late.is_empty(), "requests were still answered at the end");
    assert!(
        late.iter().all(|p| old.contains(&(*p as u32))),
        "the old processes {old:?} still serve, got {late:?}"
    );
    let alive: Vec<u32> = old
        .iter()
        .copied()
        .filter(|p| crate::support::pid_alive(*p as i32))
        .collect();
    assert!(
        !alive.is_empty(),
        "at least one old process is left serving, {:?}",
        pool_pids(&instance)
    );
}
