//! Scenario tests of the pool state machine, driven with injected time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::app::{AppSpec, AppType};
use crate::spawn::SpawnStep;

fn app(name: &str, edit: impl FnOnce(&mut AppSpec)) -> Arc<AppSpec> {
    let mut spec = AppSpec::new(
        name,
        PathBuf::from(format!("/srv/{name}")),
        AppType::Generic {
            start_command: "true".into(),
        },
    );
    edit(&mut spec);
    Arc::new(spec)
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

#[derive(Debug, Clone)]
struct SpawnReq {
    group: String,
    spawn: SpawnId,
    gupid: Gupid,
}

struct H {
    pool: Pool,
    now: Instant,
    next_req: RequestId,
    next_pid: u32,
}

impl H {
    fn new(max_pool_size: u32) -> H {
        H::with(PoolOptions {
            max_pool_size,
            ..PoolOptions::default()
        })
    }

    fn with(options: PoolOptions) -> H {
        H {
            pool: Pool::new(options),
            now: Instant::now(),
            next_req: 1,
            next_pid: 1000,
        }
    }

    fn input(&mut self, input: PoolInput) -> Vec<PoolAction> {
        self.pool.handle(input, self.now)
    }

    fn checkout(&mut self, app: &Arc<AppSpec>) -> (RequestId, Vec<PoolAction>) {
        self.checkout_kind(app, false, false)
    }

    fn checkout_kind(
        &mut self,
        app: &Arc<AppSpec>,
        pipelinable: bool,
        retry: bool,
    ) -> (RequestId, Vec<PoolAction>) {
        let request = self.next_req;
        self.next_req += 1;
        let out = self.input(PoolInput::Checkout {
            request,
            app: Arc::clone(app),
            pipelinable,
            retry,
        });
        (request, out)
    }

    /// Completes `s` with a process of `concurrency`; returns (pid, actions).
    fn spawn_ok(&mut self, s: &SpawnReq, concurrency: i32) -> (u32, Vec<PoolAction>) {
        self.spawn_ok_with(s, concurrency, false)
    }

    /// Like `spawn_ok`; `pipeline`: the process takes pipelined requests.
    fn spawn_ok_with(
        &mut self,
        s: &SpawnReq,
        concurrency: i32,
        pipeline: bool,
    ) -> (u32, Vec<PoolAction>) {
        let pid = self.next_pid;
        self.next_pid += 1;
        let addr: SocketAddr = ([127, 0, 0, 1], 10000 + pid as u16).into();
        let out = self.input(PoolInput::SpawnSucceeded {
            group: s.group.clone(),
            spawn: s.spawn,
            gupid: s.gupid.clone(),
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
        });
        (pid, out)
    }

    fn spawn_fail(&mut self, s: &SpawnReq) -> Vec<PoolAction> {
        self.input(PoolInput::SpawnFailed {
            group: s.group.clone(),
            spawn: s.spawn,
            error: spawn_error(),
        })
    }

    fn close(&mut self, gupid: &Gupid) -> Vec<PoolAction> {
        self.input(PoolInput::SessionClosed {
            gupid: gupid.clone(),
            outcome: SessionOutcome::Ok,
        })
    }

    fn exited(&mut self, gupid: &Gupid) -> Vec<PoolAction> {
        self.input(PoolInput::ProcessExited {
            gupid: gupid.clone(),
        })
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn snap(&self) -> PoolSnapshot {
        self.pool.snapshot(self.now, SystemTime::now())
    }
}

fn spawns(out: &[PoolAction]) -> Vec<SpawnReq> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Spawn {
                group,
                spawn,
                gupid,
                ..
            } => Some(SpawnReq {
                group: group.clone(),
                spawn: *spawn,
                gupid: gupid.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn one_spawn(out: &[PoolAction]) -> SpawnReq {
    let s = spawns(out);
    assert_eq!(s.len(), 1, "expected exactly one spawn in {out:?}");
    s[0].clone()
}

fn assigned(out: &[PoolAction]) -> Vec<(RequestId, Gupid)> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Assign { request, process } => Some((*request, process.gupid.clone())),
            _ => None,
        })
        .collect()
}

fn rejected(out: &[PoolAction]) -> Vec<(RequestId, CheckoutError)> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Reject { request, error } => Some((*request, error.clone())),
            _ => None,
        })
        .collect()
}

fn terminated(out: &[PoolAction]) -> Vec<Gupid> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Terminate { gupid } => Some(gupid.clone()),
            _ => None,
        })
        .collect()
}

fn killed(out: &[PoolAction]) -> Vec<Gupid> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Kill { gupid } => Some(gupid.clone()),
            _ => None,
        })
        .collect()
}

/// A group with one ready process of `concurrency` serving nothing. Returns its gupid.
fn ready_process(h: &mut H, a: &Arc<AppSpec>, concurrency: i32) -> Gupid {
    let (r, out) = h.checkout(a);
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s, concurrency);
    assert_eq!(assigned(&out), vec![(r, s.gupid.clone())]);
    h.close(&s.gupid);
    s.gupid
}

#[test]
fn first_request_spawns_then_is_assigned() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let (r, out) = h.checkout(&a);
    assert!(assigned(&out).is_empty());
    let s = one_spawn(&out);
    assert_eq!(s.group, "a");
    assert_eq!(h.snap().groups[0].queue_len, 1);
    assert_eq!(h.snap().capacity_used, 1);
    let (_, out) = h.spawn_ok(&s, 1);
    assert_eq!(assigned(&out), vec![(r, s.gupid.clone())]);
    assert!(
        spawns(&out).is_empty(),
        "min_instances 1 reached, no waiters"
    );
}

#[test]
fn routes_to_least_busy_with_ties_to_first() {
    let mut h = H::new(6);
    let a = app("a", |s| {
        s.min_instances = 2;
        s.max_instances = 2;
    });
    let (r1, out) = h.checkout(&a);
    let s1 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s1, 2);
    assert_eq!(assigned(&out), vec![(r1, s1.gupid.clone())]);
    // Below min_instances: the spawn loop continues in the background.
    let s2 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s2, 2);
    assert!(spawns(&out).is_empty());

    let (r2, out) = h.checkout(&a);
    assert_eq!(
        assigned(&out),
        vec![(r2, s2.gupid.clone())],
        "idler process"
    );
    let (r3, out) = h.checkout(&a);
    assert_eq!(
        assigned(&out),
        vec![(r3, s1.gupid.clone())],
        "tie goes to the first"
    );
    let (r4, out) = h.checkout(&a);
    assert_eq!(assigned(&out), vec![(r4, s2.gupid.clone())]);
    let (r5, out) = h.checkout(&a);
    assert!(assigned(&out).is_empty(), "both totally busy: queue");
    assert!(spawns(&out).is_empty(), "max_instances reached");
    let out = h.close(&s2.gupid);
    assert_eq!(assigned(&out), vec![(r5, s2.gupid.clone())]);
}

#[test]
fn unlimited_concurrency_is_never_totally_busy() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let g = ready_process(&mut h, &a, 0);
    for _ in 0..20 {
        let (r, out) = h.checkout(&a);
        assert_eq!(assigned(&out), vec![(r, g.clone())]);
        assert!(spawns(&out).is_empty());
    }
}

#[test]
fn forced_concurrency_overrides_advertised() {
    let mut h = H::new(6);
    let a = app("a", |s| {
        s.force_max_concurrent_requests_per_process = Some(1);
        s.max_instances = 1;
    });
    ready_process(&mut h, &a, 0);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let (_, out) = h.checkout(&a);
    assert!(
        assigned(&out).is_empty(),
        "forced to 1 slot: second request queues"
    );
}

#[test]
fn full_queue_rejects() {
    let mut h = H::new(6);
    let a = app("a", |s| {
        s.max_instances = 1;
        s.max_request_queue_size = 2;
    });
    ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let (_, out) = h.checkout(&a);
    assert!(rejected(&out).is_empty());
    let (_, out) = h.checkout(&a);
    assert!(rejected(&out).is_empty());
    let (r4, out) = h.checkout(&a);
    let rej = rejected(&out);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].0, r4);
    assert!(matches!(&rej[0].1, CheckoutError::QueueFull { group } if group == "a"));
}

#[test]
fn unlimited_queue_when_size_zero() {
    let mut h = H::new(6);
    let a = app("a", |s| {
        s.max_instances = 1;
        s.max_request_queue_size = 0;
    });
    ready_process(&mut h, &a, 1);
    for _ in 0..500 {
        let (_, out) = h.checkout(&a);
        assert!(rejected(&out).is_empty());
    }
    assert_eq!(h.snap().groups[0].queue_len, 499);
}

#[test]
fn spawns_serially_one_at_a_time() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let (r1, out) = h.checkout(&a);
    let s1 = one_spawn(&out);
    let mut reqs = vec![r1];
    for _ in 0..3 {
        let (r, out) = h.checkout(&a);
        assert!(spawns(&out).is_empty(), "a spawn is already in flight");
        reqs.push(r);
    }
    let (_, out) = h.spawn_ok(&s1, 1);
    assert_eq!(assigned(&out), vec![(reqs[0], s1.gupid.clone())]);
    let s2 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s2, 1);
    assert_eq!(assigned(&out), vec![(reqs[1], s2.gupid.clone())]);
    let s3 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s3, 1);
    let s4 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s4, 1);
    assert_eq!(assigned(&out), vec![(reqs[3], s4.gupid.clone())]);
    assert!(spawns(&out).is_empty(), "no waiters left");
}

#[test]
fn min_instances_spawned_after_first_request() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 3);
    let (_, out) = h.checkout(&a);
    let mut s = one_spawn(&out);
    for i in 0..3 {
        let (_, out) = h.spawn_ok(&s, 1);
        if i < 2 {
            s = one_spawn(&out);
        } else {
            assert!(spawns(&out).is_empty());
        }
    }
    assert_eq!(h.snap().groups[0].processes.len(), 3);
}

#[test]
fn pool_limit_stops_spawning() {
    let mut h = H::new(2);
    let a = app("a", |_| {});
    ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let (_, out) = h.checkout(&a);
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s, 1);
    assert_eq!(assigned(&out).len(), 1);
    let (_, out) = h.checkout(&a);
    assert!(spawns(&out).is_empty(), "pool full");
    assert_eq!(h.snap().groups[0].queue_len, 1);
}

#[test]
fn full_pool_evicts_lru_idle_process_of_another_group() {
    let mut h = H::new(2);
    let a = app("a", |_| {});
    let b = app("b", |_| {});
    let c = app("c", |_| {});
    let ga = ready_process(&mut h, &a, 1);
    h.advance(Duration::from_secs(1));
    let gb = ready_process(&mut h, &b, 1);
    let (_, out) = h.checkout(&c);
    assert_eq!(
        terminated(&out),
        vec![ga.clone()],
        "a is the least recently used"
    );
    let s = one_spawn(&out);
    assert_eq!(s.group, "c");
    assert_eq!(h.snap().capacity_used, 2);
    assert!(!terminated(&out).contains(&gb));
}

#[test]
fn full_pool_without_idle_process_queues_at_top_level() {
    let mut h = H::new(1);
    let a = app("a", |_| {});
    let b = app("b", |_| {});
    let ga = ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1, "a's process is now busy");
    let (rb, out) = h.checkout(&b);
    assert!(out.is_empty(), "nothing to evict: {out:?}");
    assert_eq!(h.snap().top_level_queue_len, 1);
    // a's session ends: its idle process gives way to the starving group.
    let out = h.close(&ga);
    assert_eq!(terminated(&out), vec![ga]);
    let s = one_spawn(&out);
    assert_eq!(s.group, "b");
    assert_eq!(h.snap().top_level_queue_len, 0);
    let (_, out) = h.spawn_ok(&s, 1);
    assert_eq!(assigned(&out), vec![(rb, s.gupid)]);
}

#[test]
fn idle_processes_above_min_are_detached_after_pool_idle_time() {
    let mut h = H::with(PoolOptions {
        max_pool_size: 6,
        pool_idle_time: Duration::from_secs(300),
        process_shutdown_timeout: Duration::from_secs(60),
        ..PoolOptions::default()
    });
    let a = app("a", |_| {});
    let g1 = ready_process(&mut h, &a, 1);
    assert_eq!(
        h.pool.next_deadline(),
        None,
        "at min_instances: nothing to clean"
    );
    // Two concurrent requests make a second process.
    h.checkout(&a);
    let (_, out) = h.checkout(&a);
    let s = one_spawn(&out);
    h.spawn_ok(&s, 1);
    h.close(&g1);
    h.advance(Duration::from_secs(10));
    h.close(&s.gupid);
    let deadline = h.pool.next_deadline().expect("an idle process above min");
    assert_eq!(
        deadline,
        h.now - Duration::from_secs(10) + Duration::from_secs(300)
    );
    h.advance(Duration::from_secs(289));
    assert!(terminated(&h.input(PoolInput::Tick)).is_empty());
    h.advance(Duration::from_secs(1));
    let out = h.input(PoolInput::Tick);
    assert_eq!(
        terminated(&out),
        vec![g1],
        "the one idle longest goes, one stays"
    );
    assert_eq!(
        h.snap().groups[0]
            .processes
            .iter()
            .filter(|p| p.enabled == "enabled")
            .count(),
        1
    );
    // Next deadline: the kill timer of the detached process only.
    assert_eq!(
        h.pool.next_deadline(),
        Some(h.now + Duration::from_secs(60))
    );
}

#[test]
fn zero_idle_time_never_detaches() {
    let mut h = H::with(PoolOptions {
        max_pool_size: 6,
        pool_idle_time: Duration::ZERO,
        ..PoolOptions::default()
    });
    let a = app("a", |s| s.min_instances = 0);
    ready_process(&mut h, &a, 1);
    assert_eq!(h.pool.next_deadline(), None);
    h.advance(Duration::from_secs(100_000));
    assert!(h.input(PoolInput::Tick).is_empty());
}

#[test]
fn max_requests_replaces_process_on_check_in() {
    let mut h = H::new(6);
    let a = app("a", |s| s.max_requests = 2);
    let g1 = ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let out = h.close(&g1);
    assert_eq!(terminated(&out), vec![g1.clone()]);
    let s = one_spawn(&out);
    assert_ne!(s.gupid, g1);
    assert_eq!(h.snap().capacity_used, 1, "the detached one does not count");
}

#[test]
fn memory_limit_replaces_an_idle_process_at_once_and_a_busy_one_after_its_request() {
    let mut h = H::new(6);
    let a = app("a", |s| s.memory_limit_mb = 100);
    let g1 = ready_process(&mut h, &a, 1);
    let out = h.input(PoolInput::MemoryLimitExceeded {
        gupid: g1.clone(),
        used_kb: 200 * 1024,
    });
    assert_eq!(terminated(&out), vec![g1.clone()], "idle: replaced now");
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s, 1);
    assert!(terminated(&out).is_empty());
    let g2 = s.gupid;

    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let out = h.input(PoolInput::MemoryLimitExceeded {
        gupid: g2.clone(),
        used_kb: 200 * 1024,
    });
    assert!(
        terminated(&out).is_empty(),
        "busy: its request finishes first"
    );
    let out = h.close(&g2);
    assert_eq!(terminated(&out), vec![g2.clone()]);
    assert_eq!(spawns(&out).len(), 1, "and it is replaced");
    // A report about a process that is gone or detached changes nothing.
    let out = h.input(PoolInput::MemoryLimitExceeded {
        gupid: g2,
        used_kb: 1,
    });
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn spawn_failure_rejects_all_waiters_and_does_not_retry() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let (r1, out) = h.checkout(&a);
    let s = one_spawn(&out);
    let (r2, _) = h.checkout(&a);
    let (r3, _) = h.checkout(&a);
    let out = h.spawn_fail(&s);
    let rej = rejected(&out);
    assert_eq!(
        rej.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        vec![r1, r2, r3]
    );
    assert!(rej
        .iter()
        .all(|(_, e)| matches!(e, CheckoutError::SpawnFailed(_))));
    assert!(spawns(&out).is_empty(), "no retry loop");
    h.advance(Duration::from_secs(3600));
    assert!(spawns(&h.input(PoolInput::Tick)).is_empty());
    assert_eq!(h.snap().capacity_used, 0);
    // The next request tries again.
    let (_, out) = h.checkout(&a);
    one_spawn(&out);
}

#[test]
fn dead_process_is_removed_and_replaced() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let g1 = ready_process(&mut h, &a, 1);
    let out = h.exited(&g1);
    let s = one_spawn(&out);
    assert!(terminated(&out).is_empty());
    assert_eq!(h.snap().groups[0].processes.len(), 0);
    h.spawn_ok(&s, 1);
    assert_eq!(h.snap().groups[0].processes.len(), 1);
}

#[test]
fn failed_session_detaches_process_and_replaces_it() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let g1 = ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let out = h.input(PoolInput::SessionClosed {
        gupid: g1.clone(),
        outcome: SessionOutcome::ProcessFailed,
    });
    assert_eq!(terminated(&out), vec![g1.clone()]);
    one_spawn(&out);
    h.exited(&g1);
    let snap = h.snap();
    assert!(snap.groups[0].processes.iter().all(|p| p.gupid != g1.0));
}

#[test]
fn detached_process_terminates_when_idle_then_is_killed_after_timeout() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 0);
    let g1 = ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let pid = h.snap().groups[0].processes[0].pid;
    let out = h.input(PoolInput::DetachProcess { pid });
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::DetachResult { found: true, .. })));
    assert!(terminated(&out).is_empty(), "it still serves a request");
    assert_eq!(
        h.pool.next_deadline(),
        None,
        "no kill clock while sessions run"
    );
    h.advance(Duration::from_secs(5));
    let out = h.close(&g1);
    assert_eq!(terminated(&out), vec![g1.clone()]);
    h.advance(Duration::from_secs(59));
    assert!(killed(&h.input(PoolInput::Tick)).is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(killed(&h.input(PoolInput::Tick)), vec![g1.clone()]);
    h.advance(Duration::from_secs(100));
    assert!(killed(&h.input(PoolInput::Tick)).is_empty(), "killed once");
    h.exited(&g1);
    assert!(h.snap().groups[0].processes.is_empty());
}

#[test]
fn detach_unknown_pid_reports_not_found() {
    let mut h = H::new(6);
    let out = h.input(PoolInput::DetachProcess { pid: 4242 });
    assert!(out.iter().any(|a| matches!(
        a,
        PoolAction::DetachResult {
            pid: 4242,
            found: false
        }
    )));
}

#[test]
fn detach_respawns_to_min_instances() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    ready_process(&mut h, &a, 1);
    let pid = h.snap().groups[0].processes[0].pid;
    let out = h.input(PoolInput::DetachProcess { pid });
    assert_eq!(terminated(&out).len(), 1);
    one_spawn(&out);
}

#[test]
fn cancelled_checkout_leaves_the_queue() {
    let mut h = H::new(6);
    let a = app("a", |s| s.max_instances = 1);
    let g = ready_process(&mut h, &a, 1);
    h.checkout(&a);
    let (r2, _) = h.checkout(&a);
    let (r3, _) = h.checkout(&a);
    h.input(PoolInput::CancelCheckout { request: r2 });
    let out = h.close(&g);
    assert_eq!(assigned(&out), vec![(r3, g)]);
}

#[test]
fn blocking_restart_detaches_all_and_queues_until_new_process() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let g1 = ready_process(&mut h, &a, 1);
    let (_, out) = h.checkout(&a);
    assert_eq!(assigned(&out).len(), 1);
    let out = h.input(PoolInput::RestartGroup {
        name: "a".into(),
        method: RestartMethod::Blocking,
    });
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::RestartStarted { .. })));
    assert!(
        terminated(&out).is_empty(),
        "old process finishes its request first"
    );
    let s = one_spawn(&out);
    assert!(h.pool.is_restarting("a"));
    assert!(h.snap().groups[0].restarting);
    let (r, out) = h.checkout(&a);
    assert!(
        assigned(&out).is_empty(),
        "requests wait for the new process"
    );
    let out = h.close(&g1);
    assert_eq!(terminated(&out), vec![g1]);
    let (_, out) = h.spawn_ok(&s, 1);
    assert_eq!(assigned(&out), vec![(r, s.gupid)]);
    assert!(!h.pool.is_restarting("a"));
}

#[test]
fn restart_discards_a_spawn_in_flight() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let (r, out) = h.checkout(&a);
    let old = one_spawn(&out);
    let out = h.input(PoolInput::RestartGroup {
        name: "a".into(),
        method: RestartMethod::Blocking,
    });
    let new = one_spawn(&out);
    let (_, out) = h.spawn_ok(&old, 1);
    assert_eq!(
        terminated(&out),
        vec![old.gupid.clone()],
        "old code is thrown away"
    );
    assert!(assigned(&out).is_empty());
    let (_, out) = h.spawn_ok(&new, 1);
    assert_eq!(assigned(&out), vec![(r, new.gupid)]);
}

#[test]
fn restart_of_unknown_group_is_reported() {
    let mut h = H::new(6);
    let out = h.input(PoolInput::RestartGroup {
        name: "nope".into(),
        method: RestartMethod::Rolling,
    });
    assert!(matches!(&out[..], [PoolAction::GroupNotFound { name }] if name == "nope"));
}

/// Two ready processes (min_instances 2), both idle. Returns their gupids.
fn two_processes(h: &mut H, a: &Arc<AppSpec>) -> (Gupid, Gupid) {
    let (_, out) = h.checkout(a);
    let s1 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s1, 1);
    let s2 = one_spawn(&out);
    h.spawn_ok(&s2, 1);
    h.close(&s1.gupid);
    (s1.gupid, s2.gupid)
}

#[test]
fn rolling_restart_replaces_processes_one_by_one() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 2);
    let (o1, o2) = two_processes(&mut h, &a);
    let out = h.input(PoolInput::RestartGroup {
        name: "a".into(),
        method: RestartMethod::Rolling,
    });
    assert!(terminated(&out).is_empty(), "old processes keep serving");
    let n1 = one_spawn(&out);
    let (r, out) = h.checkout(&a);
    assert_eq!(
        assigned(&out),
        vec![(r, o1.clone())],
        "old processes still routed to"
    );
    let (_, out) = h.spawn_ok(&n1, 1);
    // The newest old one (o2, idle) is retired first.
    assert_eq!(terminated(&out), vec![o2.clone()]);
    let n2 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&n2, 1);
    assert!(terminated(&out).is_empty(), "o1 is still serving a request");
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::RollingRestartFinished { .. })));
    assert!(spawns(&out).is_empty());
    let out = h.close(&o1);
    assert_eq!(terminated(&out), vec![o1]);
    let enabled: Vec<String> = h.snap().groups[0]
        .processes
        .iter()
        .filter(|p| p.enabled == "enabled")
        .map(|p| p.gupid.clone())
        .collect();
    assert_eq!(enabled, vec![n1.gupid.0, n2.gupid.0]);
}

#[test]
fn rolling_restart_failure_keeps_old_processes_serving() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 2);
    let (o1, o2) = two_processes(&mut h, &a);
    let out = h.input(PoolInput::RestartGroup {
        name: "a".into(),
        method: RestartMethod::Rolling,
    });
    let n1 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&n1, 1);
    assert_eq!(terminated(&out), vec![o2]);
    let n2 = one_spawn(&out);
    // A request waits while the only free slots are busy.
    h.checkout(&a);
    h.checkout(&a);
    let (r3, out) = h.checkout(&a);
    assert!(assigned(&out).is_empty());
    let out = h.spawn_fail(&n2);
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::RollingRestartFailed { .. })));
    assert!(
        rejected(&out).is_empty(),
        "old process still serves the queue"
    );
    assert!(spawns(&out).is_empty());
    let out = h.close(&o1);
    assert_eq!(assigned(&out), vec![(r3, o1.clone())]);
    assert!(h.snap().groups[0]
        .processes
        .iter()
        .any(|p| p.gupid == o1.0 && p.enabled == "enabled"));
    assert!(!h.snap().groups[0].restarting);
}

#[test]
fn shutdown_rejects_waiters_terminates_kills_and_completes() {
    let mut h = H::new(1);
    let a = app("a", |s| s.max_instances = 1);
    let b = app("b", |_| {});
    let g = ready_process(&mut h, &a, 1);
    h.checkout(&a);
    let (r2, _) = h.checkout(&a);
    let (r3, _) = h.checkout(&b);
    let out = h.input(PoolInput::Shutdown);
    let mut rej: Vec<RequestId> = rejected(&out).iter().map(|(r, _)| *r).collect();
    rej.sort();
    assert_eq!(rej, vec![r2, r3]);
    assert_eq!(
        terminated(&out),
        vec![g.clone()],
        "terminated even with a session"
    );
    assert!(!out
        .iter()
        .any(|a| matches!(a, PoolAction::ShutdownComplete)));
    let (r4, out) = h.checkout(&a);
    assert!(matches!(&rejected(&out)[..], [(r, CheckoutError::ShuttingDown)] if *r == r4));
    h.advance(Duration::from_secs(60));
    assert_eq!(killed(&h.input(PoolInput::Tick)), vec![g.clone()]);
    let out = h.exited(&g);
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::ShutdownComplete)));
    // A late session close of the dead process is harmless.
    assert!(h.close(&g).is_empty());
}

#[test]
fn shutdown_waits_for_spawns_in_flight() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let (_, out) = h.checkout(&a);
    let s = one_spawn(&out);
    let out = h.input(PoolInput::Shutdown);
    assert!(!out
        .iter()
        .any(|a| matches!(a, PoolAction::ShutdownComplete)));
    let (_, out) = h.spawn_ok(&s, 1);
    assert_eq!(terminated(&out), vec![s.gupid.clone()]);
    let out = h.exited(&s.gupid);
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::ShutdownComplete)));
}

#[test]
fn empty_pool_shuts_down_at_once() {
    let mut h = H::new(6);
    let out = h.input(PoolInput::Shutdown);
    assert!(matches!(&out[..], [PoolAction::ShutdownComplete]));
}

#[test]
fn larger_max_pool_size_serves_top_level_queue() {
    let mut h = H::new(1);
    let a = app("a", |_| {});
    let b = app("b", |_| {});
    ready_process(&mut h, &a, 1);
    h.checkout(&a);
    h.checkout(&b);
    assert_eq!(h.snap().top_level_queue_len, 1);
    let out = h.input(PoolInput::SetMaxPoolSize { max: 2 });
    assert_eq!(one_spawn(&out).group, "b");
}

#[test]
fn removed_group_finishes_its_requests_then_disappears_and_spawns_nothing() {
    let mut h = H::new(6);
    let a = app("a", |a| a.min_instances = 2);
    let (r, out) = h.checkout(&a);
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s, 1);
    assert_eq!(assigned(&out), vec![(r, s.gupid.clone())]);
    let background = one_spawn(&out);

    let out = h.input(PoolInput::RemoveGroup { name: "a".into() });
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::GroupRemoved { name } if name == "a")));
    assert!(
        terminated(&out).is_empty(),
        "the busy process finishes its request first"
    );
    // The background spawn for min_instances lands after removal: thrown away.
    let (_, out) = h.spawn_ok(&background, 1);
    assert!(spawns(&out).is_empty(), "a removed group spawns nothing");

    let out = h.close(&s.gupid);
    assert_eq!(terminated(&out), vec![s.gupid.clone()]);
    assert_eq!(h.snap().groups.len(), 1, "kept until its process exits");
    h.exited(&s.gupid);
    for g in terminated(&h.input(PoolInput::Tick)) {
        h.exited(&g);
    }
    h.exited(&background.gupid);
    h.input(PoolInput::Tick);
    assert!(h.snap().groups.is_empty(), "{:?}", h.snap());

    let out = h.input(PoolInput::RemoveGroup { name: "a".into() });
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::GroupNotFound { .. })));
}

fn oob_runs(out: &[PoolAction]) -> Vec<Gupid> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::RunOobWork { gupid, .. } => Some(gupid.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn oob_work_takes_an_idle_process_out_of_rotation_only_when_another_can_serve() {
    let mut h = H::new(6);
    let a = app("a", |a| a.min_instances = 2);
    let (r, out) = h.checkout(&a);
    let s1 = one_spawn(&out);
    let (_, out) = h.spawn_ok(&s1, 1);
    assert_eq!(assigned(&out), vec![(r, s1.gupid.clone())]);
    let second = one_spawn(&out);
    let first = s1.gupid;

    // Alone in its group, the process keeps serving despite the request.
    let out = h.input(PoolInput::SessionClosed {
        gupid: first.clone(),
        outcome: SessionOutcome::OobWorkRequested,
    });
    assert!(oob_runs(&out).is_empty(), "no other process can serve yet");

    // Once a second process is ready, the idle first one goes out of rotation.
    let (_, out) = h.spawn_ok(&second, 1);
    assert_eq!(oob_runs(&out), vec![first.clone()]);
    assert_eq!(h.snap().groups[0].processes[0].enabled, "disabled");
    for _ in 0..3 {
        let (r, out) = h.checkout(&a);
        assert_eq!(
            assigned(&out),
            vec![(r, second.gupid.clone())],
            "never routed to the OOB process"
        );
        h.close(&second.gupid);
    }

    let out = h.input(PoolInput::OobWorkDone {
        gupid: first.clone(),
    });
    assert!(oob_runs(&out).is_empty());
    assert_eq!(h.snap().groups[0].processes[0].enabled, "enabled");
    let (r, out) = h.checkout(&a);
    assert_eq!(
        assigned(&out),
        vec![(r, first)],
        "back in rotation, ties go to the first"
    );
}

#[test]
fn cancelled_top_level_request_is_not_served() {
    let mut h = H::new(1);
    let a = app("a", |_| {});
    let b = app("b", |_| {});
    let ga = ready_process(&mut h, &a, 1);
    h.checkout(&a);
    let (rb, _) = h.checkout(&b);
    h.input(PoolInput::CancelCheckout { request: rb });
    assert_eq!(h.snap().top_level_queue_len, 0);
    let out = h.close(&ga);
    assert!(terminated(&out).is_empty(), "nobody is starving any more");
    assert!(spawns(&out).is_empty());
}

#[test]
fn rolling_restart_survives_an_old_process_dying() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 2);
    let (o1, o2) = two_processes(&mut h, &a);
    let out = h.input(PoolInput::RestartGroup {
        name: "a".into(),
        method: RestartMethod::Rolling,
    });
    let n1 = one_spawn(&out);
    h.exited(&o1);
    h.exited(&o2);
    let (_, out) = h.spawn_ok(&n1, 1);
    assert!(out
        .iter()
        .any(|a| matches!(a, PoolAction::RollingRestartFinished { .. })));
    // Back to normal spawning for min_instances.
    one_spawn(&out);
}

#[test]
fn restart_lifts_the_spawn_block() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let (_, out) = h.checkout(&a);
    let s = one_spawn(&out);
    h.spawn_fail(&s);
    let out = h.input(PoolInput::RestartGroup {
        name: "a".into(),
        method: RestartMethod::Blocking,
    });
    one_spawn(&out);
}

// ----- request pipelining -----

/// (request, gupid, pipelined) of every Assign in `out`.
fn assigned_kind(out: &[PoolAction]) -> Vec<(RequestId, Gupid, bool)> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Assign { request, process } => {
                Some((*request, process.gupid.clone(), process.pipelined))
            }
            _ => None,
        })
        .collect()
}

fn unpipelined(out: &[PoolAction]) -> Vec<Gupid> {
    out.iter()
        .filter_map(|a| match a {
            PoolAction::Unpipeline { gupid } => Some(gupid.clone()),
            _ => None,
        })
        .collect()
}

/// A one-process group (max_instances 1) whose process takes pipelined requests and
/// is busy with one request. Returns (app, gupid, that request).
fn busy_lone_process(h: &mut H) -> (Arc<AppSpec>, Gupid, RequestId) {
    let a = app("a", |s| s.max_instances = 1);
    let (r, out) = h.checkout(&a);
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok_with(&s, 1, true);
    assert_eq!(assigned_kind(&out), vec![(r, s.gupid.clone(), false)]);
    (a, s.gupid, r)
}

#[test]
fn a_lone_busy_process_gets_up_to_the_pipeline_depth() {
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    for _ in 0..PIPELINE_DEPTH {
        let (r, out) = h.checkout_kind(&a, true, false);
        assert_eq!(assigned_kind(&out), vec![(r, g.clone(), true)]);
    }
    // The depth is reached: the next pipelinable request waits in the queue.
    let (last, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "{out:?}");
    assert_eq!(h.snap().groups[0].queue_len, 1);
    // The first request ends: the waiting one is pipelined in its place.
    let out = h.close(&g);
    assert_eq!(assigned_kind(&out), vec![(last, g.clone(), true)]);
    for _ in 0..=PIPELINE_DEPTH {
        let out = h.close(&g);
        assert!(assigned(&out).is_empty());
    }
    assert_eq!(
        h.snap().groups[0].processes[0].processed,
        u64::from(PIPELINE_DEPTH) + 2
    );
}

#[test]
fn requests_with_a_body_are_never_pipelined() {
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    let (r2, out) = h.checkout_kind(&a, false, false);
    assert!(assigned(&out).is_empty(), "{out:?}");
    // A pipelinable request behind it keeps its turn: FIFO.
    let (r3, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "{out:?}");
    let out = h.close(&g);
    assert_eq!(
        assigned_kind(&out),
        vec![(r2, g.clone(), false), (r3, g.clone(), true)],
        "the upload runs; the bodyless request behind it is pipelined"
    );
}

#[test]
fn no_pipelining_without_a_pipeline_socket() {
    let mut h = H::new(6);
    let a = app("a", |s| s.max_instances = 1);
    let (_, out) = h.checkout(&a);
    let s = one_spawn(&out);
    h.spawn_ok_with(&s, 1, false);
    let (_, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "no pipelining: {out:?}");
}

#[test]
fn pipelined_requests_go_to_the_process_with_fewest_sessions_then_earliest_start() {
    let mut h = H::new(6);
    let b = app("b", |s| s.max_instances = 2);
    let (_, out) = h.checkout(&b);
    let s1 = one_spawn(&out);
    h.spawn_ok_with(&s1, 1, true);
    h.advance(Duration::from_micros(500));
    let (_, out) = h.checkout(&b);
    let s2 = one_spawn(&out);
    h.spawn_ok_with(&s2, 1, true);
    // Fewer sessions come first, then the earlier start, up to the depth.
    for _ in 0..PIPELINE_DEPTH {
        let (r, out) = h.checkout_kind(&b, true, false);
        assert_eq!(assigned_kind(&out), vec![(r, s1.gupid.clone(), true)]);
        let (r, out) = h.checkout_kind(&b, true, false);
        assert_eq!(assigned_kind(&out), vec![(r, s2.gupid.clone(), true)]);
    }
    let (_, out) = h.checkout_kind(&b, true, false);
    assert!(
        assigned(&out).is_empty(),
        "both processes are at the pipeline depth: {out:?}"
    );
}

#[test]
fn a_process_busy_for_longer_than_the_window_gets_no_pipelined_request() {
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    h.advance(PIPELINE_WINDOW + Duration::from_micros(1));
    let (r2, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "{out:?}");
    let out = h.close(&g);
    assert_eq!(assigned_kind(&out), vec![(r2, g, false)]);
}

#[test]
fn a_pipelined_request_waiting_too_long_is_taken_back_and_keeps_its_turn() {
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    for _ in 0..PIPELINE_DEPTH {
        let (r, out) = h.checkout_kind(&a, true, false);
        assert_eq!(assigned_kind(&out), vec![(r, g.clone(), true)]);
    }
    let (queued, _) = h.checkout_kind(&a, true, false);
    let deadline = h.pool.next_deadline().expect("a withdrawal deadline");
    assert_eq!(deadline, h.now + PIPELINE_PATIENCE);
    h.advance(PIPELINE_PATIENCE);
    let out = h.input(PoolInput::Tick);
    assert_eq!(
        unpipelined(&out),
        vec![g.clone()],
        "one action takes back all of them"
    );
    let out = h.input(PoolInput::Tick);
    assert!(unpipelined(&out).is_empty(), "asked once: {out:?}");
    // The proxy reports every withdrawal and asks again: all go before `queued`.
    for _ in 0..PIPELINE_DEPTH {
        let out = h.input(PoolInput::SessionClosed {
            gupid: g.clone(),
            outcome: SessionOutcome::Withdrawn,
        });
        assert!(
            assigned(&out).is_empty(),
            "the process is still blocked: {out:?}"
        );
    }
    let mut retried = Vec::new();
    for _ in 0..PIPELINE_DEPTH {
        let (r, out) = h.checkout_kind(&a, true, true);
        assert!(assigned(&out).is_empty(), "{out:?}");
        retried.push(r);
    }
    let snap = h.snap();
    assert_eq!(snap.groups[0].queue_len, PIPELINE_DEPTH + 1);
    assert_eq!(
        snap.groups[0].processes[0].processed, 0,
        "a withdrawal is no request"
    );
    // The slow request ends: the retried requests are served first (the last to
    // ask again goes first, in the free slot), then `queued`.
    let out = h.close(&g);
    let mut expected: Vec<_> = retried
        .iter()
        .rev()
        .enumerate()
        .map(|(i, r)| (*r, g.clone(), i > 0))
        .collect();
    expected.push((queued, g.clone(), true));
    assert_eq!(assigned_kind(&out), expected);
}

#[test]
fn cancelled_pipelinable_requests_leave_no_trace() {
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    for _ in 0..PIPELINE_DEPTH {
        h.checkout_kind(&a, true, false); // pipelined
    }
    let (queued, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "{out:?}");
    h.input(PoolInput::CancelCheckout { request: queued });
    assert_eq!(h.snap().groups[0].queue_len, 0);
    assert!(h.pool.groups[0].pipelinable.is_empty());
    let out = h.close(&g);
    assert!(assigned(&out).is_empty(), "{out:?}");
}

#[test]
fn prestart_spawns_up_to_min_instances_without_a_request() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 2);
    let first = one_spawn(&h.input(PoolInput::Prestart {
        app: Arc::clone(&a),
    }));
    assert_eq!(first.group, "a");
    let (_, out) = h.spawn_ok(&first, 1);
    let second = one_spawn(&out);
    let (_, out) = h.spawn_ok(&second, 1);
    assert!(spawns(&out).is_empty(), "min_instances 2 reached: {out:?}");
    assert_eq!(h.snap().groups[0].processes.len(), 2);

    // Once the group exists a second prestart changes nothing.
    assert!(h.input(PoolInput::Prestart { app: a }).is_empty());
}

#[test]
fn prestart_starts_one_process_with_min_instances_zero_and_none_when_full() {
    let mut h = H::new(1);
    let a = app("a", |s| s.min_instances = 0);
    let s = one_spawn(&h.input(PoolInput::Prestart { app: a }));
    let (_, out) = h.spawn_ok(&s, 1);
    assert!(spawns(&out).is_empty(), "{out:?}");
    let b = app("b", |_| {});
    assert!(
        h.input(PoolInput::Prestart { app: b }).is_empty(),
        "a full pool evicts nothing for a prestart"
    );
    assert_eq!(h.snap().groups.len(), 1);
}

#[test]
fn failed_prestart_leaves_the_error_to_the_first_request() {
    let mut h = H::new(6);
    let a = app("a", |_| {});
    let s = one_spawn(&h.input(PoolInput::Prestart {
        app: Arc::clone(&a),
    }));
    assert!(spawns(&h.spawn_fail(&s)).is_empty(), "no retry loop");
    let (request, out) = h.checkout(&a);
    let retry = one_spawn(&out);
    let out = h.spawn_fail(&retry);
    assert!(matches!(
        rejected(&out).as_slice(),
        [(r, CheckoutError::SpawnFailed(_))] if *r == request
    ));
}

#[test]
fn pipelined_requests_count_against_the_queue_limit() {
    // Pool 1, queue 5, 50 bodyless requests at once: one runs, five wait (four
    // pipelined behind it, one queued), 44 are turned away, as in Passenger.
    let mut h = H::new(1);
    let a = app("a", |s| {
        s.max_instances = 1;
        s.max_request_queue_size = 5;
    });
    let (first, out) = h.checkout_kind(&a, true, false);
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok_with(&s, 1, true);
    assert_eq!(assigned_kind(&out), vec![(first, s.gupid.clone(), false)]);
    let (mut pipelined, mut queued, mut turned_away) = (Vec::new(), Vec::new(), 0);
    for _ in 1..50 {
        let (r, out) = h.checkout_kind(&a, true, false);
        match (assigned(&out).is_empty(), rejected(&out).is_empty()) {
            (false, true) => pipelined.push(r),
            (true, true) => queued.push(r),
            (true, false) => turned_away += 1,
            (false, false) => panic!("assigned and rejected: {out:?}"),
        }
    }
    assert_eq!(pipelined.len(), PIPELINE_DEPTH as usize);
    assert_eq!(queued.len(), 5 - PIPELINE_DEPTH as usize);
    assert_eq!(turned_away, 44);
    // The pipelined requests are taken back and ask again: they keep their turn
    // (no reject) and the group still holds five waiters, so newcomers are refused.
    h.advance(PIPELINE_PATIENCE);
    assert_eq!(
        unpipelined(&h.input(PoolInput::Tick)),
        vec![s.gupid.clone()]
    );
    for &r in pipelined.iter().rev() {
        h.input(PoolInput::SessionClosed {
            gupid: s.gupid.clone(),
            outcome: SessionOutcome::Withdrawn,
        });
        let out = h.input(PoolInput::Checkout {
            request: r,
            app: Arc::clone(&a),
            pipelinable: true,
            retry: true,
        });
        assert!(rejected(&out).is_empty(), "a retry keeps its turn: {out:?}");
    }
    assert_eq!(h.snap().groups[0].queue_len, 5);
    let (_, out) = h.checkout_kind(&a, true, false);
    assert_eq!(rejected(&out).len(), 1, "five wait already: {out:?}");
    let (_, out) = h.checkout_kind(&a, false, false);
    assert_eq!(rejected(&out).len(), 1, "with a body too: {out:?}");
    // The five waiters are all served as the process frees up; nobody is lost.
    let mut served = 0;
    for _ in 0..6 {
        served += assigned(&h.close(&s.gupid)).len();
    }
    assert_eq!(served, 5);
    assert_eq!(h.snap().groups[0].queue_len, 0);
}

// ----- pinned by mutation testing (tests/mutants, tests/mutants-report.md) -----

/// Passenger spawns when a request finds every process totally busy, even if the
/// request itself does not wait (here: it is pipelined).
#[test]
fn a_pipelined_request_on_a_totally_busy_group_still_spawns_another_process() {
    let mut h = H::new(6);
    let a = app("a", |s| s.max_instances = 2);
    let (r, out) = h.checkout(&a);
    let s = one_spawn(&out);
    let (_, out) = h.spawn_ok_with(&s, 1, true);
    assert_eq!(assigned_kind(&out), vec![(r, s.gupid.clone(), false)]);
    let (piped, out) = h.checkout_kind(&a, true, false);
    assert_eq!(assigned_kind(&out), vec![(piped, s.gupid.clone(), true)]);
    assert_eq!(spawns(&out).len(), 1, "all busy: a second process: {out:?}");
}

/// Busyness is sessions relative to concurrency (Passenger's `busyness()`), not
/// sessions alone nor concurrency alone.
#[test]
fn routing_weighs_sessions_against_each_process_concurrency() {
    let mut h = H::new(6);
    let a = app("a", |s| {
        s.min_instances = 2;
        s.max_instances = 2;
    });
    let (r1, out) = h.checkout(&a);
    let four = one_spawn(&out);
    let (_, out) = h.spawn_ok(&four, 4);
    assert_eq!(assigned(&out), vec![(r1, four.gupid.clone())]);
    let two = one_spawn(&out);
    h.spawn_ok(&two, 2);
    // (sessions/concurrency before each request) four: 1/4, two: 0/2 -> two;
    // 1/4 vs 1/2 -> four; 2/4 vs 1/2 (tie) -> four, the first; 3/4 vs 1/2 -> two.
    let expected = [&two, &four, &four, &two];
    for (i, want) in expected.iter().enumerate() {
        let (r, out) = h.checkout(&a);
        assert_eq!(
            assigned(&out),
            vec![(r, want.gupid.clone())],
            "request {} of {expected:?}",
            i + 2
        );
    }
}

/// An idle process gives way only to a group that waits for capacity (no process, no
/// spawn, requests queued), not to one that has processes and a queue.
#[test]
fn an_idle_process_gives_way_only_to_a_group_starved_of_capacity() {
    let a = app("a", |_| {});
    let b = app("b", |_| {});

    // Pool full; b has a busy process and a queued request: a's idle process stays.
    let mut h = H::new(2);
    let ga = ready_process(&mut h, &a, 1);
    let gb = ready_process(&mut h, &b, 1);
    let (r, out) = h.checkout(&b);
    assert_eq!(assigned(&out), vec![(r, gb.clone())]);
    let (_, out) = h.checkout(&b);
    assert!(
        assigned(&out).is_empty() && spawns(&out).is_empty(),
        "{out:?}"
    );
    assert_eq!(h.snap().groups[1].queue_len, 1);
    let (r, out) = h.checkout(&a);
    assert_eq!(assigned(&out), vec![(r, ga.clone())]);
    let out = h.close(&ga);
    assert!(terminated(&out).is_empty(), "b is not starved: {out:?}");

    // b lost its process to eviction and queues while the pool is full: a's process,
    // once idle, gives way and b spawns.
    let mut h = H::new(1);
    let gb = ready_process(&mut h, &b, 1);
    h.advance(Duration::from_secs(1));
    let (ra, out) = h.checkout(&a);
    assert_eq!(
        terminated(&out),
        vec![gb.clone()],
        "b's idle process is evicted"
    );
    let sa = one_spawn(&out);
    let (_, out) = h.spawn_ok(&sa, 1);
    assert_eq!(assigned(&out), vec![(ra, sa.gupid.clone())]);
    h.exited(&gb);
    let (rb, out) = h.checkout(&b);
    assert!(
        assigned(&out).is_empty() && spawns(&out).is_empty(),
        "{out:?}"
    );
    assert_eq!(
        h.snap().groups[0].queue_len,
        1,
        "b (created first) waits for capacity"
    );
    let out = h.close(&sa.gupid);
    assert_eq!(terminated(&out), vec![sa.gupid.clone()], "a gives way");
    let sb = one_spawn(&out);
    assert_eq!(sb.group, "b");
    let (_, out) = h.spawn_ok(&sb, 1);
    assert_eq!(assigned(&out), vec![(rb, sb.gupid)]);
}

/// The pipelining window is open strictly less than `pipeline_window` after the
/// process began its current request.
#[test]
fn the_pipelining_window_closes_at_its_length() {
    let window = PoolOptions::default().pipeline_window;
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    h.advance(window - Duration::from_nanos(1));
    let (r, out) = h.checkout_kind(&a, true, false);
    assert_eq!(
        assigned_kind(&out),
        vec![(r, g.clone(), true)],
        "just inside"
    );

    let mut h = H::new(6);
    let (a, _, _) = busy_lone_process(&mut h);
    h.advance(window);
    let (_, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "at the window's end: {out:?}");
}

/// A busy process with nothing pipelined has nothing to take back: no patience
/// deadline, no `Unpipeline` however long its requests run. Neither a one-slot
/// process with its one request nor one of unlimited concurrency with several.
#[test]
fn a_busy_process_without_pipelined_requests_has_nothing_to_take_back() {
    let patience = PoolOptions::default().pipeline_patience;
    let mut h = H::new(6);
    busy_lone_process(&mut h);
    assert_eq!(h.pool.next_deadline(), None, "{:?}", h.snap());
    h.advance(patience * 10);
    let out = h.input(PoolInput::Tick);
    assert!(unpipelined(&out).is_empty(), "{out:?}");

    let mut h = H::new(6);
    let a = app("a", |s| s.max_instances = 1);
    let (_, out) = h.checkout(&a);
    let s = one_spawn(&out);
    h.spawn_ok_with(&s, 0, true);
    h.checkout(&a);
    assert_eq!(h.snap().groups[0].processes[0].sessions, 2);
    assert_eq!(h.pool.next_deadline(), None, "{:?}", h.snap());
    h.advance(patience * 10);
    let out = h.input(PoolInput::Tick);
    assert!(unpipelined(&out).is_empty(), "{out:?}");
}

#[test]
fn the_pool_reports_its_options_and_groups() {
    let h = H::new(7);
    assert_eq!(h.pool.options().max_pool_size, 7);
    assert!(!h.pool.has_group("a"));
    let mut h = h;
    ready_process(&mut h, &app("a", |_| {}), 1);
    assert!(h.pool.has_group("a"));
    assert!(!h.pool.has_group("b"));
}

/// Snapshot times are microseconds since the epoch.
#[test]
fn snapshot_times_are_microseconds_since_the_epoch() {
    let micros = |t: SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_micros() as u64
    };
    let before = micros(SystemTime::now());
    let mut h = H::new(6);
    ready_process(&mut h, &app("a", |_| {}), 1);
    let p = &h.snap().groups[0].processes[0];
    let after = micros(SystemTime::now());
    for (what, t) in [
        ("spawn_start_time", p.spawn_start_time),
        ("spawn_end_time", p.spawn_end_time),
    ] {
        assert!(
            (before..=after).contains(&t),
            "{what} {t} not in [{before}, {after}]"
        );
    }
}

/// The next deadline is the earliest of all, whichever is found first.
#[test]
fn next_deadline_is_the_earliest_one() {
    let mut h = H::with(PoolOptions {
        pool_idle_time: Duration::from_secs(10),
        process_shutdown_timeout: Duration::from_secs(1000),
        ..PoolOptions::default()
    });
    let a = app("a", |s| s.min_instances = 0);
    ready_process(&mut h, &a, 1);
    let pid = h.snap().groups[0].processes[0].pid;
    h.input(PoolInput::DetachProcess { pid });
    // Found first: the detached process's kill deadline, 1000 s away.
    ready_process(&mut h, &a, 1);
    assert_eq!(
        h.pool.next_deadline(),
        Some(h.now + Duration::from_secs(10)),
        "the idle deadline comes first"
    );
}

/// The victim is the least recently used idle process, not the first one found.
#[test]
fn eviction_picks_the_least_recently_used_process_wherever_it_is() {
    let mut h = H::new(2);
    let a = app("a", |_| {});
    let b = app("b", |_| {});
    let ga = ready_process(&mut h, &a, 1);
    h.advance(Duration::from_secs(1));
    let gb = ready_process(&mut h, &b, 1);
    h.advance(Duration::from_secs(1));
    let (r, out) = h.checkout(&a);
    assert_eq!(assigned(&out), vec![(r, ga.clone())]);
    h.close(&ga);
    let (_, out) = h.checkout(&app("c", |_| {}));
    assert_eq!(terminated(&out), vec![gb], "b was used longest ago");
}

/// A detached process finishes its requests (each counted as processed) and is
/// terminated once, when the last one ends.
#[test]
fn a_detached_process_counts_its_last_requests_and_stops_after_the_last() {
    let mut h = H::new(6);
    let a = app("a", |s| s.min_instances = 0);
    let g = ready_process(&mut h, &a, 2);
    h.checkout(&a);
    h.checkout(&a);
    let pid = h.snap().groups[0].processes[0].pid;
    let out = h.input(PoolInput::DetachProcess { pid });
    assert!(terminated(&out).is_empty(), "two requests in flight");
    let out = h.close(&g);
    assert!(terminated(&out).is_empty(), "one request still in flight");
    let out = h.close(&g);
    assert_eq!(terminated(&out), vec![g.clone()]);
    let p = &h.snap().groups[0].processes[0];
    assert_eq!((p.enabled.as_str(), p.processed), ("detached", 3));
}

/// A pipelined request is taken back at `pipeline_patience` after the process began its
/// current request, not before.
#[test]
fn a_pipelined_request_is_taken_back_at_patience_not_before() {
    let patience = PoolOptions::default().pipeline_patience;
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    let (r, out) = h.checkout_kind(&a, true, false);
    assert_eq!(assigned_kind(&out), vec![(r, g.clone(), true)]);
    h.advance(patience - Duration::from_nanos(1));
    assert!(
        unpipelined(&h.input(PoolInput::Tick)).is_empty(),
        "too early"
    );
    h.advance(Duration::from_nanos(1));
    assert_eq!(unpipelined(&h.input(PoolInput::Tick)), vec![g]);
}

/// Handing a busy process a pipelined request does not restart its window: the window
/// counts from the start of the request it is actually running.
#[test]
fn pipelining_does_not_extend_the_window() {
    let window = PoolOptions::default().pipeline_window;
    let mut h = H::new(6);
    let (a, g, _) = busy_lone_process(&mut h);
    h.advance(window / 2);
    let (r, out) = h.checkout_kind(&a, true, false);
    assert_eq!(assigned_kind(&out), vec![(r, g.clone(), true)]);
    h.advance(window / 2);
    let (_, out) = h.checkout_kind(&a, true, false);
    assert!(assigned(&out).is_empty(), "the window has closed: {out:?}");
}

/// A process serves its own group's queue before it gives way to a starved group.
#[test]
fn a_process_with_work_queued_in_its_group_does_not_give_way() {
    let a = app("a", |s| s.min_instances = 0);
    let b = app("b", |s| s.min_instances = 0);
    let mut h = H::new(1);
    let gb = ready_process(&mut h, &b, 1);
    h.advance(Duration::from_secs(1));
    let (ra, out) = h.checkout(&a);
    assert_eq!(terminated(&out), vec![gb.clone()]);
    let sa = one_spawn(&out);
    let (_, out) = h.spawn_ok(&sa, 1);
    assert_eq!(assigned(&out), vec![(ra, sa.gupid.clone())]);
    h.exited(&gb);
    let (ra2, _) = h.checkout(&a);
    let (_, out) = h.checkout(&b);
    assert!(
        assigned(&out).is_empty() && spawns(&out).is_empty(),
        "{out:?}"
    );
    let out = h.close(&sa.gupid);
    assert_eq!(
        assigned(&out),
        vec![(ra2, sa.gupid.clone())],
        "a's queue first"
    );
    assert!(
        terminated(&out).is_empty() && spawns(&out).is_empty(),
        "{out:?}"
    );
    let p = &h.snap().groups[1].processes[0];
    assert_eq!(p.enabled, "enabled", "{p:?}");
    let out = h.close(&sa.gupid);
    assert_eq!(
        terminated(&out),
        vec![sa.gupid.clone()],
        "then it gives way"
    );
}
