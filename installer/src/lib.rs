//! The Apache module installer (`passenger-install-apache2-module`).
//!
//! Owns: finding apxs, Apache, apachectl and the APR tools in the original's order
//! ([`detect`]), the dependency checks and their per-distribution install commands
//! ([`checks`], [`distro`]), the compile check and the module build ([`build`]), and
//! the configuration snippet, the Debian-style `mods-available` files, `a2enmod`
//! and `apachectl configtest` ([`apache_config`]).
//!
//! Does not own: printing, prompting, spinners or exit codes (the `cli` crate
//! renders what these functions return, and calls them in order), nor the module
//! itself ([`MODULE_SOURCE`] is `installer/module/mod_passenger.c`, embedded so the
//! installer can build it anywhere).

pub mod apache_config;
pub mod build;
pub mod checks;
pub mod detect;
pub mod distro;
mod process;

/// The source of `mod_passenger`, built with `apxs` by [`build::build_module`].
pub const MODULE_SOURCE: &str = include_str!("../module/mod_passenger.c");

/// The file name of the module source and of the built module's stem:
/// `<IfModule mod_passenger.c>` names it.
pub const MODULE_SOURCE_NAME: &str = "mod_passenger.c";

/// The built module's file name.
pub const MODULE_FILE_NAME: &str = "mod_passenger.so";

pub use detect::{Detection, Environment};
