//! How a spawn fails: the [`SpawnStep`] that failed and the [`SpawnError`] the error
//! page and the log show, with secrets hidden from the environment it lists
//! ([`redact_secrets`]).
//!
//! Owns these types and the redaction; the journey ([`journey`](super::journey))
//! fills them in.

use serde::Serialize;

/// Parts of variable names that say their value is a secret.
const SECRET_NAME_PARTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "API_KEY",
    "ACCESS_KEY",
];

/// `env` as error pages and logs may show it: without the connect password, and
/// with the value of a variable whose name says it is a secret (`SECRET_KEY_BASE`,
/// `*_TOKEN`, `*_PASSWORD`, ...) and the password in a URL's `user:password@`
/// replaced by `(hidden)`.
pub fn redact_secrets(env: &[(String, String)]) -> Vec<(String, String)> {
    const HIDDEN: &str = "(hidden)";
    env.iter()
        // Ours, and of no use to whoever reads an error page: left out entirely.
        .filter(|(name, _)| name != "PASSENGER_CONNECT_PASSWORD")
        .map(|(name, value)| {
            let upper = name.to_ascii_uppercase();
            if SECRET_NAME_PARTS.iter().any(|part| upper.contains(part)) {
                return (name.clone(), HIDDEN.to_string());
            }
            // scheme://user:password@host...
            let shown = match value.split_once("://") {
                Some((scheme, rest)) => match rest.split_once('@') {
                    Some((userinfo, host)) if !userinfo.contains('/') => {
                        match userinfo.split_once(':') {
                            Some((user, _)) => format!("{scheme}://{user}:{HIDDEN}@{host}"),
                            None => value.clone(),
                        }
                    }
                    _ => value.clone(),
                },
                None => value.clone(),
            };
            (name.clone(), shown)
        })
        .collect()
}

/// One step of a spawn, named after Passenger's journey steps, used in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpawnStep {
    /// Resolving the user, finding a port, building the command.
    Preparation,
    /// fork/exec of the app process.
    ForkSubprocess,
    /// Waiting for the app to accept connections.
    HandshakePerform,
    /// Loading the app inside the loader.
    AppLoad,
}

/// A failed spawn, with everything the error page and the log show.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{summary} (step {step:?}, app root {app_root})")]
pub struct SpawnError {
    /// One line saying what went wrong.
    pub summary: String,
    /// The step that failed.
    pub step: SpawnStep,
    /// The app root, for the error page.
    pub app_root: String,
    /// Everything the process wrote to stdout/stderr before failing (bounded).
    pub output: String,
    /// The command that was run.
    pub command: String,
    /// The environment given to the process (name, value), secrets hidden (see
    /// [`redact_secrets`]): the error page shows it.
    pub envvars: Vec<(String, String)>,
    /// The user and group the process ran as.
    pub user: String,
    /// 8 hex chars, logged with the details so an operator can find them.
    pub error_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_shown() {
        let env: Vec<(String, String)> = [
            ("PASSENGER_CONNECT_PASSWORD", "abc"),
            ("SECRET_KEY_BASE", "def"),
            ("GITHUB_TOKEN", "ghi"),
            ("DATABASE_URL", "postgres://app:s3cret@db/prod"),
            ("REDIS_URL", "redis://cache:6379/0"),
            ("PATH", "/usr/bin"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = redact_secrets(&env);
        assert!(!shown.iter().any(|(k, _)| k == "PASSENGER_CONNECT_PASSWORD"));
        let value = |name: &str| {
            shown
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .expect("every variable is listed")
        };
        assert_eq!(value("SECRET_KEY_BASE"), "(hidden)");
        assert_eq!(value("GITHUB_TOKEN"), "(hidden)");
        assert_eq!(value("DATABASE_URL"), "postgres://app:(hidden)@db/prod");
        assert_eq!(value("REDIS_URL"), "redis://cache:6379/0");
        assert_eq!(value("PATH"), "/usr/bin");
    }
}
