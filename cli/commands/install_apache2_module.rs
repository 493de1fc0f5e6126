//! `passenger-install-apache2-module`: builds the Apache module. The installer crate
//! is a skeleton, so this reports that it is not available.

/// Not available yet: says that the Apache module installer is not in this version
/// and exits 1.
#[derive(clap::Args, Debug, Clone)]
pub struct InstallApache2ModuleArgs {
    /// Run non-interactively (accepted for scripts; nothing asks yet).
    #[arg(long)]
    pub auto: bool,
}

/// Runs `install-apache2-module`.
pub fn run(_args: &InstallApache2ModuleArgs) -> anyhow::Result<i32> {
    Err(passenger_installer::InstallerError::NotAvailable.into())
}
