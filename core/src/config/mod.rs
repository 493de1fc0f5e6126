//! Server configuration: from `passenger start` flags, `Passengerfile.json` and the
//! multi-app TOML file to a validated [`ServerConfig`].
//!
//! Owns: defaults (Passenger Standalone's), the priority order (flags win over
//! Passengerfile.json, which wins over defaults; in multi-app mode an `[[app]]` table
//! wins over flags, which win over the file's top level), app type detection, and
//! validation that names the bad key and the file. All problems are collected and
//! reported together. It does not parse the command line (`cli` turns flags into
//! [`StartOptions`]) and reads nothing after startup except when asked to [`reload`].

mod build;
mod error;
mod keys;
mod load;
mod server_config;
mod start_options;
#[cfg(test)]
mod tests;
mod value;

pub use error::{ConfigError, ConfigProblem};
pub use load::{app_from_web_server, default_log_file, default_pid_file, load, pid_file, reload};
pub use server_config::{ListenAddr, ServerConfig, UserSwitching, WebServerMode};
pub use start_options::StartOptions;
