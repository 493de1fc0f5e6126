//! `passenger-status` / `passenger status`: what a running instance is doing.
//!
//! Owns the arguments, choosing the endpoint per `--show`, the header, and the
//! messages and exit codes of every failure. The pool text itself is rendered by
//! the server (`/pool.txt`, core::admin::pool_text) so both stay identical.

use std::io::IsTerminal;

use clap::ValueEnum;

use crate::api_client::{select_instance, ApiClient, ApiResponse, Auth};
use crate::applet::Invocation;
use crate::exit::{self, Exit};
use crate::output::{self, Tool, PRODUCT};

/// Show the status of a running passenger-rs instance: its pool, server state,
/// threads, or the pool as XML or JSON.
///
/// Exit codes: 0 ok; 1 not running, several instances and none chosen, or no
/// instance with that name; 2 not authorized (run as root or as the instance's
/// user) or an admin API error.
#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    /// The instance to show: its name or a unique prefix (see `passenger-config list-instances`).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Same as NAME.
    #[arg(long = "instance", value_name = "NAME", conflicts_with = "name")]
    pub instance: Option<String>,
    /// What to show.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = Show::Pool)]
    pub show: Show,
    /// Do not display the header (version, date, instance).
    #[arg(long)]
    pub no_header: bool,
    /// Display colors even if stdout is not a TTY.
    #[arg(long)]
    pub force_colors: bool,
    /// Take NAME as the PID of the instance (watchdog or core) rather than its name.
    #[arg(long)]
    pub pid_identifier: bool,
    /// Show each process's direct URL (and, in XML, the secrets).
    #[arg(short, long)]
    pub verbose: bool,
}

/// `--show` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Show {
    /// The pool: groups and their processes (default).
    Pool,
    /// The server's state (`/server.json`).
    Server,
    /// The requests being handled: method, path, process and age of each.
    Requests,
    /// The core's threads and where each is waiting.
    Backtraces,
    /// The pool as XML (`/pool.xml`).
    Xml,
    /// The full pool state as JSON (`/pool.json`).
    Json,
}

/// Runs `passenger-status`.
pub fn run(args: &StatusArgs, inv: &Invocation) -> anyhow::Result<i32> {
    let name = args.name.as_deref().or(args.instance.as_deref());
    let instance = select_instance(
        Tool::Status,
        &inv.command_for("status"),
        name,
        args.pid_identifier,
    )?;
    let client = ApiClient::for_instance(&instance)?;
    let header = !args.no_header && !matches!(args.show, Show::Xml | Show::Json);
    if header {
        output::print(&output::status_header(&instance))?;
    }
    let what = "query the status for";
    match args.show {
        Show::Pool => {
            let color = args.force_colors || std::io::stdout().is_terminal();
            let path = format!("/pool.txt?colorize={color}&verbose={}", args.verbose);
            let resp = client.get(&path, Auth::ReadOnly)?;
            if resp.status == 401 && resp.header("pool-empty") == Some("true") {
                output::print(&format!(
                    "{PRODUCT} is currently not serving any applications.\n"
                ))?;
                return Ok(exit::OK);
            }
            print_body(&client, what, &resp)
        }
        Show::Server => {
            let resp = client.get("/server.json", Auth::ReadOnly)?;
            print_body(&client, what, &resp)
        }
        Show::Requests => {
            let resp = client.get("/server.json", Auth::ReadOnly)?;
            match resp.status {
                200..=299 => {
                    let server: serde_json::Value =
                        serde_json::from_str(&resp.body).map_err(|err| {
                            Exit::new(
                                exit::API_ERROR,
                                format!("*** ERROR: the server answered /server.json with something that is not JSON: {err}\n"),
                            )
                        })?;
                    output::print(&requests_table(&server))?;
                    Ok(exit::OK)
                }
                401 => Err(client.not_authorized(what, &resp).into()),
                _ => Err(client.api_error("show the status", &resp).into()),
            }
        }
        Show::Xml => {
            let path = if args.verbose {
                "/pool.xml?secrets=true"
            } else {
                "/pool.xml"
            };
            let resp = client.get(path, Auth::ReadOnly)?;
            print_body(&client, what, &resp)
        }
        Show::Json => {
            let resp = client.get("/pool.json", Auth::ReadOnly)?;
            print_body(&client, what, &resp)
        }
        Show::Backtraces => {
            // The admin API has no backtrace endpoint (a Rust core has no per-thread
            // C++ backtrace to offer); the kernel's view of each thread is the honest
            // equivalent and needs no privileges beyond reading /proc.
            let pid = instance.core_pid.unwrap_or(instance.watchdog_pid);
            output::print(&thread_report(pid).map_err(|err| {
                Exit::new(
                    exit::API_ERROR,
                    format!(
                        "*** ERROR: cannot read the threads of {PRODUCT} core PID {pid}: {err}\n"
                    ),
                )
            })?)?;
            Ok(exit::OK)
        }
    }
}

fn print_body(client: &ApiClient, what: &str, resp: &ApiResponse) -> anyhow::Result<i32> {
    match resp.status {
        200..=299 => {
            output::print(&output::with_newline(&resp.body))?;
            Ok(exit::OK)
        }
        401 => Err(client.not_authorized(what, resp).into()),
        _ => Err(client.api_error("show the status", resp).into()),
    }
}

/// `--show=requests`: the requests in flight listed in `/server.json` (the
/// original's `thread<N>.active_clients`), one line each, oldest first.
fn requests_table(server: &serde_json::Value) -> String {
    let mut requests: Vec<(f64, Vec<String>)> = Vec::new();
    let threads = server.as_object().into_iter().flatten();
    for (_, thread) in threads.filter(|(name, _)| name.starts_with("thread")) {
        let Some(clients) = thread["active_clients"].as_object() else {
            continue;
        };
        for (client, state) in clients {
            let request = &state["current_request"];
            let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
            let age = -request["started_at"]["relative_timestamp"]
                .as_f64()
                .unwrap_or(0.0);
            let process = match request["session"]["pid"].as_u64() {
                Some(pid) => pid.to_string(),
                None => "-".to_string(),
            };
            requests.push((
                age,
                vec![
                    client.clone(),
                    text(&request["method"]),
                    text(&request["path"]),
                    process,
                    format!("{age:.1}s"),
                ],
            ));
        }
    }
    requests.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = format!("Requests in flight: {}\n", requests.len());
    if !requests.is_empty() {
        out.push('\n');
        let rows = requests.into_iter().map(|(_, row)| row).collect();
        for line in output::plain_columns(&["Client", "Method", "Path", "Process", "Age"], rows) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// `Thread '<name>' (LWP <tid>):` then `     state <S>, waiting in '<wchan>'` for
/// each thread of `pid`, blank line between, like the original's backtrace layout.
/// A thread that exits while being read is left out.
fn thread_report(pid: u32) -> procfs::ProcResult<String> {
    let pid = i32::try_from(pid)
        .map_err(|_| procfs::ProcError::Other(format!("PID {pid} out of range")))?;
    let mut threads: Vec<(i32, procfs::process::Stat, String)> =
        procfs::process::Process::new(pid)?
            .tasks()?
            .flatten()
            .filter_map(|task| {
                let stat = task.stat().ok()?;
                let wchan = task
                    .read::<_, Wchan>("wchan")
                    .map(|w| w.0)
                    .unwrap_or_default();
                Some((task.tid, stat, wchan))
            })
            .collect();
    threads.sort_unstable_by_key(|(tid, _, _)| *tid);
    let mut out = String::new();
    for (tid, stat, wchan) in threads {
        let wchan = match wchan.trim() {
            "" | "0" => "(running)".to_string(),
            w => format!("in '{w}'"),
        };
        out.push_str(&format!(
            "Thread '{}' (LWP {tid}):\n     state {}, {wchan}\n\n",
            stat.comm, stat.state
        ));
    }
    Ok(out)
}

/// The text of `/proc/PID/task/TID/wchan` (the kernel function a thread sleeps in),
/// which `procfs` reads for us but has no type for.
struct Wchan(String);

impl procfs::FromRead for Wchan {
    fn from_read<R: std::io::Read>(mut r: R) -> procfs::ProcResult<Self> {
        let mut text = String::new();
        r.read_to_string(&mut text)?;
        Ok(Wchan(text))
    }
}
