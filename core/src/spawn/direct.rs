//! Direct spawning: every app process is started from scratch with fork/exec, like
//! Passenger's DirectSpawner (internals §3.2).
//!
//! Owns the choice of what a direct spawn is: one [`Journey`] in [`Mode::Direct`], from
//! the spawn's start to `app.start_timeout` later. The steps themselves (preparation,
//! fork, handshake, reaping) are the journey's. Generic and Node apps, and Ruby and
//! Python apps with [`SpawnMethod::Direct`](crate::app::SpawnMethod::Direct), are
//! spawned this way; the dispatch is [`SpawnerFactory`](super::SpawnerFactory)'s.

use std::sync::Arc;

use tokio::time::Instant;

use super::apps_dir::AppsDir;
use super::journey::{Journey, Mode};
use super::{SpawnError, SpawnedProcess, SpawnerOptions};
use crate::app::AppSpec;
use crate::pool::Gupid;

/// Starts one process of `app` with fork/exec and waits until it is ready.
pub(crate) async fn spawn(
    options: &SpawnerOptions,
    apps_dir: &Arc<AppsDir>,
    app: &AppSpec,
    gupid: &Gupid,
) -> Result<SpawnedProcess, SpawnError> {
    let deadline = Instant::now() + app.start_timeout;
    Journey::new(app)
        .run(options, apps_dir, app, gupid, Mode::Direct, deadline)
        .await
}
