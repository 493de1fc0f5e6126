//! A fake [`Spawner`] for tests: hands out pretend processes without starting any.
//!
//! Owns only in-memory records. Tests choose the advertised concurrency, make spawns
//! fail or hang, and make processes exit; they can see which processes were asked to
//! terminate or were killed. Nothing here touches the OS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use tokio::sync::{oneshot, Notify};

use crate::app::AppSpec;
use crate::pool::{Gupid, ProcessAddress};

use super::{ExitInfo, ProcessControl, SpawnError, SpawnStep, SpawnedProcess, Spawner};

/// What the fake knows about one pretend process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeProcess {
    /// Pretend pid.
    pub pid: u32,
    /// The gupid the pool chose.
    pub gupid: Gupid,
    /// The app's group name.
    pub app: String,
    /// Whether `terminate` was called.
    pub terminated: bool,
    /// Whether `kill` was called.
    pub killed: bool,
    /// Whether it has exited.
    pub exited: bool,
}

#[derive(Debug)]
struct Inner {
    next_pid: u32,
    concurrency: i32,
    fail: bool,
    exit_on_terminate: bool,
    held: bool,
    spawn_calls: u32,
    processes: Vec<FakeProcess>,
    exits: HashMap<Gupid, oneshot::Sender<ExitInfo>>,
}

/// The fake spawner; clones share state.
#[derive(Debug, Clone)]
pub struct FakeSpawner {
    inner: Arc<Mutex<Inner>>,
    release: Arc<Notify>,
}

impl Default for FakeSpawner {
    fn default() -> Self {
        FakeSpawner::new()
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panicking test thread must not hide the state from the others.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeSpawner {
    /// Spawns succeed at once with concurrency 1; terminate makes a process exit.
    pub fn new() -> FakeSpawner {
        FakeSpawner {
            inner: Arc::new(Mutex::new(Inner {
                next_pid: 50_000,
                concurrency: 1,
                fail: false,
                exit_on_terminate: true,
                held: false,
                spawn_calls: 0,
                processes: Vec::new(),
                exits: HashMap::new(),
            })),
            release: Arc::new(Notify::new()),
        }
    }

    /// The concurrency later processes advertise.
    pub fn set_concurrency(&self, concurrency: i32) {
        lock(&self.inner).concurrency = concurrency;
    }

    /// Whether later spawns fail.
    pub fn set_failing(&self, fail: bool) {
        lock(&self.inner).fail = fail;
    }

    /// Whether `terminate` makes the process exit at once (default true).
    pub fn set_exit_on_terminate(&self, exit: bool) {
        lock(&self.inner).exit_on_terminate = exit;
    }

    /// While held, spawns wait; releasing lets every waiting spawn finish.
    pub fn set_held(&self, held: bool) {
        lock(&self.inner).held = held;
        if !held {
            self.release.notify_waiters();
        }
    }

    /// How many times `spawn` was called.
    pub fn spawn_calls(&self) -> u32 {
        lock(&self.inner).spawn_calls
    }

    /// Every process handed out so far.
    pub fn processes(&self) -> Vec<FakeProcess> {
        lock(&self.inner).processes.clone()
    }

    /// Makes the process exit (as if it crashed or stopped); false if unknown.
    pub fn exit(&self, gupid: &Gupid) -> bool {
        exit_process(&self.inner, gupid)
    }
}

fn exit_process(inner: &Mutex<Inner>, gupid: &Gupid) -> bool {
    let mut inner = lock(inner);
    let Some(tx) = inner.exits.remove(gupid) else {
        return false;
    };
    if let Some(p) = inner.processes.iter_mut().find(|p| p.gupid == *gupid) {
        p.exited = true;
    }
    // The pool may have stopped listening; that is fine for a fake.
    let _ = tx.send(ExitInfo::Code(0));
    true
}

#[derive(Debug)]
struct FakeControl {
    inner: Arc<Mutex<Inner>>,
    gupid: Gupid,
}

impl ProcessControl for FakeControl {
    fn terminate(&self) {
        let exit = {
            let mut inner = lock(&self.inner);
            if let Some(p) = inner.processes.iter_mut().find(|p| p.gupid == self.gupid) {
                p.terminated = true;
            }
            inner.exit_on_terminate
        };
        if exit {
            exit_process(&self.inner, &self.gupid);
        }
    }

    fn kill(&self) {
        if let Some(p) = lock(&self.inner)
            .processes
            .iter_mut()
            .find(|p| p.gupid == self.gupid)
        {
            p.killed = true;
        }
        exit_process(&self.inner, &self.gupid);
    }
}

impl Spawner for FakeSpawner {
    fn spawn(
        &self,
        app: Arc<AppSpec>,
        gupid: Gupid,
    ) -> BoxFuture<'static, Result<SpawnedProcess, SpawnError>> {
        let inner = Arc::clone(&self.inner);
        let release = Arc::clone(&self.release);
        Box::pin(async move {
            loop {
                let notified = release.notified();
                if !lock(&inner).held {
                    break;
                }
                notified.await;
            }
            let mut guard = lock(&inner);
            guard.spawn_calls += 1;
            if guard.fail {
                return Err(SpawnError {
                    summary: "fake spawn failure".into(),
                    step: SpawnStep::HandshakePerform,
                    app_root: app.app_root.display().to_string(),
                    output: String::new(),
                    command: "fake".into(),
                    envvars: Vec::new(),
                    user: "fake".into(),
                    error_id: "00000000".into(),
                });
            }
            let pid = guard.next_pid;
            guard.next_pid += 1;
            let (tx, rx) = oneshot::channel();
            guard.exits.insert(gupid.clone(), tx);
            guard.processes.push(FakeProcess {
                pid,
                gupid: gupid.clone(),
                app: app.name.clone(),
                terminated: false,
                killed: false,
                exited: false,
            });
            let concurrency = guard.concurrency;
            drop(guard);
            let port = 20_000 + (pid % 10_000) as u16;
            Ok(SpawnedProcess {
                pid,
                address: ProcessAddress::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
                concurrency,
                spawn_started: SystemTime::now(),
                spawn_ended: SystemTime::now(),
                control: Arc::new(FakeControl {
                    inner: Arc::clone(&inner),
                    gupid,
                }),
                pipeline: None,
                connect_password: None,
                direct_address: None,
                exited: rx,
            })
        })
    }
}
