//! SIGHUP: reloading the configuration into the running server.

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::ServerConfig;
use crate::pool::{PoolHandle, RestartMethod};
use crate::proxy::forward::Proxy;
use crate::proxy::route::Router;

/// SIGHUP: re-reads the configuration and applies it to the running server. Added
/// apps start at once, removed apps stop once their requests finish,
/// changed apps are restarted rolling. A configuration with errors is logged and
/// the running one is kept.
pub(super) async fn reload_on_sighup(
    mut current: ServerConfig,
    proxy: Arc<Proxy>,
    pool: PoolHandle,
) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; configuration reload is off");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the configuration");
        let new = match crate::config::reload(&current) {
            Ok(new) => new,
            Err(err) => {
                tracing::error!(
                    "configuration reload failed; keeping the running configuration:\n{err}"
                );
                continue;
            }
        };
        if new.listen != current.listen {
            tracing::warn!("listen addresses changed; they apply when the server is restarted");
        }
        proxy.set_router(Router::new(&new.apps, new.multi_app));
        let _ = pool.set_max_pool_size(new.max_pool_size);
        for old in &current.apps {
            if !new.apps.iter().any(|a| a.name == old.name) {
                tracing::info!(group = %old.name, "app removed from the configuration; stopping it");
                if let Err(err) = pool.remove_group(&old.name).await {
                    tracing::error!("cannot remove {}: {err}", old.name);
                }
            }
        }
        for app in &new.apps {
            let Some(old) = current.apps.iter().find(|a| a.name == app.name) else {
                tracing::info!(group = %app.name, "app added to the configuration; starting it");
                let _ = pool.prestart(app.clone());
                continue;
            };
            if serde_json::to_value(&**old).ok() != serde_json::to_value(&**app).ok() {
                tracing::info!(group = %app.name, "app configuration changed; restarting it (rolling)");
                let _ = pool.update_app(app.clone());
                match pool.restart_group(&app.name, RestartMethod::Rolling).await {
                    Ok(()) | Err(crate::pool::PoolError::NoSuchGroup(_)) => {}
                    Err(err) => tracing::error!("cannot restart {}: {err}", app.name),
                }
            }
        }
        current = new;
    }
}
