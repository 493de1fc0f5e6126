//! The pool harness shared by the property test (`proptests`) and the `pool_ops`
//! fuzz target: it plays the actor and a fake spawner for a sequence of [`Op`]s and
//! checks after every input that:
//! - capacity used never exceeds `max_pool_size` (plus one per rolling restart);
//! - every checkout is answered once (assigned or rejected), or waits in a queue;
//! - `max_request_queue_size` bounds every group's waiting requests;
//! - no process is both detached and serving: a detached process gets no new session,
//!   and no process is listed as enabled and detached at once;
//! - the pool's session counts match the sessions handed out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::app::{AppSpec, AppType};
use crate::spawn::SpawnStep;

/// Fails the run with a message unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// One input the harness can make, with indices resolved against its state.
#[derive(Debug, Clone)]
pub enum Op {
    Checkout {
        app: usize,
        pipelinable: bool,
    },
    Cancel(usize),
    Close {
        pick: usize,
        outcome: u8,
    },
    SpawnDone {
        pick: usize,
        ok: bool,
        concurrency: i32,
        pipeline: bool,
    },
    Exit(usize),
    Tick(u64),
    Restart {
        app: usize,
        rolling: bool,
    },
    Detach(usize),
    Memory(usize),
    OobDone(usize),
    Prestart(usize),
    GrowPool(u32),
    Shutdown,
}

fn apps() -> Vec<Arc<AppSpec>> {
    (0..3)
        .map(|i| {
            let mut spec = AppSpec::new(
                format!("app{i}"),
                PathBuf::from(format!("/srv/app{i}")),
                AppType::Generic {
                    start_command: "true".into(),
                },
            );
            spec.max_request_queue_size = [2, 5, 0][i];
            spec.min_instances = [1, 0, 2][i];
            spec.max_instances = [0, 2, 0][i];
            spec.max_requests = [0, 3, 0][i];
            spec.memory_limit_mb = 10;
            Arc::new(spec)
        })
        .collect()
}

#[derive(Debug, Default)]
struct Harness {
    /// Requests not answered yet (and not cancelled), by id: pipelinable?
    pending: BTreeMap<RequestId, bool>,
    answered: HashSet<RequestId>,
    /// Sessions handed out: (request, gupid, pipelined).
    sessions: Vec<(RequestId, Gupid, bool)>,
    /// Spawns asked for and not reported yet.
    spawns: Vec<(String, SpawnId, Gupid)>,
    /// Processes that exist (spawned, not exited), with their pid.
    alive: BTreeMap<Gupid, u32>,
    /// Processes out of rotation for out-of-band work.
    oob: Vec<Gupid>,
    next_request: RequestId,
    next_pid: u32,
}

fn pick<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

impl Harness {
    /// Performs the pool's actions as the actor would, and checks the answers.
    fn absorb(
        &mut self,
        pool: &mut Pool,
        out: Vec<PoolAction>,
        detached_before: &HashSet<Gupid>,
        now: Instant,
    ) -> Result<(), String> {
        let mut follow_ups = Vec::new();
        for action in out {
            match action {
                PoolAction::Spawn {
                    group,
                    spawn,
                    gupid,
                    ..
                } => self.spawns.push((group, spawn, gupid)),
                PoolAction::Assign { request, process } => {
                    check!(
                        self.pending.remove(&request).is_some(),
                        "request {request} assigned but not pending (answered twice?)"
                    );
                    check!(
                        self.answered.insert(request),
                        "request {request} answered twice"
                    );
                    check!(
                        !detached_before.contains(&process.gupid),
                        "detached process {} got a new session",
                        process.gupid
                    );
                    self.sessions
                        .push((request, process.gupid, process.pipelined));
                }
                PoolAction::Reject { request, .. } => {
                    check!(
                        self.pending.remove(&request).is_some(),
                        "request {request} rejected but not pending"
                    );
                    check!(
                        self.answered.insert(request),
                        "request {request} answered twice"
                    );
                }
                PoolAction::RunOobWork { gupid, .. } => self.oob.push(gupid),
                PoolAction::Unpipeline { gupid } => {
                    // The proxy takes each pipelined request back and asks again.
                    let taken: Vec<_> = self
                        .sessions
                        .iter()
                        .filter(|(_, g, pipelined)| *g == gupid && *pipelined)
                        .cloned()
                        .collect();
                    for (request, g, _) in taken {
                        self.sessions.retain(|(r, _, _)| *r != request);
                        let app = Arc::clone(&apps()[app_index(&g, pool)]);
                        follow_ups.push(PoolInput::SessionClosed {
                            gupid: g,
                            outcome: SessionOutcome::Withdrawn,
                        });
                        let id = self.next_request;
                        self.next_request += 1;
                        self.pending.insert(id, true);
                        follow_ups.push(PoolInput::Checkout {
                            request: id,
                            app,
                            pipelinable: true,
                            retry: true,
                        });
                    }
                }
                _ => {}
            }
        }
        for input in follow_ups {
            let detached = detached(pool);
            let out = pool.handle(input, now);
            self.absorb(pool, out, &detached, now)?;
        }
        Ok(())
    }

    fn check(&self, pool: &Pool) -> Result<(), String> {
        let mut listed = HashSet::new();
        let mut counted: HashMap<Gupid, u32> = HashMap::new();
        for g in &pool.groups {
            for p in &g.processes {
                check!(
                    p.enabled == Enabled::Enabled,
                    "{} in the wrong list",
                    p.gupid
                );
                check!(listed.insert(p.gupid.clone()), "{} listed twice", p.gupid);
                counted.insert(p.gupid.clone(), p.sessions);
            }
            for p in &g.detached {
                check!(
                    p.enabled == Enabled::Detached,
                    "{} in the wrong list",
                    p.gupid
                );
                check!(
                    listed.insert(p.gupid.clone()),
                    "{} both enabled and detached",
                    p.gupid
                );
                counted.insert(p.gupid.clone(), p.sessions);
            }
            let max = g.app.max_request_queue_size as usize;
            check!(
                max == 0 || g.waiting() <= max,
                "group {} has {} waiting, limit {max}",
                g.name,
                g.waiting()
            );
            if !g.queue.is_empty() {
                check!(
                    g.route().is_none(),
                    "group {} queues while a process has a free slot",
                    g.name
                );
            }
        }
        let rolling = pool.groups.iter().filter(|g| g.rolling.is_some()).count() as u32;
        check!(
            pool.capacity_used() <= pool.options.max_pool_size.max(1) + rolling,
            "capacity {} over max {} (+{rolling} rolling)",
            pool.capacity_used(),
            pool.options.max_pool_size
        );
        // Every request not answered waits in a queue.
        let mut queued: HashSet<RequestId> = pool.top_queue.iter().map(|(r, _)| *r).collect();
        for g in &pool.groups {
            queued.extend(g.queue.iter().copied());
        }
        for request in self.pending.keys() {
            check!(
                queued.contains(request),
                "request {request} neither answered nor queued"
            );
        }
        // The pool counts exactly the sessions handed out on live processes.
        let mut mine: HashMap<&Gupid, u32> = HashMap::new();
        for (_, g, _) in &self.sessions {
            *mine.entry(g).or_default() += 1;
        }
        for (gupid, sessions) in &counted {
            let handed_out = mine.get(gupid).copied().unwrap_or(0);
            check!(
                *sessions == handed_out,
                "{gupid} has {sessions} sessions, {handed_out} handed out"
            );
        }
        Ok(())
    }
}

fn detached(pool: &Pool) -> HashSet<Gupid> {
    pool.groups
        .iter()
        .flat_map(|g| g.detached.iter().map(|p| p.gupid.clone()))
        .collect()
}

fn app_index(gupid: &Gupid, pool: &Pool) -> usize {
    pool.groups
        .iter()
        .find(|g| {
            g.processes
                .iter()
                .chain(g.detached.iter())
                .any(|p| p.gupid == *gupid)
        })
        .and_then(|g| g.name.strip_prefix("app"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn spawn_error() -> Arc<SpawnError> {
    Arc::new(SpawnError {
        summary: "boom".into(),
        step: SpawnStep::HandshakePerform,
        app_root: "/srv/x".into(),
        output: String::new(),
        command: "true".into(),
        envvars: Vec::new(),
        user: "nobody".into(),
        error_id: "deadbeef".into(),
    })
}

/// Runs `ops` against a pool of `max_pool_size`; `Err` names the broken invariant.
pub fn run(max_pool_size: u32, ops: Vec<Op>) -> Result<(), String> {
    let apps = apps();
    let mut pool = Pool::new(PoolOptions {
        max_pool_size,
        pool_idle_time: Duration::from_secs(60),
        process_shutdown_timeout: Duration::from_secs(10),
        ..PoolOptions::default()
    });
    let mut h = Harness {
        next_request: 1,
        next_pid: 100,
        ..Harness::default()
    };
    let mut now = Instant::now();
    for op in ops {
        let input = match op {
            Op::Checkout { app, pipelinable } => {
                let request = h.next_request;
                h.next_request += 1;
                h.pending.insert(request, pipelinable);
                PoolInput::Checkout {
                    request,
                    app: Arc::clone(&apps[app]),
                    pipelinable,
                    retry: false,
                }
            }
            Op::Cancel(i) => {
                let ids: Vec<RequestId> = h.pending.keys().copied().collect();
                let Some(request) = pick(&ids, i) else {
                    continue;
                };
                h.pending.remove(&request);
                PoolInput::CancelCheckout { request }
            }
            Op::Close { pick: i, outcome } => {
                let Some((request, gupid, _)) = pick(&h.sessions, i) else {
                    continue;
                };
                h.sessions.retain(|(r, _, _)| *r != request);
                let outcome = match outcome {
                    0 | 1 => SessionOutcome::Ok,
                    2 => SessionOutcome::ProcessFailed,
                    _ => SessionOutcome::OobWorkRequested,
                };
                PoolInput::SessionClosed { gupid, outcome }
            }
            Op::SpawnDone {
                pick: i,
                ok,
                concurrency,
                pipeline,
            } => {
                if h.spawns.is_empty() {
                    continue;
                }
                let (group, spawn, gupid) = h.spawns.remove(i % h.spawns.len());
                if ok {
                    let pid = h.next_pid;
                    h.next_pid += 1;
                    h.alive.insert(gupid.clone(), pid);
                    let addr: SocketAddr = ([127, 0, 0, 1], 20000).into();
                    PoolInput::SpawnSucceeded {
                        group,
                        spawn,
                        gupid,
                        info: SpawnedInfo {
                            pid,
                            address: ProcessAddress::Tcp(addr),
                            concurrency,
                            spawn_started: SystemTime::now(),
                            spawn_ended: SystemTime::now(),
                            pipeline,
                            connect_password: None,
                            direct_address: None,
                        },
                    }
                } else {
                    PoolInput::SpawnFailed {
                        group,
                        spawn,
                        error: spawn_error(),
                    }
                }
            }
            Op::Exit(i) => {
                let gupids: Vec<Gupid> = h.alive.keys().cloned().collect();
                let Some(gupid) = pick(&gupids, i) else {
                    continue;
                };
                h.alive.remove(&gupid);
                h.oob.retain(|g| *g != gupid);
                // Its sessions end with errors later; the pool forgets the process now.
                h.sessions.retain(|(_, g, _)| *g != gupid);
                PoolInput::ProcessExited { gupid }
            }
            Op::Tick(ms) => {
                now += Duration::from_millis(ms);
                PoolInput::Tick
            }
            Op::Restart { app, rolling } => PoolInput::RestartGroup {
                name: apps[app].name.clone(),
                method: if rolling {
                    RestartMethod::Rolling
                } else {
                    RestartMethod::Blocking
                },
            },
            Op::Detach(i) => {
                let pids: Vec<u32> = h.alive.values().copied().collect();
                let Some(pid) = pick(&pids, i) else { continue };
                PoolInput::DetachProcess { pid }
            }
            Op::Memory(i) => {
                let gupids: Vec<Gupid> = h.alive.keys().cloned().collect();
                let Some(gupid) = pick(&gupids, i) else {
                    continue;
                };
                PoolInput::MemoryLimitExceeded {
                    gupid,
                    used_kb: 20 * 1024,
                }
            }
            Op::OobDone(i) => {
                let Some(gupid) = pick(&h.oob, i) else {
                    continue;
                };
                h.oob.retain(|g| *g != gupid);
                PoolInput::OobWorkDone { gupid }
            }
            Op::Prestart(app) => PoolInput::Prestart {
                app: Arc::clone(&apps[app]),
            },
            Op::GrowPool(by) => PoolInput::SetMaxPoolSize {
                max: pool.options.max_pool_size + by,
            },
            Op::Shutdown => PoolInput::Shutdown,
        };
        let before = detached(&pool);
        let out = pool.handle(input, now);
        h.absorb(&mut pool, out, &before, now)?;
        h.check(&pool)?;
    }
    Ok(())
}
