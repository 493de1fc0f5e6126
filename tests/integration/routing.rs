//! Multi-app routing from a `--config` TOML file: by Host, then by the longest base URI.

use std::path::Path;

use crate::support::{app_root, get_host, py_command, Server, TestDir};

fn app_table(root: &Path, names: &[&str], base_uri: Option<&str>, app_name: &str) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let mut t = format!(
        "[[app]]\nroot = {root:?}\nserver_names = [{names}]\napp_start_command = {cmd:?}\n\
         min_instances = 0\nenv = {{ APP_NAME = {app_name:?} }}\n",
        root = root.to_string_lossy(),
        names = names.join(", "),
        cmd = py_command("hello.py"),
    );
    if let Some(b) = base_uri {
        t.push_str(&format!("base_uri = {b:?}\n"));
    }
    t
}

fn app_name(server: &Server, host: &str, path: &str) -> String {
    let resp = get_host(server.addr, host, path);
    assert_eq!(resp.status, 200, "{host}{path}: {}", resp.text());
    resp.json()["env"]["APP_NAME"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn routes_by_host_and_base_uri() {
    let dir = TestDir::new();
    let a = app_root(&dir, "a");
    let b = app_root(&dir, "b");
    let c = app_root(&dir, "c");
    let config = format!(
        "address = \"127.0.0.1\"\nport = 0\n\n{}\n{}\n{}",
        app_table(&a, &["a.test"], None, "a"),
        app_table(&b, &["b.test", "www.b.test"], None, "b"),
        app_table(&c, &["b.test"], Some("/sub"), "c"),
    );
    let config_path = dir.write("passenger.toml", &config);
    let config_arg = config_path.to_string_lossy().into_owned();
    let server = Server::start(&dir, &["start", "--config", &config_arg]);

    assert_eq!(app_name(&server, "a.test", "/env"), "a");
    assert_eq!(app_name(&server, "b.test", "/env"), "b");
    assert_eq!(app_name(&server, "www.b.test", "/env"), "b");
    assert_eq!(
        app_name(&server, &format!("a.test:{}", server.addr.port()), "/env"),
        "a",
        "the port in Host is ignored"
    );
    assert_eq!(app_name(&server, "b.test", "/sub/env"), "c");
    assert_eq!(app_name(&server, "b.test", "/sub/deeper/env"), "c");
    assert_eq!(app_name(&server, "b.test", "/other/env"), "b");

    let resp = get_host(server.addr, "nobody.test", "/env");
    assert_eq!(resp.status, 404, "no matching app: {}", resp.text());
}
