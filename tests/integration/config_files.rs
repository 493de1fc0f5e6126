//! Configuration files: `Passengerfile.json` in the app root.

use crate::support::{
    app_root, deadline, get, passenger, py_command, run_with_deadline, Server, TestDir,
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
    std::fs::write(root.join("Passengerfile.json"), passengerfile.to_string())
        .expect("write Passengerfile.json");
    let root_arg = root.to_string_lossy().into_owned();
    let server = Server::start(
        &dir,
        &["start", &root_arg, "--address", "127.0.0.1", "--port", "0"],
    );

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
    let root_arg = root.to_string_lossy().into_owned();
    let mut cmd = passenger(&dir);
    cmd.args(["start", &root_arg, "--address", "127.0.0.1", "--port", "0"]);
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
