//! Where the installation's resources live: the language loaders and other files
//! shipped next to the binary (Passenger's `$PASSENGER_ROOT/resources`).
//!
//! Owns the lookup of the resources directory only. It does not read or validate the
//! files inside it: the spawner names the loader scripts it needs and reports a
//! missing one as a spawn error.
//!
//! # Lookup order
//!
//! 1. The `PASSENGER_RESOURCES_DIR` environment variable, when set and not empty
//!    (taken as is, even if it does not exist, so a wrong value shows up in errors).
//! 2. `<dir of the executable>/../share/passenger-rs`, when that directory exists:
//!    the layout of an installed package (`/usr/bin/passenger` and
//!    `/usr/share/passenger-rs/helper-scripts/...`).
//! 3. The nearest ancestor of the executable's directory that contains
//!    `resources/helper-scripts`, giving `<ancestor>/resources`: covers running from a
//!    source checkout (`target/debug/passenger`, `target/debug/deps/<test binary>`).
//!
//! The answer is what `passenger-config --root`-style tools should show.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the resources directory.
pub const RESOURCES_DIR_ENV: &str = "PASSENGER_RESOURCES_DIR";

/// Directory under `resources/` holding the loaders.
pub const HELPER_SCRIPTS: &str = "helper-scripts";

/// The resources directory of this installation, found as described in the module
/// docs; `None` when no candidate exists.
pub fn resources_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(RESOURCES_DIR_ENV) {
        if !dir.is_empty() {
            return Some(PathBuf::from(dir));
        }
    }
    let exe = std::env::current_exe().ok()?;
    // Resolve symlinks so a `/usr/local/bin/passenger` link finds the real layout.
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    resources_dir_near(exe.parent()?)
}

/// Steps 2 and 3 of the lookup, starting from the executable's directory `exe_dir`.
pub fn resources_dir_near(exe_dir: &Path) -> Option<PathBuf> {
    if let Some(prefix) = exe_dir.parent() {
        let share = prefix.join("share").join("passenger-rs");
        if share.is_dir() {
            return Some(share);
        }
    }
    exe_dir
        .ancestors()
        .map(|dir| dir.join("resources"))
        .find(|candidate| candidate.join(HELPER_SCRIPTS).is_dir())
}

/// Path of the helper script `name` (e.g. `rack-loader.rb`) under `resources`.
pub fn helper_script(resources: &Path, name: &str) -> PathBuf {
    resources.join(HELPER_SCRIPTS).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_share_dir_of_an_installed_layout() {
        let root = tempfile::tempdir().expect("temp dir");
        let bin = root.path().join("bin");
        let share = root.path().join("share/passenger-rs");
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        std::fs::create_dir_all(&share).expect("mkdir share");
        assert_eq!(resources_dir_near(&bin), Some(share));
    }

    #[test]
    fn walks_up_to_a_source_checkout() {
        let root = tempfile::tempdir().expect("temp dir");
        let deps = root.path().join("target/debug/deps");
        let scripts = root.path().join("resources/helper-scripts");
        std::fs::create_dir_all(&deps).expect("mkdir deps");
        std::fs::create_dir_all(&scripts).expect("mkdir scripts");
        assert_eq!(
            resources_dir_near(&deps),
            Some(root.path().join("resources"))
        );
    }

    #[test]
    fn this_checkout_has_resources() {
        let dir = resources_dir().expect("the test binary lives in the checkout");
        assert!(helper_script(&dir, "rack-loader.rb").is_file());
    }
}
