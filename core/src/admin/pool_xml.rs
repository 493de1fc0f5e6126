//! `/pool.xml`: the pool in the element names, order and layout of Passenger's
//! `<info version="3">` document, so scrapers written for the original keep working.
//!
//! `quick-xml` writes the document (declaration, elements, attributes); this module
//! decides what goes in it, from a [`PoolSnapshot`]. Elements the snapshot cannot
//! fill (secrets, api keys, settings we do not have) are left out, not invented.
//!
//! Text is escaped the original's way, byte by byte: everything but `A`..`z`, digits
//! and `/ _.:+-` becomes `&#<byte>;`. That keeps the document pure ASCII, which its
//! `iso-8859-1` declaration needs (each byte of a UTF-8 or non-UTF-8 path reads back
//! as one Latin-1 character, exactly as from the original), and makes `&` and `<`
//! harmless. Control bytes other than tab, newline and carriage return, which XML 1.0
//! cannot carry even as character references, become `?` (the original writes them
//! as references a parser rejects).

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::pool_text::{duration_words, elapsed_secs, is_counted, started_usec};
use crate::pool::{GroupSnapshot, PoolSnapshot, ProcessSnapshot};

/// Escapes `bytes` the way the original does (see the module documentation).
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        let plain = (b'A'..=b'z').contains(&b)
            || b.is_ascii_digit()
            || matches!(b, b'/' | b' ' | b'_' | b'.' | b':' | b'+' | b'-');
        let b = if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') {
            b'?'
        } else {
            b
        };
        if plain {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "&#{b};");
        }
    }
    out
}

/// The document being written.
struct Doc {
    w: Writer<Vec<u8>>,
}

impl Doc {
    fn event(&mut self, event: Event<'_>) {
        self.w
            .write_event(event)
            .expect("invariant: writing XML into a Vec cannot fail");
    }

    fn start(&mut self, name: &str) {
        self.event(Event::Start(BytesStart::new(name)));
    }

    fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    fn empty(&mut self, name: &str) {
        self.event(Event::Empty(BytesStart::new(name)));
    }

    /// `<name>text</name>`, `text` given as raw bytes.
    fn bytes(&mut self, name: &str, text: &[u8]) {
        self.start(name);
        self.event(Event::Text(BytesText::from_escaped(escape(text))));
        self.end(name);
    }

    fn elem(&mut self, name: &str, value: impl std::fmt::Display) {
        self.bytes(name, value.to_string().as_bytes());
    }

    fn opt(&mut self, name: &str, value: Option<impl std::fmt::Display>) {
        if let Some(value) = value {
            self.elem(name, value);
        }
    }
}

fn render_process(doc: &mut Doc, p: &ProcessSnapshot, now_usec: u64, secrets: bool) {
    doc.start("process");
    doc.elem("pid", p.pid);
    doc.elem("sticky_session_id", p.sticky_session_id);
    doc.elem("gupid", &p.gupid);
    doc.elem("concurrency", p.concurrency);
    doc.elem("sessions", p.sessions);
    let busyness = if p.concurrency > 0 {
        u64::from(p.sessions) * 100 / p.concurrency as u64
    } else {
        u64::from(p.sessions > 0)
    };
    doc.elem("busyness", busyness);
    doc.elem("processed", p.processed);
    doc.elem("spawner_creation_time", p.spawner_creation_time);
    doc.elem("spawn_start_time", p.spawn_start_time);
    doc.elem("spawn_end_time", p.spawn_end_time);
    doc.elem("last_used", p.last_used);
    doc.elem(
        "last_used_desc",
        format!(
            "{} ago",
            duration_words(elapsed_secs(now_usec, p.last_used))
        ),
    );
    doc.elem(
        "uptime",
        duration_words(elapsed_secs(now_usec, started_usec(p))),
    );
    doc.elem("life_status", p.life_status.to_ascii_uppercase());
    doc.elem("enabled", p.enabled.to_ascii_uppercase());
    let has_metrics = p.cpu_percent.is_some() || p.real_memory_kb.is_some();
    doc.elem("has_metrics", has_metrics);
    doc.opt("cpu", p.cpu_percent);
    doc.opt("rss", p.rss_kb);
    doc.opt("pss", p.pss_kb);
    doc.opt("private_dirty", p.private_dirty_kb);
    doc.opt("swap", p.swap_kb);
    doc.opt("real_memory", p.real_memory_kb);
    doc.opt("vmsize", p.vmsize_kb);
    doc.opt("process_group_id", p.process_group_id);
    doc.opt("command", p.command.as_deref());
    if secrets && !p.address.is_empty() {
        doc.start("sockets");
        doc.start("socket");
        doc.elem("address", &p.address);
        doc.elem("protocol", "http");
        doc.elem("concurrency", p.concurrency);
        doc.elem("accept_http_requests", 1);
        doc.elem("sessions", p.sessions);
        doc.end("socket");
        doc.end("sockets");
    }
    doc.end("process");
}

fn count(g: &GroupSnapshot, state: &str) -> usize {
    g.processes.iter().filter(|p| p.enabled == state).count()
}

/// `<app_root>`: the path's own bytes when the snapshot has them.
fn app_root(doc: &mut Doc, g: &GroupSnapshot) {
    if g.options.app_root.as_os_str().is_empty() {
        doc.elem("app_root", &g.app_root);
    } else {
        doc.bytes("app_root", g.options.app_root.as_os_str().as_bytes());
    }
}

fn render_options(doc: &mut Doc, g: &GroupSnapshot) {
    let o = &g.options;
    doc.start("options");
    app_root(doc, g);
    doc.elem("app_group_name", &o.app_group_name);
    doc.elem("app_type", &o.app_type);
    doc.elem("start_command", &o.start_command);
    doc.opt("startup_file", o.startup_file.as_deref());
    doc.opt("process_title", o.process_title.as_deref());
    doc.elem("start_timeout", o.start_timeout);
    doc.elem("environment", &o.environment);
    doc.elem("base_uri", &o.base_uri);
    doc.elem("spawn_method", &o.spawn_method);
    doc.elem("integration_mode", &o.integration_mode);
    doc.elem("ruby", &o.ruby);
    doc.elem("python", &o.python);
    doc.elem("nodejs", &o.nodejs);
    doc.elem("min_processes", o.min_processes);
    doc.elem("max_processes", o.max_processes);
    doc.elem("max_preloader_idle_time", o.max_preloader_idle_time);
    doc.opt("user", o.user.as_deref());
    doc.opt("group", o.group.as_deref());
    doc.end("options");
}

fn render_group(doc: &mut Doc, g: &GroupSnapshot, now_usec: u64, secrets: bool) {
    let capacity = g.processes.iter().filter(|p| is_counted(p)).count();
    doc.start("supergroup");
    doc.elem("name", &g.name);
    doc.elem("state", "READY");
    doc.elem("get_wait_list_size", g.queue_len);
    doc.elem("capacity_used", capacity);
    doc.event(Event::Start(
        BytesStart::new("group").with_attributes([("default", "true")]),
    ));
    doc.elem("name", &g.name);
    doc.elem("component_name", &g.name);
    app_root(doc, g);
    doc.elem("app_type", &g.app_type);
    doc.elem("environment", &g.environment);
    doc.elem("uuid", &g.uuid);
    doc.elem("enabled_process_count", count(g, "enabled"));
    doc.elem("disabling_process_count", count(g, "disabling"));
    doc.elem("disabled_process_count", count(g, "disabled"));
    doc.elem("capacity_used", capacity);
    doc.elem("get_wait_list_size", g.queue_len);
    doc.elem("disable_wait_list_size", 0);
    doc.elem("processes_being_spawned", g.processes_being_spawned);
    if g.processes_being_spawned > 0 {
        doc.empty("spawning");
    }
    if g.restarting {
        doc.empty("restarting");
    }
    doc.elem("life_status", "ALIVE");
    doc.opt("user", g.user.as_deref());
    doc.opt("uid", g.uid);
    doc.opt("group", g.group.as_deref());
    doc.opt("gid", g.gid);
    render_options(doc, g);
    doc.start("processes");
    for p in &g.processes {
        render_process(doc, p, now_usec, secrets);
    }
    doc.end("processes");
    doc.end("group");
    doc.end("supergroup");
}

/// Renders `/pool.xml`; `secrets` (`?secrets=true`) adds process sockets.
pub fn render(snapshot: &PoolSnapshot, now_usec: u64, secrets: bool) -> Vec<u8> {
    let mut doc = Doc {
        w: Writer::new(Vec::with_capacity(4096)),
    };
    // The original's declaration has a blank before `?>`.
    doc.event(Event::Decl(BytesDecl::from_start(
        BytesStart::from_content("xml version=\"1.0\" encoding=\"iso-8859-1\" ", 3),
    )));
    doc.w.get_mut().push(b'\n');
    let process_count: usize = snapshot
        .groups
        .iter()
        .map(|g| g.processes.iter().filter(|p| is_counted(p)).count())
        .sum();
    doc.event(Event::Start(
        BytesStart::new("info").with_attributes([("version", "3")]),
    ));
    doc.elem("passenger_version", crate::VERSION);
    doc.elem("group_count", snapshot.groups.len());
    doc.elem("process_count", process_count);
    doc.elem("max", snapshot.max_pool_size);
    doc.elem("capacity_used", snapshot.capacity_used);
    doc.elem("get_wait_list_size", snapshot.top_level_queue_len);
    if secrets {
        doc.empty("get_wait_list");
    }
    doc.start("supergroups");
    for g in &snapshot.groups {
        render_group(&mut doc, g, now_usec, secrets);
    }
    doc.end("supergroups");
    doc.end("info");
    doc.w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_original() {
        assert_eq!(
            escape(b"SameSite=Lax; Secure;"),
            "SameSite&#61;Lax&#59; Secure&#59;"
        );
        assert_eq!(
            escape(b"/webapps/rackapp (production)"),
            "/webapps/rackapp &#40;production&#41;"
        );
        assert_eq!(escape(b"<a&b>"), "&#60;a&#38;b&#62;");
        assert_eq!(escape(b"/srv/\xff\xc3\xa9"), "/srv/&#255;&#195;&#169;");
        assert_eq!(escape(b"a\x01b\tc"), "a&#63;b&#9;c");
    }
}
