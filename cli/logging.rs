//! Installs the `tracing` subscriber: Passenger's log line layout, to stderr or a
//! log file that can be reopened (for logrotate).
//!
//! A line looks like the original's, so operators' greps keep working:
//! `[ N 2026-11-21 12:00:35.0302 12698/T1 pool/actor ]: message`.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use passenger_core::server::HostCallbacks;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Maps Passenger's log levels (0 crit … 7 debug3) to a tracing filter directive.
pub fn level_directive(level: u8) -> &'static str {
    match level {
        0 | 1 => "error",
        2 => "warn",
        3 | 4 => "info",
        5 => "debug",
        _ => "trace",
    }
}

/// Where log lines go; the file variant can be reopened after logrotate moved it.
#[derive(Clone)]
pub struct LogSink {
    file: Option<(PathBuf, Arc<Mutex<File>>)>,
}

impl LogSink {
    /// Lines to stderr.
    pub fn stderr() -> LogSink {
        LogSink { file: None }
    }

    /// Lines appended to `path`.
    pub fn file(path: &Path) -> io::Result<LogSink> {
        let file = open_append(path)?;
        Ok(LogSink {
            file: Some((path.to_path_buf(), Arc::new(Mutex::new(file)))),
        })
    }

    /// Reopens the log file by name (a no-op for stderr).
    pub fn reopen(&self) -> io::Result<()> {
        if let Some((path, file)) = &self.file {
            let fresh = open_append(path)?;
            *file.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One log line being written; flushed whole so lines of threads do not interleave.
pub struct LineWriter {
    sink: LogSink,
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let _ = match &self.sink.file {
            Some((_, file)) => file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write_all(&self.buf),
            None => io::stderr().lock().write_all(&self.buf),
        };
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            sink: self.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
/// Returns the callbacks the server uses to reopen the log file and change the level.
pub fn install(level: u8, sink: LogSink) -> HostCallbacks {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(level_directive(level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink.clone())
        .with_ansi(false)
        .event_format(PassengerFormat)
        .with_filter_reloading();
    let reload = builder.reload_handle();
    let _ = builder.try_init();
    HostCallbacks {
        reopen_logs: Arc::new(move || sink.reopen().map_err(|e| e.to_string())),
        set_log_level: Arc::new(move |level: u8| {
            reload
                .reload(EnvFilter::new(level_directive(level)))
                .map_err(|e| e.to_string())
        }),
    }
}

/// One log line in Passenger's layout, for writers that do not go through `tracing`
/// (the watchdog).
pub fn format_line(letter: &str, target: &str, msg: &str) -> String {
    format!(
        "[ {letter} {} {}/T{} {target} ]: {msg}\n",
        local_timestamp(),
        std::process::id(),
        thread_no()
    )
}

struct PassengerFormat;

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
thread_local! {
    static THREAD_NO: Cell<u64> = const { Cell::new(0) };
}

fn thread_no() -> u64 {
    THREAD_NO.with(|n| {
        if n.get() == 0 {
            n.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

fn level_letter(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "E",
        Level::WARN => "W",
        Level::INFO => "N",
        Level::DEBUG => "D",
        Level::TRACE => "D2",
    }
}

/// `passenger_core::pool::actor` → `pool/actor`.
fn short_target(target: &str) -> String {
    let trimmed = target
        .strip_prefix("passenger_core::")
        .or_else(|| target.strip_prefix("passenger::"))
        .unwrap_or(target);
    trimmed.replace("::", "/")
}

fn local_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own; both pointers are valid.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:04}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_micros() / 100
    )
}

impl<S, N> FormatEvent<S, N> for PassengerFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut head = String::with_capacity(64);
        write!(
            head,
            "[ {} {} {}/T{} {} ]: ",
            level_letter(meta.level()),
            local_timestamp(),
            std::process::id(),
            thread_no(),
            short_target(meta.target())
        )?;
        writer.write_str(&head)?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_shortened_like_passenger_source_paths() {
        assert_eq!(short_target("passenger_core::pool::actor"), "pool/actor");
        assert_eq!(short_target("app_output"), "app_output");
    }

    #[test]
    fn passenger_levels_map_to_filters() {
        assert_eq!(level_directive(3), "info");
        assert_eq!(level_directive(1), "error");
        assert_eq!(level_directive(7), "trace");
    }
}
