//! Integration tests of [`SpawnerFactory`] with real generic (python3) and Node apps.
//!
//! Every fixture is a small stdlib-only script written into a temp dir. Every spawned
//! process is killed on drop by [`support::Running`], and each test asserts that the processes it
//! started are gone from `/proc` before it ends.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passenger_core::app::{AppSpec, AppType};
use passenger_core::pool::{Gupid, ProcessAddress};
use passenger_core::spawn::{
    ExitInfo, SpawnError, SpawnStep, Spawner, SpawnerFactory, SpawnerOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{app_dir, assert_gone_async, gone, poll_async, spawn, spawn_ok, write, START};

/// A python3 HTTP app: `/` says hello, `/env` dumps env and cwd, `/child` gives the
/// pid of a forked child when `FORK_CHILD` is in the prelude.
const SERVER: &str = r#"
import http.server, json, os, signal, sys, time
CHILD = None
PRELUDE
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/env':
            body = json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}).encode()
        elif self.path == '/child':
            body = str(CHILD).encode()
        else:
            body = b'hello from python'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
"#;

fn python_app(dir: &Path, script: &str, start_timeout: Duration) -> Arc<AppSpec> {
    write(dir, "app.py", script);
    let mut app = AppSpec::new(
        "test-app",
        dir.to_path_buf(),
        AppType::Generic {
            start_command: "python3 app.py".to_string(),
        },
    );
    app.start_timeout = start_timeout;
    Arc::new(app)
}

fn server(prelude: &str) -> String {
    SERVER.replace("PRELUDE", prelude)
}

async fn get(address: &ProcessAddress, path: &str) -> String {
    let ProcessAddress::Tcp(addr) = address else {
        panic!("expected a TCP address, got {address}");
    };
    let mut stream = TcpStream::connect(addr).await.expect("connect to app");
    let request = format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response within 10 s")
        .expect("read response");
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(response.starts_with("HTTP/1."), "not HTTP: {response}");
    let (_, body) = response
        .split_once("\r\n\r\n")
        .expect("response has a header/body separator");
    body.to_string()
}

fn first_number(text: &str) -> u32 {
    text.split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no pid in output: {text:?}"))
}

fn assert_error_fields(err: &SpawnError, dir: &Path) {
    assert_eq!(err.app_root, dir.display().to_string());
    assert_eq!(err.error_id.len(), 8, "error id {:?}", err.error_id);
    assert!(err.error_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        err.command.contains("exec python3 app.py"),
        "{}",
        err.command
    );
    assert!(err.envvars.iter().any(|(k, _)| k == "PORT"));
    assert!(err.user.contains('('), "user {:?}", err.user);
}

#[tokio::test]
async fn hello_app_answers_over_tcp() {
    let dir = app_dir();
    let app = python_app(dir.path(), &server(""), START);
    let process = spawn_ok(app).await;
    assert_eq!(process.process().concurrency, -1);
    assert!(process.process().spawn_started <= process.process().spawn_ended);
    assert_eq!(
        get(&process.process().address, "/").await,
        "hello from python"
    );
    process.kill_and_wait_gone().await;
}

#[tokio::test]
async fn app_gets_passenger_env_and_its_own_vars() {
    let dir = app_dir();
    let mut app = (*python_app(dir.path(), &server(""), START)).clone();
    app.environment = "staging".to_string();
    app.base_uri = Some("/sub".to_string());
    app.env_vars = vec![
        ("MY_SETTING".to_string(), "42".to_string()),
        ("RACK_ENV".to_string(), "override".to_string()),
    ];
    let process = spawn_ok(Arc::new(app)).await;
    let body = get(&process.process().address, "/env").await;
    let dump: serde_json::Value = serde_json::from_str(&body).expect("env dump is JSON");
    let env: HashMap<String, String> =
        serde_json::from_value(dump["env"].clone()).expect("env is a string map");
    let port = match &process.process().address {
        ProcessAddress::Tcp(addr) => addr.port().to_string(),
        other => panic!("unexpected address {other}"),
    };
    let root = dir.path().display().to_string();
    let var = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(var("PORT"), Some(port.as_str()));
    assert_eq!(var("IN_PASSENGER"), Some("1"));
    assert_eq!(var("PYTHONUNBUFFERED"), Some("1"));
    for k in ["PASSENGER_APP_ENV", "RAILS_ENV", "WSGI_ENV", "NODE_ENV"] {
        assert_eq!(var(k), Some("staging"), "{k}");
    }
    assert_eq!(var("RACK_ENV"), Some("override"));
    assert_eq!(var("MY_SETTING"), Some("42"));
    for k in [
        "PASSENGER_BASE_URI",
        "RACK_BASE_URI",
        "RAILS_RELATIVE_URL_ROOT",
    ] {
        assert_eq!(var(k), Some("/sub"), "{k}");
    }
    assert_eq!(var("PWD"), Some(root.as_str()));
    assert_eq!(dump["cwd"].as_str(), Some(root.as_str()));
    assert!(var("PATH").is_some(), "inherited env is kept");

    // As root, a root-owned app root runs as the default user; otherwise the app runs
    // as the user who spawned it.
    let expected_uid = if nix::unistd::Uid::effective().is_root() {
        assert_eq!(var("USER"), Some("nobody"));
        nix::unistd::User::from_name("nobody")
            .expect("user db")
            .expect("nobody exists")
            .uid
    } else {
        nix::unistd::Uid::effective()
    };
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.process().pid))
        .expect("read app status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == expected_uid.to_string()),
        "app runs as uid {expected_uid}: {uid_line}"
    );
    process.kill_and_wait_gone().await;
}

#[tokio::test]
async fn early_exit_fails_with_output_and_status() {
    let dir = app_dir();
    let script = "import os, sys\nprint('pid', os.getpid())\nsys.stderr.write('boom: missing config\\n')\nsys.exit(3)\n";
    let app = python_app(dir.path(), script, START);
    let err = spawn(app).await.expect_err("app exits before listening");
    assert!(
        err.summary
            .starts_with("The application process exited prematurely."),
        "{}",
        err.summary
    );
    assert!(err.summary.contains("code 3"), "{}", err.summary);
    assert_eq!(err.step, SpawnStep::HandshakePerform);
    assert!(
        err.output.contains("boom: missing config"),
        "{}",
        err.output
    );
    assert_error_fields(&err, dir.path());
    assert_gone_async(first_number(&err.output)).await;
}

#[tokio::test]
async fn app_that_never_listens_times_out() {
    let dir = app_dir();
    let script = "import os, time\nprint('pid', os.getpid())\ntime.sleep(300)\n";
    let app = python_app(dir.path(), script, Duration::from_millis(1500));
    let started = Instant::now();
    let err = spawn(app).await.expect_err("app never listens");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.summary.contains("did not start listening on port"),
        "{}",
        err.summary
    );
    assert!(err.summary.contains("start timeout"), "{}", err.summary);
    assert_eq!(err.step, SpawnStep::HandshakePerform);
    assert_error_fields(&err, dir.path());
    assert_gone_async(first_number(&err.output)).await;
}

#[tokio::test]
async fn terminate_stops_the_app_and_exited_resolves() {
    let dir = app_dir();
    let app = python_app(dir.path(), &server(""), START);
    let mut process = spawn_ok(app).await;
    process.process().control.terminate();
    assert_eq!(process.wait_exit().await, ExitInfo::Signal(libc::SIGTERM));
    assert_gone_async(process.process().pid).await;
    // Signalling a reaped process is a harmless no-op.
    process.process().control.terminate();
    process.process().control.kill();
}

#[tokio::test]
async fn kill_stops_an_app_ignoring_sigterm() {
    let dir = app_dir();
    let prelude = "signal.signal(signal.SIGTERM, signal.SIG_IGN)";
    let app = python_app(dir.path(), &server(prelude), START);
    let mut process = spawn_ok(app).await;
    process.process().control.terminate();
    // The app ignores SIGTERM: it must still be there a moment later.
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        &mut process.process_mut().exited,
    )
    .await;
    assert!(early.is_err(), "app exited despite ignoring SIGTERM");
    assert_eq!(
        get(&process.process().address, "/").await,
        "hello from python"
    );
    process.process().control.kill();
    assert_eq!(process.wait_exit().await, ExitInfo::Signal(libc::SIGKILL));
    assert_gone_async(process.process().pid).await;
}

#[tokio::test]
async fn kill_takes_the_whole_process_group() {
    let dir = app_dir();
    let prelude = "CHILD = os.fork()\nif CHILD == 0:\n    time.sleep(300)\n    os._exit(0)";
    let app = python_app(dir.path(), &server(prelude), START);
    let mut process = spawn_ok(app).await;
    let child: u32 = get(&process.process().address, "/child")
        .await
        .trim()
        .parse()
        .expect("child pid");
    assert!(!gone(child), "forked child should be running");
    process.process().control.kill();
    process.wait_exit().await;
    assert_gone_async(process.process().pid).await;
    assert_gone_async(child).await;
}

#[tokio::test]
async fn leader_exit_kills_leftover_group_members() {
    let dir = app_dir();
    // The leader serves until asked to exit with SIGTERM; its child ignores SIGTERM.
    let prelude = "CHILD = os.fork()\nif CHILD == 0:\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    time.sleep(300)\n    os._exit(0)";
    let app = python_app(dir.path(), &server(prelude), START);
    let mut process = spawn_ok(app).await;
    let child: u32 = get(&process.process().address, "/child")
        .await
        .trim()
        .parse()
        .expect("child pid");
    process.process().control.terminate();
    process.wait_exit().await;
    assert_gone_async(child).await;
}

#[tokio::test]
async fn node_app_answers_over_tcp() {
    // A real-component test: node must be installed (tests/run-all installs nodejs).
    assert!(
        std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "node is not installed: run tests/run-all as root, or apt-get install nodejs"
    );
    let dir = app_dir();
    write(
        dir.path(),
        "app.js",
        "require('http').createServer((q, s) => s.end('hello from node'))\n  .listen(Number(process.env.PORT), '127.0.0.1');\n",
    );
    let mut app = AppSpec::new("node-app", dir.path().to_path_buf(), AppType::Node);
    app.start_timeout = START;
    let process = spawn_ok(Arc::new(app)).await;
    assert_eq!(process.process().concurrency, 0);
    assert_eq!(
        get(&process.process().address, "/").await,
        "hello from node"
    );
    process.kill_and_wait_gone().await;
}

#[tokio::test]
async fn loader_app_types_need_the_resources_dir() {
    let dir = app_dir();
    let app = AppSpec::new("rack", PathBuf::from(dir.path()), AppType::Ruby);
    let spawner = SpawnerFactory::new(SpawnerOptions {
        resources_dir: None,
        ..SpawnerOptions::default()
    });
    let err = spawner
        .spawn(Arc::new(app), Gupid("test-1".to_string()))
        .await
        .expect_err("no loader without resources");
    assert_eq!(err.step, SpawnStep::Preparation);
    assert!(err.summary.contains("loader"), "{}", err.summary);
}

#[tokio::test]
async fn dropping_the_spawn_future_kills_the_process() {
    let dir = app_dir();
    // The app (maybe running as nobody) writes its pid where the test can read it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod temp dir");
    let script = "import os, time\nopen('pid.tmp', 'w').write(str(os.getpid()))\nos.rename('pid.tmp', 'pid')\ntime.sleep(300)\n";
    let app = python_app(dir.path(), script, START);
    let pid_file = dir.path().join("pid");
    let spawning = spawn(app);
    let wait_for_pid = poll_async("the app to write its pid", START, || {
        std::fs::read_to_string(&pid_file)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    });
    let pid = tokio::select! {
        result = spawning => panic!("spawn resolved: {:?}", result.map(|p| p.pid)),
        pid = wait_for_pid => pid,
    };
    assert_gone_async(pid).await;
}
