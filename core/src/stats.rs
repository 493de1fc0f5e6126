//! Counters the server keeps for `/metrics` and `/server.json`: requests by status
//! class, time requests waited for a process, spawns and their duration.
//!
//! Owns only the numbers: the proxy and the pool actor bump them (relaxed atomics,
//! no locks on the request path) and the admin API reads a [`CountersSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Live counters, shared as `Arc<Counters>`.
#[derive(Debug, Default)]
pub struct Counters {
    responses: [AtomicU64; 5],
    checkout_wait_micros: AtomicU64,
    checkouts: AtomicU64,
    spawns: AtomicU64,
    spawn_failures: AtomicU64,
    spawn_micros: AtomicU64,
    pipelined: AtomicU64,
    pipeline_withdrawn: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Responses by status class: index 0 = 1xx … 4 = 5xx.
    pub responses: [u64; 5],
    /// Total time requests waited for a process (queue, spawn), microseconds.
    pub checkout_wait_micros: u64,
    /// Requests that got (or failed to get) a process.
    pub checkouts: u64,
    /// Processes spawned.
    pub spawns: u64,
    /// Spawns that failed.
    pub spawn_failures: u64,
    /// Total duration of successful spawns, microseconds.
    pub spawn_micros: u64,
    /// Requests pipelined to a busy process.
    pub pipelined: u64,
    /// Pipelined requests taken back before their process started them.
    pub pipeline_withdrawn: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Counters {
    /// Counts one response.
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one checkout that waited `waited`.
    pub fn checkout(&self, waited: Duration) {
        self.checkouts.fetch_add(1, Ordering::Relaxed);
        self.checkout_wait_micros
            .fetch_add(micros(waited), Ordering::Relaxed);
    }

    /// Counts one finished spawn.
    pub fn spawn(&self, took: Duration, ok: bool) {
        if ok {
            self.spawns.fetch_add(1, Ordering::Relaxed);
            self.spawn_micros.fetch_add(micros(took), Ordering::Relaxed);
        } else {
            self.spawn_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one request pipelined to a busy process.
    pub fn pipelined(&self) {
        self.pipelined.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one pipelined request taken back.
    pub fn pipeline_withdrawn(&self) {
        self.pipeline_withdrawn.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> CountersSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountersSnapshot {
            responses: [
                load(&self.responses[0]),
                load(&self.responses[1]),
                load(&self.responses[2]),
                load(&self.responses[3]),
                load(&self.responses[4]),
            ],
            checkout_wait_micros: load(&self.checkout_wait_micros),
            checkouts: load(&self.checkouts),
            spawns: load(&self.spawns),
            spawn_failures: load(&self.spawn_failures),
            spawn_micros: load(&self.spawn_micros),
            pipelined: load(&self.pipelined),
            pipeline_withdrawn: load(&self.pipeline_withdrawn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_land_in_their_class() {
        let c = Counters::default();
        for s in [101, 200, 204, 302, 404, 404, 503, 999, 0] {
            c.response(s);
        }
        assert_eq!(c.snapshot().responses, [2, 2, 1, 2, 2]);
    }

    #[test]
    fn spawns_and_waits_add_up() {
        let c = Counters::default();
        c.spawn(Duration::from_millis(3), true);
        c.spawn(Duration::from_millis(5), false);
        c.checkout(Duration::from_micros(7));
        let s = c.snapshot();
        assert_eq!((s.spawns, s.spawn_failures, s.spawn_micros), (1, 1, 3000));
        assert_eq!((s.checkouts, s.checkout_wait_micros), (1, 7));
    }
}
