//! The spawn journey: the steps that take an [`AppSpec`] to a ready OS process started
//! with fork/exec, shared by direct spawning ([`direct`](super::direct)) and by smart
//! spawning's preloaders ([`smart`](super::smart)), which call it; it calls neither.
//!
//! Owns one [`Journey`] (its steps, and the context its errors report), the reaper of
//! the processes it starts, and the report file a failing loader writes. It does not
//! decide when to spawn or stop (the pool does) nor which spawn method an app uses
//! ([`SpawnerFactory`](super::SpawnerFactory) does).
//!
//! # Steps
//!
//! 1. **Preparation** ([`SpawnStep::Preparation`], [`Journey::prepare`]): resolve the
//!    run-as user and group (only switched when the core runs as root: see
//!    [`unix::resolve_run_as`]; `app.user`, else the owner of the startup file or generic
//!    app root, where root or an unknown owner becomes `default_user`), pick a free
//!    loopback port, and build the [`LaunchPlan`]: command line, environment (internals
//!    §3.6; the app's `env_vars` win), stdin mode, readiness mode.
//! 2. **Fork** ([`SpawnStep::ForkSubprocess`], [`Journey::fork`]): `/bin/sh -c "exec
//!    <command>"` in the app root, as leader of a new process group, stdin `/dev/null`
//!    (loaders get a pipe), stdout and stderr piped into [`OutputCapture`], which logs
//!    every line under target `app_output` and keeps the last 64 KiB while the spawn is
//!    in progress. A reaper task owns the child from here on ([`watch`]).
//! 3. **Handshake** ([`SpawnStep::HandshakePerform`], [`handshake`]): race "the
//!    process accepts a connection" (127.0.0.1:PORT, or the loader's socket; polled every
//!    25 ms) against the process exiting and the deadline.
//!
//! # Ruby and Python loaders
//!
//! For the session-protocol types, preparation also creates a private work dir
//! (`$TMPDIR/passenger.spawn.<random>`, mode 0700, owned by the run-as user) holding
//! the report file, picks the socket `<apps dir>/<ruby|wsgi>.<random>` (see
//! [`AppsDir`]) and a random connect password (returned in
//! [`SpawnedProcess::connect_password`]; it travels with the process), and the fork
//! gives the loader a stdin pipe. The handshake waits for the socket to accept a connection. If the
//! loader exits first, its report (`{"step", "summary", "backtrace"}`) becomes the
//! [`SpawnError`] (step [`SpawnStep::AppLoad`] for a failed app load). The work dir is
//! removed when the spawn ends; the socket file when the process is reaped. [`ProcessControl::terminate`] closes stdin.
//!
//! # What runs after fork
//!
//! Only the [`pre_exec_hook`](super::identity::pre_exec_hook), which is async-signal-safe:
//! `setgroups`/`setgid`/`setuid` when switching users, then `PR_SET_PDEATHSIG(SIGKILL)`
//! (after the switch, which would clear it), then a `getppid()` check that exits if
//! the core already died. Everything it uses is computed before fork.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, not the process. The
//! fork happens on the thread that polls the [`Spawner::spawn`](super::Spawner::spawn)
//! future, so that future must be polled on a tokio worker thread (which lives as long
//! as the runtime), never inside `spawn_blocking` or `block_in_place`, whose threads
//! come and go. It is a last-resort guard for a SIGKILLed core; orderly cleanup goes
//! through [`ProcessControl`].
//!
//! When the core dropped root, the fork goes through the spawn helper
//! ([`helper`](super::helper)) instead, which does the same on its side.
//!
//! # Timeouts
//!
//! The deadline (`app.start_timeout` after the spawn began) covers the whole journey.
//! On timeout the process group gets SIGKILL and is reaped before the error is
//! returned. A process that exits during the handshake fails the spawn at once with
//! "The application process exited prematurely.". After a failure the output readers
//! get [`OUTPUT_GRACE`] to collect the last lines. Dropping the spawn future before it
//! resolves kills the process.
//!
//! # After the spawn
//!
//! The reaper waits for the leader, then SIGKILLs what is left of its process group
//! (daemonized grandchildren) and reports [`ExitInfo`] on [`SpawnedProcess::exited`].

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncRead;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::apps_dir::{make_dir, AppsDir};
use super::helper::{self, HelperClient};
use super::identity::{self, RunAs};
use super::output::OutputCapture;
use super::plan::{self, LaunchPlan, PlanInputs, Readiness, SessionSetup, StdinMode};
use super::unix::{self, GroupControl};
use super::{
    readiness, redact_secrets, ExitInfo, ProcessControl, SpawnError, SpawnStep, SpawnedProcess,
    SpawnerOptions,
};
use crate::app::{AppSpec, AppType};
use crate::loader;
use crate::pool::{Gupid, ProcessAddress};

/// Time the output readers get to drain the pipes after a failed spawn.
pub const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Time allowed for reaping a process killed after a failed spawn.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// Where a core that dropped root makes spawn work dirs: `<instance dir>/spawn.s`, owned
/// by the core's user (mode 0711: app users reach their work dir by its random name).
pub const WORK_DIR_BASE: &str = "spawn.s";

/// Name of the loader's failure report inside the spawn work dir.
pub const REPORT_FILE: &str = "report.json";

/// What kind of process a [`Journey`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// An app process that serves requests itself.
    Direct,
    /// A smart-spawning preloader (`PASSENGER_PRELOADER=1`, socket `preloader.<hex>`).
    Preloader,
}

/// One spawn: its steps, and what a failed spawn reports besides its summary, filled
/// in as the journey goes.
#[derive(Debug, Clone)]
pub(crate) struct Journey {
    app_root: String,
    command: String,
    envvars: Vec<(String, String)>,
    user: String,
}

/// Kills the process group if the spawn does not complete (error or cancelled future).
pub(crate) struct KillGuard(Option<Arc<dyn ProcessControl>>);

impl KillGuard {
    /// Kills `control`'s process on drop unless [`disarm`](KillGuard::disarm)ed.
    pub(crate) fn new(control: Arc<dyn ProcessControl>) -> KillGuard {
        KillGuard(Some(control))
    }

    /// The spawn completed: the process lives on.
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            control.kill();
        }
    }
}

/// A step that failed, before the journey reports it as a [`SpawnError`] with its
/// context ([`Journey::error`]).
struct StepFailed {
    step: SpawnStep,
    summary: String,
}

impl StepFailed {
    fn preparation(summary: impl Into<String>) -> StepFailed {
        StepFailed {
            step: SpawnStep::Preparation,
            summary: summary.into(),
        }
    }

    fn fork(summary: impl Into<String>) -> StepFailed {
        StepFailed {
            step: SpawnStep::ForkSubprocess,
            summary: summary.into(),
        }
    }
}

/// How the handshake ended.
enum Outcome {
    Ready,
    Exited(ExitInfo),
    TimedOut,
}

/// What preparation hands to the fork.
struct Prepared {
    run_as: RunAs,
    plan: LaunchPlan,
    /// `exec <command>`, the argument of `/bin/sh -c`.
    shell_arg: String,
    /// Socket, password and report file of a loader; `None` for generic and Node apps.
    session: Option<SessionSetup>,
    /// The loader's work dir, removed when the spawn ends.
    work_dir: Option<WorkDir>,
}

/// A process just forked, not watched yet.
struct Forked {
    pid: u32,
    /// Its stdout and stderr.
    streams: Vec<Box<dyn AsyncRead + Unpin + Send>>,
    control: Arc<GroupControl>,
    exit: ExitSource,
}

/// A process whose output is captured and whose exit the reaper reports; killed if the
/// spawn does not complete.
struct Watched {
    pid: u32,
    control: Arc<GroupControl>,
    capture: OutputCapture,
    exited: oneshot::Receiver<ExitInfo>,
    guard: KillGuard,
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

/// Where a spawned process's exit is learned: it is our child, or the spawn helper's.
enum ExitSource {
    Child(Child),
    Helper(oneshot::Receiver<ExitInfo>),
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

    /// Reports a failed step (before the process wrote anything).
    fn failed(&self, failure: StepFailed) -> SpawnError {
        self.error(failure.step, failure.summary, String::new())
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
        let prepared = self
            .prepare(options, apps_dir, app, mode)
            .map_err(|e| self.failed(e))?;
        let forked = self.fork(app, &prepared).await?;
        let mut watched = watch(forked, prepared.session.as_ref(), apps_dir);
        tracing::debug!(pid = watched.pid, %gupid, app = %app.name, readiness = ?prepared.plan.readiness, "started app process, waiting for it to listen");
        let address = address_of(&prepared.plan.readiness);
        match handshake(&address, &mut watched.exited, deadline).await {
            Outcome::Ready => {
                let pipeline = match (&address, mode) {
                    (ProcessAddress::Session(socket), Mode::Direct) => {
                        loader::pipeline::claims_for(app, apps_dir.claims_base(options), socket)
                    }
                    _ => None,
                };
                let pid = watched.pid;
                let process = hand_over(prepared, watched, address, pipeline, spawn_started);
                tracing::info!(pid, %gupid, app = %app.name, address = %process.address, "app process is ready");
                Ok(process)
            }
            Outcome::Exited(info) => Err(self.exited_early(&info, watched, prepared).await),
            Outcome::TimedOut => Err(self.timed_out(app, &address, watched).await),
        }
    }

    /// Step 1: who the process runs as, its port, a loader's socket and work dir, and
    /// the launch plan. Fills in the user, command and environment errors report.
    fn prepare(
        &mut self,
        options: &SpawnerOptions,
        apps_dir: &AppsDir,
        app: &AppSpec,
        mode: Mode,
    ) -> Result<Prepared, StepFailed> {
        let run_as = self.resolve_user(options, app)?;
        let port = readiness::pick_free_port().map_err(|e| {
            StepFailed::preparation(format!(
                "Could not find a free port on 127.0.0.1 for the app: {e}"
            ))
        })?;
        let (session, work_dir) = match plan::session_loader(&app.app_type) {
            None => (None, None),
            Some(_) => {
                let (session, work_dir) =
                    prepare_loader(options, apps_dir, app, mode, port, &run_as)?;
                (Some(session), Some(work_dir))
            }
        };
        let plan = build_plan(options, app, mode, port, &run_as, session.clone())?;
        let shell_arg = format!("exec {}", plan.command);
        self.command = format!("/bin/sh -c {}", plan::sh_quote(&shell_arg));
        self.envvars = redact_secrets(&plan.env);
        Ok(Prepared {
            run_as,
            plan,
            shell_arg,
            session,
            work_dir,
        })
    }

    /// The user and group the process runs as (see [`unix::resolve_run_as`]).
    fn resolve_user(
        &mut self,
        options: &SpawnerOptions,
        app: &AppSpec,
    ) -> Result<RunAs, StepFailed> {
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
        .map_err(|e| StepFailed::preparation(e.to_string()))?;
        self.user = run_as.describe();
        Ok(run_as)
    }

    /// Step 2: forks the process, through the spawn helper when the core dropped root.
    async fn fork(&self, app: &AppSpec, prepared: &Prepared) -> Result<Forked, SpawnError> {
        match helper::client() {
            Some(helper) => self.fork_through_helper(helper, app, prepared).await,
            None => fork_here(app, prepared).map_err(|e| self.failed(e)),
        }
    }

    /// Asks the spawn helper (root) to start the process; it inherits nothing from the
    /// helper, so it gets the core's environment with the plan's applied.
    async fn fork_through_helper(
        &self,
        helper: &HelperClient,
        app: &AppSpec,
        prepared: &Prepared,
    ) -> Result<Forked, SpawnError> {
        let plan = &prepared.plan;
        let env = full_env(&plan.env, &plan.env_remove);
        let stdin_pipe = plan.stdin == StdinMode::Pipe;
        let child = helper
            .spawn(
                &prepared.shell_arg,
                &app.app_root,
                env,
                &prepared.run_as,
                stdin_pipe,
            )
            .await
            .map_err(|e| self.error(SpawnStep::ForkSubprocess, e, String::new()))?;
        let mut streams: Vec<Box<dyn AsyncRead + Unpin + Send>> = Vec::new();
        for fd in [child.stdout, child.stderr] {
            if let Ok(rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
                streams.push(Box::new(rx));
            }
        }
        Ok(Forked {
            pid: child.pid,
            streams,
            control: Arc::new(GroupControl::new(child.pid, child.stdin)),
            exit: ExitSource::Helper(child.exited),
        })
    }

    /// The process exited during the handshake: the loader's report if it wrote one,
    /// else "exited prematurely", with its last output.
    async fn exited_early(
        &self,
        info: &ExitInfo,
        watched: Watched,
        prepared: Prepared,
    ) -> SpawnError {
        let Watched { capture, guard, .. } = watched;
        let output = capture.finish(OUTPUT_GRACE).await;
        let error = match prepared.work_dir.as_ref().and_then(read_report) {
            Some(report) => self.report_error(report, output),
            None => self.error(
                SpawnStep::HandshakePerform,
                format!(
                    "The application process exited prematurely. It {}.",
                    describe_exit(info)
                ),
                output,
            ),
        };
        // Only now: the work dir and the group go once the report and output are read.
        drop(prepared);
        drop(guard);
        error
    }

    /// The error a loader's failure report describes; its backtrace goes before the
    /// output unless the output shows it already.
    fn report_error(&self, report: LoaderReport, output: String) -> SpawnError {
        let step = match report.step.as_str() {
            "preparation" => SpawnStep::Preparation,
            "handshake_perform" => SpawnStep::HandshakePerform,
            _ => SpawnStep::AppLoad,
        };
        let output = if report.backtrace.is_empty() || output.contains(report.backtrace.trim()) {
            output
        } else {
            format!("{}\n\n{output}", report.backtrace.trim_end())
        };
        self.error(step, report.summary, output)
    }

    /// The deadline passed during the handshake: kills the process group and waits
    /// (bounded) for the reaper and the last output.
    async fn timed_out(
        &self,
        app: &AppSpec,
        address: &ProcessAddress,
        watched: Watched,
    ) -> SpawnError {
        let Watched {
            capture,
            exited,
            guard,
            ..
        } = watched;
        drop(guard);
        let _ = tokio::time::timeout(REAP_GRACE, exited).await;
        let output = capture.finish(OUTPUT_GRACE).await;
        self.error(
            SpawnStep::HandshakePerform,
            format!(
                "The application process did not start listening on {} within \
                 the start timeout of {:.1} seconds, so it was killed.",
                describe_address(address),
                app.start_timeout.as_secs_f64()
            ),
            output,
        )
    }
}

/// A session-protocol loader's socket, connect password and work dir; an app
/// process (not a preloader) takes `port` for its direct-access socket.
fn prepare_loader(
    options: &SpawnerOptions,
    apps_dir: &AppsDir,
    app: &AppSpec,
    mode: Mode,
    port: u16,
    run_as: &RunAs,
) -> Result<(SessionSetup, WorkDir), StepFailed> {
    let prefix = match mode {
        Mode::Direct => plan::socket_prefix(&app.app_type),
        Mode::Preloader => "preloader",
    };
    let (mut session, work_dir) =
        prepare_session(options, apps_dir, prefix, run_as).map_err(StepFailed::preparation)?;
    session.direct_port = (mode == Mode::Direct).then_some(port);
    Ok((session, work_dir))
}

/// The launch plan, with what the mode and a dropped-root core add to it.
fn build_plan(
    options: &SpawnerOptions,
    app: &AppSpec,
    mode: Mode,
    port: u16,
    run_as: &RunAs,
    session: Option<SessionSetup>,
) -> Result<LaunchPlan, StepFailed> {
    let loader = session.is_some();
    let inputs = PlanInputs {
        port,
        identity_env: run_as.env(),
        resources_dir: options.resources_dir.clone(),
        session,
    };
    let mut plan = plan::build(app, inputs).map_err(|e| StepFailed::preparation(e.to_string()))?;
    if mode == Mode::Preloader {
        plan.env
            .push(("PASSENGER_PRELOADER".to_string(), "1".to_string()));
    }
    if loader && run_as.switch.is_some() && !unix::is_root() {
        // The core dropped root: loaders of other users open their socket and claims
        // pipe to it (the socket dir is unlistable; sessions carry the password).
        plan.env
            .push(("PASSENGER_SOCKET_MODE".to_string(), "0666".to_string()));
    }
    Ok(plan)
}

/// Forks the process as a child of the core (see "What runs after fork").
fn fork_here(app: &AppSpec, prepared: &Prepared) -> Result<Forked, StepFailed> {
    let plan = &prepared.plan;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&prepared.shell_arg)
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
        cmd.pre_exec(identity::pre_exec_hook(&prepared.run_as));
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| StepFailed::fork(format!("Could not start the app process: {e}")))?;
    let Some(pid) = child.id() else {
        return Err(StepFailed::fork(
            "The app process vanished right after it was started.",
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
    Ok(Forked {
        pid,
        streams,
        control: Arc::new(GroupControl::new(pid, stdin)),
        exit: ExitSource::Child(child),
    })
}

/// Starts capturing the output of a forked process, registers a loader's connect
/// password and hands the process to its reaper.
fn watch(forked: Forked, session: Option<&SessionSetup>, apps_dir: &Arc<AppsDir>) -> Watched {
    let Forked {
        pid,
        streams,
        control,
        exit,
    } = forked;
    let capture = OutputCapture::start(pid, streams);
    // The reaper keeps the apps dir alive: a private one is removed once the spawner
    // and every process using it are gone.
    let socket = session.map(|s| (s.socket.clone(), Arc::clone(apps_dir)));
    let (exited_tx, exited) = oneshot::channel();
    tokio::spawn(reap(exit, Arc::clone(&control), exited_tx, socket));
    let killable: Arc<dyn ProcessControl> = control.clone();
    let guard = KillGuard::new(killable);
    Watched {
        pid,
        control,
        capture,
        exited,
        guard,
    }
}

/// Where the process will accept requests, by its readiness mode.
fn address_of(readiness: &Readiness) -> ProcessAddress {
    match readiness {
        Readiness::PortAccepts { port } => {
            ProcessAddress::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, *port)))
        }
        Readiness::LoaderHandshake { socket } => ProcessAddress::Session(socket.clone()),
    }
}

/// Step 3: waits until `address` accepts a connection, the process exits or
/// `deadline` passes, whichever comes first.
async fn handshake(
    address: &ProcessAddress,
    exited: &mut oneshot::Receiver<ExitInfo>,
    deadline: Instant,
) -> Outcome {
    let accepting: Pin<Box<dyn Future<Output = ()> + Send>> = match address {
        ProcessAddress::Tcp(addr) => Box::pin(readiness::wait_until_accepts(*addr)),
        ProcessAddress::Unix(socket) | ProcessAddress::Session(socket) => {
            let socket = socket.clone();
            Box::pin(async move { readiness::wait_until_unix_accepts(&socket).await })
        }
    };
    tokio::select! {
        biased;
        exit = exited => Outcome::Exited(
            exit.unwrap_or_else(|_| ExitInfo::Unknown("reaper task ended".to_string())),
        ),
        () = accepting => Outcome::Ready,
        () = tokio::time::sleep_until(deadline) => Outcome::TimedOut,
    }
}

/// The process is ready: stops keeping its output, lets it live past the spawn and
/// describes it for the pool.
fn hand_over(
    prepared: Prepared,
    watched: Watched,
    address: ProcessAddress,
    pipeline: Option<Arc<loader::Claims>>,
    spawn_started: SystemTime,
) -> SpawnedProcess {
    let Watched {
        pid,
        control,
        capture,
        exited,
        mut guard,
    } = watched;
    capture.stop_capturing();
    guard.disarm();
    let Prepared { plan, session, .. } = prepared;
    SpawnedProcess {
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
        exited,
    }
}

/// Prepares what a session-protocol loader needs: the work dir with the report file,
/// the socket path and the connect password.
fn prepare_session(
    options: &SpawnerOptions,
    apps_dir: &AppsDir,
    prefix: &str,
    run_as: &RunAs,
) -> Result<(SessionSetup, WorkDir), String> {
    let socket = apps_dir.new_socket_path(options, prefix)?;
    let work = make_work_dir(options, run_as)?;
    let session = SessionSetup {
        socket,
        connect_password: new_connect_password(),
        report_file: work.0.join(REPORT_FILE),
        claims_base: apps_dir.claims_base(options),
        direct_port: None,
    };
    Ok((session, work))
}

/// A loader's private work dir, writable by the user it runs as.
fn make_work_dir(options: &SpawnerOptions, run_as: &RunAs) -> Result<WorkDir, String> {
    // A core that dropped root may not be able to write $TMPDIR; its instance dir has a
    // work dir base of its own (see `Server::drop_privileges`).
    let base = match (&options.instance_dir, unix::is_root()) {
        (Some(instance), false) if helper::client().is_some() => instance.join(WORK_DIR_BASE),
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
    Ok(work)
}

/// A fresh random connect password (128 bits, hex).
pub(crate) fn new_connect_password() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
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
