//! Starting app processes: the [`Spawner`] trait and its implementations.
//!
//! Owns: turning an [`AppSpec`](crate::app::AppSpec) into a running, ready OS process
//! (environment, working directory, process group, user switching, readiness check,
//! capture of the app's stdout/stderr into the log) and the [`ProcessControl`] used to
//! stop it. It does not decide *when* to spawn or stop: that is the pool's job, and the
//! pool's vocabulary ([`Gupid`](crate::pool::Gupid),
//! [`ProcessAddress`](crate::pool::ProcessAddress)) comes from the pool.
//!
//! Every process started here is the leader of its own process group, is killed by
//! the kernel if the core dies (`PR_SET_PDEATHSIG`), and is reaped by a task that
//! reports its exit through [`SpawnedProcess::exited`]. The exception is smart
//! spawning ([`smart`]): workers forked by an app's preloader lead their own group too,
//! but exit on stdin EOF when the core dies and are watched through a pidfd.
//!
//! Who calls whom, one way only: [`SpawnerFactory`] picks [`direct`] or [`smart`]; both
//! start processes with the steps of [`journey`] (smart spawning for its preloaders),
//! which builds a [`plan`], switches users with [`unix`] (or the spawn [`helper`]),
//! waits with [`readiness`] and logs with [`output`].

mod apps_dir;
pub mod direct;
mod error;
pub mod factory;
pub mod helper;
pub mod identity;
pub mod journey;
mod options;
pub mod output;
pub mod plan;
pub mod readiness;
pub mod smart;
mod spawner;
pub mod unix;

#[cfg(any(test, feature = "test-support"))]
pub mod fake;

pub use apps_dir::MAX_SOCKET_PATH;
pub use error::{redact_secrets, SpawnError, SpawnStep};
pub use factory::SpawnerFactory;
pub use options::SpawnerOptions;
pub use spawner::{ExitInfo, ProcessControl, SpawnedProcess, Spawner};
