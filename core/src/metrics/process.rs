//! Reading one process's metrics, or the process table, from `/proc` through the
//! `procfs` crate.
//!
//! Owns: which `/proc` files are read, and mapping `procfs` errors onto
//! [`MetricsError::Gone`] (the process exited while we looked) and
//! [`MetricsError::Unreadable`] (not ours to read). The text formats themselves are
//! `procfs`'s business.

use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

use procfs::process::{Process, Stat};
use procfs::ProcError;
use serde::Serialize;

use super::MetricsError;

/// Metrics of one process, as read from `/proc/PID/{stat,status,cmdline,smaps_rollup}`.
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
    /// Effective gid (`/proc/PID/status`); `None` if it vanished or is unreadable.
    pub gid: Option<u32>,
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

/// Memory totals of one process's memory map, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SmapsTotals {
    /// `Private_Dirty`: memory only this process can have written.
    pub private_dirty_kb: u64,
    /// `Pss` (proportional set size).
    pub pss_kb: u64,
    /// `Swap`.
    pub swap_kb: u64,
    /// `Rss`.
    pub rss_kb: u64,
    /// How many mappings were summed (0 for an empty map: a process gone or going).
    pub mappings: usize,
}

/// `PF_KTHREAD`: set in the stat flags of kernel threads, which have no memory map.
const PF_KTHREAD: u32 = 0x0020_0000;

/// Whether `stat` is a kernel thread (no cmdline, no memory map worth reading).
pub(crate) fn is_kernel_thread(stat: &Stat) -> bool {
    stat.flags & PF_KTHREAD != 0 || stat.pid == 2 || stat.ppid == 2
}

/// Whether the process has exited but not been reaped (or is being torn down).
pub(crate) fn is_dead(stat: &Stat) -> bool {
    matches!(stat.state, 'Z' | 'X' | 'x')
}

/// A non-negative pid-like field of `stat` (`ppid`, `pgrp`) as `u32`.
pub(crate) fn pid_u32(raw: i32) -> u32 {
    u32::try_from(raw).unwrap_or(0)
}

/// Reads the metrics of `pid`.
///
/// `Err(Gone)` when the process does not exist or exits while being read;
/// `Err(Unreadable)` when even `/proc/PID/stat` is denied. When only the memory map
/// is denied (another user's process, without root), this returns `Ok` with
/// `private_dirty_kb`, `pss_kb` and `swap_kb` left `None`.
pub fn process_metrics(pid: u32) -> Result<ProcessMetrics, MetricsError> {
    let process = open(pid)?;
    let stat = read_stat(pid, &process)?;
    let uid = process.uid().ok();
    let gid = process.status().ok().map(|s| s.egid);
    let cmdline = if is_kernel_thread(&stat) {
        Vec::new()
    } else {
        read_cmdline(pid, &process)?
    };
    let smaps = read_smaps(pid, &process, &stat)?;
    Ok(ProcessMetrics {
        pid,
        ppid: pid_u32(stat.ppid),
        pgid: pid_u32(stat.pgrp),
        uid,
        gid,
        cmdline,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
        vmsize_kb: stat.vsize / 1024,
        rss_kb: rss_kb(&stat),
        private_dirty_kb: smaps.map(|s| s.private_dirty_kb),
        pss_kb: smaps.map(|s| s.pss_kb),
        swap_kb: smaps.map(|s| s.swap_kb),
        cpu_ticks: stat.utime.saturating_add(stat.stime),
        start_time_ticks: stat.starttime,
        name: stat.comm,
    })
}

/// Resident set size of `stat` in KiB.
pub(crate) fn rss_kb(stat: &Stat) -> u64 {
    stat.rss.saturating_mul(procfs::page_size()) / 1024
}

/// All process ids currently on the machine (thread-group leaders only), ascending.
///
/// Never fails: an unreadable `/proc` yields an empty list (and a `tracing` warning).
pub fn list_processes() -> Vec<u32> {
    let mut pids: Vec<u32> = all_processes()
        .map(|p| pid_u32(p.pid()))
        .filter(|&pid| pid > 0)
        .collect();
    pids.sort_unstable();
    pids
}

/// Every process of the machine that still exists when its turn comes; processes
/// that vanish during the walk are skipped.
pub(crate) fn all_processes() -> impl Iterator<Item = Process> {
    let iter = match procfs::process::all_processes() {
        Ok(iter) => Some(iter),
        Err(err) => {
            tracing::warn!(error = %err, "cannot list /proc");
            None
        }
    };
    iter.into_iter().flatten().filter_map(Result::ok)
}

/// Every descendant of `root` (children, grandchildren, ...), ascending; not `root` itself.
///
/// Built from one pass over `/proc/*/stat`; processes that exit during the pass are
/// simply absent.
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_processes()
        .filter_map(|p| read_stat(pid_u32(p.pid()), &p).ok())
        .map(|s| (pid_u32(s.pid), pid_u32(s.ppid)))
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
    procfs::ticks_per_second().max(1)
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

/// How a failed `procfs` read is classified. A file cut short (`Incomplete`) is
/// what a process exiting mid-read leaves, so it counts as gone too.
pub(crate) fn classify(pid: u32, what: &'static str, err: ProcError) -> MetricsError {
    match err {
        ProcError::NotFound(_) | ProcError::Incomplete(_) => MetricsError::Gone { pid },
        ProcError::Io(ref io, _) if io.raw_os_error() == Some(libc::ESRCH) => {
            MetricsError::Gone { pid }
        }
        ProcError::PermissionDenied(_) => MetricsError::Unreadable {
            pid,
            what,
            source: err,
        },
        ProcError::Io(ref io, _) if io.raw_os_error() == Some(libc::EPERM) => {
            MetricsError::Unreadable {
                pid,
                what,
                source: err,
            }
        }
        other => MetricsError::Read {
            pid,
            what,
            source: other,
        },
    }
}

/// Opens `/proc/PID` (a directory handle every later read of this process goes through).
pub(crate) fn open(pid: u32) -> Result<Process, MetricsError> {
    let raw = i32::try_from(pid).map_err(|_| MetricsError::Gone { pid })?;
    Process::new(raw).map_err(|e| classify(pid, "", e))
}

/// `/proc/PID/stat`, parsed by `procfs`. Same as `process.stat()`, but read through
/// `take` so that `File`'s size hint (an fstat and an lseek, useless on /proc) is not
/// paid for each of the thousands of processes memory-stats scans.
pub(crate) fn read_stat(pid: u32, process: &Process) -> Result<Stat, MetricsError> {
    use procfs::FromRead;
    process
        .open_relative("stat")
        .and_then(|f| Stat::from_read(f.take(u64::MAX)))
        .map_err(|e| classify(pid, "stat", e))
}

/// The command line, split at NULs with empty trailing pieces dropped. Read as bytes
/// and decoded lossily: `procfs`'s own `cmdline()` refuses a command line that is not
/// UTF-8, and a process title naming an app root with such a byte must still show.
pub(crate) fn read_cmdline(pid: u32, process: &Process) -> Result<Vec<String>, MetricsError> {
    let mut bytes = Vec::with_capacity(256);
    // Through `take`, as in `read_stat`.
    let read = process
        .open_relative("cmdline")
        .map_err(|e| classify(pid, "cmdline", e))
        .and_then(|f| {
            f.take(u64::MAX)
                .read_to_end(&mut bytes)
                .map_err(|e| classify(pid, "cmdline", e.into()))
        });
    match read {
        Ok(_) => {}
        // hidepid or similar: the row can still be shown by its comm.
        Err(MetricsError::Unreadable { .. }) => return Ok(Vec::new()),
        Err(other) => return Err(other),
    }
    let mut args: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
        .collect();
    // Processes that rewrite their title often leave trailing NUL padding.
    while args.last().is_some_and(|a| a.is_empty()) {
        args.pop();
    }
    Ok(args)
}

/// Reads the memory map totals: `Ok(None)` when permission is denied, `Err(Gone)`
/// when the process exited.
pub(crate) fn read_smaps(
    pid: u32,
    process: &Process,
    stat: &Stat,
) -> Result<Option<SmapsTotals>, MetricsError> {
    if is_kernel_thread(stat) {
        return Ok(Some(SmapsTotals::default()));
    }
    let maps = match process.smaps_rollup() {
        Ok(rollup) => Ok(rollup.memory_map_rollup),
        // Either the process exited, or the kernel predates smaps_rollup (< 4.14).
        // The full smaps answers both: it is missing too only if the process is gone.
        Err(ProcError::NotFound(_)) => process.smaps(),
        Err(other) => Err(other),
    };
    let maps = match maps.map_err(|e| classify(pid, "smaps_rollup", e)) {
        Ok(maps) => maps,
        Err(MetricsError::Unreadable { .. }) => return Ok(None),
        Err(other) => return Err(other),
    };
    let mut totals = SmapsTotals::default();
    for map in &maps {
        let field = |key: &str| map.extension.map.get(key).copied().unwrap_or(0) / 1024;
        totals.private_dirty_kb += field("Private_Dirty");
        totals.pss_kb += field("Pss");
        totals.swap_kb += field("Swap");
        totals.rss_kb += field("Rss");
        totals.mappings += 1;
    }
    if totals.mappings == 0 {
        // An empty map is what a process that exited (zombie, or reaped mid-read)
        // shows; a live user process always maps something.
        match process.stat() {
            Ok(now) if !is_dead(&now) && now.starttime == stat.starttime => {}
            Ok(_) | Err(_) => return Err(MetricsError::Gone { pid }),
        }
    }
    Ok(Some(totals))
}

/// The start time (clock ticks after boot) of `pid`, or `None` when no such process
/// runs (a zombie counts as gone). With the pid it names one process for good: a pid
/// reused later has another start time.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let proc_dir = open(pid).ok()?;
    read_stat(pid, &proc_dir)
        .ok()
        .filter(|stat| !is_dead(stat))
        .map(|stat| stat.starttime)
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
        assert!(m.pss_kb.is_some_and(|kb| kb > 0));
        assert!(!m.cmdline.is_empty());
        // SAFETY: geteuid/getegid have no preconditions and cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!((m.uid, m.gid), (Some(uid), Some(gid)));
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

    #[test]
    fn proc_errors_are_classified() {
        let gone = classify(7, "stat", ProcError::NotFound(None));
        assert!(matches!(gone, MetricsError::Gone { pid: 7 }));
        let cut = classify(7, "stat", ProcError::Incomplete(None));
        assert!(matches!(cut, MetricsError::Gone { pid: 7 }));
        let esrch = std::io::Error::from_raw_os_error(libc::ESRCH);
        assert!(matches!(
            classify(7, "smaps_rollup", ProcError::Io(esrch, None)),
            MetricsError::Gone { .. }
        ));
        let denied = classify(7, "smaps_rollup", ProcError::PermissionDenied(None));
        assert!(matches!(
            denied,
            MetricsError::Unreadable {
                what: "smaps_rollup",
                ..
            }
        ));
        let odd = classify(7, "stat", ProcError::Other("bad".into()));
        assert!(matches!(odd, MetricsError::Read { .. }));
    }
}
