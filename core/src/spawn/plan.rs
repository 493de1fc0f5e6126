//! The launch plan: what to exec, with which environment, and how to tell it is ready.
//!
//! Owns the translation of an [`AppSpec`] into a [`LaunchPlan`]: the shell command
//! line, the environment variables Passenger sets (internals §3.6), the stdin mode and
//! the readiness mode. It does not fork, switch users or wait for anything: that is
//! [`direct`](super::direct)'s and [`unix`](super::unix)'s job.
//!
//! A loader-based app type (Ruby, Python) is meant to be just another way to fill a
//! `LaunchPlan`: a different command line, [`StdinMode::Pipe`] and
//! [`Readiness::LoaderHandshake`]. Nothing else in the spawner needs to change shape.

use std::path::Path;

use crate::app::{AppSpec, AppType};

/// How the spawner decides that a started process is ready for requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Ready once `127.0.0.1:<port>` accepts a TCP connection (generic and Node apps).
    PortAccepts {
        /// The port given to the app in `PORT`.
        port: u16,
    },
    /// Ready once the loader reports success through the work-dir handshake
    /// (internals §3.3). Not implemented yet.
    LoaderHandshake,
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
    /// The app type needs a loader, which this spawner cannot run yet.
    #[error("The {app_type} loader is not available yet in this version; only generic and Node.js apps can be spawned.")]
    LoaderUnavailable {
        /// `ruby` or `python`.
        app_type: &'static str,
    },
}

/// Variables naming the base URI, set only when the app is not mounted at `/`.
const BASE_URI_VARS: [&str; 3] = [
    "PASSENGER_BASE_URI",
    "RACK_BASE_URI",
    "RAILS_RELATIVE_URL_ROOT",
];

/// Builds the plan for `app`. `port` is the free port picked for port-based readiness;
/// `identity_env` (`USER`, `HOME`, ... of a switched user) goes before the app's own
/// variables so that those still win.
pub fn build(
    app: &AppSpec,
    port: u16,
    identity_env: Vec<(String, String)>,
) -> Result<LaunchPlan, PlanError> {
    let (command, concurrency) = match &app.app_type {
        AppType::Generic { start_command } => (start_command.clone(), -1),
        AppType::Node => {
            let startup = app
                .startup_file
                .clone()
                .unwrap_or_else(|| app.app_root.join("app.js"));
            let command = format!("{} {}", sh_quote(&app.nodejs), sh_quote_path(&startup));
            (command, 0)
        }
        AppType::Ruby | AppType::Python => {
            return Err(PlanError::LoaderUnavailable {
                app_type: app.app_type.name(),
            })
        }
    };
    let concurrency = app
        .force_max_concurrent_requests_per_process
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
        .unwrap_or(concurrency);

    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
    set("IN_PASSENGER", "1");
    set("PYTHONUNBUFFERED", "1");
    set("PORT", &port.to_string());
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
    env.extend(identity_env);
    env.extend(app.env_vars.iter().cloned());

    Ok(LaunchPlan {
        command,
        env,
        env_remove,
        stdin: StdinMode::Null,
        readiness: Readiness::PortAccepts { port },
        concurrency,
    })
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
        let plan = build(&app, 4321, Vec::new()).expect("generic apps have a plan");
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
        let plan = build(&app, 1, Vec::new()).expect("generic apps have a plan");
        assert_eq!(get(&plan, "RACK_BASE_URI"), None);
        assert!(plan.env_remove.contains(&"RACK_BASE_URI"));
    }

    #[test]
    fn node_plan_quotes_startup_file() {
        let mut app = AppSpec::new("n", PathBuf::from("/srv/my app"), AppType::Node);
        app.nodejs = "/usr/bin/node".into();
        let plan = build(&app, 1, Vec::new()).expect("node apps have a plan");
        assert_eq!(plan.command, "/usr/bin/node '/srv/my app/app.js'");
        assert_eq!(plan.concurrency, 0);
    }

    #[test]
    fn loader_types_are_refused() {
        let app = AppSpec::new("r", PathBuf::from("/srv/r"), AppType::Ruby);
        assert_eq!(
            build(&app, 1, Vec::new()).unwrap_err(),
            PlanError::LoaderUnavailable { app_type: "ruby" }
        );
    }

    #[test]
    fn sh_quote_escapes_single_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
