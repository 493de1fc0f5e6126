//! [`DirectSpawner`]: starts every app process from scratch with fork/exec, like
//! Passenger's DirectSpawner (internals §3.2).
//!
//! Owns one spawn journey from [`AppSpec`] to a ready [`SpawnedProcess`]. It does not
//! decide when to spawn or stop (the pool does). Ruby and Python apps with
//! [`SpawnMethod::Smart`] go through [`smart`](super::smart), which starts its
//! preloaders with this same journey ([`Mode::Preloader`]); generic and Node apps, and
//! apps with [`SpawnMethod::Direct`], are always started directly.
//!
//! # Steps of a spawn
//!
//! 1. **Preparation** ([`SpawnStep::Preparation`]): resolve the run-as user and group
//!    (only switched when the core runs as root: see [`unix::resolve_run_as`]; `app.user`,
//!    else the owner of the startup file or generic app root, where root or an unknown
//!    owner becomes `default_user`), pick a free loopback
//!    port, and build the [`LaunchPlan`](super::plan::LaunchPlan): command line,
//!    environment (internals §3.6; the app's `env_vars` win), stdin mode, readiness mode.
//! 2. **Fork** ([`SpawnStep::ForkSubprocess`]): `/bin/sh -c "exec <command>"` in the
//!    app root, as leader of a new process group, stdin `/dev/null` (loaders will get a
//!    pipe), stdout and stderr piped into [`OutputCapture`], which logs every line under
//!    target `app_output` and keeps the last 64 KiB while the spawn is in progress. A
//!    reaper task owns the child from here on.
//! 3. **Handshake** ([`SpawnStep::HandshakePerform`]): race "127.0.0.1:PORT accepts a
//!    connection" (polled every 25 ms) against the process exiting and the deadline.
//!
//! # Ruby and Python loaders
//!
//! For the session-protocol types, preparation also creates a private work dir
//! (`$TMPDIR/passenger.spawn.<random>`, mode 0700, owned by the run-as user) holding
//! the report file, picks the socket `<apps dir>/<ruby|wsgi>.<random>` and a random
//! connect password (registered for [`connect_password_for`](super::connect_password_for)),
//! and the fork gives the loader a stdin pipe. The handshake waits for the socket to
//! accept a connection. If the loader exits first, its report (`{"step", "summary",
//! "backtrace"}`) becomes the [`SpawnError`] (step [`SpawnStep::AppLoad`] for a failed
//! app load). The work dir is removed when the spawn ends; the socket file and the
//! password when the process is reaped. [`ProcessControl::terminate`] closes stdin.
//!
//! The apps dir is [`SpawnerOptions::apps_dir`], else `<instance_dir>/apps.s`, else a
//! private temp dir `$TMPDIR/passenger-rs.<random>` this spawner creates on first use
//! and removes once the spawner and all processes it started are gone. Directories the spawner creates have mode 0700, or 01733
//! when the core runs as root (switched users must be able to create their sockets;
//! sticky and unlistable, so they can neither remove nor find each other's).
//!
//! # What runs after fork
//!
//! Only the [`pre_exec_hook`](super::unix::pre_exec_hook), which is async-signal-safe:
//! `setgroups`/`setgid`/`setuid` when switching users, then `PR_SET_PDEATHSIG(SIGKILL)`
//! (after the switch, which would clear it), then a `getppid()` check that exits if
//! the core already died. Everything it uses is computed before fork.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, not the process. The
//! fork happens on the thread that polls the [`Spawner::spawn`] future, so that future
//! must be polled on a tokio worker thread (which lives as long as the runtime), never
//! inside `spawn_blocking` or `block_in_place`, whose threads come and go. It is a
//! last-resort guard for a SIGKILLed core; orderly cleanup goes through
//! [`ProcessControl`].
//!
//! # Timeouts
//!
//! `app.start_timeout` covers the whole journey. On timeout the process group gets
//! SIGKILL and is reaped before the error is returned. A process that exits during the
//! handshake fails the spawn at once with "The application process exited
//! prematurely.". After a failure the output readers get [`OUTPUT_GRACE`] to collect
//! the last lines. Dropping the spawn future before it resolves kills the process.
//!
//! # After the spawn
//!
//! The reaper waits for the leader, then SIGKILLs what is left of its process group
//! (daemonized grandchildren) and reports [`ExitInfo`] on [`SpawnedProcess::exited`].

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use tokio::io::AsyncRead;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::output::OutputCapture;
use super::plan::{self, PlanInputs, Readiness, SessionSetup, StdinMode};
use super::readiness;
use super::smart::{self, Preloaders};
use super::unix::{self, GroupControl};
use super::{ExitInfo, ProcessControl, SpawnError, SpawnStep, SpawnedProcess, Spawner};
use crate::app::{AppSpec, AppType, SpawnMethod};
use crate::pool::{Gupid, ProcessAddress};
use crate::resources;

/// Time the output readers get to drain the pipes after a failed spawn.
pub const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Time allowed for reaping a process killed after a failed spawn.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Where a core that dropped root makes spawn work dirs: `<instance dir>/spawn.s`, owned
/// by the core's user (mode 0711: app users reach their work dir by its random name).
pub const WORK_DIR_BASE: &str = "spawn.s";

/// Name of the loader's failure report inside the spawn work dir.
pub const REPORT_FILE: &str = "report.json";

/// Settings shared by every spawn of a [`DirectSpawner`].
#[derive(Debug, Clone)]
pub struct SpawnerOptions {
    /// User an app runs as when the core is root and the app would otherwise run as
    /// root (Passenger's `default_user`, `nobody`).
    pub default_user: String,
    /// Group used when the chosen group is root; `None` means the primary group of
    /// `default_user` (Passenger's `default_group`).
    pub default_group: Option<String>,
    /// The instance directory; loaders will get unix sockets under `<dir>/apps.s`.
    /// Unused by generic and Node apps, which listen on TCP.
    pub instance_dir: Option<PathBuf>,
    /// Whether a root core runs apps as the owner of their startup file (the default,
    /// as in Apache and nginx); off, every app runs as `default_user`. Not root, apps
    /// always run as the core's own user.
    pub user_switching: bool,
    /// The installation's resources (loader scripts); defaults to
    /// [`resources::resources_dir`]. Ruby and Python apps fail to spawn without it.
    pub resources_dir: Option<PathBuf>,
    /// Where loaders' session sockets go. `None`: `<instance_dir>/apps.s` when
    /// `instance_dir` is set, else a private temp dir (see the module docs). Socket
    /// paths must stay under [`MAX_SOCKET_PATH`] bytes, so keep this short.
    pub apps_dir: Option<PathBuf>,
}

impl Default for SpawnerOptions {
    fn default() -> SpawnerOptions {
        SpawnerOptions {
            default_user: "nobody".to_string(),
            default_group: None,
            instance_dir: None,
            user_switching: true,
            resources_dir: resources::resources_dir(),
            apps_dir: None,
        }
    }
}

/// The socket directory of one spawner, created on first use.
#[derive(Debug, Default)]
pub(crate) struct AppsDir {
    dir: OnceLock<Result<PathBuf, String>>,
    /// Set when the dir is the spawner's private temp dir, removed on drop.
    private: OnceLock<PathBuf>,
}

impl AppsDir {
    /// The directory, created (with the right mode) on first use.
    pub(crate) fn get(&self, options: &SpawnerOptions) -> Result<PathBuf, String> {
        self.dir
            .get_or_init(|| {
                let (dir, private) = match (&options.apps_dir, &options.instance_dir) {
                    (Some(dir), _) => (dir.clone(), false),
                    (None, Some(instance)) => (instance.join("apps.s"), false),
                    (None, None) => (
                        std::env::temp_dir()
                            .join(format!("passenger-rs.{:012x}", rand::random::<u64>() >> 16)),
                        true,
                    ),
                };
                // As root the dir must take sockets from every run-as user, also when
                // it exists already (the instance's apps.s/ is created 0700).
                if !dir.is_dir() || unix::is_root() {
                    make_dir(&dir, shared_dir_mode()).map_err(|e| {
                        format!(
                            "Could not create the socket directory {}: {e}",
                            dir.display()
                        )
                    })?;
                }
                if private {
                    let _ = self.private.set(dir.clone());
                }
                Ok(dir)
            })
            .clone()
    }

    /// Where loaders make their claims pipes (`PASSENGER_CLAIMS`): the socket
    /// directory. Claims go through the pipe, not the file system, so any file
    /// system does. `None` if there is no socket directory.
    pub(crate) fn claims_base(&self, options: &SpawnerOptions) -> Option<PathBuf> {
        self.get(options).ok()
    }
}

impl Drop for AppsDir {
    fn drop(&mut self) {
        if let Some(dir) = self.private.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Mode of directories several run-as users must create sockets in.
fn shared_dir_mode() -> u32 {
    if nix::unistd::Uid::effective().is_root() {
        0o1733
    } else {
        0o700
    }
}

fn make_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)?;
    // The umask may have removed bits (and `recursive` skips an existing dir).
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

/// The per-spawn work dir of a loader, removed when the spawn ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a loader that failed writes to its report file.
#[derive(Debug, serde::Deserialize)]
struct LoaderReport {
    #[serde(default)]
    step: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    backtrace: String,
}

/// Starts app processes with fork/exec; see the module docs for the journey. Ruby
/// and Python apps with [`SpawnMethod::Smart`] are forked from a per-app preloader
/// instead (see [`smart`](super::smart)).
#[derive(Debug, Clone)]
pub struct DirectSpawner {
    options: Arc<SpawnerOptions>,
    apps_dir: Arc<AppsDir>,
    preloaders: Arc<Preloaders>,
}

impl DirectSpawner {
    /// A spawner with these options.
    pub fn new(options: SpawnerOptions) -> DirectSpawner {
        DirectSpawner {
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

impl Spawner for DirectSpawner {
    /// Must be polled on a tokio worker thread; see "What runs after fork" above.
    fn spawn(
        &self,
        app: Arc<AppSpec>,
        gupid: Gupid,
    ) -> BoxFuture<'static, Result<SpawnedProcess, SpawnError>> {
        let options = Arc::clone(&self.options);
        let apps_dir = Arc::clone(&self.apps_dir);
        let smart =
            app.spawn_method == SpawnMethod::Smart && plan::session_loader(&app.app_type).is_some();
        let preloaders = Arc::clone(&self.preloaders);
        Box::pin(async move {
            if smart {
                return smart::spawn(&preloaders, &options, &apps_dir, app, gupid).await;
            }
            let deadline = Instant::now() + app.start_timeout;
            Journey::new(&app)
                .run(&options, &apps_dir, &app, &gupid, Mode::Direct, deadline)
                .await
        })
    }

    /// Stops the app's preloader, so that the next spawn loads the new code.
    fn app_restarted(&self, app_name: &str) {
        self.preloaders.app_restarted(app_name);
    }
}

/// What kind of process a [`Journey`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// An app process that serves requests itself.
    Direct,
    /// A smart-spawning preloader (`PASSENGER_PRELOADER=1`, socket `preloader.<hex>`).
    Preloader,
}

/// What a failed spawn reports besides its summary, filled in as the journey goes.
#[derive(Debug, Clone)]
pub(crate) struct Journey {
    app_root: String,
    command: String,
    envvars: Vec<(String, String)>,
    user: String,
}

/// Kills the process group if the spawn does not complete (error or cancelled future).
struct KillGuard(Option<Arc<GroupControl>>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            control.kill();
        }
    }
}

enum Outcome {
    Ready,
    Exited(ExitInfo),
    TimedOut,
}

impl Journey {
    /// A journey for `app` that has not started yet.
    pub(crate) fn new(app: &AppSpec) -> Journey {
        Journey {
            app_root: app.app_root.display().to_string(),
            command: String::new(),
            envvars: Vec::new(),
            user: String::new(),
        }
    }

    /// Builds (and logs) the error of a failed spawn.
    pub(crate) fn error(&self, step: SpawnStep, summary: String, output: String) -> SpawnError {
        let err = SpawnError {
            summary,
            step,
            app_root: self.app_root.clone(),
            output,
            command: self.command.clone(),
            envvars: self.envvars.clone(),
            user: self.user.clone(),
            error_id: format!("{:08x}", rand::random::<u32>()),
        };
        tracing::error!(
            app_root = %err.app_root,
            error_id = %err.error_id,
            step = ?err.step,
            "Could not spawn process for application {}: {}\n  Error ID: {}",
            err.app_root,
            err.summary,
            err.error_id,
        );
        err
    }

    /// Starts one process of `app` (see the module docs) and waits until it is ready
    /// or `deadline` passes. Afterwards `self` describes the command that was run.
    pub(crate) async fn run(
        &mut self,
        options: &SpawnerOptions,
        apps_dir: &Arc<AppsDir>,
        app: &AppSpec,
        gupid: &Gupid,
        mode: Mode,
        deadline: Instant,
    ) -> Result<SpawnedProcess, SpawnError> {
        let spawn_started = SystemTime::now();

        // Preparation.
        let reference = match (&app.app_type, &app.startup_file) {
            (AppType::Generic { .. }, _) | (_, None) => app.app_root.clone(),
            (_, Some(file)) => app.app_root.join(file),
        };
        let run_as = unix::resolve_run_as(unix::RunAsRules {
            user: app.user.as_deref(),
            group: app.group.as_deref(),
            reference: &reference,
            default_user: &options.default_user,
            default_group: options.default_group.as_deref(),
            user_switching: options.user_switching,
        })
        .map_err(|e| self.error(SpawnStep::Preparation, e.to_string(), String::new()))?;
        self.user = run_as.describe();
        let port = readiness::pick_free_port().map_err(|e| {
            self.error(
                SpawnStep::Preparation,
                format!("Could not find a free port on 127.0.0.1 for the app: {e}"),
                String::new(),
            )
        })?;
        let (session, work_dir) = match plan::session_loader(&app.app_type) {
            None => (None, None),
            Some(_) => {
                let prefix = match mode {
                    Mode::Direct => plan::socket_prefix(&app.app_type),
                    Mode::Preloader => "preloader",
                };
                let (mut session, work_dir) =
                    prepare_session(options, apps_dir, prefix, &run_as)
                        .map_err(|e| self.error(SpawnStep::Preparation, e, String::new()))?;
                // A loader process takes the free port for its direct-access socket.
                session.direct_port = (mode == Mode::Direct).then_some(port);
                (Some(session), Some(work_dir))
            }
        };
        let inputs = PlanInputs {
            port,
            identity_env: run_as.env(),
            resources_dir: options.resources_dir.clone(),
            session: session.clone(),
        };
        let mut plan = plan::build(app, inputs)
            .map_err(|e| self.error(SpawnStep::Preparation, e.to_string(), String::new()))?;
        if mode == Mode::Preloader {
            plan.env
                .push(("PASSENGER_PRELOADER".to_string(), "1".to_string()));
        }
        if session.is_some() && run_as.switch.is_some() && !unix::is_root() {
            // The core dropped root: loaders of other users open their socket and claims
            // pipe to it (the socket dir is unlistable; sessions carry the password).
            plan.env
                .push(("PASSENGER_SOCKET_MODE".to_string(), "0666".to_string()));
        }
        let shell_arg = format!("exec {}", plan.command);
        self.command = format!("/bin/sh -c {}", plan::sh_quote(&shell_arg));
        self.envvars = super::redact_secrets(&plan.env);
        // The reaper keeps the apps dir alive: a private one is removed once the
        // spawner and every process using it are gone.
        let socket = session
            .as_ref()
            .map(|s| (s.socket.clone(), Arc::clone(apps_dir)));

        // Fork (through the spawn helper when the core dropped root).
        let (pid, streams, control, exit_source) = match super::helper::client() {
            Some(helper) => {
                let env = full_env(&plan.env, &plan.env_remove);
                let child = helper
                    .spawn(
                        &shell_arg,
                        &app.app_root,
                        env,
                        &run_as,
                        plan.stdin == StdinMode::Pipe,
                    )
                    .await
                    .map_err(|e| self.error(SpawnStep::ForkSubprocess, e, String::new()))?;
                let mut streams: Vec<Box<dyn AsyncRead + Unpin + Send>> = Vec::new();
                for fd in [child.stdout, child.stderr] {
                    if let Ok(rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
                        streams.push(Box::new(rx));
                    }
                }
                let control = Arc::new(GroupControl::new(child.pid, child.stdin));
                (
                    child.pid,
                    streams,
                    control,
                    ExitSource::Helper(child.exited),
                )
            }
            None => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c")
                    .arg(&shell_arg)
                    .current_dir(&app.app_root)
                    .envs(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .stdin(match plan.stdin {
                        StdinMode::Null => Stdio::null(),
                        StdinMode::Pipe => Stdio::piped(),
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .process_group(0)
                    .kill_on_drop(true);
                for name in &plan.env_remove {
                    cmd.env_remove(name);
                }
                // SAFETY: the hook only makes async-signal-safe calls on pre-computed data.
                unsafe {
                    cmd.pre_exec(unix::pre_exec_hook(&run_as));
                }
                let mut child = cmd.spawn().map_err(|e| {
                    self.error(
                        SpawnStep::ForkSubprocess,
                        format!("Could not start the app process: {e}"),
                        String::new(),
                    )
                })?;
                let Some(pid) = child.id() else {
                    return Err(self.error(
                        SpawnStep::ForkSubprocess,
                        "The app process vanished right after it was started.".to_string(),
                        String::new(),
                    ));
                };
                let mut streams: Vec<Box<dyn AsyncRead + Unpin + Send>> = Vec::new();
                if let Some(out) = child.stdout.take() {
                    streams.push(Box::new(out));
                }
                if let Some(err) = child.stderr.take() {
                    streams.push(Box::new(err));
                }
                let stdin = child.stdin.take().and_then(|s| s.into_owned_fd().ok());
                let control = Arc::new(GroupControl::new(pid, stdin));
                (pid, streams, control, ExitSource::Child(child))
            }
        };
        let capture = OutputCapture::start(pid, streams);
        if let Some(session) = &session {
            super::register_connect_password(
                session.socket.clone(),
                session.connect_password.clone(),
            );
        }
        let (exited_tx, mut exited_rx) = oneshot::channel();
        tokio::spawn(reap(exit_source, Arc::clone(&control), exited_tx, socket));
        let mut guard = KillGuard(Some(Arc::clone(&control)));
        tracing::debug!(pid, %gupid, app = %app.name, readiness = ?plan.readiness, "started app process, waiting for it to listen");

        // Handshake.
        let (address, waiting) = match &plan.readiness {
            Readiness::PortAccepts { port } => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                (
                    ProcessAddress::Tcp(addr),
                    Box::pin(readiness::wait_until_accepts(addr))
                        as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
                )
            }
            Readiness::LoaderHandshake { socket } => {
                let socket = socket.clone();
                (
                    ProcessAddress::Session(socket.clone()),
                    Box::pin(async move { readiness::wait_until_unix_accepts(&socket).await })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
                )
            }
        };
        let outcome = tokio::select! {
            biased;
            exit = &mut exited_rx => Outcome::Exited(
                exit.unwrap_or_else(|_| ExitInfo::Unknown("reaper task ended".to_string())),
            ),
            () = waiting => Outcome::Ready,
            () = tokio::time::sleep_until(deadline) => Outcome::TimedOut,
        };
        match outcome {
            Outcome::Ready => {
                let pipeline = match (&address, mode) {
                    (ProcessAddress::Session(socket), Mode::Direct) => {
                        crate::loader::pipeline::claims_for(
                            app,
                            apps_dir.claims_base(options),
                            socket,
                        )
                    }
                    _ => None,
                };
                capture.stop_capturing();
                guard.0 = None;
                drop(work_dir);
                tracing::info!(pid, %gupid, app = %app.name, %address, "app process is ready");
                Ok(SpawnedProcess {
                    pid,
                    address,
                    concurrency: plan.concurrency,
                    spawn_started,
                    spawn_ended: SystemTime::now(),
                    control,
                    pipeline,
                    connect_password: session.as_ref().map(|s| s.connect_password.clone()),
                    direct_address: session
                        .as_ref()
                        .and_then(|s| s.direct_port)
                        .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p))),
                    exited: exited_rx,
                })
            }
            Outcome::Exited(info) => {
                let output = capture.finish(OUTPUT_GRACE).await;
                if let Some(report) = work_dir.as_ref().and_then(read_report) {
                    let step = match report.step.as_str() {
                        "preparation" => SpawnStep::Preparation,
                        "handshake_perform" => SpawnStep::HandshakePerform,
                        _ => SpawnStep::AppLoad,
                    };
                    let output = if report.backtrace.is_empty()
                        || output.contains(report.backtrace.trim())
                    {
                        output
                    } else {
                        format!("{}\n\n{output}", report.backtrace.trim_end())
                    };
                    return Err(self.error(step, report.summary, output));
                }
                Err(self.error(
                    SpawnStep::HandshakePerform,
                    format!(
                        "The application process exited prematurely. It {}.",
                        describe_exit(&info)
                    ),
                    output,
                ))
            }
            Outcome::TimedOut => {
                drop(guard);
                let _ = tokio::time::timeout(REAP_GRACE, exited_rx).await;
                let output = capture.finish(OUTPUT_GRACE).await;
                Err(self.error(
                    SpawnStep::HandshakePerform,
                    format!(
                        "The application process did not start listening on {} within \
                         the start timeout of {:.1} seconds, so it was killed.",
                        describe_address(&address),
                        app.start_timeout.as_secs_f64()
                    ),
                    output,
                ))
            }
        }
    }
}

/// Prepares what a session-protocol loader needs: the work dir with the report file,
/// the socket path and the connect password.
fn prepare_session(
    options: &SpawnerOptions,
    apps_dir: &AppsDir,
    prefix: &str,
    run_as: &unix::RunAs,
) -> Result<(SessionSetup, WorkDir), String> {
    let socket = new_socket_path(options, apps_dir, prefix)?;
    // A core that dropped root may not be able to write $TMPDIR; its instance dir has a
    // work dir base of its own (see `Server::drop_privileges`).
    let base = match (&options.instance_dir, unix::is_root()) {
        (Some(instance), false) if super::helper::client().is_some() => {
            instance.join(WORK_DIR_BASE)
        }
        _ => std::env::temp_dir(),
    };
    let work = base.join(format!("passenger.spawn.{:016x}", rand::random::<u64>()));
    make_dir(&work, 0o700).map_err(|e| {
        format!(
            "Could not create the spawn work dir {}: {e}",
            work.display()
        )
    })?;
    let work = WorkDir(work);
    if run_as.switch.is_some() && !unix::is_root() {
        // The core dropped root: it cannot give the dir away, so the app's user may write
        // into it (the name is random and the dir unlistable).
        std::fs::set_permissions(&work.0, std::os::unix::fs::PermissionsExt::from_mode(0o733))
            .map_err(|e| format!("Could not open the spawn work dir to the app's user: {e}"))?;
    } else if run_as.switch.is_some() {
        nix::unistd::chown(
            &work.0,
            Some(nix::unistd::Uid::from_raw(run_as.uid)),
            Some(nix::unistd::Gid::from_raw(run_as.gid)),
        )
        .map_err(|e| format!("Could not hand the spawn work dir to the app's user: {e}"))?;
    }
    let connect_password = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let session = SessionSetup {
        socket,
        connect_password,
        report_file: work.0.join(REPORT_FILE),
        claims_base: apps_dir.claims_base(options),
        direct_port: None,
    };
    Ok((session, work))
}

/// A fresh socket path `<apps dir>/<prefix>.<random>`, checked against
/// [`MAX_SOCKET_PATH`].
pub(crate) fn new_socket_path(
    options: &SpawnerOptions,
    apps_dir: &AppsDir,
    prefix: &str,
) -> Result<PathBuf, String> {
    let dir = apps_dir.get(options)?;
    let socket = dir.join(format!("{prefix}.{:016x}", rand::random::<u64>()));
    if socket.as_os_str().as_bytes().len() > MAX_SOCKET_PATH {
        return Err(format!(
            "The socket path {} is longer than {MAX_SOCKET_PATH} bytes; configure a shorter \
             socket directory.",
            socket.display()
        ));
    }
    Ok(socket)
}

/// The loader's failure report, if it wrote a readable one.
fn read_report(work_dir: &WorkDir) -> Option<LoaderReport> {
    let text = std::fs::read(work_dir.0.join(REPORT_FILE)).ok()?;
    match serde_json::from_slice::<LoaderReport>(&text) {
        Ok(report) if !report.summary.is_empty() => Some(report),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "the loader's report file is not valid JSON");
            None
        }
    }
}

fn describe_address(address: &ProcessAddress) -> String {
    match address {
        ProcessAddress::Tcp(addr) => format!("port {}", addr.port()),
        ProcessAddress::Unix(path) | ProcessAddress::Session(path) => {
            format!("the socket {}", path.display())
        }
    }
}

/// Where a spawned process's exit is learned: it is our child, or the spawn helper's.
enum ExitSource {
    Child(Child),
    Helper(oneshot::Receiver<ExitInfo>),
}

/// The core's environment with `set` applied and `remove` removed: what a process
/// started by the spawn helper gets (it inherits nothing itself).
fn full_env(
    set: &[(String, String)],
    remove: &[&str],
) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            !remove.iter().any(|r| k.as_os_str() == *r) && !set.iter().any(|(s, _)| k == s.as_str())
        })
        .collect();
    env.extend(set.iter().map(|(k, v)| (k.into(), v.into())));
    env
}

/// Owns the child: waits for it, kills the rest of its group, removes its session
/// socket and connect password, reports the exit.
async fn reap(
    source: ExitSource,
    control: Arc<GroupControl>,
    exited: oneshot::Sender<ExitInfo>,
    socket: Option<(PathBuf, Arc<AppsDir>)>,
) {
    let info = match source {
        ExitSource::Child(mut child) => match child.wait().await {
            Ok(status) => exit_info(status),
            Err(e) => ExitInfo::Unknown(e.to_string()),
        },
        ExitSource::Helper(rx) => rx
            .await
            .unwrap_or_else(|_| ExitInfo::Unknown("the spawn helper is gone".to_string())),
    };
    control.leader_reaped();
    if let Some((socket, _apps_dir)) = socket {
        super::forget_connect_password(&socket);
        let _ = std::fs::remove_file(&socket);
    }
    tracing::debug!(exit = ?info, "app process reaped");
    let _ = exited.send(info);
}

fn exit_info(status: ExitStatus) -> ExitInfo {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitInfo::Code(code),
        (None, Some(sig)) => ExitInfo::Signal(sig),
        (None, None) => ExitInfo::Unknown(status.to_string()),
    }
}

/// "exited with code 1", "was killed by signal SIGKILL", for error summaries.
pub(crate) fn describe_exit(info: &ExitInfo) -> String {
    match info {
        ExitInfo::Code(code) => format!("exited with code {code}"),
        ExitInfo::Signal(sig) => {
            let name = nix::sys::signal::Signal::try_from(*sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| sig.to_string());
            format!("was killed by signal {name}")
        }
        ExitInfo::Unknown(why) => format!("exited in an unknown way ({why})"),
    }
}
