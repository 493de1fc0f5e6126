//! Static files from the app's `public/` directory, and path traversal attempts that must not escape
//! it. Paths the static layer declines reach the app, whose answer for unknown paths is its own 404
//! text (`app: not found`), distinct from the core's refusal page.

use crate::support::{app_root, get, start_fixture, Request, TestDir};

#[test]
fn serves_public_files_with_a_content_type() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    std::fs::write(root.join("public/hello.txt"), "static hello\n").expect("write");
    std::fs::write(root.join("public/style.css"), "body { color: red }\n").expect("write");
    let server = start_fixture(&dir, &root, "hello.py", &[]);

    let resp = get(server.addr, "/hello.txt");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "static hello\n");
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        resp.headers
    );

    let resp = get(server.addr, "/style.css");
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/css")),
        "{:?}",
        resp.headers
    );

    let resp = Request::new("HEAD", "/hello.txt")
        .send(server.addr)
        .expect("HEAD");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("13"));
}

#[test]
fn traversal_out_of_public_is_refused() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    std::fs::write(root.join("secret.txt"), "TOPSECRET\n").expect("write");
    std::fs::write(dir.join("outside.txt"), "TOPSECRET\n").expect("write");
    std::os::unix::fs::symlink("../secret.txt", root.join("public/leak.txt")).expect("symlink");
    std::os::unix::fs::symlink(dir.path(), root.join("public/up")).expect("symlink");
    let server = start_fixture(&dir, &root, "hello.py", &[]);

    // The app answers unknown paths with its own 404 text, so a refusal from the core (its
    // HTML page) cannot be confused with the app's answer to a path the core let through.
    let control = get(server.addr, "/secret.txt");
    assert_eq!(control.status, 404);
    assert_eq!(control.text(), APP_NOT_FOUND, "the app's own answer");

    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/public/../../secret.txt",
        "/..%5csecret.txt",
        "/leak.txt",
        "/up/outside.txt",
    ] {
        let resp = Request::new("GET", target)
            .send(server.addr)
            .unwrap_or_else(|e| panic!("GET {target}: {e}"));
        assert!(
            !resp.text().contains("TOPSECRET"),
            "{target} leaked a file outside public/"
        );
        let text = resp.text();
        assert!(
            !text.contains(APP_NOT_FOUND),
            "{target} reached the app: the core must refuse it itself"
        );
        assert!(
            resp.status == 404 && text.contains(CORE_NOT_FOUND),
            "{target}: not the core's refusal: status {} {text}",
            resp.status,
        );
    }
}

/// What `hello.py` answers for a path it does not know.
const APP_NOT_FOUND: &str = "app: not found\n";

/// The core's own 404 page for a static path it refuses.
const CORE_NOT_FOUND: &str = "The requested URL was not found on this server.";
