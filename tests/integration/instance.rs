//! The instance directory and the watchdog/core pair from the outside: layout, modes and
//! `properties.json`, cleanup on shutdown, stale directories, two instances side by side, the core
//! SIGKILLed under load, log reopening (SIGUSR1) and config reload (SIGHUP).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::admin::{api, instance_dir, instance_dirs, pool_pids, properties, Load};
use crate::support::process::{cmdline, parent_pid};
use crate::support::{
    app_root, deadline, get, get_host, pid_alive, py_command, start_fixture, start_hello_app,
    wait_until, Server, TestDir,
};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

fn core_pid(instance: &Path) -> i32 {
    properties(instance)["core_pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no core_pid in {}", properties(instance)))
}

#[test]
fn instance_dir_layout_modes_and_properties() {
    let (dir, _root, mut server) = start_hello_app(&[]);
    let instance = instance_dir(&dir, &server);
    assert_eq!(instance_dirs(&dir), vec![instance.clone()], "one instance");
    let name = instance
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assert!(
        name.len() == "passenger.".len() + 7 && name.starts_with("passenger."),
        "directory name {name}"
    );

    // As root: the original's modes (agents.s is world-traversable so other users can reach the
    // admin socket; the passwords are root's alone).
    let expected = [
        ("", 0o755),
        ("lock", 0o644),
        ("properties.json", 0o644),
        ("watchdog.pid", 0o644),
        ("core.pid", 0o644),
        ("creation_finalized", 0o644),
        ("read_only_admin_password.txt", 0o600),
        ("full_admin_password.txt", 0o600),
        ("agents.s", 0o755),
        ("apps.s", 0o700),
        ("agents.s/core_api", 0o666),
    ];
    let mut wrong = Vec::new();
    for (rel, want) in expected {
        let path = if rel.is_empty() {
            instance.clone()
        } else {
            instance.join(rel)
        };
        let got = mode(&path);
        if got != want {
            wrong.push(format!("{rel:?}: {got:o}, want {want:o}"));
        }
    }
    assert!(wrong.is_empty(), "modes: {}", wrong.join("; "));
    assert!(
        std::fs::symlink_metadata(instance.join("agents.s/core_api"))
            .expect("socket exists")
            .file_type()
            .is_socket()
    );
    for pw in ["read_only_admin_password.txt", "full_admin_password.txt"] {
        let text = std::fs::read_to_string(instance.join(pw)).expect("root reads it");
        assert!(
            text.len() >= 16 && text.chars().all(|c| c.is_ascii_alphanumeric()),
            "{pw}: {text:?}"
        );
    }

    let props = properties(&instance);
    for key in [
        "instance_dir",
        "passenger_version",
        "watchdog_pid",
        "core_pid",
        "instance_id",
        "name",
        "integration_mode",
        "server_software",
        "listen_addresses",
        "core_api_socket",
    ] {
        assert!(
            props.get(key).is_some(),
            "properties.json has {key}: {props}"
        );
    }
    assert_eq!(props["instance_dir"]["major_version"], 4);
    assert!(props["instance_dir"]["created_at"].as_u64().unwrap_or(0) > 0);
    assert_eq!(props["integration_mode"], "standalone");
    assert_eq!(
        props["listen_addresses"],
        serde_json::json!([format!("http://{}", server.addr)])
    );
    assert_eq!(
        props["core_api_socket"].as_str(),
        Some(
            instance
                .join("agents.s/core_api")
                .to_string_lossy()
                .as_ref()
        )
    );

    let watchdog = props["watchdog_pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no watchdog_pid in {props}"));
    let core = props["core_pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no core_pid in {props}"));
    assert_eq!(
        watchdog,
        i64::from(server.pid()),
        "watchdog_pid is `passenger start`"
    );
    assert_ne!(i64::from(core), watchdog, "the core is a separate process");
    assert_eq!(
        parent_pid(core).map(i64::from),
        Some(watchdog),
        "the core is the watchdog's child"
    );
    assert!(
        cmdline(core).starts_with("passenger-rs core"),
        "core title: {:?}",
        cmdline(core)
    );
    let file = |rel: &str| {
        std::fs::read_to_string(instance.join(rel))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(file("watchdog.pid"), watchdog.to_string());
    assert_eq!(file("core.pid"), core.to_string());
    assert_eq!(
        api(&instance, "GET", "/info.json", None).json()["pid"].as_i64(),
        Some(i64::from(core))
    );

    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(deadline());
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(
        !instance.exists(),
        "the instance directory is removed on shutdown"
    );
    assert!(!pid_alive(core), "the core is gone");
}

/// There is no registry-scanning command on this branch yet (`passenger status` /
/// `list-instances` would clean stale directories through `instance::list_instances`), so this
/// tests what the server itself guarantees: a stale directory in the registry does not stop a new
/// server, the new server makes its own directory beside it, and it never deletes, adopts or
/// answers for the stale one.
#[test]
fn a_stale_instance_dir_does_not_disturb_a_new_server() {
    let dir = TestDir::new();
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).expect("invariant: writable");
    let stale =
        crate::support::fake_stale_instance(&registry, "passenger.St4le00", "StaleOne", 999_999);
    let root = app_root(&dir, "app");
    let mut server = start_fixture(&dir, &root, "hello.py", &[]);
    let instance = instance_dir(&dir, &server);
    assert_ne!(instance, stale);
    let mut both = vec![instance.clone(), stale.clone()];
    both.sort();
    assert_eq!(instance_dirs(&dir), both);
    assert_eq!(get(server.addr, "/").status, 200);
    // The new instance's lock is held; the stale one's is free.
    let stale_lock = std::fs::File::open(stale.join("lock")).expect("lock exists");
    let ours_lock = std::fs::File::open(instance.join("lock")).expect("lock exists");
    assert!(try_flock(&stale_lock), "nobody holds the stale lock");
    assert!(!try_flock(&ours_lock), "the running server holds its lock");
    drop(stale_lock);

    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(deadline()).is_some());
    assert!(!instance.exists());
    assert!(stale.exists(), "the server never removes other directories");
}

fn try_flock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on an open fd.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[test]
fn two_instances_side_by_side() {
    let dir = TestDir::new();
    let a_root = app_root(&dir, "a");
    let b_root = app_root(&dir, "b");
    let mut a = start_fixture(&dir, &a_root, "hello.py", &[]);
    let b = start_fixture(&dir, &b_root, "hello.py", &[]);
    let a_dir = instance_dir(&dir, &a);
    let b_dir = instance_dir(&dir, &b);
    assert_ne!(a_dir, b_dir);
    assert_ne!(a.addr, b.addr);
    assert_ne!(properties(&a_dir)["name"], properties(&b_dir)["name"]);
    for (server, inst, root) in [(&a, &a_dir, &a_root), (&b, &b_dir, &b_root)] {
        assert_eq!(get(server.addr, "/").status, 200);
        let info = api(inst, "GET", "/info.json", None).json();
        assert_eq!(info["pid"].as_i64(), Some(i64::from(core_pid(inst))));
        let pool = api(inst, "GET", "/pool.json", None).json();
        assert_eq!(
            pool["groups"][0]["name"].as_str(),
            Some(root.to_string_lossy().as_ref()),
            "each admin socket answers for its own server"
        );
    }
    a.signal(Signal::SIGTERM);
    assert!(a.wait_exit(deadline()).is_some());
    assert!(!a_dir.exists());
    assert!(
        b_dir.exists(),
        "stopping one instance leaves the other alone"
    );
    assert_eq!(get(b.addr, "/").status, 200);
}

#[test]
fn core_sigkilled_under_load_fails_few_requests_and_recovers() {
    let (dir, _root, server) = start_hello_app(&["--min-instances", "2", "--max-pool-size", "2"]);
    let instance = instance_dir(&dir, &server);
    assert_eq!(get(server.addr, "/").status, 200);
    let first_core = core_pid(&instance);
    const THREADS: usize = 4;
    let load = Load::start(server.addr, "/", THREADS);
    wait_until("the load is flowing", deadline(), || load.stats().ok >= 20);

    kill(Pid::from_raw(first_core), Signal::SIGKILL).expect("the core exists");
    let killed_at = Instant::now();
    let mut second_core = 0;
    wait_until("the watchdog starts a new core", deadline(), || {
        second_core = properties(&instance)["core_pid"]
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        second_core != 0 && second_core != first_core && pid_alive(second_core)
    });
    let before = load.stats();
    wait_until("requests succeed again", deadline(), || {
        load.stats().ok >= before.ok + 20
    });
    // Keep going a little (bounded: the whole load is ~3 s after the kill at the least).
    while killed_at.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = load.finish();
    eprintln!(
        "core SIGKILL under load: {} ok, {} failed: {:?}",
        stats.ok,
        stats.failed.len(),
        stats.failed
    );
    assert!(
        stats.failed.len() <= THREADS,
        "at most the {THREADS} in-flight requests fail; got {}: {:?}",
        stats.failed.len(),
        stats.failed
    );
    assert_eq!(
        parent_pid(second_core),
        Some(server.pid()),
        "the new core is the watchdog's child"
    );
    assert_eq!(
        api(&instance, "GET", "/info.json", None).json()["pid"].as_i64(),
        Some(i64::from(second_core)),
        "the new core serves the admin socket"
    );
    assert!(!pool_pids(&instance).is_empty());
}

#[test]
fn sigusr1_reopens_the_log_file_after_it_was_moved() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let log = dir.join("server.log");
    let log_arg = log.to_string_lossy().into_owned();
    let server = start_fixture(
        &dir,
        &root,
        "hello.py",
        &["--log-file", &log_arg, "--log-level", "4"],
    );
    let instance = instance_dir(&dir, &server);
    assert_eq!(get(server.addr, "/").status, 200);
    wait_until("the log file has lines", deadline(), || {
        std::fs::metadata(&log)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    });
    let moved = dir.join("server.log.1");
    std::fs::rename(&log, &moved).expect("invariant: writable");
    let moved_len = std::fs::metadata(&moved).map(|m| m.len()).unwrap_or(0);

    server.signal(Signal::SIGUSR1);
    wait_until("a new log file appears", deadline(), || log.exists());
    // Anything logged from now on goes to the new file: an admin request and an app spawn.
    let restart = api(
        &instance,
        "POST",
        "/pool/restart_app_group.json",
        Some(&format!(
            r#"{{"name": {:?}}}"#,
            root.to_string_lossy().into_owned()
        )),
    );
    assert_eq!(restart.status, 200);
    assert_eq!(get(server.addr, "/").status, 200);
    wait_until("the new log file gets lines", deadline(), || {
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count() > 0)
            .unwrap_or(false)
    });
    let new_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        new_text.contains("restart requested") || new_text.contains("Reopened"),
        "new log: {new_text}"
    );
    // The old file got the lines up to the reopen; at most the reopen notice after that.
    let old_text = std::fs::read_to_string(&moved).unwrap_or_default();
    assert!(
        !old_text.contains("restart requested"),
        "nothing after the reopen goes to the moved file (was {moved_len} bytes):\n{old_text}"
    );
}

fn app_pid_host(addr: std::net::SocketAddr, host: &str) -> i64 {
    let resp = get_host(addr, host, "/pid");
    assert_eq!(resp.status, 200, "{host}: {}", resp.text());
    i64::from(crate::support::pid_of(&resp, host))
}

fn app_table(root: &Path, host: &str) -> String {
    format!(
        "[[app]]\nroot = {root:?}\nserver_names = [{host:?}]\napp_start_command = {cmd:?}\n\
         min_instances = 0\nenv = {{ APP_NAME = {host:?} }}\n",
        root = root.to_string_lossy(),
        cmd = py_command("hello.py"),
    )
}

/// SIGHUP re-reads the `--config` file: an app added to it is served, an app removed from it is
/// not (404) and its processes stop. (Config reload may not exist yet; then this fails.)
#[test]
fn sighup_adds_and_removes_an_app() {
    let dir = TestDir::new();
    let a = app_root(&dir, "a");
    let b = app_root(&dir, "b");
    let head = "address = \"127.0.0.1\"\nport = 0\n\n";
    let config = dir.write(
        "passenger.toml",
        &format!("{head}{}", app_table(&a, "a.test")),
    );
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(&dir, &["start", "--config", &config_arg]);
    let instance = instance_dir(&dir, &server);
    assert_eq!(get_host(server.addr, "a.test", "/env").status, 200);
    assert_eq!(get_host(server.addr, "b.test", "/env").status, 404);
    let a_pid = app_pid_host(server.addr, "a.test");

    // Add b.
    dir.write(
        "passenger.toml",
        &format!(
            "{head}{}\n{}",
            app_table(&a, "a.test"),
            app_table(&b, "b.test")
        ),
    );
    server.signal(Signal::SIGHUP);
    wait_until("b.test is served after SIGHUP", deadline(), || {
        get_host(server.addr, "b.test", "/env").status == 200
    });
    let resp = get_host(server.addr, "b.test", "/env");
    assert_eq!(resp.json()["env"]["APP_NAME"], "b.test");
    assert_eq!(
        app_pid_host(server.addr, "a.test"),
        a_pid,
        "an unchanged app keeps its processes"
    );

    // Remove a.
    dir.write(
        "passenger.toml",
        &format!("{head}{}", app_table(&b, "b.test")),
    );
    server.signal(Signal::SIGHUP);
    wait_until("a.test is gone after SIGHUP", deadline(), || {
        get_host(server.addr, "a.test", "/env").status == 404
    });
    wait_until("a's process stops", deadline(), || !pid_alive(a_pid as i32));
    // The group goes once the pool has seen its last process exit (just after the
    // process is gone from /proc).
    let groups = || -> Vec<String> {
        api(&instance, "GET", "/pool.json", None).json()["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str().map(str::to_string))
            .collect()
    };
    // Multi-app groups are named like Passenger's: "<app root> (<environment>)".
    let expected = vec![format!("{} (development)", b.display())];
    wait_until("only b's group is left in the pool", deadline(), || {
        groups() == expected
    });
    assert_eq!(get_host(server.addr, "b.test", "/env").status, 200);
}

/// Every app of a `--config` file starts with the server, up to its `min_instances`, and an
/// app a SIGHUP reload adds starts at once too; none of them needs a request for it.
#[test]
fn config_apps_and_apps_added_by_sighup_start_without_a_request() {
    let dir = TestDir::new();
    let roots: Vec<_> = ["a", "b", "c"].iter().map(|n| app_root(&dir, n)).collect();
    let table = |root: &Path, min: u32| {
        format!(
            "[[app]]\nroot = {root:?}\nbase_uri = \"/{name}\"\napp_start_command = {cmd:?}\n\
             min_instances = {min}\n",
            name = root
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            root = root.to_string_lossy(),
            cmd = py_command("hello.py"),
        )
    };
    let head = "address = \"127.0.0.1\"\nport = 0\n\n";
    let two = format!("{head}{}\n{}", table(&roots[0], 2), table(&roots[1], 1));
    let config = dir.write("passenger.toml", &two);
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(&dir, &["start", "--config", &config_arg]);
    let instance = instance_dir(&dir, &server);
    // (group app root, processes, requests processed) per group.
    let groups = || -> Vec<(String, usize, u64)> {
        let doc = api(&instance, "GET", "/pool.json", None).json();
        let mut found: Vec<_> = doc["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let processes = g["processes"].as_array().cloned().unwrap_or_default();
                (
                    g["app_root"].as_str().unwrap_or("").to_string(),
                    processes.len(),
                    processes
                        .iter()
                        .filter_map(|p| p["processed"].as_u64())
                        .sum(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let root = |i: usize| roots[i].to_string_lossy().into_owned();
    wait_until("a has 2 processes and b 1", deadline(), || {
        groups() == vec![(root(0), 2, 0), (root(1), 1, 0)]
    });

    dir.write("passenger.toml", &format!("{two}\n{}", table(&roots[2], 1)));
    server.signal(Signal::SIGHUP);
    wait_until("c, added by the reload, has a process", deadline(), || {
        groups() == vec![(root(0), 2, 0), (root(1), 1, 0), (root(2), 1, 0)]
    });
    assert_eq!(get(server.addr, "/c/").status, 200);
}
