//! Finding running instances for tools (`passenger status`, `passenger-config`).
//!
//! Owns the search path, the "good instance" test, the liveness test (someone holds
//! the `lock` flock), following Passenger's `instance_registry.rb`, and the cleanup of
//! stale directories, which unlike the original's touches only provably stale
//! directories of ours (see [`list_instances`]). It reports what it cleaned instead
//! of printing it.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::{
    try_lock, InstanceError, MAJOR_VERSION, OWNER_MARKER, OWNER_PRODUCT, REGISTRY_DIR_ENV,
};

/// A live instance found in a registry directory.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    /// The instance directory.
    pub path: PathBuf,
    /// `name` from `properties.json`.
    pub name: String,
    /// `watchdog_pid`.
    pub watchdog_pid: u32,
    /// `core_pid` when present (written by us, not by the original).
    pub core_pid: Option<u32>,
    /// `server_software`, the description column of `list-instances`.
    pub server_software: String,
    /// `<path>/agents.s/core_api`.
    pub core_api_socket: PathBuf,
    /// The whole `properties.json`, for `list-instances --json`.
    pub properties: serde_json::Value,
}

impl InstanceInfo {
    /// Reads the `ro_admin` password, if this user may.
    pub fn read_only_admin_password(&self) -> Option<String> {
        fs::read_to_string(self.path.join("read_only_admin_password.txt")).ok()
    }
    /// Reads the `admin` password, if this user may.
    pub fn full_admin_password(&self) -> Option<String> {
        fs::read_to_string(self.path.join("full_admin_password.txt")).ok()
    }
}

/// Result of scanning registry directories.
#[derive(Debug, Clone, Default)]
pub struct RegistryScan {
    /// Live instances, sorted by name.
    pub instances: Vec<InstanceInfo>,
    /// Stale or corrupt directories that were deleted; tools print
    /// `*** Cleaning stale instance directory <path>` for each.
    pub cleaned: Vec<PathBuf>,
}

/// Where tools look: `$PASSENGER_INSTANCE_REGISTRY_DIR` alone if set and not empty;
/// otherwise `$TMPDIR`, `/tmp`, `/var/run/passenger-instreg` and the
/// `/tmp/systemd-private-*-{httpd,nginx,apache2}.service-*/tmp` dirs. Duplicates
/// are removed.
pub fn registry_search_dirs() -> Vec<PathBuf> {
    search_dirs(
        std::env::var_os(REGISTRY_DIR_ENV),
        std::env::var_os("TMPDIR"),
        Path::new("/tmp"),
    )
}

/// [`registry_search_dirs`] with the two variables' values and `/tmp` (`tmp`) given.
pub(super) fn search_dirs(
    registry_env: Option<OsString>,
    tmpdir: Option<OsString>,
    tmp: &Path,
) -> Vec<PathBuf> {
    if let Some(dir) = registry_env {
        if !dir.is_empty() {
            return vec![PathBuf::from(dir)];
        }
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(tmp) = tmpdir {
        if !tmp.is_empty() {
            dirs.push(PathBuf::from(tmp));
        }
    }
    dirs.push(tmp.to_path_buf());
    dirs.push(PathBuf::from("/var/run/passenger-instreg"));
    if let Ok(entries) = fs::read_dir(tmp) {
        let mut private: Vec<PathBuf> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let systemd_web = name.starts_with("systemd-private-")
                    && ["-httpd.service-", "-nginx.service-", "-apache2.service-"]
                        .iter()
                        .any(|s| name.contains(s));
                systemd_web.then(|| e.path().join("tmp"))
            })
            .collect();
        private.sort();
        dirs.extend(private);
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let key = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if !unique
            .iter()
            .any(|d| fs::canonicalize(d).unwrap_or_else(|_| d.clone()) == key)
        {
            unique.push(dir);
        }
    }
    unique
}

fn json_u32(v: &serde_json::Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// Parses a directory into an [`InstanceInfo`] if it is a good (complete,
/// compatible) instance, without checking liveness.
fn read_good(path: &Path) -> Option<InstanceInfo> {
    if !path.join("creation_finalized").is_file()
        || !path.join("lock").is_file()
        || !path.join("agents.s").is_dir()
        || !path.join("apps.s").is_dir()
    {
        return None;
    }
    let text = fs::read_to_string(path.join("properties.json")).ok()?;
    let props: serde_json::Value = serde_json::from_str(&text).ok()?;
    let dir = props.get("instance_dir")?;
    let major = dir.get("major_version")?.as_u64()?;
    dir.get("minor_version")?.as_u64()?;
    if major != MAJOR_VERSION {
        return None;
    }
    let name = props.get("name")?.as_str()?.to_string();
    let server_software = props.get("server_software")?.as_str()?.to_string();
    if name.is_empty() || server_software.is_empty() {
        return None;
    }
    let watchdog_pid = json_u32(props.get("watchdog_pid")?)?;
    let core_pid = props.get("core_pid").and_then(json_u32);
    Some(InstanceInfo {
        path: path.to_path_buf(),
        name,
        watchdog_pid,
        core_pid,
        server_software,
        core_api_socket: path.join("agents.s").join(super::CORE_API_SOCKET),
        properties: props,
    })
}

enum Liveness {
    /// Someone holds the lock; the lock file stays open only while we look.
    Alive,
    /// Nobody holds the lock (`Some`: we hold it now, which keeps two tools from
    /// racing while one deletes), or there is no lock file (`None`).
    Free(Option<File>),
    /// A lock file we cannot open or lock (not ours to inspect, or not a file).
    Unknown,
}

/// Opens `path` for reading without following a symlink in its last component.
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// The text of a small regular file (at most 4 KiB read), never through a symlink.
fn read_small_file(path: &Path) -> Option<String> {
    use std::io::Read;
    let file = open_nofollow(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

fn liveness(path: &Path) -> Liveness {
    let file = match open_nofollow(&path.join("lock")) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Liveness::Free(None),
        Err(_) => return Liveness::Unknown,
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Liveness::Unknown;
    }
    match try_lock(&file) {
        Ok(false) => Liveness::Alive,
        Ok(true) => Liveness::Free(Some(file)),
        Err(_) => Liveness::Unknown,
    }
}

/// `passenger.` and seven letters or digits: the only names an instance directory
/// (ours or the original's) has. Anything else in the registry is someone else's.
pub(super) fn is_instance_dir_name(name: &str) -> bool {
    name.strip_prefix("passenger.").is_some_and(|suffix| {
        suffix.len() == 7 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// The creator recorded in the directory's [`OWNER_MARKER`], if the marker is a
/// regular file naming our product.
fn owner_of(path: &Path) -> Option<(u32, Option<u64>)> {
    let text = read_small_file(&path.join(OWNER_MARKER))?;
    let owner: serde_json::Value = serde_json::from_str(&text).ok()?;
    if owner.get("product")?.as_str()? != OWNER_PRODUCT {
        return None;
    }
    let pid = json_u32(owner.get("pid")?)?;
    Some((pid, owner.get("pid_start_time").and_then(|v| v.as_u64())))
}

/// Whether the process `pid` (started at `start_time`, when known) still runs. A
/// pid now used by a process with another start time is not it.
fn still_running(pid: u32, start_time: Option<u64>) -> bool {
    match crate::metrics::process_start_time(pid) {
        None => false,
        Some(now) => start_time.is_none_or(|then| then == now),
    }
}

/// Whether the directory is provably a stale instance of ours: it carries our
/// ownership marker, and neither the process that created it nor the core recorded
/// in `core.pid` runs any more. The caller has checked that nobody holds the lock.
fn is_stale_of_ours(path: &Path) -> bool {
    let Some((creator, start_time)) = owner_of(path) else {
        return false;
    };
    if still_running(creator, start_time) {
        return false;
    }
    let core = read_small_file(&path.join("core.pid")).and_then(|t| t.trim().parse::<u32>().ok());
    !core.is_some_and(|pid| still_running(pid, None))
}

/// Lists live instances in `registry_dirs` and deletes the stale ones of ours.
///
/// A directory is deleted only when it is provably a stale instance of passenger-rs:
/// its name is `passenger.XXXXXXX`, it is a real directory (never a symlink), it
/// carries our [`OWNER_MARKER`], nobody holds its `lock` (we hold it while deleting),
/// and the processes it records are gone. Everything else stays: a directory being
/// created (no marker yet, or a held lock), the original Passenger's directories, our
/// spawn directories (`passenger.spawn.*`), and anything else called `passenger.*`.
/// Deleting never follows a symlink inside the directory.
pub fn list_instances(registry_dirs: &[PathBuf]) -> RegistryScan {
    let mut scan = RegistryScan::default();
    for registry in registry_dirs {
        let Ok(entries) = fs::read_dir(registry) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| is_instance_dir_name(&e.file_name().to_string_lossy()))
            // `file_type` does not follow symlinks: a link named like an instance is skipped.
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path())
            .collect();
        paths.sort();
        for path in paths {
            match liveness(&path) {
                Liveness::Alive => {
                    // A locked but incomplete directory is being created right now.
                    if let Some(info) = read_good(&path) {
                        scan.instances.push(info);
                    }
                }
                Liveness::Free(lock) => {
                    if is_stale_of_ours(&path) {
                        remove_stale(&path, &mut scan);
                    }
                    drop(lock);
                }
                Liveness::Unknown => {}
            }
        }
    }
    scan.instances.sort_by(|a, b| a.name.cmp(&b.name));
    scan
}

fn remove_stale(path: &Path, scan: &mut RegistryScan) {
    // Unmark first, so a concurrent scan never lists a half-deleted directory.
    let _ = fs::remove_file(path.join("creation_finalized"));
    // `remove_dir_all` unlinks symlinks inside the directory instead of following them.
    match fs::remove_dir_all(path) {
        Ok(()) => scan.cleaned.push(path.to_path_buf()),
        Err(err) => {
            tracing::debug!(path = %path.display(), "cannot clean stale instance directory: {err}")
        }
    }
}

/// Selects one live instance in `registry_dirs`: the only one when `name` is
/// `None`; else the one named exactly `name`, else the only one whose name starts
/// with it. Also returns the cleanup report.
pub fn find_instance_in(
    registry_dirs: &[PathBuf],
    name: Option<&str>,
) -> (Result<InstanceInfo, InstanceError>, Vec<PathBuf>) {
    let scan = list_instances(registry_dirs);
    let result = select(scan.instances, name);
    (result, scan.cleaned)
}

fn ambiguous(instances: Vec<InstanceInfo>) -> InstanceError {
    InstanceError::Ambiguous {
        names: instances.iter().map(|i| i.name.clone()).collect(),
        instances,
    }
}

fn select(instances: Vec<InstanceInfo>, name: Option<&str>) -> Result<InstanceInfo, InstanceError> {
    let Some(name) = name else {
        return match instances.len() {
            0 => Err(InstanceError::NoInstance),
            1 => Ok(instances.into_iter().next().expect("invariant: len is 1")),
            _ => Err(ambiguous(instances)),
        };
    };
    if instances.is_empty() {
        return Err(InstanceError::NoInstance);
    }
    if let Some(exact) = instances.iter().find(|i| i.name == name) {
        return Ok(exact.clone());
    }
    let mut matching: Vec<InstanceInfo> = instances
        .into_iter()
        .filter(|i| i.name.starts_with(name))
        .collect();
    match matching.len() {
        0 => Err(InstanceError::UnknownName(name.to_string())),
        1 => Ok(matching.remove(0)),
        _ => Err(ambiguous(matching)),
    }
}

/// [`find_instance_in`] over [`registry_search_dirs`].
pub fn find_instance(
    name_prefix: Option<&str>,
) -> (Result<InstanceInfo, InstanceError>, Vec<PathBuf>) {
    find_instance_in(&registry_search_dirs(), name_prefix)
}

/// Selects the live instance whose `watchdog_pid` (or `core_pid`) is `pid`
/// (`--pid-identifier`).
pub fn find_instance_by_pid(
    registry_dirs: &[PathBuf],
    pid: u32,
) -> (Result<InstanceInfo, InstanceError>, Vec<PathBuf>) {
    let scan = list_instances(registry_dirs);
    let found = scan
        .instances
        .into_iter()
        .find(|i| i.watchdog_pid == pid || i.core_pid == Some(pid))
        .ok_or_else(|| InstanceError::UnknownName(pid.to_string()));
    (found, scan.cleaned)
}
