//! `passenger-install-apache2-module`: checks what building the Apache module
//! needs, builds `mod_passenger.so` with apxs, installs it, prints the configuration
//! snippet and, on a Debian-style layout, offers to enable it.
//!
//! Owns the rendering (check lines, spinners, the prompt) and the exit codes; the
//! `passenger-installer` crate does the work in the order this file calls it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use passenger_installer::apache_config::{self, DebianLayout, Snippet};
use passenger_installer::build::{self, BuildDir, BuildError};
use passenger_installer::checks::{self, Check, Language};
use passenger_installer::detect::{self, DetectOptions, Detection, Environment};
use passenger_installer::distro;

use crate::exit::{self, Exit};
use crate::output::{self, Mark, PRODUCT};
use crate::resources;

/// The exit codes, shown by `--help` and the man page.
pub const AFTER_HELP: &str = "\
Exit codes:
  0  Done: the module was built and installed (or --no-compile), and the
     snippet printed; also --snippet and --help.
  1  A required program or header is missing (the command that installs it is
     printed and nothing is compiled), the compile check or the build failed
     (the last compiler lines and the log's path are printed), a flag is invalid
     (a bad --apxs2-path or APXS2 included), or the configuration it wrote fails
     `apachectl configtest` or `passenger-config validate-install`.

Environment: APXS2 (the apxs to use; `none` = pretend there is none), HTTPD,
APR_CONFIG, APU_CONFIG, CC, APACHE_CONFDIR (Debian: Apache's configuration
directory).";

/// The installer's flags (its help text is the subcommand's, in `main.rs`).
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct InstallApache2ModuleArgs {
    /// Never ask (implied when stdin is not a terminal): write no Apache
    /// configuration unless --update-config says so.
    #[arg(short = 'a', long)]
    pub auto: bool,
    /// The apxs to build with (wins over $APXS2, then apxs2 and apxs in PATH).
    #[arg(long, value_name = "PATH")]
    pub apxs2_path: Option<PathBuf>,
    /// The apr-config to use (wins over $APR_CONFIG and apxs's APR_CONFIG).
    #[arg(long, value_name = "PATH")]
    pub apr_config_path: Option<PathBuf>,
    /// Languages to check for, comma-separated: ruby, python, nodejs (default: those
    /// whose interpreter is in PATH; a menu on a terminal).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub languages: Option<Vec<Language>>,
    /// Check the dependencies and print the snippet, but compile nothing.
    #[arg(long)]
    pub no_compile: bool,
    /// Print only the Apache configuration snippet and exit.
    #[arg(long)]
    pub snippet: bool,
    /// Use colors even when stdout is not a terminal.
    #[arg(long)]
    pub force_colors: bool,
    /// Where to install mod_passenger.so (default: `apxs -q LIBEXECDIR`).
    #[arg(long, value_name = "DIR")]
    pub module_dir: Option<PathBuf>,
    /// On a Debian-style layout, write mods-available/passenger.load and
    /// passenger.conf and run `a2enmod passenger` without asking.
    #[arg(long)]
    pub update_config: bool,
    /// Run CMD (through /bin/sh, at most 10 s) once every required piece of software is
    /// found, before anything is compiled: Passenger's `after_install_prerequisites`
    /// hook. A failing hook is reported, not fatal.
    #[arg(long, value_name = "CMD")]
    pub hook_after_install_prerequisites: Option<String>,
}

/// What the terminal allows.
struct Ui {
    color: bool,
    interactive: bool,
}

impl Ui {
    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn line(&self, text: &str) -> anyhow::Result<()> {
        output::print(&format!("{text}\n"))
    }

    /// A spinner on stderr while `work` runs (hidden when stderr is not a terminal),
    /// then a ✓ or ✗ line on stdout.
    fn step<T, E>(
        &self,
        what: &str,
        work: impl FnOnce() -> Result<T, E>,
    ) -> anyhow::Result<Result<T, E>> {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner.set_message(format!("{what}..."));
        let result = work();
        spinner.finish_and_clear();
        let mark = if result.is_ok() {
            Mark::Ok
        } else {
            Mark::Error
        };
        self.line(&format!(" * {what}... {}", output::mark(mark, self.color)))?;
        Ok(result)
    }
}

/// Exit 1 with `message` on stdout: the end of the report (missing software, a
/// failed build), where the original prints it.
fn failure(message: impl Into<String>) -> anyhow::Error {
    Exit::on_stdout(exit::FAILURE, message).into()
}

/// Exit 1 with `message` on stderr: a bad flag or environment (nothing was checked).
fn bad_input(message: impl Into<String>) -> anyhow::Error {
    Exit::new(exit::FAILURE, message).into()
}

fn detect_options(args: &InstallApache2ModuleArgs) -> DetectOptions {
    DetectOptions {
        apxs2_path: args.apxs2_path.clone(),
        apr_config_path: args.apr_config_path.clone(),
    }
}

/// Runs `install-apache2-module`.
pub fn run(args: &InstallApache2ModuleArgs) -> anyhow::Result<i32> {
    let env = Environment::from_process();
    let ui = Ui {
        color: args.force_colors || std::io::stdout().is_terminal(),
        interactive: !args.auto
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal(),
    };
    if args.snippet {
        return print_snippet_only(args, &env);
    }

    ui.line(&ui.bold(&format!(
        "Installing the {PRODUCT} Apache module (mod_passenger)"
    )))?;
    ui.line("")?;
    let languages = choose_languages(args, &env, &ui)?;
    let names: Vec<&str> = languages.iter().map(Language::name).collect();
    ui.line(&format!(
        "Languages: {} (choose with --languages)",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ))?;
    ui.line("")?;

    let detection =
        detect::detect(&detect_options(args), &env).map_err(|e| bad_input(e.to_string()))?;

    ui.line("Checking for required software...")?;
    let mut print_err = None;
    let results = checks::run_checks(&detection, &languages, &env, |c| {
        if let Err(e) = ui.line(&check_line(c, ui.color)) {
            print_err.get_or_insert(e);
        }
    });
    if let Some(e) = print_err {
        return Err(e);
    }
    let missing = checks::missing(&results);
    if !missing.is_empty() {
        let as_root = nix::unistd::geteuid().is_root();
        let os = distro::read_os_release();
        let mut text = String::from(
            "\nSome required software is not installed, so nothing was compiled. To install it:\n\n",
        );
        for cmd in distro::install_instructions(os.as_ref(), &missing, as_root) {
            text.push_str(&format!("   {cmd}\n"));
        }
        text.push_str("\nThen run passenger-install-apache2-module again.\n");
        return Err(failure(text));
    }
    ui.line("")?;
    if let Some(command) = &args.hook_after_install_prerequisites {
        let name = "after_install_prerequisites";
        let env = [("PASSENGER_INSTALLER", "apache2-module".to_string())];
        if let Err(e) = passenger_core::hooks::run_blocking(
            name,
            command,
            &env,
            passenger_core::hooks::HOOK_TIMEOUT,
        ) {
            ui.line(&format!("Warning: {e}; going on."))?;
        }
    }

    let module_dir = module_dir(args, detection.libexec_dir())?;
    let module = if args.no_compile {
        let path = module_dir.join(passenger_installer::MODULE_FILE_NAME);
        ui.line(&format!(
            "Not compiling (--no-compile); the snippet names {}.",
            path.display()
        ))?;
        path
    } else {
        compile_and_install(&detection, &env, &module_dir, &ui)?
    };

    let snippet = Snippet {
        module,
        root: resources::root_or_default(),
        ruby: checks::find_ruby(&env),
    };
    ui.line("")?;
    ui.line(
        &ui.bold("Add these lines to your Apache configuration (e.g. apache2.conf or httpd.conf):"),
    )?;
    ui.line("")?;
    for l in snippet.text().lines() {
        ui.line(&format!("   {}", ui.bold(l)))?;
    }
    ui.line("")?;

    let Some(layout) = apache_config::debian_layout(&detection, &env) else {
        if args.update_config {
            ui.line("--update-config: this Apache has no Debian-style layout (mods-available/ and a2enmod); add the lines yourself.")?;
        }
        return finish(&ui);
    };
    if !should_write(args, &layout, &ui)? {
        ui.line(&format!(
            "Or let the installer write {} and {} and run a2enmod: run it again with --update-config.",
            layout.load_file().display(),
            layout.conf_file().display()
        ))?;
        return finish(&ui);
    }
    enable(args, &detection, &layout, &snippet, &ui)
}

fn finish(ui: &Ui) -> anyhow::Result<i32> {
    ui.line("After you restart Apache, apps under a DocumentRoot whose parent is an app root are served through passenger-rs.")?;
    Ok(exit::OK)
}

/// ` * Checking for C compiler... ✓ /usr/bin/cc`.
fn check_line(c: &Check, color: bool) -> String {
    let mark = output::mark(if c.passed() { Mark::Ok } else { Mark::Error }, color);
    format!(" * Checking for {}... {mark} {}", c.name, c.detail)
}

fn choose_languages(
    args: &InstallApache2ModuleArgs,
    env: &Environment,
    ui: &Ui,
) -> anyhow::Result<Vec<Language>> {
    if let Some(list) = &args.languages {
        let mut out: Vec<Language> = Vec::new();
        for l in list {
            if !out.contains(l) {
                out.push(*l);
            }
        }
        return Ok(out);
    }
    let found = checks::languages_in_path(env);
    if !ui.interactive {
        return Ok(found);
    }
    let items: Vec<&str> = Language::ALL.iter().map(Language::name).collect();
    let defaults: Vec<bool> = Language::ALL.iter().map(|l| found.contains(l)).collect();
    let picked = dialoguer::MultiSelect::with_theme(&dialoguer::theme::SimpleTheme)
        .with_prompt("Which languages are you interested in? (space toggles, enter confirms)")
        .items(&items)
        .defaults(&defaults)
        .interact_opt()?;
    Ok(match picked {
        Some(indexes) => indexes.into_iter().map(|i| Language::ALL[i]).collect(),
        None => found,
    })
}

fn module_dir(args: &InstallApache2ModuleArgs, libexec: Option<&Path>) -> anyhow::Result<PathBuf> {
    args.module_dir
        .clone()
        .or_else(|| libexec.map(Path::to_path_buf))
        .ok_or_else(|| {
            bad_input(
                "apxs does not say where Apache's modules go (LIBEXECDIR); pass --module-dir DIR.",
            )
        })
}

/// `--snippet`: the snippet for `--module-dir`, else for apxs's LIBEXECDIR.
fn print_snippet_only(args: &InstallApache2ModuleArgs, env: &Environment) -> anyhow::Result<i32> {
    let dir = match &args.module_dir {
        Some(dir) => dir.clone(),
        None => {
            let apxs = detect::find_apxs(&detect_options(args), env)
                .map_err(|e| bad_input(e.to_string()))?;
            match apxs.and_then(|a| a.vars.libexec_dir) {
                Some(dir) => dir,
                None => {
                    return Err(bad_input(
                        "No apxs was found to say where Apache's modules are (LIBEXECDIR); \
                         pass --module-dir DIR, or --apxs2-path.",
                    ))
                }
            }
        }
    };
    let snippet = Snippet {
        module: dir.join(passenger_installer::MODULE_FILE_NAME),
        root: resources::root_or_default(),
        ruby: checks::find_ruby(env),
    };
    output::print(&snippet.text())?;
    Ok(exit::OK)
}

fn compile_and_install(
    d: &Detection,
    env: &Environment,
    module_dir: &Path,
    ui: &Ui,
) -> anyhow::Result<PathBuf> {
    let binary = resources::current_exe()
        .ok_or_else(|| failure("Cannot tell where this passenger binary is."))?;
    let dir = BuildDir::new().map_err(|e| failure(e.to_string()))?;
    ui.line("Compiling...")?;
    ui.step("Compile check (httpd.h, apr.h with apxs's flags)", || {
        build::compile_check(d, env, &dir)
    })?
    .map_err(build_failure)?;
    let built = ui
        .step("Building mod_passenger with apxs", || {
            build::build_module(d, &dir, &binary)
        })?
        .map_err(build_failure)?;
    let installed = ui
        .step(
            &format!(
                "Installing {}",
                module_dir
                    .join(passenger_installer::MODULE_FILE_NAME)
                    .display()
            ),
            || build::install_module(&built, module_dir),
        )?
        .map_err(build_failure)?;
    ui.line(&format!("The module is built for {}.", binary.display()))?;
    Ok(installed)
}

fn build_failure(err: BuildError) -> anyhow::Error {
    match err {
        BuildError::Failed { step, log, tail } => {
            let mut text = format!("\nThe {step} failed. The last lines of the compiler:\n\n");
            for l in &tail {
                text.push_str(&format!("   {l}\n"));
            }
            text.push_str(&format!("\nThe full log is in {}\n", log.display()));
            failure(text)
        }
        BuildError::Io { ref source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            failure(format!(
                "\n{err}\nRun the installer as root (sudo), or pass --module-dir DIR for a directory you can write."
            ))
        }
        other => failure(format!("\n{other}")),
    }
}

fn should_write(
    args: &InstallApache2ModuleArgs,
    layout: &DebianLayout,
    ui: &Ui,
) -> anyhow::Result<bool> {
    if args.update_config {
        return Ok(true);
    }
    if !ui.interactive {
        return Ok(false);
    }
    let answer = dialoguer::Confirm::with_theme(&dialoguer::theme::SimpleTheme)
        .with_prompt(format!(
            "This is a Debian-style Apache. Write {} and {} and run `a2enmod passenger`?",
            layout.load_file().display(),
            layout.conf_file().display()
        ))
        .default(true)
        .interact_opt()?;
    Ok(answer.unwrap_or(false))
}

/// Writes the Debian files, runs a2enmod, `apachectl configtest` and
/// `validate-install --validate-apache2`.
fn enable(
    args: &InstallApache2ModuleArgs,
    d: &Detection,
    layout: &DebianLayout,
    snippet: &Snippet,
    ui: &Ui,
) -> anyhow::Result<i32> {
    let written =
        apache_config::write_debian_config(layout, snippet).map_err(|e| failure(e.to_string()))?;
    for w in &written {
        let saved = w
            .backup
            .as_ref()
            .map(|b| format!(" (the old one is {})", b.display()))
            .unwrap_or_default();
        ui.line(&format!(" * Wrote {}{saved}", w.path.display()))?;
    }
    let enabled = ui.step("Enabling it with a2enmod passenger", || {
        apache_config::enable_module(layout)
    })?;
    if let Err(e) = enabled {
        return Err(failure(e.to_string()));
    }
    let test = ui.step(
        "Testing Apache's configuration (apachectl configtest)",
        || apache_config::configtest(d),
    )?;
    if let Err(e) = test {
        return Err(failure(format!(
            "{e}\nThe module is installed, but Apache's configuration test fails with it; fix the error above and run `apachectl configtest`."
        )));
    }
    ui.line("")?;
    ui.line("Validating the installation:")?;
    let code = super::config::validate_install::run(
        &super::config::validate_install::ValidateInstallArgs {
            auto: true,
            no_colors: !ui.color,
            no_summary: false,
            validate_apache2: true,
            apxs2_path: args.apxs2_path.clone(),
        },
    )?;
    if code == exit::FAILURE {
        return Ok(exit::FAILURE);
    }
    ui.line("")?;
    ui.line("Restart Apache (apachectl restart) to load the module.")?;
    Ok(exit::OK)
}
