//! `passenger-install-apache2-module` with the real apxs and Apache: building the
//! module from the checkout into a temp dir (and Apache loading it), `--snippet`,
//! `APXS2=none`, a bad `APXS2`, a failing compile, bad flags, and the Debian-style
//! `mods-available` + `a2enmod` + `configtest` + `validate-install` path in a
//! private `APACHE_CONFDIR`. Nothing here writes outside the test directory.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{deadline, passenger, run_with_deadline, TestDir};

const INSTALLER: &str = "passenger-install-apache2-module";

/// Runs the installer (argv[0] = its link name) with `env`, stdin closed.
fn installer(dir: &TestDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = passenger(dir);
    cmd.arg0(INSTALLER).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Building takes a few seconds; a loaded CI machine gets six deadlines.
    run_with_deadline(dir, &mut cmd, deadline() * 6)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `apxs -q NAME` of the system's apxs.
fn apxs_q(name: &str) -> String {
    let o = Command::new("apxs")
        .args(["-q", name])
        .output()
        .expect("apxs runs (tests/run-all installs apache2-dev)");
    assert!(o.status.success(), "apxs -q {name}: {o:?}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The passenger binary the installer compiles into the module.
fn passenger_binary() -> PathBuf {
    let bin = std::env::var_os("PASSENGER_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_passenger").into());
    std::fs::canonicalize(bin).expect("the passenger binary exists")
}

/// Builds the module from this checkout with the installer into `module_dir` and
/// returns the `.so`. For every test that needs a built module.
pub fn build_module_into(dir: &TestDir, module_dir: &Path) -> PathBuf {
    let m = module_dir.to_string_lossy().into_owned();
    let o = installer(
        dir,
        &["--auto", "--languages", "ruby", "--module-dir", &m],
        &[],
    );
    assert_eq!(code(&o), 0, "installer failed:\n{}\n{}", out(&o), err(&o));
    module_dir.join("mod_passenger.so")
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What `passenger-config --root` prints.
fn passenger_root(dir: &TestDir) -> String {
    let mut cmd = passenger(dir);
    cmd.arg0("passenger-config").arg("--root");
    let o = run_with_deadline(dir, &mut cmd, deadline());
    out(&o).trim().to_string()
}

/// `ruby` in PATH plus the sbin dirs, as the installer finds it.
fn ruby_in_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join("ruby"))
        .find(|p| p.is_file())
}

fn snippet_for(module: &Path, root: &str) -> String {
    let mut s = format!(
        "LoadModule passenger_module {}\n<IfModule mod_passenger.c>\n  PassengerRoot {root}\n",
        module.display()
    );
    if let Some(ruby) = ruby_in_path() {
        s.push_str(&format!("  PassengerDefaultRuby {}\n", ruby.display()));
    }
    s.push_str("</IfModule>\n");
    s
}

/// A private Apache configuration directory in Debian's layout: `apache2.conf`
/// (own pid file, logs, runtime dir, a loopback port that is never bound by `-t`)
/// including `mods-enabled/*.load` and `*.conf`.
fn debian_conf_dir(dir: &TestDir) -> PathBuf {
    let conf = dir.path().join("apache-conf");
    let logs = dir.path().join("apache-logs");
    for d in [
        conf.join("mods-available"),
        conf.join("mods-enabled"),
        logs.clone(),
    ] {
        std::fs::create_dir_all(&d).expect("create apache dirs");
    }
    let modules = apxs_q("LIBEXECDIR");
    std::fs::write(
        conf.join("apache2.conf"),
        format!(
            "ServerName localhost\nPidFile {logs}/apache2.pid\nErrorLog {logs}/error.log\n\
             DefaultRuntimeDir {logs}\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
             IncludeOptional mods-enabled/*.load\nIncludeOptional mods-enabled/*.conf\n",
            logs = logs.display(),
            port = crate::support::free_port(),
        ),
    )
    .expect("write apache2.conf");
    conf
}

#[test]
fn installer_builds_the_module_from_the_checkout_into_a_temp_dir() {
    let dir = TestDir::new();
    let modules = dir.path().join("modules");
    let m = modules.to_string_lossy().into_owned();
    let o = installer(
        &dir,
        &["--auto", "--languages", "ruby", "--module-dir", &m],
        &[],
    );
    let text = out(&o);
    assert_eq!(code(&o), 0, "{text}\n{}", err(&o));
    for line in [
        " * Checking for C compiler... ✓ ",
        " * Checking for Apache 2 development headers (apxs)... ✓ ",
        " * Checking for Apache ≥ 2.4... ✓ 2.4.",
        " * Checking for a supported MPM (event, worker, prefork)... ✓ ",
        " * Checking for httpd.h... ✓ ",
        " * Checking for APR headers (apr.h)... ✓ ",
        " * Checking for APR-util headers (apu.h)... ✓ ",
        " * Checking for Ruby... ✓ ",
        " * Checking for Rack... ✓ version ",
        " * Compile check (httpd.h, apr.h with apxs's flags)... ✓",
        " * Building mod_passenger with apxs... ✓",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // Python and Node were not asked for.
    assert!(
        !text.contains("Node.js") && !text.contains("Python"),
        "{text}"
    );

    let so = modules.join("mod_passenger.so");
    let bytes = std::fs::read(&so).expect("the module is installed");
    assert!(bytes.starts_with(b"\x7fELF"), "not an ELF object");
    let bin = passenger_binary();
    // The module keeps the macro's text: the path, quoted (apxs got `'"path"'`), as a C string.
    let mut needle = b"\"".to_vec();
    needle.extend_from_slice(bin.as_os_str().as_encoded_bytes());
    needle.extend_from_slice(b"\"\0");
    assert!(
        contains_bytes(&bytes, &needle),
        "the module does not name {}",
        bin.display()
    );
    // The snippet, indented, names the installed module and `passenger-config --root`.
    let root = passenger_root(&dir);
    for l in snippet_for(&so, &root).lines() {
        assert!(
            text.contains(&format!("   {l}\n")),
            "missing {l:?} in:\n{text}"
        );
    }
    // The build directory is gone after a success.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("tmp"))
        .expect("tmp dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("passenger-rs-apache2.")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Apache loads the module and knows its directives.
    let conf = dir.path().join("load-test.conf");
    let logs = dir.path().join("tmp");
    std::fs::write(
        &conf,
        format!(
            "ServerRoot {logs}\nServerName localhost\nPidFile {logs}/httpd.pid\nErrorLog {logs}/error.log\n\
             DefaultRuntimeDir {logs}\nListen 127.0.0.1:{port}\n\
             LoadModule mpm_event_module {mods}/mod_mpm_event.so\n{snippet}",
            logs = logs.display(),
            port = crate::support::free_port(),
            mods = apxs_q("LIBEXECDIR"),
            snippet = snippet_for(&so, &root),
        ),
    )
    .expect("write conf");
    let httpd = Path::new(&apxs_q("SBINDIR")).join(apxs_q("TARGET"));
    let mut cmd = Command::new(&httpd);
    cmd.arg("-t").arg("-f").arg(&conf);
    let o = run_with_deadline(&dir, &mut cmd, deadline());
    assert_eq!(
        code(&o),
        0,
        "{} -t:\n{}{}",
        httpd.display(),
        out(&o),
        err(&o)
    );
    assert!(err(&o).contains("Syntax OK"), "{}", err(&o));
}

#[test]
fn installer_snippet_prints_only_the_lines_for_the_module_dir() {
    let dir = TestDir::new();
    let root = passenger_root(&dir);
    let o = installer(&dir, &["--snippet"], &[]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let default_dir = PathBuf::from(apxs_q("LIBEXECDIR"));
    assert_eq!(
        out(&o),
        snippet_for(&default_dir.join("mod_passenger.so"), &root)
    );

    // --module-dir wins, and needs no apxs at all.
    let o = installer(
        &dir,
        &["--snippet", "--module-dir", "/opt/apache/modules"],
        &[("APXS2", "none")],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(
        out(&o),
        snippet_for(Path::new("/opt/apache/modules/mod_passenger.so"), &root)
    );

    // Without apxs and without --module-dir, it says what to pass.
    let o = installer(&dir, &["--snippet"], &[("APXS2", "none")]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).is_empty(), "{}", out(&o));
    assert!(err(&o).contains("pass --module-dir DIR"), "{}", err(&o));
}

#[test]
fn installer_with_apxs2_none_prints_the_install_command_and_compiles_nothing() {
    let dir = TestDir::new();
    let modules = dir.path().join("modules");
    let m = modules.to_string_lossy().into_owned();
    let o = installer(
        &dir,
        &["--auto", "--languages", "ruby", "--module-dir", &m],
        &[("APXS2", "none")],
    );
    let text = out(&o);
    assert_eq!(code(&o), 1, "{text}\n{}", err(&o));
    assert!(
        text.contains(
            " * Checking for Apache 2 development headers (apxs)... ✗ not found (APXS2=none)"
        ),
        "{text}"
    );
    assert!(
        text.contains("Some required software is not installed, so nothing was compiled."),
        "{text}"
    );
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if os.lines().any(|l| {
        l == "ID=debian" || l == "ID=ubuntu" || l.starts_with("ID_LIKE=") && l.contains("debian")
    }) {
        let sudo = if nix::unistd::geteuid().is_root() {
            ""
        } else {
            "sudo "
        };
        assert!(
            text.contains(&format!("\n   {sudo}apt-get install -y apache2-dev\n")),
            "{text}"
        );
    }
    assert!(!text.contains("Compil"), "{text}");
    assert!(!modules.exists(), "nothing may be installed");
    let build_dirs: Vec<_> = std::fs::read_dir(dir.path().join("tmp"))
        .expect("tmp dir")
        .flatten()
        .collect();
    assert!(build_dirs.is_empty(), "{build_dirs:?}");
}

#[test]
fn installer_bad_apxs2_is_a_clear_message() {
    let dir = TestDir::new();
    let o = installer(&dir, &["--auto"], &[("APXS2", "/nonexistent/apxs")]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("APXS2 is /nonexistent/apxs, which does not exist."),
        "{}",
        err(&o)
    );
    assert!(!err(&o).contains("panicked"), "{}", err(&o));
    let plain = dir.write("not-apxs", "just text\n");
    let plain = plain.to_str().expect("utf8");
    let o = installer(&dir, &["--snippet", "--apxs2-path", plain], &[]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with(&format!(
            "--apxs2-path is {plain}, which is not an executable file."
        )),
        "{}",
        err(&o)
    );
    let o = installer(&dir, &["--auto", "--apxs2-path", "/bin/false"], &[]);
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).starts_with("--apxs2-path is /bin/false, which is not a working apxs"),
        "{}",
        err(&o)
    );
}

#[test]
fn installer_compile_failure_shows_the_compiler_lines_and_the_log() {
    let dir = TestDir::new();
    // An apxs that answers queries like the real one and fails to compile.
    let fake = dir.write(
        "bin/apxs",
        "#!/bin/sh\nif [ \"$1\" = -q ]; then exec apxs \"$@\"; fi\n\
         for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do echo \"compiler noise $i\"; done\n\
         echo 'mod_passenger.c:1:1: error: this build is meant to fail' >&2\nexit 1\n",
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let modules = dir.path().join("modules");
    let args = [
        "--auto",
        "--languages",
        "ruby",
        "--apxs2-path",
        fake.to_str().expect("utf8"),
        "--module-dir",
        modules.to_str().expect("utf8"),
    ];
    let o = installer(&dir, &args, &[]);
    let text = out(&o);
    assert_eq!(code(&o), 1, "{text}\n{}", err(&o));
    assert!(
        text.contains(" * Compile check (httpd.h, apr.h with apxs's flags)... ✓"),
        "{text}"
    );
    assert!(
        text.contains(" * Building mod_passenger with apxs... ✗"),
        "{text}"
    );
    assert!(
        text.contains("The module build failed. The last lines of the compiler:"),
        "{text}"
    );
    assert!(
        text.contains("   mod_passenger.c:1:1: error: this build is meant to fail\n"),
        "{text}"
    );
    // The last 20 lines only.
    assert!(
        text.contains("compiler noise 25") && !text.contains("compiler noise 5\n"),
        "{text}"
    );
    let log = text
        .lines()
        .find_map(|l| l.strip_prefix("The full log is in "))
        .unwrap_or_else(|| panic!("no log path in:\n{text}"));
    let log_text = std::fs::read_to_string(log).expect("the log is kept");
    assert!(log_text.contains("compiler noise 1\n"), "{log_text}");
    assert!(
        log_text.contains("this build is meant to fail"),
        "{log_text}"
    );
    assert!(!modules.join("mod_passenger.so").exists());
}

#[test]
fn installer_invalid_flags_exit_1() {
    let dir = TestDir::new();
    let o = installer(&dir, &["--languages", "ruby,cobol"], &[]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(err(&o).contains("unknown language 'cobol'"), "{}", err(&o));
    let o = installer(&dir, &["--no-such-flag"], &[]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    let o = installer(&dir, &["--help"], &[]);
    assert_eq!(code(&o), 0);
    let help = out(&o);
    assert!(
        help.contains("Exit codes:") && help.contains("--module-dir <DIR>"),
        "{help}"
    );
}

/// Runs the installer (`--auto --languages ruby`, a private module dir, `extra`)
/// against a private Debian-style configuration directory; returns that directory,
/// the module dir, the installer's output and `APACHE_CONFDIR`'s value.
fn install_on_debian_layout(dir: &TestDir, extra: &[&str]) -> (PathBuf, PathBuf, String, String) {
    let conf = debian_conf_dir(dir);
    let modules = dir.path().join("modules");
    let confdir = conf.to_string_lossy().into_owned();
    let mut args = vec![
        "--auto",
        "--languages",
        "ruby",
        "--module-dir",
        modules.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    let o = installer(dir, &args, &[("APACHE_CONFDIR", &confdir)]);
    let text = out(&o);
    assert_eq!(code(&o), 0, "{text}\n{}", err(&o));
    (conf, modules, text, confdir)
}

#[test]
fn installer_update_config_enables_the_module_on_a_debian_layout() {
    let dir = TestDir::new();
    let (conf, modules, text, confdir) = install_on_debian_layout(&dir, &["--update-config"]);
    let so = modules.join("mod_passenger.so");
    let load =
        std::fs::read_to_string(conf.join("mods-available/passenger.load")).expect("load file");
    assert!(
        load.ends_with(&format!("LoadModule passenger_module {}\n", so.display())),
        "{load}"
    );
    let pconf =
        std::fs::read_to_string(conf.join("mods-available/passenger.conf")).expect("conf file");
    assert!(
        pconf.contains(&format!("  PassengerRoot {}\n", passenger_root(&dir))),
        "{pconf}"
    );
    for f in ["passenger.load", "passenger.conf"] {
        assert!(
            conf.join("mods-enabled").join(f).exists(),
            "a2enmod did not enable {f}:\n{text}"
        );
    }
    for line in [
        " * Enabling it with a2enmod passenger... ✓",
        " * Testing Apache's configuration (apachectl configtest)... ✓",
        " * Checking whether Apache is installed... ✓",
        " * Checking whether the passenger-rs module is correctly configured in Apache... ✓",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }

    // validate-install on its own sees the same; without the module it fails.
    let mut cmd = passenger(&dir);
    cmd.arg0("passenger-config")
        .args(["validate-install", "--validate-apache2"])
        .env("APACHE_CONFDIR", &confdir);
    let o = run_with_deadline(&dir, &mut cmd, deadline());
    assert_ne!(code(&o), 1, "{}", out(&o));
    std::fs::remove_file(&so).expect("remove module");
    let o = run_with_deadline(&dir, &mut cmd, deadline());
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(
        out(&o).contains(
            "Checking whether the passenger-rs module is correctly configured in Apache... ✗"
        ),
        "{}",
        out(&o)
    );
}

#[test]
fn installer_auto_without_update_config_writes_no_apache_config() {
    let dir = TestDir::new();
    let (conf, _modules, text, _) = install_on_debian_layout(&dir, &[]);
    assert!(text.contains("run it again with --update-config"), "{text}");
    assert!(!conf.join("mods-available/passenger.load").exists());
    assert!(std::fs::read_dir(conf.join("mods-enabled"))
        .expect("dir")
        .next()
        .is_none());
}

#[test]
fn installer_rebuild_replaces_the_module_by_rename() {
    use std::os::unix::fs::MetadataExt;
    let dir = TestDir::new();
    let modules = dir.path().join("modules");
    let so = build_module_into(&dir, &modules);
    let first = std::fs::metadata(&so).expect("built").ino();
    // A running Apache maps the old file: it must be replaced, never rewritten in place.
    let again = build_module_into(&dir, &modules);
    assert_eq!(again, so);
    let meta = std::fs::metadata(&so).expect("rebuilt");
    assert_ne!(meta.ino(), first, "the module was rewritten in place");
    assert_eq!(meta.mode() & 0o777, 0o644);
    let names: Vec<String> = std::fs::read_dir(&modules)
        .expect("module dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["mod_passenger.so"], "no temp file is left");
}

#[test]
fn installer_no_compile_checks_and_prints_the_snippet_but_builds_nothing() {
    let dir = TestDir::new();
    let modules = dir.path().join("modules");
    let m = modules.to_string_lossy().into_owned();
    let o = installer(
        &dir,
        &[
            "--auto",
            "--no-compile",
            "--languages",
            "ruby",
            "--module-dir",
            &m,
        ],
        &[],
    );
    let text = out(&o);
    assert_eq!(code(&o), 0, "{text}\n{}", err(&o));
    assert!(text.contains(" * Checking for httpd.h... ✓ "), "{text}");
    assert!(text.contains("Not compiling (--no-compile)"), "{text}");
    assert!(!text.contains("Building mod_passenger"), "{text}");
    let so = modules.join("mod_passenger.so");
    assert!(
        text.contains(&format!(
            "   LoadModule passenger_module {}\n",
            so.display()
        )),
        "{text}"
    );
    assert!(!modules.exists(), "nothing may be installed");
}

/// `--hook-after-install-prerequisites` runs once every dependency is found, before the build,
/// with `PASSENGER_HOOK_NAME`; with a dependency missing it does not run; a failing hook is a
/// warning, not a failure.
#[test]
fn the_after_install_prerequisites_hook_runs_only_when_everything_is_found() {
    let dir = TestDir::new();
    let marker = dir.path().join("hook.out");
    let hook = format!(
        "echo \"$PASSENGER_HOOK_NAME $PASSENGER_INSTALLER\" >> {}",
        marker.display()
    );
    let modules = dir.path().join("modules");
    let m = modules.to_string_lossy().into_owned();
    let base = [
        "--auto",
        "--no-compile",
        "--languages",
        "ruby",
        "--module-dir",
        m.as_str(),
        "--hook-after-install-prerequisites",
    ];
    let with = |cmd: &str| {
        let mut a: Vec<&str> = base.to_vec();
        a.push(cmd);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let args = with(&hook);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = installer(&dir, &argv, &[("APXS2", "none")]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(!marker.exists(), "the hook ran with apxs missing");

    let o = installer(&dir, &argv, &[]);
    assert_eq!(code(&o), 0, "{}\n{}", out(&o), err(&o));
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the hook ran"),
        "after_install_prerequisites apache2-module\n"
    );

    let failing = with("exit 3");
    let argv: Vec<&str> = failing.iter().map(String::as_str).collect();
    let o = installer(&dir, &argv, &[]);
    assert_eq!(code(&o), 0, "{}\n{}", out(&o), err(&o));
    assert!(
        out(&o).contains("Warning: the after_install_prerequisites hook failed"),
        "{}",
        out(&o)
    );
}
