//! The restart-file check, Passenger's `needsRestart`: a group restarts when its
//! `restart.txt` gets a new mtime (looked at most once per `stat_throttle_rate`), and
//! before every request while `always_restart.txt` exists.
//!
//! Owns the per-group record of what the files looked like, the throttle, and the
//! checkouts that wait for a check in flight (so the first request after a touch is
//! served by a new process, as in Passenger). The files are read by [`observe`], which
//! the actor runs on a blocking thread: the actor task itself never touches the file
//! system. It restarts nothing itself; it tells the actor whether to.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Instant, SystemTime};

use crate::app::AppSpec;

/// What the restart files of one app looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// `restart.txt`'s mtime; `None` when it does not exist.
    pub restart_mtime: Option<SystemTime>,
    /// Whether `always_restart.txt` exists.
    pub always_exists: bool,
}

/// Reads the restart files under `restart_dir`. Blocking: call it off the actor task.
pub fn observe(restart_dir: &Path) -> Seen {
    let restart_mtime = std::fs::metadata(restart_dir.join("restart.txt"))
        .and_then(|m| m.modified())
        .ok();
    Seen {
        restart_mtime,
        always_exists: restart_dir.join("always_restart.txt").exists(),
    }
}

/// What to do with a checkout, from [`RestartFiles::checkout`].
#[derive(Debug, PartialEq, Eq)]
pub enum Gate<T> {
    /// No check is due or in flight: the checkout goes on now.
    Pass(T),
    /// The checkout waits for a check; `start_check`: none is in flight yet, so the
    /// caller must start one ([`observe`]) and report it with
    /// [`RestartFiles::observed`].
    Wait {
        /// Whether the caller must start the check.
        start_check: bool,
    },
}

/// One group's record.
#[derive(Debug)]
struct Watch<T> {
    /// The files as the last check saw them; `None` before the first.
    seen: Option<Seen>,
    /// When the last check started.
    last_check: Option<Instant>,
    in_flight: bool,
    /// Checkouts waiting for the check in flight, oldest first.
    parked: Vec<T>,
}

impl<T> Default for Watch<T> {
    fn default() -> Self {
        Watch {
            seen: None,
            last_check: None,
            in_flight: false,
            parked: Vec::new(),
        }
    }
}

/// Every group's restart-file record; `T` is a waiting checkout.
#[derive(Debug)]
pub struct RestartFiles<T> {
    groups: HashMap<String, Watch<T>>,
}

impl<T> Default for RestartFiles<T> {
    fn default() -> Self {
        RestartFiles {
            groups: HashMap::new(),
        }
    }
}

impl<T> RestartFiles<T> {
    /// A checkout of `app`: it waits while a check is in flight for its group, or when
    /// one is due (no check yet, `stat_throttle_rate` has passed since the last, or
    /// `always_restart.txt` existed then).
    pub fn checkout(&mut self, app: &AppSpec, checkout: T, now: Instant) -> Gate<T> {
        let watch = self.groups.entry(app.name.clone()).or_default();
        if watch.in_flight {
            watch.parked.push(checkout);
            return Gate::Wait { start_check: false };
        }
        let due = match (&watch.seen, watch.last_check) {
            (Some(seen), Some(last)) => {
                seen.always_exists || now.saturating_duration_since(last) >= app.stat_throttle_rate
            }
            _ => true,
        };
        if !due {
            return Gate::Pass(checkout);
        }
        watch.in_flight = true;
        watch.last_check = Some(now);
        watch.parked.push(checkout);
        Gate::Wait { start_check: true }
    }

    /// Whether the caller should record the files as they are now (an app's first
    /// process is started before any request), so that touching them later counts.
    /// True at most once per group; the result goes to [`RestartFiles::observed`].
    pub fn baseline(&mut self, app: &AppSpec, now: Instant) -> bool {
        let watch = self.groups.entry(app.name.clone()).or_default();
        if watch.seen.is_some() || watch.in_flight {
            return false;
        }
        watch.in_flight = true;
        watch.last_check = Some(now);
        true
    }

    /// The check of `group` ended with `seen` (`None`: the files could not be read,
    /// the record stays as it was). Returns whether the group must restart now, and
    /// the checkouts that waited, to go on in their order. The first check of a group
    /// only records: a restart.txt present at start is no restart. Deleting
    /// restart.txt is no restart either; touching it again later is.
    pub fn observed(&mut self, group: &str, seen: Option<Seen>) -> (bool, Vec<T>) {
        let Some(watch) = self.groups.get_mut(group) else {
            return (false, Vec::new());
        };
        watch.in_flight = false;
        let parked = std::mem::take(&mut watch.parked);
        let Some(seen) = seen else {
            return (false, parked);
        };
        let restart = match watch.seen {
            None => false,
            Some(before) => {
                let touched =
                    seen.restart_mtime.is_some() && seen.restart_mtime != before.restart_mtime;
                touched || seen.always_exists
            }
        };
        watch.seen = Some(seen);
        (restart, parked)
    }

    /// Takes a waiting checkout back (its client left): the first `matches` finds.
    pub fn cancel(&mut self, mut matches: impl FnMut(&T) -> bool) -> Option<T> {
        self.groups.values_mut().find_map(|watch| {
            let at = watch.parked.iter().position(&mut matches)?;
            Some(watch.parked.remove(at))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::app::AppType;

    fn app(throttle: Duration) -> AppSpec {
        let mut spec = AppSpec::new(
            "a",
            PathBuf::from("/nonexistent/a"),
            AppType::Generic {
                start_command: "true".into(),
            },
        );
        spec.stat_throttle_rate = throttle;
        spec
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn seen(mtime: Option<u64>, always: bool) -> Option<Seen> {
        Some(Seen {
            restart_mtime: mtime.map(at),
            always_exists: always,
        })
    }

    #[test]
    fn checkouts_wait_for_the_check_in_flight_then_go_in_order() {
        let a = app(Duration::from_secs(10));
        let mut files = RestartFiles::default();
        let t0 = Instant::now();
        assert_eq!(files.checkout(&a, 1, t0), Gate::Wait { start_check: true });
        assert_eq!(
            files.checkout(&a, 2, t0),
            Gate::Wait { start_check: false },
            "one check at a time"
        );
        assert_eq!(
            files.observed("a", seen(Some(5), false)),
            (false, vec![1, 2]),
            "the first check only records"
        );
        assert_eq!(
            files.checkout(&a, 3, t0 + Duration::from_secs(9)),
            Gate::Pass(3)
        );
        let t10 = t0 + Duration::from_secs(10);
        assert_eq!(files.checkout(&a, 4, t10), Gate::Wait { start_check: true });
        assert_eq!(files.observed("a", seen(Some(5), false)), (false, vec![4]));
        assert_eq!(
            files.checkout(&a, 5, t10 + Duration::from_secs(10)),
            Gate::Wait { start_check: true }
        );
        assert_eq!(
            files.observed("a", seen(Some(6), false)),
            (true, vec![5]),
            "a new mtime restarts"
        );
    }

    #[test]
    fn deletion_is_no_restart_and_always_restart_checks_every_time() {
        let a = app(Duration::from_secs(10));
        let mut files = RestartFiles::default();
        let t0 = Instant::now();
        assert!(files.baseline(&a, t0));
        assert!(!files.baseline(&a, t0), "once");
        assert_eq!(files.observed("a", seen(Some(5), false)), (false, vec![]));
        let t = |s| t0 + Duration::from_secs(s);
        assert!(matches!(files.checkout(&a, 1, t(10)), Gate::Wait { .. }));
        assert_eq!(files.observed("a", seen(None, false)), (false, vec![1]));
        assert!(matches!(files.checkout(&a, 2, t(20)), Gate::Wait { .. }));
        assert_eq!(
            files.observed("a", seen(Some(5), false)),
            (true, vec![2]),
            "touched again after a deletion"
        );
        assert!(matches!(files.checkout(&a, 3, t(30)), Gate::Wait { .. }));
        assert_eq!(files.observed("a", seen(Some(5), true)), (true, vec![3]));
        assert_eq!(
            files.checkout(&a, 4, t(31)),
            Gate::Wait { start_check: true },
            "always_restart.txt: checked before every request, whatever the throttle"
        );
        assert_eq!(files.observed("a", seen(Some(5), true)), (true, vec![4]));
        assert!(matches!(files.checkout(&a, 5, t(32)), Gate::Wait { .. }));
        assert_eq!(files.observed("a", seen(Some(5), false)), (false, vec![5]));
        assert_eq!(files.checkout(&a, 6, t(33)), Gate::Pass(6));
    }

    #[test]
    fn an_unreadable_check_keeps_the_record_and_releases_the_waiters() {
        let a = app(Duration::ZERO);
        let mut files = RestartFiles::default();
        let t0 = Instant::now();
        assert!(matches!(files.checkout(&a, 1, t0), Gate::Wait { .. }));
        assert_eq!(files.observed("a", seen(Some(5), false)), (false, vec![1]));
        assert!(matches!(files.checkout(&a, 2, t0), Gate::Wait { .. }));
        assert_eq!(files.observed("a", None), (false, vec![2]));
        assert!(matches!(files.checkout(&a, 3, t0), Gate::Wait { .. }));
        assert_eq!(
            files.observed("a", seen(Some(5), false)),
            (false, vec![3]),
            "the mtime recorded before the failed check still counts"
        );
        assert_eq!(files.observed("zzz", None), (false, vec![]));
    }

    #[test]
    fn a_cancelled_checkout_leaves_the_wait() {
        let a = app(Duration::ZERO);
        let mut files = RestartFiles::default();
        let t0 = Instant::now();
        assert!(matches!(files.checkout(&a, 1, t0), Gate::Wait { .. }));
        assert!(matches!(files.checkout(&a, 2, t0), Gate::Wait { .. }));
        assert_eq!(files.cancel(|c| *c == 1), Some(1));
        assert_eq!(files.cancel(|c| *c == 1), None);
        assert_eq!(files.observed("a", seen(None, false)), (false, vec![2]));
    }

    #[test]
    fn observe_reads_both_files() {
        let dir = tempfile::tempdir().expect("invariant: temp dir");
        assert_eq!(
            observe(dir.path()),
            Seen {
                restart_mtime: None,
                always_exists: false
            }
        );
        std::fs::write(dir.path().join("restart.txt"), b"").expect("touch");
        std::fs::write(dir.path().join("always_restart.txt"), b"").expect("touch");
        let seen = observe(dir.path());
        assert!(
            seen.restart_mtime.is_some() && seen.always_exists,
            "{seen:?}"
        );
    }
}
