//! Where this installation's resources (loaders, man pages, completions) live.
//!
//! The resources lookup itself is `passenger_core::resources`; this adds the
//! tools' view: the `--root` fallback, man pages and completions.

use std::path::{Path, PathBuf};

pub use passenger_core::resources::{resources_dir, HELPER_SCRIPTS, RESOURCES_DIR_ENV};

/// The loaders the spawner needs, one per loader-based app type.
pub const LOADERS: &[&str] = &["rack-loader.rb", "wsgi-loader.py", "node-loader.js"];

/// What `--root` prints: [`resources_dir`], or where an installed package would
/// keep it when nothing was found (so the operator sees where we looked).
pub fn root_or_default() -> PathBuf {
    resources_dir().unwrap_or_else(|| {
        current_exe()
            .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr"))
            .join("share")
            .join("passenger-rs")
    })
}

/// The running executable with symlinks resolved (so `/usr/local/bin/passenger-status`
/// finds the real layout).
pub fn current_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(std::fs::canonicalize(&exe).unwrap_or(exe))
}

/// The source checkout holding the executable (`<checkout>/target/<profile>/passenger`),
/// found by its `Cargo.toml` next to `man/`; `None` for an installed binary.
pub fn source_checkout() -> Option<PathBuf> {
    let exe = current_exe()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("cli").is_dir())
        .map(Path::to_path_buf)
}

/// Where the man pages are: `<prefix>/share/man/man1` for an installed binary, or
/// `man/` in a source checkout.
pub fn man_dir() -> Option<PathBuf> {
    if let Some(checkout) = source_checkout() {
        return Some(checkout.join("man"));
    }
    let exe = current_exe()?;
    Some(exe.parent()?.parent()?.join("share/man/man1"))
}

/// Where the shell completions are: `completions/` in a source checkout, else
/// `<resources>/completions`.
pub fn completions_dir() -> Option<PathBuf> {
    if let Some(checkout) = source_checkout() {
        return Some(checkout.join("completions"));
    }
    resources_dir().map(|r| r.join("completions"))
}
