//! `passenger-config validate-install`: checks this installation (binary in PATH,
//! no other passenger-rs binary in PATH, resources, loaders, man pages, shell
//! completions) and, with `--validate-apache2`, Apache (installed, and loading a
//! `mod_passenger.so` built for this binary), and prints each check with ✓ / ✗ / (!).
//!
//! Exit codes: 0 all passed; 1 some check failed; 2 only warnings.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::exit;
use crate::output::{self, Mark, PRODUCT};
use crate::resources;

/// Validate this passenger-rs installation. Exit codes: 0 all checks passed, 1 some
/// failed with an error, 2 no errors but some warnings.
#[derive(clap::Args, Debug, Clone)]
pub struct ValidateInstallArgs {
    /// Run non-interactively (accepted for compatibility; the checks never ask).
    #[arg(long)]
    pub auto: bool,
    /// Never output colors.
    #[arg(long)]
    pub no_colors: bool,
    /// Do not display a summary.
    #[arg(long)]
    pub no_summary: bool,
    /// Also check Apache: that it is installed, and that its configuration loads a
    /// mod_passenger.so built for this passenger binary.
    #[arg(long)]
    pub validate_apache2: bool,
    /// The Apache installation to validate, by its apxs (default: $APXS2, then apxs2
    /// and apxs in PATH).
    #[arg(long, value_name = "PATH", requires = "validate_apache2")]
    pub apxs2_path: Option<PathBuf>,
}

struct Check {
    what: String,
    mark: Mark,
    detail: Option<String>,
}

fn path_hits() -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    let mut seen = Vec::new();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("passenger");
        if candidate.is_file() {
            let real = std::fs::canonicalize(&candidate).unwrap_or(candidate);
            if !seen.contains(&real) {
                seen.push(real);
            }
        }
    }
    seen
}

/// Marks this binary, so that another copy of it can be told from other programs
/// called `passenger` (Phusion Passenger's is a Ruby script). `#[used]` and the
/// `black_box` read below keep the bytes in the binary as they are: optimised code
/// could otherwise compare against them as immediate values, leaving no copy.
#[used]
static BINARY_MARKER: [u8; 29] = *b"passenger-rs multicall binary";

/// Whether `path` is a passenger-rs binary: an ELF file holding [`BINARY_MARKER`].
fn is_passenger_rs(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let marker: &[u8] = std::hint::black_box(&BINARY_MARKER);
    let mut buf = vec![0u8; 1 << 20];
    let mut carried = 0;
    let mut first = true;
    loop {
        let n = match file.read(&mut buf[carried..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let filled = carried + n;
        if first && !buf[..filled].starts_with(b"\x7fELF") {
            return false;
        }
        first = false;
        if buf[..filled].windows(marker.len()).any(|w| w == marker) {
            return true;
        }
        // Keep the tail: the marker may straddle two reads.
        carried = (marker.len() - 1).min(filled);
        buf.copy_within(filled - carried..filled, 0);
    }
}

fn checks(args: &ValidateInstallArgs) -> Vec<Check> {
    let mut out = Vec::new();
    let exe = resources::current_exe();
    let hits = path_hits();
    let in_path = exe.as_ref().is_some_and(|e| hits.first() == Some(e));
    out.push(Check {
        what: format!("whether this {PRODUCT} install is in PATH"),
        mark: if in_path { Mark::Ok } else { Mark::Warning },
        detail: (!in_path).then(|| {
            let first = hits.first().map(|p| {
                let whose = if is_passenger_rs(p) {
                    ""
                } else {
                    " (not passenger-rs: Phusion Passenger or another program)"
                };
                format!("{}{whose}", p.display())
            });
            format!(
                "`passenger` in PATH is {}, not this binary ({}).",
                first.unwrap_or_else(|| "missing".into()),
                exe.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        }),
    });
    // Other copies of passenger-rs only: Phusion Passenger's `passenger` is not ours.
    let others: Vec<&PathBuf> = hits
        .iter()
        .filter(|h| Some(*h) != exe.as_ref() && is_passenger_rs(h))
        .collect();
    out.push(Check {
        what: format!("whether there are no other {PRODUCT} installations"),
        mark: if others.is_empty() {
            Mark::Ok
        } else {
            Mark::Warning
        },
        detail: (!others.is_empty()).then(|| {
            let list: Vec<String> = others.iter().map(|p| p.display().to_string()).collect();
            format!("Other installations: {}", list.join(", "))
        }),
    });
    let root = resources::resources_dir();
    let root_ok = root.as_ref().is_some_and(|r| r.is_dir());
    out.push(Check {
        what: "whether the resources directory exists".into(),
        mark: if root_ok { Mark::Ok } else { Mark::Error },
        detail: (!root_ok).then(|| {
            format!(
                "Not found (looked at {}); set {} or reinstall.",
                resources::root_or_default().display(),
                resources::RESOURCES_DIR_ENV
            )
        }),
    });
    if let Some(root) = root.filter(|_| root_ok) {
        let missing: Vec<&str> = resources::LOADERS
            .iter()
            .copied()
            .filter(|l| !root.join(resources::HELPER_SCRIPTS).join(l).is_file())
            .collect();
        out.push(Check {
            what: "whether the app loaders are present".into(),
            mark: if missing.is_empty() {
                Mark::Ok
            } else {
                Mark::Error
            },
            detail: (!missing.is_empty()).then(|| {
                format!(
                    "Missing in {}: {}",
                    root.join(resources::HELPER_SCRIPTS).display(),
                    missing.join(", ")
                )
            }),
        });
        let module = root.join("apache2").join("mod_passenger.so");
        if module.exists() {
            let ok = is_elf(&module);
            out.push(Check {
                what: "whether the Apache module is a loadable library".into(),
                mark: if ok { Mark::Ok } else { Mark::Error },
                detail: (!ok).then(|| format!("{} is not an ELF shared object", module.display())),
            });
        }
    }
    if args.validate_apache2 {
        out.extend(apache_checks(args.apxs2_path.clone()));
    }
    out.push(installed(
        "the man pages",
        resources::man_dir(),
        "the man directory",
        "passenger-status.1",
    ));
    out.push(installed(
        "the shell completions",
        resources::completions_dir(),
        "the completions directory",
        "passenger.bash",
    ));
    out
}

/// A warning unless `dir/file` exists: `what` (e.g. the man pages) is not installed.
fn installed(what: &str, dir: Option<PathBuf>, dir_name: &str, file: &str) -> Check {
    let ok = dir.as_ref().is_some_and(|d| d.join(file).is_file());
    Check {
        what: format!("whether {what} are installed"),
        mark: if ok { Mark::Ok } else { Mark::Warning },
        detail: (!ok).then(|| {
            let place = dir.map_or_else(|| dir_name.to_string(), |d| d.display().to_string());
            format!("{file} not found in {place}")
        }),
    }
}

/// "whether Apache is installed" and "whether the module is correctly configured
/// in Apache": the configuration (`apachectl -t -D DUMP_INCLUDES`) has a
/// `LoadModule passenger_module` line, Apache loads it (`-D DUMP_MODULES`), and
/// the file is an ELF object built for this binary (it holds this binary's path,
/// which the installer compiles in).
fn apache_checks(apxs2_path: Option<PathBuf>) -> Vec<Check> {
    use passenger_installer::{apache_config, detect};
    let env = detect::Environment::from_process();
    let opts = detect::DetectOptions {
        apxs2_path,
        apr_config_path: None,
    };
    let installed_what = "whether Apache is installed".to_string();
    let configured_what = format!("whether the {PRODUCT} module is correctly configured in Apache");
    let detection = match detect::detect(&opts, &env) {
        Ok(d) => d,
        Err(e) => {
            return vec![Check {
                what: installed_what,
                mark: Mark::Error,
                detail: Some(e.to_string()),
            }]
        }
    };
    let server = match (&detection.apachectl, &detection.server) {
        (Some(_), Ok(info)) => Ok(info.description.clone()),
        (None, _) => Err("apachectl was not found".to_string()),
        (_, Err(why)) => Err(why.clone()),
    };
    let mut out = vec![Check {
        what: installed_what,
        mark: if server.is_ok() {
            Mark::Ok
        } else {
            Mark::Error
        },
        detail: server.as_ref().err().cloned(),
    }];
    if server.is_err() {
        return out;
    }
    let exe = resources::current_exe();
    let problem = match apache_config::loaded_module(&detection) {
        Err(e) => Some(format!("Apache's configuration could not be read: {e}")),
        Ok(found) if found.load_lines.is_empty() => Some(
            "No `LoadModule passenger_module` line in Apache's configuration; \
             run passenger-install-apache2-module for the lines to add."
                .to_string(),
        ),
        Ok(found) => {
            let (file, module) = found
                .load_lines
                .last()
                .expect("invariant: not empty")
                .clone();
            if !module.is_file() {
                Some(format!(
                    "{} (loaded by {}) does not exist",
                    module.display(),
                    file.display()
                ))
            } else if !is_elf(&module) {
                Some(format!("{} is not an ELF shared object", module.display()))
            } else if !exe
                .as_ref()
                .is_some_and(|e| file_contains(&module, e.as_os_str().as_encoded_bytes()))
            {
                Some(format!(
                    "{} was built for another passenger binary, not {}; run passenger-install-apache2-module again",
                    module.display(),
                    exe.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
                ))
            } else if !found.loaded {
                Some(format!(
                    "Apache does not load {} (apachectl -M does not list passenger_module)",
                    module.display()
                ))
            } else {
                None
            }
        }
    };
    out.push(Check {
        what: configured_what,
        mark: if problem.is_none() {
            Mark::Ok
        } else {
            Mark::Error
        },
        detail: problem,
    });
    out
}

/// Whether the file at `path` holds `needle` as a C string: followed by a NUL, or by a
/// quote and a NUL (the module keeps `PASSENGER_BINARY` as the text of the macro, which
/// is the quoted literal when apxs was given `-DPASSENGER_BINARY='"path"'`).
fn file_contains(path: &Path, needle: &[u8]) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    [&b"\0"[..], &b"\"\0"[..]].iter().any(|end| {
        let mut wanted = needle.to_vec();
        wanted.extend_from_slice(end);
        bytes.windows(wanted.len()).any(|w| w == wanted.as_slice())
    })
}

fn is_elf(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.starts_with(b"\x7fELF"))
        .unwrap_or(false)
}

/// Runs `validate-install`.
pub fn run(args: &ValidateInstallArgs) -> anyhow::Result<i32> {
    let color = !args.no_colors && std::io::stdout().is_terminal();
    let results = checks(args);
    let mut text = String::new();
    for c in &results {
        text.push_str(&format!(
            " * Checking {}... {}\n",
            c.what,
            output::mark(c.mark, color)
        ));
        if let Some(d) = &c.detail {
            text.push_str(&format!("   {d}\n"));
        }
    }
    let errors = results.iter().filter(|c| c.mark == Mark::Error).count();
    let warnings = results.iter().filter(|c| c.mark == Mark::Warning).count();
    if !args.no_summary {
        text.push('\n');
        text.push_str(&match (errors, warnings) {
            (0, 0) => "Everything looks good. :-)\n".to_string(),
            (0, w) => format!("Detected 0 error(s), {w} warning(s).\n"),
            (e, w) => format!("Detected {e} error(s), {w} warning(s).\n"),
        });
    }
    output::print(&text)?;
    Ok(if errors > 0 {
        exit::FAILURE
    } else if warnings > 0 {
        exit::WARNINGS
    } else {
        exit::OK
    })
}
