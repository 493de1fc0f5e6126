//! Running the tools the installer asks (apxs, apachectl, the compiler) and
//! capturing what they say. Owns nothing else.

use std::path::Path;
use std::process::{Command, Stdio};

/// What a finished command printed.
#[derive(Debug, Clone)]
pub(crate) struct Ran {
    /// Whether it exited 0.
    pub success: bool,
    /// Its stdout, lossily decoded.
    pub stdout: String,
    /// Its stderr, lossily decoded.
    pub stderr: String,
}

impl Ran {
    /// stdout then stderr, for logs and messages.
    pub fn combined(&self) -> String {
        let mut out = self.stdout.clone();
        if !out.is_empty() && !out.ends_with('\n') && !self.stderr.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.stderr);
        out
    }

    /// The last non-empty line of stderr (else stdout): the usual reason a tool gives.
    pub fn last_line(&self) -> String {
        let pick = |s: &str| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim)
                .map(String::from)
        };
        pick(&self.stderr)
            .or_else(|| pick(&self.stdout))
            .unwrap_or_default()
    }
}

/// Runs `program args` with stdin closed and output captured.
pub(crate) fn run(program: &Path, args: &[&str]) -> std::io::Result<Ran> {
    run_in(program, args, None)
}

/// [`run`] in the working directory `dir`.
pub(crate) fn run_in(program: &Path, args: &[&str], dir: Option<&Path>) -> std::io::Result<Ran> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    tracing::debug!(program = %program.display(), ?args, "running");
    let out = cmd.output()?;
    Ok(Ran {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
