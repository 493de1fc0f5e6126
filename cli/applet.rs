//! Multicall: which command the user ran, judged by `argv[0]`.
//!
//! `passenger-status`, `passenger-memory-stats`, `passenger-config` and
//! `passenger-install-apache2-module` are links to the one `passenger` binary; run
//! under such a name, it behaves as the matching subcommand. Owns the name table
//! and the rewrite of the clap tree (the subcommand is re-rooted under the typed
//! name, so `--help` and errors show that name). Does not own any subcommand.

use std::ffi::OsString;
use std::path::Path;

/// `(link name, subcommand)` for every applet name.
pub const APPLETS: &[(&str, &str)] = &[
    ("passenger-status", "status"),
    ("passenger-memory-stats", "memory-stats"),
    ("passenger-config", "config"),
    ("passenger-install-apache2-module", "install-apache2-module"),
    ("start_server", "start-server"),
];

/// How the binary was invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program name as the user typed it (file name of `argv[0]`), e.g.
    /// `passenger-status` or `passenger`.
    pub bin_name: String,
    /// The subcommand this name stands for, when it is an applet name.
    pub subcommand: Option<&'static str>,
}

impl Invocation {
    /// The command line for messages: `passenger-status`, or `passenger status` when
    /// `sub` was given as a subcommand.
    pub fn command_for(&self, sub: &str) -> String {
        match self.subcommand {
            Some(_) => self.bin_name.clone(),
            None => format!("{} {sub}", self.bin_name),
        }
    }
}

/// Classifies `argv0`.
pub fn classify(argv0: Option<&OsString>) -> Invocation {
    let bin_name = argv0
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "passenger".to_string());
    let subcommand = APPLETS
        .iter()
        .find(|(name, _)| *name == bin_name)
        .map(|(_, sub)| *sub);
    Invocation {
        bin_name,
        subcommand,
    }
}

/// The clap command to parse with: the whole tree for `passenger`, or the applet's
/// subcommand re-rooted under its link name.
pub fn command_for(root: clap::Command, inv: &Invocation) -> clap::Command {
    match inv.subcommand {
        Some(sub) => applet_command(&root, sub, &inv.bin_name),
        None => root.bin_name(inv.bin_name.clone()),
    }
}

/// The subcommand `sub` of `root` as a top-level command called `name`.
pub fn applet_command(root: &clap::Command, sub: &str, name: &str) -> clap::Command {
    let found = root
        .find_subcommand(sub)
        .cloned()
        .expect("invariant: every applet names an existing subcommand");
    found
        .name(name.to_string())
        .bin_name(name.to_string())
        .display_name(name.to_string())
        .version(passenger_core::VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_names_map_to_subcommands() {
        let inv = classify(Some(&OsString::from("/usr/local/bin/passenger-status")));
        assert_eq!(inv.bin_name, "passenger-status");
        assert_eq!(inv.subcommand, Some("status"));
        assert_eq!(inv.command_for("status"), "passenger-status");
        let inv = classify(Some(&OsString::from("./target/debug/passenger")));
        assert_eq!(inv.subcommand, None);
        assert_eq!(inv.command_for("status"), "passenger status");
        assert_eq!(classify(None).bin_name, "passenger");
    }
}
