//! `/pool.xml`: the pool in the element names of Passenger's `<info version="3">`
//! document, so scrapers written for the original keep working.
//!
//! Pure rendering from a [`PoolSnapshot`]; elements the snapshot cannot fill
//! (uuid, user/uid, options, memory details) are left out rather than invented.

use std::fmt::Write;

use super::pool_text::{duration_words, elapsed_secs, is_counted, started_usec};
use crate::pool::{GroupSnapshot, PoolSnapshot, ProcessSnapshot};

/// Escapes text the way the original does: every byte outside `A`..`z`, `0-9`,
/// `/`, space, `_`, `.`, `:`, `+` and `-` becomes `&#<decimal>;`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        let plain = (b'A'..=b'z').contains(&b)
            || b.is_ascii_digit()
            || matches!(b, b'/' | b' ' | b'_' | b'.' | b':' | b'+' | b'-');
        if plain {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "&#{b};");
        }
    }
    out
}

fn elem(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(&value.to_string()));
}

fn render_process(out: &mut String, p: &ProcessSnapshot, now_usec: u64, secrets: bool) {
    out.push_str("<process>");
    elem(out, "pid", p.pid);
    elem(out, "gupid", &p.gupid);
    elem(out, "concurrency", p.concurrency);
    elem(out, "sessions", p.sessions);
    let busyness = if p.concurrency > 0 {
        u64::from(p.sessions) * 100 / p.concurrency as u64
    } else {
        u64::from(p.sessions > 0)
    };
    elem(out, "busyness", busyness);
    elem(out, "processed", p.processed);
    elem(out, "spawn_start_time", p.spawn_start_time);
    elem(out, "spawn_end_time", p.spawn_end_time);
    elem(out, "last_used", p.last_used);
    elem(
        out,
        "last_used_desc",
        format!(
            "{} ago",
            duration_words(elapsed_secs(now_usec, p.last_used))
        ),
    );
    elem(
        out,
        "uptime",
        duration_words(elapsed_secs(now_usec, started_usec(p))),
    );
    elem(out, "life_status", p.life_status.to_ascii_uppercase());
    elem(out, "enabled", p.enabled.to_ascii_uppercase());
    let has_metrics = p.cpu_percent.is_some() || p.real_memory_kb.is_some();
    elem(out, "has_metrics", has_metrics);
    if let Some(cpu) = p.cpu_percent {
        elem(out, "cpu", cpu);
    }
    if let Some(kb) = p.real_memory_kb {
        elem(out, "private_dirty", kb);
        elem(out, "real_memory", kb);
    }
    if secrets && !p.address.is_empty() {
        out.push_str("<sockets><socket>");
        elem(out, "address", &p.address);
        elem(out, "protocol", "http");
        elem(out, "concurrency", p.concurrency);
        elem(out, "accept_http_requests", 1);
        elem(out, "sessions", p.sessions);
        out.push_str("</socket></sockets>");
    }
    out.push_str("</process>");
}

fn count(g: &GroupSnapshot, state: &str) -> usize {
    g.processes.iter().filter(|p| p.enabled == state).count()
}

fn render_group(out: &mut String, g: &GroupSnapshot, now_usec: u64, secrets: bool) {
    let capacity = g.processes.iter().filter(|p| is_counted(p)).count();
    out.push_str("<supergroup>");
    elem(out, "name", &g.name);
    elem(out, "state", "READY");
    elem(out, "get_wait_list_size", g.queue_len);
    elem(out, "capacity_used", capacity);
    out.push_str("<group default=\"true\">");
    elem(out, "name", &g.name);
    elem(out, "component_name", &g.name);
    elem(out, "app_root", &g.app_root);
    elem(out, "app_type", &g.app_type);
    elem(out, "environment", &g.environment);
    elem(out, "enabled_process_count", count(g, "enabled"));
    elem(out, "disabling_process_count", count(g, "disabling"));
    elem(out, "disabled_process_count", count(g, "disabled"));
    elem(out, "capacity_used", capacity);
    elem(out, "get_wait_list_size", g.queue_len);
    elem(out, "disable_wait_list_size", 0);
    elem(out, "processes_being_spawned", g.processes_being_spawned);
    if g.processes_being_spawned > 0 {
        out.push_str("<spawning/>");
    }
    if g.restarting {
        out.push_str("<restarting/>");
    }
    elem(out, "life_status", "ALIVE");
    out.push_str("<processes>");
    for p in &g.processes {
        render_process(out, p, now_usec, secrets);
    }
    out.push_str("</processes></group></supergroup>");
}

/// Renders `/pool.xml`; `secrets` (`?secrets=true`) adds process sockets.
pub fn render(snapshot: &PoolSnapshot, now_usec: u64, secrets: bool) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"iso-8859-1\" ?>\n");
    let process_count: usize = snapshot
        .groups
        .iter()
        .map(|g| g.processes.iter().filter(|p| is_counted(p)).count())
        .sum();
    out.push_str("<info version=\"3\">");
    elem(&mut out, "passenger_version", crate::VERSION);
    elem(&mut out, "group_count", snapshot.groups.len());
    elem(&mut out, "process_count", process_count);
    elem(&mut out, "max", snapshot.max_pool_size);
    elem(&mut out, "capacity_used", snapshot.capacity_used);
    elem(&mut out, "get_wait_list_size", snapshot.top_level_queue_len);
    if secrets {
        out.push_str("<get_wait_list/>");
    }
    out.push_str("<supergroups>");
    for g in &snapshot.groups {
        render_group(&mut out, g, now_usec, secrets);
    }
    out.push_str("</supergroups></info>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_original() {
        assert_eq!(
            escape("SameSite=Lax; Secure;"),
            "SameSite&#61;Lax&#59; Secure&#59;"
        );
        assert_eq!(
            escape("/webapps/rackapp (production)"),
            "/webapps/rackapp &#40;production&#41;"
        );
        assert_eq!(escape("<a&b>"), "&#60;a&#38;b&#62;");
    }
}
