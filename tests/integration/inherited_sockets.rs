//! Hot deploys of `passenger start`: a core upgrade on SIGUSR2, and sockets it
//! inherits: under `start_server`
//! (`SERVER_STARTER_PORT`, generation swap on SIGHUP under load) and under systemd
//! socket activation (`LISTEN_FDS`/`LISTEN_PID`, readiness on `NOTIFY_SOCKET`),
//! with the test playing systemd's side of the protocol.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::process::{parse_accessible_via, ProcGuard};
use crate::support::{
    app_root, deadline, get, passenger, py_command, start_fixture, start_fixture_with_env,
    wait_until, Request, TestDir,
};

fn read_file(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Bounded load on one address from one client: a new connection per request, for
/// at most 20 s, counting answers that are not 200 and transport errors as failures.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u32, Vec<String>)>,
}

impl Load {
    fn start(addr: std::net::SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut ok, mut failed, start) = (0u32, Vec::new(), Instant::now());
            while !flag.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(20) {
                match Request::new("GET", "/pid")
                    .header("Connection", "close")
                    .timeout(Duration::from_secs(10))
                    .send(addr)
                {
                    Ok(r) if r.status == 200 => ok += 1,
                    Ok(r) => failed.push(format!("status {}", r.status)),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        });
        Load { stop, thread }
    }

    /// Stops the load: `(answered, failures)`.
    fn finish(self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the load thread does not panic")
    }
}

/// `passenger start` with the hello fixture on a free loopback port.
fn start_hello(dir: &TestDir) -> crate::support::Server {
    let root = app_root(dir, "app");
    start_fixture(dir, &root, "hello.py", &[])
}

/// The app's pid from `/pid`, or None when the request failed.
fn app_pid(addr: std::net::SocketAddr) -> Option<u64> {
    let resp = Request::new("GET", "/pid")
        .header("Connection", "close")
        .timeout(deadline())
        .send(addr)
        .ok()?;
    (resp.status == 200)
        .then(|| resp.json()["pid"].as_u64())
        .flatten()
}

#[test]
fn passenger_start_under_start_server_swaps_generations_on_hup_without_a_failed_request() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let status = dir.join("status");
    let out = dir.join("starter.out");
    let bin = std::env::var_os("PASSENGER_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_passenger").into());
    let mut cmd = passenger(&dir);
    cmd.args([
        "start-server",
        "--port",
        "127.0.0.1:0",
        "--interval",
        "1",
        "--status-file",
    ])
    .arg(&status)
    .arg("--")
    .arg(&bin)
    .arg("start")
    .arg(&root)
    .args(["--app-start-command", &py_command("hello.py")])
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&out).expect("invariant: writable"))
    .stderr(std::fs::File::create(dir.join("starter.log")).expect("invariant: writable"));
    let mut starter = ProcGuard::spawn("start_server", &mut cmd, &dir);
    let mut addr = None;
    wait_until(
        "passenger start announces the inherited socket",
        deadline(),
        || {
            addr = read_file(&out).lines().find_map(parse_accessible_via);
            addr.is_some()
        },
    );
    let addr = addr.expect("invariant: waited for it");
    assert_ne!(
        addr.port(),
        0,
        "the banner names the inherited socket's real port"
    );
    let first = app_pid(addr).expect("generation 1 serves");

    let load = Load::start(addr);
    starter.signal(Signal::SIGHUP);
    wait_until(
        "generation 2 is the only one",
        deadline().mul_f64(2.0),
        || {
            read_file(&status)
                .lines()
                .map(|l| l.split(':').next().unwrap_or(""))
                .eq(["2"])
        },
    );
    let mut second = None;
    wait_until("the new generation's app answers", deadline(), || {
        second = app_pid(addr).filter(|p| *p != first);
        second.is_some()
    });
    let (ok, failed) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the swap: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(ok > 0);
    let log = read_file(&dir.join("starter.log"));
    assert!(
        log.contains("old worker") && log.contains("died, status:0"),
        "the old generation stopped cleanly:\n{log}"
    );
    starter.signal(Signal::SIGTERM);
    let exited = starter
        .wait_exit(deadline())
        .expect("start_server stops on SIGTERM");
    assert!(exited.success());
}

#[test]
fn socket_activation_serves_the_systemd_socket_and_reports_readiness() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("invariant: bound");
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    notify
        .set_read_timeout(Some(deadline()))
        .expect("invariant: timeout");

    // systemd's side: the socket on fd 3, LISTEN_PID = the pid that execs passenger.
    let isolated = passenger(&dir);
    let mut cmd = std::process::Command::new("/bin/sh");
    for (k, v) in isolated.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(dir.path())
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(isolated.get_program())
        .arg("start")
        .arg(&root)
        .args(["--app-start-command", &py_command("hello.py")])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "http")
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("out")).expect("invariant: writable"))
        .stderr(std::fs::File::create(dir.join("log")).expect("invariant: writable"));
    let fd = listener.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; `fd` stays open in the parent
    // until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it by hand then.
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = ProcGuard::spawn("passenger", &mut cmd, &dir);
    drop(listener);

    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 arrives");
    let ready = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("MAINPID={}", server.pid())),
        "{ready}"
    );
    let banner = read_file(&dir.join("out"));
    assert_eq!(
        banner.lines().find_map(parse_accessible_via),
        Some(addr),
        "the banner names the activated socket:\n{banner}"
    );
    assert!(
        banner.contains(&format!("passenger.{}.pid", addr.port())),
        "the default PID file is named after the port served:\n{banner}"
    );
    let env = get(addr, "/env").json();
    for var in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
    ] {
        assert!(
            env["env"][var].is_null(),
            "the app must not inherit {var}: {env}"
        );
    }

    server.signal(Signal::SIGTERM);
    let n = notify.recv(&mut buf).expect("STOPPING=1 arrives");
    assert!(String::from_utf8_lossy(&buf[..n])
        .lines()
        .any(|l| l == "STOPPING=1"));
    assert!(server
        .wait_exit(deadline())
        .expect("stops on SIGTERM")
        .success());
}

#[test]
fn listen_fds_meant_for_another_process_are_ignored() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    // A parent's leftover variables (LISTEN_PID is not ours): bind as the flags say.
    let server = start_fixture_with_env(
        &dir,
        &root,
        "hello.py",
        &[],
        &[("LISTEN_FDS", "1"), ("LISTEN_PID", "1")],
    );
    assert_eq!(get(server.addr, "/").status, 200);
}

/// The core pid recorded in the (only) instance directory of `dir`'s registry.
fn recorded_core_pid(dir: &TestDir) -> Option<i32> {
    let registry = dir.join("registry");
    std::fs::read_dir(&registry)
        .ok()?
        .flatten()
        .find_map(|e| std::fs::read_to_string(e.path().join("core.pid")).ok())
        .and_then(|s| s.trim().parse().ok())
}

#[test]
fn usr2_upgrades_the_core_on_the_same_socket_without_a_failed_request() {
    let dir = TestDir::new();
    let server = start_hello(&dir);
    let addr = server.addr;
    let first_app = app_pid(addr).expect("the app serves");
    let mut old_core = None;
    wait_until("the instance records its core", deadline(), || {
        old_core = recorded_core_pid(&dir);
        old_core.is_some()
    });
    let old_core = old_core.expect("invariant: waited for it");

    let load = Load::start(addr);
    // A slow request in flight at the old core must still complete: it drains.
    let mark = dir.join("slow-started");
    let slow = {
        let path = format!("/sleep?s=1.5&mark={}", mark.display());
        std::thread::spawn(move || {
            Request::new("GET", &path)
                .header("Connection", "close")
                .timeout(Duration::from_secs(20))
                .send(addr)
                .map(|r| r.status)
        })
    };
    wait_until("the slow request reached the app", deadline(), || {
        mark.exists()
    });
    server.signal(Signal::SIGUSR2);
    wait_until(
        "a new core is recorded and the old one is gone",
        deadline(),
        || {
            recorded_core_pid(&dir).is_some_and(|p| p != old_core)
                && !crate::support::pid_alive(old_core)
        },
    );
    let mut second_app = None;
    wait_until("the new core's app answers", deadline(), || {
        second_app = app_pid(addr).filter(|p| *p != first_app);
        second_app.is_some()
    });
    let (ok, failed) = load.finish();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the upgrade: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    let slow_status = slow.join().expect("the slow client does not panic");
    assert_eq!(
        slow_status.ok(),
        Some(200),
        "the old core drained its in-flight request"
    );
    assert!(
        crate::support::pid_alive(server.pid()),
        "the watchdog (the PID in the PID file) stays"
    );
    let log = server.log();
    assert!(log.contains("Upgrading the Passenger core"), "{log}");
    assert!(
        !log.contains("crashed"),
        "the old core's exit is not a crash:\n{log}"
    );
}

#[test]
fn passenger_config_upgrade_core_waits_for_the_new_core() {
    let dir = TestDir::new();
    let server = start_hello(&dir);
    let mut old = None;
    wait_until("the instance records its core", deadline(), || {
        old = recorded_core_pid(&dir);
        old.is_some()
    });
    let old = old.expect("invariant: waited for it");
    let out = crate::support::run_with_deadline(
        &dir,
        passenger(&dir).args(["config", "upgrade-core"]),
        deadline().mul_f64(2.0),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = recorded_core_pid(&dir).expect("a core is recorded");
    assert_ne!(new, old);
    assert!(
        said.contains(&format!("Core upgraded: pid {old} -> {new}")),
        "{said}"
    );
    assert!(
        !crate::support::pid_alive(old),
        "the old core is gone when the command returns"
    );
    assert_eq!(get(server.addr, "/").status, 200);
}

/// A keep-alive client of the old core is told `Connection: close` with an answer,
/// never left with its next request on a connection closed under it.
#[test]
fn keep_alive_clients_of_the_old_core_get_connection_close_not_a_dropped_request() {
    use std::io::{BufReader, Write};
    let dir = TestDir::new();
    let server = start_hello(&dir);
    let mut old = None;
    wait_until("the instance records its core", deadline(), || {
        old = recorded_core_pid(&dir);
        old.is_some()
    });
    let old = old.expect("invariant: waited for it");
    let stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(deadline()))
        .expect("invariant: timeout");
    let mut writer = stream.try_clone().expect("invariant: clone");
    let mut reader = BufReader::new(stream);
    let mut ask = |n: u32| {
        writer
            .write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
            .map_err(|e| format!("request {n}: write: {e}"))?;
        crate::support::http::read_response(&mut reader, false)
            .map_err(|e| format!("request {n}: no answer on a kept-alive connection: {e}"))
    };
    let first = ask(0).expect("the old core answers");
    assert_eq!(first.status, 200);
    server.signal(Signal::SIGUSR2);
    // Requests keep coming on the same connection (a busy keep-alive client) until
    // the old core, stopping, answers one with `Connection: close`.
    let start = Instant::now();
    let mut n = 1;
    loop {
        let resp = ask(n).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status, 200);
        if resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            break;
        }
        assert!(
            start.elapsed() < deadline(),
            "the old core never said Connection: close"
        );
        std::thread::sleep(Duration::from_millis(20));
        n += 1;
    }
    wait_until("the old core is gone", deadline(), || {
        !crate::support::pid_alive(old)
    });
    assert_eq!(get(server.addr, "/").status, 200, "the new core serves");
}
