//! Tests of `passenger_core::metrics` against real processes.
//!
//! Every process started here runs in its own process group, which a guard kills
//! (SIGKILL to the whole group) and reaps on drop, so a failing assertion leaks nothing.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use passenger_core::metrics::{
    list_processes, memory_stats, process_metrics, process_tree, CpuSampler, InstanceRoots,
    MemoryStatsOptions, MetricsError, CORE_TITLE, WATCHDOG_TITLE,
};

use support::poll;

/// A child in its own process group; the group is killed and the child reaped on drop.
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command) -> Group {
        let child = cmd
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("invariant: test fixture command exists");
        Group(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills the group and reaps the leader, leaving its pid unused (or reused).
    fn kill_and_reap(&mut self) {
        // SAFETY: killpg only sends a signal; the pgid is our child's own group.
        unsafe { libc::killpg(self.0.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Waits (with a deadline) for the child to print `ready` on stdout.
fn wait_ready(group: &mut Group) {
    let stdout = group.0.stdout.take().expect("invariant: stdout was piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("fixture did not report ready in time");
    assert_eq!(line.trim(), "ready", "fixture failed to start");
}

const DIRTY_MIB: u64 = 32;

/// Python fixture: allocates N MiB, writes one byte per page so every page is
/// private and dirty, reports `ready`, then sleeps.
const DIRTY_FIXTURE: &str = "
import sys, time
n = int(sys.argv[1])
buf = bytearray(n * 1024 * 1024)
for i in range(0, len(buf), 4096):
    buf[i] = 1
print('ready', flush=True)
time.sleep(120)
";

fn spawn_dirty_fixture() -> Group {
    let mut group = Group::spawn(
        Command::new("python3")
            .args(["-c", DIRTY_FIXTURE, &DIRTY_MIB.to_string()])
            .stdout(Stdio::piped()),
    );
    wait_ready(&mut group);
    group
}

#[test]
fn private_dirty_of_a_process_that_touched_n_mib() {
    let fixture = spawn_dirty_fixture();
    let m = process_metrics(fixture.pid()).expect("fixture is alive and ours");
    let dirty = m
        .private_dirty_kb
        .expect("our own child's smaps is readable");
    let floor = DIRTY_MIB * 1024;
    let ceiling = (DIRTY_MIB + 15) * 1024;
    assert!(
        (floor..ceiling).contains(&dirty),
        "private dirty {dirty} kB not in [{floor}, {ceiling}) kB"
    );
    let pss = m.pss_kb.expect("readable");
    assert!(pss >= floor, "pss {pss} kB below {floor} kB");
    assert!(m.rss_kb >= floor && m.vmsize_kb >= m.rss_kb);
    assert_eq!(m.pgid, fixture.pid(), "fixture leads its own group");
    assert_eq!(m.ppid, std::process::id());
    assert!(m.cmdline.first().is_some_and(|a| a.contains("python3")));
    assert!(m.uid.is_some());
    assert!(m.start_time_ticks > 0);
}

#[test]
fn process_that_exited_is_gone_and_skipped() {
    let mut fixture = Group::spawn(Command::new("sleep").arg("60"));
    let pid = fixture.pid();
    assert!(process_metrics(pid).is_ok());

    // Exited but not reaped: a zombie has no memory map any more.
    // SAFETY: signals our own child only.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    poll(
        "the child to become a zombie",
        Duration::from_secs(10),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit_once(')')
                .filter(|(_, rest)| rest.trim_start().starts_with('Z'))
                .map(|_| ())
        },
    );
    assert!(matches!(
        process_metrics(pid),
        Err(MetricsError::Gone { .. })
    ));
    let stats = memory_stats(&MemoryStatsOptions {
        apache: false,
        nginx: false,
        roots: InstanceRoots {
            core_pids: vec![pid],
            ..Default::default()
        },
    });
    assert!(stats.passenger.rows.iter().all(|r| r.pid != pid));

    fixture.kill_and_reap();
    assert!(matches!(
        process_metrics(pid),
        Err(MetricsError::Gone { .. })
    ));
    let stats = memory_stats(&MemoryStatsOptions {
        apache: false,
        nginx: false,
        roots: InstanceRoots {
            core_pids: vec![pid],
            ..Default::default()
        },
    });
    assert!(stats.passenger.rows.iter().all(|r| r.pid != pid));
}

#[test]
fn process_tree_finds_a_grandchild() {
    // outer sh -> inner sh -> sleep; the trailing `:` stops the inner sh from exec'ing sleep.
    let fixture = Group::spawn(Command::new("sh").args(["-c", "sh -c 'sleep 60; :' & wait"]));
    let root = fixture.pid();
    let tree = poll("the grandchild to appear", Duration::from_secs(10), || {
        let tree = process_tree(root);
        (tree.len() >= 2).then_some(tree)
    });
    let names: Vec<String> = tree
        .iter()
        .filter_map(|pid| process_metrics(*pid).ok())
        .map(|m| m.name)
        .collect();
    assert!(names.iter().any(|n| n == "sleep"), "{names:?}");
    let grandchild = tree
        .iter()
        .filter_map(|pid| process_metrics(*pid).ok())
        .find(|m| m.name == "sleep")
        .expect("sleep is in the tree");
    assert_ne!(grandchild.ppid, root, "sleep is a grandchild, not a child");
    assert!(tree.contains(&grandchild.ppid));
    assert!(!tree.contains(&root));
    assert!(list_processes().contains(&root));
}

#[test]
fn passenger_section_lists_an_instance_tree() {
    // Stand-in for a core: a shell whose child is a plain `python3` app.
    let mut core = Group::spawn(
        Command::new("sh")
            .args([
                "-c",
                &format!(
                    "python3 -c \"{}\" {DIRTY_MIB}; :",
                    DIRTY_FIXTURE.replace('"', "\\\"")
                ),
            ])
            .stdout(Stdio::piped()),
    );
    wait_ready(&mut core);
    let stats = memory_stats(&MemoryStatsOptions {
        apache: false,
        nginx: false,
        roots: InstanceRoots {
            core_pids: vec![core.pid()],
            ..Default::default()
        },
    });
    assert!(stats.apache.is_none() && stats.nginx.is_none());
    let section = &stats.passenger;
    assert_eq!(section.title, "Passenger processes");
    assert!(!section.show_ppid);
    let core_row = section
        .rows
        .iter()
        .find(|r| r.pid == core.pid())
        .expect("core row listed");
    assert_eq!(
        core_row.name, CORE_TITLE,
        "the core is listed under the title operators grep for"
    );
    let app = section
        .rows
        .iter()
        .find(|r| {
            r.ppid == core.pid()
                && r.name
                    .split(' ')
                    .next()
                    .is_some_and(|argv0| argv0.ends_with("python3"))
        })
        .unwrap_or_else(|| panic!("the app is not listed: {:#?}", section.rows));
    assert!(
        !app.name.contains('\n'),
        "control characters are blanked so a row stays one line"
    );
    assert!(app
        .private_dirty_kb
        .is_some_and(|kb| kb >= DIRTY_MIB * 1024));
    let known: u64 = section.rows.iter().filter_map(|r| r.private_dirty_kb).sum();
    assert_eq!(section.total_private_dirty_kb, known);
    assert_eq!(
        section.incomplete,
        section.rows.iter().any(|r| r.private_dirty_kb.is_none())
    );
    let json = serde_json::to_value(&stats).expect("invariant: plain data serializes");
    assert!(json["passenger"]["rows"]
        .as_array()
        .is_some_and(|r| r.len() >= 2));
}

#[test]
fn cpu_sampler_sees_a_busy_process() {
    let busy = Group::spawn(Command::new("sh").args(["-c", "while :; do :; done"]));
    let mut sampler = CpuSampler::new();
    let first = process_metrics(busy.pid()).expect("alive");
    assert_eq!(sampler.sample(&first), None);
    let percent = poll("CPU ticks to accumulate", Duration::from_secs(10), || {
        let now = process_metrics(busy.pid()).ok()?;
        (now.cpu_ticks >= first.cpu_ticks + 5).then_some(())?;
        sampler.sample(&now)
    });
    assert!(percent > 0.0 && percent <= 100.0 * 64.0, "{percent}");
}

#[test]
fn memory_stats_over_the_whole_machine_completes() {
    let started = Instant::now();
    let stats = memory_stats(&MemoryStatsOptions::default());
    let elapsed = started.elapsed();
    eprintln!(
        "memory_stats over {} processes took {elapsed:?}",
        list_processes().len()
    );
    for section in [
        stats.apache.as_ref(),
        stats.nginx.as_ref(),
        Some(&stats.passenger),
    ]
    .into_iter()
    .flatten()
    {
        let known: u64 = section.rows.iter().filter_map(|r| r.private_dirty_kb).sum();
        assert_eq!(section.total_private_dirty_kb, known);
        assert!(section.rows.windows(2).all(|w| w[0].pid < w[1].pid));
    }
}

/// A command line that is not UTF-8 (a process title naming an app root with such a
/// byte) is read, not an error: the byte shows as U+FFFD. The watchdog is listed
/// under its title, whatever its command line.
#[test]
fn non_utf8_command_lines_and_the_watchdog_title() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let root = OsStr::from_bytes(b"/srv/a&b<c\xff");
    let mut title = b"Passenger RubyApp: ".to_vec();
    title.extend_from_slice(root.as_bytes());
    // `exec -a` sets argv[0], as a loader sets its process title.
    let app = Group::spawn(
        Command::new("bash")
            .arg("-c")
            .arg("exec -a \"$0\" sleep 60")
            .arg(OsStr::from_bytes(&title)),
    );
    let watchdog = Group::spawn(Command::new("sh").args(["-c", "sleep 60; :"]).arg(root));
    let shown = "Passenger RubyApp: /srv/a&b<c\u{fffd}";
    poll("the title to be set", Duration::from_secs(10), || {
        let m = process_metrics(app.pid()).ok()?;
        (m.cmdline.first().map(String::as_str) == Some(shown)).then_some(())
    });
    let m = process_metrics(watchdog.pid()).expect("alive");
    assert_eq!(
        m.cmdline.last().map(String::as_str),
        Some("/srv/a&b<c\u{fffd}")
    );
    let stats = memory_stats(&MemoryStatsOptions {
        apache: false,
        nginx: false,
        roots: InstanceRoots {
            watchdog_pids: vec![watchdog.pid()],
            ..Default::default()
        },
    });
    let row = |pid: u32| {
        stats
            .passenger
            .rows
            .iter()
            .find(|r| r.pid == pid)
            .unwrap_or_else(|| panic!("{pid} not listed: {:#?}", stats.passenger.rows))
    };
    assert_eq!(row(watchdog.pid()).name, WATCHDOG_TITLE);
    assert_eq!(row(app.pid()).name, format!("{shown} 60"));
}
