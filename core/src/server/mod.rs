//! The server lifecycle: bind listeners, accept client connections, serve them with
//! the [`Proxy`], and stop gracefully.
//!
//! Owns: listening sockets, the per-connection HTTP/1.1 server, signal handling
//! (see [`ShutdownKind`] for the mapping) and the shutdown sequence: stop accepting,
//! let in-flight requests finish within the grace period, then stop every app
//! process through the pool. It contains no pool or routing logic.
//!
//! Start reading at [`Server::bind`] and [`Server::run`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::admin::{self, AdminHooks, AdminState, LogLevel, ReopenLogsHook, ServerInfo};
use crate::config::{ListenAddr, ServerConfig};
use crate::instance::{Instance, InstanceProperties};
use crate::pool::{self, PoolHandle, PoolOptions, RestartMethod};
use crate::proxy::forward::{PeerInfo, Proxy};
use crate::proxy::route::Router;
use crate::spawn::direct::{DirectSpawner, SpawnerOptions};
use crate::spawn::Spawner;

pub mod limits;
pub mod listen;
mod metered;
pub mod notify;
pub(crate) mod prestart;
mod signals;
use limits::{ClockedBody, ClockedIo, ConnClock, HttpLimits, LimitedBody};
use metered::MeteredPool;
use signals::StopSignals;

/// Time an app process gets between SIGTERM and SIGKILL, on shutdown and when
/// detached. Passenger waits 60 s; a process that ignores SIGTERM for 10 s is stuck.
const PROCESS_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// While stopping, how long an idle keep-alive client connection is kept open for a
/// last request (answered with `Connection: close`) before we close it.
const DRAIN_IDLE_KEEPALIVE: Duration = Duration::from_millis(500);

/// Listen backlog, Passenger's `socket_backlog` default.
const SOCKET_BACKLOG: u32 = 2048;

/// Errors of starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listening socket could not be created.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address, as given.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    /// The instance directory could not be created.
    #[error("cannot create the instance directory")]
    Instance(#[source] crate::instance::InstanceError),
    /// The admin API socket could not be created.
    #[error("cannot start the admin API")]
    Admin(#[source] crate::admin::AdminError),
    /// The core could not become its `core_user`.
    #[error("cannot run the core as {user}")]
    Privileges {
        /// The user.
        user: String,
        /// The cause.
        #[source]
        source: crate::spawn::unix::UserError,
    },
}

/// What the server asks of the program around it (the CLI owns logging).
#[derive(Clone)]
pub struct ServerHooks {
    /// Reopens log files (SIGUSR1, `POST /reopen_logs.json`).
    pub reopen_logs: ReopenLogsHook,
    /// Applies a Passenger log level 0-7 (`PUT /config.json`).
    pub set_log_level: Arc<dyn Fn(u8) -> Result<(), String> + Send + Sync>,
}

impl Default for ServerHooks {
    fn default() -> Self {
        ServerHooks {
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
    hooks: ServerHooks,
    /// Bound before the server reports ready, so tools can talk to it at once.
    admin_listener: UnixListener,
    /// Request pipelining's window and patience (see [`PoolOptions`]).
    pipeline_timing: (Duration, Duration),
}

enum BoundListener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Server {
    /// Binds every listening address of `config` and creates the instance
    /// directory, with the default spawner.
    pub async fn bind(config: ServerConfig, hooks: ServerHooks) -> Result<Server, ServerError> {
        Server::bind_with(config, hooks, Inherited::default()).await
    }

    /// Like [`Server::bind`], taking listeners and the instance directory from a
    /// watchdog when `inherited` says so.
    pub async fn bind_with(
        config: ServerConfig,
        hooks: ServerHooks,
        inherited: Inherited,
    ) -> Result<Server, ServerError> {
        // Loader sockets go into the instance's apps.s/, as in Passenger; as root it
        // is made 01733 so that apps of every user can create theirs there.
        let users = config.users.clone();
        let spawner = move |instance: &Instance| -> Arc<dyn Spawner> {
            Arc::new(DirectSpawner::new(SpawnerOptions {
                user_switching: users.enabled,
                default_user: users.default_user,
                default_group: users.default_group,
                instance_dir: Some(instance.path().to_path_buf()),
                ..SpawnerOptions::default()
            }))
        };
        Server::bind_with_spawner(config, spawner, hooks, inherited).await
    }

    /// Like [`Server::bind_with`]; processes come from the spawner `make_spawner`
    /// builds for the instance.
    pub async fn bind_with_spawner(
        config: ServerConfig,
        make_spawner: impl FnOnce(&Instance) -> Arc<dyn Spawner>,
        hooks: ServerHooks,
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
            hooks,
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
            .join(crate::spawn::direct::WORK_DIR_BASE);
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
        let counters = Arc::new(crate::stats::Counters::default());
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
            admin_hooks(&self.hooks, shutdown_tx, counters.clone()),
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
        let reopen = self.hooks.reopen_logs.clone();
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
            .and_then(|w| prestart::spawn(w.prestart_urls.clone()));

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

/// SIGHUP: re-reads the configuration and applies it to the running server. Added
/// apps start at once, removed apps stop once their requests finish,
/// changed apps are restarted rolling. A configuration with errors is logged and
/// the running one is kept.
async fn reload_on_sighup(mut current: ServerConfig, proxy: Arc<Proxy>, pool: PoolHandle) {
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

fn admin_hooks(
    hooks: &ServerHooks,
    shutdown: mpsc::Sender<()>,
    counters: Arc<crate::stats::Counters>,
) -> AdminHooks {
    let set_level = hooks.set_log_level.clone();
    AdminHooks {
        shutdown: Arc::new(move || {
            let _ = shutdown.try_send(());
        }),
        reopen_logs: hooks.reopen_logs.clone(),
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

fn adopt_listeners(
    addrs: &[ListenAddr],
    fds: Vec<OwnedFd>,
) -> Result<Vec<BoundListener>, ServerError> {
    if fds.len() != addrs.len() {
        return Err(ServerError::Bind {
            addr: format!("{} inherited sockets", fds.len()),
            source: std::io::Error::other(format!(
                "expected {} inherited listening sockets, got {}",
                addrs.len(),
                fds.len()
            )),
        });
    }
    addrs
        .iter()
        .zip(fds)
        .map(|(addr, fd)| {
            let err = |source| ServerError::Bind {
                addr: format!("inherited socket for {addr:?}"),
                source,
            };
            match addr {
                ListenAddr::Tcp(_) => {
                    let std = std::net::TcpListener::from(fd);
                    std.set_nonblocking(true).map_err(err)?;
                    Ok(BoundListener::Tcp(TcpListener::from_std(std).map_err(err)?))
                }
                ListenAddr::Unix(path) => {
                    let std = std::os::unix::net::UnixListener::from(fd);
                    std.set_nonblocking(true).map_err(err)?;
                    Ok(BoundListener::Unix(
                        UnixListener::from_std(std).map_err(err)?,
                        path.clone(),
                    ))
                }
            }
        })
        .collect()
}

fn bind(addr: &ListenAddr) -> Result<BoundListener, ServerError> {
    match addr {
        ListenAddr::Tcp(sock_addr) => {
            let err = |source| ServerError::Bind {
                addr: sock_addr.to_string(),
                source,
            };
            let socket = if sock_addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(err)?;
            socket.set_reuseaddr(true).map_err(err)?;
            socket.bind(*sock_addr).map_err(err)?;
            Ok(BoundListener::Tcp(
                socket.listen(SOCKET_BACKLOG).map_err(err)?,
            ))
        }
        ListenAddr::Unix(path) => {
            let err = |source| ServerError::Bind {
                addr: path.display().to_string(),
                source,
            };
            // A socket file left by a crashed server would make bind fail; only a
            // socket is removed, never a regular file given by mistake.
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_socket() {
                    std::fs::remove_file(path).map_err(err)?;
                }
            }
            let listener = UnixListener::bind(path).map_err(err)?;
            Ok(BoundListener::Unix(listener, path.clone()))
        }
    }
}

async fn accept_loop(
    listener: BoundListener,
    proxy: Arc<Proxy>,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
    token: mpsc::Sender<()>,
) {
    loop {
        let accepted = match &listener {
            BoundListener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                let _ = s.set_nodelay(true);
                Accepted::Tcp(s, peer)
            }),
            BoundListener::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        };
        match accepted {
            Ok(Accepted::Tcp(stream, peer)) => {
                let info = PeerInfo::new(Some(peer), false)
                    .with_client(proxy.counters().client_connected());
                tokio::spawn(serve_connection(
                    stream,
                    info,
                    proxy.clone(),
                    limits,
                    stop.clone(),
                    token.clone(),
                ));
            }
            Ok(Accepted::Unix(stream)) => {
                let info =
                    PeerInfo::new(None, false).with_client(proxy.counters().client_connected());
                tokio::spawn(serve_connection(
                    stream,
                    info,
                    proxy.clone(),
                    limits,
                    stop.clone(),
                    token.clone(),
                ));
            }
            Err(err) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::error!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

async fn serve_connection<I>(
    io: I,
    peer: PeerInfo,
    proxy: Arc<Proxy>,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
    _token: mpsc::Sender<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    // Once the server stops, every answer on this connection says `Connection:
    // close`: a keep-alive client learns it from a response, instead of finding its
    // next request on a connection we closed under it (a failed request).
    let closing = Arc::new(std::sync::atomic::AtomicBool::new(*stop.borrow()));
    let closing_flag = closing.clone();
    let clock = ConnClock::new();
    let service_clock = clock.clone();
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let proxy = proxy.clone();
        let peer = peer.clone();
        let closing = closing_flag.clone();
        let busy = service_clock.busy();
        async move {
            let mut resp = match limits::check_head(&req, &limits) {
                Some(refused) => {
                    proxy.counters().response(refused.status().as_u16());
                    limits::with_status_header(refused)
                }
                None => {
                    let (parts, body) = req.into_parts();
                    let (body, too_large) = LimitedBody::new(body, &parts.headers, &limits);
                    let resp = proxy
                        .handle(http::Request::from_parts(parts, body), &peer)
                        .await;
                    if too_large.is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed)) {
                        // Whatever the proxy made of the failed body, the client
                        // learns why.
                        drop(resp);
                        let max = limits.max_request_body_size;
                        proxy.counters().response(413);
                        limits::with_status_header(limits::body_too_large(None, max))
                    } else {
                        resp
                    }
                }
            };
            if closing.load(std::sync::atomic::Ordering::Relaxed)
                && resp.status() != http::StatusCode::SWITCHING_PROTOCOLS
            {
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, Infallible>(resp.map(|body| ClockedBody::new(body, busy)))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The connection clock times heads and idle connections (see `limits`).
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_size.max(limits::HYPER_READ_BUFFER))
        .max_header_size(limits.max_header_size)
        .keep_alive(true)
        // Header names as the app wrote them (see proxy::header_case); ours, and any
        // without a recorded spelling, Title-Cased as Passenger writes them.
        .preserve_header_case(true)
        .title_case_headers(true);
    let conn = builder
        .serve_connection(TokioIo::new(ClockedIo::new(io, clock.clone())), service)
        .with_upgrades();
    tokio::pin!(conn);
    if !*stop.borrow() {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(err) = res {
                    tracing::debug!("client connection ended: {err}");
                }
                return;
            }
            why = clock.expired(&limits) => {
                tracing::debug!("closing client connection: {why:?} timeout");
                return;
            }
            _ = stop.changed() => {}
        }
    }
    closing.store(true, std::sync::atomic::Ordering::Relaxed);
    // A busy keep-alive client sends its next request within this and gets
    // `Connection: close` with the answer; only a connection idle that long is
    // closed from our side.
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(err) = res {
                tracing::debug!("client connection ended during shutdown: {err}");
            }
            return;
        }
        _ = tokio::time::sleep(DRAIN_IDLE_KEEPALIVE) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(err) = conn.await {
        tracing::debug!("client connection ended during shutdown: {err}");
    }
}
