//! Forking one worker through a running preloader (ARCHITECTURE.md, "Preloader
//! protocol"): prepare its socket, password, port and pipes, send the spawn command,
//! read its pid, watch it, and wait until it listens.
//!
//! Owns the core's side of one spawn command. It does not start or replace preloaders
//! (the parent module does: a [`Failure::PreloaderGone`] asks it to).

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::exit_watch::{ExitWatcher, WorkerControl};
use super::{Failure, Preloader};
use crate::app::AppSpec;
use crate::loader;
use crate::pool::{Gupid, ProcessAddress};
use crate::spawn::apps_dir::AppsDir;
use crate::spawn::journey::{describe_exit, new_connect_password, KillGuard, OUTPUT_GRACE};
use crate::spawn::output::OutputCapture;
use crate::spawn::{
    readiness, ExitInfo, ProcessControl, SpawnStep, SpawnedProcess, SpawnerOptions,
};

/// Longest line accepted from a preloader or worker.
const MAX_REPLY: u64 = 64 * 1024;

/// What the spawn command tells the new worker.
struct Order {
    /// Where it listens.
    socket: PathBuf,
    /// Its connect password.
    password: String,
    /// The loopback port of its direct-access socket.
    direct_port: u16,
}

/// The pipe ends sent to the worker with the command: the read end of its stdin and
/// the write end of its output.
struct SentEnds {
    stdin: OwnedFd,
    output: OwnedFd,
}

/// The pipe ends the core keeps: closing `stdin` stops the worker, `output` is logged.
struct KeptEnds {
    stdin: OwnedFd,
    output: OwnedFd,
}

/// A forked worker whose output is captured and whose exit is watched; killed if the
/// spawn does not complete.
struct Watched {
    pid: u32,
    control: Arc<WorkerControl>,
    capture: OutputCapture,
    exited: oneshot::Receiver<ExitInfo>,
    guard: KillGuard,
}

/// How waiting for the worker to listen ended.
enum Outcome {
    Reply(Result<Option<Reply>, String>),
    Exited(ExitInfo),
    TimedOut,
}

/// One line from the preloader or the worker.
#[derive(Debug, Default, serde::Deserialize)]
struct Reply {
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    message: String,
}

/// One worker spawn through `preloader`: what its steps share.
struct WorkerSpawn<'a> {
    preloader: &'a Preloader,
    app: &'a AppSpec,
    deadline: Instant,
}

/// Forks one process of `app` from `preloader` and waits until it listens or
/// `deadline` passes.
pub(super) async fn spawn_worker(
    preloader: &Preloader,
    options: &SpawnerOptions,
    apps_dir: &Arc<AppsDir>,
    app: &AppSpec,
    gupid: &Gupid,
    deadline: Instant,
) -> Result<SpawnedProcess, Failure> {
    let spawn = WorkerSpawn {
        preloader,
        app,
        deadline,
    };
    let (order, sent, kept) = spawn.prepare(options, apps_dir)?;
    let mut reader = spawn.send_command(&order, sent).await?;
    let pid = spawn.read_pid(&mut reader).await?;
    let mut worker = watch(pid, kept, &order.socket, apps_dir);
    tracing::debug!(pid, %gupid, app = %app.name, preloader = preloader.pid, "forked app process, waiting for it to listen");
    let outcome = wait_until_listening(&mut reader, &mut worker.exited, deadline).await;
    match outcome {
        Outcome::Reply(Ok(Some(reply))) if reply.result.as_deref() == Some("ok") => {
            tracing::info!(pid, %gupid, app = %app.name, preloader = preloader.pid, "app process is ready");
            let claims =
                loader::pipeline::claims_for(app, apps_dir.claims_base(options), &order.socket);
            Ok(spawn.hand_over(worker, order, claims))
        }
        outcome => Err(spawn.failed(outcome, worker, &order).await),
    }
}

impl WorkerSpawn<'_> {
    /// A final failure, reported with the preloader's command and environment.
    fn fail(&self, step: SpawnStep, summary: String, output: String) -> Failure {
        Failure::Spawn(Box::new(
            self.preloader.journey.error(step, summary, output),
        ))
    }

    /// The deadline passed before the worker got as far as `what` says.
    fn timed_out(&self, what: &str) -> Failure {
        self.fail(
            SpawnStep::HandshakePerform,
            format!(
                "The app process {what} within the start timeout of {:.1} seconds, so it was \
                 killed.",
                self.app.start_timeout.as_secs_f64()
            ),
            String::new(),
        )
    }

    /// The worker's socket, password, direct-access port and pipes.
    fn prepare(
        &self,
        options: &SpawnerOptions,
        apps_dir: &AppsDir,
    ) -> Result<(Order, SentEnds, KeptEnds), Failure> {
        let socket = apps_dir
            .new_socket_path(options, self.preloader.socket_prefix)
            .map_err(|e| self.fail(SpawnStep::Preparation, e, String::new()))?;
        let password = new_connect_password();
        let direct_port = readiness::pick_free_port().map_err(|e| {
            self.fail(
                SpawnStep::Preparation,
                format!("Could not find a free port on 127.0.0.1 for the app: {e}"),
                String::new(),
            )
        })?;
        let pipes = pipe().and_then(|stdin| Ok((stdin, pipe()?)));
        let ((stdin_r, stdin_w), (out_r, out_w)) = pipes.map_err(|e| {
            self.fail(
                SpawnStep::Preparation,
                format!("Could not create the pipes for a new worker: {e}"),
                String::new(),
            )
        })?;
        let order = Order {
            socket,
            password,
            direct_port,
        };
        let sent = SentEnds {
            stdin: stdin_r,
            output: out_w,
        };
        let kept = KeptEnds {
            stdin: stdin_w,
            output: out_r,
        };
        Ok((order, sent, kept))
    }

    /// Connects to the preloader and sends the spawn command with the worker's pipe
    /// ends, which only the worker holds afterwards (or EOF would never come).
    async fn send_command(
        &self,
        order: &Order,
        sent: SentEnds,
    ) -> Result<BufReader<UnixStream>, Failure> {
        let connecting = UnixStream::connect(&self.preloader.socket);
        let mut stream = match tokio::time::timeout_at(self.deadline, connecting).await {
            Err(_) => return Err(self.timed_out("was not forked by the preloader")),
            Ok(Err(e)) => return Err(Failure::PreloaderGone(format!("connect: {e}"))),
            Ok(Ok(stream)) => stream,
        };
        let command = serde_json::json!({
            "command": "spawn",
            "socket": order.socket.to_string_lossy(),
            "password": order.password,
            "direct_port": order.direct_port,
            "auth": self.preloader.auth,
        });
        let mut line = command.to_string().into_bytes();
        line.push(b'\n');
        let fds = [sent.stdin.as_raw_fd(), sent.output.as_raw_fd()];
        let sending = send_with_fds(&mut stream, &line, &fds);
        match tokio::time::timeout_at(self.deadline, sending).await {
            Err(_) => return Err(self.timed_out("was not forked by the preloader")),
            Ok(Err(e)) => return Err(Failure::PreloaderGone(format!("send: {e}"))),
            Ok(Ok(())) => {}
        }
        drop(sent);
        Ok(BufReader::new(stream))
    }

    /// The forked worker's pid, its first reply.
    async fn read_pid(&self, reader: &mut BufReader<UnixStream>) -> Result<u32, Failure> {
        match tokio::time::timeout_at(self.deadline, read_reply(reader)).await {
            Err(_) => Err(self.timed_out("was not forked by the preloader")),
            Ok(Err(e)) => Err(Failure::PreloaderGone(e)),
            Ok(Ok(None)) => Err(Failure::PreloaderGone(
                "it closed the connection without forking".to_string(),
            )),
            Ok(Ok(Some(Reply { pid: Some(pid), .. }))) => Ok(pid),
            Ok(Ok(Some(reply))) => Err(self.fail(
                SpawnStep::ForkSubprocess,
                format!("The preloader could not fork a process: {}", reply.message),
                String::new(),
            )),
        }
    }

    /// The worker listens: stops keeping its output, lets it live past the spawn and
    /// describes it for the pool.
    fn hand_over(
        &self,
        worker: Watched,
        order: Order,
        claims: Option<Arc<loader::Claims>>,
    ) -> SpawnedProcess {
        let Watched {
            pid,
            control,
            capture,
            exited,
            mut guard,
        } = worker;
        capture.stop_capturing();
        guard.disarm();
        SpawnedProcess {
            pid,
            address: ProcessAddress::Session(order.socket),
            concurrency: self.preloader.concurrency,
            spawn_started: SystemTime::now(),
            spawn_ended: SystemTime::now(),
            control,
            pipeline: claims,
            connect_password: Some(order.password),
            direct_address: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, order.direct_port))),
            exited,
        }
    }

    /// The worker did not come up: kills it and reports why, with its last output.
    async fn failed(&self, outcome: Outcome, worker: Watched, order: &Order) -> Failure {
        let (step, summary) = match outcome {
            Outcome::Reply(Ok(Some(reply))) => (
                SpawnStep::AppLoad,
                format!("The app process could not start: {}", reply.message),
            ),
            Outcome::Reply(Ok(None)) => (
                SpawnStep::HandshakePerform,
                "The application process exited prematurely (it closed the preloader \
                 connection)."
                    .to_string(),
            ),
            Outcome::Reply(Err(e)) => (
                SpawnStep::HandshakePerform,
                format!("The application process sent a bad reply: {e}."),
            ),
            Outcome::Exited(info) => (
                SpawnStep::HandshakePerform,
                format!(
                    "The application process exited prematurely. It {}.",
                    describe_exit(&info)
                ),
            ),
            Outcome::TimedOut => (
                SpawnStep::HandshakePerform,
                format!(
                    "The application process did not start listening on the socket {} within \
                     the start timeout of {:.1} seconds, so it was killed.",
                    order.socket.display(),
                    self.app.start_timeout.as_secs_f64()
                ),
            ),
        };
        let output = finish(worker).await;
        self.fail(step, summary, output)
    }
}

/// Starts capturing the worker's output and watching its exit; its exit watcher
/// removes its socket.
fn watch(pid: u32, kept: KeptEnds, socket: &Path, apps_dir: &Arc<AppsDir>) -> Watched {
    let capture = match tokio::net::unix::pipe::Receiver::from_owned_fd(kept.output) {
        Ok(receiver) => OutputCapture::start(pid, [receiver]),
        Err(e) => {
            tracing::warn!(pid, error = %e, "cannot read the worker's output");
            OutputCapture::start(pid, Vec::<tokio::net::unix::pipe::Receiver>::new())
        }
    };
    let control = Arc::new(WorkerControl::new(pid, kept.stdin));
    let killable: Arc<dyn ProcessControl> = control.clone();
    let guard = KillGuard::new(killable);
    let (exited_tx, exited) = oneshot::channel();
    let watcher = ExitWatcher::new(pid);
    tokio::spawn(watcher.run(
        Arc::clone(&control),
        exited_tx,
        socket.to_path_buf(),
        Arc::clone(apps_dir),
    ));
    Watched {
        pid,
        control,
        capture,
        exited,
        guard,
    }
}

/// Waits for the worker's second reply (`{"result":"ok"}` once it listens), its exit
/// or the deadline, whichever comes first.
async fn wait_until_listening(
    reader: &mut BufReader<UnixStream>,
    exited: &mut oneshot::Receiver<ExitInfo>,
    deadline: Instant,
) -> Outcome {
    tokio::select! {
        biased;
        reply = read_reply(reader) => Outcome::Reply(reply),
        exit = exited => Outcome::Exited(
            exit.unwrap_or_else(|_| ExitInfo::Unknown("exit watcher ended".to_string())),
        ),
        () = tokio::time::sleep_until(deadline) => Outcome::TimedOut,
    }
}

/// After a failed worker spawn: kills it, waits briefly for its exit and its output.
async fn finish(worker: Watched) -> String {
    let Watched {
        capture,
        exited,
        guard,
        ..
    } = worker;
    drop(guard);
    let _ = tokio::time::timeout(OUTPUT_GRACE * 4, exited).await;
    capture.finish(OUTPUT_GRACE).await
}

async fn read_reply(reader: &mut BufReader<UnixStream>) -> Result<Option<Reply>, String> {
    let mut line = String::new();
    let n = (&mut *reader)
        .take(MAX_REPLY)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("reading the reply failed: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    serde_json::from_str(line.trim_end())
        .map(Some)
        .map_err(|e| format!("invalid reply {:?}: {e}", line.trim_end()))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Sends `line` with `fds` attached, then the rest of the line if the kernel took
/// only part of it.
async fn send_with_fds(stream: &mut UnixStream, line: &[u8], fds: &[i32]) -> io::Result<()> {
    let sent = loop {
        stream.writable().await?;
        let result = stream.try_io(Interest::WRITABLE, || {
            sendmsg::<UnixAddr>(
                stream.as_raw_fd(),
                &[IoSlice::new(line)],
                &[ControlMessage::ScmRights(fds)],
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        });
        match result {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    stream.write_all(&line[sent..]).await
}
