//! Why metrics of a process could not be read.

/// Why metrics of a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The process does not exist, or exited while it was being read.
    #[error("process {pid} is gone")]
    Gone {
        /// The process id asked about.
        pid: u32,
    },
    /// `/proc/PID/<what>` exists but this user may not read it.
    #[error("cannot read /proc/{pid}/{what}: permission denied")]
    Unreadable {
        /// The process id asked about.
        pid: u32,
        /// Which `/proc/PID` file was denied.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: procfs::ProcError,
    },
    /// Any other failure reading `/proc/PID/<what>`.
    #[error("cannot read /proc/{pid}/{what}")]
    Read {
        /// The process id asked about.
        pid: u32,
        /// Which `/proc/PID` file failed.
        what: &'static str,
        /// The underlying error (an I/O error, or text `procfs` could not parse).
        #[source]
        source: procfs::ProcError,
    },
}
