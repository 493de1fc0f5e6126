//! Reading one process's metrics, or the process table, from `/proc`.
//!
//! Owns: which `/proc` files are read, and mapping their errors onto
//! [`MetricsError::Gone`] (the process exited while we looked) and
//! [`MetricsError::Unreadable`] (not ours to read). Does not own: the text formats
//! (see [`super::parse`]) or grouping processes into report sections.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::parse::{parse_cmdline, parse_smaps, parse_stat, SmapsTotals, StatInfo};
use super::MetricsError;

/// Metrics of one process, as read from `/proc/PID/{stat,cmdline,smaps_rollup}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessMetrics {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Owner (effective uid of the `/proc/PID` directory); `None` if it vanished meanwhile.
    pub uid: Option<u32>,
    /// Kernel command name (`comm`, at most 15 bytes).
    pub name: String,
    /// Command line arguments; empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
    /// Number of threads.
    pub threads: u64,
    /// Virtual memory size in KiB.
    pub vmsize_kb: u64,
    /// Resident set size in KiB.
    pub rss_kb: u64,
    /// Sum of `Private_Dirty` in KiB; `None` when smaps could not be read (permission).
    pub private_dirty_kb: Option<u64>,
    /// Proportional set size in KiB; `None` when smaps could not be read.
    pub pss_kb: Option<u64>,
    /// Swapped-out memory in KiB; `None` when smaps could not be read.
    pub swap_kb: Option<u64>,
    /// User + system CPU time, in clock ticks (see [`clock_ticks_per_second`]).
    pub cpu_ticks: u64,
    /// Start time in clock ticks after boot; with the pid, identifies a process across pid reuse.
    pub start_time_ticks: u64,
}

impl ProcessMetrics {
    /// The command line joined by spaces, or `[comm]` (as `ps` shows it) when empty.
    pub fn command(&self) -> String {
        if self.cmdline.is_empty() {
            format!("[{}]", self.name)
        } else {
            self.cmdline.join(" ")
        }
    }
}

/// Reads the metrics of `pid`.
///
/// `Err(Gone)` when the process does not exist or exits while being read;
/// `Err(Unreadable)` when even `/proc/PID/stat` is denied. When only the memory map
/// is denied (another user's process, without root), this returns `Ok` with
/// `private_dirty_kb`, `pss_kb` and `swap_kb` left `None`.
pub fn process_metrics(pid: u32) -> Result<ProcessMetrics, MetricsError> {
    let stat = read_stat(pid)?;
    let uid = std::fs::metadata(proc_path(pid, "")).ok().map(|m| m.uid());
    let cmdline = if stat.is_kernel_thread() {
        Vec::new()
    } else {
        read_cmdline(pid)?
    };
    let smaps = read_smaps(pid, &stat)?;
    Ok(assemble(stat, uid, cmdline, smaps))
}

pub(crate) fn assemble(
    stat: StatInfo,
    uid: Option<u32>,
    cmdline: Vec<String>,
    smaps: Option<SmapsTotals>,
) -> ProcessMetrics {
    ProcessMetrics {
        pid: stat.pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        uid,
        name: stat.comm,
        cmdline,
        threads: stat.num_threads,
        vmsize_kb: stat.vsize_bytes / 1024,
        rss_kb: stat.rss_pages.saturating_mul(page_size_kb()),
        private_dirty_kb: smaps.map(|s| s.private_dirty_kb),
        pss_kb: smaps.map(|s| s.pss_kb),
        swap_kb: smaps.map(|s| s.swap_kb),
        cpu_ticks: stat.utime.saturating_add(stat.stime),
        start_time_ticks: stat.start_time,
    }
}

/// All process ids currently on the machine (thread-group leaders only), ascending.
///
/// Never fails: an unreadable `/proc` yields an empty list (and a `tracing` warning).
pub fn list_processes() -> Vec<u32> {
    let entries = match std::fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list /proc");
            return Vec::new();
        }
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    pids
}

/// Every descendant of `root` (children, grandchildren, ...), ascending; not `root` itself.
///
/// Built from one pass over `/proc/*/stat`; processes that exit during the pass are
/// simply absent.
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = list_processes()
        .into_iter()
        .filter_map(|pid| read_stat(pid).ok().map(|s| (pid, s.ppid)))
        .collect();
    descendants(&parents, root)
}

/// Descendants of `root` in a `(pid, ppid)` table, ascending.
pub(crate) fn descendants(parents: &[(u32, u32)], root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(pid, ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(parent) = stack.pop() {
        if let Some(kids) = children.get(&parent) {
            for &kid in kids {
                // A pid can't be its own ancestor, but guard against a torn read
                // (pid reused mid-scan) producing a cycle.
                if kid != root && !out.contains(&kid) {
                    out.push(kid);
                    stack.push(kid);
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of CPU and start times.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

pub(crate) fn page_size_kb() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size >= 1024 {
        size as u64 / 1024
    } else {
        4
    }
}

/// Computes CPU usage (percent of one core) of processes between two samples.
///
/// Keyed by pid and start time, so a reused pid starts over instead of reporting a
/// nonsense delta.
#[derive(Debug, Default)]
pub struct CpuSampler {
    last: HashMap<u32, CpuSample>,
    ticks_per_second: u64,
}

#[derive(Debug, Clone, Copy)]
struct CpuSample {
    cpu_ticks: u64,
    start_time_ticks: u64,
    at: Instant,
}

impl CpuSampler {
    /// A sampler with no history, using this machine's clock tick rate.
    pub fn new() -> Self {
        Self::with_ticks_per_second(clock_ticks_per_second())
    }

    /// A sampler with an explicit tick rate (for tests).
    pub fn with_ticks_per_second(ticks_per_second: u64) -> Self {
        Self {
            last: HashMap::new(),
            ticks_per_second: ticks_per_second.max(1),
        }
    }

    /// Records `metrics` taken now; returns CPU % since the previous sample of the same process.
    pub fn sample(&mut self, metrics: &ProcessMetrics) -> Option<f64> {
        self.sample_at(
            metrics.pid,
            metrics.cpu_ticks,
            metrics.start_time_ticks,
            Instant::now(),
        )
    }

    /// Records a sample taken at `at`; returns CPU % (100 = one full core) since the
    /// previous sample of the same process, or `None` for a first sample, a reused pid,
    /// or no time elapsed.
    pub fn sample_at(
        &mut self,
        pid: u32,
        cpu_ticks: u64,
        start_time_ticks: u64,
        at: Instant,
    ) -> Option<f64> {
        let current = CpuSample {
            cpu_ticks,
            start_time_ticks,
            at,
        };
        let previous = self.last.insert(pid, current)?;
        if previous.start_time_ticks != start_time_ticks {
            return None;
        }
        let elapsed = at.checked_duration_since(previous.at)?.as_secs_f64();
        if elapsed <= 0.0 {
            return None;
        }
        let ticks = cpu_ticks.saturating_sub(previous.cpu_ticks) as f64;
        Some(ticks / self.ticks_per_second as f64 / elapsed * 100.0)
    }

    /// Drops history for processes not in `alive`, so the map does not grow forever.
    pub fn retain(&mut self, alive: &[u32]) {
        self.last.retain(|pid, _| alive.contains(pid));
    }
}

pub(crate) fn proc_path(pid: u32, file: &str) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/{pid}"));
    if !file.is_empty() {
        path.push(file);
    }
    path
}

/// How a failed `/proc` read is classified.
pub(crate) fn classify_io(pid: u32, what: &'static str, err: io::Error) -> MetricsError {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => MetricsError::Gone { pid },
        Some(libc::EACCES) | Some(libc::EPERM) => MetricsError::Unreadable {
            pid,
            what,
            source: err,
        },
        _ => MetricsError::Read {
            pid,
            what,
            source: err,
        },
    }
}

fn read_small(pid: u32, file: &'static str, buf: &mut Vec<u8>) -> Result<(), MetricsError> {
    buf.clear();
    let mut f = std::fs::File::open(proc_path(pid, file)).map_err(|e| classify_io(pid, file, e))?;
    f.read_to_end(buf).map_err(|e| classify_io(pid, file, e))?;
    Ok(())
}

pub(crate) fn read_stat(pid: u32) -> Result<StatInfo, MetricsError> {
    let mut buf = Vec::with_capacity(512);
    read_small(pid, "stat", &mut buf)?;
    if buf.is_empty() {
        return Err(MetricsError::Gone { pid });
    }
    parse_stat(&String::from_utf8_lossy(&buf))
}

pub(crate) fn read_cmdline(pid: u32) -> Result<Vec<String>, MetricsError> {
    let mut buf = Vec::with_capacity(256);
    match read_small(pid, "cmdline", &mut buf) {
        Ok(()) => Ok(parse_cmdline(&buf)),
        // hidepid or similar: the row can still be shown by its comm.
        Err(MetricsError::Unreadable { .. }) => Ok(Vec::new()),
        Err(other) => Err(other),
    }
}

/// Reads the memory map totals: `Ok(None)` when permission is denied, `Err(Gone)`
/// when the process exited.
pub(crate) fn read_smaps(pid: u32, stat: &StatInfo) -> Result<Option<SmapsTotals>, MetricsError> {
    if stat.is_kernel_thread() {
        return Ok(Some(SmapsTotals::default()));
    }
    let mut buf = Vec::with_capacity(1024);
    let rollup = read_small(pid, "smaps_rollup", &mut buf);
    let rollup = match rollup {
        Err(MetricsError::Gone { .. }) => {
            // Either the process exited, or the kernel predates smaps_rollup (< 4.14).
            // The full smaps answers both: it is missing too only if the process is gone.
            read_small(pid, "smaps", &mut buf)
        }
        other => other,
    };
    match rollup {
        Ok(()) => {}
        Err(MetricsError::Unreadable { .. }) => return Ok(None),
        Err(other) => return Err(other),
    }
    let totals = parse_smaps(&String::from_utf8_lossy(&buf));
    if totals.entries == 0 {
        // An empty map is what a process that exited (zombie, or reaped mid-read)
        // shows; a live user process always maps something.
        match read_stat(pid) {
            Ok(now) if !now.is_dead() && now.start_time == stat.start_time => {}
            Ok(_) | Err(_) => return Err(MetricsError::Gone { pid }),
        }
    }
    Ok(Some(totals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cpu_sampler_percent_and_pid_reuse() {
        let mut s = CpuSampler::with_ticks_per_second(100);
        let t0 = Instant::now();
        assert_eq!(s.sample_at(7, 1000, 5, t0), None);
        let pct = s
            .sample_at(7, 1050, 5, t0 + Duration::from_secs(1))
            .expect("invariant: second sample of same process");
        assert!((pct - 50.0).abs() < 1e-9, "{pct}");
        // Same pid, different start time: a new process.
        assert_eq!(s.sample_at(7, 10, 99, t0 + Duration::from_secs(2)), None);
        s.retain(&[]);
        assert_eq!(s.sample_at(7, 20, 99, t0 + Duration::from_secs(3)), None);
    }

    #[test]
    fn descendants_follow_grandchildren_and_ignore_others() {
        let table = [(10, 1), (11, 10), (12, 11), (13, 1), (14, 13), (15, 12)];
        assert_eq!(descendants(&table, 10), [11, 12, 15]);
        assert_eq!(descendants(&table, 99), Vec::<u32>::new());
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        let m = process_metrics(me).expect("invariant: we can read ourselves");
        assert_eq!(m.pid, me);
        assert!(m.vmsize_kb > 0 && m.rss_kb > 0);
        assert!(m.private_dirty_kb.is_some_and(|kb| kb > 0));
        assert!(!m.cmdline.is_empty());
        assert!(list_processes().contains(&me));
    }

    #[test]
    fn nonexistent_pid_is_gone() {
        // pid_max is at most 2^22, so this pid cannot exist.
        assert!(matches!(
            process_metrics(4_194_304 + 17),
            Err(MetricsError::Gone { .. })
        ));
    }
}
