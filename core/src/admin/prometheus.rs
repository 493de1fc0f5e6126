//! `/metrics`: the pool snapshot and the server's counters as Prometheus metrics.
//!
//! The `prometheus-client` crate owns the registry, the metric types and both text
//! encodings: the Prometheus text format 0.0.4 (the default) and OpenMetrics 1.0
//! (for a scraper whose `Accept` prefers `application/openmetrics-text`). This module
//! only says which metric families exist and fills them from a [`PoolSnapshot`] at
//! each scrape (a [`Collector`], so label sets of processes that are gone never
//! linger, and families come out in a stable order).

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::pool_text::started_usec;
use crate::pool::PoolSnapshot;

/// The exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text (`# EOF`-terminated).
    OpenMetrics,
}

/// `Content-Type` of OpenMetrics text.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// The format a scraper sending `accept` wants: OpenMetrics when it ranks
    /// `application/openmetrics-text` above `text/plain` (by `q`, then by order, as
    /// Prometheus itself sends them); the 0.0.4 text otherwise, and without a header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let mut best: Option<(f32, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => Format::Prometheus,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Prometheus, |(_, format)| format)
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Process states reported for every group, so absent states read as 0.
const ENABLED_STATES: [&str; 4] = ["enabled", "disabling", "disabled", "detached"];

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
    pub counters: Option<crate::counters::CountersSnapshot>,
}

/// Renders the exposition text of `snapshot` and `server` in `format`.
pub fn render(snapshot: PoolSnapshot, server: ServerMetrics, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(PoolCollector { snapshot, server }));
    let mut out = String::new();
    let encoded = match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry),
    };
    // Writing into a String cannot fail, and our collector returns only the
    // encoder's own results.
    encoded.expect("invariant: encoding metrics into a String cannot fail");
    out
}

/// The metric families of one scrape.
#[derive(Debug)]
struct PoolCollector {
    snapshot: PoolSnapshot,
    server: ServerMetrics,
}

/// Writes one metric family: its HELP and TYPE, then one sample per label set.
/// Counter names are given without `_total`; the encoder adds it.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one family with a single unlabelled sample.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: M,
) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, value.metric_type())?;
    value.encode(metric)
}

fn gauge(n: usize) -> ConstGauge {
    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
}

fn count(n: u64) -> ConstCounter {
    ConstCounter::new(n)
}

fn seconds(micros: u64) -> ConstCounter<f64> {
    ConstCounter::new(micros as f64 / 1e6)
}

impl PoolCollector {
    fn encode_counters(
        encoder: &mut DescriptorEncoder,
        c: &crate::counters::CountersSnapshot,
    ) -> fmt::Result {
        let classes: Vec<_> = (1..=5).map(|class| format!("{class}xx")).collect();
        family(
            encoder,
            "passenger_http_responses",
            "Responses sent to clients, by status class.",
            MetricType::Counter,
            classes
                .iter()
                .zip(c.responses)
                .map(|(class, n)| ([("code", class.as_str())], count(n))),
        )?;
        single(
            encoder,
            "passenger_request_wait_seconds",
            "Total time requests waited for an app process (queue and spawn).",
            seconds(c.checkout_wait_micros),
        )?;
        single(
            encoder,
            "passenger_request_checkouts",
            "Requests that asked the pool for a process (divide the wait total by this).",
            count(c.checkouts),
        )?;
        single(
            encoder,
            "passenger_spawns",
            "App processes spawned successfully.",
            count(c.spawns),
        )?;
        single(
            encoder,
            "passenger_spawn_failures",
            "Spawns that failed.",
            count(c.spawn_failures),
        )?;
        single(
            encoder,
            "passenger_spawn_duration_seconds",
            "Total time successful spawns took until the process was ready.",
            seconds(c.spawn_micros),
        )?;
        single(
            encoder,
            "passenger_pipelined_requests",
            "Requests pipelined to a busy process (sent before it was free).",
            count(c.pipelined),
        )?;
        single(
            encoder,
            "passenger_pipeline_withdrawals",
            "Pipelined requests taken back before their process started them.",
            count(c.pipeline_withdrawn),
        )
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let (snapshot, server) = (&self.snapshot, &self.server);
        family(
            e,
            "passenger_info",
            "Constant 1, labelled with the version and instance name.",
            MetricType::Gauge,
            [(
                [
                    ("version", server.version.as_str()),
                    ("instance", server.instance.as_str()),
                ],
                gauge(1),
            )],
        )?;
        single(
            e,
            "passenger_start_time_seconds",
            "Server start time, seconds since the epoch.",
            ConstGauge::new(server.start_time_secs),
        )?;
        if let Some(c) = &server.counters {
            Self::encode_counters(e, c)?;
        }
        single(
            e,
            "passenger_pool_max_size",
            "Maximum number of processes across all groups.",
            ConstGauge::new(i64::from(snapshot.max_pool_size)),
        )?;
        single(
            e,
            "passenger_pool_capacity_used",
            "Processes counted against the maximum pool size.",
            ConstGauge::new(i64::from(snapshot.capacity_used)),
        )?;
        single(
            e,
            "passenger_pool_top_level_queue_length",
            "Requests waiting for a group to be created.",
            ConstGauge::new(i64::from(snapshot.top_level_queue_len)),
        )?;
        single(
            e,
            "passenger_pool_groups",
            "Number of application groups.",
            gauge(snapshot.groups.len()),
        )?;

        let groups = &snapshot.groups;
        let by_group = |value: fn(&crate::pool::GroupSnapshot) -> i64| {
            groups
                .iter()
                .map(move |g| ([("group", g.name.as_str())], ConstGauge::new(value(g))))
        };
        family(
            e,
            "passenger_group_queue_length",
            "Requests waiting in the group's queue.",
            MetricType::Gauge,
            by_group(|g| i64::from(g.queue_len)),
        )?;
        family(
            e,
            "passenger_group_processes",
            "Processes of the group by enabled state.",
            MetricType::Gauge,
            groups.iter().flat_map(|g| {
                ENABLED_STATES.iter().map(move |&state| {
                    let n = g.processes.iter().filter(|p| p.enabled == state).count();
                    ([("group", g.name.as_str()), ("state", state)], gauge(n))
                })
            }),
        )?;
        family(
            e,
            "passenger_group_processes_being_spawned",
            "Processes of the group being spawned now.",
            MetricType::Gauge,
            by_group(|g| i64::from(g.processes_being_spawned)),
        )?;
        family(
            e,
            "passenger_group_restarting",
            "1 while the group is restarting.",
            MetricType::Gauge,
            by_group(|g| i64::from(g.restarting)),
        )?;

        let procs: Vec<_> = groups
            .iter()
            .flat_map(|g| g.processes.iter().map(move |p| (g, p, p.pid.to_string())))
            .collect();
        let labels = |g: &crate::pool::GroupSnapshot, pid: &str| {
            [("group", g.name.clone()), ("pid", pid.to_string())]
        };
        family(
            e,
            "passenger_process_sessions",
            "Requests in flight on the process.",
            MetricType::Gauge,
            procs
                .iter()
                .map(|(g, p, pid)| (labels(g, pid), ConstGauge::new(i64::from(p.sessions)))),
        )?;
        family(
            e,
            "passenger_process_processed",
            "Requests the process has served.",
            MetricType::Counter,
            procs
                .iter()
                .map(|(g, p, pid)| (labels(g, pid), count(p.processed))),
        )?;
        family(
            e,
            "passenger_process_start_time_seconds",
            "When the process became ready, seconds since the epoch.",
            MetricType::Gauge,
            procs.iter().map(|(g, p, pid)| {
                (
                    labels(g, pid),
                    ConstGauge::new(started_usec(p) as f64 / 1e6),
                )
            }),
        )?;
        family(
            e,
            "passenger_process_cpu_percent",
            "CPU usage of the process in percent, when sampled.",
            MetricType::Gauge,
            procs.iter().filter_map(|(g, p, pid)| {
                p.cpu_percent
                    .map(|cpu| (labels(g, pid), ConstGauge::new(i64::from(cpu))))
            }),
        )?;
        family(
            e,
            "passenger_process_memory_bytes",
            "Private dirty memory of the process in bytes, when sampled.",
            MetricType::Gauge,
            procs.iter().filter_map(|(g, p, pid)| {
                p.real_memory_kb
                    .map(|kb| (labels(g, pid), ConstGauge::new(kb.saturating_mul(1024))))
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Prometheus
        );
        // What Prometheus 2.x sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0, */*")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/json")),
            Format::Prometheus
        );
    }
}
