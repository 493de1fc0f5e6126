//! A [`PoolApi`] that adds live CPU and memory figures, process groups, command
//! lines and the user each group runs as, all from `/proc`, to pool snapshots, so
//! the pool state machine itself never reads `/proc`.

use std::sync::Mutex;

use futures_util::future::BoxFuture;

use crate::admin::PoolApi;
use crate::config::UserSwitching;
use crate::metrics::{self, CpuSampler};
use crate::pool::{GroupOptions, PoolError, PoolHandle, PoolSnapshot, RestartMethod};

/// The pool, with per-process metrics filled into snapshots.
pub struct MeteredPool {
    pool: PoolHandle,
    cpu: Mutex<CpuSampler>,
    users: UserSwitching,
}

impl MeteredPool {
    /// Wraps `pool`; `users` says who a group with no running process would run as.
    pub fn new(pool: PoolHandle, users: UserSwitching) -> MeteredPool {
        MeteredPool {
            pool,
            cpu: Mutex::new(CpuSampler::new()),
            users,
        }
    }

    fn fill(&self, snapshot: &mut PoolSnapshot) {
        let mut cpu = self.cpu.lock().unwrap_or_else(|e| e.into_inner());
        let mut live = Vec::new();
        for group in &mut snapshot.groups {
            let mut identity = None;
            for process in &mut group.processes {
                // A process that exits between the snapshot and this read simply has
                // no figures; that is not an error.
                let Ok(m) = metrics::process_metrics(process.pid) else {
                    continue;
                };
                live.push(process.pid);
                let private = m.private_dirty_kb.unwrap_or(m.rss_kb);
                process.real_memory_kb = Some(private + m.swap_kb.unwrap_or(0));
                process.cpu_percent = cpu.sample(&m).map(|pct| pct.round().max(0.0) as u32);
                process.rss_kb = Some(m.rss_kb);
                process.pss_kb = m.pss_kb;
                process.private_dirty_kb = m.private_dirty_kb;
                process.swap_kb = m.swap_kb;
                process.vmsize_kb = Some(m.vmsize_kb);
                process.process_group_id = Some(m.pgid);
                process.command = Some(m.command());
                if identity.is_none() {
                    identity = m.uid.zip(m.gid);
                }
            }
            // Without a running process, the identity a new one would get (the same
            // rules as the spawner's), else the server's own.
            let (uid, gid) = identity
                .or_else(|| self.would_run_as(&group.options))
                .unwrap_or_else(|| {
                    (
                        nix::unistd::geteuid().as_raw(),
                        nix::unistd::getegid().as_raw(),
                    )
                });
            group.user = Some(user_name(uid));
            group.uid = Some(uid);
            group.group = Some(crate::spawn::unix::group_name(gid));
            group.gid = Some(gid);
        }
        cpu.retain(&live);
    }
}

impl MeteredPool {
    /// `(uid, gid)` a new process of the group would run as.
    fn would_run_as(&self, options: &GroupOptions) -> Option<(u32, u32)> {
        let reference = match (options.app_type.as_str(), &options.startup_file) {
            ("generic", _) | (_, None) => options.app_root.clone(),
            (_, Some(file)) => std::path::PathBuf::from(file),
        };
        let run_as = crate::spawn::unix::resolve_run_as(crate::spawn::unix::RunAsRules {
            user: options.user.as_deref(),
            group: options.group.as_deref(),
            reference: &reference,
            default_user: &self.users.default_user,
            default_group: self.users.default_group.as_deref(),
            user_switching: self.users.enabled,
        })
        .ok()?;
        Some((run_as.uid, run_as.gid))
    }
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

impl PoolApi for MeteredPool {
    fn snapshot(&self) -> BoxFuture<'_, Result<PoolSnapshot, PoolError>> {
        Box::pin(async move {
            let mut snapshot = self.pool.snapshot().await?;
            self.fill(&mut snapshot);
            Ok(snapshot)
        })
    }

    fn restart_group<'a>(
        &'a self,
        name: &'a str,
        method: RestartMethod,
    ) -> BoxFuture<'a, Result<(), PoolError>> {
        Box::pin(self.pool.restart_group(name, method))
    }

    fn detach_process(&self, pid: u32) -> BoxFuture<'_, Result<bool, PoolError>> {
        Box::pin(self.pool.detach_process(pid))
    }
}
