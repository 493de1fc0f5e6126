//! Configuration files: `Passengerfile.json` in the app root.

use crate::support::{
    app_root, deadline, get, passenger, py_command, run_with_deadline, start_app, start_args,
    start_hello_app, Server, TestDir,
};

#[test]
fn passengerfile_json_is_honored() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let passengerfile = serde_json::json!({
        "app_start_command": py_command("hello.py"),
        "environment": "staging",
        "envvars": { "FROM_PASSENGERFILE": "yes" },
    });
    let server = start_with_passengerfile(&dir, &root, &passengerfile);

    let resp = get(server.addr, "/env");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let env = &resp.json()["env"];
    assert_eq!(env["FROM_PASSENGERFILE"], "yes");
    assert_eq!(env["PASSENGER_APP_ENV"], "staging");
}

#[test]
fn passengerfile_json_with_an_unknown_key_is_rejected() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let passengerfile = serde_json::json!({
        "app_start_command": py_command("hello.py"),
        "no_such_option_xyz": 1,
    });
    std::fs::write(root.join("Passengerfile.json"), passengerfile.to_string())
        .expect("write Passengerfile.json");
    let mut cmd = passenger(&dir);
    cmd.args(start_args(&root, &[]));
    let out = run_with_deadline(&dir, &mut cmd, deadline());

    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "must fail; output:\n{all}");
    assert!(all.contains("no_such_option_xyz"), "names the key:\n{all}");
    assert!(all.contains("Passengerfile.json"), "names the file:\n{all}");
    assert!(
        !all.contains("Accessible via:"),
        "must not start serving:\n{all}"
    );
}

#[test]
fn standalone_flags_scripts_carry_are_accepted_and_noted_once() {
    let (_dir, _root, server) = start_hello_app(&[
        "--engine=builtin",
        "--disable-security-update-check",
        "--disable-anonymous-telemetry",
        "--load-shell-envvars",
        "--sticky-sessions",
        "--sticky-sessions-cookie-name",
        "_route",
        "--socket-backlog",
        "1024",
    ]);
    assert_eq!(get(server.addr, "/").status, 200);

    let log = server.log();
    for flag in [
        "--disable-security-update-check",
        "--disable-anonymous-telemetry",
        "--load-shell-envvars",
        "--sticky-sessions has no effect",
        "--sticky-sessions-cookie-name",
        "--socket-backlog",
    ] {
        assert_eq!(
            log.matches(flag).count(),
            1,
            "{flag} is noted exactly once:\n{log}"
        );
    }
    assert!(!log.contains("--engine"), "builtin is what we are:\n{log}");
}

#[test]
fn passengerfile_keys_scripts_carry_are_accepted_and_nginx_is_refused() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let passengerfile = serde_json::json!({
        "app_start_command": py_command("hello.py"),
        "engine": "builtin",
        "load_shell_envvars": true,
        "disable_security_update_check": true,
    });
    let server = start_with_passengerfile(&dir, &root, &passengerfile);
    assert_eq!(get(server.addr, "/").status, 200);
    let log = server.log();
    assert_eq!(
        log.matches("`load_shell_envvars` in").count(),
        1,
        "noted once, naming the file:\n{log}"
    );
    drop(server);

    let root_arg = root.to_string_lossy().into_owned();
    let mut cmd = passenger(&dir);
    cmd.args(["start", &root_arg, "--port", "0", "--engine", "nginx"]);
    let out = run_with_deadline(&dir, &mut cmd, deadline());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nginx must be refused:\n{stderr}");
    assert!(
        stderr.contains("--engine") && stderr.contains("nginx engine is not available"),
        "says why:\n{stderr}"
    );
}

/// Writes `passengerfile` into `root` and serves `root` on a free loopback port.
fn start_with_passengerfile(
    dir: &TestDir,
    root: &std::path::Path,
    passengerfile: &serde_json::Value,
) -> Server {
    std::fs::write(root.join("Passengerfile.json"), passengerfile.to_string())
        .expect("write Passengerfile.json");
    start_app(dir, root, &[])
}
