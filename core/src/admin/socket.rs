//! The admin API's socket: binding it and serving its connections.

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::{routes, AdminState};

/// Errors of setting up the admin API.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be bound.
    #[error("cannot listen on admin socket {path}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The socket's permissions could not be set.
    #[error("cannot chmod admin socket {path}")]
    Chmod {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Binds the admin socket at `path` (replacing a leftover socket file) with mode
/// 0666: access is decided per request by [`auth`](super::auth), as in the original.
pub fn bind(path: &Path) -> Result<UnixListener, AdminError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| AdminError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(|source| {
        AdminError::Chmod {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(listener)
}

/// Serves the admin API on `listener` until `shutdown` becomes true (or its sender
/// is dropped). Connections open at that point finish their current request.
pub async fn serve(
    listener: UnixListener,
    state: Arc<AdminState>,
    shutdown: watch::Receiver<bool>,
) {
    crate::serve::accept_until_stopped(&listener, "admin API", shutdown.clone(), |stream| {
        let peer_uid = match stream.peer_cred() {
            Ok(cred) => Some(cred.uid()),
            Err(err) => {
                tracing::debug!("admin API: no peer credentials: {err}");
                None
            }
        };
        tokio::spawn(serve_connection(
            stream,
            peer_uid,
            state.clone(),
            shutdown.clone(),
        ));
    })
    .await;
}

async fn serve_connection(
    stream: tokio::net::UnixStream,
    peer_uid: Option<u32>,
    state: Arc<AdminState>,
    stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(routes::handle(req, &state, peer_uid).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    crate::serve::serve_until_stopped(
        conn,
        stop,
        crate::serve::Ending {
            name: "admin connection",
            deadline: std::future::pending(),
            on_stop: || {},
            linger: Duration::ZERO,
        },
    )
    .await;
}
