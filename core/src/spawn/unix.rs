//! Unix process plumbing for the spawner: who the app runs as and signalling a process
//! group.
//!
//! Owns user/group resolution (internals §3.8; the user switching guide's rules) into a
//! [`RunAs`], and the [`GroupControl`] that implements [`ProcessControl`]. It does not
//! build commands, run anything between fork and exec (`identity::pre_exec_hook`) or wait
//! for readiness. A core that dropped root signals and switches through the spawn helper.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Group, Pid, Uid, User};

use super::identity::{RunAs, Switch};
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

/// The `group` value that means "the group of the startup file" (Passenger's
/// `!STARTUP_FILE!`).
pub const STARTUP_FILE_GROUP: &str = "!STARTUP_FILE!";

/// Whether this process runs as root (effective uid 0): only then are apps switched
/// to other users.
pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// The uid of the user `name` (a name, or a number that has an account), `None` if
/// there is no such user.
pub fn lookup_user(name: &str) -> Result<Option<u32>, UserError> {
    Ok(user_by_name(name)?.map(|u| u.uid.as_raw()))
}

/// The gid of the group `name` (a name, or a number that has a group entry), `None`
/// if there is no such group.
pub fn lookup_group(name: &str) -> Result<Option<u32>, UserError> {
    Ok(group_by_name(name)?.map(|g| g.gid.as_raw()))
}

/// Who apps run as when the server is root: the app's own `user`/`group`, and the
/// server-wide switch and defaults.
#[derive(Debug, Clone, Copy)]
pub struct RunAsRules<'a> {
    /// The app's `user`, if configured.
    pub user: Option<&'a str>,
    /// The app's `group`, if configured ([`STARTUP_FILE_GROUP`] allowed).
    pub group: Option<&'a str>,
    /// The startup file, or the app root for generic apps.
    pub reference: &'a Path,
    /// `default_user`.
    pub default_user: &'a str,
    /// `default_group`; `None` = the default user's primary group.
    pub default_group: Option<&'a str>,
    /// `user_switching`.
    pub user_switching: bool,
}

/// Decides who a process of an app runs as (the user switching guide's rules, as
/// Passenger's `prepareUserSwitching` applies them):
///
/// - Not root (and no spawn helper): the server's own identity, no switch.
/// - Root, user switching off: `default_user` and `default_group`.
/// - Root, user switching on: `user` if configured, else the owner of `reference`
///   (`lstat`: a symlink's own owner); if that owner is root or has no account,
///   `default_user`. The group: `group` if configured (`!STARTUP_FILE!`: the group of
///   `reference`), else the user's primary group, or `default_group` when the user is
///   the default one. A derived gid 0 becomes `default_group`.
///
/// Only an explicitly configured `user`, `group` or default names root; owners and
/// primary groups never make an app root.
pub fn resolve_run_as(rules: RunAsRules<'_>) -> Result<RunAs, UserError> {
    // A core that dropped root still switches, through its spawn helper.
    if !Uid::effective().is_root() && super::helper::client().is_none() {
        return Ok(own_identity());
    }
    let (user, gid) = if rules.user_switching {
        switched_user_and_group(&rules)?
    } else {
        let user = default_user(&rules)?;
        let gid = default_gid(&rules, &user)?;
        (user, gid)
    };
    switch_to(user, gid)
}

/// The core's own user and group: no switch.
fn own_identity() -> RunAs {
    let euid = Uid::effective();
    let gid = Gid::effective().as_raw();
    let user_name = match User::from_uid(euid) {
        Ok(Some(u)) => u.name,
        _ => euid.to_string(),
    };
    RunAs {
        user_name,
        uid: euid.as_raw(),
        group_name: group_name(gid),
        gid,
        switch: None,
    }
}

/// The `default_user` account.
fn default_user(rules: &RunAsRules<'_>) -> Result<User, UserError> {
    user_by_name(rules.default_user)?
        .ok_or_else(|| UserError::NoSuchUser(rules.default_user.to_string()))
}

/// `default_group`, else the primary group of `user`.
fn default_gid(rules: &RunAsRules<'_>, user: &User) -> Result<Gid, UserError> {
    match rules.default_group {
        Some(name) => Ok(group_by_name(name)?
            .ok_or_else(|| UserError::NoSuchGroup(name.to_string()))?
            .gid),
        None => Ok(user.gid),
    }
}

/// `lstat` of the reference file (its owner and group).
fn reference_meta(rules: &RunAsRules<'_>) -> Result<std::fs::Metadata, UserError> {
    std::fs::symlink_metadata(rules.reference).map_err(|source| UserError::Lookup {
        what: format!("owner of {}", rules.reference.display()),
        source,
    })
}

/// User switching on: the user and group by the rules above.
fn switched_user_and_group(rules: &RunAsRules<'_>) -> Result<(User, Gid), UserError> {
    // (user, whether it is the default user, whether it was named explicitly)
    let (user, is_default, explicit) = match rules.user {
        Some(name) => (
            user_by_name(name)?.ok_or_else(|| UserError::NoSuchUser(name.to_string()))?,
            false,
            true,
        ),
        None => {
            let uid = reference_meta(rules)?.uid();
            match User::from_uid(Uid::from_raw(uid)).map_err(lookup_err(format!("uid {uid}")))? {
                Some(owner) if !owner.uid.is_root() => (owner, false, false),
                _ => (default_user(rules)?, true, false),
            }
        }
    };
    let gid = match rules.group {
        Some(STARTUP_FILE_GROUP) => Gid::from_raw(reference_meta(rules)?.gid()),
        Some(name) => {
            group_by_name(name)?
                .ok_or_else(|| UserError::NoSuchGroup(name.to_string()))?
                .gid
        }
        None if is_default => default_gid(rules, &user)?,
        None => user.gid,
    };
    let explicit_root_group =
        rules.group.is_some_and(|g| g != STARTUP_FILE_GROUP) || (explicit && user.uid.is_root());
    let gid = if gid.as_raw() == 0 && !explicit_root_group {
        default_gid(rules, &default_user(rules)?)?
    } else {
        gid
    };
    Ok((user, gid))
}

/// Running as `user` with primary group `gid`: its supplementary groups, home and
/// shell.
fn switch_to(user: User, gid: Gid) -> Result<RunAs, UserError> {
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

/// Makes this process run as `user` (its primary group, and its supplementary groups)
/// for good: real, effective and saved ids. What a core does after binding its sockets
/// when `core_user` is set.
pub fn drop_privileges(user: &str) -> Result<RunAs, UserError> {
    let account = user_by_name(user)?.ok_or_else(|| UserError::NoSuchUser(user.to_string()))?;
    let cname = CString::new(account.name.clone()).map_err(|e| UserError::Lookup {
        what: format!("user name '{}'", account.name),
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    let groups = nix::unistd::getgrouplist(&cname, account.gid)
        .map_err(lookup_err(format!("groups of '{}'", account.name)))?;
    let failed = |what: &str| {
        let what = format!("{what} for '{}'", account.name);
        lookup_err(what)
    };
    nix::unistd::setgroups(&groups).map_err(failed("setgroups"))?;
    nix::unistd::setgid(account.gid).map_err(failed("setgid"))?;
    nix::unistd::setuid(account.uid).map_err(failed("setuid"))?;
    Ok(RunAs {
        user_name: account.name.clone(),
        uid: account.uid.as_raw(),
        group_name: group_name(account.gid.as_raw()),
        gid: account.gid.as_raw(),
        switch: None,
    })
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub fn signal_group(pgid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    if let Some(helper) = super::helper::client() {
        // The core dropped root: only the helper may signal apps of other users.
        helper.signal(pgid, signal as i32);
        return;
    }
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
    stdin: Option<std::os::fd::OwnedFd>,
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
    pub fn new(pgid: u32, stdin: Option<std::os::fd::OwnedFd>) -> GroupControl {
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
