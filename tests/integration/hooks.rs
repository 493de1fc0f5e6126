//! Lifecycle hooks (`--hook-<name> CMD`, the `hooks` key): each event runs its command with the
//! `PASSENGER_*` variables, in the order of the server's life, and a failing or hanging hook
//! changes nothing.

use std::path::{Path, PathBuf};
use std::thread;

use nix::sys::signal::Signal;

use crate::support::{
    app_pid, app_root, deadline, get, start_fixture, start_hello_app, wait_until, Server, TestDir,
};

/// A hook command appending `NAME pid=.. root=.. err=..` to `out`.
fn recorder(out: &Path) -> String {
    format!(
        "echo \"$PASSENGER_HOOK_NAME pid=$PASSENGER_PID root=$PASSENGER_APP_ROOT err=$PASSENGER_ERROR\" >> '{}'",
        out.display()
    )
}

fn lines(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn names(out: &Path) -> Vec<String> {
    lines(out)
        .iter()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

fn hook_flags(hooks: &[&str], cmd: &str) -> Vec<String> {
    hooks
        .iter()
        .flat_map(|h| [format!("--hook-{}", h.replace('_', "-")), cmd.to_string()])
        .collect()
}

fn out_file(dir: &TestDir) -> PathBuf {
    dir.join("hooks.out")
}

/// Serves `dir/app` with the fixture `fixture`, every hook in `hooks` recording into the
/// returned file, plus `extra` flags. Returns the app root, the record file and the server.
fn start_recording(
    dir: &TestDir,
    fixture: &str,
    hooks: &[&str],
    extra: &[&str],
) -> (PathBuf, PathBuf, Server) {
    let root = app_root(dir, "app");
    let out = out_file(dir);
    let flags = hook_flags(hooks, &recorder(&out));
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    flags.extend_from_slice(extra);
    let server = start_fixture(dir, &root, fixture, &flags);
    (root, out, server)
}

#[test]
fn hooks_fire_in_life_order_with_their_variables() {
    let dir = TestDir::new();
    let (root, out, mut server) = start_recording(
        &dir,
        "hello.py",
        &[
            "before_watchdog_initialization",
            "after_watchdog_initialization",
            "attached_process",
            "detached_process",
            "before_watchdog_shutdown",
            "after_watchdog_shutdown",
        ],
        &[],
    );
    let pid = app_pid(&server, "/");
    wait_until("attached_process ran", deadline(), || {
        names(&out).contains(&"attached_process".to_string())
    });
    let attached = lines(&out)
        .into_iter()
        .find(|l| l.starts_with("attached_process"))
        .expect("attached line");
    assert_eq!(
        attached,
        format!("attached_process pid={pid} root={} err=", root.display())
    );
    // A process that dies leaves the pool: detached_process names it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).expect("kill app");
    wait_until("detached_process ran", deadline(), || {
        lines(&out)
            .iter()
            .any(|l| l.starts_with(&format!("detached_process pid={pid} root=")))
    });
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(deadline()).is_some(), "the server stops");
    let all = names(&out);
    let order: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "attached_process" && *n != "detached_process")
        .collect();
    assert_eq!(
        order,
        [
            "before_watchdog_initialization",
            "after_watchdog_initialization",
            "before_watchdog_shutdown",
            "after_watchdog_shutdown"
        ],
        "{all:?}"
    );
    let pos = |n: &str| all.iter().position(|x| x == n).expect("fired");
    assert!(
        pos("after_watchdog_initialization") < pos("attached_process"),
        "{all:?}"
    );
    assert!(
        pos("detached_process") < pos("before_watchdog_shutdown"),
        "{all:?}"
    );
    // The watchdog's hooks name the watchdog: the server's pid.
    let first = &lines(&out)[0];
    assert!(
        first.starts_with(&format!(
            "before_watchdog_initialization pid={} ",
            server.pid()
        )),
        "{first}"
    );
}

#[test]
fn spawn_failed_names_the_app_and_the_error() {
    let dir = TestDir::new();
    let (root, out, server) = start_recording(&dir, "exit_early.py", &["spawn_failed"], &[]);
    let resp = get(server.addr, "/");
    assert!(resp.status >= 500, "a failed spawn is an error page");
    wait_until("spawn_failed ran", deadline(), || !lines(&out).is_empty());
    let line = &lines(&out)[0];
    assert!(
        line.starts_with(&format!("spawn_failed pid= root={} err=", root.display())),
        "{line}"
    );
    assert!(
        line.len() > format!("spawn_failed pid= root={} err=", root.display()).len(),
        "the error is named: {line}"
    );
}

#[test]
fn queue_full_error_fires_when_a_request_is_refused() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let out = out_file(&dir);
    let cmd = recorder(&out);
    let server = start_fixture(
        &dir,
        &root,
        "hello.py",
        &[
            "--force-max-concurrent-requests-per-process",
            "1",
            "--max-pool-size",
            "1",
            "--max-request-queue-size",
            "1",
            "--hook-queue-full-error",
            &cmd,
        ],
    );
    app_pid(&server, "/");
    let addr = server.addr;
    let handles: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || get(addr, "/sleep?s=2")))
        .collect();
    let statuses: Vec<u16> = handles
        .into_iter()
        .map(|h| h.join().expect("request thread").status)
        .collect();
    assert!(statuses.contains(&503), "{statuses:?}");
    wait_until("queue_full_error ran", deadline(), || {
        !lines(&out).is_empty()
    });
    let line = &lines(&out)[0];
    assert!(
        line.starts_with(&format!(
            "queue_full_error pid= root={} err=",
            root.display()
        )) && line.contains("full"),
        "{line}"
    );
}

#[test]
fn failing_and_hanging_hooks_do_not_stop_the_server() {
    let (_dir, _root, mut server) = start_hello_app(&[
        "--hook-after-watchdog-initialization",
        "exit 7",
        "--hook-attached-process",
        "sleep 60",
    ]);
    // The hanging attached_process hook does not hold up requests.
    let started = std::time::Instant::now();
    app_pid(&server, "/");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    wait_until(
        "the hanging hook is killed",
        deadline() + deadline(),
        || {
            server
                .log()
                .contains("the attached_process hook ran longer than 10s and was killed")
        },
    );
    assert_eq!(get(server.addr, "/").status, 200);
    let log = server.log();
    assert!(
        log.contains("the after_watchdog_initialization hook failed"),
        "{log}"
    );
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(deadline()).is_some(), "the server stops");
}

/// The order mod_perl's demonstration of Apache's server life cycle prints (open_logs,
/// post_config, child_init per child, child_exit per child at shutdown), mapped onto our hooks
/// as the README's "Lifecycle hooks" says, with two app processes: every process that attached
/// detaches at shutdown, and the watchdog's last hook waits for them.
#[test]
fn hooks_follow_the_mod_perl_server_life_cycle_with_two_processes() {
    let dir = TestDir::new();
    let (root, out, mut server) = start_recording(
        &dir,
        "hello.py",
        &[
            "before_watchdog_initialization",
            "after_watchdog_initialization",
            "attached_process",
            "detached_process",
            "before_watchdog_shutdown",
            "after_watchdog_shutdown",
        ],
        &["--min-instances", "2"],
    );
    let count = |name: &str| names(&out).iter().filter(|n| *n == name).count();
    wait_until("both processes attached", deadline(), || {
        count("attached_process") == 2
    });
    // Only the watchdog gets the signal, as from `kill $(cat passenger.pid)`.
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(deadline()).is_some(), "the server stops");
    let all = names(&out);
    assert_eq!(
        all,
        [
            "before_watchdog_initialization",
            "after_watchdog_initialization",
            "attached_process",
            "attached_process",
            "before_watchdog_shutdown",
            "detached_process",
            "detached_process",
            "after_watchdog_shutdown",
        ],
        "{:#?}",
        lines(&out)
    );
    let pids = |name: &str| {
        let mut pids: Vec<String> = lines(&out)
            .iter()
            .filter(|l| l.starts_with(&format!("{name} ")))
            .map(|l| {
                let pid = l.split(' ').nth(1).expect("pid field");
                let pid = pid.strip_prefix("pid=").expect("pid= field");
                assert!(pid.parse::<u32>().is_ok(), "a pid: {l}");
                pid.to_string()
            })
            .collect();
        pids.sort();
        pids
    };
    let attached = pids("attached_process");
    assert_ne!(attached[0], attached[1], "two processes");
    assert_eq!(attached, pids("detached_process"), "one detach per pid");
    for line in lines(&out).iter().filter(|l| l.contains("_process ")) {
        assert!(
            line.contains(&format!(" root={} ", root.display())),
            "{line}"
        );
    }
}

/// A core that exits 0 by itself (stopped directly, not through the watchdog) still ends the
/// watchdog's life with `after_watchdog_shutdown`, after its processes detached.
#[test]
fn after_watchdog_shutdown_runs_when_the_core_exits_by_itself() {
    let dir = TestDir::new();
    let (_root, out, mut server) = start_recording(
        &dir,
        "hello.py",
        &[
            "detached_process",
            "before_watchdog_shutdown",
            "after_watchdog_shutdown",
        ],
        &[],
    );
    app_pid(&server, "/");
    let instance = crate::admin::instance_dir(&dir, &server);
    let core = crate::admin::properties(&instance)["core_pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .expect("core_pid recorded");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(core), Signal::SIGTERM).expect("stop core");
    assert!(server.wait_exit(deadline()).is_some(), "the server stops");
    assert_eq!(
        names(&out),
        ["detached_process", "after_watchdog_shutdown"],
        "no stop signal reached the watchdog, so no before_watchdog_shutdown"
    );
}
