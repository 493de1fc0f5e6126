//! Serializable views of the pool, for the admin API and status tools.

use std::path::PathBuf;

use serde::{Serialize, Serializer};

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
    /// Random id of this group, fixed for its lifetime (the original's `uuid`).
    pub uuid: String,
    /// The user the group's processes run as, once one is running (filled from /proc).
    pub user: Option<String>,
    /// Its uid.
    pub uid: Option<u32>,
    /// The OS group the processes run as (the original's group `<group>`).
    pub group: Option<String>,
    /// Its gid.
    pub gid: Option<u32>,
    /// The app's options, as the original's `<options>` block names them.
    pub options: GroupOptions,
}

/// The options a group was configured with, under the original's key names.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GroupOptions {
    /// The app root as the operating system has it (may hold non-UTF-8 bytes, which
    /// the pool XML shows byte for byte; JSON shows U+FFFD for them).
    #[serde(serialize_with = "lossy_path")]
    pub app_root: PathBuf,
    /// The group name.
    pub app_group_name: String,
    /// `ruby`, `python`, `nodejs` or `generic`.
    pub app_type: String,
    /// The command that starts a process: the generic app's command, else the
    /// interpreter and our loader script.
    pub start_command: String,
    /// The startup file, for loader-based apps.
    pub startup_file: Option<String>,
    /// The title prefix its processes take (`Passenger RubyApp`...), if any.
    pub process_title: Option<String>,
    /// Spawn timeout in milliseconds.
    pub start_timeout: u64,
    /// Environment name.
    pub environment: String,
    /// Base URI the app is mounted under.
    pub base_uri: String,
    /// `smart` or `direct`.
    pub spawn_method: String,
    /// Always `standalone`.
    pub integration_mode: String,
    /// Ruby interpreter.
    pub ruby: String,
    /// Python interpreter.
    pub python: String,
    /// Node interpreter.
    pub nodejs: String,
    /// Processes kept alive.
    pub min_processes: u32,
    /// Maximum processes of this app (0: only the pool's limit).
    pub max_processes: u32,
    /// Preloader idle time in seconds (0: never stops).
    pub max_preloader_idle_time: u64,
    /// The configured `user` (as root, apps run as it instead of the startup file's
    /// owner).
    pub user: Option<String>,
    /// The configured `group`.
    pub group: Option<String>,
}

fn lossy_path<S: Serializer>(path: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
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
    /// Private dirty memory plus swap ("real memory") in KiB, once metrics were sampled.
    pub real_memory_kb: Option<u64>,
    /// A random id of the process within its group (the original's sticky session id).
    pub sticky_session_id: u32,
    /// When the spawner that made this process started its first spawn of the
    /// group's current generation (for smart spawning: the preloader's start),
    /// microseconds since the epoch.
    pub spawner_creation_time: u64,
    /// Resident set size in KiB, once sampled.
    pub rss_kb: Option<u64>,
    /// Proportional set size in KiB, once sampled.
    pub pss_kb: Option<u64>,
    /// Private dirty memory in KiB, once sampled.
    pub private_dirty_kb: Option<u64>,
    /// Swapped-out memory in KiB, once sampled.
    pub swap_kb: Option<u64>,
    /// Virtual memory size in KiB, once sampled.
    pub vmsize_kb: Option<u64>,
    /// Its process group id, once sampled.
    pub process_group_id: Option<u32>,
    /// Its command line (process title), once sampled.
    pub command: Option<String>,
}
