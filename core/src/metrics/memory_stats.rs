//! The data of `passenger memory-stats`: the machine's Apache, Nginx and Passenger
//! processes with their private dirty RSS.
//!
//! Owns: classifying processes into the three sections and summing their totals.
//! Does not own: finding instances (the caller passes [`InstanceRoots`]) or the
//! table layout (the `cli` crate renders [`MemoryStats`]).
//!
//! Speed matters (the tool must stay well under 100 ms on a machine with thousands of
//! processes), so the scan reads only `stat` and `cmdline` per process, and the
//! expensive memory map only for the processes that end up in a section.

use std::collections::BTreeSet;

use serde::Serialize;

use procfs::process::Stat;

use super::process::{
    all_processes, descendants, is_dead, is_kernel_thread, open, pid_u32, read_cmdline, read_smaps,
    read_stat, rss_kb, SmapsTotals,
};
use super::MetricsError;

/// The running passenger-rs instances whose processes make up the Passenger section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceRoots {
    /// Pid of each instance's core process; its whole tree is included, and the core
    /// itself is listed as [`CORE_TITLE`].
    pub core_pids: Vec<u32>,
    /// Pid of each instance's watchdog, listed as [`WATCHDOG_TITLE`].
    pub watchdog_pids: Vec<u32>,
}

/// The name a watchdog is listed under: the original's title, which operators grep for.
pub const WATCHDOG_TITLE: &str = "Passenger watchdog";
/// The name a core is listed under: the original's title, which operators grep for.
pub const CORE_TITLE: &str = "Passenger core";

/// What [`memory_stats`] should collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryStatsOptions {
    /// Collect the Apache section (`--no-apache` turns it off).
    pub apache: bool,
    /// Collect the Nginx section (`--no-nginx` turns it off).
    pub nginx: bool,
    /// The instances whose process trees form the Passenger section.
    pub roots: InstanceRoots,
}

impl Default for MemoryStatsOptions {
    fn default() -> Self {
        Self {
            apache: true,
            nginx: true,
            roots: InstanceRoots::default(),
        }
    }
}

/// One process in a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessRow {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Virtual memory size in KiB.
    pub vmsize_kb: u64,
    /// Resident set size in KiB.
    pub rss_kb: u64,
    /// Private dirty RSS in KiB; `None` (shown `?`) when the memory map was unreadable.
    pub private_dirty_kb: Option<u64>,
    /// Proportional set size in KiB; `None` when the memory map was unreadable.
    pub pss_kb: Option<u64>,
    /// Command line (truncated to [`MAX_NAME_CHARS`]), or `[comm]` when it has none.
    pub name: String,
}

/// Longest `name` kept in a [`ProcessRow`], in characters.
pub const MAX_NAME_CHARS: usize = 300;

/// One section of the report (`Apache processes`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Title as shown in the bar: `Apache processes`, `Nginx processes`, `Passenger processes`.
    pub title: String,
    /// Whether the PPID column is shown (the original drops it for Passenger).
    pub show_ppid: bool,
    /// Processes, ascending by pid.
    pub rows: Vec<ProcessRow>,
    /// Sum of the known private dirty values, in KiB.
    pub total_private_dirty_kb: u64,
    /// Sum of the known PSS values, in KiB.
    pub total_pss_kb: u64,
    /// True when some row's private dirty RSS is unknown, so the total is a lower bound.
    pub incomplete: bool,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// `None` when not requested.
    pub apache: Option<Section>,
    /// `None` when not requested.
    pub nginx: Option<Section>,
    /// Always collected.
    pub passenger: Section,
    /// Some value was unreadable and we are not root: running as root would fill it in.
    pub root_would_help: bool,
}

/// A process seen by the cheap scan.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    pub(crate) stat: Stat,
    pub(crate) cmdline: Vec<String>,
    /// Shown instead of the command line (the watchdog's and core's titles).
    pub(crate) title: Option<&'static str>,
}

/// Collects the report over every process on the machine.
pub fn memory_stats(opts: &MemoryStatsOptions) -> MemoryStats {
    let mut entries = scan();
    let me = std::process::id();

    let mut denied = false;
    let mut section = |title: &str, show_ppid: bool, picked: &[&Entry]| {
        let (section, section_denied) = build_section(title, show_ppid, picked);
        denied |= section_denied;
        section
    };
    let apache = opts.apache.then(|| {
        let picked: Vec<&Entry> = entries.iter().filter(|e| is_apache(&e.stat.comm)).collect();
        section("Apache processes", true, &picked)
    });
    let nginx = opts.nginx.then(|| {
        let picked: Vec<&Entry> = entries.iter().filter(|e| e.stat.comm == "nginx").collect();
        section("Nginx processes", true, &picked)
    });

    let parents: Vec<(u32, u32)> = entries.iter().map(|e| (e.pid, e.ppid)).collect();
    let mut wanted: BTreeSet<u32> = BTreeSet::new();
    for &core in &opts.roots.core_pids {
        wanted.insert(core);
        wanted.extend(descendants(&parents, core));
    }
    wanted.extend(opts.roots.watchdog_pids.iter().copied());
    for entry in &mut entries {
        if opts.roots.watchdog_pids.contains(&entry.pid) {
            entry.title = Some(WATCHDOG_TITLE);
        } else if opts.roots.core_pids.contains(&entry.pid) {
            entry.title = Some(CORE_TITLE);
        }
    }
    let picked: Vec<&Entry> = entries
        .iter()
        .filter(|e| wanted.contains(&e.pid) || (e.pid != me && is_passenger_title(&e.cmdline)))
        .collect();
    let passenger = section("Passenger processes", false, &picked);

    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    MemoryStats {
        apache,
        nginx,
        passenger,
        root_would_help: denied && !root,
    }
}

/// One pass over `/proc`: `stat` for every process, `cmdline` for user processes.
/// A process that vanishes during the pass is left out.
pub(crate) fn scan() -> Vec<Entry> {
    let mut out = Vec::new();
    for process in all_processes() {
        let pid = pid_u32(process.pid());
        let Ok(stat) = read_stat(pid, &process) else {
            continue;
        };
        // Kernel threads have no memory of their own; a zombie has stopped running.
        if is_kernel_thread(&stat) || is_dead(&stat) {
            continue;
        }
        let Ok(cmdline) = read_cmdline(pid, &process) else {
            continue;
        };
        out.push(Entry {
            pid,
            ppid: pid_u32(stat.ppid),
            stat,
            cmdline,
            title: None,
        });
    }
    out
}

/// Reads the memory maps of `entries` and sums them. A process whose map cannot be
/// read keeps its row with `?` (and makes the total a lower bound): one that exited
/// since the scan, or one we may not read, which the returned flag reports (running
/// as root would help).
pub(crate) fn build_section(title: &str, show_ppid: bool, entries: &[&Entry]) -> (Section, bool) {
    let mut rows = Vec::with_capacity(entries.len());
    let mut total_private_dirty_kb = 0u64;
    let mut total_pss_kb = 0u64;
    let mut incomplete = false;
    let mut denied = false;
    for entry in entries {
        let smaps = open(entry.pid).and_then(|p| read_smaps(entry.pid, &p, &entry.stat));
        let smaps: Option<SmapsTotals> = match smaps {
            Ok(smaps) => smaps,
            Err(MetricsError::Gone { .. }) => None,
            Err(err) => {
                tracing::debug!(pid = entry.pid, error = %err, "memory map unreadable");
                denied = true;
                None
            }
        };
        match smaps {
            Some(s) => {
                total_private_dirty_kb += s.private_dirty_kb;
                total_pss_kb += s.pss_kb;
            }
            None => incomplete = true,
        }
        rows.push(ProcessRow {
            pid: entry.pid,
            ppid: entry.ppid,
            vmsize_kb: entry.stat.vsize / 1024,
            rss_kb: rss_kb(&entry.stat),
            private_dirty_kb: smaps.map(|s| s.private_dirty_kb),
            pss_kb: smaps.map(|s| s.pss_kb),
            name: match entry.title {
                Some(title) => title.to_string(),
                None => display_name(&entry.stat.comm, &entry.cmdline),
            },
        });
    }
    rows.sort_by_key(|r| r.pid);
    let section = Section {
        title: title.to_string(),
        show_ppid,
        rows,
        total_private_dirty_kb,
        total_pss_kb,
        incomplete,
    };
    (section, denied)
}

fn is_apache(comm: &str) -> bool {
    matches!(
        comm,
        "apache2" | "httpd" | "apache2.worker" | "httpd.worker" | "httpd2" | "httpd2-prefork"
    )
}

/// The original's title regex, `(^| )Passenger|(^| )Rails:|(^| )Rack:|wsgi-loader.py|PassengerAgent|rack-loader.rb`,
/// plus our own binary: a process whose `argv[0]` is `passenger`.
pub(crate) fn is_passenger_title(cmdline: &[String]) -> bool {
    let Some(argv0) = cmdline.first() else {
        return false;
    };
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if base == "passenger" {
        return true;
    }
    let command = cmdline.join(" ");
    let word_start =
        |needle: &str| command.starts_with(needle) || command.contains(&format!(" {needle}"));
    word_start("Passenger")
        || word_start("Rails:")
        || word_start("Rack:")
        || command.contains("wsgi-loader.py")
        || command.contains("PassengerAgent")
        || command.contains("rack-loader.rb")
}

/// The shown name: the command line with Ruby's decorations removed, bounded in length.
pub(crate) fn display_name(comm: &str, cmdline: &[String]) -> String {
    if cmdline.is_empty() {
        return format!("[{comm}]");
    }
    // Control characters (a script passed with `-c`) would break the one-line rows.
    let joined: String = cmdline
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut name = joined.trim();
    // Ruby's setproctitle on some platforms yields `ruby: <title>` / `<title> (ruby)`.
    name = name.strip_prefix("ruby: ").unwrap_or(name);
    name = name.strip_suffix(" (ruby)").unwrap_or(name);
    match name.char_indices().nth(MAX_NAME_CHARS) {
        Some((cut, _)) => format!("{}...", &name[..cut]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn passenger_titles() {
        assert!(is_passenger_title(&args(&["Passenger core"])));
        assert!(is_passenger_title(&args(&[
            "Passenger RubyApp: /webapps/rackapp (production)"
        ])));
        assert!(is_passenger_title(&args(&[
            "python3",
            "/usr/share/passenger/helper-scripts/wsgi-loader.py"
        ])));
        assert!(is_passenger_title(&args(&[
            "/usr/lib/passenger/support-binaries/PassengerAgent",
            "temp-dir-toucher"
        ])));
        assert!(is_passenger_title(&args(&[
            "/usr/local/bin/passenger",
            "start",
            "/srv/app"
        ])));
        assert!(!is_passenger_title(&args(&["vim", "passenger.rs"])));
        assert!(!is_passenger_title(&args(&["NotPassenger"])));
        assert!(!is_passenger_title(&[]));
    }

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(display_name("kworker", &[]), "[kworker]");
        assert_eq!(
            display_name("ruby", &args(&["ruby: Passenger RubyApp: /a (ruby)"])),
            "Passenger RubyApp: /a"
        );
        let long = "x".repeat(MAX_NAME_CHARS + 50);
        let shown = display_name("x", &[long]);
        assert_eq!(shown.chars().count(), MAX_NAME_CHARS + 3);
        assert!(shown.ends_with("..."));
    }

    /// A process seen by the scan that exits before its memory map is read keeps its
    /// row, with `?` for what could not be read; the table is still made.
    #[test]
    fn process_gone_mid_read_is_a_question_mark() {
        struct KillOnDrop(std::process::Child);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut child = KillOnDrop(
            Command::new("sleep")
                .arg("30")
                .stdin(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("invariant: sleep exists on the test machine"),
        );
        let pid = child.0.id();
        let process = open(pid).expect("invariant: child just started");
        let entry = Entry {
            pid,
            ppid: std::process::id(),
            stat: read_stat(pid, &process).expect("invariant: child just started"),
            cmdline: read_cmdline(pid, &process).expect("invariant: child just started"),
            title: None,
        };
        drop(process);
        let _ = child.0.kill();
        let _ = child.0.wait();
        let (section, denied) = build_section("Passenger processes", false, &[&entry]);
        assert_eq!(section.rows.len(), 1);
        let row = &section.rows[0];
        assert_eq!(
            (row.pid, row.private_dirty_kb, row.pss_kb),
            (pid, None, None)
        );
        assert!(row.vmsize_kb > 0, "what the scan read is still shown");
        assert!(section.incomplete, "the total is a lower bound");
        assert!(!denied, "running as root would not have helped");
    }
}
