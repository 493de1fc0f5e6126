//! Session connections kept alive between the core and the Ruby/Python loaders.

use std::collections::BTreeSet;

use crate::support::apps::{require_python, require_rack};
use crate::support::{get, start_app, Request, TestDir};

/// Each request's answer names the loader-side connection it came on (the socket's
/// inode, read through the loader's input object), so the test can count connections.
const RACK_CONNECTION_APP: &str = r##"
run(lambda do |env|
  body = env['rack.input'].read
  ino = env['rack.input'].instance_variable_get(:@io).stat.ino
  [200, { 'content-type' => 'text/plain' }, ["#{ino} #{body}"]]
end)
"##;

const WSGI_CONNECTION_APP: &str = r#"
import os

def application(environ, start_response):
    body = environ['wsgi.input'].read()
    ino = os.fstat(environ['wsgi.input']._sock.fileno()).st_ino
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d ' % ino).encode() + body]
"#;

/// Sends many sequential requests (some with bodies) and checks they all succeed
/// over a handful of loader connections, not one per request.
fn session_connections_are_reused(file: &str, app: &str) {
    let dir = TestDir::new();
    let root = dir.path().join("keepalive_app");
    std::fs::create_dir_all(root.join("public")).expect("invariant: test dir is writable");
    std::fs::write(root.join(file), app).expect("invariant: test dir is writable");
    let server = start_app(
        &dir,
        &root,
        &["--spawn-method", "direct", "--max-pool-size", "1"],
    );
    let mut connections = BTreeSet::new();
    let mut sequence = Vec::new();
    let requests = 40;
    for i in 0..requests {
        let resp = if i % 5 == 4 {
            Request::new("POST", "/upload")
                .body(format!("body{i}"))
                .send(server.addr)
                .unwrap_or_else(|e| panic!("POST {i} failed: {e}"))
        } else {
            get(server.addr, &format!("/r{i}"))
        };
        assert_eq!(resp.status, 200, "request {i}: {}", resp.text());
        let text = resp.text();
        let (connection, body) = text
            .split_once(' ')
            .unwrap_or_else(|| panic!("unexpected answer {text:?}"));
        if i % 5 == 4 {
            assert_eq!(body, format!("body{i}"), "request {i}");
        }
        connections.insert(connection.to_string());
        sequence.push(connection.to_string());
    }
    assert!(
        connections.len() <= 3,
        "{requests} requests used {} loader connections: the core opened one per request \
         (connection of each request: {sequence:?})",
        connections.len()
    );
}

#[test]
fn rack_session_connections_are_kept_alive() {
    require_rack();
    session_connections_are_reused("config.ru", RACK_CONNECTION_APP);
}

#[test]
fn wsgi_session_connections_are_kept_alive() {
    require_python();
    session_connections_are_reused("passenger_wsgi.py", WSGI_CONNECTION_APP);
}
