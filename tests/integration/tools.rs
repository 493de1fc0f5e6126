//! The admin tools against live servers: `passenger-status`, `passenger-config …`,
//! `passenger-memory-stats`, argv[0] dispatch, and the generated completions and man
//! pages. Text outputs are compared with `snapshots/*.txt` after redacting pids,
//! times, sizes and paths; `PASSENGER_BLESS=1` rewrites the snapshots (and the
//! committed `completions/` and `man/`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::process::proc_kb;
use crate::support::{
    app_root, deadline, get, get_host, passenger, py_command, run_with_deadline, start_fixture,
    start_hello_app, wait_until, Server, TestDir,
};

const APPLETS: &[&str] = &[
    "passenger-status",
    "passenger-memory-stats",
    "passenger-config",
    "passenger-install-apache2-module",
];

fn bless() -> bool {
    std::env::var_os("PASSENGER_BLESS").is_some_and(|v| v == "1")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `passenger <args>` with argv[0] = `name`.
fn run_as(dir: &TestDir, name: &str, args: &[&str]) -> Output {
    let mut cmd = passenger(dir);
    cmd.arg0(name).args(args);
    run_with_deadline(dir, &mut cmd, deadline())
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Compares `actual` with `snapshots/<name>.txt` (or writes it when blessing).
fn assert_snapshot(name: &str, actual: &str) {
    let path = repo()
        .join("tests/integration/snapshots")
        .join(format!("{name}.txt"));
    if bless() {
        std::fs::create_dir_all(path.parent().expect("invariant: has a parent"))
            .expect("create snapshots dir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with PASSENGER_BLESS=1", path.display()));
    assert_eq!(
        actual, expected,
        "snapshot {name} differs (PASSENGER_BLESS=1 to accept):\n{actual}"
    );
}

/// Replaces every run of digits with `N` and every run of spaces with one space (the
/// padding depends on the numbers' widths; callers check columns first).
fn digits(line: &str) -> String {
    let mut squeezed = String::new();
    for c in numbers(line).chars() {
        if !(c == ' ' && squeezed.ends_with(' ') && !squeezed.trim().is_empty()) {
            squeezed.push(c);
        }
    }
    squeezed
}

fn numbers(line: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            out.push(c);
            in_num = false;
        }
    }
    out
}

/// Redacts the status/config texts: the test dir, instance name, date, and every
/// number in process, table and version lines. The process lines' column layout is
/// asserted before the numbers go.
fn redact(text: &str, dir: &Path, names: &[&str]) -> String {
    let mut text = text
        .replace(&dir.to_string_lossy().into_owned(), "<DIR>")
        .replace(env!("CARGO_PKG_VERSION"), "<VERSION>");
    for n in names {
        text = text.replace(n, "<NAME>");
    }
    text.lines()
        .map(|line| {
            if line.starts_with("Date    : ") {
                "Date    : <DATE>".to_string()
            } else if line.starts_with("  * PID: ") {
                assert_eq!(line.find("Sessions:"), Some(17), "layout: {line:?}");
                assert_eq!(line.find("Processed:"), Some(35), "layout: {line:?}");
                assert_eq!(line.find("Uptime:"), Some(54), "layout: {line:?}");
                digits(line)
            } else if line.starts_with("    CPU: ") {
                assert_eq!(line.find("Memory  :"), Some(17), "layout: {line:?}");
                assert_eq!(line.find("Last used:"), Some(35), "layout: {line:?}");
                digits(line)
            } else if line.starts_with("  User    : ") {
                // Who apps run as depends on who runs the tests (root: `nobody`).
                "  User    : <USER> (N), group <GROUP> (N)".to_string()
            } else if line.starts_with("    URL     : ") || line.starts_with("<NAME>  ") {
                digits(line)
            } else {
                line.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

fn app_table(root: &Path, host: &str, fixture: &str) -> String {
    format!(
        "[[app]]\nroot = {root:?}\nserver_names = [{host:?}]\napp_start_command = {cmd:?}\n",
        root = root.to_string_lossy(),
        cmd = py_command(fixture),
    )
}

/// A server with two apps, `a` (hello.py) and `b` (dirty_mem.py, 32 MiB), both
/// spawned by one request each.
fn two_apps(dir: &TestDir) -> Server {
    let a = app_root(dir, "a");
    let b = app_root(dir, "b");
    let config = format!(
        "address = \"127.0.0.1\"\nport = 0\n\n{}\n{}",
        app_table(&a, "a.test", "hello.py"),
        app_table(&b, "b.test", "dirty_mem.py"),
    );
    let path = dir.write("passenger.toml", &config);
    let path = path.to_string_lossy().into_owned();
    let server = Server::start(dir, &["start", "--config", &path]);
    for host in ["a.test", "b.test"] {
        let resp = get_host(server.addr, host, "/pid");
        assert_eq!(resp.status, 200, "{host}: {}", resp.text());
    }
    server
}

fn instance_name(dir: &TestDir) -> String {
    let o = run_as(dir, "passenger-config", &["list-instances", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("list-instances --json");
    v[0]["name"].as_str().expect("an instance").to_string()
}

#[test]
fn argv0_selects_the_applet_and_help_shows_the_typed_name() {
    let dir = TestDir::new();
    for name in APPLETS {
        let o = run_as(&dir, name, &["--help"]);
        assert_eq!(code(&o), 0, "{name} --help: {}", err(&o));
        assert!(
            out(&o).contains(&format!("Usage: {name}")),
            "{name} --help:\n{}",
            out(&o)
        );
        let o = run_as(&dir, name, &["--no-such-flag"]);
        // The installer keeps the original's exit code 1 for a bad option.
        let usage = if *name == "passenger-install-apache2-module" {
            1
        } else {
            2
        };
        assert_eq!(code(&o), usage, "{name}: bad flag is a usage error");
        assert!(err(&o).contains(&format!("Usage: {name}")), "{}", err(&o));
    }
    let o = run_as(&dir, "passenger", &["status", "--help"]);
    assert!(out(&o).contains("Usage: passenger status"), "{}", out(&o));
    let o = run_as(&dir, "passenger", &["config", "restart-app", "--help"]);
    assert!(
        out(&o).contains("Usage: passenger config restart-app"),
        "{}",
        out(&o)
    );
    let o = run_as(&dir, "passenger-config", &["restart-app", "--help"]);
    assert!(
        out(&o).contains("Usage: passenger-config restart-app"),
        "{}",
        out(&o)
    );
    let o = run_as(&dir, "passenger-install-apache2-module", &["--help"]);
    assert!(
        out(&o).contains("Usage: passenger-install-apache2-module [OPTIONS]"),
        "{}",
        out(&o)
    );
}

#[test]
fn install_links_creates_working_symlinks() {
    let dir = TestDir::new();
    let bin = dir.path().join("bin");
    let bin_arg = bin.to_string_lossy().into_owned();
    let o = run_as(&dir, "passenger", &["install-links", &bin_arg]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    for name in APPLETS {
        let link = bin.join(name);
        assert!(link
            .symlink_metadata()
            .expect(name)
            .file_type()
            .is_symlink());
    }
    let env_from = passenger(&dir);
    let mut real = Command::new(bin.join("passenger-config"));
    real.envs(env_from.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .current_dir(dir.path())
        .arg("--version");
    let o = run_with_deadline(&dir, &mut real, deadline());
    assert_eq!(
        out(&o),
        format!("passenger-rs {}\n", env!("CARGO_PKG_VERSION"))
    );
    // Running it again is idempotent.
    let o = run_as(&dir, "passenger", &["install-links", &bin_arg]);
    assert_eq!(code(&o), 0, "{}", err(&o));
}

#[test]
fn tools_report_that_nothing_is_running() {
    let dir = TestDir::new();
    let o = run_as(&dir, "passenger-status", &[]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("ERROR: passenger-rs doesn't seem to be running."),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("PASSENGER_INSTANCE_REGISTRY_DIR"));
    assert!(
        err(&o).contains("run passenger-status again"),
        "{}",
        err(&o)
    );

    let o = run_as(&dir, "passenger-config", &["list-instances"]);
    assert_eq!(
        (code(&o), out(&o).as_str()),
        (0, "There are no passenger-rs instances running.\n")
    );
    let o = run_as(&dir, "passenger-config", &["list-instances", "-q"]);
    assert_eq!((code(&o), out(&o).as_str()), (0, ""));
    let o = run_as(&dir, "passenger-config", &["list-instances", "--json"]);
    assert_eq!((code(&o), out(&o).as_str()), (0, "[]\n"));

    for args in [
        &["restart-app", "/tmp"][..],
        &["detach-process", "1"],
        &["api-call", "GET", "/ping.json"],
        &["reopen-logs"],
    ] {
        let o = run_as(&dir, "passenger-config", args);
        assert_eq!(code(&o), 1, "{args:?}");
        assert!(
            err(&o).starts_with("*** ERROR: passenger-rs doesn't seem to be running."),
            "{args:?}: {}",
            err(&o)
        );
    }
    let o = run_as(
        &dir,
        "passenger-config",
        &["restart-app", "--ignore-passenger-not-running", "/tmp"],
    );
    assert_eq!(code(&o), 0);
    assert!(err(&o).starts_with("*** WARNING: "), "{}", err(&o));
}

#[test]
fn status_and_config_against_two_apps() {
    let dir = TestDir::new();
    let _server = two_apps(&dir);
    let name = instance_name(&dir);
    let names = [name.as_str()];
    let d = dir.path();

    let o = run_as(&dir, "passenger-status", &[]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_snapshot("status_pool", &redact(&out(&o), d, &names));
    let o = run_as(
        &dir,
        "passenger",
        &["status", "--show=pool", "--no-header", "-v"],
    );
    assert_snapshot("status_pool_verbose", &redact(&out(&o), d, &names));
    let o = run_as(&dir, "passenger-status", &[&name[..3]]);
    assert_eq!(code(&o), 0, "unique prefix: {}", err(&o));

    let o = run_as(&dir, "passenger-status", &["--show=json"]);
    let pool: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--show=json is JSON");
    assert_eq!(pool["groups"].as_array().map(Vec::len), Some(2));
    let o = run_as(&dir, "passenger-status", &["--show=xml"]);
    assert!(out(&o).starts_with("<?xml"), "{}", out(&o));
    let o = run_as(&dir, "passenger-status", &["--show=server"]);
    let body = out(&o);
    let json_start = body.find('{').expect("server json");
    let server: serde_json::Value = serde_json::from_str(&body[json_start..]).expect("json");
    assert_eq!(server["pool"]["group_count"], 2);
    let o = run_as(&dir, "passenger-status", &["--show=backtraces"]);
    assert!(out(&o).contains("Thread '"), "{}", out(&o));

    let o = run_as(&dir, "passenger-status", &["nosuch"]);
    assert_eq!(code(&o), 1);
    assert_snapshot("status_unknown_name", &redact(&err(&o), d, &names));

    let o = run_as(&dir, "passenger-config", &["list-instances"]);
    assert_snapshot("list_instances", &redact(&out(&o), d, &names));

    // Two apps under <DIR>: without a TTY the ambiguity is an error listing them.
    let prefix = d.to_string_lossy().into_owned();
    let o = run_as(&dir, "passenger-config", &["restart-app", &prefix]);
    assert_eq!(code(&o), 1);
    assert_snapshot("restart_app_ambiguous", &redact(&err(&o), d, &names));
    let o = run_as(&dir, "passenger-config", &["restart-app", "/nonexistent"]);
    assert_eq!(code(&o), 1);
    let o = run_as(
        &dir,
        "passenger-config",
        &["restart-app", "--ignore-app-not-running", "/nonexistent"],
    );
    assert_eq!(code(&o), 0);
    let o = run_as(&dir, "passenger-config", &["restart-app"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("Please pass either an app path prefix"),
        "{}",
        err(&o)
    );

    let group_a = pool["groups"][0]["name"]
        .as_str()
        .expect("group name")
        .to_string();
    let old_pid = pool["groups"][0]["processes"][0]["pid"]
        .as_u64()
        .expect("pid");
    let o = run_as(
        &dir,
        "passenger-config",
        &["restart-app", "--name", &group_a],
    );
    assert_eq!(
        (code(&o), out(&o)),
        (0, format!("Restarting {group_a}\n")),
        "{}",
        err(&o)
    );
    let o = run_as(&dir, "passenger-status", &["--show=json"]);
    let after: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let live: Vec<u64> = after["groups"][0]["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["enabled"] != "detached")
        .filter_map(|p| p["pid"].as_u64())
        .collect();
    assert!(
        !live.contains(&old_pid),
        "old process {old_pid} still serving: {live:?}"
    );

    let pid_b = pool["groups"][1]["processes"][0]["pid"]
        .as_u64()
        .expect("pid")
        .to_string();
    let o = run_as(&dir, "passenger-config", &["detach-process", &pid_b]);
    assert_eq!(
        (code(&o), out(&o)),
        (0, format!("Process {pid_b} detached.\n"))
    );
    let o = run_as(&dir, "passenger-config", &["detach-process", "999999"]);
    assert_eq!(
        (code(&o), out(&o).as_str()),
        (1, "Could not detach process 999999.\n")
    );
    let o = run_as(
        &dir,
        "passenger-config",
        &["detach-process", "--ignore-nonexistent-pid", "999999"],
    );
    assert_eq!(code(&o), 0);

    let o = run_as(&dir, "passenger-config", &["api-call", "GET", "/ping.json"]);
    assert_eq!(
        (code(&o), out(&o).as_str()),
        (0, "{ \"status\": \"ok\" }\n")
    );
    let o = run_as(
        &dir,
        "passenger-config",
        &["api-call", "GET", "/nonexistent.json"],
    );
    // An API error exits 2, as the README says for every tool (the original exits 1 here).
    assert_eq!((code(&o), out(&o).as_str()), (2, "Not found\n"));
    let o = run_as(
        &dir,
        "passenger-config",
        &[
            "api-call",
            "GET",
            "/nonexistent.json",
            "--ignore-response-code",
        ],
    );
    assert_eq!(code(&o), 0);
    let o = run_as(&dir, "passenger-config", &["api-call", "GET", "pool.txt"]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("The path must start with a slash"),
        "{}",
        err(&o)
    );
    let o = run_as(
        &dir,
        "passenger-config",
        &["api-call", "GET", "/ping.json", "--show-headers"],
    );
    assert!(out(&o).starts_with("HTTP/1.1 OK 200\n"), "{}", out(&o));

    let o = run_as(&dir, "passenger-config", &["reopen-logs"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_snapshot("reopen_logs", &out(&o));
}

#[test]
fn several_instances_must_be_chosen_and_stale_sockets_are_explained() {
    let dir = TestDir::new();
    let one = app_root(&dir, "one");
    let _s1 = crate::support::start_fixture(&dir, &one, "hello.py", &[]);
    // The second server lives in its own test dir (the leak check is per dir) but
    // registers in the first one's registry.
    let dir2 = TestDir::new();
    let two = app_root(&dir2, "two");
    let registry = dir.path().join("registry").to_string_lossy().into_owned();
    let _s2 = crate::support::start_fixture(
        &dir2,
        &two,
        "hello.py",
        &["--instance-registry-dir", &registry],
    );
    let o = run_as(&dir, "passenger-config", &["list-instances", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let names: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names.len(), 2, "{v}");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();

    // The list to choose from goes to stdout, as the original's does.
    let o = run_as(&dir, "passenger-status", &[]);
    assert_eq!(code(&o), 1);
    assert_eq!(err(&o), "");
    assert_snapshot(
        "status_several_instances",
        &redact(&out(&o), dir.path(), &refs),
    );
    let o = run_as(&dir, "passenger", &["status"]);
    assert!(
        out(&o).contains("\n  passenger status <NAME>\n"),
        "{}",
        out(&o)
    );
    let o = run_as(&dir, "passenger-config", &["restart-app", "/"]);
    assert_eq!(code(&o), 1);
    assert_eq!(err(&o), "");
    assert_snapshot(
        "config_several_instances",
        &redact(&out(&o), dir.path(), &refs),
    );
    let o = run_as(&dir, "passenger-status", &["--instance", &names[0]]);
    assert_eq!(code(&o), 0, "{}", err(&o));

    // A stale socket: the instance is listed but its admin socket is gone.
    let socket = v[0]["core_api_socket"]
        .as_str()
        .expect("socket")
        .to_string();
    std::fs::remove_file(&socket).expect("remove socket");
    let o = run_as(&dir, "passenger-status", &[&names[0]]);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("The socket no longer exists"),
        "{}",
        err(&o)
    );
}

#[test]
fn memory_stats_shows_the_dirtied_app_process() {
    let dir = TestDir::new();
    let _server = two_apps(&dir);
    let o = run_as(&dir, "passenger-status", &["--show=json"]);
    let pool: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let dirty_pid = pool["groups"][1]["processes"][0]["pid"]
        .as_u64()
        .expect("pid");
    let pid = u32::try_from(dirty_pid).expect("a pid fits in u32");
    // The figures the tool must report, read from /proc before and after it runs; between
    // the two it must be, give or take 1 MiB (the app is idle, but not frozen).
    let fields = ["VmSize", "Private_Dirty", "Pss"];
    let before = fields.map(|f| proc_kb(pid, f));
    let o = run_as(&dir, "passenger-memory-stats", &["--json"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let stats: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let row = stats["passenger"]["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["pid"].as_u64() == Some(dirty_pid))
        .unwrap_or_else(|| panic!("pid {dirty_pid} not in the Passenger section: {stats}"));
    let private_kb = row["private_dirty_kb"]
        .as_u64()
        .expect("private dirty readable");
    assert!(
        private_kb >= 32 * 1024,
        "private {private_kb} KiB < 32 MiB: {row}"
    );
    let o = run_as(&dir, "passenger", &["memory-stats"]);
    let text = out(&o);
    let after = fields.map(|f| proc_kb(pid, f));
    let within = |what: &str, reported_kb: f64, i: usize| {
        let low = before[i].min(after[i]) as f64 - 1024.0;
        let high = before[i].max(after[i]) as f64 + 1024.0;
        assert!(
            (low..=high).contains(&reported_kb),
            "{what} of {pid}: {reported_kb} kB, /proc says {} kB before and {} kB after",
            before[i],
            after[i]
        );
    };
    for (i, key) in ["vmsize_kb", "private_dirty_kb", "pss_kb"]
        .iter()
        .enumerate()
    {
        let kb = row[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} readable: {row}"));
        within(&format!("--json {key}"), kb as f64, i);
    }
    // The text table: PID  VMSize  Private  PSS  Name, sizes as "%.1f MB".
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{dirty_pid} ")))
        .unwrap_or_else(|| panic!("no row for {dirty_pid}:\n{text}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    for (i, column) in ["VMSize", "Private", "PSS"].iter().enumerate() {
        assert_eq!(cells.get(2 + 2 * i), Some(&"MB"), "{column} in {line:?}");
        let mb: f64 = cells[1 + 2 * i]
            .parse()
            .unwrap_or_else(|e| panic!("{column} in {line:?}: {e}"));
        // One decimal: rounding moves it by at most 0.05 MB, well inside the 1 MiB slack.
        let kb = mb * 1024.0;
        within(&format!("text column {column}"), kb, i);
    }
    for title in ["Passenger watchdog", "Passenger core"] {
        let rows = text
            .lines()
            .filter(|l| l.ends_with(&format!("  {title}")))
            .count();
        assert_eq!(rows, 1, "{title}: {text}");
    }
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let dir = TestDir::new();
    let target = if bless() {
        repo()
    } else {
        dir.path().join("docs")
    };
    let t = target.to_string_lossy().into_owned();
    let o = run_as(&dir, "passenger", &["generate-docs", &t]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    if bless() {
        return;
    }
    for sub in ["completions", "man"] {
        let fresh = target.join(sub);
        let committed = repo().join(sub);
        let mut names: Vec<String> = std::fs::read_dir(&fresh)
            .expect("generated dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut have: Vec<String> = std::fs::read_dir(&committed)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        have.sort();
        assert_eq!(
            names, have,
            "{sub}/ file list is stale; run with PASSENGER_BLESS=1"
        );
        for n in &names {
            let a = std::fs::read(fresh.join(n)).expect("fresh");
            let b = std::fs::read(committed.join(n)).expect("committed");
            assert!(a == b, "{sub}/{n} is stale; run with PASSENGER_BLESS=1");
        }
    }
}

/// The help texts say what the commands do: smart spawning covers Python too, and the Apache
/// installer says it is not available (and is not).
#[test]
fn help_texts_match_behaviour() {
    let dir = TestDir::new();
    let o = run_as(&dir, "passenger", &["start", "--help"]);
    let help = out(&o);
    let smart = help
        .split("--spawn-method")
        .nth(1)
        .unwrap_or_default()
        .split("\n\n")
        .next()
        .unwrap_or_default();
    assert!(smart.contains("Ruby and Python"), "{help}");
    assert!(!help.contains("Ruby only"), "{help}");

    let o = run_as(&dir, "passenger-install-apache2-module", &["--help"]);
    let help = out(&o);
    assert!(
        help.contains("Build and install the Apache module (mod_passenger)"),
        "{help}"
    );
    assert!(help.contains("Exit codes:"), "{help}");
}

/// Every tool, under every name, prints the same version line.
#[test]
fn every_tool_prints_the_same_version() {
    let dir = TestDir::new();
    let expected = format!("passenger-rs {}\n", env!("CARGO_PKG_VERSION"));
    for (name, args) in [
        ("passenger", &["--version"][..]),
        ("passenger", &["-V"]),
        ("passenger-status", &["--version"]),
        ("passenger-config", &["--version"]),
        ("passenger-config", &["about", "version"]),
        ("passenger-memory-stats", &["--version"]),
        ("passenger-install-apache2-module", &["--version"]),
    ] {
        let o = run_as(&dir, name, args);
        assert_eq!(code(&o), 0, "{name} {args:?}: {}", err(&o));
        assert_eq!(out(&o), expected, "{name} {args:?}");
    }
}

#[test]
fn config_informational_commands() {
    let dir = TestDir::new();
    let o = run_as(&dir, "passenger-config", &["--version"]);
    assert_eq!(
        out(&o),
        format!("passenger-rs {}\n", env!("CARGO_PKG_VERSION"))
    );
    let o = run_as(&dir, "passenger-config", &["--root"]);
    assert_eq!(code(&o), 0);
    assert!(
        Path::new(out(&o).trim()).join("helper-scripts").is_dir(),
        "{}",
        out(&o)
    );
    let o = run_as(&dir, "passenger-config", &["about"]);
    assert!(out(&o).contains("Root              : "), "{}", out(&o));
    let o = run_as(&dir, "passenger-config", &["system-metrics"]);
    assert_eq!(code(&o), 0);
    for section in [
        "------------- General -------------",
        "------------- CPU -------------",
        "------------- Memory -------------",
    ] {
        assert!(out(&o).contains(section), "{}", out(&o));
    }
}

/// `validate-install`'s exit code follows from the installation the test builds: a copy of
/// the binary in `<prefix>/bin`, the loaders in `<prefix>/share/passenger-rs`, the man page in
/// `<prefix>/share/man/man1`, and `PATH` set by the test. 0 when all is there, 2 when only
/// warnings (another `passenger` first in `PATH`, a missing man page), 1 when a loader is
/// missing, whatever else is wrong.
#[test]
fn validate_install_exit_code_follows_the_installation() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new();
    let prefix = dir.join("inst");
    let bin = prefix.join("bin");
    let helpers = prefix.join("share/passenger-rs/helper-scripts");
    let man = prefix.join("share/man/man1");
    for d in [&bin, &helpers, &man] {
        std::fs::create_dir_all(d).expect("invariant: test dir is writable");
    }
    let exe = bin.join("passenger");
    std::fs::copy(env!("CARGO_BIN_EXE_passenger"), &exe).expect("copy the binary");
    let loaders = ["rack-loader.rb", "wsgi-loader.py", "node-loader.js"];
    for loader in loaders {
        std::fs::copy(
            repo().join("resources/helper-scripts").join(loader),
            helpers.join(loader),
        )
        .unwrap_or_else(|e| panic!("copy {loader}: {e}"));
    }
    let man_page = man.join("passenger-status.1");
    std::fs::copy(repo().join("man/passenger-status.1"), &man_page).expect("copy the man page");
    let completions = prefix.join("share/passenger-rs/completions");
    std::fs::create_dir_all(&completions).expect("invariant: test dir is writable");
    std::fs::copy(
        repo().join("completions/passenger.bash"),
        completions.join("passenger.bash"),
    )
    .expect("copy the completions");
    // Another installation: a `passenger` in a directory of its own.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("invariant: test dir is writable");
    std::fs::write(other.join("passenger"), "#!/bin/sh\nexit 0\n").expect("write");
    std::fs::set_permissions(
        other.join("passenger"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");

    let validate = |path: &[&Path]| -> (i32, String) {
        let path = std::env::join_paths(path).expect("invariant: plain paths");
        let mut cmd = Command::new(&exe);
        cmd.arg0("passenger-config")
            .args(["validate-install", "--auto"])
            .env_clear()
            .env("PATH", path)
            .env(crate::support::process::MARKER_VAR, dir.marker())
            .current_dir(dir.path());
        let o = run_with_deadline(&dir, &mut cmd, deadline());
        (code(&o), format!("{}{}", out(&o), err(&o)))
    };

    let (status, text) = validate(&[&bin]);
    assert_eq!(status, 0, "complete installation:\n{text}");
    assert!(text.contains("Everything looks good"), "{text}");

    let (status, text) = validate(&[&other, &bin]);
    assert_eq!(status, 2, "another passenger first in PATH:\n{text}");

    std::fs::remove_file(&man_page).expect("remove the man page");
    let (status, text) = validate(&[&bin]);
    assert_eq!(status, 2, "man page missing:\n{text}");

    std::fs::remove_file(helpers.join("wsgi-loader.py")).expect("remove a loader");
    let (status, text) = validate(&[&other, &bin]);
    assert_eq!(status, 1, "a loader missing (and warnings):\n{text}");
}

/// An unprivileged user sees the instance but can neither read its password files nor
/// pass the peer-credential check: `passenger-status` exits 2 and says to use sudo.
/// (The CI machine runs the suite as root, which is what lets the test switch users.)
#[test]
fn status_as_an_unprivileged_user_is_not_authorized() {
    use std::os::unix::fs::PermissionsExt;
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches to uid 65534 and needs root: run the suite as root, as CI does"
    );
    let (dir, _root, server) = start_hello_app(&[]);
    assert_eq!(get(server.addr, "/").status, 200);
    // A copy of the binary where uid 65534 can run it (the build dir may be private).
    let bin = dir.join("passenger-status");
    std::fs::copy(env!("CARGO_BIN_EXE_passenger"), &bin).expect("copy the binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for d in [dir.path().to_path_buf(), dir.join("registry")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cmd = Command::new(&bin);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PASSENGER_INSTANCE_REGISTRY_DIR", dir.join("registry"))
        .env(crate::support::process::MARKER_VAR, dir.marker())
        .current_dir("/")
        .uid(65534)
        .gid(65534);
    let o = run_with_deadline(&dir, &mut cmd, deadline());
    assert_eq!(code(&o), 2, "stdout:\n{}\nstderr:\n{}", out(&o), err(&o));
    assert!(
        err(&o).contains("not authorized") && err(&o).contains("sudo"),
        "{}",
        err(&o)
    );
}

/// A directory left by a crashed server (nobody holds its lock) is removed by the first
/// tool that finds it, which says so, as the original's tools do.
#[test]
fn tools_clean_a_stale_instance_directory() {
    let dir = TestDir::new();
    let stale = crate::support::fake_stale_instance(
        &dir.join("registry"),
        "passenger.St4le01",
        "StaleTwo",
        999_999,
    );
    let o = run_as(&dir, "passenger-config", &["list-instances"]);
    let all = format!("{}{}", out(&o), err(&o));
    assert!(
        all.contains(&format!(
            "*** Cleaning stale instance directory {}",
            stale.display()
        )),
        "{all}"
    );
    assert!(!stale.exists(), "the stale directory is removed");
    assert!(
        !all.contains("StaleTwo"),
        "a stale instance is not listed: {all}"
    );
}

/// As in Passenger Standalone, the app's processes start with the server:
/// `passenger-status` lists `--min-instances` of them before any request.
#[test]
fn status_lists_the_apps_processes_before_any_request() {
    let (dir, _root, server) = start_hello_app(&["--min-instances", "2"]);
    let mut text = String::new();
    wait_until("passenger-status lists two processes", deadline(), || {
        text = out(&run_as(&dir, "passenger-status", &[]));
        text.matches("* PID:").count() == 2
    });
    assert_eq!(
        text.matches("Processed: 0 ").count(),
        2,
        "no request was needed:\n{text}"
    );
    assert_eq!(get(server.addr, "/").status, 200);
}

/// `(pid, URL, password)` of every process in `passenger-status --verbose` output.
fn direct_access(text: &str) -> Vec<(u64, String, Option<String>)> {
    let mut found: Vec<(u64, String, Option<String>)> = Vec::new();
    let mut pid = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("* PID:") {
            pid = rest.split_whitespace().next().and_then(|p| p.parse().ok());
        } else if let (Some(url), Some(p)) = (line.strip_prefix("URL     : "), pid) {
            found.push((p, url.to_string(), None));
        } else if let Some(password) = line.strip_prefix("Password: ") {
            if let Some(last) = found.last_mut() {
                last.2 = Some(password.to_string());
            }
        }
    }
    found
}

/// Direct process access as Passenger documents it: `passenger-status --verbose` prints for
/// each process a URL to `curl` and its connect password; a loader process refuses a request
/// without that password, and `/pool.json` carries the same password.
#[test]
fn verbose_status_gives_each_process_a_url_that_wants_its_password() {
    crate::support::apps::require_rack();
    crate::support::apps::require_python();
    // Smart spawning (Ruby's default) and direct spawning.
    for (app, processes) in [("rack_hello", "2"), ("wsgi_hello", "1")] {
        let dir = TestDir::new();
        let root = crate::support::apps::copy_app(&dir, app);
        let _server = crate::support::start_app(&dir, &root, &["--min-instances", processes]);
        let mut text = String::new();
        wait_until("every process has a URL and a password", deadline(), || {
            text = out(&run_as(&dir, "passenger-status", &["--verbose"]));
            let found = direct_access(&text);
            found.len().to_string() == processes && found.iter().all(|p| p.2.is_some())
        });
        let o = run_as(&dir, "passenger-status", &["--show=json"]);
        let pool: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let in_json = |pid: u64| {
            pool["groups"][0]["processes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["pid"].as_u64() == Some(pid))
                .and_then(|p| p["connect_password"].as_str().map(str::to_string))
        };
        for (pid, url, password) in direct_access(&text) {
            let password = password.expect("invariant: waited for every password");
            assert_eq!(in_json(pid).as_deref(), Some(password.as_str()), "{pool}");
            let addr: std::net::SocketAddr = url
                .strip_prefix("http://")
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("{app}: URL {url:?} is not http://127.0.0.1:PORT"));
            let send = |request: crate::support::Request| {
                request
                    .send(addr)
                    .unwrap_or_else(|e| panic!("{app}: {url}: {e}"))
            };
            let refused = send(crate::support::Request::new("GET", "/pid"));
            assert_eq!(
                refused.status,
                403,
                "{app}: no password: {}",
                refused.text()
            );
            let wrong = crate::support::Request::new("GET", "/pid")
                .header("X-Passenger-Connect-Password", "wrong");
            assert_eq!(send(wrong).status, 403, "{app}: wrong password");
            let right = send(
                crate::support::Request::new("GET", "/pid")
                    .header("X-Passenger-Connect-Password", &password),
            );
            assert_eq!(right.status, 200, "{app}: {}", right.text());
            assert_eq!(
                right.json()["pid"].as_u64(),
                Some(pid),
                "{app}: the very process"
            );
        }
    }

    // A generic app checks no password: its URL is its own port, and no password is shown.
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let _server = start_fixture(&dir, &root, "hello.py", &[]);
    let mut found = Vec::new();
    wait_until("the generic process has a URL", deadline(), || {
        found = direct_access(&out(&run_as(&dir, "passenger-status", &["--verbose"])));
        found.len() == 1
    });
    let (pid, url, password) = &found[0];
    assert_eq!(password, &None);
    let addr: std::net::SocketAddr = url
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("URL {url:?}"));
    assert_eq!(get(addr, "/pid").json()["pid"].as_u64(), Some(*pid));
}

/// The tools delete only what is provably a stale instance of ours: never an unrelated
/// `passenger.*` directory, one of our spawn directories, or the original Passenger's
/// directory, whichever tool scans the registry.
#[test]
fn tools_never_delete_what_they_do_not_own() {
    for tool in [
        &["passenger-status"][..],
        &["passenger-config", "list-instances"],
        &["passenger", "stop", "--instance", "Nothing"],
    ] {
        let dir = TestDir::new();
        let registry = dir.join("registry");
        std::fs::create_dir_all(&registry).expect("invariant: writable");
        let notes = registry.join("passenger.my-notes");
        std::fs::create_dir_all(&notes).expect("invariant: writable");
        std::fs::write(notes.join("todo.txt"), "mine").expect("invariant: writable");
        let spawn = registry.join("passenger.spawn.0123456789abcdef");
        std::fs::create_dir_all(&spawn).expect("invariant: writable");
        std::fs::write(spawn.join("report.json"), "{}").expect("invariant: writable");
        let original =
            crate::support::fake_original_instance(&registry, "passenger.SZ9YLdy", 999_998);
        let ours = crate::support::fake_stale_instance(
            &registry,
            "passenger.St4le03",
            "StaleOurs",
            999_998,
        );

        let o = run_as(&dir, tool[0], &tool[1..]);
        let all = format!("{}{}", out(&o), err(&o));
        assert!(
            all.contains(&format!(
                "*** Cleaning stale instance directory {}",
                ours.display()
            )),
            "{tool:?}: {all}"
        );
        assert!(!ours.exists(), "{tool:?}: our stale directory is removed");
        assert_eq!(
            std::fs::read_to_string(notes.join("todo.txt"))
                .ok()
                .as_deref(),
            Some("mine"),
            "{tool:?} kept passenger.my-notes"
        );
        assert!(
            spawn.join("report.json").exists(),
            "{tool:?} kept the spawn directory"
        );
        assert!(
            original.join("properties.json").exists(),
            "{tool:?} kept the original's directory"
        );
        for path in [&notes, &spawn, &original] {
            assert!(
                !all.contains(&path.display().to_string()),
                "{tool:?}: {all}"
            );
        }
    }
}

/// A command for `program` with the test's isolated environment but `PATH` set to `path`.
fn with_path(dir: &TestDir, program: &Path, path: &str) -> Command {
    let cmd = passenger(dir);
    let mut isolated = Command::new(program);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => isolated.env(key, v),
            None => isolated.env_remove(key),
        };
    }
    isolated.env("PATH", path).current_dir(dir.path());
    isolated
}

/// The README's install steps, run into a temporary prefix, give an installation that
/// `validate-install` finds clean, with Phusion Passenger's own `passenger` later in PATH (it
/// is not another installation of ours); another copy of passenger-rs in PATH is.
#[test]
fn the_readme_install_steps_give_a_clean_validate_install() {
    let dir = TestDir::new();
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let block = readme
        .split("\n## Install\n")
        .nth(1)
        .and_then(|section| section.split("```sh\n").nth(1))
        .and_then(|block| block.split("\n```").next())
        .expect("README.md has an Install section with a sh block");
    let prefix = dir.join("prefix").to_string_lossy().into_owned();
    let bin = std::env::var("PASSENGER_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_passenger").to_string());
    let mut script = String::from("set -e\n");
    for line in block.lines() {
        if line.starts_with("cargo build") || line.starts_with("passenger-config validate-install")
        {
            continue;
        }
        script.push_str(
            &line
                .replace("target/release/passenger", &bin)
                .replace("/usr/local", &prefix),
        );
        script.push('\n');
    }
    // Phusion Passenger's `passenger` is a Ruby script.
    let phusion = dir.join("phusion");
    std::fs::create_dir_all(&phusion).expect("mkdir");
    std::fs::write(
        phusion.join("passenger"),
        "#!/usr/bin/env ruby\n#  Phusion Passenger - https://www.phusionpassenger.com/\n",
    )
    .expect("write");
    std::fs::set_permissions(
        phusion.join("passenger"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!("{prefix}/bin:{}:/usr/bin:/bin", phusion.display());

    let mut install = with_path(&dir, Path::new("sh"), &path);
    install.args(["-c", &script]).current_dir(repo());
    let o = run_with_deadline(&dir, &mut install, deadline() * 2);
    assert_eq!(
        code(&o),
        0,
        "install steps:\n{script}\n{}{}",
        out(&o),
        err(&o)
    );

    let config = Path::new(&prefix).join("bin/passenger-config");
    let mut validate = with_path(&dir, &config, &path);
    validate.args(["validate-install", "--no-colors"]);
    let o = run_with_deadline(&dir, &mut validate, deadline());
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("Everything looks good. :-)"),
        "{}",
        out(&o)
    );

    // A second copy of passenger-rs in PATH is another installation of ours.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::hard_link(
        Path::new(&prefix).join("bin/passenger"),
        other.join("passenger"),
    )
    .expect("link");
    let path = format!("{path}:{}", other.display());
    let mut validate = with_path(&dir, &config, &path);
    validate.args(["validate-install", "--no-colors"]);
    let o = run_with_deadline(&dir, &mut validate, deadline());
    assert_eq!(code(&o), 2, "{}{}", out(&o), err(&o));
    let text = out(&o);
    assert!(
        text.contains(&format!(
            "Other installations: {}/passenger\n",
            other.display()
        )),
        "{text}"
    );
    assert!(!text.contains(&phusion.display().to_string()), "{text}");
}

/// The release binary ships without debug info (it was 40 MB with it), and a documented
/// profile keeps a way to get symbols for profiling.
#[test]
fn the_release_profile_strips_debug_info_and_a_profiling_profile_keeps_it() {
    let manifest: toml::Value = std::fs::read_to_string(repo().join("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml is TOML");
    let profile = |name: &str| {
        manifest["profile"]
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("Cargo.toml has no [profile.{name}]"))
    };
    let release = profile("release");
    let no_debug = match release.get("debug") {
        None => true,
        Some(toml::Value::Boolean(b)) => !b,
        Some(toml::Value::Integer(n)) => *n == 0,
        Some(toml::Value::String(s)) => s == "none",
        Some(_) => false,
    };
    let stripped = matches!(
        release.get("strip").and_then(|v| v.as_str()),
        Some("debuginfo" | "symbols")
    );
    assert!(
        no_debug || stripped,
        "[profile.release] keeps debug info: {release}"
    );
    let profiling = profile("profiling");
    assert_eq!(
        profiling.get("inherits").and_then(|v| v.as_str()),
        Some("release")
    );
    assert!(
        profiling
            .get("debug")
            .is_some_and(|d| d.as_bool() != Some(false)),
        "[profile.profiling] has debug info: {profiling}"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    assert!(
        readme.contains("--profile profiling"),
        "README documents the profiling build"
    );
}

/// Text of every element `name` in `xml`, character references resolved.
fn xml_texts(xml: &str, name: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut texts = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) if e.name().into_inner() == name => {
                inside = true;
                texts.push(String::new());
            }
            Event::End(e) if e.name().into_inner() == name => inside = false,
            Event::Text(t) if inside => {
                let last = texts.last_mut().expect("invariant: inside an element");
                last.push_str(&t.into_inner());
            }
            Event::GeneralRef(r) if inside => {
                let c = r
                    .resolve_char_ref()
                    .expect("a character reference")
                    .expect("only character references");
                texts
                    .last_mut()
                    .expect("invariant: inside an element")
                    .push(c);
            }
            Event::Eof => return texts,
            _ => {}
        }
    }
}

/// `--show=xml` carries every field the original emits, for an app root whose path
/// has `&`, `<` and a non-UTF-8 byte: the document stays well-formed, and the path
/// reads back byte for byte (one Latin-1 character per byte, as the declared
/// encoding says).
#[test]
fn status_xml_has_the_original_fields_for_an_odd_app_root() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = TestDir::new();
    let root = dir.path().join(OsStr::from_bytes(b"a&b<c\xff"));
    for sub in ["public", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).expect("invariant: test dir is writable");
    }
    let cmd = py_command("dirty_mem.py");
    let args: Vec<&OsStr> = [
        OsStr::new("start"),
        root.as_os_str(),
        OsStr::new("--address"),
        OsStr::new("127.0.0.1"),
        OsStr::new("--port"),
        OsStr::new("0"),
        OsStr::new("--app-start-command"),
        OsStr::new(&cmd),
    ]
    .to_vec();
    let server = Server::start_os(&dir, &args, &[]);
    let pid = get(server.addr, "/pid").json()["pid"]
        .as_u64()
        .expect("the app answers with its pid");

    let o = run_as(&dir, "passenger-status", &["--show=xml"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    let xml = text.as_str();
    assert!(
        o.stdout.is_ascii(),
        "the iso-8859-1 document is plain ASCII: {text}"
    );
    let escaped = format!("{}/a&#38;b&#60;c&#255;", dir.path().display());
    assert_eq!(
        text.matches(&format!("<app_root>{escaped}</app_root>"))
            .count(),
        2,
        "group and options: {text}"
    );
    let latin1: Vec<u8> = xml_texts(xml, "app_root")[0]
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("Latin-1"))
        .collect();
    assert_eq!(latin1, root.as_os_str().as_bytes());

    let one = |name: &str| -> String {
        let texts = xml_texts(xml, name);
        assert_eq!(texts.len(), 1, "<{name}> once: {text}");
        texts[0].clone()
    };
    let uuid = one("uuid");
    assert!(
        uuid.len() == 20 && uuid.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{uuid}"
    );
    // Who the process runs as (as root: `nobody`, by user switching), read from /proc.
    let ids = crate::support::users::proc_ids(i32::try_from(pid).expect("a pid"));
    assert_eq!(one("uid"), ids.uids[0].to_string());
    assert_eq!(one("gid"), ids.gids[0].to_string());
    assert!(!one("user").is_empty() && !xml_texts(xml, "group").is_empty());
    assert_eq!(one("start_command"), cmd);
    assert_eq!(xml_texts(xml, "app_type"), ["generic", "generic"]);
    assert_eq!(one("pid"), pid.to_string());
    assert_ne!(one("sticky_session_id"), "0");
    let spawner: u64 = one("spawner_creation_time").parse().expect("a number");
    let spawn_start: u64 = one("spawn_start_time").parse().expect("a number");
    assert!(
        spawner > 0 && spawner <= spawn_start,
        "{spawner} {spawn_start}"
    );
    let kb = |name: &str| -> u64 { one(name).parse().expect("a number of KiB") };
    // dirty_mem.py dirties 32 MiB of its own.
    assert!(kb("private_dirty") >= 32 * 1024, "{text}");
    assert!(kb("rss") >= kb("private_dirty") && kb("pss") >= 32 * 1024);
    assert!(kb("vmsize") >= kb("rss"));
    assert_eq!(kb("real_memory"), kb("private_dirty") + kb("swap"));
    assert_eq!(one("process_group_id"), pid.to_string());
    assert!(one("command").contains("dirty_mem.py"), "{text}");
    drop(server);
}

/// `--show=requests` lists the request being served (method, path, process, age), and
/// `--show=server` counts it under the original's keys; both empty out once it ends.
#[test]
fn status_lists_the_requests_in_flight() {
    let (dir, _root, server) = start_hello_app(&[]);
    let pid = get(server.addr, "/pid").json()["pid"]
        .as_u64()
        .expect("the app answers with its pid");
    let mark = dir.join("in-app");
    let path = format!("/sleep?s=3&mark={}", mark.display());
    let addr = server.addr;
    let sleeper = {
        let path = path.clone();
        std::thread::spawn(move || get(addr, &path).status)
    };
    crate::support::wait_until("the request to reach the app", deadline(), || mark.exists());

    let o = run_as(
        &dir,
        "passenger-status",
        &["--show=requests", "--no-header"],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        ["Requests in flight: 1", "", lines[2]],
        "{text}"
    );
    assert!(
        lines[2].starts_with("Client  Method  Path") && lines[2].ends_with("Process  Age"),
        "{text}"
    );
    let row: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        row[1..4],
        ["GET", path.as_str(), &pid.to_string()],
        "{text}"
    );
    assert!(row[0].starts_with("1-") && row[4].ends_with('s'), "{text}");
    assert_eq!(lines.len(), 4, "{text}");

    let o = run_as(&dir, "passenger-status", &["--show=server"]);
    let body = out(&o);
    let json_start = body.find('{').expect("server json");
    let server_json: serde_json::Value = serde_json::from_str(&body[json_start..]).expect("json");
    let thread = &server_json["thread1"];
    assert_eq!(server_json["threads"], 1, "{body}");
    assert!(thread["active_client_count"].as_u64() >= Some(1), "{body}");
    assert!(
        thread["peak_active_client_count"].as_u64() >= Some(1),
        "{body}"
    );
    assert!(
        thread["total_clients_accepted"].as_u64() >= Some(2),
        "{body}"
    );
    assert!(thread["total_requests_begun"].as_u64() >= Some(2), "{body}");
    let clients = thread["active_clients"]
        .as_object()
        .expect("active_clients");
    assert_eq!(clients.len(), 1, "{body}");
    let request = &clients.values().next().expect("one")["current_request"];
    assert_eq!(request["path"], path.as_str());
    assert_eq!(request["session"]["pid"], pid);

    assert_eq!(sleeper.join().expect("the request thread"), 200);
    crate::support::wait_until("the request to leave the list", deadline(), || {
        let o = run_as(
            &dir,
            "passenger-status",
            &["--show=requests", "--no-header"],
        );
        out(&o) == "Requests in flight: 0\n"
    });
}
