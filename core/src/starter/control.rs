//! `start_server --restart` and `--stop`: clients of a running superdaemon that
//! find it through its pid file (and status file).
//!
//! Owns: reading those files and waiting for the outcome: the next generation
//! alone in the status file (`--restart`), the pid file's lock released
//! (`--stop`: the superdaemon holds it for its whole life). Signals only the pid
//! the pid file names, which the superdaemon wrote and keeps locked.

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::StarterError;

/// How often `--restart` re-reads the status file.
const STATUS_POLL: Duration = Duration::from_millis(100);

fn read_pid(path: &Path, file: &std::fs::File) -> Result<Pid, StarterError> {
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(StarterError::io(format!(
            "failed to open file:{}",
            path.display()
        )))?;
    line.trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .map(Pid::from_raw)
        .ok_or_else(|| {
            StarterError::Usage(format!(
                "{} does not hold a process id: {:?}",
                path.display(),
                line.trim()
            ))
        })
}

/// Refuses to signal the pid in `path` unless a live superdaemon holds the file's
/// lock: a stale pid file may name a recycled pid that is not ours.
fn ensure_locked(path: &Path, file: &std::fs::File) -> Result<(), StarterError> {
    // SAFETY: flock on an fd we own; a shared lock we get is released at once.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        // SAFETY: as above.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        return Err(StarterError::Usage(format!(
            "no start_server holds {} (it is not running); nothing was signalled",
            path.display()
        )));
    }
    Ok(())
}

/// The generations listed in a status file, ascending.
fn generations(status_file: &Path) -> Result<Vec<u64>, StarterError> {
    let text = std::fs::read_to_string(status_file).map_err(StarterError::io(format!(
        "failed to open file:{}",
        status_file.display()
    )))?;
    let mut gens: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split_once(':').and_then(|(g, _)| g.parse().ok()))
        .collect();
    gens.sort_unstable();
    gens.dedup();
    Ok(gens)
}

/// `--restart`: sends SIGHUP to the superdaemon and waits until the next
/// generation is the only one alive.
pub fn restart_server(
    pid_file: Option<&Path>,
    status_file: Option<&Path>,
) -> Result<(), StarterError> {
    let (Some(pid_file), Some(status_file)) = (pid_file, status_file) else {
        return Err(StarterError::Usage(
            "--restart option requires --pid-file and --status-file to be set as well".into(),
        ));
    };
    let file = std::fs::File::open(pid_file).map_err(StarterError::io(format!(
        "failed to open file:{}",
        pid_file.display()
    )))?;
    let pid = read_pid(pid_file, &file)?;
    ensure_locked(pid_file, &file)?;
    let wait_for = match generations(status_file)?.last() {
        Some(last) => last + 1,
        None => {
            return Err(StarterError::Usage(
                "no active process found in the status file".into(),
            ))
        }
    };
    kill(pid, Signal::SIGHUP)
        .map_err(|e| StarterError::io("failed to send SIGHUP to the server process")(e.into()))?;
    loop {
        if generations(status_file)? == [wait_for] {
            return Ok(());
        }
        std::thread::sleep(STATUS_POLL);
    }
}

/// `--stop`: sends SIGTERM to the superdaemon and waits until it has exited (its
/// lock on the pid file is released). `log` gets the original's one line.
pub fn stop_server(pid_file: Option<&Path>, log: &mut dyn Write) -> Result<(), StarterError> {
    let Some(pid_file) = pid_file else {
        return Err(StarterError::Usage(
            "--stop option requires --pid-file to be set as well".into(),
        ));
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pid_file)
        .map_err(StarterError::io(format!(
            "failed to open file:{}",
            pid_file.display()
        )))?;
    let pid = read_pid(pid_file, &file)?;
    ensure_locked(pid_file, &file)?;
    let _ = writeln!(
        log,
        "stop_server (pid:{}) stopping now (pid:{pid})...",
        std::process::id()
    );
    kill(pid, Signal::SIGTERM)
        .map_err(|e| StarterError::io("failed to send SIGTERM to the server process")(e.into()))?;
    // SAFETY: flock on an fd we own; blocks until the superdaemon closes its copy.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(StarterError::io(format!(
            "flock failed({})",
            pid_file.display()
        ))(std::io::Error::last_os_error()));
    }
    Ok(())
}
