//! The `passenger-config` command line and its dispatch to the subcommands.

use super::{
    about, api_call, detach_process, list_instances, reopen_logs, restart_app, system_metrics,
    upgrade_core, validate_install,
};

use clap::Subcommand;

use crate::applet::Invocation;
use crate::exit;
use crate::output;

/// Tool for managing, controlling and configuring a passenger-rs instance or installation.
#[derive(clap::Args, Debug, Clone)]
#[command(disable_version_flag = true, arg_required_else_help = true)]
pub struct ConfigArgs {
    /// Print the directory holding this installation's resources (loaders, man pages).
    #[arg(long, exclusive = true)]
    pub root: bool,
    /// Print the version number.
    #[arg(short = 'V', long, exclusive = true)]
    pub version: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
}

/// `passenger-config` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// Detach an application process from the process pool.
    DetachProcess(detach_process::DetachProcessArgs),
    /// Restart an application.
    RestartApp(restart_app::RestartAppArgs),
    /// Instruct passenger-rs to reopen its log file.
    ReopenLogs(reopen_logs::ReopenLogsArgs),
    /// Make an API call to a passenger-rs instance.
    ApiCall(api_call::ApiCallArgs),
    /// List running passenger-rs instances.
    ListInstances(list_instances::ListInstancesArgs),
    /// Show information about this passenger-rs installation.
    About(about::AboutArgs),
    /// Validate this passenger-rs installation.
    ValidateInstall(validate_install::ValidateInstallArgs),
    /// Display system metrics (CPU, memory).
    SystemMetrics(system_metrics::SystemMetricsArgs),
    /// Replace the core with one from the passenger binary on disk, on the same
    /// sockets, without refusing a connection (same as SIGUSR2 to the watchdog).
    UpgradeCore(upgrade_core::UpgradeCoreArgs),
}

/// Runs `passenger-config`.
pub fn run(args: &ConfigArgs, inv: &Invocation) -> anyhow::Result<i32> {
    if args.root {
        output::print(&format!(
            "{}\n",
            crate::resources::root_or_default().display()
        ))?;
        return Ok(exit::OK);
    }
    if args.version {
        output::print(&format!("{}\n", output::version_line()))?;
        return Ok(exit::OK);
    }
    let Some(command) = &args.command else {
        // arg_required_else_help covers the empty command line; flags alone land here.
        return Ok(exit::OK);
    };
    match command {
        ConfigCommand::DetachProcess(a) => detach_process::run(a, inv),
        ConfigCommand::RestartApp(a) => restart_app::run(a, inv),
        ConfigCommand::ReopenLogs(a) => reopen_logs::run(a, inv),
        ConfigCommand::ApiCall(a) => api_call::run(a, inv),
        ConfigCommand::ListInstances(a) => list_instances::run(a),
        ConfigCommand::About(a) => about::run(a),
        ConfigCommand::ValidateInstall(a) => validate_install::run(a),
        ConfigCommand::SystemMetrics(a) => system_metrics::run(a),
        ConfigCommand::UpgradeCore(a) => upgrade_core::run(a, inv),
    }
}

/// `--instance NAME`, shared by the subcommands that talk to an instance.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct InstanceArg {
    /// The passenger-rs instance to select: its name or a unique prefix.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}
