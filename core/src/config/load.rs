//! Entry points: loading, reloading, and the PID and log file paths `passenger stop`
//! and a daemon share.

use std::path::{Path, PathBuf};

use super::{build, ConfigError, ServerConfig, StartOptions};
use crate::app::AppSpec;

/// Builds the app a web server module describes in one request: `options` are
/// (config key, value) pairs as the module sent them (values as text; `env` as
/// `NAME=VALUE` lines). Validated like an `[[app]]` table; problems name the key.
pub fn app_from_web_server(options: &[(String, String)]) -> Result<AppSpec, ConfigError> {
    build::app_from_web_server(options)
}

/// Loads and validates the configuration for `passenger start`.
///
/// Single-app mode (no `config_file`): the app in `app_dir` (default: the current
/// directory), its `Passengerfile.json` merged under the flags. Multi-app mode: the
/// TOML file's `[[app]]` tables. Relative paths in flags are relative to the current
/// directory.
pub fn load(opts: &StartOptions) -> Result<ServerConfig, ConfigError> {
    let cwd = std::env::current_dir().map_err(ConfigError::CurrentDir)?;
    build::load(opts, &cwd)
}

/// Loads the configuration again from the same sources (flags as given at startup,
/// the same `Passengerfile.json` or TOML file), e.g. on SIGHUP. Server-wide settings
/// that cannot change while running (listen addresses) are the caller's to compare.
pub fn reload(config: &ServerConfig) -> Result<ServerConfig, ConfigError> {
    // Every path in start_options is absolute, so the current directory no longer matters.
    build::load(&config.start_options, Path::new("/"))
}

/// The PID file of the server `passenger start` would run with these options, read
/// from the flags and the app dir's `Passengerfile.json` (`pid_file`, `port`,
/// `socket`) only: what `passenger stop` signals.
pub fn pid_file(opts: &StartOptions) -> Result<PathBuf, ConfigError> {
    let cwd = std::env::current_dir().map_err(ConfigError::CurrentDir)?;
    build::pid_file(opts, &cwd)
}

/// The PID file Passenger Standalone uses for a server on `port` started in `dir`:
/// `<dir>/passenger.<port>.pid`; `passenger stop --port` looks there too.
pub fn default_pid_file(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("passenger.{port}.pid"))
}

/// The log file Passenger Standalone uses when daemonized: `<dir>/passenger.<port>.log`.
pub fn default_log_file(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("passenger.{port}.log"))
}
