//! Helpers shared by the spawner tests in `core/tests/`. Each test file is its own crate and
//! includes this module with `mod support;`.
//!
//! What is here: app roots in temp dirs ([`app_dir`], [`write`]), interpreter checks that fail
//! with what to install ([`require_ruby`], ...), spawning through a default [`SpawnerFactory`]
//! into a kill-on-drop guard ([`Running`]), what `/proc` says about a pid ([`gone`],
//! [`cmdline`], ...), deadline polls ([`poll`], [`assert_gone`]) and, in [`session`], a client of
//! the loaders' session protocol. What is not: fakes of the pool or the admin API (they live
//! in the one test file that uses them).

#![allow(
    dead_code,
    reason = "every test crate includes this module and uses a different part of it, so an \
              #[expect] would be unfulfilled in some of them"
)]

pub mod session;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use passenger_core::app::AppSpec;
use passenger_core::pool::{Gupid, ProcessAddress};
use passenger_core::spawn::{
    ExitInfo, SpawnError, SpawnedProcess, Spawner, SpawnerFactory, SpawnerOptions,
};

/// Start timeout for apps expected to start: generous, the test machine is shared.
pub const START: Duration = Duration::from_secs(30);

/// How long a process may take to go away once it was told to.
const GONE_WITHIN: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// App roots and interpreters
// ---------------------------------------------------------------------------------------------

/// A temp app root readable by everyone (the app runs as `nobody` when tests run as root).
pub fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod temp dir");
    dir
}

/// Writes `dir/name` (creating its parent dirs), readable by everyone.
pub fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture dir");
    }
    std::fs::write(&path, text).expect("write fixture");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// An [`app_dir`] holding one file, `name`, with `text`.
pub fn app_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = app_dir();
    write(dir.path(), name, text);
    dir
}

/// Fails the test, naming `what` to install, unless `cmd args` succeeds.
pub fn require_tool(cmd: &str, args: &[&str], what: &str) {
    let ok = std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{what} is required by this test but `{cmd} {args:?}` failed; install it"
    );
}

pub fn require_ruby() {
    require_tool("ruby", &["-e", "require 'rack'"], "ruby with the rack gem");
}

/// Python 3.9 or later: the preloader passes fds with `socket.recv_fds`.
pub fn require_python() {
    require_tool(
        "python3",
        &["-c", "import socket; socket.recv_fds"],
        "python3 >= 3.9",
    );
}

pub fn require_node() {
    require_tool("node", &["--version"], "node");
}

// ---------------------------------------------------------------------------------------------
// Spawned processes
// ---------------------------------------------------------------------------------------------

/// A spawned process whose process group is killed on drop, so a failing test leaks nothing.
pub struct Running(Option<SpawnedProcess>);

impl Running {
    pub fn new(process: SpawnedProcess) -> Running {
        Running(Some(process))
    }

    pub fn process(&self) -> &SpawnedProcess {
        self.0.as_ref().expect("invariant: taken only by stop")
    }

    pub fn process_mut(&mut self) -> &mut SpawnedProcess {
        self.0.as_mut().expect("invariant: taken only by stop")
    }

    pub fn pid(&self) -> u32 {
        self.process().pid
    }

    pub fn address(&self) -> &ProcessAddress {
        &self.process().address
    }

    /// The loader's session socket, with the connect password the process expects.
    pub fn socket(&self) -> session::LoaderSocket {
        match self.address() {
            ProcessAddress::Session(path) => session::LoaderSocket {
                path: path.clone(),
                password: self.process().connect_password.clone(),
            },
            other => panic!("expected a session socket, got {other}"),
        }
    }

    /// Waits (at most 10 s) for the process to exit and be reaped.
    pub async fn wait_exit(&mut self) -> ExitInfo {
        tokio::time::timeout(GONE_WITHIN, &mut self.process_mut().exited)
            .await
            .expect("process exits within 10 s")
            .expect("reaper reports the exit")
    }

    /// Kills the process group, as dropping does, and waits until the process is [`gone`].
    pub async fn kill_and_wait_gone(self) {
        let pid = self.pid();
        drop(self);
        assert_gone_async(pid).await;
    }

    /// Asks the process to stop (stdin EOF for loaders, else SIGTERM), waits for it to exit
    /// and checks it is gone.
    pub async fn stop(mut self) -> (u32, ExitInfo) {
        let process = self.0.take().expect("invariant: stop is called once");
        process.control.terminate();
        let pid = process.pid;
        let control = Arc::clone(&process.control);
        match tokio::time::timeout(Duration::from_secs(15), process.exited).await {
            Ok(Ok(info)) => {
                assert_gone(pid);
                (pid, info)
            }
            _ => {
                control.kill();
                panic!("process {pid} did not exit within 15 s of terminate()");
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.control.kill();
        }
    }
}

/// Spawns `app` through a [`SpawnerFactory`] with default options.
pub async fn spawn(app: impl Into<Arc<AppSpec>>) -> Result<SpawnedProcess, SpawnError> {
    SpawnerFactory::new(SpawnerOptions::default())
        .spawn(app.into(), Gupid("test-1".to_string()))
        .await
}

/// [`spawn`], failing the test (with the app's output) if it fails.
pub async fn spawn_ok(app: impl Into<Arc<AppSpec>>) -> Running {
    match spawn(app).await {
        Ok(p) => Running::new(p),
        Err(e) => panic!("spawn failed: {e}\noutput:\n{}", e.output),
    }
}

/// [`spawn`], failing the test if it succeeds.
pub async fn spawn_err(app: impl Into<Arc<AppSpec>>) -> SpawnError {
    match spawn(app).await {
        Ok(p) => {
            let pid = p.pid;
            drop(Running::new(p));
            panic!("spawn of process {pid} succeeded but was expected to fail");
        }
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------

/// True when `pid` no longer exists. A zombie counts as gone: its reparented parent (PID 1 of
/// the container) may never reap it, but it runs no code.
pub fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// The parent of a live `pid`.
pub fn ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let (_, rest) = stat.rsplit_once(") ").expect("stat has a comm");
    rest.split(' ')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("stat has a ppid")
}

/// `/proc/<pid>/cmdline` with NULs as spaces: what `ps` shows as the process title.
pub fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read cmdline");
    String::from_utf8_lossy(&raw)
        .replace('\0', " ")
        .trim()
        .to_string()
}

/// Live processes whose command line starts with `prefix`.
pub fn processes_titled(prefix: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&raw).starts_with(prefix) && !gone(pid) {
            found.push(pid);
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Waiting with a deadline
// ---------------------------------------------------------------------------------------------

/// Polls `check` (blocking) until it returns `Some`; fails the test, naming `what`, once
/// `timeout` has passed.
pub fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`poll`] for async tests: sleeps without blocking the runtime, whose tasks (the spawner's
/// reaper, its kill timers) may be what the test waits for.
pub async fn poll_async<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (blocking, at most 10 s) until `pid` is [`gone`].
pub fn assert_gone(pid: u32) {
    poll(&format!("process {pid} to go away"), GONE_WITHIN, || {
        gone(pid).then_some(())
    });
}

/// [`assert_gone`] for async tests.
pub async fn assert_gone_async(pid: u32) {
    poll_async(&format!("process {pid} to go away"), GONE_WITHIN, || {
        gone(pid).then_some(())
    })
    .await;
}
