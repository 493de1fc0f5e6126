//! `passenger start`: run the server in the foreground or as a daemon.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use passenger_core::config::{ListenAddr, ServerConfig};
use passenger_core::server::Server;

use crate::daemon::{self, Forked};
use crate::exit;
use crate::logging::{self, LogSink};
use crate::start_args::StartArgs;
use crate::watchdog::{self, Announce, WatchdogOptions};

const RULE: &str =
    "===============================================================================";

/// Runs `passenger start`: become the watchdog (after daemonizing, if asked),
/// which runs the core as its child.
pub fn run(args: &StartArgs) -> Result<i32> {
    let opts = args.to_options();
    let mut config = passenger_core::config::load(&opts).map_err(|e| anyhow!("{e}"))?;
    let base_dir = base_dir(&config)?;
    let label = port_label(&config);
    // Bound (or inherited) before daemonizing, so that the files named after the port
    // name the real one.
    let mut inherited = false;
    let bound = match inherited_listeners()? {
        Some((fds, names, addrs, source)) => {
            inherited = true;
            // A web server module always hands its core the socket: nothing to say.
            if config.web_server.is_none() {
                config.notices.push(format!(
                "serving on {} socket(s) inherited through {source}; --address, --port and --socket are not used",
                fds.len()
            ));
            }
            config.listen = addrs;
            (fds, names)
        }
        None => watchdog::bind_all(&config.listen)?,
    };
    let real_label = bound_port_label(&bound.1).unwrap_or_else(|| label.clone());
    config.pid_file = with_bound_port(config.pid_file.take(), &label, &real_label, inherited);
    config.log_file = with_bound_port(config.log_file.take(), &label, &real_label, inherited);
    let label = real_label;
    let core_args: Vec<OsString> = std::env::args_os()
        .skip_while(|a| a != "start")
        .skip(1)
        .collect();

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
                let text = banner(&config, Some(&pid_file), Some(&log_file), &addrs, true);
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                Ok(exit::OK)
            }
            Forked::Parent(Err(err)) => Err(err),
            Forked::Child(pipe) => {
                let sink = LogSink::file(&log_file)
                    .with_context(|| format!("cannot open log file {}", log_file.display()))?;
                logging::install(config.log_level, sink);
                log_notices(&config);
                let wd = WatchdogOptions {
                    core_args,
                    log_file: Some(log_file),
                    pid_file: Some(pid_file),
                };
                let mut pipe = Some(pipe);
                let result = watchdog::run(&config, &wd, bound, |addrs| {
                    match pipe.take().and_then(|p| p.into_fd()) {
                        Some(fd) => Announce::Pipe(fd, format!("ready {}\n", urls(addrs))),
                        None => Announce::Stdout(String::new()),
                    }
                });
                // Only reached when the server could not start: tell the parent why.
                if let (Err(err), Some(mut pipe)) = (&result, pipe) {
                    pipe.failed(&format!("{err:#}"));
                }
                result
            }
        }
    } else {
        let sink = match &config.log_file {
            Some(path) => LogSink::file(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?,
            None => LogSink::stderr(),
        };
        logging::install(config.log_level, sink);
        log_notices(&config);
        let wd = WatchdogOptions {
            core_args,
            log_file: None,
            pid_file: config.pid_file.clone(),
        };
        watchdog::run(&config, &wd, bound, |addrs| {
            Announce::Stdout(banner(
                &config,
                config.pid_file.as_deref(),
                config.log_file.as_deref(),
                &urls(addrs),
                false,
            ))
        })
    }
}

/// Inherited listening sockets, from a Server::Starter-compatible superdaemon
/// (`SERVER_STARTER_PORT`) or systemd socket activation (`LISTEN_FDS` for this
/// pid), described from the sockets themselves (`listen::inherited_listeners`):
/// `(fds, names, addresses, source)`. The variables are removed, so app processes do
/// not inherit them.
type Inherited = (Vec<OwnedFd>, Vec<String>, Vec<ListenAddr>, &'static str);

fn inherited_listeners() -> Result<Option<Inherited>> {
    use passenger_core::server::listen;
    let found = listen::inherited_listeners(|k| std::env::var(k).ok(), std::process::id())?;
    if found.is_some() {
        for k in listen::INHERITANCE_VARS {
            // Single-threaded here (no runtime yet), so changing the environment is safe.
            std::env::remove_var(k);
        }
    }
    Ok(found.map(|l| {
        let names = l.addrs.iter().map(listen::listen_url).collect();
        (l.fds, names, l.addrs, l.source)
    }))
}

/// Says once, at startup, which of the given options change nothing here (the core
/// loads the same configuration but does not repeat them).
fn log_notices(config: &ServerConfig) {
    for notice in &config.notices {
        tracing::warn!("{notice}");
    }
}

/// Runs `passenger __core`: the core process under a watchdog.
pub fn run_core(args: &StartArgs) -> Result<i32> {
    let (inherited, mut ready, daemon_log) = watchdog::take_inheritance()?;
    let opts = args.to_options();
    let mut config = passenger_core::config::load(&opts).map_err(|e| anyhow!("{e}"))?;
    if let Some(fds) = &inherited.listeners {
        // The sockets say what they are: the watchdog may have inherited them from a
        // superdaemon or systemd rather than bound what the flags say.
        config.listen = passenger_core::server::listen::describe_listeners(fds)?;
    }
    let log_file = daemon_log.or_else(|| config.log_file.clone());
    let sink = match &log_file {
        Some(path) => LogSink::file(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?,
        None => LogSink::stderr(),
    };
    let callbacks = logging::install(config.log_level, sink);
    // `--core-user` as root: the root spawn helper is forked now, single-threaded, from the
    // thread that lives as long as the core; the core drops root once it is bound.
    let core_user = config
        .core_user
        .clone()
        .filter(|_| nix::unistd::geteuid().is_root());
    let helper = match &core_user {
        Some(_) => {
            let exe = std::env::current_exe().context("cannot find the passenger executable")?;
            let fd = passenger_core::spawn::helper::start(&exe, names_root(&config))
                .context("cannot start the spawn helper")?;
            Some(fd)
        }
        None => None,
    };
    let runtime = core_runtime().context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        if let Some(fd) = helper {
            passenger_core::spawn::helper::install(fd).context("cannot use the spawn helper")?;
        }
        let mut server = Server::bind_with(config, callbacks, inherited)
            .await
            .map_err(anyhow::Error::new)?;
        if let Some(user) = &core_user {
            // On the main thread (block_on polls this future there): the parent-death
            // signal lives on it, and changing credentials clears it, so set it again.
            let watchdog = nix::unistd::getppid();
            server.drop_privileges(user).map_err(anyhow::Error::new)?;
            // SAFETY: prctl with integer arguments; no memory is passed.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) };
            if nix::unistd::getppid() != watchdog {
                anyhow::bail!("the watchdog exited while the core started");
            }
        }
        if let Some((window, patience)) = pipeline_timing_override() {
            server = server.with_pipeline_timing(window, patience);
        }
        if let Some(mut ready) = ready.take() {
            // The watchdog may have gone; the parent-death signal handles that.
            let _ = ready.write_all(b"ready\n");
        }
        server.run().await.map_err(anyhow::Error::new)
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result.map(|()| exit::OK)
}

/// Whether the configuration names root for some app (so the spawn helper may start
/// processes as root): an app's `user` or `group`, or the default user or group.
fn names_root(config: &ServerConfig) -> bool {
    use passenger_core::spawn::unix::{lookup_group, lookup_user};
    let user_root = |u: &str| matches!(lookup_user(u), Ok(Some(0)));
    let group_root = |g: &str| matches!(lookup_group(g), Ok(Some(0)));
    user_root(&config.users.default_user)
        || config
            .users
            .default_group
            .as_deref()
            .is_some_and(group_root)
        || config.apps.iter().any(|a| {
            a.user.as_deref().is_some_and(user_root) || a.group.as_deref().is_some_and(group_root)
        })
}

/// `PASSENGER_PIPELINE_TIMING_MS=<window>,<patience>`: request pipelining's
/// timing in milliseconds, for tests (a long window makes pipelining deterministic).
/// Anything unparsable is ignored.
fn pipeline_timing_override() -> Option<(std::time::Duration, std::time::Duration)> {
    let value = std::env::var("PASSENGER_PIPELINE_TIMING_MS").ok()?;
    let (window, patience) = value.split_once(',')?;
    let ms = |v: &str| {
        v.trim()
            .parse::<u64>()
            .ok()
            .map(std::time::Duration::from_millis)
    };
    Some((ms(window)?, ms(patience)?))
}

/// The core's async runtime. With one or two CPUs a single thread serves more
/// requests per second than a work-stealing pool (no cross-thread wake-ups, and the
/// other CPU stays with the apps); with more, one thread per CPU.
/// `PASSENGER_CORE_THREADS=N` overrides the choice.
fn core_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = std::env::var("PASSENGER_CORE_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(if cpus <= 2 { 1 } else { cpus });
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn urls(addrs: &[String]) -> String {
    addrs
        .iter()
        .map(|a| {
            if a.starts_with("http://") {
                format!("{a}/")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// The port of the first TCP listener, from its `http://HOST:PORT` name.
fn bound_port_label(names: &[String]) -> Option<String> {
    names
        .iter()
        .find(|n| n.starts_with("http://"))
        .and_then(|n| n.rsplit_once(':'))
        .map(|(_, port)| port.to_string())
}

/// With `--port 0` the kernel picks the port, and the default PID and log files
/// (`passenger.0.pid`, `passenger.0.log`) take the port it picked: two such servers
/// in one directory must not share files. Other names stay as configured.
/// Inherited sockets (`inherited`) likewise name the files after the port served.
fn with_bound_port(
    path: Option<PathBuf>,
    label: &str,
    bound: &str,
    inherited: bool,
) -> Option<PathBuf> {
    let path = path?;
    if label != "0" && !inherited {
        return Some(path);
    }
    let renamed = ["pid", "log"].into_iter().find_map(|ext| {
        (path.file_name()? == format!("passenger.{label}.{ext}").as_str())
            .then(|| path.with_file_name(format!("passenger.{bound}.{ext}")))
    });
    Some(renamed.unwrap_or(path))
}

fn banner(
    config: &ServerConfig,
    pid_file: Option<&Path>,
    log_file: Option<&Path>,
    addrs: &str,
    daemonized: bool,
) -> String {
    use std::fmt::Write as _;
    let environment = config
        .apps
        .first()
        .map(|a| a.environment.as_str())
        .unwrap_or("development");
    let mut out = String::new();
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
    out
}
