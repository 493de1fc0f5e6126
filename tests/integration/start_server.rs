//! `start_server` / `passenger start-server`: the Server::Starter-compatible
//! superdaemon, driven with a real Python server program
//! (`tests/fixtures/starter_worker.py`) that serves on the fds of
//! `SERVER_STARTER_PORT`.

use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::process::{pid_alive, ProcGuard};
use crate::support::wait::poll;
use crate::support::{deadline, fixture, passenger, run_with_deadline, wait_until, TestDir};

/// A running `passenger start-server`, its log (stderr) and its files.
struct Starter {
    guard: ProcGuard,
    log: PathBuf,
    status: PathBuf,
    pid_file: PathBuf,
    reports: PathBuf,
}

impl Starter {
    /// Starts `passenger start-server ARGS --status-file --pid-file -- python3 worker`.
    fn start(dir: &TestDir, args: &[&str], env: &[(&str, &str)]) -> Starter {
        let log = dir.join("starter.log");
        let status = dir.join("status");
        let pid_file = dir.join("starter.pid");
        let reports = dir.join("reports");
        std::fs::create_dir_all(&reports).expect("invariant: test dir is writable");
        let mut cmd = passenger(dir);
        cmd.arg("start-server")
            .args(args)
            .arg("--status-file")
            .arg(&status)
            .arg("--pid-file")
            .arg(&pid_file)
            .args(["--", "python3"])
            .arg(fixture("starter_worker.py"))
            .env("REPORT_DIR", &reports)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("starter.out")).expect("invariant: writable"))
            .stderr(std::fs::File::create(&log).expect("invariant: writable"));
        let guard = ProcGuard::spawn("start_server", &mut cmd, dir);
        let s = Starter {
            guard,
            log,
            status,
            pid_file,
            reports,
        };
        s.wait_generations(&[1]);
        // The status file lists a worker once it outlived --interval; its sockets are
        // reported (and its signal handlers set) a little later on a loaded machine.
        let report = s.reports.join("gen-1");
        wait_until("generation 1 reports its sockets", deadline(), || {
            report.exists()
        });
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `(generation, pid)` lines of the status file.
    fn generations(&self) -> Vec<(u64, i32)> {
        read_status(&self.status)
    }

    fn wait_generations(&self, gens: &[u64]) {
        wait_until(
            &format!("the status file lists generations {gens:?}"),
            deadline(),
            || {
                self.generations()
                    .iter()
                    .map(|(g, _)| *g)
                    .collect::<Vec<_>>()
                    == gens
            },
        );
    }

    fn pid_of(&self, gen: u64) -> i32 {
        self.generations()
            .into_iter()
            .find(|(g, _)| *g == gen)
            .map(|(_, p)| p)
            .unwrap_or_else(|| panic!("generation {gen} not in the status file:\n{}", self.log()))
    }

    /// The local address generation `gen` reported for the socket named `name`.
    fn address(&self, gen: u64, name: &str) -> String {
        let path = self.reports.join(format!("gen-{gen}"));
        wait_until(
            &format!("generation {gen} reports its sockets"),
            deadline(),
            || path.exists(),
        );
        let text = std::fs::read_to_string(&path).expect("invariant: report is written by rename");
        text.lines()
            .find_map(|l| {
                let mut parts = l.splitn(3, ' ');
                (parts.next() == Some(name)).then(|| parts.nth(1).unwrap_or_default().to_string())
            })
            .unwrap_or_else(|| panic!("no socket {name} in {text}"))
    }

    fn tcp_addr(&self, gen: u64, name: &str) -> SocketAddr {
        python_addr(&self.address(gen, name))
    }

    fn signal(&self, sig: Signal) {
        self.guard.signal(sig);
    }

    fn stop(&mut self) {
        self.signal(Signal::SIGTERM);
        let status = self
            .guard
            .wait_exit(deadline())
            .expect("start_server stops on SIGTERM");
        assert!(
            status.success(),
            "start_server exit status {status:?}\n{}",
            self.log()
        );
    }
}

/// A socket address as Python prints it: `('127.0.0.1', 41234)`.
fn python_addr(raw: &str) -> SocketAddr {
    let inner = raw.trim_matches(|c| c == '(' || c == ')');
    let (host, port) = inner
        .split_once(", ")
        .unwrap_or_else(|| panic!("not a python address tuple: {raw}"));
    format!("{}:{port}", host.trim_matches('\''))
        .parse()
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn read_status(path: &Path) -> Vec<(u64, i32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (g, p) = l.split_once(':')?;
            Some((g.parse().ok()?, p.parse().ok()?))
        })
        .collect()
}

/// One answer line from a stream socket.
fn ask(mut stream: impl Read) -> String {
    let mut out = String::new();
    stream
        .read_to_string(&mut out)
        .expect("the worker answers and closes");
    out
}

fn ask_tcp(addr: SocketAddr) -> String {
    let s = TcpStream::connect_timeout(&addr, deadline()).expect("connect to the inherited socket");
    s.set_read_timeout(Some(deadline()))
        .expect("invariant: timeout");
    ask(s)
}

fn field<'a>(answer: &'a str, key: &str) -> &'a str {
    answer
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {answer:?}"))
}

fn lines_in_order(log: &str, wanted: &[String]) {
    let mut rest = log;
    for w in wanted {
        match rest.find(w.as_str()) {
            Some(i) => rest = &rest[i + w.len()..],
            None => panic!("log lacks {w:?} (in this order):\n{log}"),
        }
    }
}

#[test]
fn hup_swaps_generations_on_the_same_socket_without_refusing_a_connection() {
    let dir = TestDir::new();
    let mut s = Starter::start(
        &dir,
        &["--port", "127.0.0.1:0", "--interval", "0.5"],
        &[("TERM_DELAY", "0.5")],
    );
    let addr = s.tcp_addr(1, "127.0.0.1:0");
    let first = ask_tcp(addr);
    assert_eq!(field(&first, "gen"), "1");
    let pid1 = s.pid_of(1);
    assert_eq!(field(&first, "pid"), pid1.to_string());

    // Connections keep succeeding through the swap (bounded: at most 10 s of them).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ok, start) = (0, Instant::now());
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && start.elapsed() < Duration::from_secs(10)
            {
                let answer = ask_tcp(addr);
                assert!(answer.starts_with("gen="), "bad answer {answer:?}");
                ok += 1;
            }
            ok
        })
    };
    s.signal(Signal::SIGHUP);
    // The old generation is asked to stop only once the new one is up, and lingers
    // TERM_DELAY: both are listed meanwhile, ascending.
    wait_until("both generations are listed", deadline(), || {
        s.generations().len() == 2
    });
    let both = s.generations();
    assert_eq!(both[0], (1, pid1));
    assert_eq!(both[1].0, 2);
    s.wait_generations(&[2]);
    assert!(!pid_alive(pid1), "the old worker is reaped");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let served = client.join().expect("no connection failed during the swap");
    assert!(served > 0);
    let second = ask_tcp(addr);
    assert_eq!(field(&second, "gen"), "2");
    let pid2 = s.pid_of(2);

    s.stop();
    lines_in_order(
        &s.log(),
        &[
            format!("start_server (pid:{}) starting now...", s.guard.pid()),
            format!("starting new worker {pid1}"),
            "received HUP, spawning a new worker".into(),
            format!("starting new worker {pid2}"),
            format!("new worker is now running, sending TERM to old workers:{pid1}"),
            "killing old workers".into(),
            format!("old worker {pid1} died, status:0"),
            format!("received TERM, sending TERM to all workers:{pid2}"),
            format!("worker {pid2} died, status:0"),
            "exiting".into(),
        ],
    );
    assert!(!s.status.exists(), "the status file is removed at exit");
    assert!(!s.pid_file.exists(), "the pid file is removed at exit");
}

#[test]
fn a_worker_that_fails_to_start_is_retried_while_the_old_one_keeps_serving() {
    let dir = TestDir::new();
    let fail = dir.join("fail");
    let fail_env = fail.display().to_string();
    let mut s = Starter::start(
        &dir,
        // A failing worker must exit within --interval to count as failed: a whole second
        // leaves room for a slow interpreter start on a loaded machine.
        &["--port", "127.0.0.1:0", "--interval", "1"],
        &[("FAIL_FILE", fail_env.as_str())],
    );
    let addr = s.tcp_addr(1, "127.0.0.1:0");
    let pid1 = s.pid_of(1);
    std::fs::write(&fail, "").expect("invariant: writable");
    s.signal(Signal::SIGHUP);
    wait_until("two failed attempts are logged", deadline(), || {
        s.log()
            .matches("seems to have failed to start, exit status:768")
            .count()
            >= 2
    });
    assert_eq!(
        s.generations(),
        vec![(1, pid1)],
        "the old generation stays current"
    );
    assert_eq!(
        field(&ask_tcp(addr), "gen"),
        "1",
        "the old worker keeps serving"
    );
    std::fs::remove_file(&fail).expect("invariant: created above");
    wait_until(
        "a later attempt becomes the only generation",
        deadline(),
        || {
            let g = s.generations();
            g.len() == 1 && g[0].0 >= 4
        },
    );
    let (gen, _) = s.generations()[0];
    // SERVER_STARTER_GENERATION counts every attempt, failed ones too.
    assert_eq!(field(&ask_tcp(addr), "gen"), gen.to_string());
    assert!(!pid_alive(pid1));
    s.stop();
}

#[test]
fn envdir_is_read_again_for_every_generation() {
    let dir = TestDir::new();
    let envdir = dir.join("env");
    std::fs::create_dir_all(&envdir).expect("invariant: writable");
    std::fs::write(envdir.join("FOO"), "one\nignored second line\n").expect("invariant: writable");
    let envdir_arg = envdir.display().to_string();
    let mut s = Starter::start(
        &dir,
        &[
            "--port",
            "127.0.0.1:0",
            "--interval",
            "0.2",
            "--envdir",
            &envdir_arg,
        ],
        &[],
    );
    let addr = s.tcp_addr(1, "127.0.0.1:0");
    assert_eq!(field(&ask_tcp(addr), "foo"), "one");
    std::fs::write(envdir.join("FOO"), "two\n").expect("invariant: writable");
    s.signal(Signal::SIGHUP);
    s.wait_generations(&[2]);
    assert_eq!(
        field(&ask_tcp(addr), "foo"),
        "two",
        "a changed file gives the new value"
    );
    std::fs::remove_file(envdir.join("FOO")).expect("invariant: written above");
    s.signal(Signal::SIGHUP);
    s.wait_generations(&[3]);
    assert_eq!(
        field(&ask_tcp(addr), "foo"),
        "-",
        "a removed file removes the variable"
    );
    s.stop();
}

#[test]
fn kill_old_delay_keeps_the_old_generation_serving_that_long() {
    let dir = TestDir::new();
    let mut s = Starter::start(
        &dir,
        &[
            "--port",
            "127.0.0.1:0",
            "--interval",
            "0.2",
            "--kill-old-delay",
            "2",
        ],
        &[],
    );
    let addr = s.tcp_addr(1, "127.0.0.1:0");
    assert_eq!(
        field(&ask_tcp(addr), "auto"),
        "-/-/2",
        "KILL_OLD_DELAY is exported"
    );
    let pid1 = s.pid_of(1);
    s.signal(Signal::SIGHUP);
    wait_until("the delay is announced", deadline(), || {
        s.log()
            .contains("sleeping 2 secs before killing old workers")
    });
    let announced = Instant::now();
    wait_until("the old worker is gone", deadline(), || !pid_alive(pid1));
    let waited = announced.elapsed();
    assert!(
        waited >= Duration::from_millis(1800),
        "the old worker was signalled after {waited:?}, not after the 2 s delay"
    );
    s.wait_generations(&[2]);
    s.stop();
}

#[test]
fn auto_restart_starts_a_new_generation_on_its_own() {
    let dir = TestDir::new();
    let mut s = Starter::start(
        &dir,
        &[
            "--port",
            "127.0.0.1:0",
            "--interval",
            "0.2",
            "--enable-auto-restart",
            "--auto-restart-interval",
            "1",
            "--kill-old-delay",
            "0",
        ],
        &[],
    );
    let addr = s.tcp_addr(1, "127.0.0.1:0");
    assert_eq!(
        field(&ask_tcp(addr), "auto"),
        "1/1/0",
        "the settings are exported to workers"
    );
    s.wait_generations(&[2]);
    assert!(
        s.log().contains("autorestart triggered (interval=1)"),
        "{}",
        s.log()
    );
    s.stop();
}

#[test]
fn unix_udp_and_numbered_sockets_are_handed_over_and_unix_files_removed() {
    let dir = TestDir::new();
    let sock = dir.join("app.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("invariant: bind stale socket"));
    let sock_arg = sock.display().to_string();
    let mut s = Starter::start(
        &dir,
        &[
            "--port",
            "127.0.0.1:0=9",
            "--port",
            "127.0.0.1:u0",
            "--path",
            &sock_arg,
            "--interval",
            "0.2",
        ],
        &[],
    );
    // The worker writes its report after start_server logs its start: wait for it.
    s.address(1, "127.0.0.1:0");
    let report = std::fs::read_to_string(s.reports.join("gen-1")).expect("invariant: reported");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert!(
        lines[0].starts_with("127.0.0.1:0 9 "),
        "the numbered socket is on fd 9: {report}"
    );
    assert!(
        lines[1].starts_with("127.0.0.1:0 "),
        "UDP has no u in its name: {report}"
    );
    assert!(lines[2].starts_with(&format!("{sock_arg} ")), "{report}");

    let tcp = s.tcp_addr(1, "127.0.0.1:0");
    assert_eq!(field(&ask_tcp(tcp), "gen"), "1");
    let udp_addr = python_addr(lines[1].splitn(3, ' ').nth(2).expect("invariant: address"));
    let udp = UdpSocket::bind("127.0.0.1:0").expect("invariant: bind");
    udp.set_read_timeout(Some(deadline()))
        .expect("invariant: timeout");
    udp.send_to(b"hi", udp_addr).expect("send");
    let mut buf = [0u8; 512];
    let n = udp.recv(&mut buf).expect("the UDP socket answers");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("gen=1 "));

    let mode = std::fs::metadata(&sock)
        .expect("socket exists")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o777,
        "unix sockets are world-connectable, as the original's"
    );
    let unix = UnixStream::connect(&sock).expect("connect unix");
    unix.set_read_timeout(Some(deadline()))
        .expect("invariant: timeout");
    assert_eq!(field(&ask(unix), "gen"), "1");
    s.stop();
    assert!(
        s.log()
            .contains("socket is duplicated to file descriptor 9"),
        "{}",
        s.log()
    );
    assert!(
        s.log()
            .contains(&format!("removing existing socket file:{sock_arg}")),
        "{}",
        s.log()
    );
    assert!(!sock.exists(), "the unix socket file is removed at exit");
}

#[test]
fn a_regular_file_at_a_socket_path_is_refused_and_kept() {
    let dir = TestDir::new();
    let path = dir.write("notes.txt", "mine");
    let out = run_with_deadline(
        &dir,
        passenger(&dir)
            .args(["start-server", "--path"])
            .arg(&path)
            .args(["--", "true"]),
        deadline(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exists and is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), "mine");
}

#[test]
fn int_sends_term_and_custom_signals_are_used() {
    let dir = TestDir::new();
    let mut s = Starter::start(
        &dir,
        &[
            "--port",
            "127.0.0.1:0",
            "--interval",
            "0.2",
            "--signal-on-hup",
            "usr1",
            "--signal-on-term",
            "SIGUSR2",
        ],
        &[("STOP_SIGNAL", "USR1")],
    );
    let pid1 = s.pid_of(1);
    s.signal(Signal::SIGHUP);
    s.wait_generations(&[2]);
    let wanted = format!("worker {pid1} gen=1 got signal {}", Signal::SIGUSR1 as i32);
    let out_path = dir.join("starter.out");
    let read_out = || std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(
        poll(deadline(), || read_out().contains(&wanted)),
        "the old generation gets --signal-on-hup:\n{}",
        read_out()
    );
    let pid2 = s.pid_of(2);
    s.signal(Signal::SIGINT);
    let status = s
        .guard
        .wait_exit(deadline())
        .expect("start_server stops on SIGINT");
    assert!(status.success());
    lines_in_order(
        &s.log(),
        &[
            format!("new worker is now running, sending USR1 to old workers:{pid1}"),
            format!("received INT, sending TERM to all workers:{pid2}"),
            "exiting".into(),
        ],
    );
}

#[test]
fn daemonize_then_stop_and_restart_clients() {
    let dir = TestDir::new();
    let log = dir.join("daemon.log");
    let pid_file = dir.join("d.pid");
    let status = dir.join("d.status");
    let sock = dir.join("d.sock");
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).expect("invariant: writable");
    let out = run_with_deadline(
        &dir,
        passenger(&dir)
            .arg("start-server")
            .args(["--daemonize", "--interval", "0.2", "--log-file"])
            .arg(&log)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg("--status-file")
            .arg(&status)
            .arg("--path")
            .arg(&sock)
            .args(["--", "python3"])
            .arg(fixture("starter_worker.py"))
            .env("REPORT_DIR", &reports),
        deadline(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        sock.exists(),
        "the daemonizing parent does not remove the socket"
    );
    wait_until("the daemon lists generation 1", deadline(), || {
        read_status(&status).iter().map(|(g, _)| *g).eq([1])
    });
    let daemon: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(pid_alive(daemon));
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(daemon))).expect("sid");
    assert_ne!(
        sid,
        nix::unistd::getsid(None).expect("our sid"),
        "the daemon has its own session"
    );

    // --restart waits until the next generation is the only one.
    let restart = run_with_deadline(
        &dir,
        passenger(&dir)
            .args(["start-server", "--restart", "--pid-file"])
            .arg(&pid_file)
            .arg("--status-file")
            .arg(&status),
        deadline(),
    );
    assert!(
        restart.status.success(),
        "{}",
        String::from_utf8_lossy(&restart.stderr)
    );
    assert_eq!(
        read_status(&status)
            .iter()
            .map(|(g, _)| *g)
            .collect::<Vec<_>>(),
        vec![2]
    );

    // --stop accepts --port and ignores it, and returns once the daemon is gone.
    let stop = run_with_deadline(
        &dir,
        passenger(&dir)
            .args(["start-server", "--stop", "--port", "8080", "--pid-file"])
            .arg(&pid_file),
        deadline(),
    );
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let said = String::from_utf8_lossy(&stop.stderr);
    assert!(
        said.contains(&format!("stopping now (pid:{daemon})...")),
        "{said}"
    );
    assert!(
        !pid_alive(daemon),
        "--stop returns only once start_server has exited"
    );
    assert!(!sock.exists() && !pid_file.exists() && !status.exists());
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("received TERM, sending TERM to all workers:"),
        "{logged}"
    );
    assert!(logged.contains("exiting"), "{logged}");
}

#[test]
fn stop_without_a_running_server_signals_nothing() {
    let dir = TestDir::new();
    // A stale pid file naming a live process that is not ours: our own test process.
    let pid_file = dir.write("stale.pid", &format!("{}\n", std::process::id()));
    let out = run_with_deadline(
        &dir,
        passenger(&dir)
            .args(["start-server", "--stop", "--pid-file"])
            .arg(&pid_file),
        deadline(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not running"), "{err}");
    let out = run_with_deadline(
        &dir,
        passenger(&dir).args(["start-server", "--stop"]),
        deadline(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stop option requires --pid-file"));
}

#[test]
fn bad_command_lines_exit_1_with_the_reason() {
    let dir = TestDir::new();
    for (args, says) in [
        (
            &["start-server", "--port", "http", "--", "true"][..],
            "invalid ``port'' value:http",
        ),
        (
            &["start-server", "--port", "0"][..],
            "server program not specified",
        ),
        (
            &["start-server", "--daemonize", "--", "true"][..],
            "--log-file option must be specified together with --daemonize",
        ),
        (
            &["start-server", "--interval", "soon", "--", "true"][..],
            "soon",
        ),
        (
            &["start-server", "--signal-on-hup", "NOPE", "--", "true"][..],
            "invalid signal name for --signal-on-hup: NOPE",
        ),
        (
            &["start-server", "--restart", "--pid-file", "x"][..],
            "--restart option requires --pid-file and --status-file",
        ),
    ] {
        let out = run_with_deadline(&dir, passenger(&dir).args(args), deadline());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    }
}

#[test]
fn the_start_server_name_runs_the_superdaemon() {
    let dir = TestDir::new();
    let links = dir.join("bin");
    let out = run_with_deadline(
        &dir,
        passenger(&dir).arg("install-links").arg(&links),
        deadline(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = links.join("start_server");
    assert!(
        link.symlink_metadata().is_ok(),
        "install-links creates start_server"
    );
    let mut cmd = passenger(&dir);
    let cmd = cmd.arg0("start_server").arg("--version");
    let out = run_with_deadline(&dir, cmd, deadline());
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("0.35 "),
        "the Server::Starter version it follows comes first"
    );
    let out = run_with_deadline(
        &dir,
        passenger(&dir).arg0("start_server").arg("--help"),
        deadline(),
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--kill-old-delay") && help.contains("SERVER_STARTER_PORT"),
        "{help}"
    );
}

/// Runs one scenario under `bin` (Debian's original `start_server`, or ours):
/// start, HUP with a failing then a working new worker, TERM. Returns the log
/// with every number of 3+ digits (pids) replaced by N.
fn scenario_log(dir: &TestDir, bin: &Path, tag: &str) -> String {
    let log = dir.join(&format!("{tag}.log"));
    let status = dir.join(&format!("{tag}.status"));
    let pid_file = dir.join(&format!("{tag}.pid"));
    let fail = dir.join(&format!("{tag}.fail"));
    let mut cmd = std::process::Command::new(bin);
    cmd.arg0("start_server")
        .args(["--port", "127.0.0.1:0", "--interval", "1", "--status-file"])
        .arg(&status)
        .arg("--pid-file")
        .arg(&pid_file)
        .args(["--", "python3"])
        .arg(fixture("starter_worker.py"))
        .env("FAIL_FILE", &fail)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("invariant: writable"));
    let mut guard = ProcGuard::spawn(tag, &mut cmd, dir);
    let gens = || {
        read_status(&status)
            .iter()
            .map(|(g, _)| *g)
            .collect::<Vec<_>>()
    };
    wait_until("generation 1 runs", deadline(), || gens() == [1]);
    std::fs::write(&fail, "").expect("invariant: writable");
    guard.signal(Signal::SIGHUP);
    wait_until("one failed start", deadline(), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("failed to start")
    });
    std::fs::remove_file(&fail).expect("invariant: created above");
    wait_until("a new generation alone", deadline(), || {
        gens().len() == 1 && gens()[0] > 1
    });
    guard.signal(Signal::SIGTERM);
    assert!(guard.wait_exit(deadline()).is_some_and(|s| s.success()));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars().chain(std::iter::once('\n')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        out.push_str(if digits.len() >= 3 { "N" } else { &digits });
        digits.clear();
        out.push(c);
    }
    // The Python worker's own lines are not start_server's.
    out.lines()
        .filter(|l| !l.starts_with("worker N gen="))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn logs_the_same_lines_as_the_original_start_server() {
    let original = Path::new("/usr/bin/start_server");
    assert!(
        original.exists(),
        "Debian's libserver-starter-perl (the original start_server) is needed; tests/run-all installs it"
    );
    let dir = TestDir::new();
    let theirs = scenario_log(&dir, original, "original");
    let ours_bin = std::env::var_os("PASSENGER_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_passenger")));
    let ours = scenario_log(&dir, &ours_bin, "ours");
    assert!(
        theirs.contains("seems to have failed to start, exit status:"),
        "{theirs}"
    );
    assert_eq!(ours, theirs, "ours:\n{ours}\noriginal:\n{theirs}");
}
