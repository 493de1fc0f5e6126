//! The lifecycle of a running core: bind (or adopt) listeners and the instance
//! directory, start the pool and the admin API, serve until a signal, then the
//! shutdown sequence.

use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::bind::{adopt_listeners, bind, BoundListener};
use super::connection::accept_loop;
use super::reload::reload_on_sighup;
use super::signals::StopSignals;
use super::ServerError;
use crate::admin::{self, AdminCallbacks, AdminState, LogLevel, ReopenLogsCallback, ServerInfo};
use crate::config::{ListenAddr, ServerConfig};
use crate::instance::{Instance, InstanceProperties};
use crate::metrics::pool::MeteredPool;
use crate::pool::{self, PoolHandle, PoolOptions};
use crate::proxy::forward::Proxy;
use crate::proxy::route::Router;
use crate::spawn::Spawner;
use crate::spawn::{SpawnerFactory, SpawnerOptions};

/// Time an app process gets between SIGTERM and SIGKILL, on shutdown and when
/// detached. Passenger waits 60 s; a process that ignores SIGTERM for 10 s is stuck.
const PROCESS_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server asks of the program around it (the CLI owns logging).
#[derive(Clone)]
pub struct HostCallbacks {
    /// Reopens log files (SIGUSR1, `POST /reopen_logs.json`).
    pub reopen_logs: ReopenLogsCallback,
    /// Applies a Passenger log level 0-7 (`PUT /config.json`).
    pub set_log_level: Arc<dyn Fn(u8) -> Result<(), String> + Send + Sync>,
}

impl Default for HostCallbacks {
    fn default() -> Self {
        HostCallbacks {
            reopen_logs: Arc::new(|| Ok(())),
            set_log_level: Arc::new(|_| Ok(())),
        }
    }
}

/// How the server was asked to stop.
///
/// | trigger | kind |
/// |---|---|
/// | SIGTERM, SIGINT (first) | `Graceful`: stop accepting, drain, stop apps |
/// | SIGTERM, SIGINT (second) | `Immediate`: stop apps now |
/// | SIGQUIT | `Immediate` |
///
/// A signal sent to the whole process group (Ctrl-C, `systemctl stop`) reaches the
/// core directly and forwarded by the watchdog: that counts as one (see `signals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownKind {
    /// Finish in-flight requests (up to the grace period), then stop apps.
    Graceful,
    /// Stop apps without waiting for requests.
    Immediate,
}

/// What a core run by a watchdog takes over instead of creating it.
#[derive(Debug, Default)]
pub struct Inherited {
    /// Listening sockets, one per `config.listen` entry, in that order.
    pub listeners: Option<Vec<OwnedFd>>,
    /// The watchdog's instance directory.
    pub instance_dir: Option<PathBuf>,
}

/// A bound, not yet running server.
pub struct Server {
    config: ServerConfig,
    listeners: Vec<BoundListener>,
    spawner: Arc<dyn Spawner>,
    instance: Instance,
    callbacks: HostCallbacks,
    /// Bound before the server reports ready, so tools can talk to it at once.
    admin_listener: UnixListener,
    /// Request pipelining's window and patience (see [`PoolOptions`]).
    pipeline_timing: (Duration, Duration),
}

impl Server {
    /// Binds every listening address of `config` and creates the instance
    /// directory, with the default spawner.
    pub async fn bind(
        config: ServerConfig,
        callbacks: HostCallbacks,
    ) -> Result<Server, ServerError> {
        Server::bind_with(config, callbacks, Inherited::default()).await
    }

    /// Like [`Server::bind`], taking listeners and the instance directory from a
    /// watchdog when `inherited` says so.
    pub async fn bind_with(
        config: ServerConfig,
        callbacks: HostCallbacks,
        inherited: Inherited,
    ) -> Result<Server, ServerError> {
        // Loader sockets go into the instance's apps.s/, as in Passenger; as root it
        // is made 01733 so that apps of every user can create theirs there.
        let users = config.users.clone();
        let spawner = move |instance: &Instance| -> Arc<dyn Spawner> {
            Arc::new(SpawnerFactory::new(SpawnerOptions {
                user_switching: users.enabled,
                default_user: users.default_user,
                default_group: users.default_group,
                instance_dir: Some(instance.path().to_path_buf()),
                ..SpawnerOptions::default()
            }))
        };
        Server::bind_with_spawner(config, spawner, callbacks, inherited).await
    }

    /// Like [`Server::bind_with`]; processes come from the spawner `make_spawner`
    /// builds for the instance.
    pub async fn bind_with_spawner(
        config: ServerConfig,
        make_spawner: impl FnOnce(&Instance) -> Arc<dyn Spawner>,
        callbacks: HostCallbacks,
        inherited: Inherited,
    ) -> Result<Server, ServerError> {
        let listeners = match inherited.listeners {
            Some(fds) => adopt_listeners(&config.listen, fds)?,
            None => config
                .listen
                .iter()
                .map(bind)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let instance = match &inherited.instance_dir {
            Some(dir) => Instance::adopt(dir),
            None => Instance::create(
                config.instance_registry_dir.as_deref(),
                instance_properties(&config),
            ),
        }
        .map_err(ServerError::Instance)?;
        let admin_listener =
            admin::bind(&instance.core_api_socket_path()).map_err(ServerError::Admin)?;
        let spawner = make_spawner(&instance);
        let mut server = Server {
            config,
            listeners,
            spawner,
            instance,
            callbacks,
            admin_listener,
            pipeline_timing: (
                crate::pool::state::PIPELINE_WINDOW,
                crate::pool::state::PIPELINE_PATIENCE,
            ),
        };
        let addrs = describe(&server.local_addrs());
        server
            .instance
            .update_properties(|p| {
                p.listen_addresses = addrs;
                p.core_pid = std::process::id();
            })
            .map_err(ServerError::Instance)?;
        Ok(server)
    }

    /// Overrides request pipelining's window and patience (see [`PoolOptions`]);
    /// for tests and tuning.
    pub fn with_pipeline_timing(mut self, window: Duration, patience: Duration) -> Server {
        self.pipeline_timing = (window, patience);
        self
    }

    /// Gives up root for good: the core runs as `user` from now on (real, effective and
    /// saved ids, and that user's groups). Call it after binding, with the spawn helper
    /// installed (`spawn::helper`), which keeps starting apps as their users. First, while
    /// the core can still: the socket directory is opened to every app user (01733), and
    /// `spawn.s/`, where spawn work dirs go from then on, is made and given to `user`.
    pub fn drop_privileges(&self, user: &str) -> Result<(), ServerError> {
        let apps = self.instance.path().join("apps.s");
        let opened =
            std::fs::set_permissions(&apps, std::os::unix::fs::PermissionsExt::from_mode(0o1733));
        let failed = |source| ServerError::Privileges {
            user: user.to_string(),
            source,
        };
        opened.map_err(|source| {
            failed(crate::spawn::unix::UserError::Lookup {
                what: format!("opening {} to app users", apps.display()),
                source,
            })
        })?;
        let work = self
            .instance
            .path()
            .join(crate::spawn::journey::WORK_DIR_BASE);
        let made = std::fs::create_dir_all(&work)
            .and_then(|()| {
                std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            })
            .and_then(|()| {
                let uid = crate::spawn::unix::lookup_user(user)
                    .ok()
                    .flatten()
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
                nix::unistd::chown(&work, Some(nix::unistd::Uid::from_raw(uid)), None)
                    .map_err(std::io::Error::from)
            });
        made.map_err(|e| {
            failed(crate::spawn::unix::UserError::Lookup {
                what: format!("preparing {} for the core's user", work.display()),
                source: e,
            })
        })?;
        let run_as = crate::spawn::unix::drop_privileges(user).map_err(failed)?;
        tracing::info!("the core now runs as {}", run_as.describe());
        Ok(())
    }

    /// The instance directory.
    pub fn instance_dir(&self) -> &std::path::Path {
        self.instance.path()
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<ListenAddr> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                BoundListener::Tcp(t) => t.local_addr().ok().map(ListenAddr::Tcp),
                BoundListener::Unix(_, path) => Some(ListenAddr::Unix(path.clone())),
            })
            .collect()
    }

    /// Where bodies are buffered: `--data-buffer-dir`, else `buffers/` in the
    /// instance directory (mode 0700, removed with it), else the temp dir.
    fn buffer_settings(&self) -> crate::proxy::buffer::BufferSettings {
        let dir = match &self.config.data_buffer_dir {
            Some(dir) => dir.clone(),
            None => {
                let dir = self.instance.path().join("buffers");
                let made = std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .or_else(|err| match err.kind() {
                        std::io::ErrorKind::AlreadyExists => Ok(()),
                        _ => Err(err),
                    });
                match made {
                    Ok(()) => dir,
                    Err(err) => {
                        tracing::warn!(
                            "cannot create {}: {err}; buffering bodies in the temp dir",
                            dir.display()
                        );
                        std::env::temp_dir()
                    }
                }
            }
        };
        crate::proxy::buffer::BufferSettings {
            high_watermark: self.config.response_buffer_high_watermark,
            dir,
            ..Default::default()
        }
    }

    /// Serves until a signal asks to stop, then shuts down and returns.
    pub async fn run(self) -> Result<(), ServerError> {
        let mut signals = StopSignals::install().map_err(ServerError::Signals)?;
        let counters = Arc::new(crate::counters::Counters::default());
        let pool = pool::start(
            PoolOptions {
                max_pool_size: self.config.max_pool_size,
                pool_idle_time: self.config.pool_idle_time,
                process_shutdown_timeout: PROCESS_SHUTDOWN_TIMEOUT,
                counters: counters.clone(),
                pipeline_window: self.pipeline_timing.0,
                pipeline_patience: self.pipeline_timing.1,
                hooks: Arc::new(self.config.hooks.clone()),
            },
            self.spawner.clone(),
        );
        // Apps start with the server, as in Passenger Standalone: the first visitor
        // does not wait for a cold start.
        for app in &self.config.apps {
            let _ = pool.prestart(app.clone());
        }
        let router = Router::new(&self.config.apps, self.config.multi_app);
        let proxy = Proxy::new(
            router,
            pool.clone(),
            counters.clone(),
            crate::proxy::forward::powered_by(self.config.show_version_in_header),
            self.config
                .web_server
                .as_ref()
                .map(|w| crate::proxy::web_server::Channel::new(w.secret.clone())),
            self.buffer_settings(),
        );

        let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
        let (shutdown_tx, mut shutdown_rx) = mpsc::channel::<()>(1);
        let listen_addresses = describe(&self.local_addrs());
        let admin_listener = self.admin_listener;
        let admin_state = AdminState::for_instance(
            Arc::new(MeteredPool::new(pool.clone(), self.config.users.clone())),
            &self.instance,
            ServerInfo {
                pid: std::process::id(),
                version: crate::VERSION.to_string(),
                server_software: crate::SERVER_SOFTWARE.to_string(),
                instance_name: String::new(),
                instance_dir: PathBuf::new(),
                listen_addresses,
                started_at: std::time::SystemTime::now(),
            },
            admin_callbacks(&self.callbacks, shutdown_tx, counters.clone()),
            LogLevel::parse(&self.config.log_level.to_string()).unwrap_or(LogLevel::Notice),
        );
        let admin_task = tokio::spawn(admin::serve(
            admin_listener,
            Arc::new(admin_state),
            admin_stop_rx,
        ));
        let hup_task = tokio::spawn(reload_on_sighup(
            self.config.clone(),
            proxy.clone(),
            pool.clone(),
        ));
        let reopen = self.callbacks.reopen_logs.clone();
        let usr1_task = tokio::spawn(async move {
            let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
                return;
            };
            while usr1.recv().await.is_some() {
                match reopen() {
                    Ok(()) => tracing::info!("Reopened log files (SIGUSR1)"),
                    Err(err) => tracing::error!("cannot reopen log files: {err}"),
                }
            }
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let (conn_token, mut conns_done) = mpsc::channel::<()>(1);
        let mut acceptors = Vec::new();
        for listener in self.listeners {
            acceptors.push(tokio::spawn(accept_loop(
                listener,
                proxy.clone(),
                self.config.http_limits,
                stop_rx.clone(),
                conn_token.clone(),
            )));
        }
        drop(conn_token);
        tracing::info!("passenger-rs core online, PID {}", std::process::id());
        let prestart_task = self
            .config
            .web_server
            .as_ref()
            .and_then(|w| super::prestart::spawn(w.prestart_urls.clone()));

        let kind = tokio::select! {
            kind = signals.next() => {
                tracing::info!("Signal received. Shutting down ({kind:?})...");
                kind
            }
            _ = shutdown_rx.recv() => {
                tracing::info!("Shutdown requested through the admin API. Shutting down gracefully...");
                ShutdownKind::Graceful
            }
        };
        for acceptor in &acceptors {
            acceptor.abort();
        }
        let _ = stop_tx.send(true);
        if kind == ShutdownKind::Graceful {
            let grace = self.config.shutdown_grace;
            tracing::info!(
                "Waiting until all clients have disconnected (at most {}s)...",
                grace.as_secs()
            );
            tokio::select! {
                _ = conns_done.recv() => {}
                _ = tokio::time::sleep(grace) => {
                    tracing::warn!("clients still connected after the grace period; stopping anyway");
                }
                again = signals.next() => {
                    tracing::warn!("second signal ({again:?}); stopping without waiting for clients");
                }
            }
        }
        stop_pool(&pool, &mut signals).await;
        wait_for_hooks(self.config.hooks.clone()).await;
        let _ = admin_stop_tx.send(true);
        admin_task.abort();
        usr1_task.abort();
        hup_task.abort();
        if let Some(task) = prestart_task {
            task.abort();
        }
        if let Err(err) = self.instance.remove() {
            tracing::warn!("cannot remove the instance directory: {err}");
        }
        tracing::info!("passenger-rs core shutdown finished");
        Ok(())
    }
}

/// `properties.json` of a new instance of this configuration: a web server
/// module's core says which server it belongs to (`integration_mode`) and has no
/// standalone engine.
pub fn instance_properties(config: &ServerConfig) -> InstanceProperties {
    let mut props = InstanceProperties::default();
    if let Some(web) = &config.web_server {
        props.integration_mode = web.integration_mode.clone();
        props.standalone_engine = None;
    }
    props
}

fn describe(addrs: &[ListenAddr]) -> Vec<String> {
    addrs
        .iter()
        .map(|a| match a {
            ListenAddr::Tcp(addr) => format!("http://{addr}"),
            ListenAddr::Unix(path) => format!("unix:{}", path.display()),
        })
        .collect()
}

fn admin_callbacks(
    callbacks: &HostCallbacks,
    shutdown: mpsc::Sender<()>,
    counters: Arc<crate::counters::Counters>,
) -> AdminCallbacks {
    let set_level = callbacks.set_log_level.clone();
    AdminCallbacks {
        shutdown: Arc::new(move || {
            let _ = shutdown.try_send(());
        }),
        reopen_logs: callbacks.reopen_logs.clone(),
        set_log_level: Arc::new(move |level: LogLevel| set_level(level.number())),
        server_stats: None,
        counters: Some(counters),
    }
}

async fn stop_pool(pool: &PoolHandle, signals: &mut StopSignals) {
    tracing::info!(
        "Stopping app processes (SIGKILL after {}s)...",
        PROCESS_SHUTDOWN_TIMEOUT.as_secs()
    );
    tokio::select! {
        res = pool.shutdown() => {
            if let Err(err) = res {
                tracing::error!("pool shutdown: {err}");
            }
        }
        again = signals.next() => {
            tracing::warn!("signal ({again:?}) during shutdown; exiting now");
            if let Err(err) = pool.abandon().await {
                tracing::error!("pool shutdown: {err}");
            }
        }
    }
}

/// Waits (bounded) for the hooks the pool fired, above all the `detached_process`
/// of every app process stopped just now: the core's exit is what lets the watchdog
/// run `after_watchdog_shutdown`, which must come after them.
async fn wait_for_hooks(hooks: crate::hooks::Hooks) {
    if hooks.running() == 0 {
        return;
    }
    let bound = crate::hooks::HOOK_TIMEOUT + Duration::from_secs(1);
    let idle = tokio::task::spawn_blocking(move || hooks.wait_idle(bound)).await;
    if !matches!(idle, Ok(true)) {
        tracing::warn!(
            "hooks still running after {}s; exiting anyway",
            bound.as_secs()
        );
    }
}
