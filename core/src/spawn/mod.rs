//! Starting app processes: the [`Spawner`] trait and its implementations.
//!
//! Owns: turning an [`AppSpec`](crate::app::AppSpec) into a running, ready OS process
//! (environment, working directory, process group, user switching, readiness check,
//! capture of the app's stdout/stderr into the log) and the [`ProcessControl`] used to
//! stop it. It does not decide *when* to spawn or stop: that is the pool's job.
//!
//! Every process started here is the leader of its own process group, is killed by
//! the kernel if the core dies (`PR_SET_PDEATHSIG`), and is reaped by a task that
//! reports its exit through [`SpawnedProcess::exited`]. The exception is smart
//! spawning ([`smart`]): workers forked by an app's preloader lead their own group too,
//! but exit on stdin EOF when the core dies and are watched through a pidfd.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::app::AppSpec;
use crate::pool::{Gupid, ProcessAddress};

pub mod direct;
pub mod helper;
pub mod output;
pub mod plan;
pub mod readiness;
pub mod smart;
pub mod unix;

pub use direct::{DirectSpawner, SpawnerOptions};
#[cfg(any(test, feature = "test-support"))]
pub mod fake;

/// How a process ended, as reported by the reaper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ExitInfo {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
    /// Could not be waited for (the reason).
    Unknown(String),
}

/// Stops one spawned process. Implementations signal the whole process group.
pub trait ProcessControl: Send + Sync + fmt::Debug {
    /// Asks the process to exit (SIGTERM for generic apps, stdin EOF for loaders).
    fn terminate(&self);
    /// Forces the process (and its process group) to exit now.
    fn kill(&self);
}

/// A process that passed its readiness check.
#[derive(Debug)]
pub struct SpawnedProcess {
    /// OS process id (also its process group id).
    pub pid: u32,
    /// Where it accepts requests.
    pub address: ProcessAddress,
    /// Advertised concurrency: `n` > 0 slots, 0 unlimited, -1 unknown.
    pub concurrency: i32,
    /// When the spawn started and ended.
    pub spawn_started: SystemTime,
    /// When the process became ready.
    pub spawn_ended: SystemTime,
    /// How to stop it.
    pub control: Arc<dyn ProcessControl>,
    /// The loader's claims pipe, when it takes pipelined requests.
    pub pipeline: Option<Arc<crate::loader::Claims>>,
    /// The secret a loader process expects from anyone who talks to it, the core
    /// included; `None` for generic and Node apps, which check none.
    pub connect_password: Option<String>,
    /// The loader's direct-access HTTP socket on 127.0.0.1, for operators
    /// (`passenger-status --verbose`); it refuses requests without the connect
    /// password. `None` for generic and Node apps (their own port is direct).
    pub direct_address: Option<SocketAddr>,
    /// Resolves once the process has exited and been reaped.
    pub exited: oneshot::Receiver<ExitInfo>,
}

/// Connect passwords of live session-protocol processes, keyed by socket path.
fn passwords() -> &'static Mutex<HashMap<PathBuf, String>> {
    static PASSWORDS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    PASSWORDS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The connect password the process listening on `socket` (a
/// [`ProcessAddress::Session`] path) expects as `PASSENGER_CONNECT_PASSWORD` in every
/// header block. `None` once that process has exited, or for unknown sockets.
///
/// The spawner registers the password when it starts a loader and removes it when the
/// process is reaped. [`SpawnedProcess`] carries the password to the pool as well
/// (operators see it there); the proxy still looks it up here.
pub fn connect_password_for(socket: &Path) -> Option<String> {
    let map = passwords().lock().unwrap_or_else(|p| p.into_inner());
    map.get(socket).cloned()
}

/// Records the connect password of the loader that will listen on `socket`.
pub(crate) fn register_connect_password(socket: PathBuf, password: String) {
    let mut map = passwords().lock().unwrap_or_else(|p| p.into_inner());
    map.insert(socket, password);
}

/// Forgets the connect password of `socket` (its process is gone).
pub(crate) fn forget_connect_password(socket: &Path) {
    let mut map = passwords().lock().unwrap_or_else(|p| p.into_inner());
    map.remove(socket);
}

/// Parts of variable names that say their value is a secret.
const SECRET_NAME_PARTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "API_KEY",
    "ACCESS_KEY",
];

/// `env` as error pages and logs may show it: without the connect password, and
/// with the value of a variable whose name says it is a secret (`SECRET_KEY_BASE`,
/// `*_TOKEN`, `*_PASSWORD`, ...) and the password in a URL's `user:password@`
/// replaced by `(hidden)`.
pub fn redact_secrets(env: &[(String, String)]) -> Vec<(String, String)> {
    const HIDDEN: &str = "(hidden)";
    env.iter()
        // Ours, and of no use to whoever reads an error page: left out entirely.
        .filter(|(name, _)| name != "PASSENGER_CONNECT_PASSWORD")
        .map(|(name, value)| {
            let upper = name.to_ascii_uppercase();
            if SECRET_NAME_PARTS.iter().any(|part| upper.contains(part)) {
                return (name.clone(), HIDDEN.to_string());
            }
            // scheme://user:password@host...
            let shown = match value.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((userinfo, host)) if !userinfo.contains('/') => {
                        match userinfo.split_once(':') {
                            Some((user, _)) => format!("{scheme}://{user}:{HIDDEN}@{host}"),
                            None => value.clone(),
                        }
                    }
                    _ => value.clone(),
                },
                None => value.clone(),
            };
            (name.clone(), shown)
        })
        .collect()
}

/// One step of a spawn, named after Passenger's journey steps, used in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpawnStep {
    /// Resolving the user, finding a port, building the command.
    Preparation,
    /// fork/exec of the app process.
    ForkSubprocess,
    /// Waiting for the app to accept connections.
    HandshakePerform,
    /// Loading the app inside the loader.
    AppLoad,
}

/// A failed spawn, with everything the error page and the log show.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{summary} (step {step:?}, app root {app_root})")]
pub struct SpawnError {
    /// One line saying what went wrong.
    pub summary: String,
    /// The step that failed.
    pub step: SpawnStep,
    /// The app root, for the error page.
    pub app_root: String,
    /// Everything the process wrote to stdout/stderr before failing (bounded).
    pub output: String,
    /// The command that was run.
    pub command: String,
    /// The environment given to the process (name, value), secrets hidden (see
    /// [`redact_secrets`]): the error page shows it.
    pub envvars: Vec<(String, String)>,
    /// The user and group the process ran as.
    pub user: String,
    /// 8 hex chars, logged with the details so an operator can find them.
    pub error_id: String,
}

/// Starts processes of an app. One spawner serves every group of the pool.
pub trait Spawner: Send + Sync + 'static {
    /// Starts one process of `app` and resolves once it is ready to accept requests,
    /// or with the reason it could not start within `app.start_timeout`.
    fn spawn(
        &self,
        app: Arc<AppSpec>,
        gupid: Gupid,
    ) -> BoxFuture<'static, Result<SpawnedProcess, SpawnError>>;

    /// Called by the pool when a restart of the group `app_name` begins, before it
    /// spawns processes with the new code. Spawners that keep per-app state (smart
    /// spawning's preloader) drop it here; the default does nothing.
    fn app_restarted(&self, app_name: &str) {
        let _ = app_name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_shown() {
        let env: Vec<(String, String)> = [
            ("PASSENGER_CONNECT_PASSWORD", "abc"),
            ("SECRET_KEY_BASE", "def"),
            ("GITHUB_TOKEN", "ghi"),
            ("DATABASE_URL", "postgres://app:s3cret@db/prod"),
            ("REDIS_URL", "redis://cache:6379/0"),
            ("PATH", "/usr/bin"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = redact_secrets(&env);
        assert!(!shown.iter().any(|(k, _)| k == "PASSENGER_CONNECT_PASSWORD"));
        let value = |name: &str| {
            shown
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .expect("every variable is listed")
        };
        assert_eq!(value("SECRET_KEY_BASE"), "(hidden)");
        assert_eq!(value("GITHUB_TOKEN"), "(hidden)");
        assert_eq!(value("DATABASE_URL"), "postgres://app:(hidden)@db/prod");
        assert_eq!(value("REDIS_URL"), "redis://cache:6379/0");
        assert_eq!(value("PATH"), "/usr/bin");
    }
}
