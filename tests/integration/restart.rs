//! Restarting an app through `tmp/restart.txt` and `tmp/always_restart.txt`.

use crate::support::{app_pid, app_root, start_fixture, TestDir};

#[test]
fn touching_restart_txt_restarts_the_app() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "hello.py", &["--stat-throttle-rate", "0"]);
    let first = app_pid(&server, "/");
    assert_eq!(
        app_pid(&server, "/"),
        first,
        "no restart without restart.txt"
    );

    std::fs::write(root.join("tmp/restart.txt"), "").expect("touch restart.txt");
    let second = app_pid(&server, "/");
    assert_ne!(second, first, "restart.txt appeared");
    assert_eq!(
        app_pid(&server, "/"),
        second,
        "an unchanged restart.txt does nothing"
    );
}

#[test]
fn always_restart_txt_restarts_on_every_request() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "hello.py", &["--stat-throttle-rate", "0"]);
    let first = app_pid(&server, "/");

    let always = root.join("tmp/always_restart.txt");
    std::fs::write(&always, "").expect("create always_restart.txt");
    let second = app_pid(&server, "/");
    let third = app_pid(&server, "/");
    assert_ne!(second, first);
    assert_ne!(third, second, "every request gets a fresh process");

    std::fs::remove_file(&always).expect("remove always_restart.txt");
    let fourth = app_pid(&server, "/");
    assert_eq!(
        app_pid(&server, "/"),
        fourth,
        "back to normal after removal"
    );
}
