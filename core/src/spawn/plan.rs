//! The launch plan: what to exec, with which environment, and how to tell it is ready.
//!
//! Owns the translation of an [`AppSpec`] into a [`LaunchPlan`]: the shell command
//! line, the environment variables Passenger sets (internals §3.6), the stdin mode and
//! the readiness mode. It does not fork, switch users or wait for anything: that is
//! [`journey`](super::journey)'s and [`unix`](super::unix)'s job.
//!
//! Ruby and Python apps run under a loader from the installation's resources
//! (`<resources>/helper-scripts/rack-loader.rb`, `wsgi-loader.py`) that speaks the
//! session protocol on a unix socket: their plan has [`StdinMode::Pipe`] and
//! [`Readiness::LoaderHandshake`], and gets the socket, the connect password and the
//! report file from a [`SessionSetup`]. Node apps run under `node-loader.js` (which
//! only sets the process title) and are ready when `PORT` accepts, like generic apps.
//!
//! # Loader environment
//!
//! Besides the variables of internals §3.6, loaders get `PASSENGER_SOCKET` (where to
//! listen), `PASSENGER_CONNECT_PASSWORD`, `PASSENGER_REPORT_FILE` (where to write the
//! JSON failure report), `PASSENGER_APP_ROOT` and, when the app names one,
//! `PASSENGER_STARTUP_FILE` (absolute). Node gets `PASSENGER_APP_ROOT` and `PORT`.

use std::path::{Path, PathBuf};

use crate::app::{AppSpec, AppType};
use crate::resources;

/// How the spawner decides that a started process is ready for requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Ready once `127.0.0.1:<port>` accepts a TCP connection (generic and Node apps).
    PortAccepts {
        /// The port given to the app in `PORT`.
        port: u16,
    },
    /// Ready once the loader's session socket accepts a connection. A loader only
    /// listens after the app loaded; if loading fails it writes the report file and
    /// exits instead.
    LoaderHandshake {
        /// The unix socket given to the loader in `PASSENGER_SOCKET`.
        socket: PathBuf,
    },
}

/// What the process gets on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinMode {
    /// `/dev/null`: generic apps, which are stopped with SIGTERM.
    Null,
    /// A pipe kept by the spawner; closing it asks a loader to exit (internals §2.9).
    Pipe,
}

/// Everything needed to start one process of an app.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    /// The shell command, run as `/bin/sh -c "exec <command>"`.
    pub command: String,
    /// Variables set on top of the inherited environment, in order; later entries win.
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<&'static str>,
    /// What the process gets on stdin.
    pub stdin: StdinMode,
    /// How readiness is detected.
    pub readiness: Readiness,
    /// Concurrency the process advertises (after `force_max_concurrent_requests_per_process`).
    pub concurrency: i32,
}

/// Why no plan could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The app type needs a loader but the installation's resources were not found.
    #[error("Cannot start the {app_type} loader: the resources directory of this installation (holding helper-scripts/{script}) was not found. Set PASSENGER_RESOURCES_DIR to it.")]
    NoResources {
        /// `ruby` or `python`.
        app_type: &'static str,
        /// The loader script that was needed.
        script: &'static str,
    },
    /// The app type speaks the session protocol but no [`SessionSetup`] was given.
    #[error("Internal error: no session socket was prepared for this {app_type} app.")]
    NoSession {
        /// `ruby` or `python`.
        app_type: &'static str,
    },
}

/// What the spawner prepared for a loader that speaks the session protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetup {
    /// The unix socket the loader listens on (`PASSENGER_SOCKET`).
    pub socket: PathBuf,
    /// Secret the core sends in every header block (`PASSENGER_CONNECT_PASSWORD`).
    pub connect_password: String,
    /// Where a failing loader writes its JSON report (`PASSENGER_REPORT_FILE`).
    pub report_file: PathBuf,
    /// Where a loader that takes pipelined requests makes its claims pipe
    /// (`PASSENGER_CLAIMS`; `loader::pipeline`).
    pub claims_base: Option<PathBuf>,
    /// The loopback port of the process's direct-access HTTP socket
    /// (`PASSENGER_DIRECT_PORT`): requests there must carry the connect password in
    /// `X-Passenger-Connect-Password`. `None` for preloaders.
    pub direct_port: Option<u16>,
}

/// Everything besides the [`AppSpec`] that goes into a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    /// Free port for port-based readiness (generic and Node apps).
    pub port: u16,
    /// `USER`, `HOME`, ... of a switched user; goes before the app's own variables so
    /// that those still win.
    pub identity_env: Vec<(String, String)>,
    /// The installation's resources directory ([`resources::resources_dir`]).
    pub resources_dir: Option<PathBuf>,
    /// Socket, password and report file; required for Ruby and Python apps.
    pub session: Option<SessionSetup>,
}

/// The loader script of a session-protocol app type, `None` for other types.
pub fn session_loader(app_type: &AppType) -> Option<&'static str> {
    match app_type {
        AppType::Ruby => Some("rack-loader.rb"),
        AppType::Python => Some("wsgi-loader.py"),
        AppType::Generic { .. } | AppType::Node => None,
    }
}

/// Whether processes of `app` take pipelined requests (`PASSENGER_CLAIMS`): the
/// setting is on and the app's loader supports it.
pub fn pipelines(app: &AppSpec) -> bool {
    app.request_pipelining && matches!(app.app_type, AppType::Ruby)
}

/// Prefix of the socket name of a session-protocol app type (`ruby.<random>`).
pub fn socket_prefix(app_type: &AppType) -> &'static str {
    match app_type {
        AppType::Python => "wsgi",
        _ => "ruby",
    }
}

/// The Node loader script.
pub const NODE_LOADER: &str = "node-loader.js";

/// Variables naming the base URI, set only when the app is not mounted at `/`.
const BASE_URI_VARS: [&str; 3] = [
    "PASSENGER_BASE_URI",
    "RACK_BASE_URI",
    "RAILS_RELATIVE_URL_ROOT",
];

/// Builds the plan for `app` from `inputs`.
pub fn build(app: &AppSpec, inputs: PlanInputs) -> Result<LaunchPlan, PlanError> {
    let PlanInputs {
        port,
        identity_env,
        resources_dir,
        session,
    } = inputs;
    let start = match &app.app_type {
        AppType::Generic { start_command } => Start::generic(start_command, port),
        AppType::Node => Start::node(app, resources_dir.as_deref(), port),
        AppType::Ruby | AppType::Python => {
            Start::session_loader(app, resources_dir.as_deref(), session)?
        }
    };
    let concurrency = app
        .force_max_concurrent_requests_per_process
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
        .unwrap_or(start.concurrency);
    let (mut env, env_remove) = passenger_env(app, &start.readiness);
    env.extend(start.loader_env);
    env.extend(identity_env);
    env.extend(app.env_vars.iter().cloned());
    Ok(LaunchPlan {
        command: start.command,
        env,
        env_remove,
        stdin: start.stdin,
        readiness: start.readiness,
        concurrency,
    })
}

/// How one app type is started: the part of a plan that depends on it.
struct Start {
    command: String,
    /// Before `force_max_concurrent_requests_per_process`.
    concurrency: i32,
    stdin: StdinMode,
    readiness: Readiness,
    /// What the loader gets besides Passenger's variables.
    loader_env: Vec<(String, String)>,
}

impl Start {
    /// A generic app: its own command, ready when `PORT` accepts.
    fn generic(start_command: &str, port: u16) -> Start {
        Start {
            command: start_command.to_string(),
            concurrency: -1,
            stdin: StdinMode::Null,
            readiness: Readiness::PortAccepts { port },
            loader_env: Vec::new(),
        }
    }

    /// A Node app under `node-loader.js`, ready when `PORT` accepts.
    fn node(app: &AppSpec, resources_dir: Option<&Path>, port: u16) -> Start {
        let startup = app
            .startup_file
            .clone()
            .unwrap_or_else(|| app.app_root.join("app.js"));
        // Without resources the app still runs, just without its process title.
        let command = match resources_dir {
            Some(dir) => format!(
                "{} {} {}",
                sh_quote(&app.nodejs),
                sh_quote_path(&resources::helper_script(dir, NODE_LOADER)),
                sh_quote_path(&startup)
            ),
            None => format!("{} {}", sh_quote(&app.nodejs), sh_quote_path(&startup)),
        };
        Start {
            command,
            concurrency: 0,
            stdin: StdinMode::Null,
            readiness: Readiness::PortAccepts { port },
            loader_env: vec![(
                "PASSENGER_APP_ROOT".into(),
                app.app_root.to_string_lossy().into_owned(),
            )],
        }
    }

    /// A Ruby or Python app under our session-protocol loader, ready when its socket
    /// accepts.
    fn session_loader(
        app: &AppSpec,
        resources_dir: Option<&Path>,
        session: Option<SessionSetup>,
    ) -> Result<Start, PlanError> {
        let app_type = app.app_type.name();
        let script = session_loader(&app.app_type)
            .expect("invariant: ruby and python have a session loader");
        let dir = resources_dir.ok_or(PlanError::NoResources { app_type, script })?;
        let session = session.ok_or(PlanError::NoSession { app_type })?;
        let interpreter = if app.app_type == AppType::Ruby {
            &app.ruby
        } else {
            &app.python
        };
        let mut command = format!(
            "{} {}",
            sh_quote(interpreter),
            sh_quote_path(&resources::helper_script(dir, script))
        );
        if app.app_type == AppType::Ruby {
            // Ruby writes `$0` into the argv area and spills into the environment
            // strings when the title is longer, garbling /proc/PID/environ. A blank
            // argument reserves room for "Passenger AppPreloader: <app root> (<env>)",
            // as Passenger pads its own agents' argv.
            let room = app.app_root.as_os_str().len() + app.environment.len() + 48;
            command.push_str(&format!(" '{}'", " ".repeat(room)));
        }
        Ok(Start {
            command,
            concurrency: 1,
            stdin: StdinMode::Pipe,
            loader_env: session_loader_env(app, &session),
            readiness: Readiness::LoaderHandshake {
                socket: session.socket,
            },
        })
    }
}

/// What a session-protocol loader is told: where to listen, its password, where to
/// report, its direct-access port, its claims pipe, the app root and startup file.
fn session_loader_env(app: &AppSpec, session: &SessionSetup) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut env: Vec<(String, String)> = Vec::new();
    env.push(("PASSENGER_SOCKET".into(), path(&session.socket)));
    env.push((
        "PASSENGER_CONNECT_PASSWORD".into(),
        session.connect_password.clone(),
    ));
    env.push(("PASSENGER_REPORT_FILE".into(), path(&session.report_file)));
    if let Some(port) = session.direct_port {
        env.push(("PASSENGER_DIRECT_PORT".into(), port.to_string()));
    }
    if let Some(base) = session.claims_base.as_deref().filter(|_| pipelines(app)) {
        env.push(("PASSENGER_CLAIMS".into(), path(base)));
    }
    env.push(("PASSENGER_APP_ROOT".into(), path(&app.app_root)));
    if let Some(file) = &app.startup_file {
        env.push((
            "PASSENGER_STARTUP_FILE".into(),
            path(&app.app_root.join(file)),
        ));
    }
    env
}

/// The variables Passenger sets for every app (internals §3.6), and those it removes.
fn passenger_env(
    app: &AppSpec,
    readiness: &Readiness,
) -> (Vec<(String, String)>, Vec<&'static str>) {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
    set("IN_PASSENGER", "1");
    set("PYTHONUNBUFFERED", "1");
    if let Readiness::PortAccepts { port } = readiness {
        set("PORT", &port.to_string());
    }
    for name in [
        "PASSENGER_APP_ENV",
        "RAILS_ENV",
        "RACK_ENV",
        "WSGI_ENV",
        "NODE_ENV",
    ] {
        set(name, &app.environment);
    }
    let mut env_remove = Vec::new();
    match app.base_uri.as_deref() {
        Some(uri) if !uri.is_empty() && uri != "/" => {
            for name in BASE_URI_VARS {
                set(name, uri);
            }
        }
        // Passenger unsets these so a value inherited from the core cannot mislead the app.
        _ => env_remove.extend(BASE_URI_VARS),
    }
    set("PWD", &app.app_root.to_string_lossy());
    (env, env_remove)
}

/// Quotes `s` as one word for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn sh_quote_path(p: &Path) -> String {
    sh_quote(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn generic() -> AppSpec {
        AppSpec::new(
            "a",
            PathBuf::from("/srv/a"),
            AppType::Generic {
                start_command: "./server --port $PORT".into(),
            },
        )
    }

    fn inputs(port: u16) -> PlanInputs {
        PlanInputs {
            port,
            ..PlanInputs::default()
        }
    }

    fn get<'a>(plan: &'a LaunchPlan, k: &str) -> Option<&'a str> {
        plan.env
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn generic_plan_sets_passenger_env_and_app_vars_win() {
        let mut app = generic();
        app.environment = "staging".into();
        app.base_uri = Some("/sub".into());
        app.env_vars = vec![("RACK_ENV".into(), "custom".into())];
        let plan = build(&app, inputs(4321)).expect("generic apps have a plan");
        assert_eq!(plan.command, "./server --port $PORT");
        assert_eq!(plan.concurrency, -1);
        assert_eq!(get(&plan, "PORT"), Some("4321"));
        assert_eq!(get(&plan, "NODE_ENV"), Some("staging"));
        assert_eq!(get(&plan, "RACK_ENV"), Some("custom"));
        assert_eq!(get(&plan, "PASSENGER_BASE_URI"), Some("/sub"));
        assert_eq!(get(&plan, "PWD"), Some("/srv/a"));
        assert!(plan.env_remove.is_empty());
        assert_eq!(plan.readiness, Readiness::PortAccepts { port: 4321 });
    }

    #[test]
    fn root_base_uri_unsets_base_uri_vars() {
        let mut app = generic();
        app.base_uri = Some("/".into());
        let plan = build(&app, inputs(1)).expect("generic apps have a plan");
        assert_eq!(get(&plan, "RACK_BASE_URI"), None);
        assert!(plan.env_remove.contains(&"RACK_BASE_URI"));
    }

    #[test]
    fn node_plan_quotes_startup_file() {
        let mut app = AppSpec::new("n", PathBuf::from("/srv/my app"), AppType::Node);
        app.nodejs = "/usr/bin/node".into();
        let plan = build(&app, inputs(1)).expect("node apps have a plan");
        assert_eq!(plan.command, "/usr/bin/node '/srv/my app/app.js'");
        assert_eq!(plan.concurrency, 0);
        let mut with_loader = inputs(1);
        with_loader.resources_dir = Some(PathBuf::from("/opt/p/resources"));
        let plan = build(&app, with_loader).expect("node apps have a plan");
        assert_eq!(
            plan.command,
            "/usr/bin/node /opt/p/resources/helper-scripts/node-loader.js '/srv/my app/app.js'"
        );
    }

    #[test]
    fn ruby_plan_runs_the_rack_loader_with_session_env() {
        let mut app = AppSpec::new("r", PathBuf::from("/srv/r"), AppType::Ruby);
        app.startup_file = Some(PathBuf::from("other.ru"));
        let mut i = inputs(1);
        assert_eq!(
            build(&app, i.clone()).unwrap_err(),
            PlanError::NoResources {
                app_type: "ruby",
                script: "rack-loader.rb"
            }
        );
        i.resources_dir = Some(PathBuf::from("/opt/p/resources"));
        assert_eq!(
            build(&app, i.clone()).unwrap_err(),
            PlanError::NoSession { app_type: "ruby" }
        );
        i.session = Some(SessionSetup {
            socket: PathBuf::from("/tmp/x/ruby.1"),
            connect_password: "secret".into(),
            report_file: PathBuf::from("/tmp/w/report.json"),
            claims_base: Some(PathBuf::from("/tmp/x")),
            direct_port: Some(4321),
        });
        let plan = build(&app, i.clone()).expect("ruby apps have a plan");
        assert!(
            plan.command
                .starts_with("ruby /opt/p/resources/helper-scripts/rack-loader.rb '   "),
            "{}",
            plan.command
        );
        assert_eq!(plan.concurrency, 1);
        assert_eq!(plan.stdin, StdinMode::Pipe);
        assert_eq!(
            plan.readiness,
            Readiness::LoaderHandshake {
                socket: PathBuf::from("/tmp/x/ruby.1")
            }
        );
        assert_eq!(get(&plan, "PASSENGER_SOCKET"), Some("/tmp/x/ruby.1"));
        assert_eq!(get(&plan, "PASSENGER_CONNECT_PASSWORD"), Some("secret"));
        assert_eq!(get(&plan, "PASSENGER_DIRECT_PORT"), Some("4321"));
        assert_eq!(
            get(&plan, "PASSENGER_STARTUP_FILE"),
            Some("/srv/r/other.ru")
        );
        assert_eq!(get(&plan, "PORT"), None);
        assert_eq!(get(&plan, "PASSENGER_CLAIMS"), Some("/tmp/x"));
        let mut off = app.clone();
        off.request_pipelining = false;
        let plan = build(&off, i).expect("ruby apps have a plan");
        assert_eq!(get(&plan, "PASSENGER_CLAIMS"), None, "pipelining off");
    }

    #[test]
    fn sh_quote_escapes_single_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
