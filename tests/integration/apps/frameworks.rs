//! Frameworks: Sinatra (direct and smart) and Flask.

use crate::support::apps::{
    copy_app, get_json, require_flask, require_sinatra, the_preloader, DEBIAN_PYTHON,
};
use crate::support::{get, start_app, Request, Server, TestDir};

fn framework_checks(server: &Server, framework: &str, name: &str) {
    let v = get_json(server, "/");
    assert_eq!(v["framework"], framework);
    let hello = get(server.addr, "/hello/world");
    assert_eq!(hello.status, 200, "{}", hello.text());
    assert_eq!(hello.text(), format!("Hello world from {name}"));
    let echo = Request::new("POST", "/echo")
        .header("Content-Type", "text/plain")
        .body("ping pong")
        .send(server.addr)
        .expect("POST /echo");
    assert_eq!(echo.status, 200, "{}", echo.text());
    assert_eq!(echo.text(), "echo: ping pong");
    let missing = get(server.addr, "/no/such/route");
    assert_eq!(missing.status, 404, "the framework's own 404");
}

#[test]
fn sinatra_app_direct() {
    require_sinatra();
    let dir = TestDir::new();
    let root = copy_app(&dir, "sinatra");
    let server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    framework_checks(&server, "sinatra", "Sinatra");
}

#[test]
fn sinatra_app_smart() {
    require_sinatra();
    let dir = TestDir::new();
    let root = copy_app(&dir, "sinatra");
    let server = start_app(&dir, &root, &["--spawn-method", "smart"]);
    framework_checks(&server, "sinatra", "Sinatra");
    the_preloader(&dir, &root);
}

#[test]
fn flask_app() {
    // The fixture's Passengerfile.json sets `"python": "/usr/bin/python3"`: Debian's
    // python3-flask is only importable by Debian's python.
    require_flask();
    let dir = TestDir::new();
    let root = copy_app(&dir, "flask");
    let server = start_app(&dir, &root, &[]);
    framework_checks(&server, "flask", "Flask");
}

#[test]
fn flask_app_with_python_flag() {
    require_flask();
    let dir = TestDir::new();
    let root = copy_app(&dir, "flask");
    std::fs::remove_file(root.join("Passengerfile.json")).expect("remove Passengerfile.json");
    let server = start_app(&dir, &root, &["--python", DEBIAN_PYTHON]);
    framework_checks(&server, "flask", "Flask");
}
