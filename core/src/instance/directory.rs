//! One instance directory: creating it with the original's layout, adopting a
//! watchdog's, rewriting `properties.json`, and removing it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::distributions::Alphanumeric;
use rand::Rng;

use super::{InstanceError, InstanceProperties};

/// Structure version of the directory layout; tools refuse other majors.
pub const MAJOR_VERSION: u64 = 4;
/// Minor structure version.
pub const MINOR_VERSION: u64 = 0;
/// Environment variable that overrides the registry directory.
pub const REGISTRY_DIR_ENV: &str = "PASSENGER_INSTANCE_REGISTRY_DIR";
/// `sizeof(sockaddr_un.sun_path)` on Linux, including the terminating NUL.
pub const SUN_PATH_MAX: usize = 108;
/// Name of the admin API socket inside `agents.s/`.
pub const CORE_API_SOCKET: &str = "core_api";

/// Our ownership marker in an instance directory (the original has no such file),
/// written right after the lock is taken: `{"product": "passenger-rs", "pid": <creator
/// pid>, "pid_start_time": <its start time in clock ticks after boot>}`. The tools
/// delete a stale directory only when it carries this marker.
pub const OWNER_MARKER: &str = "passenger_rs_owner.json";
/// The `product` the [`OWNER_MARKER`] names.
pub const OWNER_PRODUCT: &str = "passenger-rs";

/// How many random directory names to try before giving up (as the original).
const CREATE_ATTEMPTS: usize = 250;
/// `/passenger.XXXXXXX`, the part of the instance path after the registry dir.
const DIR_NAME_LEN: usize = "/passenger.".len() + 7;
/// A live instance directory owned by this process. Holds the `lock` for its
/// lifetime; dropping it (or [`Instance::remove`]) deletes the directory.
#[derive(Debug)]
pub struct Instance {
    path: PathBuf,
    name: String,
    instance_id: String,
    created_at: u64,
    created_at_monotonic_usec: u64,
    properties: InstanceProperties,
    read_only_password: String,
    full_password: String,
    /// Kept open: closing the file would release the flock.
    lock: Option<File>,
    /// Whether this process created the directory (and removes it). A core run by a
    /// watchdog adopts the watchdog's directory and leaves it in place.
    owned: bool,
}

/// The registry directory a new instance goes into when none is configured:
/// `$PASSENGER_INSTANCE_REGISTRY_DIR`, else `$TMPDIR`, else `/tmp`.
pub fn default_registry_dir() -> PathBuf {
    for var in [REGISTRY_DIR_ENV, "TMPDIR"] {
        if let Some(value) = std::env::var_os(var) {
            if !value.is_empty() {
                return PathBuf::from(value);
            }
        }
    }
    PathBuf::from("/tmp")
}

/// `n` random characters from `[A-Za-z0-9]`.
pub(crate) fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1000
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("invariant: base36 digits are ASCII")
}

/// `flock(fd, LOCK_EX | LOCK_NB)`; `Ok(false)` when someone else holds it.
pub(crate) fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a valid open fd has no memory-safety preconditions.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> InstanceError + '_ {
    move |source| InstanceError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn make_dir(path: &Path, mode: u32) -> Result<(), InstanceError> {
    fs::create_dir(path).map_err(write_err(path))?;
    // Set explicitly: create_dir's mode is filtered by the umask.
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(write_err(path))
}

fn write_new_file(path: &Path, mode: u32, contents: &[u8]) -> Result<(), InstanceError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write_err(path))?;
    file.write_all(contents).map_err(write_err(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(write_err(path))
}

impl Instance {
    /// Creates a new instance directory in `registry_dir` (or
    /// [`default_registry_dir`]), locks it and finalizes it.
    pub fn create(
        registry_dir: Option<&Path>,
        props: InstanceProperties,
    ) -> Result<Instance, InstanceError> {
        let registry = match registry_dir {
            Some(dir) => dir.to_path_buf(),
            None => default_registry_dir(),
        };
        let registry = if registry.is_absolute() {
            registry
        } else {
            std::env::current_dir()
                .map_err(|source| InstanceError::Registry {
                    path: registry.clone(),
                    source,
                })?
                .join(registry)
        };
        let socket_path_len =
            registry.as_os_str().len() + DIR_NAME_LEN + "/agents.s/".len() + CORE_API_SOCKET.len();
        if socket_path_len >= SUN_PATH_MAX {
            return Err(InstanceError::RegistryPathTooLong {
                registry,
                socket_path_len,
                limit: SUN_PATH_MAX - 1,
            });
        }
        let meta = fs::metadata(&registry).map_err(|source| InstanceError::Registry {
            path: registry.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(InstanceError::Registry {
                path: registry,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }

        let path = Self::create_unique_dir(&registry)?;
        let mut instance = Instance {
            path,
            name: random_alnum(8),
            instance_id: String::new(),
            created_at: 0,
            created_at_monotonic_usec: monotonic_usec(),
            properties: props,
            read_only_password: random_alnum(24),
            full_password: random_alnum(24),
            lock: None,
            owned: true,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        instance.created_at = now;
        instance.instance_id =
            format!("{}-{}-{}", to_base36(now), random_alnum(6), random_alnum(6));
        // From here on, a failure drops `instance`, which removes the directory.
        instance.populate()?;
        tracing::debug!(path = %instance.path.display(), name = %instance.name, "instance directory created");
        Ok(instance)
    }

    /// Joins the instance directory at `path`, created (and locked) by this core's
    /// watchdog. The adopted instance never removes the directory; the watchdog does.
    pub fn adopt(path: &Path) -> Result<Instance, InstanceError> {
        let fail = |reason: String| InstanceError::Adopt {
            path: path.to_path_buf(),
            reason,
        };
        let read = |name: &str| {
            fs::read_to_string(path.join(name))
                .map_err(|e| fail(format!("cannot read {name}: {e}")))
        };
        let doc: serde_json::Value = serde_json::from_str(&read("properties.json")?)
            .map_err(|e| fail(format!("properties.json: {e}")))?;
        let text = |key: &str| {
            doc.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let number = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_u64()).unwrap_or(0);
        let dir = doc.get("instance_dir");
        let properties = InstanceProperties {
            watchdog_pid: number(doc.get("watchdog_pid")) as u32,
            core_pid: std::process::id(),
            passenger_version: text("passenger_version"),
            server_software: text("server_software"),
            integration_mode: text("integration_mode"),
            standalone_engine: doc
                .get("standalone_engine")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            listen_addresses: doc
                .get("listen_addresses")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let instance = Instance {
            path: path.to_path_buf(),
            name: text("name"),
            instance_id: text("instance_id"),
            created_at: number(dir.and_then(|d| d.get("created_at"))),
            created_at_monotonic_usec: number(dir.and_then(|d| d.get("created_at_monotonic_usec"))),
            properties,
            read_only_password: read("read_only_admin_password.txt")?,
            full_password: read("full_admin_password.txt")?,
            lock: None,
            owned: false,
        };
        if instance.name.is_empty() {
            return Err(fail("properties.json has no name".into()));
        }
        Ok(instance)
    }

    fn create_unique_dir(registry: &Path) -> Result<PathBuf, InstanceError> {
        let mut last_err = std::io::Error::from_raw_os_error(libc::EEXIST);
        for _ in 0..CREATE_ATTEMPTS {
            let candidate = registry.join(format!("passenger.{}", random_alnum(7)));
            match fs::create_dir(&candidate) {
                Ok(()) => {
                    fs::set_permissions(&candidate, fs::Permissions::from_mode(0o755)).map_err(
                        |source| InstanceError::CreateDir {
                            registry: registry.to_path_buf(),
                            source,
                        },
                    )?;
                    return Ok(candidate);
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last_err = err,
                Err(source) => {
                    return Err(InstanceError::CreateDir {
                        registry: registry.to_path_buf(),
                        source,
                    })
                }
            }
        }
        Err(InstanceError::CreateDir {
            registry: registry.to_path_buf(),
            source: last_err,
        })
    }

    fn populate(&mut self) -> Result<(), InstanceError> {
        // The lock comes first so that a tool scanning the registry while we are
        // still writing sees a locked (live) directory instead of a corrupt one.
        let lock_path = self.path.join("lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&lock_path)
            .map_err(write_err(&lock_path))?;
        match try_lock(&lock) {
            Ok(true) => {}
            Ok(false) => {
                return Err(InstanceError::Lock {
                    path: lock_path,
                    source: std::io::Error::from_raw_os_error(libc::EWOULDBLOCK),
                })
            }
            Err(source) => {
                return Err(InstanceError::Lock {
                    path: lock_path,
                    source,
                })
            }
        }
        self.lock = Some(lock);
        // Ours from here on: a crash after this line leaves a directory the tools
        // may clean; one before it leaves a directory they never touch.
        let pid = std::process::id();
        let owner = serde_json::json!({
            "product": OWNER_PRODUCT,
            "pid": pid,
            "pid_start_time": crate::metrics::process_start_time(pid),
        });
        write_new_file(
            &self.path.join(OWNER_MARKER),
            0o644,
            owner.to_string().as_bytes(),
        )?;

        let is_root = nix::unistd::geteuid().is_root();
        make_dir(
            &self.path.join("agents.s"),
            if is_root { 0o755 } else { 0o700 },
        )?;
        make_dir(&self.path.join("apps.s"), 0o700)?;
        write_new_file(
            &self.path.join("read_only_admin_password.txt"),
            0o600,
            self.read_only_password.as_bytes(),
        )?;
        write_new_file(
            &self.path.join("full_admin_password.txt"),
            0o600,
            self.full_password.as_bytes(),
        )?;
        write_new_file(
            &self.path.join("watchdog.pid"),
            0o644,
            self.properties.watchdog_pid.to_string().as_bytes(),
        )?;
        write_new_file(
            &self.path.join("core.pid"),
            0o644,
            self.properties.core_pid.to_string().as_bytes(),
        )?;
        self.write_properties()?;
        write_new_file(&self.path.join("creation_finalized"), 0o644, b"")
    }

    /// The `properties.json` document.
    pub fn properties_json(&self) -> serde_json::Value {
        let p = &self.properties;
        let mut doc = serde_json::json!({
            "instance_dir": {
                "major_version": MAJOR_VERSION,
                "minor_version": MINOR_VERSION,
                "created_at": self.created_at,
                "created_at_monotonic_usec": self.created_at_monotonic_usec,
            },
            "passenger_version": p.passenger_version,
            "watchdog_pid": p.watchdog_pid,
            "core_pid": p.core_pid,
            "instance_id": self.instance_id,
            "name": self.name,
            "integration_mode": p.integration_mode,
            "server_software": p.server_software,
            "listen_addresses": p.listen_addresses,
            "core_api_socket": self.core_api_socket_path().to_string_lossy(),
        });
        if let (Some(engine), Some(map)) = (&p.standalone_engine, doc.as_object_mut()) {
            map.insert("standalone_engine".into(), engine.clone().into());
        }
        doc
    }

    fn write_properties(&self) -> Result<(), InstanceError> {
        let final_path = self.path.join("properties.json");
        let tmp_path = self.path.join("properties.json.tmp");
        let mut text = serde_json::to_string_pretty(&self.properties_json())
            .expect("invariant: a json! value always serializes");
        text.push('\n');
        let _ = fs::remove_file(&tmp_path);
        write_new_file(&tmp_path, 0o644, text.as_bytes())?;
        fs::rename(&tmp_path, &final_path).map_err(write_err(&final_path))
    }

    /// Changes the properties (e.g. once the listen addresses are known) and
    /// rewrites `properties.json` atomically (temp file + rename).
    pub fn update_properties(
        &mut self,
        update: impl FnOnce(&mut InstanceProperties),
    ) -> Result<(), InstanceError> {
        update(&mut self.properties);
        let core_pid = self.path.join("core.pid");
        let tmp = self.path.join("core.pid.tmp");
        let _ = fs::remove_file(&tmp);
        write_new_file(&tmp, 0o644, self.properties.core_pid.to_string().as_bytes())?;
        fs::rename(&tmp, &core_pid).map_err(write_err(&core_pid))?;
        self.write_properties()
    }

    /// The instance directory, `<registry>/passenger.XXXXXXX`.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The instance name tools show and select by (8 random characters).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `instance_id`: `<unix time base36>-<6>-<6>`.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }
    /// The current properties.
    pub fn properties(&self) -> &InstanceProperties {
        &self.properties
    }
    /// `<dir>/agents.s`, where the server binds its agent sockets.
    pub fn agents_dir(&self) -> PathBuf {
        self.path.join("agents.s")
    }
    /// `<dir>/apps.s`, for app sockets.
    pub fn apps_dir(&self) -> PathBuf {
        self.path.join("apps.s")
    }
    /// `<dir>/agents.s/core_api`, where the admin API listens.
    pub fn core_api_socket_path(&self) -> PathBuf {
        self.agents_dir().join(CORE_API_SOCKET)
    }
    /// The open `lock` file whose flock marks the instance as alive (`None` for an
    /// adopted instance). A watchdog that re-executes itself keeps it open across exec.
    pub fn lock_file(&self) -> Option<&File> {
        self.lock.as_ref()
    }
    /// Password of the `ro_admin` account.
    pub fn read_only_admin_password(&self) -> &str {
        &self.read_only_password
    }
    /// Password of the `admin` account.
    pub fn full_admin_password(&self) -> &str {
        &self.full_password
    }

    /// Deletes the directory (clean shutdown). Dropping does the same but can only
    /// log a failure.
    pub fn remove(mut self) -> Result<(), InstanceError> {
        if !self.owned {
            return Ok(());
        }
        self.remove_dir()
    }

    fn remove_dir(&mut self) -> Result<(), InstanceError> {
        // Remove the finalization marker first so a concurrent scan never sees a
        // half-deleted directory as a good instance.
        let _ = fs::remove_file(self.path.join("creation_finalized"));
        let result = match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(InstanceError::Remove {
                path: self.path.clone(),
                source,
            }),
        };
        // Unlock only after the directory is gone.
        self.lock = None;
        result
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.owned || (self.lock.is_none() && !self.path.exists()) {
            return;
        }
        if let Err(err) = self.remove_dir() {
            tracing::warn!("{err}: {:?}", std::error::Error::source(&err));
        }
    }
}
