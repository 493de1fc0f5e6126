//! Lifecycle hooks (`--hook-<name> CMD`, the `hooks` key): each event runs its command with the
//! `PASSENGER_*` variables, in the order of the server's life, and a failing or hanging hook
//! changes nothing.

use std::path::{Path, PathBuf};
use std::thread;

use nix::sys::signal::Signal;

use crate::support::{app_pid, app_root, deadline, get, start_fixture, wait_until, TestDir};

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

#[test]
fn hooks_fire_in_life_order_with_their_variables() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let out = out_file(&dir);
    let flags = hook_flags(
        &[
            "before_watchdog_initialization",
            "after_watchdog_initialization",
            "attached_process",
            "detached_process",
            "before_watchdog_shutdown",
            "after_watchdog_shutdown",
        ],
        &recorder(&out),
    );
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut server = start_fixture(&dir, &root, "hello.py", &flags);
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
    let root = app_root(&dir, "app");
    let out = out_file(&dir);
    let flags = hook_flags(&["spawn_failed"], &recorder(&out));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = start_fixture(&dir, &root, "exit_early.py", &flags);
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
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let mut server = start_fixture(
        &dir,
        &root,
        "hello.py",
        &[
            "--hook-after-watchdog-initialization",
            "exit 7",
            "--hook-attached-process",
            "sleep 60",
        ],
    );
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
