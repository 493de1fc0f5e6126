//! Actor tests with the fake spawner: real tasks and channels, no OS processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::app::{AppSpec, AppType};
use crate::spawn::fake::FakeSpawner;

fn app(name: &str, edit: impl FnOnce(&mut AppSpec)) -> Arc<AppSpec> {
    let mut spec = AppSpec::new(
        name,
        PathBuf::from(format!("/nonexistent/{name}")),
        AppType::Generic {
            start_command: "true".into(),
        },
    );
    edit(&mut spec);
    Arc::new(spec)
}

fn pool(fake: &FakeSpawner, options: PoolOptions) -> PoolHandle {
    start(options, Arc::new(fake.clone()))
}

/// Polls the snapshot until `pred` holds; panics after 5 s.
async fn eventually(
    handle: &PoolHandle,
    what: &str,
    pred: impl Fn(&PoolSnapshot) -> bool,
) -> PoolSnapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let snap = handle.snapshot().await.expect("pool running");
        if pred(&snap) {
            return snap;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {snap:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn sessions(snap: &PoolSnapshot) -> u32 {
    snap.groups
        .iter()
        .flat_map(|g| &g.processes)
        .map(|p| p.sessions)
        .sum()
}

#[tokio::test]
async fn checkout_and_check_in() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |_| {});
    let session = handle.checkout(Arc::clone(&a)).await.expect("checkout");
    assert_eq!(session.group_name(), "a");
    let fp = &fake.processes()[0];
    assert_eq!(session.pid(), fp.pid);
    assert_eq!(session.gupid(), &fp.gupid);
    assert_eq!(sessions(&handle.snapshot().await.expect("snapshot")), 1);
    drop(session);
    eventually(&handle, "check-in", |s| sessions(s) == 0).await;
    // The same process serves the next request.
    let again = handle.checkout(a).await.expect("checkout");
    assert_eq!(again.pid(), fp.pid);
    assert_eq!(fake.spawn_calls(), 1);
}

#[tokio::test]
async fn dropped_checkout_leaves_the_queue() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |s| s.max_instances = 1);
    let first = handle.checkout(Arc::clone(&a)).await.expect("checkout");
    let waited =
        tokio::time::timeout(Duration::from_millis(50), handle.checkout(Arc::clone(&a))).await;
    assert!(waited.is_err(), "the only slot is taken");
    eventually(&handle, "cancelled request gone", |s| {
        s.groups[0].queue_len == 0
    })
    .await;
    drop(first);
    let second = handle.checkout(a).await.expect("checkout");
    drop(second);
    eventually(&handle, "no session leaked", |s| sessions(s) == 0).await;
}

/// Paused time: the ten quiet minutes below pass at once, and any timer the pool set (a
/// retry after a backoff) fires within them.
#[tokio::test(start_paused = true)]
async fn spawn_failure_is_reported_once_per_checkout() {
    let fake = FakeSpawner::new();
    fake.set_failing(true);
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |s| s.min_instances = 2);
    let err = handle
        .checkout(Arc::clone(&a))
        .await
        .expect_err("spawn fails");
    assert!(matches!(err, CheckoutError::SpawnFailed(_)), "{err:?}");
    // Long enough for any backoff; min_instances 2 would also top the group up in a loop.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        fake.spawn_calls(),
        1,
        "no retry loop, with or without a backoff"
    );
    fake.set_failing(false);
    drop(
        handle
            .checkout(a)
            .await
            .expect("the next request spawns again"),
    );
    eventually(&handle, "min_instances reached", |s| {
        s.groups[0].processes.len() == 2
    })
    .await;
    assert_eq!(
        fake.spawn_calls(),
        3,
        "one failed spawn, then two good ones"
    );
}

#[tokio::test]
async fn dead_process_is_replaced() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |_| {});
    let old = handle.checkout(a).await.expect("checkout").gupid().clone();
    assert!(fake.exit(&old));
    let snap = eventually(&handle, "replacement", |s| {
        let procs = &s.groups[0].processes;
        procs.len() == 1 && procs[0].gupid != old.0
    })
    .await;
    assert_eq!(snap.groups[0].processes[0].enabled, "enabled");
}

#[tokio::test]
async fn failed_session_detaches_its_process() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |_| {});
    let mut session = handle.checkout(a).await.expect("checkout");
    let gupid = session.gupid().clone();
    session.mark_process_failed();
    drop(session);
    eventually(&handle, "failed process gone and replaced", |s| {
        s.groups[0].processes.iter().all(|p| p.gupid != gupid.0) && s.groups[0].processes.len() == 1
    })
    .await;
    assert!(fake
        .processes()
        .iter()
        .any(|p| p.gupid == gupid && p.terminated));
}

#[tokio::test]
async fn rolling_restart_through_the_handle() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |s| s.min_instances = 2);
    drop(handle.checkout(a).await.expect("checkout"));
    eventually(&handle, "two processes", |s| {
        s.groups[0].processes.len() == 2
    })
    .await;
    let old: Vec<String> = handle.snapshot().await.expect("snap").groups[0]
        .processes
        .iter()
        .map(|p| p.gupid.clone())
        .collect();
    handle
        .restart_group("a", RestartMethod::Rolling)
        .await
        .expect("restart");
    eventually(&handle, "old processes replaced", |s| {
        let g = &s.groups[0];
        !g.restarting
            && g.processes.len() == 2
            && g.processes.iter().all(|p| !old.contains(&p.gupid))
    })
    .await;
    assert!(matches!(
        handle.restart_group("zzz", RestartMethod::Blocking).await,
        Err(PoolError::NoSuchGroup(_))
    ));
}

#[tokio::test]
async fn detach_process_through_the_handle() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |_| {});
    let pid = handle.checkout(a).await.expect("checkout").pid();
    eventually(&handle, "check-in", |s| sessions(s) == 0).await;
    assert!(handle.detach_process(pid).await.expect("detach"));
    assert!(!handle.detach_process(pid).await.expect("detach"));
    eventually(&handle, "detached process exited", |s| {
        s.groups[0].processes.iter().all(|p| p.pid != pid)
    })
    .await;
}

#[tokio::test]
async fn restart_txt_touch_restarts_the_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |s| {
        s.restart_dir = dir.path().to_path_buf();
        s.stat_throttle_rate = Duration::ZERO;
    });
    let first = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    let same = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    assert_eq!(first, same, "no restart file: no restart");
    std::fs::write(dir.path().join("restart.txt"), b"").expect("touch");
    let after = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    assert_ne!(first, after, "restart.txt appeared: new process");
    let again = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    assert_eq!(after, again, "unchanged mtime: no restart");
    std::fs::remove_file(dir.path().join("restart.txt")).expect("rm");
    let after_rm = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    assert_eq!(after, after_rm, "deletion does not restart");
    std::fs::write(dir.path().join("always_restart.txt"), b"").expect("touch");
    let x = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    let y = handle
        .checkout(Arc::clone(&a))
        .await
        .expect("checkout")
        .gupid()
        .clone();
    assert_ne!(after, x);
    assert_ne!(x, y, "always_restart.txt restarts before every request");
}

/// Sets `path`'s mtime to `secs` seconds after its current one: a re-touch that differs
/// whatever the filesystem's timestamp granularity.
fn retouch(path: &std::path::Path, secs: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("restart.txt exists");
    let old = file
        .metadata()
        .and_then(|m| m.modified())
        .expect("mtime readable");
    file.set_modified(old + Duration::from_secs(secs))
        .expect("set mtime");
}

/// The everyday deploy: `tmp/restart.txt` already exists (from the last deploy) and is
/// touched again. Only a change of its mtime says "restart".
#[tokio::test]
async fn restart_txt_retouched_restarts_the_group_each_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let restart_txt = dir.path().join("restart.txt");
    std::fs::write(&restart_txt, b"").expect("restart.txt left by the last deploy");
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |s| {
        s.restart_dir = dir.path().to_path_buf();
        s.stat_throttle_rate = Duration::ZERO;
    });
    let gupid = || async {
        handle
            .checkout(Arc::clone(&a))
            .await
            .expect("checkout")
            .gupid()
            .clone()
    };
    let first = gupid().await;
    assert_eq!(
        gupid().await,
        first,
        "a restart.txt present at start is no restart"
    );
    retouch(&restart_txt, 1);
    let second = gupid().await;
    assert_ne!(second, first, "re-touched restart.txt: new process");
    assert_eq!(gupid().await, second, "unchanged mtime: no restart");
    retouch(&restart_txt, 1);
    let third = gupid().await;
    assert_ne!(third, second, "touched a third time: new process again");
    assert_eq!(fake.spawn_calls(), 3, "one spawn per touch");
}

/// The restart files are read off the actor task; a checkout waits for its group's
/// check. One withdrawn during that wait never reaches the state machine: no spawn
/// for a client that left, and the wait holds nothing back afterwards.
#[tokio::test]
async fn a_checkout_dropped_during_the_restart_file_check_never_reaches_the_pool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |s| s.restart_dir = dir.path().to_path_buf());
    // Polled once (the checkout is sent and waits), then dropped (Cancel is sent)
    // before the actor task has run at all: both are queued ahead of the check's result.
    let gone = futures_util::FutureExt::now_or_never(handle.checkout(Arc::clone(&a)));
    assert!(
        gone.is_none(),
        "the first checkout waits for the first check"
    );
    let snap = handle.snapshot().await.expect("pool running");
    assert!(snap.groups.is_empty(), "{snap:?}");
    assert_eq!(
        fake.spawn_calls(),
        0,
        "no spawn for a checkout withdrawn while it waited"
    );
    let session = handle.checkout(Arc::clone(&a)).await.expect("checkout");
    assert_eq!(fake.spawn_calls(), 1);
    drop(session);
    eventually(&handle, "no session leaked", |s| sessions(s) == 0).await;
}

#[tokio::test]
async fn shutdown_kills_stubborn_processes_and_waits() {
    let fake = FakeSpawner::new();
    fake.set_exit_on_terminate(false);
    let handle = pool(
        &fake,
        PoolOptions {
            process_shutdown_timeout: Duration::from_millis(100),
            ..PoolOptions::default()
        },
    );
    let a = app("a", |_| {});
    let session = handle.checkout(Arc::clone(&a)).await.expect("checkout");
    let gupid = session.gupid().clone();
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown finishes")
        .expect("pool running");
    let p = fake
        .processes()
        .into_iter()
        .find(|p| p.gupid == gupid)
        .expect("process");
    assert!(p.terminated && p.killed && p.exited);
    assert!(matches!(
        handle.checkout(a).await,
        Err(CheckoutError::ShuttingDown)
    ));
    drop(session);
}

/// What a configuration reload asks of the pool: a changed app, a smaller pool, a
/// group that left the configuration.
#[tokio::test]
async fn reload_requests_reach_the_pool() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |_| {});
    drop(handle.checkout(Arc::clone(&a)).await.expect("checkout"));
    handle
        .update_app(app("a", |s| s.min_instances = 2))
        .expect("pool running");
    eventually(&handle, "the updated min_instances", |s| {
        s.groups[0].processes.len() == 2
    })
    .await;

    handle.set_max_pool_size(3).expect("pool running");
    eventually(&handle, "the new max_pool_size", |s| s.max_pool_size == 3).await;

    assert!(!handle.remove_group("nope").await.expect("pool running"));
    assert!(handle.remove_group("a").await.expect("pool running"));
    eventually(&handle, "group a gone", |s| s.groups.is_empty()).await;
}

/// A withdrawn pipelined request checks in without counting as processed.
#[tokio::test]
async fn a_withdrawn_session_is_not_counted_as_processed() {
    let fake = FakeSpawner::new();
    let handle = pool(&fake, PoolOptions::default());
    let a = app("a", |_| {});
    let mut session = handle.checkout(Arc::clone(&a)).await.expect("checkout");
    assert!(!session.is_withdrawn());
    session.mark_withdrawn();
    assert!(session.is_withdrawn());
    drop(session);
    eventually(&handle, "check-in", |s| sessions(s) == 0).await;
    drop(handle.checkout(a).await.expect("checkout"));
    let snap = eventually(&handle, "check-in", |s| sessions(s) == 0).await;
    assert_eq!(
        snap.groups[0].processes[0].processed, 1,
        "only the second counts"
    );
}
