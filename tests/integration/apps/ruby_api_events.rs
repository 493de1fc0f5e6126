//! Passenger Ruby API events (`starting_worker_process`, `stopping_worker_process`), smart
//! versus direct.

use nix::sys::signal::Signal;

use crate::support::apps::{events, get_json, pid_of, start_events_app, the_preloader};
use crate::support::process::{cmdline, parent_pid, pids_titled};
use crate::support::{deadline, TestDir};

#[test]
fn events_direct_starting_worker_process_not_forked() {
    let dir = TestDir::new();
    let (_root, mut server) = start_events_app(&dir, &["--spawn-method", "direct"]);
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
    let dir = TestDir::new();
    let (root, mut server) = start_events_app(&dir, &["--spawn-method", "smart"]);
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
        cmdline(pid),
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
