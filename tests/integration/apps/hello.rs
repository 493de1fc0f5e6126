//! Hello apps of each type: Rack (direct and smart), WSGI, Node, the rackup flag, and
//! header names as each kind of app spelled them.

use crate::support::apps::{
    copy_app, get_json, pid_of, require_node, require_python, require_rack, the_preloader,
};
use crate::support::process::{cmdline, parent_pid};
use crate::support::{get, pid_alive, start_app, Server, TestDir};

fn rack_hello(spawn_method: &str) {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_hello");
    let server = start_app(&dir, &root, &["--spawn-method", spawn_method]);
    let v = get_json(&server, "/some/path");
    let pid = pid_of(&v);
    assert_eq!(v["path"], "/some/path");
    assert_eq!(
        v["passenger"], true,
        "defined?(PhusionPassenger) in the app"
    );
    assert_eq!(v["env"], "development", "the default environment");
    let expected = format!("Passenger RubyApp: {} (development)", root.display());
    assert_eq!(cmdline(pid), expected, "process title");
    assert_eq!(v["title"], expected.as_str(), "$0 as the app sees it");
    assert_eq!(
        pid_of(&get_json(&server, "/")),
        pid,
        "the process is reused"
    );
    if spawn_method == "smart" {
        let preloader = the_preloader(&dir, &root);
        assert_eq!(
            parent_pid(pid),
            Some(preloader),
            "forked from the preloader"
        );
    }
}

#[test]
fn rack_hello_direct() {
    rack_hello("direct");
}

#[test]
fn rack_hello_smart() {
    rack_hello("smart");
}

#[test]
fn rack_environment_flag_reaches_the_app_and_the_title() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_hello");
    let server = start_app(&dir, &root, &["--spawn-method", "direct", "-e", "staging"]);
    let v = get_json(&server, "/");
    assert_eq!(v["env"], "staging");
    assert_eq!(
        cmdline(pid_of(&v)),
        format!("Passenger RubyApp: {} (staging)", root.display())
    );
}

#[test]
fn wsgi_hello() {
    require_python();
    let dir = TestDir::new();
    let root = copy_app(&dir, "wsgi_hello");
    let server = start_app(&dir, &root, &[]);
    let v = get_json(&server, "/a/b?c=d");
    assert_eq!(v["path"], "/a/b");
    let pid = pid_of(&v);
    assert!(pid_alive(pid));
    assert_eq!(
        pid_of(&get_json(&server, "/")),
        pid,
        "the process is reused"
    );
}

/// `-R FILE`, Passenger's rackup flag: a Ruby app whatever the directory holds.
#[test]
fn rackup_flag_serves_that_rackup_file() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_hello");
    let other = root.join("other.ru");
    std::fs::rename(root.join("config.ru"), &other).expect("rename config.ru");
    let other = other.to_string_lossy().into_owned();
    let server = start_app(&dir, &root, &["-R", &other]);
    let v = get_json(&server, "/x");
    assert_eq!(v["path"], "/x");
}

#[test]
fn node_hello() {
    require_node();
    let dir = TestDir::new();
    let root = copy_app(&dir, "node_hello");
    let server = start_app(&dir, &root, &[]);
    let v = get_json(&server, "/x?y=1");
    assert_eq!(v["path"], "/x?y=1");
    let pid = pid_of(&v);
    let expected = format!("Passenger NodeApp: {}", root.display());
    assert!(
        cmdline(pid).starts_with(&expected),
        "process title {:?}, expected {expected:?}",
        cmdline(pid)
    );
}

/// Asserts that `GET /case` (see the hello fixtures) reaches the client with the header names as
/// the app spelled them, plus Passenger's `Status` and `X-Powered-By` (`powered_by`).
fn assert_spelled_as_the_app_wrote(server: &Server, powered_by: &str) {
    for _ in 0..2 {
        // Twice: the second answer reuses what the first one learned about the spelling.
        let resp = get(server.addr, "/case");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let names: Vec<&str> = resp.headers.iter().map(|(k, _)| k.as_str()).collect();
        for spelled in [
            "x-lower-case",
            "X-UPPER-CASE",
            "X-Mixed-Case",
            "Status",
            "X-Powered-By",
        ] {
            assert!(names.contains(&spelled), "{spelled} in {names:?}");
        }
        assert_eq!(resp.header("status"), Some("200 OK"));
        assert_eq!(resp.header("x-powered-by"), Some(powered_by));
    }
}

#[test]
fn header_names_reach_the_client_as_every_kind_of_app_wrote_them() {
    require_rack();
    require_python();
    require_node();
    let powered_by = format!("passenger-rs {}", env!("CARGO_PKG_VERSION"));
    for app in ["rack_hello", "wsgi_hello", "node_hello"] {
        let dir = TestDir::new();
        let root = copy_app(&dir, app);
        let server = start_app(&dir, &root, &[]);
        assert_spelled_as_the_app_wrote(&server, &powered_by);
    }
    let dir = TestDir::new();
    let root = crate::support::app_root(&dir, "app");
    let server =
        crate::support::start_fixture(&dir, &root, "hello.py", &["--no-show-version-in-header"]);
    assert_spelled_as_the_app_wrote(&server, "passenger-rs");
}
