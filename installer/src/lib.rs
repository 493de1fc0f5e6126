//! The Apache module installer (`passenger-install-apache2-module`).
//!
//! Owns: detecting apxs, Apache and Ruby, running the compile checks, building the
//! module and producing the configuration snippet. It does not print or prompt: the
//! `cli` crate renders its results. This crate is a skeleton until the Apache
//! integration issue is taken.

/// Errors of the installer.
#[derive(Debug, thiserror::Error)]
pub enum InstallerError {
    /// The Apache integration has not been built yet.
    #[error("the Apache module installer is not available in this version")]
    NotAvailable,
}
