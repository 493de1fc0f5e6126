//! The memory limit's measuring side: a task that reads the memory of every process
//! whose app has a `memory_limit` every [`CHECK_INTERVAL`] and reports those above it.
//!
//! Owns the list of watched processes and the `/proc` reads (off the runtime's
//! worker threads). It decides nothing: the pool state machine gets a
//! [`PoolInput::MemoryLimitExceeded`](super::state::PoolInput::MemoryLimitExceeded)
//! for each process found above its limit and replaces it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::pool::ids::Gupid;

/// How often the memory of limited processes is read: a throttled check, as the
/// original's metrics collection (every 5 s). `PASSENGER_MEMORY_CHECK_INTERVAL_MS`
/// overrides it (tests).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The processes to watch: gupid → (pid, limit in KiB).
#[derive(Debug, Default, Clone)]
pub(crate) struct Watched(Arc<Mutex<HashMap<Gupid, (u32, u64)>>>);

impl Watched {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Gupid, (u32, u64)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches `pid` against `limit_mb` (0: not watched).
    pub fn add(&self, gupid: Gupid, pid: u32, limit_mb: u64) {
        if limit_mb > 0 {
            self.lock()
                .insert(gupid, (pid, limit_mb.saturating_mul(1024)));
        }
    }

    /// Stops watching `gupid` (it exited).
    pub fn remove(&self, gupid: &Gupid) {
        self.lock().remove(gupid);
    }

    fn list(&self) -> Vec<(Gupid, u32, u64)> {
        self.lock()
            .iter()
            .map(|(g, (pid, limit))| (g.clone(), *pid, *limit))
            .collect()
    }
}

/// The interval in force.
pub(crate) fn check_interval() -> Duration {
    std::env::var("PASSENGER_MEMORY_CHECK_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(CHECK_INTERVAL)
}

/// The memory a limit is measured against, in KiB: private dirty plus swap (what
/// `passenger-status` shows as real memory), or the RSS when the memory map cannot
/// be read. `None` if the process is gone.
pub(crate) fn used_kb(pid: u32) -> Option<u64> {
    let m = crate::metrics::process_metrics(pid).ok()?;
    Some(match m.private_dirty_kb {
        Some(dirty) => dirty + m.swap_kb.unwrap_or(0),
        None => m.rss_kb,
    })
}

/// Every `interval`, reads the watched processes' memory and calls `report(gupid,
/// used_kb)` for each above its limit, while `alive()` and until `report` returns
/// false.
pub(crate) async fn run(
    watched: Watched,
    interval: Duration,
    alive: impl Fn() -> bool,
    mut report: impl FnMut(Gupid, u64) -> bool,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !alive() {
            return;
        }
        let list = watched.list();
        if list.is_empty() {
            continue;
        }
        let over = tokio::task::spawn_blocking(move || {
            list.into_iter()
                .filter_map(|(gupid, pid, limit)| {
                    let used = used_kb(pid)?;
                    (used > limit).then_some((gupid, used))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (gupid, used) in over {
            if !report(gupid, used) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_memory_is_measured() {
        let kb = used_kb(std::process::id()).expect("this process exists");
        assert!(kb > 0);
    }

    #[tokio::test]
    async fn processes_over_their_limit_are_reported_until_told_to_stop() {
        let watched = Watched::default();
        // This test process surely uses more than 1 MB, and less than 1 TB.
        watched.add(Gupid("over".into()), std::process::id(), 1);
        watched.add(Gupid("under".into()), std::process::id(), 1 << 20);
        watched.add(Gupid("unlimited".into()), std::process::id(), 0);
        let mut reports = Vec::new();
        run(
            watched.clone(),
            Duration::from_millis(1),
            || true,
            |gupid, used| {
                reports.push((gupid, used));
                reports.len() < 2
            },
        )
        .await;
        assert!(reports
            .iter()
            .all(|(g, used)| g.0 == "over" && *used > 1024));
        watched.remove(&Gupid("over".into()));
        assert_eq!(watched.list().len(), 1);
    }
}
