//! The watchdog: the process `passenger start` becomes. It binds the listening
//! sockets, creates the instance directory, and runs the core (`passenger __core`) as
//! its child, handing it the sockets. If the core crashes, the watchdog starts a new
//! one within a second on the same sockets and instance directory, so clients queue
//! in the listen backlog instead of seeing "connection refused". If the watchdog dies,
//! the kernel sends the core SIGQUIT (`PR_SET_PDEATHSIG`), and the core stops its apps.
//!
//! The watchdog is single-threaded and has no async runtime: it blocks every signal
//! it handles and waits for them with `sigwait`, which is what keeps the parent-death
//! signal valid (it belongs to the thread that forked) and makes it safe to fork.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use passenger_core::config::{ListenAddr, ServerConfig};
use passenger_core::instance::Instance;
use passenger_core::server::listen;

/// Environment variables through which the watchdog hands things to the core.
pub const ENV_LISTEN_FDS: &str = "PASSENGER_LISTEN_FDS";
/// The fd on which the core writes `ready` once it serves.
pub const ENV_READY_FD: &str = "PASSENGER_READY_FD";
/// The instance directory the core adopts.
pub const ENV_INSTANCE_DIR: &str = "PASSENGER_INSTANCE_DIR";
/// The log file of a daemonized server (the core reopens it by name).
pub const ENV_LOG_FILE: &str = "PASSENGER_CORE_LOG_FILE";

/// A core that crashes sooner than this after starting is restarted after a pause, so
/// a core that cannot start does not spin.
const MIN_CORE_LIFETIME: Duration = Duration::from_secs(1);

/// What the watchdog needs besides the configuration.
pub struct WatchdogOptions {
    /// Arguments for `passenger __core` (the same as those of `passenger start`).
    pub core_args: Vec<OsString>,
    /// The log file the core should write to, when daemonized.
    pub log_file: Option<PathBuf>,
    /// Where to write the watchdog's PID.
    pub pid_file: Option<PathBuf>,
}

/// How the watchdog tells the world that the first core serves.
pub enum Announce {
    /// Print this text (the banner) on stdout.
    Stdout(String),
    /// Write `ready <urls>` on the daemonizing parent's pipe.
    Pipe(OwnedFd, String),
}

const ENV_WD_FDS: &str = "PASSENGER_WD_LISTEN_FDS";
const ENV_WD_LOCK_FD: &str = "PASSENGER_WD_LOCK_FD";
const ENV_WD_ANNOUNCE_FD: &str = "PASSENGER_WD_ANNOUNCE_FD";
const ENV_WD_ANNOUNCE: &str = "PASSENGER_WD_ANNOUNCE";
const ENV_WD_INSTANCE_DIR: &str = "PASSENGER_WD_INSTANCE_DIR";
const ENV_WD_PID_FILE: &str = "PASSENGER_WD_PID_FILE";
const ENV_WD_LOG: &str = "PASSENGER_WD_LOG";
const ENV_WD_CORE_LOG: &str = "PASSENGER_WD_CORE_LOG";
const ENV_WD_LOG_LEVEL: &str = "PASSENGER_WD_LOG_LEVEL";
/// The watchdog's hooks, one variable each: this prefix and the upper-case hook name.
const ENV_WD_HOOK_PREFIX: &str = "PASSENGER_WD_HOOK_";
/// The hooks the watchdog runs (and waits for, at most `hooks::HOOK_TIMEOUT`).
const WATCHDOG_HOOKS: &[&str] = &[
    "before_watchdog_initialization",
    "after_watchdog_initialization",
    "before_watchdog_shutdown",
    "after_watchdog_shutdown",
];

fn hook_env_name(hook: &str) -> String {
    format!("{ENV_WD_HOOK_PREFIX}{}", hook.to_ascii_uppercase())
}

/// The watchdog's own hooks, read from (and then removed from) its environment.
struct WatchdogHooks {
    commands: Vec<(&'static str, String)>,
    instance_dir: String,
}

impl WatchdogHooks {
    fn from_env(instance_dir: &Path) -> WatchdogHooks {
        let commands = WATCHDOG_HOOKS
            .iter()
            .filter_map(|&hook| {
                let var = hook_env_name(hook);
                let cmd = std::env::var(&var).ok()?;
                // Single-threaded here, so changing the environment is safe.
                std::env::remove_var(&var);
                Some((hook, cmd))
            })
            .collect();
        WatchdogHooks {
            commands,
            instance_dir: instance_dir.display().to_string(),
        }
    }

    /// Runs `hook` if configured and waits for it (bounded); a failure is returned
    /// as a message for the log, never fatal.
    fn run(&self, hook: &str) -> Option<String> {
        let (_, cmd) = self.commands.iter().find(|(name, _)| *name == hook)?;
        let env = [
            ("PASSENGER_PID", std::process::id().to_string()),
            ("PASSENGER_INSTANCE_DIR", self.instance_dir.clone()),
        ];
        passenger_core::hooks::run_blocking(hook, cmd, &env, passenger_core::hooks::HOOK_TIMEOUT)
            .err()
            .map(|err| err.to_string())
    }
}

/// Sets up the server (listening sockets, instance directory, PID file) and then
/// replaces this process with the lean watchdog (`passenger __watchdog`), keeping the
/// PID. The watchdog runs for the server's whole life, so it should not keep the code
/// pages that argument parsing and configuration loading touched resident: a fresh
/// image that skips both stays small. `listeners` are [`bind_all`]'s sockets and
/// names; `make_announce` gets the names.
/// Returns only on failure.
pub fn run(
    config: &ServerConfig,
    opts: &WatchdogOptions,
    (listeners, addrs): (Vec<OwnedFd>, Vec<String>),
    make_announce: impl FnOnce(&[String]) -> Announce,
) -> Result<i32> {
    let mut instance = Instance::create(
        config.instance_registry_dir.as_deref(),
        passenger_core::server::instance_properties(config),
    )
    .map_err(|e| anyhow!(e))
    .context("cannot create the instance directory")?;
    instance
        .update_properties(|p| p.listen_addresses = addrs.clone())
        .map_err(|e| anyhow!(e))?;
    if let Some(pid_file) = &opts.pid_file {
        std::fs::write(pid_file, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write PID file {}", pid_file.display()))?;
    }
    let lock = instance
        .lock_file()
        .ok_or_else(|| anyhow!("invariant: a created instance holds its lock"))?
        .as_raw_fd();
    let (announce_fd, announce_text) = match make_announce(&addrs) {
        Announce::Stdout(text) => (None, text),
        Announce::Pipe(fd, text) => (Some(fd), text),
    };
    // Sources first go above every target number, then onto 3.. (dup2 clears
    // close-on-exec on the copies, so exactly these survive the exec).
    let mut sources: Vec<OwnedFd> = listeners
        .iter()
        .map(|fd| dup_high(fd.as_raw_fd()))
        .collect::<Result<_>>()?;
    sources.push(dup_high(lock)?);
    if let Some(fd) = &announce_fd {
        sources.push(dup_high(fd.as_raw_fd())?);
    }
    for (i, src) in sources.iter().enumerate() {
        nix::unistd::dup2(src.as_raw_fd(), 3 + i as RawFd).context("dup2")?;
    }
    let exe = std::env::current_exe().context("cannot find the passenger executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg0("passenger-rs watchdog")
        .arg("__watchdog")
        .args(&opts.core_args)
        .env(ENV_WD_FDS, listeners.len().to_string())
        .env(ENV_WD_LOCK_FD, (3 + listeners.len()).to_string())
        .env(ENV_WD_ANNOUNCE, announce_text)
        .env(ENV_WD_INSTANCE_DIR, instance.path())
        .env(ENV_WD_LOG_LEVEL, config.log_level.to_string());
    if announce_fd.is_some() {
        cmd.env(ENV_WD_ANNOUNCE_FD, (4 + listeners.len()).to_string());
    }
    if let Some(pid_file) = &opts.pid_file {
        cmd.env(ENV_WD_PID_FILE, pid_file);
    }
    if let Some(log) = config.log_file.as_ref().or(opts.log_file.as_ref()) {
        cmd.env(ENV_WD_LOG, log);
    }
    if let Some(log) = &opts.log_file {
        cmd.env(ENV_WD_CORE_LOG, log);
    }
    for hook in WATCHDOG_HOOKS {
        if let Some(command) = config.hooks.command(hook) {
            cmd.env(hook_env_name(hook), command);
        }
    }
    let err = cmd.exec();
    // Still here: the exec failed. Nothing was handed over; clean up as the owner.
    if let Some(pid_file) = &opts.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    drop(instance);
    Err(anyhow!("cannot start the watchdog: {err}"))
}

/// The watchdog's log: Passenger-format lines appended to the log file (or stderr),
/// written directly so that the watchdog needs no logging framework.
struct WatchdogLog {
    file: Option<File>,
    level: u8,
}

impl WatchdogLog {
    fn line(&self, letter: &str, min_level: u8, msg: &str) {
        if self.level < min_level {
            return;
        }
        let text = crate::logging::format_line(letter, "watchdog", msg);
        let _ = match &self.file {
            // `Write` is implemented for `&File`: appends need no exclusive access.
            Some(f) => {
                let mut f = f;
                f.write_all(text.as_bytes())
            }
            None => std::io::stderr().write_all(text.as_bytes()),
        };
    }
    fn notice(&self, msg: &str) {
        self.line("N", 3, msg);
    }
    fn warn(&self, msg: &str) {
        self.line("W", 2, msg);
    }
    fn error(&self, msg: &str) {
        self.line("E", 1, msg);
    }
}

/// `passenger __watchdog`: the lean watchdog `run` turned into. Parses nothing but
/// its environment; returns the exit code.
pub fn lean_main() -> i32 {
    let env = |k: &str| std::env::var_os(k);
    let hooks = WatchdogHooks::from_env(
        &env(ENV_WD_INSTANCE_DIR)
            .map(PathBuf::from)
            .unwrap_or_default(),
    );
    // mod_perl's open_logs phase: before the watchdog opens its log.
    let early_failure = hooks.run("before_watchdog_initialization");
    let log = WatchdogLog {
        file: env(ENV_WD_LOG).and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }),
        level: env(ENV_WD_LOG_LEVEL)
            .and_then(|v| v.to_str().and_then(|v| v.parse().ok()))
            .unwrap_or(3),
    };
    if let Some(msg) = early_failure {
        log.warn(&msg);
    }
    let Some(instance_dir) = env(ENV_WD_INSTANCE_DIR).map(PathBuf::from) else {
        log.error("passenger __watchdog is internal; run `passenger start`");
        return crate::exit::USAGE;
    };
    // `run` put the listening sockets on fds 3.., the instance lock after them and, for a
    // daemon, the startup pipe after that. The numbers come from the environment, so each
    // is checked (open, and a socket for the listeners) before it is adopted.
    let count = env(ENV_WD_FDS)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| "0".to_string());
    let listeners = match listen::adopt_handed_over(ENV_WD_FDS, &count) {
        Ok(fds) => fds,
        Err(err) => {
            log.error(&format!("cannot adopt the listening sockets: {err}"));
            return crate::exit::USAGE;
        }
    };
    let checked_fd = |k: &str| -> Result<Option<RawFd>, String> {
        let Some(v) = env(k) else { return Ok(None) };
        let fd = v
            .to_str()
            .and_then(|v| v.parse::<RawFd>().ok())
            .ok_or_else(|| format!("{k}: {v:?} is not a file descriptor number"))?;
        listen::check_inherited_fd(fd).map_err(|e| format!("{k}: {e}"))?;
        Ok(Some(fd))
    };
    let (lock_fd, announce_raw) = match (checked_fd(ENV_WD_LOCK_FD), checked_fd(ENV_WD_ANNOUNCE_FD))
    {
        (Ok(lock), Ok(announce)) => (lock, announce),
        (Err(e), _) | (_, Err(e)) => {
            log.error(&format!("passenger __watchdog: {e}"));
            return crate::exit::USAGE;
        }
    };
    // SAFETY: checked open just above; `run` handed it to this process alone.
    let lock = lock_fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    // SAFETY: as above.
    let announce_fd = announce_raw.map(|fd| unsafe { File::from_raw_fd(fd) });
    let announce = env(ENV_WD_ANNOUNCE)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The exec cleared close-on-exec on these; set it again so the core (and its
    // apps) inherit none of them: the core gets its sockets through explicit dup2,
    // must not hold the instance lock, and must not keep the startup pipe open.
    let fds = listeners
        .iter()
        .map(|fd| fd.as_raw_fd())
        .chain(lock.as_ref().map(|fd| fd.as_raw_fd()))
        .chain(announce_fd.as_ref().map(|f| f.as_raw_fd()));
    for fd in fds {
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
    let pid_file = env(ENV_WD_PID_FILE).map(PathBuf::from);
    // systemd's readiness socket is the watchdog's (the main pid's) alone.
    let notify_var = passenger_core::server::notify::NOTIFY_SOCKET;
    let notifier = passenger_core::server::notify::Notifier::new(env(notify_var).as_deref())
        .unwrap_or_else(|e| {
            log.warn(&format!("ignoring {notify_var}: {e}"));
            Default::default()
        });
    std::env::remove_var(notify_var);
    let opts = WatchdogOptions {
        core_args: std::env::args_os().skip(2).collect(),
        log_file: env(ENV_WD_CORE_LOG).map(PathBuf::from),
        pid_file: pid_file.clone(),
    };
    for var in [
        ENV_WD_FDS,
        ENV_WD_LOCK_FD,
        ENV_WD_ANNOUNCE_FD,
        ENV_WD_ANNOUNCE,
        ENV_WD_INSTANCE_DIR,
        ENV_WD_PID_FILE,
        ENV_WD_LOG,
        ENV_WD_CORE_LOG,
        ENV_WD_LOG_LEVEL,
    ] {
        // Single-threaded here, so changing the environment is safe.
        std::env::remove_var(var);
    }

    // A child subreaper: an app's descendant that leaves its process group (setsid) and
    // loses its parent is re-parented to us, not to init, so the stop below still reaches
    // it. Everything re-parented here descends from a core we started: it is ours.
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        log.warn(&format!(
            "cannot become a child subreaper: {}; an app's detached descendants may outlive a stop",
            std::io::Error::last_os_error()
        ));
    }

    let mut pipe = announce_fd;
    let result = supervise(
        &listeners,
        &instance_dir,
        &opts,
        &log,
        &notifier,
        &hooks,
        |_| match pipe.take() {
            Some(mut f) => {
                let _ = f.write_all(announce.as_bytes());
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(announce.as_bytes());
                let _ = out.flush();
            }
        },
    );
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            let msg = format!("{err:#}");
            log.error(&msg);
            match pipe.take() {
                Some(mut f) => {
                    let _ = writeln!(f, "error {msg}");
                }
                None => eprintln!("passenger: {msg}"),
            }
            crate::exit::FAILURE
        }
    };
    if let Some(pid_file) = &pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    // As the owner would: unmark, remove, and only then release the lock.
    let _ = std::fs::remove_file(instance_dir.join("creation_finalized"));
    if let Err(err) = std::fs::remove_dir_all(&instance_dir) {
        if err.kind() != std::io::ErrorKind::NotFound {
            log.warn(&format!(
                "cannot remove the instance directory {}: {err}",
                instance_dir.display()
            ));
        }
    }
    drop(lock);
    code
}

fn supervise(
    listeners: &[OwnedFd],
    instance_dir: &Path,
    opts: &WatchdogOptions,
    log: &WatchdogLog,
    notifier: &passenger_core::server::notify::Notifier,
    hooks: &WatchdogHooks,
    on_ready: impl FnOnce(&[String]),
) -> Result<i32> {
    let tell = |state: String| {
        if let Err(e) = notifier.notify(&state) {
            log.warn(&format!("cannot notify the service manager: {e}"));
        }
    };
    let run_hook = |hook: &str| {
        if let Some(msg) = hooks.run(hook) {
            log.warn(&msg);
        }
    };
    let mut signals = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
    ] {
        signals.add(sig);
    }
    signals.thread_block().context("cannot block signals")?;
    // mod_perl's post_config phase: set up, and no app process exists yet.
    run_hook("after_watchdog_initialization");
    let result = run_cores(
        listeners,
        instance_dir,
        opts,
        (log, hooks, &tell),
        signals,
        on_ready,
    );
    stop_adopted_orphans(log);
    // However the last core ended (stopped by a signal, exited by itself, or never
    // came up): it is gone, and so is every app process.
    run_hook("after_watchdog_shutdown");
    result
}

/// Runs the core (and its replacements after a crash or an upgrade) until it stops;
/// returns the watchdog's exit code.
fn run_cores(
    listeners: &[OwnedFd],
    instance_dir: &Path,
    opts: &WatchdogOptions,
    (log, hooks, tell): (&WatchdogLog, &WatchdogHooks, &dyn Fn(String)),
    signals: SigSet,
    on_ready: impl FnOnce(&[String]),
) -> Result<i32> {
    let run_hook = |hook: &str| {
        if let Some(msg) = hooks.run(hook) {
            log.warn(&msg);
        }
    };
    // The path this image was started from: a core upgrade (SIGUSR2) runs whatever
    // binary is at that path by then, even after the file was replaced.
    let exe = std::env::current_exe().context("cannot find the passenger executable")?;
    let (mut core, ready) = spawn_core(&exe, listeners, instance_dir, opts, true)?;
    let mut started = Instant::now();
    if let Some(ready) = ready {
        let mut report = String::new();
        let _ = File::from(ready).read_to_string(&mut report);
        if !report.starts_with("ready") {
            let status = core.wait().ok();
            bail!(
                "the core exited during startup ({}); see the log above",
                status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown status".into())
            );
        }
    }
    on_ready(&[]);
    tell(format!(
        "READY=1\nSTATUS=Passenger core (pid={}) serving\nMAINPID={}",
        core.id(),
        std::process::id()
    ));

    let mut stopping = false;
    loop {
        let sig = signals.wait().context("sigwait")?;
        match sig {
            Signal::SIGCHLD => {
                let Some(status) = reap(core.id())? else {
                    continue;
                };
                if stopping {
                    log.notice(&format!(
                        "Passenger core (pid={}) stopped: {}",
                        core.id(),
                        describe(&status)
                    ));
                    return Ok(crate::exit::OK);
                }
                if matches!(status, WaitStatus::Exited(_, 0)) {
                    log.notice(&format!(
                        "Passenger core (pid={}) exited; stopping",
                        core.id()
                    ));
                    return Ok(crate::exit::OK);
                }
                log.error(&format!(
                    "Passenger core (pid={}) crashed with {}, restarting it...",
                    core.id(),
                    describe(&status)
                ));
                if started.elapsed() < MIN_CORE_LIFETIME {
                    std::thread::sleep(MIN_CORE_LIFETIME - started.elapsed());
                }
                let (next, _) = spawn_core(&exe, listeners, instance_dir, opts, false)?;
                core = next;
                started = Instant::now();
                tell(format!(
                    "STATUS=Passenger core restarted after a crash (pid={})",
                    core.id()
                ));
            }
            Signal::SIGUSR2 if !stopping => {
                if let Some(next) = upgrade(&exe, &core, listeners, instance_dir, opts, log)? {
                    core = next;
                    started = Instant::now();
                    tell(format!(
                        "STATUS=Passenger core upgraded (pid={})",
                        core.id()
                    ));
                }
            }
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => {
                if !stopping {
                    run_hook("before_watchdog_shutdown");
                    tell("STOPPING=1\nSTATUS=Stopping: draining requests".to_string());
                }
                stopping = true;
                forward(&core, sig, log);
            }
            other => forward(&core, other, log),
        }
    }
}

/// A core upgrade (SIGUSR2): starts a new core from the binary on disk on the same
/// listening sockets and instance directory; once it reports ready, the old core
/// gets SIGTERM and drains its in-flight requests while the new one takes new
/// connections. Returns the new core, or `None` (old core kept) when the new one
/// could not start. The old core, once it exits, is reaped like any other child.
fn upgrade(
    exe: &Path,
    old: &Child,
    listeners: &[OwnedFd],
    instance_dir: &Path,
    opts: &WatchdogOptions,
    log: &WatchdogLog,
) -> Result<Option<Child>> {
    log.notice(&format!(
        "Upgrading the Passenger core (pid={}): starting {}",
        old.id(),
        exe.display()
    ));
    let (mut next, ready) = spawn_core(exe, listeners, instance_dir, opts, true)?;
    let mut report = String::new();
    if let Some(ready) = ready {
        let _ = File::from(ready).read_to_string(&mut report);
    }
    if !report.starts_with("ready") {
        let status = next.wait().ok();
        log.error(&format!(
            "The new core exited during startup ({}); the old core (pid={}) keeps serving",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown status".into()),
            old.id()
        ));
        return Ok(None);
    }
    log.notice(&format!(
        "New Passenger core (pid={}) serves; the old one (pid={}) drains and exits",
        next.id(),
        old.id()
    ));
    forward(old, Signal::SIGTERM, log);
    Ok(Some(next))
}

fn forward(core: &Child, sig: Signal, log: &WatchdogLog) {
    if let Err(err) = kill(Pid::from_raw(core.id() as i32), sig) {
        log.warn(&format!(
            "cannot send {sig} to the core (pid={}): {err}",
            core.id()
        ));
    }
}

/// Reaps every exited child; returns the core's status if it was among them.
fn reap(core: u32) -> Result<Option<WaitStatus>> {
    let mut core_status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(core_status),
            Ok(status) => {
                if status.pid() == Some(Pid::from_raw(core as i32)) {
                    core_status = Some(status);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(anyhow!("waitpid: {err}")),
        }
    }
}

/// Stops what is left of the apps once the last core is gone: the processes re-parented
/// to us as the child subreaper (an app's descendants that escaped its process group).
/// Only our own children are looked at, so only descendants of our cores are signalled:
/// SIGTERM, up to 2 s to exit, then SIGKILL; all reaped.
fn stop_adopted_orphans(log: &WatchdogLog) {
    let me = std::process::id() as i32;
    let children = || -> Vec<i32> {
        let Ok(procs) = procfs::process::all_processes() else {
            return Vec::new();
        };
        procs
            .flatten()
            .filter_map(|p| p.stat().ok())
            .filter(|st| st.ppid == me)
            .map(|st| st.pid)
            .collect()
    };
    let reap_all = || {
        while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if s == WaitStatus::StillAlive {
                break;
            }
        }
    };
    reap_all();
    let orphans = children();
    if orphans.is_empty() {
        return;
    }
    log.notice(&format!(
        "stopping {} process(es) an app left behind: {orphans:?}",
        orphans.len()
    ));
    for &pid in &orphans {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        reap_all();
        if children().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for pid in children() {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline && !children().is_empty() {
        reap_all();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("signal {}", sig.as_str()),
        other => format!("{other:?}"),
    }
}

/// Starts `passenger __core` with the listeners on fds 3.., the ready pipe after
/// them, and every signal unblocked.
fn spawn_core(
    exe: &Path,
    listeners: &[OwnedFd],
    instance_dir: &Path,
    opts: &WatchdogOptions,
    want_ready: bool,
) -> Result<(Child, Option<OwnedFd>)> {
    // Sources are duplicated above any target number first, so that the dup2 calls
    // in the child never overwrite a source they still need.
    let high: Vec<OwnedFd> = listeners
        .iter()
        .map(|fd| dup_high(fd.as_raw_fd()))
        .collect::<Result<_>>()?;
    let (ready_read, ready_write) = if want_ready {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
        (Some(r), Some(dup_high(w.as_raw_fd())?))
    } else {
        (None, None)
    };
    let sources: Vec<RawFd> = high
        .iter()
        .chain(ready_write.iter())
        .map(|fd| fd.as_raw_fd())
        .collect();
    let mut cmd = Command::new(exe);
    cmd.arg0("passenger-rs core")
        .arg("__core")
        .args(&opts.core_args)
        .env(ENV_LISTEN_FDS, listeners.len().to_string())
        .env(ENV_INSTANCE_DIR, instance_dir);
    if ready_write.is_some() {
        cmd.env(ENV_READY_FD, (3 + listeners.len()).to_string());
    } else {
        cmd.env_remove(ENV_READY_FD);
    }
    if let Some(log) = &opts.log_file {
        cmd.env(ENV_LOG_FILE, log);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only makes async-signal-safe calls (dup2, sigprocmask,
    // prctl, getppid, _exit) on values computed before fork.
    unsafe {
        cmd.pre_exec(move || {
            for (i, src) in sources.iter().enumerate() {
                if libc::dup2(*src, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("cannot start the core")?;
    drop(high);
    drop(ready_write);
    Ok((child, ready_read))
}

fn dup_high(fd: RawFd) -> Result<OwnedFd> {
    let new = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(64)).context("dup")?;
    // SAFETY: fcntl just returned this new descriptor, which nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Binds every address; returns the sockets and their `http://…` / `unix:…` names.
pub fn bind_all(addrs: &[ListenAddr]) -> Result<(Vec<OwnedFd>, Vec<String>)> {
    let mut fds = Vec::new();
    let mut names = Vec::new();
    for addr in addrs {
        let fd = listen::bind_listen_addr(addr).context("cannot listen")?;
        // The socket's own address: port 0 became a real port.
        let bound = listen::describe_listener(&fd).context("cannot listen")?;
        names.push(listen::listen_url(&bound));
        fds.push(fd);
    }
    Ok((fds, names))
}

/// In the core: takes the listeners, ready fd and instance directory the watchdog
/// handed over, and removes the variables so app processes do not inherit them.
pub fn take_inheritance() -> Result<(
    passenger_core::server::Inherited,
    Option<File>,
    Option<PathBuf>,
)> {
    let listeners = match std::env::var(ENV_LISTEN_FDS) {
        Ok(v) => Some(listen::adopt_handed_over(ENV_LISTEN_FDS, &v)?),
        Err(_) => None,
    };
    let ready = match std::env::var(ENV_READY_FD) {
        Ok(v) => {
            let fd: RawFd = v
                .parse()
                .map_err(|_| anyhow!("bad {ENV_READY_FD}: {v:?}"))?;
            listen::check_inherited_fd(fd).map_err(|e| anyhow!("{ENV_READY_FD}: {e}"))?;
            // SAFETY: checked open above; the watchdog passed the write end of its
            // ready pipe on this fd, and nothing else in this process owns it.
            Some(unsafe { File::from_raw_fd(fd) })
        }
        Err(_) => None,
    };
    let instance_dir = std::env::var_os(ENV_INSTANCE_DIR).map(PathBuf::from);
    let log_file = std::env::var_os(ENV_LOG_FILE).map(PathBuf::from);
    for var in [ENV_LISTEN_FDS, ENV_READY_FD, ENV_INSTANCE_DIR, ENV_LOG_FILE] {
        // The core is still single-threaded here, so changing the environment is safe.
        std::env::remove_var(var);
    }
    Ok((
        passenger_core::server::Inherited {
            listeners,
            instance_dir,
        },
        ready,
        log_file,
    ))
}
