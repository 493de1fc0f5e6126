//! Real Unix accounts for the user switching tests, and what `/proc` says a process runs as.
//!
//! The accounts have fixed names and are created with `groupadd`/`useradd` when missing (tests run
//! as root in CI, on a fresh machine); creating them is idempotent and serialised across the test
//! processes by a lock file, so parallel tests never race `useradd`.

use std::collections::HashMap;
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Group, User};

/// Owns app files in the tests; a member of [`EXTRA_GROUP`]; shell `/bin/sh`.
pub const APP_USER: &str = "prs-app1";
/// A second account; shell `/bin/bash`; no supplementary groups.
pub const OTHER_USER: &str = "prs-app2";
/// A supplementary group of [`APP_USER`].
pub const EXTRA_GROUP: &str = "prs-extra";

/// One account as the user database has it.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Whether the tests run as root (then apps are switched to other users).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The account `name`; panics if it does not exist.
pub fn account(name: &str) -> Account {
    let user = User::from_name(name)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no user {name}"));
    Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        home: user.dir.to_string_lossy().into_owned(),
        shell: user.shell.to_string_lossy().into_owned(),
    }
}

/// The gid of group `name`; panics if it does not exist.
pub fn group_gid(name: &str) -> u32 {
    Group::from_name(name)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no group {name}"))
        .gid
        .as_raw()
}

/// Creates [`APP_USER`], [`OTHER_USER`] and [`EXTRA_GROUP`] if missing (root only) and returns the
/// two accounts.
pub fn test_users() -> (Account, Account) {
    assert!(is_root(), "creating test users needs root");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/passenger-rs-test-users.lock")
        .expect("open the test users lock file");
    let _lock = Flock::lock(lock, FlockArg::LockExclusive).expect("lock the test users lock file");
    if Group::from_name(EXTRA_GROUP).ok().flatten().is_none() {
        run("groupadd", &[EXTRA_GROUP]);
    }
    let accounts = [
        (APP_USER, "/bin/sh", Some(EXTRA_GROUP)),
        (OTHER_USER, "/bin/bash", None),
    ];
    for (name, shell, extra) in accounts {
        let home = format!("/home/{name}");
        if User::from_name(name).ok().flatten().is_none() {
            let mut args = vec!["-M", "-d", &home, "-s", shell, "-U"];
            if let Some(group) = extra {
                args.extend_from_slice(&["-G", group]);
            }
            args.push(name);
            assert!(run("useradd", &args), "useradd {args:?} failed");
        }
        if let Some(group) = extra {
            if !supplementary_groups(name).contains(&group.to_string()) {
                assert!(run("usermod", &["-a", "-G", group, name]), "usermod failed");
            }
        }
    }
    (account(APP_USER), account(OTHER_USER))
}

fn supplementary_groups(name: &str) -> Vec<String> {
    Command::new("id")
        .args(["-nG", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Who a process runs as, from `/proc/<pid>/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcIds {
    /// Real, effective, saved and file-system uid.
    pub uids: [u32; 4],
    /// Real, effective, saved and file-system gid.
    pub gids: [u32; 4],
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Parent pid.
    pub ppid: i32,
}

/// Reads [`ProcIds`] of `pid`.
pub fn proc_ids(pid: i32) -> ProcIds {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .split_whitespace()
            .map(|v| v.parse().expect("a number"))
            .collect()
    };
    let four = |v: Vec<u32>| -> [u32; 4] { v.try_into().expect("four ids") };
    ProcIds {
        uids: four(field("Uid")),
        gids: four(field("Gid")),
        groups: field("Groups"),
        ppid: field("PPid")[0] as i32,
    }
}

/// The environment of `pid`, from `/proc/<pid>/environ`.
pub fn proc_env(pid: i32) -> HashMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/environ: {e}"));
    raw.split(|b| *b == 0)
        .filter_map(|var| {
            let var = String::from_utf8_lossy(var);
            let (k, v) = var.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// `chown -R user:group path` (names or numbers).
pub fn chown_r(path: &std::path::Path, owner: &str) {
    assert!(
        run("chown", &["-R", owner, &path.to_string_lossy()]),
        "chown -R {owner} {} failed",
        path.display()
    );
}
