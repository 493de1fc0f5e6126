//! `passenger-config` / `passenger config`: manage, inspect and validate a running
//! instance or this installation. One file per subcommand.

pub mod about;
pub mod api_call;
mod command;
pub mod detach_process;
pub mod list_instances;
pub mod reopen_logs;
pub mod restart_app;
pub mod system_metrics;
pub mod upgrade_core;
pub mod validate_install;

pub use command::{run, ConfigArgs, InstanceArg};
