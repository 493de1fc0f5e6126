//! Process metrics from `/proc`, and the data behind `passenger memory-stats`.
//!
//! Owns: reading per-process metrics (memory, CPU time, parentage) on Linux
//! ([`process_metrics`], [`list_processes`], [`process_tree`], [`CpuSampler`]),
//! through the `procfs` crate (which owns the `/proc` text formats), and
//! grouping the machine's processes into the Apache / Nginx / Passenger sections of
//! the memory report ([`memory_stats`]). Does not own: finding running instances
//! (callers pass [`InstanceRoots`]), or rendering the report (the `cli` crate does
//! that). Never prints; a process that exits while being read is skipped, never a panic.

mod memory_stats;
mod process;

pub use memory_stats::{
    memory_stats, InstanceRoots, MemoryStats, MemoryStatsOptions, ProcessRow, Section, CORE_TITLE,
    WATCHDOG_TITLE,
};
pub use process::{
    clock_ticks_per_second, list_processes, process_metrics, process_tree, CpuSampler,
    ProcessMetrics,
};

/// The start time (clock ticks after boot) of `pid`, or `None` when no such process
/// runs (a zombie counts as gone). With the pid it names one process for good: a pid
/// reused later has another start time.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let proc_dir = process::open(pid).ok()?;
    process::read_stat(pid, &proc_dir)
        .ok()
        .filter(|stat| !process::is_dead(stat))
        .map(|stat| stat.starttime)
}

/// Why metrics of a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The process does not exist, or exited while it was being read.
    #[error("process {pid} is gone")]
    Gone {
        /// The process id asked about.
        pid: u32,
    },
    /// `/proc/PID/<what>` exists but this user may not read it.
    #[error("cannot read /proc/{pid}/{what}: permission denied")]
    Unreadable {
        /// The process id asked about.
        pid: u32,
        /// Which `/proc/PID` file was denied.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: procfs::ProcError,
    },
    /// Any other failure reading `/proc/PID/<what>`.
    #[error("cannot read /proc/{pid}/{what}")]
    Read {
        /// The process id asked about.
        pid: u32,
        /// Which `/proc/PID` file failed.
        what: &'static str,
        /// The underlying error (an I/O error, or text `procfs` could not parse).
        #[source]
        source: procfs::ProcError,
    },
}
