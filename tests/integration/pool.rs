//! Pool behavior seen from outside: request queue limits, eviction across groups, idle cleanup,
//! max_requests.

use std::thread;

use crate::support::{
    app_pid, app_root, deadline, get, get_host, pid_alive, py_command, start_hello_app, wait_until,
    Server, TestDir,
};

#[test]
fn full_request_queue_gives_503() {
    let (_dir, _root, server) = start_hello_app(&[
        "--force-max-concurrent-requests-per-process",
        "1",
        "--max-pool-size",
        "1",
        "--min-instances",
        "1",
        "--max-request-queue-size",
        "1",
    ]);
    // Warm up so the slow requests do not race the first spawn.
    app_pid(&server, "/");

    let addr = server.addr;
    let handles: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || get(addr, "/sleep?s=3")))
        .collect();
    let mut responses: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("request thread"))
        .collect();
    responses.sort_by_key(|r| r.status);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 503],
        "one in flight, one queued, one rejected"
    );
    let body = responses[2].text();
    assert!(body.contains("heavy load (queue full)"), "503 body: {body}");
}

#[test]
fn a_full_pool_evicts_another_groups_idle_process() {
    let dir = TestDir::new();
    let a = app_root(&dir, "a");
    let b = app_root(&dir, "b");
    let table = |root: &std::path::Path, host: &str| {
        format!(
            "[[app]]\nroot = {:?}\nserver_names = [{host:?}]\napp_start_command = {:?}\nmin_instances = 1\n",
            root.to_string_lossy(),
            py_command("hello.py")
        )
    };
    let config = format!(
        "address = \"127.0.0.1\"\nport = 0\nmax_pool_size = 1\n\n{}\n{}",
        table(&a, "a.test"),
        table(&b, "b.test")
    );
    let path = dir.write("passenger.toml", &config);
    let path_arg = path.to_string_lossy().into_owned();
    let server = Server::start(&dir, &["start", "--config", &path_arg]);

    let pid = |host: &str| -> i32 {
        let resp = get_host(server.addr, host, "/pid");
        assert_eq!(resp.status, 200, "{host}: {}", resp.text());
        crate::support::pid_of(&resp, host)
    };
    let pid_a = pid("a.test");
    let pid_b = pid("b.test");
    assert_ne!(pid_a, pid_b);
    wait_until("app A's process is evicted", deadline(), || {
        !pid_alive(pid_a)
    });
    let pid_a2 = pid("a.test");
    assert_ne!(pid_a2, pid_a, "A is spawned again");
    wait_until("app B's process is evicted", deadline(), || {
        !pid_alive(pid_b)
    });
}

#[test]
fn idle_processes_are_cleaned_up() {
    let (_dir, _root, server) = start_hello_app(&["--pool-idle-time", "1", "--min-instances", "0"]);
    let pid = app_pid(&server, "/");
    wait_until("the idle process is shut down", deadline() * 2, || {
        !pid_alive(pid)
    });
    let next = app_pid(&server, "/");
    assert_ne!(next, pid, "a new process is spawned on demand");
}

#[test]
fn max_requests_recycles_the_process() {
    let (_dir, _root, server) = start_hello_app(&["--max-requests", "2"]);
    let first = app_pid(&server, "/");
    let second = app_pid(&server, "/");
    assert_eq!(first, second);
    let third = app_pid(&server, "/");
    assert_ne!(third, first, "the process is replaced after 2 requests");
    wait_until("the recycled process exits", deadline(), || {
        !pid_alive(first)
    });
}

/// Eight requests that each take 0.2 s, sent at once: all answer 200.
fn eight_concurrent_requests_succeed(addr: std::net::SocketAddr) {
    let handles: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || get(addr, "/sleep?s=0.2").status))
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("request thread"), 200);
    }
}

#[test]
fn concurrent_requests_all_succeed() {
    let (_dir, _root, server) = start_hello_app(&["--max-pool-size", "2"]);
    eight_concurrent_requests_succeed(server.addr);
}

/// The core picks a single-threaded runtime on small machines (like CI's); this runs the
/// work-stealing runtime too, with concurrent requests and a restart.
#[test]
fn a_multi_threaded_core_serves_concurrent_requests() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = crate::support::start_fixture_with_env(
        &dir,
        &root,
        "hello.py",
        &["--max-pool-size", "2", "--stat-throttle-rate", "0"],
        &[("PASSENGER_CORE_THREADS", "3")],
    );
    eight_concurrent_requests_succeed(server.addr);
    let core = std::fs::read_dir(dir.join("registry"))
        .expect("registry")
        .flatten()
        .find_map(|e| std::fs::read_to_string(e.path().join("core.pid")).ok())
        .expect("core.pid");
    let threads = std::fs::read_dir(format!("/proc/{}/task", core.trim()))
        .expect("the core's threads")
        .count();
    assert!(
        threads >= 4,
        "3 runtime workers plus the main thread, got {threads}"
    );
}
