//! Failures: apps crashing mid-request, apps that never listen, apps that exit at startup, and the
//! friendly versus production error pages.

use crate::support::{app_pid, app_root, get, start_fixture, start_hello_app, TestDir};

#[test]
fn crash_mid_response_gives_502_then_recovers() {
    let (_dir, _root, server) = start_hello_app(&[]);
    let first = app_pid(&server, "/");

    let resp = get(server.addr, "/crash");
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert!(
        resp.text()
            .contains("Incomplete response received from application"),
        "{}",
        resp.text()
    );

    let next = app_pid(&server, "/");
    assert_ne!(next, first, "served by a new process");
}

#[test]
fn app_that_never_listens_times_out_with_500() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "never_listen.py", &["--start-timeout", "2"]);
    let started = std::time::Instant::now();
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500, "{}", resp.text());
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1500),
        "the start timeout is honored, not cut short"
    );
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "an HTML error page: {:?}",
        resp.headers
    );
}

#[test]
fn exit_early_with_friendly_pages_shows_app_output() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "exit_early.py", &["--friendly-error-pages"]);
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500, "{}", resp.text());
    let body = resp.text();
    assert!(
        body.contains("FIXTURE_BOOM"),
        "shows the app's stderr: {body}"
    );
    assert!(body.contains("could not be started"), "{body}");
    assert!(
        server.log().contains("Error ID"),
        "the log names the Error ID"
    );
}

#[test]
fn exit_early_without_friendly_pages_shows_only_an_error_id() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "exit_early.py", &["--no-friendly-error-pages"]);
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500, "{}", resp.text());
    let body = resp.text();
    assert!(body.contains("Error ID"), "{body}");
    assert!(
        !body.contains("FIXTURE_BOOM"),
        "must not leak app output: {body}"
    );
    assert!(
        server.log().contains("FIXTURE_BOOM"),
        "the details go to the log instead"
    );
}

#[test]
fn production_env_defaults_to_plain_error_pages() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "exit_early.py", &["-e", "production"]);
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500);
    assert!(!resp.text().contains("FIXTURE_BOOM"), "{}", resp.text());
}
