//! The generation loop of `start_server`.
//!
//! Owns: the superdaemon's process-wide state after setup (bound sockets, the base
//! environment, the signal set it waits on, the current worker and the old
//! generations still alive) and the order of events Server::Starter defines:
//! a new worker counts as started only if it is alive after `--interval`; only
//! then do old workers get `--signal-on-hup` (after `--kill-old-delay`); SIGTERM
//! or SIGINT forwards a signal to every worker, waits for them and exits.
//!
//! Every pid this loop signals is a child it forked and has not reaped yet, so a
//! recycled pid can never be signalled by mistake.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;

use super::{parse_signal, signal_name, Sockets, StarterError, StarterOptions};

/// Default of `--interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default of `AUTO_RESTART_INTERVAL` when auto restart is on.
const DEFAULT_AUTO_RESTART_INTERVAL: u64 = 360;
/// Default of `KILL_OLD_DELAY` when auto restart is on (0 otherwise).
const AUTO_RESTART_KILL_OLD_DELAY: u64 = 5;
/// How often the loop wakes to check the auto-restart clock (the original's alarm).
const AUTO_RESTART_TICK: Duration = Duration::from_secs(1);

/// The superdaemon after setup: sockets bound, output redirected to the log.
/// [`Prepared::run`] is the generation loop. Dropping it removes the unix socket
/// files and the status file it created.
pub struct Prepared {
    command: Vec<OsString>,
    dir: Option<PathBuf>,
    interval: Duration,
    signal_on_hup: Signal,
    signal_on_term: Signal,
    pid_file: Option<PathBuf>,
    status_file: Option<PathBuf>,
    status_created: bool,
    sockets: Sockets,
    /// The environment every worker starts from, before the envdir.
    base_env: BTreeMap<OsString, OsString>,
    /// The log pipe's reader, when `--log-file` is `| command`.
    log_pipe: Option<Child>,
    /// SIGINT, SIGTERM, SIGHUP, SIGCHLD: blocked, and waited for.
    signal_set: SigSet,
    /// Signals received and not yet acted on, oldest first.
    received: VecDeque<Signal>,
    generation: u64,
    current: Option<(Pid, u64)>,
    /// Old generations still alive: pid → generation.
    old: BTreeMap<i32, u64>,
    last_restart: Instant,
}

impl Prepared {
    /// Sets the superdaemon up as the original does, in its order: environment,
    /// log file, the `starting now` line (still on the original stderr), sockets,
    /// then stdout and stderr to the log. `log` is where our lines go (stderr).
    pub fn prepare(opts: StarterOptions, log: &mut dyn Write) -> Result<Prepared, StarterError> {
        let signal_on_hup = parse_signal(
            "signal-on-hup",
            opts.signal_on_hup.as_deref().unwrap_or("TERM"),
        )?;
        let signal_on_term = parse_signal(
            "signal-on-term",
            opts.signal_on_term.as_deref().unwrap_or("TERM"),
        )?;
        let mut base_env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        let mut set = |k: &str, v: OsString| {
            base_env.insert(OsString::from(k), v);
        };
        if let Some(d) = &opts.envdir {
            set("ENVDIR", d.clone().into_os_string());
        }
        if opts.enable_auto_restart {
            set("ENABLE_AUTO_RESTART", "1".into());
        }
        if let Some(n) = opts.kill_old_delay {
            set("KILL_OLD_DELAY", n.to_string().into());
        }
        if let Some(n) = opts.auto_restart_interval {
            set("AUTO_RESTART_INTERVAL", n.to_string().into());
        }

        let (log_fd, log_pipe) = match &opts.log_file {
            Some(spec) => {
                let (fd, child) = open_log(spec)?;
                (Some(fd), child)
            }
            None => (None, None),
        };

        let _ = writeln!(
            log,
            "start_server (pid:{}) starting now...",
            std::process::id()
        );
        let backlog = opts.backlog.filter(|b| *b > 0).unwrap_or(libc::SOMAXCONN);
        let sockets = Sockets::bind(&opts, backlog, log)?;

        let mut signal_set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGCHLD,
        ] {
            signal_set.add(s);
        }
        signal_set
            .thread_block()
            .map_err(|e| StarterError::io("cannot block signals")(e.into()))?;

        if let Some(fd) = log_fd {
            let _ = log.flush();
            for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
                // SAFETY: replaces stdout/stderr with the log, as the original does
                // once setup is complete; `fd` stays valid across the calls.
                if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
                    return Err(StarterError::io("failed to dup STDOUT/STDERR to the log")(
                        std::io::Error::last_os_error(),
                    ));
                }
            }
        }

        Ok(Prepared {
            command: opts.command,
            dir: opts.dir,
            interval: opts.interval.unwrap_or(DEFAULT_INTERVAL),
            signal_on_hup,
            signal_on_term,
            pid_file: opts.pid_file,
            status_file: opts.status_file,
            status_created: false,
            sockets,
            base_env,
            log_pipe,
            signal_set,
            received: VecDeque::new(),
            generation: 0,
            current: None,
            old: BTreeMap::new(),
            last_restart: Instant::now(),
        })
    }

    /// True when a socket was put on fd 0, so a daemon must keep its stdin.
    pub fn socket_on_stdin(&self) -> bool {
        self.sockets.bound.iter().any(|(_, fd)| fd.as_raw_fd() == 0)
    }

    /// Writes the pid file, starts the first worker and runs the generation loop
    /// until SIGTERM or SIGINT has stopped every worker.
    pub fn run(mut self, log: &mut dyn Write) -> Result<(), StarterError> {
        let pid_file = match &self.pid_file {
            Some(path) => Some((path.clone(), write_pid_file(path)?)),
            None => None,
        };
        let result = self.generations(log);
        if let Some((path, file)) = pid_file {
            if let Err(e) = std::fs::remove_file(&path) {
                let _ = writeln!(log, "failed to unlink file:{}:{e}", path.display());
            }
            drop(file);
        }
        result
    }

    fn generations(&mut self, log: &mut dyn Write) -> Result<(), StarterError> {
        let mut env = self.effective_env();
        self.start_worker(&env, log)?;
        loop {
            let died = self.wait(auto_restart_on(&env));
            env = self.effective_env();
            if auto_restart_on(&env)
                && !self
                    .base_env
                    .contains_key(OsStr::new("AUTO_RESTART_INTERVAL"))
            {
                self.base_env.insert(
                    "AUTO_RESTART_INTERVAL".into(),
                    DEFAULT_AUTO_RESTART_INTERVAL.to_string().into(),
                );
                env = self.effective_env();
            }
            if let Some((pid, status)) = died {
                if self.current.map(|(p, _)| p.as_raw()) == Some(pid) {
                    let _ = writeln!(
                        log,
                        "worker {pid} died unexpectedly with status:{status}, restarting"
                    );
                    self.start_worker(&env, log)?;
                } else if self.old.remove(&pid).is_some() {
                    let _ = writeln!(log, "old worker {pid} died, status:{status}");
                    self.update_status(log);
                }
            }
            let mut restart = false;
            if let Some(sig) = self.received.pop_front() {
                if sig == Signal::SIGHUP {
                    let _ = writeln!(log, "received HUP, spawning a new worker");
                    restart = true;
                } else {
                    self.cleanup(sig, log);
                    return Ok(());
                }
            }
            if !restart && auto_restart_on(&env) {
                let interval =
                    env_u64(&env, "AUTO_RESTART_INTERVAL").unwrap_or(DEFAULT_AUTO_RESTART_INTERVAL);
                let elapsed = self.last_restart.elapsed().as_secs();
                if elapsed >= interval && self.old.is_empty() {
                    let _ = writeln!(log, "autorestart triggered (interval={interval})");
                    restart = true;
                } else if elapsed >= interval.saturating_mul(2) {
                    let _ = writeln!(log, "autorestart triggered (forced, interval={interval})");
                    restart = true;
                }
            }
            if restart {
                if let Some((pid, gen)) = self.current {
                    self.old.insert(pid.as_raw(), gen);
                }
                self.start_worker(&env, log)?;
                let olds = self.old_list();
                let _ = writeln!(
                    log,
                    "new worker is now running, sending {} to old workers:{}",
                    signal_name(self.signal_on_hup),
                    if olds.is_empty() {
                        "none".to_string()
                    } else {
                        olds
                    }
                );
                let delay = env_u64(&env, "KILL_OLD_DELAY").unwrap_or(if auto_restart_on(&env) {
                    AUTO_RESTART_KILL_OLD_DELAY
                } else {
                    0
                });
                if delay != 0 {
                    let _ = writeln!(log, "sleeping {delay} secs before killing old workers");
                    self.sleep_collecting(Duration::from_secs(delay), false);
                }
                let _ = writeln!(log, "killing old workers");
                for pid in self.old.keys() {
                    let _ = nix::sys::signal::kill(Pid::from_raw(*pid), self.signal_on_hup);
                }
            }
        }
    }

    /// Starts workers until one is still alive after `--interval` (or a stop signal
    /// came in meanwhile), then records it as the current generation.
    fn start_worker(
        &mut self,
        env: &BTreeMap<OsString, OsString>,
        log: &mut dyn Write,
    ) -> Result<(), StarterError> {
        let pid = loop {
            self.generation += 1;
            let pid = self.spawn(env)?;
            let _ = writeln!(log, "starting new worker {pid}");
            self.sleep_collecting(self.interval, true);
            // A pending stop ends the retries; the worker, alive or not, is left
            // unreaped for the main loop, which reports it.
            if self.received.iter().any(|s| *s != Signal::SIGHUP) {
                break pid;
            }
            match reap(Some(pid)) {
                Some((_, status)) => {
                    let _ = writeln!(
                        log,
                        "new worker {pid} seems to have failed to start, exit status:{status}"
                    );
                }
                None => break pid,
            }
        };
        self.current = Some((pid, self.generation));
        self.last_restart = Instant::now();
        self.update_status(log);
        Ok(())
    }

    /// Forks and execs the server program with the sockets and the generation.
    fn spawn(&self, env: &BTreeMap<OsString, OsString>) -> Result<Pid, StarterError> {
        let to_c = |s: &OsStr| CString::new(s.as_bytes()).ok();
        let argv: Vec<CString> = self.command.iter().filter_map(|a| to_c(a)).collect();
        if argv.is_empty() || argv.len() != self.command.len() {
            return Err(StarterError::Usage("server program not specified".into()));
        }
        let mut envp: Vec<CString> = Vec::with_capacity(env.len() + 2);
        let mut push = |k: &OsStr, v: &OsStr| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            if let Ok(c) = CString::new(kv) {
                envp.push(c);
            }
        };
        let port = self.sockets.env_value();
        let generation = self.generation.to_string();
        for (k, v) in env {
            if k != "SERVER_STARTER_PORT" && k != "SERVER_STARTER_GENERATION" {
                push(k, v);
            }
        }
        push(OsStr::new("SERVER_STARTER_PORT"), OsStr::new(&port));
        push(
            OsStr::new("SERVER_STARTER_GENERATION"),
            OsStr::new(&generation),
        );
        let dir = match &self.dir {
            Some(d) => Some(CString::new(d.as_os_str().as_bytes()).map_err(|_| {
                StarterError::Usage(format!("--dir {} contains a NUL byte", d.display()))
            })?),
            None => None,
        };
        let chdir_failed = format!(
            "failed to chdir:{}:",
            self.dir
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        );
        let exec_failed = format!("failed to exec {}:", self.command[0].to_string_lossy());

        // SAFETY: this process is single-threaded (the supervisor keeps no other
        // thread), so the child may run ordinary code until exec.
        match unsafe { nix::unistd::fork() } {
            Err(e) => Err(StarterError::io("fork(2) failed")(e.into())),
            Ok(nix::unistd::ForkResult::Parent { child }) => Ok(child),
            Ok(nix::unistd::ForkResult::Child) => {
                let _ = nix::sys::signal::sigprocmask(
                    SigmaskHow::SIG_SETMASK,
                    Some(&SigSet::empty()),
                    None,
                );
                if let Some(dir) = &dir {
                    if let Err(e) = nix::unistd::chdir(dir.as_c_str()) {
                        child_fail(&chdir_failed, e);
                    }
                }
                let e = nix::unistd::execvpe(&argv[0], &argv, &envp).unwrap_err();
                child_fail(&exec_failed, e)
            }
        }
    }

    /// Waits for a child to exit or a signal to arrive, as the original's `wait`:
    /// without blocking when signals are pending, and waking every second when
    /// auto restart is on.
    fn wait(&mut self, auto_restart: bool) -> Option<(i32, i32)> {
        if !self.received.is_empty() {
            return reap(None);
        }
        let deadline = auto_restart.then(|| Instant::now() + AUTO_RESTART_TICK);
        loop {
            if let Some(r) = reap(None) {
                return Some(r);
            }
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if timeout == Some(Duration::ZERO) {
                return None;
            }
            match self.next_signal(timeout) {
                Some(Signal::SIGCHLD) | None => continue,
                Some(sig) => {
                    self.received.push_back(sig);
                    return None;
                }
            }
        }
    }

    /// Sleeps `how_long`, queueing the signals that come in; with `stop_early`, a
    /// stop signal (anything but SIGHUP) ends the sleep.
    fn sleep_collecting(&mut self, how_long: Duration, stop_early: bool) {
        let deadline = Instant::now() + how_long;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next_signal(Some(left)) {
                Some(Signal::SIGCHLD) | None => {}
                Some(sig) => {
                    self.received.push_back(sig);
                    if stop_early && sig != Signal::SIGHUP {
                        return;
                    }
                }
            }
        }
    }

    /// The next blocked signal, waiting at most `timeout` (forever with `None`).
    fn next_signal(&self, timeout: Option<Duration>) -> Option<Signal> {
        let set: &libc::sigset_t = self.signal_set.as_ref();
        let n = match timeout {
            Some(d) => {
                let ts = libc::timespec {
                    tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                };
                // SAFETY: `set` and `ts` are valid for the call; no siginfo is asked for.
                unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) }
            }
            // SAFETY: as above.
            None => unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) },
        };
        (n > 0).then(|| Signal::try_from(n).ok()).flatten()
    }

    /// SIGTERM or SIGINT: every worker gets a signal, we wait for all, then exit.
    fn cleanup(&mut self, sig: Signal, log: &mut dyn Write) {
        let term = if sig == Signal::SIGTERM {
            self.signal_on_term
        } else {
            Signal::SIGTERM
        };
        if let Some((pid, gen)) = self.current.take() {
            self.old.insert(pid.as_raw(), gen);
        }
        let _ = writeln!(
            log,
            "received {}, sending {} to all workers:{}",
            signal_name(sig),
            signal_name(term),
            self.old_list()
        );
        for pid in self.old.keys() {
            let _ = nix::sys::signal::kill(Pid::from_raw(*pid), term);
        }
        while !self.old.is_empty() {
            let mut status = 0;
            // SAFETY: plain blocking waitpid on our own children.
            let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
            if pid < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            if self.old.remove(&pid).is_some() {
                let _ = writeln!(log, "worker {pid} died, status:{status}");
                self.update_status(log);
            }
        }
        let _ = writeln!(log, "exiting");
    }

    fn old_list(&self) -> String {
        self.old
            .keys()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Rewrites the status file: one `generation:pid` line per live generation,
    /// in ascending order (temp file + rename, so readers never see half of it).
    fn update_status(&mut self, log: &mut dyn Write) {
        let Some(path) = &self.status_file else {
            return;
        };
        let mut gens: BTreeMap<u64, i32> = self.old.iter().map(|(pid, gen)| (*gen, *pid)).collect();
        if let Some((pid, gen)) = self.current {
            gens.insert(gen, pid.as_raw());
        }
        let body: String = gens.iter().map(|(g, p)| format!("{g}:{p}\n")).collect();
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let written = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, path));
        match written {
            Ok(()) => self.status_created = true,
            Err(e) => {
                let _ = writeln!(
                    log,
                    "failed to update the status file {}:{e}",
                    path.display()
                );
            }
        }
    }

    /// The base environment with the envdir's files on top.
    fn effective_env(&self) -> BTreeMap<OsString, OsString> {
        let mut env = self.base_env.clone();
        if let Some(dir) = env.get(OsStr::new("ENVDIR")).cloned() {
            env.extend(read_envdir(&PathBuf::from(dir)));
        }
        env
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        self.sockets.remove_unix_files();
        if self.status_created {
            if let Some(path) = &self.status_file {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(mut child) = self.log_pipe.take() {
            // Our stdout/stderr still feed the pipe; the logger sees EOF once we exit.
            let _ = child.try_wait();
        }
    }
}

/// In a forked child: says why it failed and exits 255, as the original.
fn child_fail(prefix: &str, e: nix::Error) -> ! {
    let msg = format!("{prefix}{}\n", std::io::Error::from(e));
    // SAFETY: writing to stderr and exiting without running the parent's destructors.
    unsafe {
        libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len());
        libc::_exit(255)
    }
}

/// Reaps one exited child (`None`: any) without blocking: `(pid, raw wait status)`.
fn reap(pid: Option<Pid>) -> Option<(i32, i32)> {
    let mut status = 0;
    // SAFETY: waitpid with WNOHANG on our own children.
    let r = unsafe { libc::waitpid(pid.map_or(-1, Pid::as_raw), &mut status, libc::WNOHANG) };
    (r > 0).then_some((r, status))
}

fn auto_restart_on(env: &BTreeMap<OsString, OsString>) -> bool {
    // Perl truth: unset, "" and "0" are false.
    env.get(OsStr::new("ENABLE_AUTO_RESTART"))
        .is_some_and(|v| !v.is_empty() && v != "0")
}

fn env_u64(env: &BTreeMap<OsString, OsString>, key: &str) -> Option<u64> {
    env.get(OsStr::new(key))
        .and_then(|v| v.to_str())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads an envdir: each file not starting with `.` sets the variable of its name to
/// its first line. An empty file sets nothing; an unreadable one is skipped.
pub(super) fn read_envdir(dir: &std::path::Path) -> BTreeMap<OsString, OsString> {
    let mut env = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return env;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        let line = bytes
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default()
            .to_vec();
        env.insert(name, OsString::from_vec(line));
    }
    env
}

/// Opens `--log-file`: appends to a file, or pipes into `| command` (run by
/// `/bin/sh -c`).
fn open_log(spec: &str) -> Result<(OwnedFd, Option<Child>), StarterError> {
    let trimmed = spec.trim_start();
    if let Some(cmd) = trimmed.strip_prefix('|') {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd.trim_start())
            .stdin(Stdio::piped())
            .spawn()
            .map_err(StarterError::io(format!("failed to open pipe:{spec}")))?;
        let stdin = child
            .stdin
            .take()
            .expect("invariant: stdin was asked to be piped");
        Ok((OwnedFd::from(stdin), Some(child)))
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec)
            .map_err(StarterError::io(format!("failed to open log file:{spec}")))?;
        Ok((OwnedFd::from(file), None))
    }
}

/// Creates the pid file, locks it for our lifetime (so `--stop` can wait for the
/// lock) and writes our pid.
fn write_pid_file(path: &std::path::Path) -> Result<File, StarterError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(StarterError::io(format!(
            "failed to open file:{}",
            path.display()
        )))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(StarterError::io(format!(
            "flock failed({})",
            path.display()
        ))(std::io::Error::last_os_error()));
    }
    writeln!(file, "{}", std::process::id())
        .and_then(|()| file.flush())
        .map_err(StarterError::io(format!(
            "failed to write {}",
            path.display()
        )))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envdir_sets_first_lines_and_skips_dot_and_empty_files() {
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        std::fs::write(dir.path().join("A"), "one\ntwo\n").expect("write");
        std::fs::write(dir.path().join("B"), "\n").expect("write");
        std::fs::write(dir.path().join("C"), "").expect("write");
        std::fs::write(dir.path().join(".hidden"), "x").expect("write");
        let env = read_envdir(dir.path());
        assert_eq!(
            env.get(OsStr::new("A")).map(|v| v.as_os_str()),
            Some(OsStr::new("one"))
        );
        assert_eq!(
            env.get(OsStr::new("B")).map(|v| v.as_os_str()),
            Some(OsStr::new(""))
        );
        assert!(!env.contains_key(OsStr::new("C")));
        assert!(!env.contains_key(OsStr::new(".hidden")));
        assert!(read_envdir(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn auto_restart_uses_perl_truth() {
        let mut env = BTreeMap::new();
        assert!(!auto_restart_on(&env));
        for (v, want) in [("", false), ("0", false), ("1", true), ("yes", true)] {
            env.insert(OsString::from("ENABLE_AUTO_RESTART"), OsString::from(v));
            assert_eq!(auto_restart_on(&env), want, "{v:?}");
        }
    }
}
