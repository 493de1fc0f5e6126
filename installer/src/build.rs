//! The compile check and the module build, in a build directory whose `build.log`
//! keeps every command and what it printed.
//!
//! Owns: the build directory (removed after a success, kept after a failure so the
//! log can be read), the compile check (a tiny program against `httpd.h` and
//! `apr.h` with apxs's flags), `apxs -c` on [`crate::MODULE_SOURCE`] with the
//! running binary's path as `PASSENGER_BINARY`, and installing the `.so` into the
//! module directory (by rename, so a running Apache keeps its mapped copy intact).

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::detect::{Detection, Environment};
use crate::process::{self, Ran};
use crate::{MODULE_FILE_NAME, MODULE_SOURCE, MODULE_SOURCE_NAME};

/// How many lines of compiler output a failure shows.
pub const TAIL_LINES: usize = 20;

/// Which build step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The compile check.
    CompileCheck,
    /// `apxs -c` on the module.
    Module,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::CompileCheck => "compile check",
            Step::Module => "module build",
        })
    }
}

/// Errors of the build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A compiler or apxs run failed; `tail` is the end of its output.
    #[error("the {step} failed; the last lines of the compiler:\n{}\nThe full log is in {}", tail.join("\n"), log.display())]
    Failed {
        /// Which step.
        step: Step,
        /// The full log (the build directory is kept).
        log: PathBuf,
        /// The last [`TAIL_LINES`] lines it printed.
        tail: Vec<String>,
    },
    /// The build needs apxs and there is none.
    #[error("apxs was not found, so the module cannot be built")]
    NoApxs,
    /// The compile check needs a C compiler and there is none.
    #[error("no C compiler was found")]
    NoCompiler,
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with its path.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// A fresh directory under the temp dir for one installer run.
#[derive(Debug)]
pub struct BuildDir {
    path: PathBuf,
    keep: Cell<bool>,
}

impl BuildDir {
    /// Creates `$TMPDIR/passenger-rs-apache2.XXXXXX`.
    pub fn new() -> Result<Self, BuildError> {
        let dir = tempfile::Builder::new()
            .prefix("passenger-rs-apache2.")
            .tempdir()
            .map_err(io("creating the build directory"))?;
        Ok(BuildDir {
            path: dir.keep(),
            keep: Cell::new(false),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log every step appends to.
    pub fn log_path(&self) -> PathBuf {
        self.path.join("build.log")
    }

    fn log(&self, cmd: &Path, args: &[String], ran: &Ran) -> Result<(), BuildError> {
        let mut entry = format!("$ {}", cmd.display());
        for a in args {
            let _ = write!(entry, " {a}");
        }
        entry.push('\n');
        entry.push_str(&ran.combined());
        if !entry.ends_with('\n') {
            entry.push('\n');
        }
        let _ = writeln!(entry, "[{}]\n", if ran.success { "ok" } else { "failed" });
        let log = self.log_path();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(entry.as_bytes()))
            .map_err(io(format!("writing {}", log.display())))
    }

    /// Runs `cmd args` in the directory, logs it, and turns a failure into
    /// [`BuildError::Failed`] (keeping the directory).
    fn step(&self, step: Step, cmd: &Path, args: &[String]) -> Result<(), BuildError> {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = process::run_in(cmd, &refs, Some(&self.path))
            .map_err(io(format!("running {}", cmd.display())))?;
        self.log(cmd, args, &ran)?;
        if ran.success {
            return Ok(());
        }
        self.keep.set(true);
        let text = ran.combined();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec();
        Err(BuildError::Failed {
            step,
            log: self.log_path(),
            tail,
        })
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        if !self.keep.get() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The compiler apxs builds with, when it is in the search path; else the detected
/// C compiler.
fn compiler(d: &Detection, env: &Environment) -> Option<PathBuf> {
    d.apxs
        .as_ref()
        .map(|a| a.vars.cc.as_str())
        .filter(|cc| !cc.is_empty() && !cc.contains(char::is_whitespace))
        .and_then(|cc| env.find_command(cc))
        .or_else(|| d.cc.clone())
}

/// `--includes` and `--cppflags` of an apr/apu config tool, split into words.
fn config_flags(tool: Option<&Path>, args: &[&str]) -> Vec<String> {
    let Some(tool) = tool else { return Vec::new() };
    process::run(tool, args)
        .ok()
        .filter(|r| r.success)
        .map(|r| r.stdout.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

const CHECK_PROGRAM: &str = "\
#include <apr.h>
#include <apr_pools.h>
#include <apu.h>
#include <httpd.h>
#include <http_config.h>

int main(void)
{
    apr_pool_t *pool = NULL;
    (void)pool;
    return MODULE_MAGIC_NUMBER_MAJOR > 0 ? 0 : 1;
}
";

/// Compiles a tiny program against `httpd.h`, `apr.h` and `apu.h` with apxs's
/// flags: proves the headers and the compiler work before the real build.
pub fn compile_check(d: &Detection, env: &Environment, dir: &BuildDir) -> Result<(), BuildError> {
    let apxs = d.apxs.as_ref().ok_or(BuildError::NoApxs)?;
    let cc = compiler(d, env).ok_or(BuildError::NoCompiler)?;
    let source = dir.path().join("check.c");
    std::fs::write(&source, CHECK_PROGRAM).map_err(io(format!("writing {}", source.display())))?;
    let mut args: Vec<String> = apxs.vars.compile_flags.clone();
    if let Some(inc) = &apxs.vars.include_dir {
        args.push(format!("-I{}", inc.display()));
    }
    args.extend(config_flags(
        d.apr_config.as_deref(),
        &["--includes", "--cppflags"],
    ));
    args.extend(config_flags(d.apu_config.as_deref(), &["--includes"]));
    args.extend(["-c", "check.c", "-o", "check.o"].map(String::from));
    dir.step(Step::CompileCheck, &cc, &args)
}

/// The `-D` argument that gives the module the core binary's path, quoted for the
/// shell apxs runs its compiler through and as a C string literal.
pub fn binary_define(binary: &Path) -> String {
    let mut literal = String::from("\"");
    for c in binary.to_string_lossy().chars() {
        match c {
            '"' | '\\' => {
                literal.push('\\');
                literal.push(c);
            }
            _ => literal.push(c),
        }
    }
    literal.push('"');
    format!("-DPASSENGER_BINARY='{}'", literal.replace('\'', "'\\''"))
}

/// Builds the module with `apxs -c -Wc,-Wall -Wc,-Wextra -Wc,-Werror
/// -DPASSENGER_BINARY=...` and returns the built `.so` (inside `dir`).
pub fn build_module(d: &Detection, dir: &BuildDir, binary: &Path) -> Result<PathBuf, BuildError> {
    let apxs = d.apxs.as_ref().ok_or(BuildError::NoApxs)?;
    let source = dir.path().join(MODULE_SOURCE_NAME);
    std::fs::write(&source, MODULE_SOURCE).map_err(io(format!("writing {}", source.display())))?;
    let args: Vec<String> = [
        "-c",
        "-Wc,-Wall",
        "-Wc,-Wextra",
        "-Wc,-Werror",
        &binary_define(binary),
        MODULE_SOURCE_NAME,
    ]
    .map(String::from)
    .to_vec();
    dir.step(Step::Module, &apxs.path, &args)?;
    let built = dir.path().join(".libs").join(MODULE_FILE_NAME);
    if built.is_file() {
        Ok(built)
    } else {
        dir.keep.set(true);
        Err(BuildError::Failed {
            step: Step::Module,
            log: dir.log_path(),
            tail: vec![format!("apxs succeeded but left no {}", built.display())],
        })
    }
}

/// Installs `built` as `module_dir/mod_passenger.so` (mode 0644), replacing an old
/// one by rename; returns the installed path.
pub fn install_module(built: &Path, module_dir: &Path) -> Result<PathBuf, BuildError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(module_dir)
        .map_err(io(format!("creating {}", module_dir.display())))?;
    let target = module_dir.join(MODULE_FILE_NAME);
    let temp = module_dir.join(format!(".{MODULE_FILE_NAME}.{}", std::process::id()));
    std::fs::copy(built, &temp).map_err(io(format!("writing {}", temp.display())))?;
    let result = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o644))
        .and_then(|()| std::fs::rename(&temp, &target));
    if let Err(err) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(io(format!("installing {}", target.display()))(err));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_define_survives_one_shell_and_is_a_c_string() {
        assert_eq!(
            binary_define(Path::new("/usr/local/bin/passenger")),
            r#"-DPASSENGER_BINARY='"/usr/local/bin/passenger"'"#
        );
        assert_eq!(
            binary_define(Path::new("/x y/it's\\/p\"q")),
            r#"-DPASSENGER_BINARY='"/x y/it'\''s\\/p\"q"'"#
        );
    }

    #[test]
    fn a_failed_step_keeps_the_directory_and_tails_the_output() {
        let dir = BuildDir::new().expect("build dir");
        let path = dir.path().to_path_buf();
        let script = "for i in $(seq 1 30); do echo line $i; done; echo 'error: boom' >&2; exit 1";
        let err = dir
            .step(
                Step::Module,
                Path::new("/bin/sh"),
                &["-c".into(), script.into()],
            )
            .expect_err("fails");
        let BuildError::Failed { step, log, tail } = err else {
            panic!("not a build failure: {err}");
        };
        assert_eq!(step, Step::Module);
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("error: boom"));
        assert_eq!(tail.first().map(String::as_str), Some("line 12"));
        drop(dir);
        let text = std::fs::read_to_string(&log).expect("log kept");
        assert!(
            text.contains("line 1\n") && text.contains("[failed]"),
            "{text}"
        );
        std::fs::remove_dir_all(&path).expect("clean up");
    }

    #[test]
    fn a_successful_build_dir_is_removed() {
        let dir = BuildDir::new().expect("build dir");
        let path = dir.path().to_path_buf();
        dir.step(Step::CompileCheck, Path::new("/bin/true"), &[])
            .expect("ok");
        drop(dir);
        assert!(!path.exists());
    }
}
