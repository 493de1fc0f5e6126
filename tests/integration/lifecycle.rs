//! Server lifecycle: graceful SIGTERM, a SIGKILLed server, apps that ignore SIGTERM, daemon mode.

use std::net::TcpListener;
use std::thread;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::support::{
    app_pid, app_root, deadline, get, passenger, pid_alive, py_command, run_with_deadline,
    start_fixture, start_hello_app, wait_until, TestDir,
};

/// Starts a server with a slow request in flight (`/sleep?s=<secs>`, seen by the app) and
/// returns the server and the thread waiting for that request's response.
fn server_with_a_slow_request(
    dir: &TestDir,
    secs: u32,
) -> (
    crate::support::Server,
    thread::JoinHandle<crate::support::http::Response>,
) {
    let root = app_root(dir, "app");
    let server = start_fixture(dir, &root, "hello.py", &[]);
    let mark = dir.join("in-flight");
    let target = format!("/sleep?s={secs}&mark={}", mark.display());
    let addr = server.addr;
    let slow = thread::spawn(move || get(addr, &target));
    wait_until("the slow request reached the app", deadline(), || {
        mark.exists()
    });
    (server, slow)
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let dir = TestDir::new();
    let (mut server, slow) = server_with_a_slow_request(&dir, 2);
    let app = app_pid(&server, "/");

    server.signal(Signal::SIGTERM);
    let resp = slow.join().expect("request thread");
    assert_eq!(
        resp.status,
        200,
        "the in-flight request completes: {}",
        resp.text()
    );

    let status = server.wait_exit(deadline());
    assert!(status.is_some(), "the server exits after SIGTERM");
    assert!(
        status.is_some_and(|s| s.success()),
        "graceful exit is a success: {status:?}"
    );
    wait_until("the app process is gone", deadline(), || !pid_alive(app));
}

/// Ctrl-C in a terminal and `systemctl stop` signal the whole process group: the core gets the
/// signal directly and forwarded by the watchdog. That is one stop, so in-flight requests finish.
#[test]
fn a_group_wide_sigint_or_sigterm_drains_in_flight_requests() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let dir = TestDir::new();
        let (mut server, slow) = server_with_a_slow_request(&dir, 2);
        killpg(Pid::from_raw(server.pid()), sig).expect("signal the process group");
        let resp = slow.join().expect("request thread");
        assert_eq!(
            resp.status,
            200,
            "{sig}: the in-flight request completes: {}\n{}",
            resp.text(),
            server.log()
        );
        let status = server.wait_exit(deadline());
        assert!(
            status.is_some_and(|s| s.success()),
            "{sig}: graceful exit: {status:?}\n{}",
            server.log()
        );
    }
}

/// A real second Ctrl-C (again to the whole group) stops at once, without waiting for the
/// request in flight.
#[test]
fn a_second_group_wide_sigint_stops_now() {
    let dir = TestDir::new();
    let (mut server, slow) = server_with_a_slow_request(&dir, 30);
    let group = Pid::from_raw(server.pid());
    killpg(group, Signal::SIGINT).expect("signal the process group");
    wait_until("the core drains", deadline(), || {
        server
            .log()
            .contains("Waiting until all clients have disconnected")
    });
    let started = std::time::Instant::now();
    killpg(group, Signal::SIGINT).expect("signal the process group");
    assert!(
        server.wait_exit(deadline()).is_some(),
        "the server stops after the second Ctrl-C"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "it did not wait for the 30 s request: {:?}",
        started.elapsed()
    );
    let resp = slow.join().expect("request thread");
    assert_ne!(resp.status, 200, "the request in flight was cut short");
}

#[test]
fn sigint_stops_the_server() {
    let (_dir, _root, mut server) = start_hello_app(&[]);
    let app = app_pid(&server, "/");
    server.signal(Signal::SIGINT);
    assert!(server.wait_exit(deadline()).is_some(), "exits after SIGINT");
    wait_until("the app process is gone", deadline(), || !pid_alive(app));
}

#[test]
fn apps_exit_when_the_server_is_sigkilled() {
    let (_dir, _root, mut server) = start_hello_app(&["--min-instances", "2"]);
    let app = app_pid(&server, "/");

    server.signal(Signal::SIGKILL);
    assert!(server.wait_exit(deadline()).is_some());
    wait_until("the app notices its server died", deadline(), || {
        !pid_alive(app)
    });
}

#[test]
fn an_app_ignoring_sigterm_is_killed_on_shutdown() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let mut server = start_fixture(&dir, &root, "ignore_term.py", &[]);
    let app = app_pid(&server, "/");

    server.signal(Signal::SIGTERM);
    assert!(
        server.wait_exit(deadline() * 2).is_some(),
        "the server does not hang on a stubborn app"
    );
    wait_until("the stubborn app is killed", deadline(), || !pid_alive(app));
}

#[test]
fn daemonize_and_stop_with_the_pid_file() {
    daemonize_serve_and_stop(false);
}

/// A caller's open descriptors (a shell's, `flock FILE -c`'s lock) must not keep the
/// startup pipe's write end alive in the daemon: `start --daemonize` still returns once it
/// serves (it hung until its deadline when the pipe was not close-on-exec).
#[test]
fn daemonize_returns_when_the_caller_leaves_descriptors_open() {
    daemonize_serve_and_stop(true);
}

/// Starts a daemon (with fds 3-9 open and inheritable in it when `extra_fds`), checks it
/// serves, stops it with its PID file and checks that it and its app are gone.
fn daemonize_serve_and_stop(extra_fds: bool) {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    // A daemon's stdout is detached, so pick the port up front (the tiny race is acceptable here).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let pid_file = dir.join("passenger.pid");
    let log_file = dir.join("daemon.log");
    let start_cmd = py_command("hello.py");
    let mut cmd = passenger(&dir);
    cmd.arg("start")
        .arg(&root)
        .args(["--address", "127.0.0.1", "--port", &port.to_string()])
        .args(["--app-start-command", &start_cmd, "--daemonize"])
        .arg("--pid-file")
        .arg(&pid_file)
        .arg("--log-file")
        .arg(&log_file);
    if extra_fds {
        cmd = with_open_descriptors(&cmd);
    }
    let out = run_with_deadline(&dir, &mut cmd, deadline());
    let show = |out: &std::process::Output| {
        format!(
            "stdout:\n{}\nstderr:\n{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log_file).unwrap_or_default()
        )
    };
    assert!(out.status.success(), "start --daemonize: {}", show(&out));

    let daemon: i32 = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}: {}", pid_file.display(), show(&out)));
    assert!(pid_alive(daemon));
    let addr = ([127, 0, 0, 1], port).into();
    let resp = get(addr, "/pid");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let app = crate::support::pid_of(&resp, "GET /pid");

    let mut stop = passenger(&dir);
    stop.arg("stop").arg("--pid-file").arg(&pid_file);
    let out = run_with_deadline(&dir, &mut stop, deadline() * 2);
    assert!(out.status.success(), "passenger stop: {}", show(&out));
    wait_until("the daemon exits", deadline(), || !pid_alive(daemon));
    wait_until("its app exits", deadline(), || !pid_alive(app));
}

/// The same command run through `sh`, which opens fds 3 to 9 (inheritable) before it execs
/// it: the daemon's pipe then gets a number the daemon's own fd hand-over does not reuse.
fn with_open_descriptors(cmd: &std::process::Command) -> std::process::Command {
    let mut wrapped = std::process::Command::new("sh");
    wrapped
        .arg("-c")
        .arg("exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null; exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}
