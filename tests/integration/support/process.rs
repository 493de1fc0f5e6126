//! Process guards: every process a test starts lives in its own process group, is killed when its
//! guard drops, and leaves nothing behind. Leftovers are found by the per-test marker variable in
//! `/proc/*/environ`, which catches processes that `setsid()` away from the group.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::dir::TestDir;
use super::wait::{deadline, poll};

/// The environment variable carrying the per-test marker.
pub const MARKER_VAR: &str = "PASSENGER_TEST_ID";

/// How long marked processes get to finish dying before they count as leaked.
const LEAK_GRACE: Duration = Duration::from_secs(1);

static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state letter follows the last ')' because the command name may itself contain parens.
    match stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next())
    {
        Some('Z') | Some('X') | None => false,
        Some(_) => true,
    }
}

/// Whether `pid` leads its own session (it has called setsid(2)), from `/proc/<pid>/stat`.
pub fn leads_own_session(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(") ")
                .next()
                .and_then(|rest| rest.split(' ').nth(3).map(str::to_string))
        })
        .is_some_and(|sid| sid == pid.to_string())
}

/// One `kB` field of `/proc/<pid>/smaps_rollup` (`Pss`, `Private_Dirty`, ...) or, for names
/// starting with `Vm`, of `/proc/<pid>/status`: the figures the memory tools must report, read
/// independently of them.
pub fn proc_kb(pid: u32, field: &str) -> u64 {
    let file = if field.starts_with("Vm") {
        "status"
    } else {
        "smaps_rollup"
    };
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/{file}: {e}"));
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/{file}:\n{text}"))
}

/// The value of field `name` in `/proc/<pid>/status` (`VmRSS`, `SigCgt`...), trimmed, while
/// the process lives.
pub fn status_field(pid: i32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let value = l.strip_prefix(name)?.strip_prefix(':')?;
        Some(value.trim().to_string())
    })
}

/// Pids (other than ours) whose environment contains `PASSENGER_TEST_ID=<marker>`.
pub fn marked_pids(marker: &str) -> Vec<i32> {
    let needle = format!("{MARKER_VAR}={marker}");
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
            && pid_alive(pid)
        {
            found.push(pid);
        }
    }
    found
}

/// `/proc/<pid>/cmdline` with NULs as spaces: what `ps` shows as the process title (empty once
/// the process is gone).
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// The parent of `pid`, while it lives.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Live processes of this test (by its marker) whose title starts with `prefix`, sorted.
pub fn pids_titled(dir: &TestDir, prefix: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = marked_pids(dir.marker())
        .into_iter()
        .filter(|pid| cmdline(*pid).starts_with(prefix))
        .collect();
    pids.sort_unstable();
    pids
}

/// Fails the test when any process carrying `marker` is still alive after a short grace period;
/// survivors are SIGKILLed first so one leak cannot spill into other tests.
pub fn check_no_leaks(marker: &str, who: &str) {
    if poll(LEAK_GRACE, || marked_pids(marker).is_empty()) {
        return;
    }
    let survivors = marked_pids(marker);
    let described: Vec<String> = survivors
        .iter()
        .map(|pid| format!("{pid} ({})", cmdline(*pid)))
        .collect();
    for pid in &survivors {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let msg = format!(
        "leaked process(es) after {who} shut down: {}",
        described.join(", ")
    );
    if std::thread::panicking() {
        eprintln!("{msg}");
    } else {
        panic!("{msg}");
    }
}

/// Runs `cmd` (in its own process group, with the test's marker) to completion, killing its group and
/// panicking if it takes longer than `timeout`.
pub fn run_with_deadline(dir: &TestDir, cmd: &mut Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ProcGuard::spawn("command", cmd, dir);
    let mut out = guard
        .child
        .stdout
        .take()
        .expect("invariant: stdout is piped");
    let mut err = guard
        .child
        .stderr
        .take()
        .expect("invariant: stderr is piped");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = guard.wait_exit(timeout);
    // A command that exited on its own may have left a daemon behind on purpose; the test dir's leak
    // check still catches it if the test does not stop it.
    guard.left_behind_ok = status.is_some();
    let Some(status) = status else {
        drop(guard);
        panic!("{cmd:?} did not exit within {timeout:?}");
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Owns a child started as the leader of a new process group.
///
/// Drop: SIGTERM the group, wait up to [`deadline`] for the leader, SIGKILL the group, reap, then run
/// the leak check for the test's marker. On a failing test it prints the captured output.
pub struct ProcGuard {
    /// The group leader.
    pub child: Child,
    name: String,
    marker: String,
    exited: Option<ExitStatus>,
    left_behind_ok: bool,
    log: Option<PathBuf>,
    stdout: Option<Arc<Mutex<Vec<String>>>>,
}

impl ProcGuard {
    /// Spawns `cmd` as a new process group leader carrying `dir`'s marker.
    pub fn spawn(name: &str, cmd: &mut Command, dir: &TestDir) -> ProcGuard {
        cmd.process_group(0).env(MARKER_VAR, dir.marker());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {name} ({cmd:?}): {e}"));
        ProcGuard {
            child,
            name: name.to_string(),
            marker: dir.marker().to_string(),
            exited: None,
            left_behind_ok: false,
            log: None,
            stdout: None,
        }
    }

    /// The leader's pid (also the process group id).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the leader only.
    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.pid()), sig);
    }

    /// Waits up to `timeout` for the leader to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited.is_some() {
            return self.exited;
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return self.exited;
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn dump_output(&self) {
        if let Some(lines) = &self.stdout {
            let lines = lines.lock().map(|l| l.join("\n")).unwrap_or_default();
            eprintln!("----- {} stdout -----\n{lines}", self.name);
        }
        if let Some(log) = &self.log {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            eprintln!("----- {} log ({}) -----\n{text}", self.name, log.display());
        }
        eprintln!("----- end of {} output -----", self.name);
    }
}

impl Drop for ProcGuard {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.pid());
        if self.left_behind_ok {
            return;
        }
        if self.exited.is_none() {
            let _ = killpg(group, Signal::SIGTERM);
            if self.wait_exit(deadline()).is_none() {
                eprintln!(
                    "{} ignored SIGTERM for {:?}; killing it",
                    self.name,
                    deadline()
                );
            }
        }
        let _ = killpg(group, Signal::SIGKILL);
        if self.exited.is_none() {
            let _ = self.child.wait();
        }
        // SIGKILL is delivered asynchronously: wait (best effort) until the group is really gone, so
        // callers can rely on "dropped" meaning "dead".
        poll(LEAK_GRACE, || killpg(group, None).is_err());
        if std::thread::panicking() {
            self.dump_output();
        }
        check_no_leaks(&self.marker, &self.name);
    }
}

/// A running `passenger` server, started with [`Server::start`].
pub struct Server {
    /// The address printed in `Accessible via: http://ADDR/`.
    pub addr: SocketAddr,
    guard: ProcGuard,
    log: PathBuf,
}

impl Server {
    /// Runs `passenger <args>` (see [`crate::support::passenger`]) and returns once it printed
    /// `Accessible via: http://ADDR/` on stdout. Panics, printing its log, if it exits or stays silent
    /// past the deadline.
    pub fn start(dir: &TestDir, args: &[&str]) -> Server {
        Server::start_with_env(dir, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables for `passenger`.
    pub fn start_with_env(dir: &TestDir, args: &[&str], env: &[(&str, &str)]) -> Server {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        Server::start_os(dir, &args, env)
    }

    /// Like [`Server::start_with_env`], with arguments that need not be UTF-8 (paths).
    pub fn start_os(dir: &TestDir, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Server {
        let n = NEXT_LOG.fetch_add(1, Ordering::SeqCst);
        let log = dir.join(&format!("passenger-{n}.log"));
        let log_file = std::fs::File::create(&log).expect("invariant: test dir is writable");
        let mut cmd = super::passenger(dir);
        cmd.envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let mut guard = ProcGuard::spawn("passenger", &mut cmd, dir);
        let lines = Arc::new(Mutex::new(Vec::new()));
        guard.log = Some(log.clone());
        guard.stdout = Some(lines.clone());

        let stdout = guard
            .child
            .stdout
            .take()
            .expect("invariant: stdout is piped");
        let (tx, rx) = mpsc::channel::<String>();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut all) = keep.lock() {
                    all.push(line.clone());
                }
                // The receiver is gone once the address is known; keep collecting anyway.
                let _ = tx.send(line);
            }
        });

        let limit = Instant::now() + deadline();
        let addr = loop {
            let left = limit.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = parse_accessible_via(&line) {
                        break addr;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "passenger {args:?} printed no 'Accessible via:' line within {:?}",
                    deadline()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = guard.wait_exit(Duration::from_secs(2));
                    panic!("passenger {args:?} closed stdout before listening (exit: {status:?})");
                }
            }
        };
        Server { addr, guard, log }
    }

    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.guard.pid()
    }

    /// Sends `sig` to the server process only (not its group).
    pub fn signal(&self, sig: Signal) {
        self.guard.signal(sig);
    }

    /// Waits up to `timeout` for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.guard.wait_exit(timeout)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Parses `... Accessible via: http://127.0.0.1:PORT/ ...` into the socket address.
pub fn parse_accessible_via(line: &str) -> Option<SocketAddr> {
    let rest = line.split("Accessible via:").nth(1)?.trim();
    let rest = rest.strip_prefix("http://")?;
    let hostport = rest.split('/').next()?;
    hostport.parse().ok()
}
