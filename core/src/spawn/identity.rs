//! The identity an app process runs as, and what makes a forked child take it.
//!
//! Owns [`RunAs`] (who, and whether a switch is needed) and the `pre_exec` hook that
//! applies it between fork and exec. It does not decide who an app runs as
//! (`unix::resolve_run_as` does) and does not fork: the spawner in the core, or the spawn
//! helper when the core dropped root, runs the hook in its own child.
//!
//! The hook runs in the forked child of a multi-threaded process, so it only makes
//! async-signal-safe calls: no allocation, no locks, no logging. Everything it needs (ids,
//! the supplementary group list, the parent pid) is computed before fork.

use std::io;

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
