//! A private Apache for one test: mod_passenger built from the checkout with apxs into the
//! test directory, an `httpd.conf` of the test's own (ServerRoot, PidFile, ErrorLog, runtime dir,
//! a free loopback port, Debian's module binaries), started with `apache2 -k start` and stopped
//! on drop. Everything it starts carries the test's marker, so the test dir's leak check sees
//! a core or app process that outlives Apache.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::dir::TestDir;
use super::process::{pid_alive, run_with_deadline, MARKER_VAR};
use super::wait::{deadline, poll, wait_until};

/// Where Debian keeps Apache's module binaries.
const MODULES: &str = "/usr/lib/apache2/modules";

/// The passenger binary under test (absolute).
pub fn passenger_binary() -> PathBuf {
    let bin: PathBuf = std::env::var_os("PASSENGER_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_passenger").into())
        .into();
    std::path::absolute(&bin).unwrap_or(bin)
}

/// The checkout's resources directory: what `PassengerRoot` names.
pub fn resources_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("resources")
}

/// Builds `installer/module/mod_passenger.c` with apxs and the installer's flags into
/// `<dir>/mod`, returning the `.so`.
pub fn build_module(dir: &TestDir) -> PathBuf {
    let out = dir.join("mod");
    std::fs::create_dir_all(&out).expect("mkdir mod");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("installer/module/mod_passenger.c");
    std::fs::copy(&src, out.join("mod_passenger.c")).expect("copy mod_passenger.c");
    let define = format!("-DPASSENGER_BINARY='\"{}\"'", passenger_binary().display());
    let mut cmd = Command::new("apxs");
    cmd.args(["-c", "-Wc,-Wall", "-Wc,-Wextra", "-Wc,-Werror"])
        .arg(define)
        .arg("mod_passenger.c")
        .current_dir(&out)
        .env(MARKER_VAR, dir.marker());
    let output = run_with_deadline(dir, &mut cmd, Duration::from_secs(120));
    assert!(
        output.status.success(),
        "apxs failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out.join(".libs/mod_passenger.so")
}

/// One Apache server of a test.
pub struct Apache {
    pub conf: PathBuf,
    pub addr: SocketAddr,
    pub root: PathBuf,
    marker: String,
    dir_path: PathBuf,
    stopped: bool,
}

/// The `httpd.conf` head: private paths, a port, the MPM and the modules a test needs, and
/// mod_passenger with `PassengerRoot`; `body` follows it.
pub fn config_text(root: &Path, module: &Path, mpm: &str, port: u16, body: &str) -> String {
    let mut mods = String::new();
    for (name, file) in [
        (format!("mpm_{mpm}_module"), format!("mod_mpm_{mpm}.so")),
        ("authz_core_module".into(), "mod_authz_core.so".into()),
        ("mime_module".into(), "mod_mime.so".into()),
        ("dir_module".into(), "mod_dir.so".into()),
        ("env_module".into(), "mod_env.so".into()),
        ("autoindex_module".into(), "mod_autoindex.so".into()),
        ("rewrite_module".into(), "mod_rewrite.so".into()),
    ] {
        mods.push_str(&format!("LoadModule {name} {MODULES}/{file}\n"));
    }
    format!(
        "ServerRoot {root}\n\
         PidFile {root}/run/httpd.pid\n\
         ErrorLog {root}/logs/error.log\n\
         DefaultRuntimeDir {root}/run\n\
         Mutex file:{root}/run\n\
         LogLevel info\n\
         Listen 127.0.0.1:{port}\n\
         ServerName 127.0.0.1\n\
         User www-data\n\
         Group www-data\n\
         {mods}\
         TypesConfig /etc/mime.types\n\
         LoadModule passenger_module {module}\n\
         <IfModule mod_passenger.c>\n\
         PassengerInstanceRegistryDir {root}/registry\n\
         </IfModule>\n\
         {body}\n",
        root = root.display(),
        module = module.display(),
    )
}

impl Apache {
    /// Writes the config under `<dir>/apache` (body after the common head) and starts Apache.
    pub fn start(dir: &TestDir, module: &Path, mpm: &str, body: &str) -> Apache {
        let apache = Apache::configure(dir, module, mpm, body);
        let out = apache.ctl("start");
        assert!(
            out.status.success(),
            "apache2 -k start failed:\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            apache.error_log()
        );
        wait_until("Apache listens", deadline(), || {
            std::net::TcpStream::connect(apache.addr).is_ok() && apache.master_pid().is_some()
        });
        apache
    }

    /// Writes the config without starting Apache.
    pub fn configure(dir: &TestDir, module: &Path, mpm: &str, body: &str) -> Apache {
        let root = dir.join("apache");
        for sub in ["run", "logs", "registry"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir apache dirs");
        }
        let port = super::free_port();
        let conf = root.join("httpd.conf");
        std::fs::write(&conf, config_text(&root, module, mpm, port, body)).expect("write conf");
        Apache {
            conf,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            root,
            marker: dir.marker().to_string(),
            dir_path: dir.path().to_path_buf(),
            stopped: false,
        }
    }

    /// Rewrites the config body (for a graceful restart with changed directives).
    pub fn rewrite(&self, module: &Path, mpm: &str, body: &str) {
        let text = config_text(&self.root, module, mpm, self.addr.port(), body);
        std::fs::write(&self.conf, text).expect("rewrite conf");
    }

    /// `apache2 -f <conf> -k <what>` (`-t` for `configtest`), with the test's marker.
    pub fn ctl(&self, what: &str) -> Output {
        let mut cmd = Command::new("apache2");
        cmd.arg("-f").arg(&self.conf);
        if what == "configtest" {
            cmd.arg("-t");
        } else {
            cmd.args(["-k", what]);
        }
        std::fs::create_dir_all(self.dir_path.join("tmp")).expect("mkdir tmp");
        cmd.env(MARKER_VAR, &self.marker)
            .env("TMPDIR", self.dir_path.join("tmp"))
            .current_dir(&self.dir_path);
        run_bounded(&mut cmd)
    }

    /// The master's pid, from its PID file, when it is alive.
    pub fn master_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.root.join("run/httpd.pid")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        pid_alive(pid).then_some(pid)
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.root.join("logs/error.log")).unwrap_or_default()
    }

    /// `apachectl stop`, then waits until the master is gone.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let master = self.master_pid();
        let _ = self.ctl("stop");
        if let Some(pid) = master {
            let gone = poll(Duration::from_secs(30), || !pid_alive(pid));
            if !gone {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                panic!("Apache (pid {pid}) did not stop within 30 s");
            }
        }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let master = self.master_pid();
            let _ = self.ctl("stop");
            if let Some(pid) = master {
                if !poll(Duration::from_secs(30), || !pid_alive(pid)) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// Runs an `apache2` control command in its own process group and waits for it; it returns
/// at once (`-k start` leaves a daemon, which the marker and `Drop` account for), or is killed
/// after two minutes.
fn run_bounded(cmd: &mut Command) -> Output {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn apache2");
    let pid = child.id() as i32;
    if !poll(Duration::from_secs(120), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    child.wait_with_output().expect("wait apache2")
}
