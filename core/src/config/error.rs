//! The errors of configuration loading, each problem naming its flag or key and file.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The flag (`--port`) or key and file (`` `port` in /app/Passengerfile.json ``);
    /// `None` when the problem is not about one setting.
    pub location: Option<String>,
    /// What is wrong, e.g. `must be an integer from 0 to 7, got 9`.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Errors of configuration loading.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The current directory (the default app dir, the base of relative flags) is unknown.
    #[error("cannot determine the current directory: {0}")]
    CurrentDir(#[source] std::io::Error),
    /// `Passengerfile.json` or the TOML file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `Passengerfile.json` is not valid JSON.
    #[error("{} is not valid JSON: {source}", path.display())]
    ParseJson {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The multi-app config file is not valid TOML.
    #[error("{} is not valid TOML: {source}", path.display())]
    ParseToml {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: toml::de::Error,
    },
    /// Settings are missing, unknown, unsupported or out of range; all of them listed.
    #[error("{}", invalid_message(problems))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<ConfigProblem>,
    },
}

fn invalid_message(problems: &[ConfigProblem]) -> String {
    match problems {
        [one] => format!("invalid configuration: {one}"),
        many => {
            let mut out = format!("invalid configuration ({} problems):", many.len());
            for problem in many {
                out.push_str("\n  - ");
                out.push_str(&problem.to_string());
            }
            out
        }
    }
}
