//! Shared text of the admin tools: the product name, the instance table, the
//! "not running" / "several instances" messages, the status header and colors.
//!
//! Owns wording and layout only (following Passenger's admin tools line by line,
//! with our product name); it never talks to an instance.

use std::io::Write;

use passenger_core::instance::InstanceInfo;

/// Our product's name where the original says "Phusion Passenger(R)".
pub const PRODUCT: &str = "passenger-rs";

/// `passenger-rs 0.1.0`: what `--version` and `about version` print.
pub fn version_line() -> String {
    format!("{PRODUCT} {}", passenger_core::VERSION)
}

/// The `list-instances` table: a header, a 74-dash rule, one row per instance
/// (name, watchdog PID, server software).
pub fn instance_table(instances: &[InstanceInfo]) -> String {
    let mut out = format!("{:<25}  {:<7}  {}\n", "Name", "PID", "Description");
    out.push_str(&"-".repeat(74));
    out.push('\n');
    for i in instances {
        out.push_str(&format!(
            "{:<25}  {:<7}  {}\n",
            i.name, i.watchdog_pid, i.server_software
        ));
    }
    out
}

/// A header line then one line per row, as plain left-aligned columns two spaces
/// apart with trailing blanks removed (the original's memory-stats layout).
pub fn plain_columns(header: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    use comfy_table::{presets, CellAlignment, ContentArrangement, Table};
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    let columns = table.column_count();
    for (index, column) in table.column_iter_mut().enumerate() {
        let right_gap = if index + 1 == columns { 0 } else { 2 };
        column.set_padding((0, right_gap));
        column.set_cell_alignment(CellAlignment::Left);
    }
    table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect()
}

/// Which tool prints a message: the two families word their errors differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `passenger-status`: `ERROR: ...` on one line, `passenger-status <NAME>` to choose.
    Status,
    /// `passenger-config ...`: `*** ERROR: ...` wrapped at 80 columns, `--instance <NAME>`.
    Config,
}

/// The message when no instance is running. `warning` (restart-app with
/// `--ignore-passenger-not-running`) says WARNING instead of ERROR; `bin` is the
/// command as typed, for "run ... again".
pub fn not_running(tool: Tool, bin: &str, warning: bool) -> String {
    match tool {
        Tool::Status => format!(
            "ERROR: {PRODUCT} doesn't seem to be running. If you are sure that it is running, \
             then the causes of this problem could be:\n\n\
             1. You customized the instance registry directory using `passenger start`'s \
             --instance-registry-dir option. If so, please set the environment variable \
             PASSENGER_INSTANCE_REGISTRY_DIR to that directory and run {bin} again.\n\
             2. The instance directory has been removed by an operating system background \
             service. Please set a different instance registry directory using \
             `passenger start`'s --instance-registry-dir option.\n"
        ),
        Tool::Config => format!(
            "*** {}: {PRODUCT} doesn't seem to be running. If you are sure that it\n\
             is running, then the causes of this problem could be one of:\n\n \
             1. You customized the instance registry directory using\n    \
             `passenger start`'s --instance-registry-dir option. If so, please\n    \
             set the environment variable PASSENGER_INSTANCE_REGISTRY_DIR to that\n    \
             directory and run this command again.\n \
             2. The instance directory has been removed by an operating system background\n    \
             service. Please set a different instance registry directory using\n    \
             `passenger start`'s --instance-registry-dir option.\n",
            if warning { "WARNING" } else { "ERROR" }
        ),
    }
}

/// The message when several instances match and none was chosen; `bin` is the
/// command as the user typed it (`passenger-status` or `passenger status`).
pub fn several_instances(tool: Tool, bin: &str, instances: &[InstanceInfo]) -> String {
    let how = match tool {
        Tool::Status => format!(
            "It appears that multiple {PRODUCT} instances are running. Please\n\
             select a specific one by running:\n\n  {bin} <NAME>\n"
        ),
        Tool::Config => format!(
            "It appears that multiple {PRODUCT} instances are running. Please select\n\
             a specific one by passing:\n\n  --instance <NAME>\n"
        ),
    };
    format!(
        "{how}\nThe following {PRODUCT} instances are running:\n\n{}",
        instance_table(instances)
    )
}

/// The message for an instance name (prefix) or PID that matches nothing.
pub fn unknown_instance(tool: Tool, name: &str, running: &[InstanceInfo]) -> String {
    let prefix = match tool {
        Tool::Status => "ERROR",
        Tool::Config => "*** ERROR",
    };
    let mut out = format!(
        "{prefix}: there doesn't seem to be a {PRODUCT} instance running with the name '{name}'.\n"
    );
    if !running.is_empty() {
        out.push_str(&format!(
            "\nThe following {PRODUCT} instances are running:\n\n{}",
            instance_table(running)
        ));
    }
    out
}

/// The status header: version, local date, instance name and server software,
/// then a blank line.
pub fn status_header(instance: &InstanceInfo) -> String {
    format!(
        "Version : {}\nDate    : {}\nInstance: {} ({})\n\n",
        passenger_core::VERSION,
        now_local(),
        instance.name,
        instance.server_software
    )
}

/// The local time as Ruby's `Time#to_s` prints it: `2026-11-21 12:00:50 +0000`.
pub fn now_local() -> String {
    // SAFETY: time(NULL) only reads the clock; localtime_r writes into our own `tm`;
    // strftime writes at most `buf.len()` bytes into our buffer and returns the length.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::from("?");
        }
        let mut buf = [0u8; 64];
        let len = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%Y-%m-%d %H:%M:%S %z".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// `text` with a trailing newline, as Ruby's `puts` would print it.
pub fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// Bold green check mark, red cross, yellow warning sign, or plain when `color` is off.
pub fn mark(kind: Mark, color: bool) -> String {
    let (sym, code) = match kind {
        Mark::Ok => ("✓", "\x1b[1m\x1b[32m"),
        Mark::Error => ("✗", "\x1b[1m\x1b[31m"),
        Mark::Warning => ("(!)", "\x1b[1m\x1b[33m"),
    };
    if color {
        format!("{code}{sym}\x1b[0m")
    } else {
        sym.to_string()
    }
}

/// Outcome of one `validate-install` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Passed.
    Ok,
    /// Failed.
    Error,
    /// Passed with a warning.
    Warning,
}
