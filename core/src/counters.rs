//! Counters the server keeps for `/metrics` and `/server.json`: requests by status
//! class, time requests waited for a process, spawns and their duration, client
//! connections, and the requests in flight.
//!
//! Owns only the bookkeeping: the proxy and the pool actor bump the numbers (relaxed
//! atomics, no locks) and register each request for its lifetime (one short lock to
//! enter and one to leave the in-flight table); the admin API reads a
//! [`CountersSnapshot`] and [`Counters::requests_in_flight`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

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
    clients_accepted: AtomicU64,
    clients_active: AtomicU64,
    clients_peak: AtomicU64,
    requests_begun: AtomicU64,
    in_flight: Mutex<InFlightTable>,
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
    /// Client connections accepted since the start.
    pub clients_accepted: u64,
    /// Client connections open now.
    pub clients_active: u64,
    /// Most client connections open at once.
    pub clients_peak: u64,
    /// Requests received since the start.
    pub requests_begun: u64,
}

/// The requests in flight, by request number.
#[derive(Debug, Default)]
struct InFlightTable {
    next: u64,
    requests: HashMap<u64, InFlight>,
}

#[derive(Debug, Clone)]
struct InFlight {
    client: u64,
    connected_at: SystemTime,
    method: String,
    path: String,
    host: Option<String>,
    started: Instant,
    started_wall: SystemTime,
    pid: Option<u32>,
}

/// One request being handled, as `/server.json` and `passenger-status --show=requests`
/// list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInFlight {
    /// The number of the client connection it came on.
    pub client: u64,
    /// When that connection was accepted.
    pub connected_at: SystemTime,
    /// HTTP method.
    pub method: String,
    /// Path and query, as received (at most [`MAX_PATH_CHARS`] characters).
    pub path: String,
    /// The `Host` header, if any.
    pub host: Option<String>,
    /// When the request arrived.
    pub started_at: SystemTime,
    /// How long ago it arrived.
    pub age: Duration,
    /// The app process serving it; `None` while it waits for one (or is a static file).
    pub pid: Option<u32>,
}

/// Longest path kept for the in-flight list, in characters.
pub const MAX_PATH_CHARS: usize = 512;

/// One open client connection; counted as active until dropped.
#[derive(Debug)]
pub struct ClientGuard {
    counters: Arc<Counters>,
    /// The connection's number (1, 2, ...).
    pub id: u64,
    /// When it was accepted.
    pub connected_at: SystemTime,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.counters.clients_active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One request in the in-flight table; removed when dropped.
#[derive(Debug)]
pub struct RequestTicket {
    counters: Arc<Counters>,
    id: u64,
}

impl RequestTicket {
    /// Records the app process the request was handed to.
    pub fn set_process(&self, pid: u32) {
        let mut table = self.counters.table();
        if let Some(request) = table.requests.get_mut(&self.id) {
            request.pid = Some(pid);
        }
    }
}

impl Drop for RequestTicket {
    fn drop(&mut self) {
        self.counters.table().requests.remove(&self.id);
    }
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

    fn table(&self) -> std::sync::MutexGuard<'_, InFlightTable> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a client connection accepted now; it stays active until the guard drops.
    pub fn client_connected(self: &Arc<Self>) -> ClientGuard {
        let id = self.clients_accepted.fetch_add(1, Ordering::Relaxed) + 1;
        let active = self.clients_active.fetch_add(1, Ordering::Relaxed) + 1;
        self.clients_peak.fetch_max(active, Ordering::Relaxed);
        ClientGuard {
            counters: self.clone(),
            id,
            connected_at: SystemTime::now(),
        }
    }

    /// Registers a request that arrived on `client`; it is listed in flight until the
    /// ticket drops.
    pub fn request_begun(
        self: &Arc<Self>,
        client: Option<&ClientGuard>,
        method: &str,
        path: &str,
        host: Option<&str>,
    ) -> RequestTicket {
        self.requests_begun.fetch_add(1, Ordering::Relaxed);
        let path = match path.char_indices().nth(MAX_PATH_CHARS) {
            Some((cut, _)) => &path[..cut],
            None => path,
        };
        let request = InFlight {
            client: client.map_or(0, |c| c.id),
            connected_at: client.map_or_else(SystemTime::now, |c| c.connected_at),
            method: method.to_string(),
            path: path.to_string(),
            host: host.map(str::to_string),
            started: Instant::now(),
            started_wall: SystemTime::now(),
            pid: None,
        };
        let mut table = self.table();
        table.next += 1;
        let id = table.next;
        table.requests.insert(id, request);
        RequestTicket {
            counters: self.clone(),
            id,
        }
    }

    /// The requests in flight, oldest first.
    pub fn requests_in_flight(&self) -> Vec<RequestInFlight> {
        let now = Instant::now();
        let mut list: Vec<(u64, RequestInFlight)> = self
            .table()
            .requests
            .iter()
            .map(|(&id, r)| {
                (
                    id,
                    RequestInFlight {
                        client: r.client,
                        connected_at: r.connected_at,
                        method: r.method.clone(),
                        path: r.path.clone(),
                        host: r.host.clone(),
                        started_at: r.started_wall,
                        age: now.saturating_duration_since(r.started),
                        pid: r.pid,
                    },
                )
            })
            .collect();
        list.sort_by_key(|(id, _)| *id);
        list.into_iter().map(|(_, r)| r).collect()
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
            clients_accepted: load(&self.clients_accepted),
            clients_active: load(&self.clients_active),
            clients_peak: load(&self.clients_peak),
            requests_begun: load(&self.requests_begun),
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

    #[test]
    fn clients_and_requests_in_flight() {
        let c = Arc::new(Counters::default());
        let first = c.client_connected();
        let second = c.client_connected();
        drop(second);
        let long = "x".repeat(MAX_PATH_CHARS + 10);
        let a = c.request_begun(Some(&first), "GET", "/a?b=1", Some("h"));
        let b = c.request_begun(None, "POST", &long, None);
        a.set_process(42);
        let list = c.requests_in_flight();
        assert_eq!(list.len(), 2);
        assert_eq!(
            (
                list[0].client,
                list[0].method.as_str(),
                list[0].path.as_str()
            ),
            (first.id, "GET", "/a?b=1")
        );
        assert_eq!(
            (list[0].pid, list[0].host.as_deref()),
            (Some(42), Some("h"))
        );
        assert_eq!((list[1].pid, list[1].path.len()), (None, MAX_PATH_CHARS));
        drop(a);
        assert_eq!(c.requests_in_flight().len(), 1);
        drop(b);
        assert!(c.requests_in_flight().is_empty());
        let s = c.snapshot();
        assert_eq!(
            (
                s.clients_accepted,
                s.clients_active,
                s.clients_peak,
                s.requests_begun
            ),
            (2, 1, 2, 2)
        );
    }
}
