//! The `passenger` multicall binary: the only crate that parses arguments, prints,
//! and chooses exit codes. Everything else lives in `passenger-core`.

mod commands;
mod daemon;
mod exit;
mod logging;
mod memory_stats;
mod start_args;
mod watchdog;

use clap::{Parser, Subcommand};

/// passenger-rs: run Ruby, Python, Node and any other web app behind one app server.
#[derive(Parser, Debug)]
#[command(name = "passenger", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the app server for one app (APP_DIR) or several (--config).
    Start(Box<start_args::StartArgs>),
    /// Stop a running server gracefully.
    Stop(commands::stop::StopArgs),
    /// Internal: the core process run by the watchdog.
    #[command(name = "__core", hide = true)]
    Core(Box<start_args::StartArgs>),
    /// Show memory usage of Apache, Nginx and passenger-rs processes.
    MemoryStats(memory_stats::MemoryStatsArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Start(args) => commands::start::run(args),
        Command::Stop(args) => commands::stop::run(args),
        Command::Core(args) => commands::start::run_core(args),
        Command::MemoryStats(args) => memory_stats::run(
            args,
            passenger_core::metrics::InstanceRoots {
                core_pids: Vec::new(),
            },
        ),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("passenger: {err:#}");
            exit::FAILURE
        }
    };
    std::process::exit(code);
}
