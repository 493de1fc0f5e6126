//! `passenger-install-apache2-module`: builds the Apache module. The installer crate
//! is a skeleton, so this reports that it is not available.

/// Build and install the Apache module (not available in this version).
#[derive(clap::Args, Debug, Clone)]
pub struct InstallApache2ModuleArgs {
    /// Run non-interactively.
    #[arg(long)]
    pub auto: bool,
}

/// Runs `install-apache2-module`.
pub fn run(_args: &InstallApache2ModuleArgs) -> anyhow::Result<i32> {
    Err(passenger_installer::InstallerError::NotAvailable.into())
}
