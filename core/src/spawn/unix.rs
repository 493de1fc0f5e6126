//! Unix process plumbing for the spawner: who the app runs as, what runs between fork
//! and exec, and signalling a process group.
//!
//! Owns user/group resolution (internals §3.8, simplified), the `pre_exec` hook and the
//! [`GroupControl`] that implements [`ProcessControl`]. It does not build commands or
//! wait for readiness.
//!
//! The `pre_exec` hook runs in the forked child of a multi-threaded process, so it only
//! makes async-signal-safe calls: no allocation, no locks, no logging. Everything it
//! needs (ids, the supplementary group list, the parent pid) is computed before fork.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Group, Pid, Uid, User};
use tokio::process::ChildStdin;

use super::ProcessControl;

/// Why the run-as user or group could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The configured user does not exist.
    #[error("Cannot determine a user to lower privilege to: user '{0}' does not exist")]
    NoSuchUser(String),
    /// The configured group does not exist.
    #[error("Cannot determine a group to lower privilege to: group '{0}' does not exist")]
    NoSuchGroup(String),
    /// The user database or the app root could not be read.
    #[error("Cannot determine the user to run the app as: {what}: {source}")]
    Lookup {
        /// What was being looked up.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// The identity an app process runs as.
#[derive(Debug, Clone)]
pub struct RunAs {
    /// User name (or the numeric uid if it has no name).
    pub user_name: String,
    /// User id.
    pub uid: u32,
    /// Group name (or the numeric gid if it has no name).
    pub group_name: String,
    /// Primary group id.
    pub gid: u32,
    /// Present when the process must switch to this identity (the core runs as root).
    pub switch: Option<Switch>,
}

/// What a switch to another user needs, resolved before fork.
#[derive(Debug, Clone)]
pub struct Switch {
    /// Supplementary groups (`getgrouplist`), applied with `setgroups` in the child.
    pub groups: Vec<libc::gid_t>,
    /// `HOME` of the user.
    pub home: String,
    /// `SHELL` of the user.
    pub shell: String,
}

impl RunAs {
    /// `"alice (1000), group staff (50)"`, for errors and logs.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}), group {} ({})",
            self.user_name, self.uid, self.group_name, self.gid
        )
    }

    /// `USER`, `LOGNAME`, `HOME` and `SHELL` for a switched process; empty otherwise.
    pub fn env(&self) -> Vec<(String, String)> {
        match &self.switch {
            None => Vec::new(),
            Some(s) => vec![
                ("USER".into(), self.user_name.clone()),
                ("LOGNAME".into(), self.user_name.clone()),
                ("HOME".into(), s.home.clone()),
                ("SHELL".into(), s.shell.clone()),
            ],
        }
    }
}

fn lookup_err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> UserError {
    let what = what.into();
    move |e| UserError::Lookup {
        what,
        source: io::Error::from(e),
    }
}

fn user_by_name(name: &str) -> Result<Option<User>, UserError> {
    if let Ok(uid) = name.parse::<u32>() {
        return User::from_uid(Uid::from_raw(uid)).map_err(lookup_err(format!("uid {uid}")));
    }
    User::from_name(name).map_err(lookup_err(format!("user '{name}'")))
}

fn group_by_name(name: &str) -> Result<Option<Group>, UserError> {
    if let Ok(gid) = name.parse::<u32>() {
        return Group::from_gid(Gid::from_raw(gid)).map_err(lookup_err(format!("gid {gid}")));
    }
    Group::from_name(name).map_err(lookup_err(format!("group '{name}'")))
}

/// The name of group `gid`, or the number when it has none.
pub(crate) fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(g)) => g.name,
        _ => gid.to_string(),
    }
}

/// Decides who a process of the app at `reference` runs as.
///
/// Not root, or root with `user_switching` off and no explicit `user`: the core's own
/// identity, no switch (Passenger Standalone's default). Root: `user`, else the owner of
/// `reference` (the app root or startup file); root or unknown becomes `default_user`.
/// The group is `group`, else the user's primary group; gid 0 becomes `default_group`
/// or the primary group of `default_user`.
pub fn resolve_run_as(
    user: Option<&str>,
    group: Option<&str>,
    reference: &Path,
    default_user: &str,
    default_group: Option<&str>,
    user_switching: bool,
) -> Result<RunAs, UserError> {
    let euid = Uid::effective();
    if !euid.is_root() || (!user_switching && user.is_none()) {
        let gid = Gid::effective().as_raw();
        let user_name = match User::from_uid(euid) {
            Ok(Some(u)) => u.name,
            _ => euid.to_string(),
        };
        return Ok(RunAs {
            user_name,
            uid: euid.as_raw(),
            group_name: group_name(gid),
            gid,
            switch: None,
        });
    }

    let default = || -> Result<User, UserError> {
        user_by_name(default_user)?.ok_or_else(|| UserError::NoSuchUser(default_user.to_string()))
    };
    let chosen = match user {
        Some(name) => user_by_name(name)?.ok_or_else(|| UserError::NoSuchUser(name.to_string()))?,
        None => {
            let meta =
                std::fs::symlink_metadata(reference).map_err(|source| UserError::Lookup {
                    what: format!("owner of {}", reference.display()),
                    source,
                })?;
            match User::from_uid(Uid::from_raw(meta.uid()))
                .map_err(lookup_err(format!("uid {}", meta.uid())))?
            {
                Some(owner) => owner,
                None => default()?,
            }
        }
    };
    let user = if chosen.uid.is_root() {
        default()?
    } else {
        chosen
    };

    let mut gid = match group {
        Some(name) => {
            group_by_name(name)?
                .ok_or_else(|| UserError::NoSuchGroup(name.to_string()))?
                .gid
        }
        None => user.gid,
    };
    if gid.as_raw() == 0 {
        gid = match default_group {
            Some(name) => {
                group_by_name(name)?
                    .ok_or_else(|| UserError::NoSuchGroup(name.to_string()))?
                    .gid
            }
            None => default()?.gid,
        };
    }

    let cname = CString::new(user.name.clone()).map_err(|e| UserError::Lookup {
        what: format!("user name '{}'", user.name),
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    let groups = nix::unistd::getgrouplist(&cname, gid)
        .map_err(lookup_err(format!("groups of '{}'", user.name)))?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    Ok(RunAs {
        user_name: user.name.clone(),
        uid: user.uid.as_raw(),
        group_name: group_name(gid.as_raw()),
        gid: gid.as_raw(),
        switch: Some(Switch {
            groups,
            home: user.dir.to_string_lossy().into_owned(),
            shell: user.shell.to_string_lossy().into_owned(),
        }),
    })
}

/// Builds the closure for `Command::pre_exec`.
///
/// In the child it: switches credentials (setgroups, setgid, setuid) when `run_as`
/// says so; then sets `PR_SET_PDEATHSIG` to SIGKILL (after the switch, because
/// credential changes clear it); then exits if the parent already died before the
/// prctl took effect. All of it is async-signal-safe and allocation-free.
pub fn pre_exec_hook(run_as: &RunAs) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    let parent = std::process::id() as libc::pid_t;
    let creds = run_as
        .switch
        .as_ref()
        .map(|s| (s.groups.clone(), run_as.gid, run_as.uid));
    move || {
        // SAFETY: plain syscalls on data owned by this closure; no allocation or locking.
        unsafe {
            if let Some((groups, gid, uid)) = &creds {
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setgid(*gid) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::setuid(*uid) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then no signal comes.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = parent;
        }
        Ok(())
    }
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub fn signal_group(pgid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pgid, %signal, error = %e, "could not signal app process group"),
    }
}

#[derive(Debug, Default)]
struct ControlState {
    /// Set by the reaper once the leader is reaped and the rest of the group killed;
    /// from then on the pgid may be reused, so nothing may be signalled any more.
    gone: bool,
    /// The loader's stdin; dropping it asks the loader to exit.
    stdin: Option<ChildStdin>,
}

/// [`ProcessControl`] for one process group led by a spawned process.
#[derive(Debug, Clone)]
pub struct GroupControl {
    pgid: u32,
    state: Arc<Mutex<ControlState>>,
}

impl GroupControl {
    /// Control for the group led by `pgid`. With `stdin`, `terminate` closes it instead
    /// of sending SIGTERM (loader apps).
    pub fn new(pgid: u32, stdin: Option<ChildStdin>) -> GroupControl {
        GroupControl {
            pgid,
            state: Arc::new(Mutex::new(ControlState { gone: false, stdin })),
        }
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut ControlState) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Called by the reaper after the leader was reaped: kills what is left of the
    /// group and disables further signals.
    pub fn leader_reaped(&self) {
        self.with_state(|s| {
            if !s.gone {
                signal_group(self.pgid, Signal::SIGKILL);
                s.gone = true;
                s.stdin = None;
            }
        });
    }
}

impl ProcessControl for GroupControl {
    fn terminate(&self) {
        self.with_state(|s| {
            if s.gone {
                return;
            }
            if s.stdin.take().is_none() {
                signal_group(self.pgid, Signal::SIGTERM);
            }
        });
    }

    fn kill(&self) {
        self.with_state(|s| {
            if !s.gone {
                signal_group(self.pgid, Signal::SIGKILL);
            }
        });
    }
}
