//! User switching (the guide's rules), checked by the real uid/gid of app processes in `/proc`:
//! the owner of the startup file (or the app root of a generic app), root-owned apps as the default
//! user, `--user`/`--group` winning, `--no-user-switching`, a missing default user failing the
//! start, supplementary groups (initgroups), `HOME`/`USER`/`LOGNAME`/`SHELL`, the preloader of a
//! smart-spawned app, and the user in `passenger-status` and on the error page.
//!
//! As root (CI) the tests create their accounts with `useradd` (see `support::users`). Not root,
//! nothing is switched: every test then checks that apps run as the test's own user.

use std::path::{Path, PathBuf};

use crate::support::users::{
    self, account, chown_r, group_gid, is_root, proc_env, proc_ids, test_users, Account, ProcIds,
    APP_USER, EXTRA_GROUP, OTHER_USER,
};
use crate::support::{
    app_pid, fixture, generic_start_args, get, passenger, run_with_deadline, start_args, Server,
    TestDir,
};

/// A generic app in `dir/<name>` running a copy of `hello.py` (a copy: the checkout may not be
/// readable by the app's user), started with `python3 hello.py` from its root.
fn generic_app(dir: &TestDir, name: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("tmp")).expect("invariant: test dir is writable");
    std::fs::copy(fixture("hello.py"), root.join("hello.py")).expect("copy hello.py");
    root
}

fn start(dir: &TestDir, root: &Path, extra: &[&str]) -> Server {
    Server::start(dir, &generic_start_args(root, "python3 hello.py", extra))
}

/// Asserts that the process runs as `uid`/`gid` for real, effective, saved and file-system ids.
fn assert_runs_as(ids: &ProcIds, uid: u32, gid: u32, what: &str) {
    assert_eq!(ids.uids, [uid; 4], "{what}: uids {ids:?}");
    assert_eq!(ids.gids, [gid; 4], "{what}: gids {ids:?}");
}

/// Not root: apps run as the server's own user, whatever the flags say.
fn assert_not_switched(server: &Server) {
    let pid = app_pid(server, "/");
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    assert_runs_as(&proc_ids(pid), uid, gid, "not root: the server's user");
}

#[test]
fn a_generic_app_runs_as_the_owner_of_its_root_with_its_groups_and_environment() {
    let dir = TestDir::new();
    let root = generic_app(&dir, "app");
    if !is_root() {
        assert_not_switched(&start(&dir, &root, &[]));
        return;
    }
    let (owner, _) = test_users();
    chown_r(&root, APP_USER);
    let server = start(&dir, &root, &[]);
    let pid = app_pid(&server, "/");

    let ids = proc_ids(pid);
    assert_runs_as(&ids, owner.uid, owner.gid, "the owner of the app root");
    // initgroups: the primary group and every group the user is a member of, nothing of root's.
    let mut groups = ids.groups.clone();
    groups.sort_unstable();
    let mut expected = vec![owner.gid, group_gid(EXTRA_GROUP)];
    expected.sort_unstable();
    assert_eq!(groups, expected, "supplementary groups of {APP_USER}");

    let env = proc_env(pid);
    for (name, value) in [
        ("USER", &owner.name),
        ("LOGNAME", &owner.name),
        ("HOME", &owner.home),
        ("SHELL", &owner.shell),
    ] {
        assert_eq!(env.get(name), Some(value), "{name} of the app process");
    }

    // passenger-status names the user in every format.
    let status = |args: &[&str]| -> String {
        let mut cmd = passenger(&dir);
        cmd.arg("status").args(args);
        let o = run_with_deadline(&dir, &mut cmd, crate::support::deadline());
        assert!(o.status.success(), "status {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let text = status(&["--verbose"]);
    let line = format!(
        "  User    : {APP_USER} ({}), group {APP_USER} ({})",
        owner.uid, owner.gid
    );
    assert!(text.contains(&line), "{line:?} in:\n{text}");
    let xml = status(&["--show=xml"]);
    assert!(xml.contains(&format!("<user>{APP_USER}</user>")), "{xml}");
    assert!(xml.contains(&format!("<uid>{}</uid>", owner.uid)), "{xml}");
    let json: serde_json::Value =
        serde_json::from_str(&status(&["--show=json"])).expect("JSON status");
    let group = &json["groups"][0];
    assert_eq!(group["user"], APP_USER, "{json}");
    assert_eq!(group["uid"], owner.uid, "{json}");
    assert_eq!(group["gid"], owner.gid, "{json}");
}

#[test]
fn a_wsgi_app_and_its_preloader_run_as_the_owner_of_its_startup_file() {
    let dir = TestDir::new();
    let root = dir.join("wsgi");
    std::fs::create_dir_all(&root).expect("invariant: test dir is writable");
    std::fs::copy(
        fixture("apps/wsgi_hello/passenger_wsgi.py"),
        root.join("passenger_wsgi.py"),
    )
    .expect("copy the WSGI app");
    let args = start_args(&root, &["--spawn-method", "smart"]);
    if !is_root() {
        assert_not_switched(&Server::start(&dir, &args));
        return;
    }
    let (_, other) = test_users();
    // The app root stays root's: the startup file decides.
    chown_r(&root.join("passenger_wsgi.py"), OTHER_USER);
    let server = Server::start(&dir, &args);
    let pid = app_pid(&server, "/");
    let ids = proc_ids(pid);
    assert_runs_as(&ids, other.uid, other.gid, "the startup file's owner");
    assert_eq!(
        ids.groups,
        vec![other.gid],
        "{OTHER_USER} has no other groups"
    );
    assert_eq!(proc_env(pid).get("SHELL"), Some(&other.shell));

    // A smart-spawned worker is forked by its preloader, which runs as the same user.
    let preloader = ids.ppid;
    assert_eq!(
        proc_env(preloader)
            .get("PASSENGER_PRELOADER")
            .map(String::as_str),
        Some("1"),
        "the worker's parent is the preloader"
    );
    assert_runs_as(&proc_ids(preloader), other.uid, other.gid, "the preloader");
}

#[test]
fn a_root_owned_app_runs_as_nobody() {
    let dir = TestDir::new();
    let root = generic_app(&dir, "app");
    let server = start(&dir, &root, &[]);
    if !is_root() {
        assert_not_switched(&server);
        return;
    }
    let nobody = account("nobody");
    let pid = app_pid(&server, "/");
    let ids = proc_ids(pid);
    assert_runs_as(&ids, nobody.uid, nobody.gid, "root owns the app: nobody");
    assert!(!ids.groups.contains(&0), "no root group: {ids:?}");
    assert_eq!(
        proc_env(pid).get("USER").map(String::as_str),
        Some("nobody")
    );
}

#[test]
fn user_and_group_options_win_over_the_owner() {
    let dir = TestDir::new();
    let root = generic_app(&dir, "app");
    let extra = ["--user", OTHER_USER, "--group", EXTRA_GROUP];
    if !is_root() {
        assert_not_switched(&start(&dir, &root, &extra));
        return;
    }
    let (_, other) = test_users();
    chown_r(&root, APP_USER);
    let server = start(&dir, &root, &extra);
    let ids = proc_ids(app_pid(&server, "/"));
    assert_runs_as(
        &ids,
        other.uid,
        group_gid(EXTRA_GROUP),
        "--user and --group",
    );
    drop(server);

    // The same as per-app keys of the multi-app file.
    let config = dir.join("apps.toml");
    std::fs::write(
        &config,
        format!(
            "address = \"127.0.0.1\"\nport = 0\n\n[[app]]\nroot = {:?}\n\
             app_start_command = \"python3 hello.py\"\nuser = {OTHER_USER:?}\n",
            root.display()
        ),
    )
    .expect("write apps.toml");
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(&dir, &["start", "--config", &config_arg]);
    let ids = proc_ids(app_pid(&server, "/"));
    assert_runs_as(&ids, other.uid, other.gid, "`user` in apps.toml");
}

#[test]
fn without_user_switching_apps_run_as_the_default_user() {
    let dir = TestDir::new();
    let root = generic_app(&dir, "app");
    if !is_root() {
        assert_not_switched(&start(&dir, &root, &["--no-user-switching"]));
        return;
    }
    let (_, other) = test_users();
    chown_r(&root, APP_USER);
    // `--user` is not used without user switching, as in the original.
    let server = start(
        &dir,
        &root,
        &[
            "--no-user-switching",
            "--default-user",
            OTHER_USER,
            "--user",
            APP_USER,
        ],
    );
    let ids = proc_ids(app_pid(&server, "/"));
    assert_runs_as(&ids, other.uid, other.gid, "the default user");
    drop(server);

    let nobody = account("nobody");
    let server = start(
        &dir,
        &root,
        &["--no-user-switching", "--default-group", EXTRA_GROUP],
    );
    let ids = proc_ids(app_pid(&server, "/"));
    assert_runs_as(
        &ids,
        nobody.uid,
        group_gid(EXTRA_GROUP),
        "nobody and --default-group",
    );
}

#[test]
fn a_missing_default_user_or_group_stops_the_start_naming_it() {
    let dir = TestDir::new();
    let root = generic_app(&dir, "app");
    for (flag, name) in [
        ("--default-user", "prs-no-such-user"),
        ("--default-group", "prs-no-such-group"),
        ("--user", "prs-no-such-user"),
    ] {
        let mut cmd = passenger(&dir);
        cmd.args(generic_start_args(&root, "python3 hello.py", &[flag, name]));
        let o = run_with_deadline(&dir, &mut cmd, crate::support::deadline());
        let stderr = String::from_utf8_lossy(&o.stderr);
        if is_root() {
            assert_eq!(o.status.code(), Some(1), "{flag} {name}: {stderr}");
            assert!(
                stderr.contains(flag) && stderr.contains(name) && stderr.contains("does not exist"),
                "names the flag and the account: {stderr}"
            );
        } else {
            // Not root, nobody is switched to, so nothing is looked up; the server starts.
            assert!(
                o.status.code() != Some(1) || !stderr.contains("does not exist"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn apps_run_as_root_only_when_told_and_with_a_warning() {
    let dir = TestDir::new();
    let root = generic_app(&dir, "app");
    let server = start(&dir, &root, &["--user", "root"]);
    if !is_root() {
        assert_not_switched(&server);
        return;
    }
    let ids = proc_ids(app_pid(&server, "/"));
    assert_runs_as(&ids, 0, 0, "--user root");
    let log = server.log();
    assert!(
        log.contains("runs as root, as configured"),
        "a warning in the log:\n{log}"
    );
}

#[test]
fn the_error_page_names_the_user_a_failing_app_ran_as() {
    let dir = TestDir::new();
    let root = dir.join("app");
    std::fs::create_dir_all(&root).expect("invariant: test dir is writable");
    std::fs::copy(fixture("exit_early.py"), root.join("exit_early.py")).expect("copy fixture");
    let expected: Account = if is_root() {
        test_users();
        chown_r(&root, APP_USER);
        account(APP_USER)
    } else {
        let uid = nix::unistd::geteuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .expect("our user");
        users::account(&user.name)
    };
    let server = Server::start(
        &dir,
        &generic_start_args(&root, "python3 exit_early.py", &["--friendly-error-pages"]),
    );
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500, "{}", resp.text());
    let body = resp.text();
    let shown = format!("{} ({})", expected.name, expected.uid);
    assert!(body.contains(&shown), "the page names {shown}: {body}");
    assert!(body.contains("FIXTURE_BOOM"), "and the app ran: {body}");
}

/// The children of `pid` whose command line contains `needle`.
fn children_named(pid: i32, needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            crate::support::pid_alive(*p)
                && std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|s| {
                        let rest = s[s.rfind(')')? + 1..].to_string();
                        rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                    })
                    == Some(pid)
                && std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(needle))
                    .unwrap_or(false)
        })
        .collect()
}

#[test]
fn with_core_user_the_core_drops_root_and_apps_still_run_as_their_owners() {
    let dir = TestDir::new();
    let generic = generic_app(&dir, "app");
    let wsgi = dir.join("wsgi");
    std::fs::create_dir_all(&wsgi).expect("invariant: test dir is writable");
    std::fs::copy(
        fixture("apps/wsgi_hello/passenger_wsgi.py"),
        wsgi.join("passenger_wsgi.py"),
    )
    .expect("copy the WSGI app");
    let config = dir.join("apps.toml");
    std::fs::write(
        &config,
        format!(
            "address = \"127.0.0.1\"\nport = 0\ncore_user = \"nobody\"\n\n\
             [[app]]\nroot = {:?}\nbase_uri = \"/g\"\napp_start_command = \"python3 hello.py\"\n\n\
             [[app]]\nroot = {:?}\nbase_uri = \"/w\"\nspawn_method = \"smart\"\n",
            generic.display(),
            wsgi.display()
        ),
    )
    .expect("write apps.toml");
    let config_arg = config.to_string_lossy().into_owned();
    if !is_root() {
        let server = Server::start(&dir, &["start", "--config", &config_arg]);
        let pid = app_pid(&server, "/g/");
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(proc_ids(pid).uids, [me; 4], "not root: nothing changes");
        return;
    }
    let (owner, other) = test_users();
    chown_r(&generic, APP_USER);
    chown_r(&wsgi.join("passenger_wsgi.py"), OTHER_USER);
    let server = Server::start(&dir, &["start", "--config", &config_arg]);

    let cores = children_named(server.pid(), "__core");
    assert_eq!(cores.len(), 1, "one core under the watchdog");
    let nobody = account("nobody");
    let core = proc_ids(cores[0]);
    assert_runs_as(&core, nobody.uid, nobody.gid, "the core after binding");
    assert!(!core.groups.contains(&0), "no root group left: {core:?}");
    let helpers = children_named(cores[0], "__spawn-helper");
    assert_eq!(helpers.len(), 1, "the core's spawn helper");
    assert_runs_as(&proc_ids(helpers[0]), 0, 0, "the spawn helper stays root");

    let generic_pid = app_pid(&server, "/g/");
    let ids = proc_ids(generic_pid);
    assert_runs_as(&ids, owner.uid, owner.gid, "the generic app, as its owner");
    assert_eq!(ids.ppid, helpers[0], "started by the helper");
    let wsgi_pid = app_pid(&server, "/w/");
    let ids = proc_ids(wsgi_pid);
    assert_runs_as(&ids, other.uid, other.gid, "the WSGI worker, as its owner");
    assert_runs_as(&proc_ids(ids.ppid), other.uid, other.gid, "its preloader");
    // The app cannot reach the helper: no descriptor of the helper's socket leaks into it.
    let helper_socket = std::fs::read_link(format!("/proc/{}/fd/3", helpers[0])).expect("fd 3");
    for fd in std::fs::read_dir(format!("/proc/{generic_pid}/fd"))
        .expect("app fds")
        .flatten()
    {
        assert_ne!(
            std::fs::read_link(fd.path()).ok(),
            Some(helper_socket.clone())
        );
    }

    // The tools still work as root against the unprivileged core.
    let mut cmd = passenger(&dir);
    cmd.args(["status", "--verbose"]);
    let o = run_with_deadline(&dir, &mut cmd, crate::support::deadline());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    assert!(text.contains(&format!("User    : {APP_USER}")), "{text}");
    assert!(text.contains(&format!("User    : {OTHER_USER}")), "{text}");

    // The core's user is no admin: the instance's owner (who started it, root) is.
    let bin = dir.join("passenger-status");
    std::fs::copy(env!("CARGO_BIN_EXE_passenger"), &bin).expect("copy the binary");
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod the binary");
    let mut cmd = std::process::Command::new(&bin);
    std::os::unix::process::CommandExt::uid(&mut cmd, nobody.uid);
    std::os::unix::process::CommandExt::gid(&mut cmd, nobody.gid);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PASSENGER_INSTANCE_REGISTRY_DIR", dir.join("registry"))
        .env(crate::support::process::MARKER_VAR, dir.marker())
        .current_dir("/");
    let o = run_with_deadline(&dir, &mut cmd, crate::support::deadline());
    assert_eq!(
        o.status.code(),
        Some(2),
        "the core's user is not authorized: {o:?}"
    );

    // A restart goes through the helper too: the old process is stopped, a new one runs.
    let mut cmd = passenger(&dir);
    cmd.args(["config", "restart-app", &generic.to_string_lossy()]);
    let o = run_with_deadline(&dir, &mut cmd, crate::support::deadline());
    assert!(o.status.success(), "{o:?}");
    crate::support::wait_until(
        "the old process is gone",
        crate::support::deadline(),
        || !crate::support::pid_alive(generic_pid),
    );
    let next = app_pid(&server, "/g/");
    assert_ne!(next, generic_pid);
    assert_runs_as(&proc_ids(next), owner.uid, owner.gid, "the restarted app");
}
