//! What a spawner is to the pool: the [`Spawner`] trait, the [`SpawnedProcess`] it
//! hands over, the [`ProcessControl`] that stops it and the [`ExitInfo`] its reaper
//! reports.
//!
//! Owns these types only; how a process is started lives in the journey
//! ([`journey`](super::journey)) and in the spawners that use it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::sync::oneshot;

use super::SpawnError;
use crate::app::AppSpec;
use crate::pool::{Gupid, ProcessAddress};

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
