//! Lifecycle hooks: commands an operator configures (`--hook-<name> CMD`, the
//! `hooks` key) to run when something happens to the server, with Passenger's hook
//! names.
//!
//! Owns the hook names, the configured commands ([`Hooks`]) and running one: through
//! `/bin/sh -c`, in its own process group, with `PASSENGER_HOOK_NAME` and the event's
//! `PASSENGER_*` variables, killed (the whole group) after [`HOOK_TIMEOUT`]. A hook
//! never changes what the server does: its failure is returned ([`run_blocking`]) or
//! logged ([`spawn`]), never fatal. Who fires which event is the caller's: the
//! watchdog (its four events, waiting for the hook) and the pool actor (process and
//! queue events, each on its own thread so the actor never waits). Those threads are
//! counted, so the server waits for them (bounded) before it exits: a
//! `detached_process` fired at shutdown finishes before `after_watchdog_shutdown`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a hook may run before it (and every process in its group) is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Passenger's hook names, in the order of a server's life.
pub const HOOK_NAMES: &[&str] = &[
    "before_watchdog_initialization",
    "after_watchdog_initialization",
    "attached_process",
    "detached_process",
    "spawn_failed",
    "queue_full_error",
    "before_watchdog_shutdown",
    "after_watchdog_shutdown",
    "after_install_prerequisites",
];

/// Errors of running one hook.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// `/bin/sh` could not be started.
    #[error("cannot run the {name} hook: {source}")]
    Start {
        /// The hook name.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The command exited unsuccessfully.
    #[error("the {name} hook failed: {status}")]
    Failed {
        /// The hook name.
        name: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// The command ran longer than the bound and was killed.
    #[error("the {name} hook ran longer than {}s and was killed", timeout.as_secs())]
    TimedOut {
        /// The hook name.
        name: String,
        /// The bound.
        timeout: Duration,
    },
    /// Waiting for the command failed.
    #[error("cannot wait for the {name} hook: {source}")]
    Wait {
        /// The hook name.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The configured hooks: name (one of [`HOOK_NAMES`]) → shell command. Clones share
/// one count of the hooks [`Hooks::spawn`] started that are still running, so whoever
/// stops the server can [`Hooks::wait_idle`] for the ones the pool fired. Two `Hooks`
/// are equal when they configure the same commands.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    commands: BTreeMap<String, String>,
    running: Arc<Running>,
}

impl PartialEq for Hooks {
    fn eq(&self, other: &Hooks) -> bool {
        self.commands == other.commands
    }
}

impl Eq for Hooks {}

/// How many spawned hooks are still running, and a condition to wait for none.
#[derive(Debug, Default)]
struct Running {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Running {
    fn count(&self) -> std::sync::MutexGuard<'_, usize> {
        // The lock guards a plain counter: a panic elsewhere cannot leave it torn.
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn started(&self) {
        *self.count() += 1;
    }

    fn ended(&self) {
        let mut count = self.count();
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.idle.notify_all();
        }
    }
}

impl Hooks {
    /// Hooks from validated `(name, command)` pairs; later pairs win.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Hooks {
        Hooks {
            commands: pairs.into_iter().collect(),
            running: Arc::default(),
        }
    }

    /// The command of hook `name`, if configured.
    pub fn command(&self, name: &str) -> Option<&str> {
        self.commands.get(name).map(String::as_str)
    }

    /// Every configured hook, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.commands.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether no hook is configured.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Runs hook `name` (if configured) on a thread of its own and logs its failure;
    /// returns at once. For callers that must not wait, like the pool actor.
    pub fn spawn(&self, name: &'static str, env: Vec<(&'static str, String)>) {
        let Some(command) = self.command(name) else {
            return;
        };
        let command = command.to_string();
        let running = Arc::clone(&self.running);
        running.started();
        let started = std::thread::Builder::new()
            .name(format!("hook {name}"))
            .spawn(move || {
                if let Err(err) = run_blocking(name, &command, &env, HOOK_TIMEOUT) {
                    tracing::warn!(hook = name, "{err}");
                }
                running.ended();
            });
        if let Err(err) = started {
            self.running.ended();
            tracing::warn!(hook = name, "cannot start a thread for the hook: {err}");
        }
    }

    /// Waits until every hook [`Hooks::spawn`] started (through this value or a
    /// clone) has ended, at most `timeout`; returns whether none is left running.
    /// Blocks the calling thread.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut count = self.running.count();
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            count = self
                .running
                .idle
                .wait_timeout(count, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// How many hooks [`Hooks::spawn`] started are still running.
    pub fn running(&self) -> usize {
        *self.running.count()
    }
}

/// Why `name` is not a hook name, naming the valid ones.
pub fn name_problem(name: &str) -> Option<String> {
    if HOOK_NAMES.contains(&name) {
        return None;
    }
    Some(format!(
        "unknown hook {name:?}; the hooks are {}",
        HOOK_NAMES.join(", ")
    ))
}

/// Runs `command` as hook `name` and waits for it, at most `timeout`; then kills its
/// process group. Its output goes where ours goes; stdin is empty.
pub fn run_blocking(
    name: &str,
    command: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<(), HookError> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .env("PASSENGER_HOOK_NAME", name)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .process_group(0);
    // SAFETY: between fork and exec this only calls sigprocmask, which is
    // async-signal-safe; it undoes a caller's blocked signals (the watchdog blocks
    // the ones it sigwaits for) so the hook can be stopped like any command.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| HookError::Start {
        name: name.to_string(),
        source,
    })?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(HookError::Failed {
                    name: name.to_string(),
                    status,
                })
            }
            Ok(None) if Instant::now() >= deadline => {
                // The group is the hook's own: process_group(0) made the child its leader.
                let pgid = i32::try_from(child.id()).expect("invariant: pids fit in i32");
                // SAFETY: plain kill(2) on the process group we created.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                return Err(HookError::TimedOut {
                    name: name.to_string(),
                    timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(HookError::Wait {
                    name: name.to_string(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_with_variables_and_reports_failure_and_timeout() {
        let dir = std::env::temp_dir().join(format!("hooks-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("out");
        let cmd = format!(
            "echo \"$PASSENGER_HOOK_NAME $PASSENGER_PID\" > {}",
            out.display()
        );
        run_blocking(
            "attached_process",
            &cmd,
            &[("PASSENGER_PID", "42".into())],
            HOOK_TIMEOUT,
        )
        .expect("hook runs");
        let text = std::fs::read_to_string(&out).expect("hook wrote");
        assert_eq!(text.trim(), "attached_process 42");
        let err = run_blocking("spawn_failed", "exit 3", &[], HOOK_TIMEOUT).unwrap_err();
        assert!(matches!(err, HookError::Failed { .. }), "{err}");
        let started = Instant::now();
        let err =
            run_blocking("spawn_failed", "sleep 30", &[], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, HookError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn unknown_names_are_named() {
        assert!(name_problem("spawn_failed").is_none());
        let msg = name_problem("spawn_failure").expect("unknown");
        assert!(msg.contains("\"spawn_failure\"") && msg.contains("spawn_failed"));
    }

    #[test]
    fn wait_idle_waits_for_spawned_hooks_and_is_shared_by_clones() {
        let dir = std::env::temp_dir().join(format!("hooks-idle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("out");
        let hooks = Hooks::new([(
            "detached_process".to_string(),
            format!("sleep 0.3; echo done > {}", out.display()),
        )]);
        let clone = hooks.clone();
        assert_eq!(clone, hooks);
        assert!(hooks.wait_idle(Duration::ZERO), "nothing runs yet");
        clone.spawn("detached_process", vec![]);
        // Not configured: starts nothing, counts nothing.
        clone.spawn("attached_process", vec![]);
        assert_eq!(hooks.running(), 1);
        assert!(!hooks.wait_idle(Duration::from_millis(50)), "still running");
        assert!(hooks.wait_idle(HOOK_TIMEOUT), "ends");
        assert_eq!(hooks.running(), 0);
        assert_eq!(
            std::fs::read_to_string(&out).expect("hook wrote").trim(),
            "done"
        );
        assert_ne!(hooks, Hooks::default());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
