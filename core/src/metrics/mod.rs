//! Process metrics from `/proc`, and the data behind `passenger memory-stats`.
//!
//! Owns: reading per-process metrics (memory, CPU time, parentage) on Linux
//! ([`process_metrics`], [`list_processes`], [`process_tree`], [`CpuSampler`]),
//! through the `procfs` crate (which owns the `/proc` text formats), and
//! grouping the machine's processes into the Apache / Nginx / Passenger sections of
//! the memory report ([`memory_stats`]), and filling those figures into the pool
//! snapshots the admin API serves (`pool.rs`: a pool with its processes measured).
//! Does not own: finding running instances
//! (callers pass [`InstanceRoots`]), or rendering the report (the `cli` crate does
//! that). Never prints; a process that exits while being read is skipped, never a panic.

mod error;
mod memory_stats;
pub(crate) mod pool;
mod process;

pub use error::MetricsError;
pub use memory_stats::{
    memory_stats, InstanceRoots, MemoryStats, MemoryStatsOptions, ProcessRow, Section, CORE_TITLE,
    WATCHDOG_TITLE,
};
pub use process::{
    clock_ticks_per_second, list_processes, process_metrics, process_start_time, process_tree,
    CpuSampler, ProcessMetrics,
};
