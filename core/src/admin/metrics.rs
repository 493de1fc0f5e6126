//! `/metrics`: the pool snapshot in the Prometheus text exposition format (0.0.4).
//!
//! Exposes only what a [`PoolSnapshot`] holds (processes per group and state,
//! sessions, processed counts, queue depths, CPU and memory when sampled); request
//! counts by status live in the proxy and are not reported here.

use std::fmt::Write;

use super::pool_text::started_usec;
use crate::pool::PoolSnapshot;

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Process states reported for every group, so absent states read as 0.
const ENABLED_STATES: [&str; 4] = ["enabled", "disabling", "disabled", "detached"];

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Server-level values that are not part of the pool snapshot.
#[derive(Debug, Clone, Default)]
pub struct ServerMetrics {
    /// Version label of `passenger_info`.
    pub version: String,
    /// Instance name label of `passenger_info`.
    pub instance: String,
    /// Server start, seconds since the epoch.
    pub start_time_secs: f64,
    /// Request, wait and spawn counters, when the server keeps them.
    pub counters: Option<crate::stats::CountersSnapshot>,
}

struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn render_counters(out: &mut String, c: &crate::stats::CountersSnapshot) {
    let mut f = Family::new(
        out,
        "passenger_http_responses_total",
        "counter",
        "Responses sent to clients, by status class.",
    );
    for (i, n) in c.responses.iter().enumerate() {
        f.sample(&[("code", &format!("{}xx", i + 1))], n);
    }
    Family::new(
        out,
        "passenger_request_wait_seconds_total",
        "counter",
        "Total time requests waited for an app process (queue and spawn).",
    )
    .sample(&[], c.checkout_wait_micros as f64 / 1e6);
    Family::new(
        out,
        "passenger_request_checkouts_total",
        "counter",
        "Requests that asked the pool for a process (divide the wait total by this).",
    )
    .sample(&[], c.checkouts);
    Family::new(
        out,
        "passenger_spawns_total",
        "counter",
        "App processes spawned successfully.",
    )
    .sample(&[], c.spawns);
    Family::new(
        out,
        "passenger_spawn_failures_total",
        "counter",
        "Spawns that failed.",
    )
    .sample(&[], c.spawn_failures);
    Family::new(
        out,
        "passenger_spawn_duration_seconds_total",
        "counter",
        "Total time successful spawns took until the process was ready.",
    )
    .sample(&[], c.spawn_micros as f64 / 1e6);
    Family::new(
        out,
        "passenger_pipelined_requests_total",
        "counter",
        "Requests pipelined to a busy process (sent before it was free).",
    )
    .sample(&[], c.pipelined);
    Family::new(
        out,
        "passenger_pipeline_withdrawals_total",
        "counter",
        "Pipelined requests taken back before their process started them.",
    )
    .sample(&[], c.pipeline_withdrawn);
}

/// Renders the exposition text.
pub fn render(snapshot: &PoolSnapshot, server: &ServerMetrics) -> String {
    let mut out = String::new();
    Family::new(
        &mut out,
        "passenger_info",
        "gauge",
        "Constant 1, labelled with the version and instance name.",
    )
    .sample(
        &[("version", &server.version), ("instance", &server.instance)],
        1,
    );
    Family::new(
        &mut out,
        "passenger_start_time_seconds",
        "gauge",
        "Server start time, seconds since the epoch.",
    )
    .sample(&[], server.start_time_secs);
    if let Some(c) = &server.counters {
        render_counters(&mut out, c);
    }
    Family::new(
        &mut out,
        "passenger_pool_max_size",
        "gauge",
        "Maximum number of processes across all groups.",
    )
    .sample(&[], snapshot.max_pool_size);
    Family::new(
        &mut out,
        "passenger_pool_capacity_used",
        "gauge",
        "Processes counted against the maximum pool size.",
    )
    .sample(&[], snapshot.capacity_used);
    Family::new(
        &mut out,
        "passenger_pool_top_level_queue_length",
        "gauge",
        "Requests waiting for a group to be created.",
    )
    .sample(&[], snapshot.top_level_queue_len);
    Family::new(
        &mut out,
        "passenger_pool_groups",
        "gauge",
        "Number of application groups.",
    )
    .sample(&[], snapshot.groups.len());

    let mut f = Family::new(
        &mut out,
        "passenger_group_queue_length",
        "gauge",
        "Requests waiting in the group's queue.",
    );
    for g in &snapshot.groups {
        f.sample(&[("group", &g.name)], g.queue_len);
    }
    let mut f = Family::new(
        &mut out,
        "passenger_group_processes",
        "gauge",
        "Processes of the group by enabled state.",
    );
    for g in &snapshot.groups {
        for state in ENABLED_STATES {
            let n = g.processes.iter().filter(|p| p.enabled == state).count();
            f.sample(&[("group", &g.name), ("state", state)], n);
        }
    }
    let mut f = Family::new(
        &mut out,
        "passenger_group_processes_being_spawned",
        "gauge",
        "Processes of the group being spawned now.",
    );
    for g in &snapshot.groups {
        f.sample(&[("group", &g.name)], g.processes_being_spawned);
    }
    let mut f = Family::new(
        &mut out,
        "passenger_group_restarting",
        "gauge",
        "1 while the group is restarting.",
    );
    for g in &snapshot.groups {
        f.sample(&[("group", &g.name)], u8::from(g.restarting));
    }

    let procs: Vec<_> = snapshot
        .groups
        .iter()
        .flat_map(|g| g.processes.iter().map(move |p| (g, p, p.pid.to_string())))
        .collect();
    let mut f = Family::new(
        &mut out,
        "passenger_process_sessions",
        "gauge",
        "Requests in flight on the process.",
    );
    for (g, p, pid) in &procs {
        f.sample(&[("group", &g.name), ("pid", pid)], p.sessions);
    }
    let mut f = Family::new(
        &mut out,
        "passenger_process_processed_total",
        "counter",
        "Requests the process has served.",
    );
    for (g, p, pid) in &procs {
        f.sample(&[("group", &g.name), ("pid", pid)], p.processed);
    }
    let mut f = Family::new(
        &mut out,
        "passenger_process_start_time_seconds",
        "gauge",
        "When the process became ready, seconds since the epoch.",
    );
    for (g, p, pid) in &procs {
        f.sample(
            &[("group", &g.name), ("pid", pid)],
            started_usec(p) as f64 / 1e6,
        );
    }
    let mut f = Family::new(
        &mut out,
        "passenger_process_cpu_percent",
        "gauge",
        "CPU usage of the process in percent, when sampled.",
    );
    for (g, p, pid) in &procs {
        if let Some(cpu) = p.cpu_percent {
            f.sample(&[("group", &g.name), ("pid", pid)], cpu);
        }
    }
    let mut f = Family::new(
        &mut out,
        "passenger_process_memory_bytes",
        "gauge",
        "Private dirty memory of the process in bytes, when sampled.",
    );
    for (g, p, pid) in &procs {
        if let Some(kb) = p.real_memory_kb {
            f.sample(&[("group", &g.name), ("pid", pid)], kb.saturating_mul(1024));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
