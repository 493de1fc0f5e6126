//! Apache's side of the installation: the configuration snippet, the Debian-style
//! `mods-available/passenger.{load,conf}` files and `a2enmod`, `apachectl
//! configtest`, and finding which `mod_passenger.so` a configuration loads (for
//! `passenger-config validate-install --validate-apache2`).
//!
//! Owns: the snippet's text and those files. Does not own: asking whether to write
//! them (the CLI asks).

use std::path::{Path, PathBuf};

use crate::detect::{find_in, Detection, Environment};
use crate::process;

/// The module's name in `LoadModule`.
pub const MODULE_NAME: &str = "passenger_module";

/// Errors of configuring Apache.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Writing a configuration file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A tool could not be run.
    #[error("running {tool}: {source}")]
    Run {
        /// The tool.
        tool: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("{tool} failed:\n{output}")]
    Failed {
        /// The command line.
        tool: String,
        /// What it printed.
        output: String,
    },
    /// There is no apachectl to ask.
    #[error("apachectl was not found")]
    NoApachectl,
}

/// The configuration that loads the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The installed `mod_passenger.so`.
    pub module: PathBuf,
    /// `PassengerRoot`: what `passenger-config --root` prints.
    pub root: PathBuf,
    /// `PassengerDefaultRuby`, when a Ruby was found.
    pub ruby: Option<PathBuf>,
}

impl Snippet {
    /// `LoadModule passenger_module <module>`.
    pub fn load_line(&self) -> String {
        format!("LoadModule {MODULE_NAME} {}", self.module.display())
    }

    /// The `<IfModule mod_passenger.c>` block.
    pub fn conf_block(&self) -> String {
        let mut out = String::from("<IfModule mod_passenger.c>\n");
        out.push_str(&format!("  PassengerRoot {}\n", self.root.display()));
        if let Some(ruby) = &self.ruby {
            out.push_str(&format!("  PassengerDefaultRuby {}\n", ruby.display()));
        }
        out.push_str("</IfModule>\n");
        out
    }

    /// The whole snippet, ending in a newline.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.load_line(), self.conf_block())
    }
}

/// A Debian-style Apache configuration: `mods-available/` plus `a2enmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianLayout {
    /// The configuration directory (`$APACHE_CONFDIR`, else apxs's `SYSCONFDIR`).
    pub conf_dir: PathBuf,
    /// `a2enmod`.
    pub a2enmod: PathBuf,
}

impl DebianLayout {
    /// `mods-available/passenger.load`.
    pub fn load_file(&self) -> PathBuf {
        self.conf_dir.join("mods-available/passenger.load")
    }

    /// `mods-available/passenger.conf`.
    pub fn conf_file(&self) -> PathBuf {
        self.conf_dir.join("mods-available/passenger.conf")
    }
}

/// The Debian layout, when the configuration directory has `mods-available/` and
/// `a2enmod` is found (next to apxs's `SBINDIR`/`BINDIR`, then in the search path).
pub fn debian_layout(d: &Detection, env: &Environment) -> Option<DebianLayout> {
    let vars = d.apxs.as_ref().map(|a| &a.vars);
    let conf_dir = env
        .var("APACHE_CONFDIR")
        .map(PathBuf::from)
        .or_else(|| vars.and_then(|v| v.sysconf_dir.clone()))?;
    if !conf_dir.join("mods-available").is_dir() {
        return None;
    }
    let dirs: Vec<PathBuf> = vars
        .map(|v| v.sbin_dir.iter().chain(v.bin_dir.iter()).cloned().collect())
        .unwrap_or_default();
    let a2enmod = find_in(&dirs, "a2enmod").or_else(|| env.find_command("a2enmod"))?;
    Some(DebianLayout { conf_dir, a2enmod })
}

/// What [`write_debian_config`] did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Where its different old content was saved, if it had some.
    pub backup: Option<PathBuf>,
}

const HEADER: &str = "# Written by passenger-install-apache2-module (passenger-rs).\n";

/// Writes `passenger.load` and `passenger.conf` into `mods-available/` (each by
/// temp file and rename; an existing file with other content is kept as `.bak`).
pub fn write_debian_config(
    layout: &DebianLayout,
    snippet: &Snippet,
) -> Result<Vec<Written>, ConfigError> {
    let files = [
        (
            layout.load_file(),
            format!("{HEADER}{}\n", snippet.load_line()),
        ),
        (
            layout.conf_file(),
            format!("{HEADER}{}", snippet.conf_block()),
        ),
    ];
    let mut out = Vec::new();
    for (path, content) in files {
        let write_err = |source| ConfigError::Write {
            path: path.clone(),
            source,
        };
        let mut backup = None;
        if let Ok(old) = std::fs::read_to_string(&path) {
            if old != content {
                let bak = PathBuf::from(format!("{}.bak", path.display()));
                std::fs::copy(&path, &bak).map_err(write_err)?;
                backup = Some(bak);
            }
        }
        let temp = PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
        std::fs::write(&temp, &content)
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                write_err(e)
            })?;
        out.push(Written { path, backup });
    }
    Ok(out)
}

/// `a2enmod passenger`, with `APACHE_CONFDIR` set to the layout's directory;
/// returns what it printed.
pub fn enable_module(layout: &DebianLayout) -> Result<String, ConfigError> {
    let out = std::process::Command::new(&layout.a2enmod)
        .arg("passenger")
        .env("APACHE_CONFDIR", &layout.conf_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| ConfigError::Run {
            tool: layout.a2enmod.clone(),
            source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(ConfigError::Failed {
            tool: format!("{} passenger", layout.a2enmod.display()),
            output: text,
        })
    }
}

/// `apachectl configtest`; returns what it printed (`Syntax OK`).
pub fn configtest(d: &Detection) -> Result<String, ConfigError> {
    let ctl = d.apachectl.as_deref().ok_or(ConfigError::NoApachectl)?;
    let ran = process::run(ctl, &["configtest"]).map_err(|source| ConfigError::Run {
        tool: ctl.to_path_buf(),
        source,
    })?;
    if ran.success {
        Ok(ran.combined())
    } else {
        Err(ConfigError::Failed {
            tool: format!("{} configtest", ctl.display()),
            output: ran.combined(),
        })
    }
}

/// Where the configuration loads the module from, and whether Apache loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedModule {
    /// The `LoadModule passenger_module` lines found: (file, module path).
    pub load_lines: Vec<(PathBuf, PathBuf)>,
    /// Whether `apachectl -t -D DUMP_MODULES` lists `passenger_module`.
    pub loaded: bool,
}

/// Parses `apachectl -t -D DUMP_INCLUDES`: the configuration files, in order.
pub fn parse_included_files(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('(')?;
            let (_, path) = rest.split_once(')')?;
            let path = path.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// The module path of every `LoadModule passenger_module` line in `text`;
/// relative paths are taken from `server_root`.
pub fn parse_load_module(text: &str, server_root: &Path) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let directive = words.next()?;
            if !directive.eq_ignore_ascii_case("LoadModule") || words.next()? != MODULE_NAME {
                return None;
            }
            let path = words.next()?.trim_matches('"');
            Some(server_root.join(path))
        })
        .collect()
}

/// Finds the `LoadModule passenger_module` lines of Apache's configuration and asks
/// Apache whether it loads the module.
pub fn loaded_module(d: &Detection) -> Result<LoadedModule, ConfigError> {
    let ctl = d.apachectl.as_deref().ok_or(ConfigError::NoApachectl)?;
    let run = |args: &[&str]| {
        process::run(ctl, args).map_err(|source| ConfigError::Run {
            tool: ctl.to_path_buf(),
            source,
        })
    };
    let includes = run(&["-t", "-D", "DUMP_INCLUDES"])?;
    if !includes.success {
        return Err(ConfigError::Failed {
            tool: format!("{} -t -D DUMP_INCLUDES", ctl.display()),
            output: includes.combined(),
        });
    }
    let files = parse_included_files(&includes.stdout);
    let server_root = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut load_lines = Vec::new();
    for file in files {
        if let Ok(text) = std::fs::read_to_string(&file) {
            for module in parse_load_module(&text, &server_root) {
                load_lines.push((file.clone(), module));
            }
        }
    }
    let modules = run(&["-t", "-D", "DUMP_MODULES"])?;
    let loaded = modules
        .stdout
        .lines()
        .any(|l| l.split_whitespace().next() == Some(MODULE_NAME));
    Ok(LoadedModule { load_lines, loaded })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(ruby: Option<&str>) -> Snippet {
        Snippet {
            module: PathBuf::from("/usr/lib/apache2/modules/mod_passenger.so"),
            root: PathBuf::from("/usr/local/share/passenger-rs"),
            ruby: ruby.map(PathBuf::from),
        }
    }

    #[test]
    fn snippet_text_is_the_originals_shape() {
        assert_eq!(
            snippet(Some("/usr/bin/ruby")).text(),
            "LoadModule passenger_module /usr/lib/apache2/modules/mod_passenger.so\n\
             <IfModule mod_passenger.c>\n  \
             PassengerRoot /usr/local/share/passenger-rs\n  \
             PassengerDefaultRuby /usr/bin/ruby\n\
             </IfModule>\n"
        );
        assert!(!snippet(None).text().contains("PassengerDefaultRuby"));
    }

    #[test]
    fn debian_files_are_written_with_a_backup_of_other_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("mods-available")).expect("mkdir");
        let layout = DebianLayout {
            conf_dir: dir.path().to_path_buf(),
            a2enmod: PathBuf::from("/usr/sbin/a2enmod"),
        };
        std::fs::write(layout.load_file(), "LoadModule passenger_module /old.so\n").expect("old");
        let written = write_debian_config(&layout, &snippet(None)).expect("writes");
        assert_eq!(written[0].path, layout.load_file());
        assert!(written[0].backup.is_some());
        assert_eq!(written[1].backup, None);
        let load = std::fs::read_to_string(layout.load_file()).expect("load");
        assert!(
            load.ends_with(
                "LoadModule passenger_module /usr/lib/apache2/modules/mod_passenger.so\n"
            ),
            "{load}"
        );
        let conf = std::fs::read_to_string(layout.conf_file()).expect("conf");
        assert!(
            conf.contains(
                "<IfModule mod_passenger.c>\n  PassengerRoot /usr/local/share/passenger-rs\n"
            ),
            "{conf}"
        );
        // Writing the same again keeps no second backup.
        let again = write_debian_config(&layout, &snippet(None)).expect("writes");
        assert!(again.iter().all(|w| w.backup.is_none()));
    }

    #[test]
    fn parses_dump_includes_and_load_module_lines() {
        let dump = "Included configuration files:\n  (*) /etc/apache2/apache2.conf\n    \
                    (146) /etc/apache2/mods-enabled/access_compat.load\n    \
                    (146) /etc/apache2/mods-enabled/passenger.load\n";
        assert_eq!(
            parse_included_files(dump),
            vec![
                PathBuf::from("/etc/apache2/apache2.conf"),
                PathBuf::from("/etc/apache2/mods-enabled/access_compat.load"),
                PathBuf::from("/etc/apache2/mods-enabled/passenger.load"),
            ]
        );
        let conf = "# LoadModule passenger_module /commented.so\n\
                    loadmodule passenger_module \"/abs/mod_passenger.so\"\n\
                    LoadModule passenger_module modules/mod_passenger.so\n\
                    LoadModule rewrite_module /x.so\n";
        assert_eq!(
            parse_load_module(conf, Path::new("/etc/httpd")),
            vec![
                PathBuf::from("/abs/mod_passenger.so"),
                PathBuf::from("/etc/httpd/modules/mod_passenger.so")
            ]
        );
    }
}
