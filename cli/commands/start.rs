//! `passenger start`: run the server in the foreground or as a daemon.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use passenger_core::config::{ListenAddr, ServerConfig};
use passenger_core::server::{Server, ServerHooks};

use crate::daemon::{self, Forked, ReadyPipe};
use crate::exit;
use crate::logging::{self, LogSink};
use crate::start_args::StartArgs;

const RULE: &str =
    "===============================================================================";

/// Runs `passenger start`.
pub fn run(args: &StartArgs) -> Result<i32> {
    let opts = args.to_options();
    let config = passenger_core::config::load(&opts).map_err(|e| anyhow!("{e}"))?;
    let base_dir = base_dir(&config)?;
    let label = port_label(&config);

    if config.daemonize {
        let log_file = config
            .log_file
            .clone()
            .unwrap_or_else(|| base_dir.join(format!("passenger.{label}.log")));
        let pid_file = config
            .pid_file
            .clone()
            .unwrap_or_else(|| base_dir.join(format!("passenger.{label}.pid")));
        match daemon::daemonize(&log_file)? {
            Forked::Parent(Ok(addrs)) => {
                print_banner(&config, Some(&pid_file), Some(&log_file), &addrs, true);
                Ok(exit::OK)
            }
            Forked::Parent(Err(err)) => Err(err),
            Forked::Child(pipe) => {
                // stderr is the log file now; reopening means reopening it by name.
                let sink = LogSink::file(&log_file)
                    .with_context(|| format!("cannot open log file {}", log_file.display()))?;
                let hooks = logging::install(config.log_level, sink);
                let banner = Banner {
                    pid_file: Some(pid_file),
                    log_file: Some(log_file),
                };
                serve(config, banner, hooks, Some(pipe))
            }
        }
    } else {
        let sink = match &config.log_file {
            Some(path) => LogSink::file(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?,
            None => LogSink::stderr(),
        };
        let hooks = logging::install(config.log_level, sink);
        let banner = Banner {
            pid_file: config.pid_file.clone(),
            log_file: config.log_file.clone(),
        };
        serve(config, banner, hooks, None)
    }
}

struct Banner {
    pid_file: Option<PathBuf>,
    log_file: Option<PathBuf>,
}

fn serve(
    config: ServerConfig,
    banner: Banner,
    hooks: ServerHooks,
    mut pipe: Option<ReadyPipe>,
) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let server = match Server::bind(config.clone(), hooks).await {
            Ok(server) => server,
            Err(err) => {
                let msg = format!("{:#}", anyhow::Error::new(err));
                if let Some(pipe) = pipe.as_mut() {
                    pipe.failed(&msg);
                }
                return Err(anyhow!(msg));
            }
        };
        if let Some(pid_file) = &banner.pid_file {
            if let Err(err) = std::fs::write(pid_file, format!("{}\n", std::process::id())) {
                let msg = format!("cannot write PID file {}: {err}", pid_file.display());
                if let Some(pipe) = pipe.as_mut() {
                    pipe.failed(&msg);
                }
                return Err(anyhow!(msg));
            }
        }
        let addrs = describe_addrs(&server.local_addrs());
        match pipe.as_mut() {
            Some(pipe) => pipe.ready(&addrs),
            None => print_banner(
                &config,
                banner.pid_file.as_deref(),
                banner.log_file.as_deref(),
                &addrs,
                false,
            ),
        }
        server.run().await.map_err(anyhow::Error::new)
    });
    if let Some(pid_file) = &banner.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    // Dropping the runtime waits for blocking tasks; app processes are already gone.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result.map(|()| exit::OK)
}

/// The directory holding default PID and log files: the app dir, or the config
/// file's directory.
fn base_dir(config: &ServerConfig) -> Result<PathBuf> {
    if let Some(file) = &config.config_file {
        if let Some(dir) = file.parent() {
            return Ok(dir.to_path_buf());
        }
    }
    if let (false, Some(app)) = (config.multi_app, config.apps.first()) {
        return Ok(app.app_root.clone());
    }
    std::env::current_dir().context("cannot read the current directory")
}

fn port_label(config: &ServerConfig) -> String {
    config
        .listen
        .iter()
        .find_map(|l| match l {
            ListenAddr::Tcp(addr) => Some(addr.port().to_string()),
            ListenAddr::Unix(_) => None,
        })
        .unwrap_or_else(|| "socket".to_string())
}

fn describe_addrs(addrs: &[ListenAddr]) -> String {
    addrs
        .iter()
        .map(|a| match a {
            ListenAddr::Tcp(addr) => format!("http://{addr}/"),
            ListenAddr::Unix(path) => format!("unix:{}", path.display()),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_banner(
    config: &ServerConfig,
    pid_file: Option<&Path>,
    log_file: Option<&Path>,
    addrs: &str,
    daemonized: bool,
) {
    let environment = config
        .apps
        .first()
        .map(|a| a.environment.as_str())
        .unwrap_or("development");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "=============== passenger-rs web server started ==============================="
    );
    if let Some(p) = pid_file {
        let _ = writeln!(out, "PID file: {}", p.display());
    }
    let _ = writeln!(
        out,
        "Log file: {}",
        log_file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(standard error)".into())
    );
    let _ = writeln!(out, "Environment: {environment}");
    for addr in addrs.split(' ') {
        let _ = writeln!(out, "Accessible via: {addr}");
    }
    let _ = writeln!(out);
    if daemonized {
        let _ = writeln!(out, "Serving in the background as a daemon.");
    } else {
        let _ = writeln!(out, "You can stop passenger-rs by pressing Ctrl-C.");
    }
    let _ = writeln!(out, "{RULE}");
    let _ = out.flush();
}
