//! Serving a generic app (`--app-start-command`): the environment it gets, request forwarding, app
//! output logging.

use crate::support::{
    app_root, deadline, get, start_fixture, start_hello_app, wait_until, Request, TestDir,
};

#[test]
fn serves_a_generic_app_with_its_environment() {
    let (dir, _root, server) =
        start_hello_app(&["-e", "staging", "--envvar", "CUSTOM_VAR=custom value"]);

    let resp = get(server.addr, "/env");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    let env = &body["env"];
    let port: u16 = env["PORT"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("PORT is not a number: {env}"));
    assert_ne!(port, 0);
    assert_ne!(port, server.addr.port(), "the app gets its own port");
    assert_eq!(env["IN_PASSENGER"], "1");
    assert_eq!(env["PASSENGER_APP_ENV"], "staging");
    assert_eq!(env["RACK_ENV"], "staging");
    assert_eq!(env["CUSTOM_VAR"], "custom value");
    assert_eq!(
        env["PASSENGER_TEST_ID"],
        dir.marker(),
        "apps inherit the env"
    );
    assert_eq!(body["path"], "/env");
}

#[test]
fn forwards_request_headers_and_bodies() {
    let (_dir, _root, server) = start_hello_app(&[]);

    let resp = Request::new("GET", "/headers?x=1")
        .header("X-Custom-Header", "custom-value")
        .send(server.addr)
        .expect("GET /headers");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["path"], "/headers?x=1");
    assert_eq!(body["headers"]["x-custom-header"], "custom-value");

    let payload = "x".repeat(100_000);
    let resp = Request::new("POST", "/echo")
        .body(payload.clone())
        .send(server.addr)
        .expect("POST /echo");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), payload);

    let resp = get(server.addr, "/no-such-route");
    assert_eq!(resp.status, 404, "the app's own 404 is passed through");
    assert_eq!(resp.text(), "app: not found\n");
}

#[test]
fn logs_app_output_with_its_pid() {
    let (_dir, _root, server) = start_hello_app(&[]);
    let pid = crate::support::app_pid(&server, "/");
    let expected = format!("App {pid} output: hello.py pid {pid} listening");
    wait_until("the app's startup line is logged", deadline(), || {
        server.log().contains(&expected)
    });
}

#[test]
fn log_file_flag_writes_the_log_there() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let log = dir.join("custom.log");
    let log_arg = log.to_string_lossy().into_owned();
    let server = start_fixture(&dir, &root, "hello.py", &["--log-file", &log_arg]);
    let pid = crate::support::app_pid(&server, "/");
    let expected = format!("App {pid} output: hello.py pid {pid} listening");
    wait_until(
        "the app's startup line is in --log-file",
        deadline(),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&expected)
        },
    );
}
