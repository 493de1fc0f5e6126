//! Finding Apache's tools in the original installer's order, and what `apachectl -V`
//! says about the server.
//!
//! Owns: the search path (PATH plus the sbin directories), apxs (`--apxs2-path`,
//! then `$APXS2` with `none` meaning "not found", then `apxs2` and `apxs`), the
//! variables apxs knows, httpd (`$HTTPD`, apxs's `TARGET` in its `BINDIR`/`SBINDIR`,
//! then `apache2`, `httpd2`, `apache`, `httpd`), apachectl (`apache2ctl`,
//! `apachectl2`, `apachectl`), the APR and APR-util config tools (flag, environment,
//! apxs, then their bin directories), the C compiler, and parsing `apachectl -V`.
//! Does not own: judging what was found (see [`crate::checks`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::process;

/// Directories searched after `PATH`, as the original installer appends them.
pub const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// Errors of detection: only an apxs the operator named and that does not work.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// `--apxs2-path` or `$APXS2` names a file that is not there or not executable.
    #[error(
        "{origin} is {path}, which {problem}. Point it at Apache's apxs (package apache2-dev \
         or httpd-devel), or set APXS2=none to build nothing and see what is missing."
    )]
    ApxsMissing {
        /// `--apxs2-path` or `APXS2`.
        origin: ApxsOrigin,
        /// What it names.
        path: PathBuf,
        /// "does not exist" or "is not executable".
        problem: &'static str,
    },
    /// The named apxs runs but does not answer `apxs -q INCLUDEDIR`.
    #[error(
        "{origin} is {path}, which is not a working apxs: `{path} -q INCLUDEDIR` failed: {reason}"
    )]
    ApxsBroken {
        /// `--apxs2-path` or `APXS2`.
        origin: ApxsOrigin,
        /// What it names.
        path: PathBuf,
        /// Its last line of output, or the error running it.
        reason: String,
    },
}

/// The environment detection reads: a snapshot of variables (tests pass their own).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The current process's environment.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// An environment with exactly these variables.
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty one counts as unset.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `PATH`'s directories, then [`SBIN_DIRS`], each once.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let path = self.var("PATH").unwrap_or("");
        let sbin = SBIN_DIRS.iter().map(PathBuf::from);
        for dir in std::env::split_paths(path).chain(sbin) {
            if !dir.as_os_str().is_empty() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// The first executable `name` in [`Self::search_dirs`]; a name with a slash is
    /// taken as a path.
    pub fn find_command(&self, name: &str) -> Option<PathBuf> {
        if name.contains('/') {
            let path = PathBuf::from(name);
            return is_executable(&path).then_some(path);
        }
        find_in(&self.search_dirs(), name)
    }
}

/// The first executable `name` in `dirs`.
pub fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// Whether `path` is a regular file (after symlinks) with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where the apxs in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApxsOrigin {
    /// `--apxs2-path`.
    Flag,
    /// `$APXS2`.
    Env,
    /// `apxs2` or `apxs` found in the search path.
    Path,
}

impl std::fmt::Display for ApxsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApxsOrigin::Flag => "--apxs2-path",
            ApxsOrigin::Env => "APXS2",
            ApxsOrigin::Path => "PATH",
        })
    }
}

/// The variables of apxs the installer uses (`apxs -q NAME`); a query apxs refuses
/// is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApxsVars {
    /// `INCLUDEDIR`: where `httpd.h` is.
    pub include_dir: Option<PathBuf>,
    /// `LIBEXECDIR`: the default module directory.
    pub libexec_dir: Option<PathBuf>,
    /// `SYSCONFDIR`: Apache's configuration directory.
    pub sysconf_dir: Option<PathBuf>,
    /// `BINDIR`.
    pub bin_dir: Option<PathBuf>,
    /// `SBINDIR`.
    pub sbin_dir: Option<PathBuf>,
    /// `TARGET`: the server binary's name (`apache2`, `httpd`).
    pub target: String,
    /// `CC`: the compiler apxs builds with.
    pub cc: String,
    /// `CFLAGS`, `CPPFLAGS`, `EXTRA_CPPFLAGS` and `EXTRA_INCLUDES`, in that order.
    pub compile_flags: Vec<String>,
    /// `APR_CONFIG`.
    pub apr_config: Option<PathBuf>,
    /// `APU_CONFIG`.
    pub apu_config: Option<PathBuf>,
    /// `APR_BINDIR`.
    pub apr_bin_dir: Option<PathBuf>,
    /// `APU_BINDIR`.
    pub apu_bin_dir: Option<PathBuf>,
}

/// A usable apxs.
#[derive(Debug, Clone)]
pub struct Apxs {
    /// Its path.
    pub path: PathBuf,
    /// Where it was found.
    pub origin: ApxsOrigin,
    /// What it says about Apache.
    pub vars: ApxsVars,
}

/// What `apachectl -V` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `Apache/2.4.71 (Debian)`.
    pub description: String,
    /// `(2, 4, 71)`.
    pub version: (u32, u32, u32),
    /// `event`, `worker`, `prefork`, ...; `None` when not said.
    pub mpm: Option<String>,
}

impl ServerInfo {
    /// `2.4.71`.
    pub fn version_text(&self) -> String {
        let (a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }
}

/// Parses `apachectl -V` (or `httpd -V`): the `Server version:` line, and the MPM
/// from `Server MPM:` or, on old servers, `-D APACHE_MPM_DIR="server/mpm/<name>"`.
pub fn parse_server_info(text: &str) -> Option<ServerInfo> {
    let description = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Server version:"))?
        .trim()
        .to_string();
    let number = description
        .split_whitespace()
        .next()?
        .split_once('/')?
        .1
        .to_string();
    let mut parts = number.split('.').map(|p| {
        p.trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse::<u32>()
    });
    let major = parts.next()?.ok()?;
    let minor = parts.next().and_then(Result::ok).unwrap_or(0);
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    let mpm = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Server MPM:"))
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty())
        .or_else(|| {
            text.lines().find_map(|l| {
                let dir = l.trim().strip_prefix("-D APACHE_MPM_DIR=")?;
                let name = dir.trim_matches('"').rsplit('/').next()?;
                (!name.is_empty()).then(|| name.to_ascii_lowercase())
            })
        });
    Some(ServerInfo {
        description,
        version: (major, minor, patch),
        mpm,
    })
}

/// What the operator told the installer.
#[derive(Debug, Clone, Default)]
pub struct DetectOptions {
    /// `--apxs2-path`: wins over `$APXS2`.
    pub apxs2_path: Option<PathBuf>,
    /// `--apr-config-path`: wins over `$APR_CONFIG`.
    pub apr_config_path: Option<PathBuf>,
}

/// Everything found about the Apache on this machine.
#[derive(Debug, Clone)]
pub struct Detection {
    /// apxs, when there is a usable one (`APXS2=none` means none).
    pub apxs: Option<Apxs>,
    /// The server binary.
    pub httpd: Option<PathBuf>,
    /// apachectl.
    pub apachectl: Option<PathBuf>,
    /// `apr-1-config`.
    pub apr_config: Option<PathBuf>,
    /// `apu-1-config`.
    pub apu_config: Option<PathBuf>,
    /// `apachectl -V`, or why it could not be read.
    pub server: Result<ServerInfo, String>,
    /// The C compiler: `$CC`, else `cc`, else `gcc`.
    pub cc: Option<PathBuf>,
}

impl Detection {
    /// The default module directory: apxs's `LIBEXECDIR`.
    pub fn libexec_dir(&self) -> Option<&Path> {
        self.apxs.as_ref()?.vars.libexec_dir.as_deref()
    }
}

/// Finds apxs: `--apxs2-path`, `$APXS2` (`none` = not found), then `apxs2`, `apxs`.
/// A named apxs that is missing or broken is an error; one found in the search path
/// that does not answer is skipped.
pub fn find_apxs(opts: &DetectOptions, env: &Environment) -> Result<Option<Apxs>, DetectError> {
    let named = match (&opts.apxs2_path, env.var("APXS2")) {
        (Some(p), _) => Some((p.to_string_lossy().into_owned(), ApxsOrigin::Flag)),
        (None, Some(v)) => Some((v.to_string(), ApxsOrigin::Env)),
        (None, None) => None,
    };
    if let Some((value, origin)) = named {
        if value == "none" {
            return Ok(None);
        }
        let path = if value.contains('/') {
            PathBuf::from(&value)
        } else {
            env.find_command(&value)
                .unwrap_or_else(|| PathBuf::from(&value))
        };
        if !path.exists() {
            return Err(DetectError::ApxsMissing {
                origin,
                path,
                problem: "does not exist",
            });
        }
        if !is_executable(&path) {
            return Err(DetectError::ApxsMissing {
                origin,
                path,
                problem: "is not an executable file",
            });
        }
        let vars = query_vars(&path).map_err(|reason| DetectError::ApxsBroken {
            origin,
            path: path.clone(),
            reason,
        })?;
        return Ok(Some(Apxs { path, origin, vars }));
    }
    for name in ["apxs2", "apxs"] {
        if let Some(path) = env.find_command(name) {
            match query_vars(&path) {
                Ok(vars) => {
                    return Ok(Some(Apxs {
                        path,
                        origin: ApxsOrigin::Path,
                        vars,
                    }))
                }
                Err(reason) => {
                    tracing::debug!(apxs = %path.display(), %reason, "skipping an apxs that does not answer")
                }
            }
        }
    }
    Ok(None)
}

/// `apxs -q NAME` for one variable; `None` when apxs refuses it or it is empty.
fn query(apxs: &Path, name: &str) -> Option<String> {
    let ran = process::run(apxs, &["-q", name]).ok()?;
    let value = ran.stdout.trim().to_string();
    (ran.success && !value.is_empty()).then_some(value)
}

fn query_vars(apxs: &Path) -> Result<ApxsVars, String> {
    // INCLUDEDIR proves apxs works: every apxs knows it.
    let ran = process::run(apxs, &["-q", "INCLUDEDIR"]).map_err(|e| e.to_string())?;
    if !ran.success {
        let line = ran.last_line();
        return Err(if line.is_empty() {
            "it exited with an error and said nothing".into()
        } else {
            line
        });
    }
    let dir = |name: &str| query(apxs, name).map(PathBuf::from);
    let text = |name: &str| query(apxs, name).unwrap_or_default();
    let compile_flags = ["CFLAGS", "CPPFLAGS", "EXTRA_CPPFLAGS", "EXTRA_INCLUDES"]
        .iter()
        .flat_map(|v| {
            text(v)
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(ApxsVars {
        include_dir: Some(PathBuf::from(ran.stdout.trim())).filter(|p| !p.as_os_str().is_empty()),
        libexec_dir: dir("LIBEXECDIR"),
        sysconf_dir: dir("SYSCONFDIR"),
        bin_dir: dir("BINDIR"),
        sbin_dir: dir("SBINDIR"),
        target: text("TARGET"),
        cc: text("CC"),
        compile_flags,
        apr_config: dir("APR_CONFIG"),
        apu_config: dir("APU_CONFIG"),
        apr_bin_dir: dir("APR_BINDIR"),
        apu_bin_dir: dir("APU_BINDIR"),
    })
}

/// Detects everything in the original's order. Fails only for an apxs the operator
/// named that does not work.
pub fn detect(opts: &DetectOptions, env: &Environment) -> Result<Detection, DetectError> {
    let apxs = find_apxs(opts, env)?;
    let vars = apxs.as_ref().map(|a| &a.vars);
    let apxs_dirs: Vec<PathBuf> = vars
        .map(|v| v.bin_dir.iter().chain(v.sbin_dir.iter()).cloned().collect())
        .unwrap_or_default();

    let httpd = env
        .var("HTTPD")
        .and_then(|h| env.find_command(h))
        .or_else(|| {
            vars.filter(|v| !v.target.is_empty())
                .and_then(|v| find_in(&apxs_dirs, &v.target))
        })
        .or_else(|| first_command(env, &[], &["apache2", "httpd2", "apache", "httpd"]));
    let apachectl = first_command(env, &apxs_dirs, &["apache2ctl", "apachectl2", "apachectl"]);

    let apr_config = opts
        .apr_config_path
        .clone()
        .or_else(|| env.var("APR_CONFIG").map(PathBuf::from))
        .or_else(|| {
            vars.and_then(|v| v.apr_config.clone())
                .filter(|p| is_executable(p))
        })
        .or_else(|| {
            let dirs: Vec<PathBuf> = vars
                .and_then(|v| v.apr_bin_dir.clone())
                .into_iter()
                .collect();
            find_in(&dirs, "apr-1-config").or_else(|| find_in(&dirs, "apr-config"))
        })
        .or_else(|| first_command(env, &[], &["apr-1-config", "apr-config"]));
    let apu_config = env
        .var("APU_CONFIG")
        .map(PathBuf::from)
        .or_else(|| {
            vars.and_then(|v| v.apu_config.clone())
                .filter(|p| is_executable(p))
        })
        .or_else(|| {
            let dirs: Vec<PathBuf> = vars
                .and_then(|v| v.apu_bin_dir.clone())
                .into_iter()
                .collect();
            find_in(&dirs, "apu-1-config").or_else(|| find_in(&dirs, "apu-config"))
        })
        .or_else(|| first_command(env, &[], &["apu-1-config", "apu-config"]));

    let server = server_info(apachectl.as_deref(), httpd.as_deref());
    let cc = env
        .var("CC")
        .and_then(|cc| env.find_command(cc))
        .or_else(|| first_command(env, &[], &["cc", "gcc"]));
    Ok(Detection {
        apxs,
        httpd,
        apachectl,
        apr_config,
        apu_config,
        server,
        cc,
    })
}

/// The first of `names` in `dirs`, then in the search path.
fn first_command(env: &Environment, dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .find_map(|n| find_in(dirs, n))
        .or_else(|| names.iter().find_map(|n| env.find_command(n)))
}

/// `apachectl -V`, else `httpd -V` (Debian's `apache2 -V` fails without its
/// `envvars`, which apache2ctl reads).
fn server_info(apachectl: Option<&Path>, httpd: Option<&Path>) -> Result<ServerInfo, String> {
    let mut reasons = Vec::new();
    for tool in [apachectl, httpd].into_iter().flatten() {
        match process::run(tool, &["-V"]) {
            Ok(ran) => match parse_server_info(&ran.stdout) {
                Some(info) => return Ok(info),
                None => reasons.push(format!(
                    "`{} -V` said no server version ({})",
                    tool.display(),
                    ran.last_line()
                )),
            },
            Err(err) => reasons.push(format!("`{} -V`: {err}", tool.display())),
        }
    }
    if reasons.is_empty() {
        Err("neither apachectl nor the Apache binary was found".into())
    } else {
        Err(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_V: &str = include_str!("../tests/fixtures/apache2ctl-V-debian.txt");
    const OLD_V: &str = include_str!("../tests/fixtures/httpd-V-2.2-prefork.txt");

    #[test]
    fn parses_debian_apache2ctl_v() {
        let info = parse_server_info(DEBIAN_V).expect("parses");
        assert_eq!(info.description, "Apache/2.4.71 (Debian)");
        assert_eq!(info.version, (2, 4, 71));
        assert_eq!(info.version_text(), "2.4.71");
        assert_eq!(info.mpm.as_deref(), Some("event"));
    }

    #[test]
    fn parses_old_httpd_v_with_mpm_dir_only() {
        let info = parse_server_info(OLD_V).expect("parses");
        assert_eq!(info.version, (2, 2, 15));
        assert_eq!(info.mpm.as_deref(), Some("prefork"));
    }

    #[test]
    fn refuses_text_without_a_version() {
        assert_eq!(
            parse_server_info("AH00558: apache2: Could not reliably\n"),
            None
        );
        assert_eq!(parse_server_info("Server version: garbage\n"), None);
    }

    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "passenger-installer-test-{tag}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }
        /// An executable shell script `dir/name` printing `body`'s output.
        fn script(&self, dir: &str, name: &str, body: &str) -> PathBuf {
            use std::os::unix::fs::PermissionsExt;
            let d = self.0.join(dir);
            std::fs::create_dir_all(&d).expect("create dir");
            let p = d.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            p
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fake_apxs(s: &Scratch, dir: &str, name: &str) -> PathBuf {
        s.script(
            dir,
            name,
            "case \"$2\" in INCLUDEDIR) echo /inc;; LIBEXECDIR) echo /mods;; TARGET) echo apache2;; \
             *) echo \"apxs:Error: Invalid query string \\`$2'.\" >&2; exit 1;; esac",
        )
    }

    #[test]
    fn apxs_order_is_flag_then_env_then_apxs2_then_apxs() {
        let s = Scratch::new("order");
        let a = fake_apxs(&s, "a", "apxs");
        let b = fake_apxs(&s, "b", "apxs2");
        let flag = fake_apxs(&s, "f", "myapxs");
        let env_apxs = fake_apxs(&s, "e", "envapxs");
        let path = std::env::join_paths([s.0.join("a"), s.0.join("b")]).expect("join");
        let path = path.to_string_lossy().into_owned();

        let env = Environment::from_vars([("PATH", path.as_str())]);
        let found = find_apxs(&DetectOptions::default(), &env)
            .expect("ok")
            .expect("found");
        // apxs2 wins over apxs even though apxs's directory comes first.
        assert_eq!(found.path, b);
        assert_eq!(found.origin, ApxsOrigin::Path);
        assert_eq!(found.vars.include_dir.as_deref(), Some(Path::new("/inc")));
        assert_eq!(found.vars.libexec_dir.as_deref(), Some(Path::new("/mods")));
        // A refused query is empty, not an error.
        assert_eq!(found.vars.sysconf_dir, None);

        let env = Environment::from_vars([
            ("PATH", path.as_str()),
            ("APXS2", env_apxs.to_str().expect("utf8")),
        ]);
        let found = find_apxs(&DetectOptions::default(), &env)
            .expect("ok")
            .expect("found");
        assert_eq!(
            (found.path, found.origin),
            (env_apxs.clone(), ApxsOrigin::Env)
        );

        let opts = DetectOptions {
            apxs2_path: Some(flag.clone()),
            ..Default::default()
        };
        let found = find_apxs(&opts, &env).expect("ok").expect("found");
        assert_eq!((found.path, found.origin), (flag, ApxsOrigin::Flag));

        let env = Environment::from_vars([("PATH", path.as_str()), ("APXS2", "none")]);
        assert!(find_apxs(&DetectOptions::default(), &env)
            .expect("ok")
            .is_none());
        let _ = a;
    }

    #[test]
    fn a_bad_apxs2_is_a_clear_error() {
        let s = Scratch::new("bad");
        let env = Environment::from_vars([("PATH", ""), ("APXS2", "/nonexistent/apxs")]);
        let err = find_apxs(&DetectOptions::default(), &env).expect_err("missing");
        let text = err.to_string();
        assert!(
            text.starts_with("APXS2 is /nonexistent/apxs, which does not exist."),
            "{text}"
        );
        assert!(text.contains("APXS2=none"), "{text}");

        let broken = s.script("x", "apxs", "echo 'no such thing' >&2; exit 3");
        let opts = DetectOptions {
            apxs2_path: Some(broken.clone()),
            ..Default::default()
        };
        let text = find_apxs(&opts, &env).expect_err("broken").to_string();
        assert!(
            text.starts_with(&format!(
                "--apxs2-path is {}, which is not a working apxs",
                broken.display()
            )),
            "{text}"
        );
        assert!(text.ends_with("no such thing"), "{text}");

        let plain = s.0.join("x/notexec");
        std::fs::write(&plain, "").expect("write");
        let env = Environment::from_vars([("APXS2", plain.to_str().expect("utf8"))]);
        let text = find_apxs(&DetectOptions::default(), &env)
            .expect_err("plain")
            .to_string();
        assert!(text.contains("is not an executable file"), "{text}");
    }

    #[test]
    fn search_dirs_append_sbin_once() {
        let env = Environment::from_vars([("PATH", "/usr/bin:/usr/sbin:/opt/x")]);
        let dirs = env.search_dirs();
        let want: Vec<PathBuf> = [
            "/usr/bin",
            "/usr/sbin",
            "/opt/x",
            "/sbin",
            "/usr/local/sbin",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(dirs, want);
    }

    #[test]
    fn httpd_comes_from_apxs_target_in_its_dirs() {
        let s = Scratch::new("httpd");
        let apxs = s.script(
            "bin",
            "apxs",
            &format!(
                "case \"$2\" in INCLUDEDIR) echo /inc;; TARGET) echo apache2;; SBINDIR) echo {sbin};; \
                 *) exit 1;; esac",
                sbin = s.0.join("sbin").display()
            ),
        );
        let apache2 = s.script("sbin", "apache2", "exit 1");
        let ctl = s.script(
            "sbin",
            "apache2ctl",
            "echo 'Server version: Apache/2.4.62 (Unix)'; echo 'Server MPM:     prefork'",
        );
        // A decoy httpd in PATH must not win over apxs's TARGET.
        s.script("path", "httpd", "exit 1");
        let path = s.0.join("path").to_string_lossy().into_owned();
        let env = Environment::from_vars([
            ("PATH", path.as_str()),
            ("APXS2", apxs.to_str().expect("utf8")),
        ]);
        let d = detect(&DetectOptions::default(), &env).expect("detects");
        assert_eq!(d.httpd.as_deref(), Some(apache2.as_path()));
        assert_eq!(d.apachectl.as_deref(), Some(ctl.as_path()));
        let info = d.server.expect("server info");
        assert_eq!(info.version, (2, 4, 62));
        assert_eq!(info.mpm.as_deref(), Some("prefork"));
    }
}
