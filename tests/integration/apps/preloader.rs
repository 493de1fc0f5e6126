//! Preloader lifecycle: direct versus smart spawning, the idle preloader stopping, and
//! restart.txt replacing the preloader or loading new code.

use std::path::Path;

use crate::support::apps::{
    events, get_json, pid_of, require_rack, start_events_app, the_preloader, two_ruby_processes,
};
use crate::support::process::{cmdline, parent_pid, pids_titled};
use crate::support::{deadline, pid_alive, wait_until, TestDir};

#[test]
fn direct_spawning_loads_the_app_in_every_process() {
    require_rack();
    let (dir, _root, _server) = two_ruby_processes("rack_events", "direct");
    assert!(pids_titled(&dir, "Passenger AppPreloader:").is_empty());
    for pid in pids_titled(&dir, "Passenger RubyApp:") {
        let parent = parent_pid(pid).unwrap_or_else(|| panic!("no parent of {pid}"));
        assert!(
            !cmdline(parent).starts_with("Passenger"),
            "worker {pid} is not forked from an app process ({})",
            cmdline(parent)
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
    let dir = TestDir::new();
    let (root, server) = start_events_app(
        &dir,
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
    let dir = TestDir::new();
    let (root, server) = start_events_app(
        &dir,
        &["--spawn-method", "smart", "--stat-throttle-rate", "0"],
    );
    let first = get_json(&server, "/");
    let old_pid = pid_of(&first);
    let old_preloader = the_preloader(&dir, &root);
    assert_eq!(first["loaded_in"], old_preloader);

    // The app changes on disk; the restart must load the new code in a new preloader.
    deploy_version_2(&root);

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
    let dir = TestDir::new();
    let (root, server) = start_events_app(
        &dir,
        &["--spawn-method", "direct", "--stat-throttle-rate", "0"],
    );
    let old_pid = pid_of(&get_json(&server, "/"));
    deploy_version_2(&root);
    let v = get_json(&server, "/");
    assert_ne!(pid_of(&v), old_pid);
    assert_eq!(v["version"], 2);
    wait_until("the old process exits", deadline(), || !pid_alive(old_pid));
}

/// Changes the `rack_events` app on disk (its answers gain `"version": 2`) and touches
/// `tmp/restart.txt`.
fn deploy_version_2(root: &Path) {
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
}
