//! `passenger memory-stats`: the memory report of Apache, Nginx and Passenger
//! processes, laid out like `passenger-memory-stats` of Phusion Passenger.
//!
//! Owns: arguments, the text layout (title bars, plain columns, footers), colors on
//! a TTY, and `--json`. Does not own: collecting the numbers
//! ([`passenger_core::metrics::memory_stats`]) or finding instances (the caller
//! passes [`InstanceRoots`]).

use std::io::{IsTerminal, Write};

use passenger_core::metrics::{
    memory_stats, InstanceRoots, MemoryStats, MemoryStatsOptions, ProcessRow, Section,
};
use serde::Serialize;

/// Show the memory usage of Apache, Nginx and Passenger processes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MemoryStatsArgs {
    /// Do not display the Apache statistics.
    #[arg(long)]
    pub no_apache: bool,
    /// Do not display the Nginx statistics.
    #[arg(long)]
    pub no_nginx: bool,
    /// Print every row and total as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Collects the report for the instances in `roots` and prints it; returns the exit code.
pub fn run(args: &MemoryStatsArgs, roots: InstanceRoots) -> anyhow::Result<i32> {
    let stats = memory_stats(&MemoryStatsOptions {
        apache: !args.no_apache,
        nginx: !args.no_nginx,
        roots,
    });
    let stdout = std::io::stdout();
    let text = if args.json {
        let report = JsonReport {
            version: passenger_core::VERSION,
            date: crate::output::now_local(),
            stats: &stats,
        };
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        text
    } else {
        render(&stats, &crate::output::now_local(), stdout.is_terminal())
    };
    let mut out = stdout.lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        // `passenger memory-stats | head` is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(err) => Err(err.into()),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: &'a str,
    date: String,
    #[serde(flatten)]
    stats: &'a MemoryStats,
}

/// ANSI sequences, or empty strings when not writing to a terminal.
struct Colors {
    title: &'static str,
    header: &'static str,
    bold: &'static str,
    reset: &'static str,
}

impl Colors {
    fn new(enabled: bool) -> Self {
        if enabled {
            Colors {
                // Blue background, bold, yellow: the original's title bar.
                title: "\x1b[44m\x1b[1m\x1b[33m",
                header: "\x1b[37m",
                bold: "\x1b[1m",
                reset: "\x1b[0m",
            }
        } else {
            Colors {
                title: "",
                header: "",
                bold: "",
                reset: "",
            }
        }
    }
}

/// Renders the whole text report; `date` is shown as is, `color` adds ANSI styling.
pub fn render(stats: &MemoryStats, date: &str, color: bool) -> String {
    let colors = Colors::new(color);
    let mut out = format!("Version: {}\nDate   : {date}\n", passenger_core::VERSION);
    // Blank-line rhythm of the original: one blank line before the first bar, two
    // between sections, two before Passenger even when the others are hidden.
    if let Some(apache) = &stats.apache {
        render_section(&mut out, apache, &colors);
    }
    if let Some(nginx) = &stats.nginx {
        out.push('\n');
        render_section(&mut out, nginx, &colors);
    }
    out.push('\n');
    render_section(&mut out, &stats.passenger, &colors);
    if stats.root_would_help {
        out.push_str(&format!(
            "*** WARNING: Please run this tool with {}sudo{}. Otherwise the private dirty RSS \
             (a reliable metric for real memory usage) of processes cannot be determined.\n",
            colors.bold, colors.reset
        ));
    }
    out
}

fn render_section(out: &mut String, section: &Section, colors: &Colors) {
    // An empty section shows no header, so its bar is as wide as the original's
    // (which has no PSS column): a script comparing the two sees the same lines.
    let lines = table_lines(section, !section.rows.is_empty());
    let header = lines.first().map(String::as_str).unwrap_or("");
    // The original measures the header including its newline.
    let width = header.chars().count() + 1;
    let title_len = section.title.chars().count();
    let (left, right) = match width.checked_sub(title_len + 2) {
        Some(free) if free > 0 => (free / 2, free - free / 2),
        _ => (3, 3),
    };
    out.push_str(colors.title);
    out.push('\n');
    out.push_str(&format!(
        "{} {} {}\n",
        "-".repeat(left),
        section.title,
        "-".repeat(right)
    ));
    if section.rows.is_empty() {
        out.push_str(colors.reset);
        if !colors.reset.is_empty() {
            out.push('\n');
        }
    } else {
        out.push_str(&format!(
            "{}{header}\n{}{}\n",
            colors.header,
            "-".repeat(width),
            colors.reset
        ));
        for line in &lines[1..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!("### Processes: {}\n", section.rows.len()));
    out.push_str(&format!(
        "### Total private dirty RSS: {:.2} MB{}\n",
        section.total_private_dirty_kb as f64 / 1024.0,
        if section.incomplete { " (?)" } else { "" }
    ));
}

/// The header line then one line per row, as plain left-aligned columns two spaces
/// apart with trailing blanks removed; `pss` adds our PSS column.
fn table_lines(section: &Section, pss: bool) -> Vec<String> {
    let mut header = vec!["PID"];
    if section.show_ppid {
        header.push("PPID");
    }
    header.extend(["VMSize", "Private"]);
    if pss {
        header.push("PSS");
    }
    header.push("Name");

    let rows = section
        .rows
        .iter()
        .map(|row| row_cells(row, section.show_ppid))
        .collect();
    crate::output::plain_columns(&header, rows)
}

fn row_cells(row: &ProcessRow, show_ppid: bool) -> Vec<String> {
    let mut cells = vec![row.pid.to_string()];
    if show_ppid {
        cells.push(row.ppid.to_string());
    }
    cells.push(mb(Some(row.vmsize_kb)));
    cells.push(mb(row.private_dirty_kb));
    cells.push(mb(row.pss_kb));
    cells.push(row.name.clone());
    cells
}

fn mb(kb: Option<u64>) -> String {
    match kb {
        Some(kb) => format!("{:.1} MB", kb as f64 / 1024.0),
        None => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, ppid: u32, vm: u64, private: Option<u64>, name: &str) -> ProcessRow {
        ProcessRow {
            pid,
            ppid,
            vmsize_kb: vm,
            rss_kb: 0,
            private_dirty_kb: private,
            pss_kb: private,
            name: name.to_string(),
        }
    }

    fn section(title: &str, show_ppid: bool, rows: Vec<ProcessRow>) -> Section {
        let total = rows.iter().filter_map(|r| r.private_dirty_kb).sum();
        let incomplete = rows.iter().any(|r| r.private_dirty_kb.is_none());
        Section {
            title: title.to_string(),
            show_ppid,
            total_private_dirty_kb: total,
            total_pss_kb: total,
            incomplete,
            rows,
        }
    }

    #[test]
    fn layout_matches_the_original() {
        let stats = MemoryStats {
            apache: Some(section(
                "Apache processes",
                true,
                vec![row(29154, 1, 77_005, Some(717), "apache2 -k start")],
            )),
            nginx: Some(section("Nginx processes", true, vec![])),
            passenger: section(
                "Passenger processes",
                false,
                vec![
                    row(12696, 1, 298_906, Some(2150), "Passenger watchdog"),
                    row(12698, 12696, 1_064_346, None, "Passenger core"),
                ],
            ),
            root_would_help: false,
        };
        let text = render(&stats, "2026-11-21 12:01:29 +0000", false);
        let expected = format!(
            "Version: {}
Date   : 2026-11-21 12:01:29 +0000

------------- Apache processes -------------
PID    PPID  VMSize   Private  PSS     Name
--------------------------------------------
29154  1     75.2 MB  0.7 MB   0.7 MB  apache2 -k start
### Processes: 1
### Total private dirty RSS: 0.70 MB


-------- Nginx processes --------
### Processes: 0
### Total private dirty RSS: 0.00 MB


--------- Passenger processes ----------
PID    VMSize     Private  PSS     Name
----------------------------------------
12696  291.9 MB   2.1 MB   2.1 MB  Passenger watchdog
12698  1039.4 MB  ?        ?       Passenger core
### Processes: 2
### Total private dirty RSS: 2.10 MB (?)
",
            passenger_core::VERSION
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn hidden_sections_and_tty_colors() {
        let stats = MemoryStats {
            apache: None,
            nginx: None,
            passenger: section("Passenger processes", false, vec![]),
            root_would_help: true,
        };
        let text = render(&stats, "D", false);
        assert!(text.starts_with("Version: "));
        assert!(text.contains("Date   : D\n\n\n--"), "{text:?}");
        assert!(text.contains("*** WARNING: Please run this tool with sudo."));
        let tty = render(&stats, "D", true);
        assert!(tty.contains("\x1b[44m\x1b[1m\x1b[33m\n-"), "{tty:?}");
        assert!(
            tty.contains("\n--- Passenger processes ---\n\x1b[0m\n### Processes: 0\n"),
            "{tty:?}"
        );
    }

    /// Empty sections, with and without a terminal, byte for byte as the original
    /// draws them (passenger-6-observed.md, 3.10).
    #[test]
    fn empty_sections_match_the_original() {
        let stats = MemoryStats {
            apache: Some(section("Apache processes", true, vec![])),
            nginx: Some(section("Nginx processes", true, vec![])),
            passenger: section("Passenger processes", false, vec![]),
            root_would_help: false,
        };
        let version = passenger_core::VERSION;
        let text = render(&stats, "D", false);
        assert_eq!(
            text,
            format!(
                "Version: {version}\nDate   : D\n\n\
                 ------- Apache processes --------\n### Processes: 0\n\
                 ### Total private dirty RSS: 0.00 MB\n\n\n\
                 -------- Nginx processes --------\n### Processes: 0\n\
                 ### Total private dirty RSS: 0.00 MB\n\n\n\
                 --- Passenger processes ---\n### Processes: 0\n\
                 ### Total private dirty RSS: 0.00 MB\n"
            )
        );
        let bar = "\x1b[44m\x1b[1m\x1b[33m\n";
        let tty = render(&stats, "D", true);
        assert_eq!(
            tty,
            format!(
                "Version: {version}\nDate   : D\n\
                 {bar}------- Apache processes --------\n\x1b[0m\n### Processes: 0\n\
                 ### Total private dirty RSS: 0.00 MB\n\n\
                 {bar}-------- Nginx processes --------\n\x1b[0m\n### Processes: 0\n\
                 ### Total private dirty RSS: 0.00 MB\n\n\
                 {bar}--- Passenger processes ---\n\x1b[0m\n### Processes: 0\n\
                 ### Total private dirty RSS: 0.00 MB\n"
            )
        );
    }
}
