//! [`SpawnerFactory`]: the [`Spawner`] of the core, which picks how each app's
//! processes start: forked from a preloader ([`smart`](super::smart)) for Ruby and
//! Python apps with [`SpawnMethod::Smart`], else started directly
//! ([`direct`](super::direct)).
//!
//! Owns that dispatch and what both spawners share across spawns: the
//! [`SpawnerOptions`], the socket directory ([`AppsDir`]) and the preloaders. It does
//! not start processes itself.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::apps_dir::AppsDir;
use super::smart::{self, Preloaders};
use super::{direct, plan, SpawnError, SpawnedProcess, Spawner, SpawnerOptions};
use crate::app::{AppSpec, SpawnMethod};
use crate::pool::Gupid;

/// Starts app processes, directly or through a per-app preloader (see the module
/// docs).
#[derive(Debug, Clone)]
pub struct SpawnerFactory {
    options: Arc<SpawnerOptions>,
    apps_dir: Arc<AppsDir>,
    preloaders: Arc<Preloaders>,
}

impl SpawnerFactory {
    /// A spawner with these options.
    pub fn new(options: SpawnerOptions) -> SpawnerFactory {
        SpawnerFactory {
            options: Arc::new(options),
            apps_dir: Arc::new(AppsDir::default()),
            preloaders: Arc::new(Preloaders::default()),
        }
    }

    /// Pid of the running preloader of the app named `app_name` (smart spawning), if
    /// there is one and no spawn is starting it right now.
    pub fn preloader_pid(&self, app_name: &str) -> Option<u32> {
        self.preloaders.preloader_pid(app_name)
    }
}

/// Whether `app`'s processes are forked from a preloader: Ruby and Python apps
/// (the session-protocol loaders) with [`SpawnMethod::Smart`].
fn spawns_smart(app: &AppSpec) -> bool {
    app.spawn_method == SpawnMethod::Smart && plan::session_loader(&app.app_type).is_some()
}

impl Spawner for SpawnerFactory {
    /// Must be polled on a tokio worker thread; see "What runs after fork" in
    /// [`journey`](super::journey).
    fn spawn(
        &self,
        app: Arc<AppSpec>,
        gupid: Gupid,
    ) -> BoxFuture<'static, Result<SpawnedProcess, SpawnError>> {
        let options = Arc::clone(&self.options);
        let apps_dir = Arc::clone(&self.apps_dir);
        let preloaders = Arc::clone(&self.preloaders);
        Box::pin(async move {
            if spawns_smart(&app) {
                smart::spawn(&preloaders, &options, &apps_dir, app, gupid).await
            } else {
                direct::spawn(&options, &apps_dir, &app, &gupid).await
            }
        })
    }

    /// Stops the app's preloader, so that the next spawn loads the new code.
    fn app_restarted(&self, app_name: &str) {
        self.preloaders.app_restarted(app_name);
    }
}
