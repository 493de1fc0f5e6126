//! Serializable views of the pool, for the admin API and status tools.

use serde::Serialize;

/// The whole pool at one moment.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PoolSnapshot {
    /// Configured maximum number of processes across all groups.
    pub max_pool_size: u32,
    /// Processes counted against `max_pool_size` (not detached ones).
    pub capacity_used: u32,
    /// Requests waiting for a group that could not be created yet.
    pub top_level_queue_len: u32,
    /// One entry per group, in creation order.
    pub groups: Vec<GroupSnapshot>,
}

/// One group (app).
#[derive(Debug, Clone, Serialize, Default)]
pub struct GroupSnapshot {
    /// App group name.
    pub name: String,
    /// App root.
    pub app_root: String,
    /// Environment.
    pub environment: String,
    /// App type name (`generic`, `ruby`, ...).
    pub app_type: String,
    /// Requests in this group's queue.
    pub queue_len: u32,
    /// Processes being spawned now.
    pub processes_being_spawned: u32,
    /// Whether a restart is under way.
    pub restarting: bool,
    /// Processes of this group, detached ones included.
    pub processes: Vec<ProcessSnapshot>,
}

/// One process.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ProcessSnapshot {
    /// OS pid.
    pub pid: u32,
    /// Group-unique process id.
    pub gupid: String,
    /// Requests in flight now.
    pub sessions: u32,
    /// Advertised concurrency (0 unlimited, -1 unknown).
    pub concurrency: i32,
    /// Requests served so far.
    pub processed: u64,
    /// Spawn start, microseconds since the epoch.
    pub spawn_start_time: u64,
    /// Spawn end (ready), microseconds since the epoch.
    pub spawn_end_time: u64,
    /// Last time a session ended or began, microseconds since the epoch.
    pub last_used: u64,
    /// `enabled`, `disabling`, `disabled` or `detached`.
    pub enabled: String,
    /// `alive`, `shutdown_triggered` or `dead`.
    pub life_status: String,
    /// Where the process accepts requests (`tcp://…`, `unix:…` or `session:…`).
    pub address: String,
    /// The secret a direct connection to a loader process must present (shown by
    /// `passenger-status --verbose`); none for generic and Node apps, which check none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_password: Option<String>,
    /// Where an operator can send HTTP requests to this very process (`curl`): a
    /// loader's direct-access socket, which wants `X-Passenger-Connect-Password`, or
    /// a generic or Node app's own port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_url: Option<String>,
    /// CPU usage in percent, once metrics were sampled.
    pub cpu_percent: Option<u32>,
    /// Private dirty memory ("real memory") in KiB, once metrics were sampled.
    pub real_memory_kb: Option<u64>,
}
