//! The dependency checks, in the order they are shown: C compiler, apxs, Apache ≥
//! 2.4, a supported MPM, `httpd.h`, the APR and APR-util headers, then the chosen
//! languages (ruby and rack, python3, node).
//!
//! Owns: judging a [`Detection`] and naming what is missing as a [`Dependency`].
//! Does not own: finding things (see [`crate::detect`]) or the install commands
//! (see [`crate::distro`]).

use std::path::{Path, PathBuf};

use crate::detect::{Detection, Environment};
use crate::process;

/// MPMs the module supports.
pub const SUPPORTED_MPMS: &[&str] = &["event", "worker", "prefork"];

/// Something the installer needs that can be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dependency {
    /// A C compiler.
    Compiler,
    /// The Apache server itself.
    Apache,
    /// apxs and Apache's headers.
    ApacheDev,
    /// APR headers and `apr-1-config`.
    Apr,
    /// APR-util headers and `apu-1-config`.
    Apu,
    /// Apache older than 2.4.
    ApacheTooOld,
    /// An MPM other than event, worker or prefork.
    UnsupportedMpm,
    /// Ruby.
    Ruby,
    /// Rack for Ruby.
    Rack,
    /// Python 3.
    Python,
    /// Node.js.
    Node,
}

impl Dependency {
    /// What it is, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            Dependency::Compiler => "a C compiler",
            Dependency::Apache => "Apache 2.4",
            Dependency::ApacheDev => "Apache 2 development headers (apxs)",
            Dependency::Apr => "APR development headers",
            Dependency::Apu => "APR-util development headers",
            Dependency::ApacheTooOld => "Apache 2.4 or newer",
            Dependency::UnsupportedMpm => "the event, worker or prefork MPM",
            Dependency::Ruby => "Ruby",
            Dependency::Rack => "Rack",
            Dependency::Python => "Python 3",
            Dependency::Node => "Node.js",
        }
    }
}

/// A language the operator wants to serve apps in (`--languages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Ruby (Rack, Rails).
    Ruby,
    /// Python (WSGI).
    Python,
    /// Node.js.
    Nodejs,
}

impl Language {
    /// Every language, in menu order.
    pub const ALL: [Language; 3] = [Language::Ruby, Language::Python, Language::Nodejs];

    /// The `--languages` name.
    pub fn name(&self) -> &'static str {
        match self {
            Language::Ruby => "ruby",
            Language::Python => "python",
            Language::Nodejs => "nodejs",
        }
    }

    /// The interpreter looked for in the search path.
    pub fn command(&self) -> &'static str {
        match self {
            Language::Ruby => "ruby",
            Language::Python => "python3",
            Language::Nodejs => "node",
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    /// `ruby`, `python`, `nodejs` (also `node`, `python3`, and the original's
    /// `meteor`, which runs on Node).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ruby" => Ok(Language::Ruby),
            "python" | "python3" => Ok(Language::Python),
            "nodejs" | "node" | "meteor" => Ok(Language::Nodejs),
            other => Err(format!(
                "unknown language '{other}' (choose from ruby, python, nodejs)"
            )),
        }
    }
}

/// The languages whose interpreter is in the search path: the default choice.
pub fn languages_in_path(env: &Environment) -> Vec<Language> {
    Language::ALL
        .into_iter()
        .filter(|l| env.find_command(l.command()).is_some())
        .collect()
}

/// The Ruby the snippet names as `PassengerDefaultRuby`: `ruby` in the search path.
pub fn find_ruby(env: &Environment) -> Option<PathBuf> {
    env.find_command("ruby")
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `C compiler`.
    pub name: String,
    /// Found: what (a path, a version). Missing: why.
    pub detail: String,
    /// `None` when the check passed; else what to install.
    pub missing: Option<Dependency>,
}

impl Check {
    fn ok(name: &str, detail: impl Into<String>) -> Self {
        Check {
            name: name.to_string(),
            detail: detail.into(),
            missing: None,
        }
    }

    fn missing(name: &str, detail: impl Into<String>, dep: Dependency) -> Self {
        Check {
            name: name.to_string(),
            detail: detail.into(),
            missing: Some(dep),
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.missing.is_none()
    }
}

/// Runs every check in order, handing each result to `on_check` as soon as it is
/// known (the CLI prints it), and returns them all.
pub fn run_checks(
    d: &Detection,
    languages: &[Language],
    env: &Environment,
    mut on_check: impl FnMut(&Check),
) -> Vec<Check> {
    let mut all = Vec::new();
    let mut push = |c: Check| {
        on_check(&c);
        all.push(c);
    };
    push(match &d.cc {
        Some(cc) => Check::ok("C compiler", cc.display().to_string()),
        None => Check::missing(
            "C compiler",
            "not found (looked for $CC, cc, gcc)",
            Dependency::Compiler,
        ),
    });
    push(match &d.apxs {
        Some(a) => Check::ok(
            "Apache 2 development headers (apxs)",
            match a.origin {
                crate::detect::ApxsOrigin::Path => a.path.display().to_string(),
                origin => format!("{} (from {origin})", a.path.display()),
            },
        ),
        None => Check::missing(
            "Apache 2 development headers (apxs)",
            if env.var("APXS2") == Some("none") {
                "not found (APXS2=none)".to_string()
            } else {
                "not found (looked for apxs2 and apxs in PATH and the sbin directories)".to_string()
            },
            Dependency::ApacheDev,
        ),
    });
    push(apache_version(d));
    push(mpm(d));
    push(header(
        "httpd.h",
        d.apxs
            .as_ref()
            .and_then(|a| a.vars.include_dir.clone())
            .ok_or_else(|| "no apxs to say where Apache's headers are".to_string()),
        "httpd.h",
        Dependency::ApacheDev,
    ));
    push(header(
        "APR headers (apr.h)",
        config_include_dir(d.apr_config.as_deref(), "apr-1-config"),
        "apr.h",
        Dependency::Apr,
    ));
    push(header(
        "APR-util headers (apu.h)",
        config_include_dir(d.apu_config.as_deref(), "apu-1-config"),
        "apu.h",
        Dependency::Apu,
    ));
    for lang in languages {
        match lang {
            Language::Ruby => {
                let ruby = env.find_command("ruby");
                push(interpreter("Ruby", ruby.as_deref(), Dependency::Ruby));
                if let Some(ruby) = ruby {
                    push(rack(&ruby));
                }
            }
            Language::Python => {
                let python = env.find_command("python3");
                push(interpreter(
                    "Python 3",
                    python.as_deref(),
                    Dependency::Python,
                ));
            }
            Language::Nodejs => {
                let node = env
                    .find_command("node")
                    .or_else(|| env.find_command("nodejs"));
                push(interpreter("Node.js", node.as_deref(), Dependency::Node));
            }
        }
    }
    all
}

/// The missing dependencies of `checks`, each once, in order.
pub fn missing(checks: &[Check]) -> Vec<Dependency> {
    let mut out = Vec::new();
    for dep in checks.iter().filter_map(|c| c.missing) {
        if !out.contains(&dep) {
            out.push(dep);
        }
    }
    out
}

fn apache_version(d: &Detection) -> Check {
    const NAME: &str = "Apache ≥ 2.4";
    let Some(httpd) = &d.httpd else {
        return Check::missing(
            NAME,
            "Apache not found (looked for apache2, httpd2, apache, httpd)",
            Dependency::Apache,
        );
    };
    match &d.server {
        Ok(info) if info.version >= (2, 4, 0) => Check::ok(
            NAME,
            format!("{} ({})", info.version_text(), httpd.display()),
        ),
        Ok(info) => Check::missing(
            NAME,
            format!("{} is {}", httpd.display(), info.description),
            Dependency::ApacheTooOld,
        ),
        Err(why) => Check::missing(NAME, format!("version unknown: {why}"), Dependency::Apache),
    }
}

fn mpm(d: &Detection) -> Check {
    const NAME: &str = "a supported MPM (event, worker, prefork)";
    match &d.server {
        Ok(info) => match &info.mpm {
            Some(m) if SUPPORTED_MPMS.contains(&m.as_str()) => Check::ok(NAME, m.clone()),
            Some(m) => Check::missing(
                NAME,
                format!("Apache uses the {m} MPM"),
                Dependency::UnsupportedMpm,
            ),
            None => Check::missing(
                NAME,
                "apachectl -V does not name the MPM",
                Dependency::UnsupportedMpm,
            ),
        },
        Err(_) => Check::missing(
            NAME,
            "unknown: Apache's version could not be read",
            Dependency::Apache,
        ),
    }
}

fn header(name: &str, dir: Result<PathBuf, String>, file: &str, dep: Dependency) -> Check {
    match dir {
        Ok(dir) => {
            let path = dir.join(file);
            if path.is_file() {
                Check::ok(name, path.display().to_string())
            } else {
                Check::missing(name, format!("{} does not exist", path.display()), dep)
            }
        }
        Err(why) => Check::missing(name, format!("not found: {why}"), dep),
    }
}

/// `apr-1-config --includedir` (or apu's), or why it is not known.
fn config_include_dir(tool: Option<&Path>, name: &str) -> Result<PathBuf, String> {
    let tool = tool.ok_or_else(|| format!("{name} not found"))?;
    let ran = process::run(tool, &["--includedir"])
        .map_err(|e| format!("`{} --includedir`: {e}", tool.display()))?;
    let dir = ran.stdout.trim();
    if ran.success && !dir.is_empty() {
        Ok(PathBuf::from(dir))
    } else {
        Err(format!(
            "`{} --includedir` failed: {}",
            tool.display(),
            ran.last_line()
        ))
    }
}

fn interpreter(name: &str, path: Option<&Path>, dep: Dependency) -> Check {
    match path {
        Some(p) => Check::ok(name, p.display().to_string()),
        None => Check::missing(name, "not found in PATH", dep),
    }
}

fn rack(ruby: &Path) -> Check {
    const NAME: &str = "Rack";
    let script = "require 'rack'; print(Rack.respond_to?(:release) ? Rack.release : 'yes')";
    match process::run(ruby, &["-e", script]) {
        Ok(ran) if ran.success => Check::ok(NAME, format!("version {}", ran.stdout.trim())),
        Ok(_) => Check::missing(
            NAME,
            format!("{} cannot load rack", ruby.display()),
            Dependency::Rack,
        ),
        Err(err) => Check::missing(
            NAME,
            format!("could not run {}: {err}", ruby.display()),
            Dependency::Rack,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::ServerInfo;

    fn detection() -> Detection {
        Detection {
            apxs: None,
            httpd: Some(PathBuf::from("/usr/sbin/apache2")),
            apachectl: None,
            apr_config: None,
            apu_config: None,
            server: Ok(ServerInfo {
                description: "Apache/2.4.71 (Debian)".into(),
                version: (2, 4, 71),
                mpm: Some("event".into()),
            }),
            cc: Some(PathBuf::from("/usr/bin/cc")),
        }
    }

    #[test]
    fn languages_parse_with_aliases() {
        assert_eq!("ruby".parse::<Language>(), Ok(Language::Ruby));
        assert_eq!("Python".parse::<Language>(), Ok(Language::Python));
        assert_eq!("meteor".parse::<Language>(), Ok(Language::Nodejs));
        assert!("cobol".parse::<Language>().unwrap_err().contains("cobol"));
    }

    #[test]
    fn apxs_none_is_missing_dev_headers_and_checks_keep_their_order() {
        let env = Environment::from_vars([("APXS2", "none"), ("PATH", "")]);
        let mut seen = Vec::new();
        let checks = run_checks(&detection(), &[], &env, |c| seen.push(c.name.clone()));
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, seen.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            names,
            [
                "C compiler",
                "Apache 2 development headers (apxs)",
                "Apache ≥ 2.4",
                "a supported MPM (event, worker, prefork)",
                "httpd.h",
                "APR headers (apr.h)",
                "APR-util headers (apu.h)"
            ]
        );
        assert_eq!(checks[1].detail, "not found (APXS2=none)");
        assert_eq!(checks[2].detail, "2.4.71 (/usr/sbin/apache2)");
        assert_eq!(checks[3].detail, "event");
        assert_eq!(
            missing(&checks),
            vec![Dependency::ApacheDev, Dependency::Apr, Dependency::Apu]
        );
    }

    #[test]
    fn old_apache_and_other_mpms_fail() {
        let mut d = detection();
        d.server = Ok(ServerInfo {
            description: "Apache/2.2.15 (Unix)".into(),
            version: (2, 2, 15),
            mpm: Some("itk".into()),
        });
        let env = Environment::from_vars([("PATH", "")]);
        let checks = run_checks(&d, &[], &env, |_| {});
        assert_eq!(checks[2].missing, Some(Dependency::ApacheTooOld));
        assert_eq!(checks[3].missing, Some(Dependency::UnsupportedMpm));
        assert_eq!(checks[3].detail, "Apache uses the itk MPM");
    }

    #[test]
    fn a_missing_interpreter_names_its_package() {
        let env = Environment::from_vars([("PATH", "/nonexistent")]);
        let mut d = detection();
        d.cc = None;
        let checks = run_checks(&d, &[Language::Nodejs], &env, |_| {});
        let node = checks.last().expect("a node check");
        assert_eq!(node.name, "Node.js");
        assert_eq!(node.missing, Some(Dependency::Node));
        assert_eq!(checks[0].missing, Some(Dependency::Compiler));
    }
}
