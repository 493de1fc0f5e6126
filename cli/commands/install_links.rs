//! `passenger install-links DIR`: create the applet links (`passenger-status`,
//! `passenger-config`, ...) pointing at this binary.

use std::path::PathBuf;

use anyhow::Context;

use crate::applet::APPLETS;
use crate::exit;
use crate::output;

/// Create the passenger-status, passenger-memory-stats, passenger-config and
/// passenger-install-apache2-module links to this binary in DIR.
#[derive(clap::Args, Debug, Clone)]
pub struct InstallLinksArgs {
    /// Directory for the links, e.g. /usr/local/bin.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Replace existing files with these names.
    #[arg(short, long)]
    pub force: bool,
}

/// Runs `install-links`.
pub fn run(args: &InstallLinksArgs) -> anyhow::Result<i32> {
    let exe = crate::resources::current_exe().context("cannot find this executable")?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    for (name, _) in APPLETS {
        let link = args.dir.join(name);
        if link.symlink_metadata().is_ok() {
            if std::fs::read_link(&link).ok().as_ref() == Some(&exe) {
                output::print(&format!(
                    "{} already links to {}\n",
                    link.display(),
                    exe.display()
                ))?;
                continue;
            }
            if !args.force {
                anyhow::bail!(
                    "{} exists and is not a link to {}; pass --force to replace it",
                    link.display(),
                    exe.display()
                );
            }
            std::fs::remove_file(&link)
                .with_context(|| format!("cannot remove {}", link.display()))?;
        }
        std::os::unix::fs::symlink(&exe, &link)
            .with_context(|| format!("cannot create {}", link.display()))?;
        output::print(&format!("{} -> {}\n", link.display(), exe.display()))?;
    }
    Ok(exit::OK)
}
