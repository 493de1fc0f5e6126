//! Self-tests of the harness: a guard must kill its whole process group and the leak check must catch
//! a process that escaped the group. These run without `passenger`.

use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};

use crate::support::process::{leads_own_session, marked_pids, parse_accessible_via};
use crate::support::{
    deadline, fixture, free_port, get, pid_alive, wait_until, ProcGuard, TestDir,
};

/// Reads pids that a `sh -c` script wrote, one per line, into `file`.
fn read_pids(file: &std::path::Path, n: usize) -> Vec<i32> {
    let mut pids = Vec::new();
    wait_until("the script wrote its pids", deadline(), || {
        pids = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.len() >= n
    });
    pids
}

#[test]
fn guard_kills_the_whole_group() {
    let dir = TestDir::new();
    let port = free_port();
    let pids_file = dir.join("pids");
    let script = format!(
        "python3 {hello} & echo $! >> {pids}; sleep 300 & echo $! >> {pids}; wait",
        hello = fixture("hello.py").display(),
        pids = pids_file.display()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .stdout(Stdio::null());
    let guard = ProcGuard::spawn("sh", &mut cmd, &dir);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_until("hello.py listens", deadline(), || {
        TcpStream::connect(addr).is_ok()
    });
    let resp = get(addr, "/env");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["env"]["PASSENGER_TEST_ID"].as_str(),
        Some(dir.marker()),
        "children inherit the marker"
    );
    let pids = read_pids(&pids_file, 2);
    let leader = guard.pid();
    assert!(marked_pids(dir.marker()).contains(&leader));

    drop(guard);

    for pid in pids.iter().chain([&leader]) {
        assert!(!pid_alive(*pid), "pid {pid} survived the guard");
    }
    assert!(marked_pids(dir.marker()).is_empty());
}

#[test]
fn leak_check_catches_an_escaped_process() {
    let dir = TestDir::new();
    let pids_file = dir.join("pids");
    // setsid puts the sleeper into its own session, out of reach of a group kill.
    let script = format!(
        "setsid sleep 300 & echo $! >> {pids}; sleep 300",
        pids = pids_file.display()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    let guard = ProcGuard::spawn("sh", &mut cmd, &dir);
    let escaped = read_pids(&pids_file, 1)[0];
    wait_until("the escaped sleeper runs", deadline(), || {
        marked_pids(dir.marker()).contains(&escaped)
    });
    // `$!` is written right after the fork, before the child has called setsid(2): until
    // it has, the group kill still reaches it and there is nothing to catch.
    wait_until("the sleeper leads its own session", deadline(), || {
        leads_own_session(escaped)
    });

    let outcome = catch_unwind(AssertUnwindSafe(move || drop(guard)));

    let err = outcome.expect_err("the leak check must fail the test");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("leaked process"), "panic message: {msg}");
    assert!(msg.contains(&escaped.to_string()), "panic message: {msg}");
    wait_until("the leaked process is killed", deadline(), || {
        !pid_alive(escaped)
    });
}

#[test]
fn guard_kills_a_process_ignoring_sigterm() {
    let dir = TestDir::new();
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(fixture("ignore_term.py"))
        .env("PORT", port.to_string())
        .env("PYTHONPATH", fixture(""))
        .stdout(Stdio::null());
    let guard = ProcGuard::spawn("ignore_term.py", &mut cmd, &dir);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_until("ignore_term.py listens", deadline(), || {
        TcpStream::connect(addr).is_ok()
    });
    let pid = guard.pid();
    drop(guard);
    assert!(!pid_alive(pid));
}

#[test]
fn parses_the_accessible_via_line() {
    assert_eq!(
        parse_accessible_via("Accessible via: http://127.0.0.1:4567/"),
        Some(([127, 0, 0, 1], 4567).into())
    );
    assert_eq!(
        parse_accessible_via("=== Accessible via: http://127.0.0.1:80/ ==="),
        Some(([127, 0, 0, 1], 80).into())
    );
    assert_eq!(parse_accessible_via("Listening on 127.0.0.1:80"), None);
}
