//! What the server writes into `properties.json` besides the directory metadata.

/// What the server writes into `properties.json` besides the directory metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProperties {
    /// `watchdog_pid`: we have no separate watchdog, so this is the server's pid.
    pub watchdog_pid: u32,
    /// `core_pid` (ours): the pid serving requests.
    pub core_pid: u32,
    /// `passenger_version`.
    pub passenger_version: String,
    /// `server_software`, shown by tools as the description.
    pub server_software: String,
    /// `integration_mode`, `standalone` for us.
    pub integration_mode: String,
    /// `standalone_engine`, `builtin` for us (omitted when `None`).
    pub standalone_engine: Option<String>,
    /// `listen_addresses` (ours): the public addresses, e.g. `http://0.0.0.0:3000`.
    pub listen_addresses: Vec<String>,
}

impl Default for InstanceProperties {
    fn default() -> Self {
        let pid = std::process::id();
        InstanceProperties {
            watchdog_pid: pid,
            core_pid: pid,
            passenger_version: crate::VERSION.to_string(),
            server_software: crate::SERVER_SOFTWARE.to_string(),
            integration_mode: "standalone".to_string(),
            standalone_engine: Some("builtin".to_string()),
            listen_addresses: Vec::new(),
        }
    }
}
