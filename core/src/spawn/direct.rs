//! STUB (being written on branch spawn).
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{Gupid, SpawnError, SpawnedProcess, Spawner};
use crate::app::AppSpec;

/// Options.
#[derive(Debug, Default, Clone)]
pub struct SpawnerOptions {}

/// Spawner.
#[derive(Debug)]
pub struct DirectSpawner {}

impl DirectSpawner {
    /// New.
    pub fn new(_o: SpawnerOptions) -> DirectSpawner {
        DirectSpawner {}
    }
}

impl Spawner for DirectSpawner {
    fn spawn(
        &self,
        _app: Arc<AppSpec>,
        _g: Gupid,
    ) -> BoxFuture<'static, Result<SpawnedProcess, SpawnError>> {
        unimplemented!()
    }
}
