//! The connect passwords of live session-protocol processes, keyed by socket path.
//!
//! Owns the process-wide map the proxy looks passwords up in. The journey registers a
//! loader's password when it starts it and forgets it when the process is reaped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Connect passwords of live session-protocol processes, keyed by socket path.
fn passwords() -> &'static Mutex<HashMap<PathBuf, String>> {
    static PASSWORDS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    PASSWORDS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The connect password the process listening on `socket` (a
/// [`ProcessAddress::Session`](crate::pool::ProcessAddress::Session) path) expects as `PASSENGER_CONNECT_PASSWORD` in every
/// header block. `None` once that process has exited, or for unknown sockets.
///
/// The spawner registers the password when it starts a loader and removes it when the
/// process is reaped. [`SpawnedProcess`](super::SpawnedProcess) carries the password to the pool as well
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
