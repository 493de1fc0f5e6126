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

/// Capistrano's `public/system -> ../shared/system`: a link out of `public/` is
/// followed when its owner owns the target (Apache's `SymLinksIfOwnerMatch`); a link
/// to something another user owns is not, and the app answers instead. Both files are
/// named `pid`, a path the app answers with JSON naming it, so the answer says who
/// served it. Needs root to give files to `nobody` (CI runs as root).
#[test]
fn links_out_of_public_are_followed_only_when_owners_match() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test chowns files to nobody: run it as root"
    );
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let mine = dir.join("shared/system");
    let theirs = dir.join("shared/theirs");
    for d in [&mine, &theirs] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(mine.join("pid"), "STATIC FROM SHARED\n").expect("write");
    std::fs::write(theirs.join("pid"), "NOT FOR THE CORE\n").expect("write");
    let nobody = Some(nix::unistd::Uid::from_raw(65534));
    for p in [theirs.clone(), theirs.join("pid")] {
        nix::unistd::chown(&p, nobody, None).expect("chown to nobody");
    }
    std::os::unix::fs::symlink("../../shared/system", root.join("public/system")).expect("symlink");
    std::os::unix::fs::symlink(&theirs, root.join("public/theirs")).expect("symlink");
    let server = start_fixture(&dir, &root, "hello.py", &[]);

    let resp = get(server.addr, "/system/pid");
    assert_eq!(
        (resp.status, resp.text()),
        (200, "STATIC FROM SHARED\n".to_string()),
        "same owner: the core serves the file"
    );
    let resp = get(server.addr, "/theirs/pid");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["path"],
        "/theirs/pid",
        "owners differ: the app answers, not the core: {}",
        resp.text()
    );
}
