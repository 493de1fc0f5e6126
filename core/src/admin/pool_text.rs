//! `/pool.txt`: the human-readable pool status that `passenger status` prints,
//! laid out exactly like Passenger's `Pool::inspect()`.
//!
//! Pure rendering from a [`PoolSnapshot`] and a clock value; no I/O.

use std::fmt::Write;

use crate::pool::{GroupSnapshot, PoolSnapshot, ProcessSnapshot};

/// Options of `/pool.txt` (its query parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// `colorize=true`: section headers in ANSI colors.
    pub colorize: bool,
    /// `verbose=true`: per-process `URL` lines.
    pub verbose: bool,
}

/// Passenger's `distanceOfTimeInWords`: `[Nd ][Nh ][Nm ]Ns`.
pub fn duration_words(mut seconds: u64) -> String {
    let mut out = String::new();
    if seconds >= 60 {
        if seconds >= 3600 {
            if seconds >= 86_400 {
                let _ = write!(out, "{}d ", seconds / 86_400);
                seconds %= 86_400;
            }
            let _ = write!(out, "{}h ", seconds / 3600);
            seconds %= 3600;
        }
        let _ = write!(out, "{}m ", seconds / 60);
        seconds %= 60;
    }
    let _ = write!(out, "{seconds}s");
    out
}

/// Seconds from `then_usec` to `now_usec`, zero if `then` is unset or in the future.
pub(crate) fn elapsed_secs(now_usec: u64, then_usec: u64) -> u64 {
    if then_usec == 0 {
        return 0;
    }
    now_usec.saturating_sub(then_usec) / 1_000_000
}

/// Microseconds since the epoch when the process became ready (spawn start as a
/// fallback while the end is unknown).
pub(crate) fn started_usec(p: &ProcessSnapshot) -> u64 {
    if p.spawn_end_time != 0 {
        p.spawn_end_time
    } else {
        p.spawn_start_time
    }
}

/// Ordering of the original's four per-group lists: enabled, disabling,
/// disabled, detached.
fn list_rank(enabled: &str) -> u8 {
    match enabled {
        "enabled" => 0,
        "disabling" => 1,
        "disabled" => 2,
        "detached" => 3,
        _ => 4,
    }
}

/// Whether the process counts as one of the pool's processes (detached ones do not).
pub(crate) fn is_counted(p: &ProcessSnapshot) -> bool {
    p.enabled != "detached"
}

fn header(out: &mut String, title: &str, opts: TextOptions) {
    if opts.colorize {
        let _ = writeln!(out, "\x1b[33m\x1b[44m\x1b[1m{title}\x1b[0m");
    } else {
        let _ = writeln!(out, "{title}");
    }
}

fn render_process(out: &mut String, p: &ProcessSnapshot, now_usec: u64, opts: TextOptions) {
    let cpu = format!("{}%", p.cpu_percent.unwrap_or(0));
    let memory = format!("{}M", p.real_memory_kb.unwrap_or(0) / 1024);
    let _ = writeln!(
        out,
        "  * PID: {:<5}   Sessions: {:<2}      Processed: {:<5}   Uptime: {}\n    CPU: {:<5}   Memory  : {:<5}   Last used: {} ago",
        p.pid,
        p.sessions,
        p.processed,
        duration_words(elapsed_secs(now_usec, started_usec(p))),
        cpu,
        memory,
        duration_words(elapsed_secs(now_usec, p.last_used)),
    );
    match p.enabled.as_str() {
        "disabling" => out.push_str("    Disabling...\n"),
        "disabled" => out.push_str("    DISABLED\n"),
        "detached" => out.push_str("    Shutting down...\n"),
        _ => {}
    }
    if opts.verbose {
        if let Some(url) = &p.direct_url {
            let _ = writeln!(out, "    URL     : {url}");
        }
        if let Some(password) = &p.connect_password {
            let _ = writeln!(out, "    Password: {password}");
        }
    }
}

fn render_group(out: &mut String, g: &GroupSnapshot, now_usec: u64, opts: TextOptions) {
    let _ = writeln!(out, "{}:", g.name);
    let _ = writeln!(out, "  App root: {}", g.app_root);
    if opts.verbose {
        if let (Some(user), Some(uid), Some(group), Some(gid)) = (&g.user, g.uid, &g.group, g.gid) {
            let _ = writeln!(out, "  User    : {user} ({uid}), group {group} ({gid})");
        }
    }
    if g.restarting {
        out.push_str("  (restarting...)\n");
    }
    match g.processes_being_spawned {
        0 => {}
        1 => out.push_str("  (spawning 1 new process...)\n"),
        n => {
            let _ = writeln!(out, "  (spawning {n} new processes...)");
        }
    }
    let _ = writeln!(out, "  Requests in queue: {}", g.queue_len);
    let mut processes: Vec<&ProcessSnapshot> = g.processes.iter().collect();
    processes.sort_by_key(|p| list_rank(&p.enabled));
    for p in processes {
        render_process(out, p, now_usec, opts);
    }
    out.push('\n');
}

/// Renders the pool as `/pool.txt` does, with `now_usec` (microseconds since the
/// epoch) as the current time.
pub fn render(snapshot: &PoolSnapshot, now_usec: u64, opts: TextOptions) -> String {
    let mut out = String::new();
    let process_count: usize = snapshot
        .groups
        .iter()
        .map(|g| g.processes.iter().filter(|p| is_counted(p)).count())
        .sum();
    header(
        &mut out,
        "----------- General information -----------",
        opts,
    );
    let _ = writeln!(out, "Max pool size : {}", snapshot.max_pool_size);
    let _ = writeln!(out, "App groups    : {}", snapshot.groups.len());
    let _ = writeln!(out, "Processes     : {process_count}");
    let _ = writeln!(
        out,
        "Requests in top-level queue : {}",
        snapshot.top_level_queue_len
    );
    out.push('\n');
    header(&mut out, "----------- Application groups -----------", opts);
    for g in &snapshot.groups {
        render_group(&mut out, g, now_usec, opts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_passenger() {
        assert_eq!(duration_words(0), "0s");
        assert_eq!(duration_words(59), "59s");
        assert_eq!(duration_words(60), "1m 0s");
        assert_eq!(duration_words(3 * 60 + 5), "3m 5s");
        assert_eq!(duration_words(3600), "1h 0m 0s");
        assert_eq!(duration_words(86_400 + 3661), "1d 1h 1m 1s");
    }

    #[test]
    fn observed_capture_is_reproduced_byte_for_byte() {
        let now = 1_795_262_479_000_000;
        let snapshot = PoolSnapshot {
            max_pool_size: 6,
            capacity_used: 1,
            top_level_queue_len: 0,
            groups: vec![GroupSnapshot {
                name: "/webapps/rackapp".into(),
                app_root: "/webapps/rackapp".into(),
                processes: vec![ProcessSnapshot {
                    pid: 12950,
                    processed: 4,
                    spawn_end_time: now - 42_300_000,
                    last_used: now - 31_900_000,
                    enabled: "enabled".into(),
                    cpu_percent: Some(0),
                    real_memory_kb: Some(2648),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let text = render(&snapshot, now, TextOptions::default());
        // 365 bytes is the Content-Length of the original's response (observed 4.5).
        assert_eq!(text.len(), 365, "{text}");
        assert!(text.ends_with("    CPU: 0%      Memory  : 2M      Last used: 31s ago\n\n"));
    }
}
