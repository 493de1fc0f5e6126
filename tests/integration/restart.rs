//! Restarting an app through `tmp/restart.txt` and `tmp/always_restart.txt`.

use crate::support::{app_pid, app_root, start_fixture, start_hello_app, TestDir};

#[test]
fn touching_restart_txt_restarts_the_app() {
    let (_dir, root, server) = start_hello_app(&["--stat-throttle-rate", "0"]);
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

/// Moves `path`'s mtime `secs` seconds forward, as `touch` on an existing file does (an
/// explicit step, so the change shows whatever the filesystem's timestamp granularity).
fn retouch(path: &std::path::Path, secs: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let old = file
        .metadata()
        .and_then(|m| m.modified())
        .expect("mtime readable");
    file.set_modified(old + std::time::Duration::from_secs(secs))
        .expect("set mtime");
}

/// The everyday deploy: `tmp/restart.txt` is left from the previous deploy and is touched
/// again, so only its mtime changes.
#[test]
fn touching_an_existing_restart_txt_again_restarts_the_app() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let restart_txt = root.join("tmp/restart.txt");
    std::fs::write(&restart_txt, "").expect("restart.txt from the last deploy");
    let server = start_fixture(&dir, &root, "hello.py", &["--stat-throttle-rate", "0"]);
    let first = app_pid(&server, "/");
    assert_eq!(
        app_pid(&server, "/"),
        first,
        "a restart.txt that was there at start is no restart"
    );

    retouch(&restart_txt, 1);
    let second = app_pid(&server, "/");
    assert_ne!(second, first, "restart.txt re-touched");
    assert_eq!(app_pid(&server, "/"), second, "untouched since: no restart");

    retouch(&restart_txt, 1);
    let third = app_pid(&server, "/");
    assert_ne!(third, second, "re-touched once more");
    assert_ne!(third, first);
}

#[test]
fn always_restart_txt_restarts_on_every_request() {
    let (_dir, root, server) = start_hello_app(&["--stat-throttle-rate", "0"]);
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
