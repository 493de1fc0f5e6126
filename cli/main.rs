//! The `passenger` multicall binary: the only crate that parses arguments, prints,
//! and chooses exit codes. Everything else lives in `passenger-core`.
//!
//! Run as `passenger-status`, `passenger-memory-stats`, `passenger-config` or
//! `passenger-install-apache2-module` (links made by `passenger install-links`), it
//! behaves as the matching subcommand; see `applet`.

mod api_client;
mod applet;
mod commands;
mod daemon;
mod exit;
mod logging;
mod memory_stats;
mod output;
mod resources;
mod start_args;
mod watchdog;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// passenger-rs: run Ruby, Python, Node and any other web app behind one app server.
#[derive(Parser, Debug)]
#[command(name = "passenger", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The signal table shown by `passenger start --help` and its man page.
const START_SIGNALS: &str = "\
Signals (send them to the PID in the PID file, the watchdog):
  SIGTERM, SIGINT  Graceful stop: stop accepting, let in-flight requests finish
                   (up to the shutdown timeout), stop the apps (SIGTERM, then
                   SIGKILL after 10 s). A second signal stops at once.
                   Ctrl-C and `systemctl stop` signal the whole process
                   group; the core's two copies count as one.
  SIGQUIT          Immediate stop: stop the apps without draining requests.
  SIGUSR1          Reopen the log file (after logrotate moved it).
  SIGHUP           Reload the configuration file: added apps start at once,
                   removed apps stop once their requests finish,
                   changed apps are restarted rolling.
  SIGUSR2          Upgrade the core: start a new core from the passenger
                   binary on disk on the same sockets; once it serves, the old
                   core drains its requests and exits. No connection is refused.

Inherited sockets: under start_server (SERVER_STARTER_PORT) or systemd socket
activation (LISTEN_FDS) the server serves those sockets instead of binding, and
reports READY=1 / STOPPING=1 to NOTIFY_SOCKET.

If the core crashes, the watchdog starts a new one on the same sockets within a
second. If the watchdog is killed, the core and every app process exit.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the app server for one app (APP_DIR) or several (--config).
    #[command(after_long_help = START_SIGNALS)]
    Start(Box<start_args::StartArgs>),
    /// Stop a running server gracefully.
    Stop(commands::stop::StopArgs),
    /// Server::Starter-compatible superdaemon for hot deploys (also: start_server).
    #[command(
        disable_version_flag = true,
        infer_long_args = true,
        after_long_help = commands::start_server::AFTER_HELP,
        override_usage = "start_server [OPTIONS] -- SERVER_PROGRAM [ARGS]..."
    )]
    StartServer(commands::start_server::StartServerArgs),
    /// Internal: the core process run by the watchdog.
    #[command(name = "__core", hide = true)]
    Core(Box<start_args::StartArgs>),
    /// Show the status of a running instance (also: passenger-status).
    Status(commands::status::StatusArgs),
    /// Show memory usage of Apache, Nginx and passenger-rs processes (also: passenger-memory-stats).
    MemoryStats(memory_stats::MemoryStatsArgs),
    /// Manage, control and inspect an instance or this installation (also: passenger-config).
    Config(commands::config::ConfigArgs),
    /// Build and install the Apache module (mod_passenger) and print the configuration
    /// that loads it (also: passenger-install-apache2-module).
    ///
    /// Checks for a C compiler, apxs, Apache 2.4 or newer with the event, worker or
    /// prefork MPM, Apache's and APR's headers, and the chosen languages (a missing
    /// one prints the command that installs it, and nothing is compiled); then
    /// compiles a test program, builds the module with apxs for this passenger
    /// binary, installs it into the module directory and prints the lines for
    /// Apache's configuration. On a Debian-style layout it offers to write
    /// mods-available/passenger.load and .conf and run a2enmod, then runs
    /// `apachectl configtest` and `passenger-config validate-install --validate-apache2`.
    #[command(after_long_help = commands::install_apache2_module::AFTER_HELP)]
    InstallApache2Module(commands::install_apache2_module::InstallApache2ModuleArgs),
    /// Create the passenger-status, passenger-config, ... links to this binary in DIR.
    InstallLinks(commands::install_links::InstallLinksArgs),
    /// Write shell completions and man pages (for packaging and the docs test).
    #[command(hide = true)]
    GenerateDocs(commands::gen_docs::GenerateDocsArgs),
}

/// Parses the command line for the name the binary was run under.
fn parse(inv: &applet::Invocation) -> Command {
    let mut cmd = applet::command_for(Cli::command(), inv);
    let matches = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .unwrap_or_else(|err| {
            // Every tool prints the same version line, whatever name it runs under.
            if err.kind() == clap::error::ErrorKind::DisplayVersion {
                let _ = output::print(&format!("{}\n", output::version_line()));
                std::process::exit(exit::OK);
            }
            usage_exit(err, inv)
        });
    let parsed = match inv.subcommand {
        None => Cli::from_arg_matches(&matches).map(|c| c.command),
        Some("status") => {
            commands::status::StatusArgs::from_arg_matches(&matches).map(Command::Status)
        }
        Some("memory-stats") => {
            memory_stats::MemoryStatsArgs::from_arg_matches(&matches).map(Command::MemoryStats)
        }
        Some("config") => {
            commands::config::ConfigArgs::from_arg_matches(&matches).map(Command::Config)
        }
        Some("start-server") => commands::start_server::StartServerArgs::from_arg_matches(&matches)
            .map(Command::StartServer),
        Some(_) => {
            commands::install_apache2_module::InstallApache2ModuleArgs::from_arg_matches(&matches)
                .map(Command::InstallApache2Module)
        }
    };
    parsed.unwrap_or_else(|err| err.format(&mut cmd).exit())
}

/// Exits on a command-line error: clap's message and code, except that
/// `start_server` and `passenger-install-apache2-module` keep the originals' exit
/// code 1 for bad options.
fn usage_exit(err: clap::Error, inv: &applet::Invocation) -> ! {
    use clap::error::ErrorKind;
    let named = |sub: &str| {
        inv.subcommand == Some(sub)
            || std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new(sub))
    };
    let starter = named("start-server") || named("install-apache2-module");
    if starter
        && !matches!(
            err.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        )
    {
        let _ = err.print();
        std::process::exit(exit::FAILURE);
    }
    err.exit()
}

/// The core and watchdog PIDs of the live instances, for memory-stats' Passenger section.
fn instance_roots() -> passenger_core::metrics::InstanceRoots {
    let scan =
        passenger_core::instance::list_instances(&passenger_core::instance::registry_search_dirs());
    passenger_core::metrics::InstanceRoots {
        core_pids: scan
            .instances
            .iter()
            .map(|i| i.core_pid.unwrap_or(i.watchdog_pid))
            .collect(),
        watchdog_pids: scan
            .instances
            .iter()
            .filter(|i| i.core_pid.is_some_and(|core| core != i.watchdog_pid))
            .map(|i| i.watchdog_pid)
            .collect(),
    }
}

fn main() {
    // The lean watchdog (`passenger start` re-executes itself into it) skips argument
    // parsing entirely, so that the long-lived process stays small.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__watchdog")) {
        std::process::exit(watchdog::lean_main());
    }
    // The spawn helper of a core that dropped root: a fresh image serving one fd.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__spawn-helper")) {
        std::process::exit(passenger_core::spawn::helper::serve());
    }
    let argv0 = std::env::args_os().next();
    let inv = applet::classify(argv0.as_ref());
    let command = parse(&inv);
    let result = match &command {
        Command::Start(args) => commands::start::run(args),
        Command::Stop(args) => commands::stop::run(args),
        Command::StartServer(args) => commands::start_server::run(args),
        Command::Core(args) => commands::start::run_core(args),
        Command::Status(args) => commands::status::run(args, &inv),
        Command::MemoryStats(args) => memory_stats::run(args, instance_roots()),
        Command::Config(args) => commands::config::run(args, &inv),
        Command::InstallApache2Module(args) => commands::install_apache2_module::run(args),
        Command::InstallLinks(args) => commands::install_links::run(args),
        Command::GenerateDocs(args) => commands::gen_docs::run(args, Cli::command()),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => match err.downcast_ref::<exit::Exit>() {
            Some(e) if e.on_stdout => {
                let _ = output::print(&output::with_newline(&e.message));
                e.code
            }
            Some(e) => {
                eprint!("{}", output::with_newline(&e.message));
                e.code
            }
            None => {
                eprintln!("{}: {err:#}", inv.bin_name);
                exit::FAILURE
            }
        },
    };
    std::process::exit(code);
}
