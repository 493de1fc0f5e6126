//! Request pipelining to Rack processes: taken back, never run twice, counted by the queue
//! limit, surviving a dying process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::apps::require_rack;
use crate::support::{deadline, get, start_args, wait_until, Server, TestDir};

/// Logs every request's path to `hits.log` (one line each, appended before the
/// answer) so a test can count how often the app ran each request; `/slow` takes a
/// few seconds, long enough that a request waiting behind it is taken back first;
/// `/second…` takes one second.
const RACK_HIT_COUNTER_APP: &str = r##"
run lambda { |env|
  path = env['PATH_INFO']
  File.open(File.join(__dir__, 'hits.log'), 'a') { |f| f.write("#{path}\n") }
  sleep 3.0 if path == '/slow'
  sleep 1.0 if path.start_with?('/second')
  if path == '/crash'
    sleep 1.0
    Process.kill(:KILL, Process.pid)
  end
  [200, { 'content-type' => 'text/plain', 'x-pid' => Process.pid.to_s }, [path]]
}
"##;

fn hits(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("hits.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn metric(instance: &Path, name: &str) -> f64 {
    let text = crate::admin::api(instance, "GET", "/metrics", None).text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Starts the hit-counting Rack app in `dir/<name>` with one direct-spawned process
/// (or with the pool options in `extra` instead), pipelining timing `timing` (`<window>,<patience>`
/// in ms), and one request served. Returns the app root, the server and its
/// instance directory.
fn start_hit_counter_app(
    dir: &TestDir,
    name: &str,
    timing: &str,
    extra: &[&str],
) -> (PathBuf, Server, PathBuf) {
    let root = dir.path().join(name);
    std::fs::create_dir_all(root.join("public")).expect("invariant: test dir is writable");
    std::fs::write(root.join("config.ru"), RACK_HIT_COUNTER_APP)
        .expect("invariant: test dir is writable");
    // The app (as root: `nobody`, user switching) writes hits.log next to its config.ru.
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .expect("invariant: test dir is writable");
    let mut args = start_args(&root, &[]);
    if extra.is_empty() {
        args.extend_from_slice(&["--max-pool-size", "1", "--spawn-method", "direct"]);
    }
    args.extend_from_slice(extra);
    let server = Server::start_with_env(dir, &args, &[("PASSENGER_PIPELINE_TIMING_MS", timing)]);
    let instance = crate::admin::instance_dir(dir, &server);
    assert_eq!(get(server.addr, "/warmup").status, 200);
    (root, server, instance)
}

/// Six threads each send `per_thread` requests to `/<prefix><thread>-<i>` at once;
/// every one must answer with its path and have run exactly once.
fn load_runs_each_request_once(
    addr: std::net::SocketAddr,
    root: &Path,
    prefix: &str,
    per_thread: usize,
) {
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let prefix = prefix.to_string();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let path = format!("/{prefix}{w}-{i}");
                    let resp = get(addr, &path);
                    assert_eq!((resp.status, resp.text()), (200, path.clone()), "{path}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .expect("a load thread failed; see its assertion above");
    }
    let seen = hits(root);
    for w in 0..6 {
        for i in 0..per_thread {
            let path = format!("/{prefix}{w}-{i}");
            let count = seen.iter().filter(|h| **h == path).count();
            assert_eq!(count, 1, "{path} ran {count} times");
        }
    }
}

/// Request pipelining end to end: a request pipelined behind a slow one is taken back
/// (the app never sees it twice, nor loses it), and under concurrent load every
/// pipelined request runs exactly once.
#[test]
fn rack_pipelined_requests_run_exactly_once() {
    require_rack();
    let dir = TestDir::new();
    // Window a minute: every request finding the process busy is pipelined; one waiting
    // behind /slow is taken back after 300 ms.
    let (root, server, instance) = start_hit_counter_app(&dir, "pipelined_app", "60000,300", &[]);
    let addr = server.addr;

    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the app started /slow", deadline(), || {
        hits(&root).contains(&"/slow".to_string())
    });
    let started = Instant::now();
    let fast = std::thread::spawn(move || get(addr, "/behind-slow"));
    wait_until("the waiting request was taken back", deadline(), || {
        metric(&instance, "passenger_pipeline_withdrawals_total") >= 1.0
    });
    assert!(
        !hits(&root).contains(&"/behind-slow".to_string()),
        "the app ran the request that was taken back"
    );
    let slow = slow
        .join()
        .expect("invariant: the /slow thread does not panic");
    let fast = fast
        .join()
        .expect("invariant: the request thread does not panic");
    assert_eq!((slow.status, slow.text()), (200, "/slow".to_string()));
    assert_eq!(
        (fast.status, fast.text()),
        (200, "/behind-slow".to_string())
    );
    assert!(started.elapsed() < deadline(), "served once /slow ended");
    assert!(metric(&instance, "passenger_pipelined_requests_total") >= 1.0);

    // Concurrent load on the lone process: nearly every request is pipelined.
    load_runs_each_request_once(addr, &root, "w", 60);
    let seen = hits(&root);
    assert_eq!(seen.iter().filter(|h| *h == "/behind-slow").count(), 1);
    assert!(
        metric(&instance, "passenger_pipelined_requests_total") >= 20.0,
        "hardly any request was pipelined under load"
    );
}

/// The queue limit holds with pipelining: requests pipelined behind a busy process
/// wait like queued ones. 50 concurrent one-second requests at pool 1 / queue 5: one
/// runs, five wait, 44 get 503 at once, as in Passenger (before, four pipelined plus
/// five queued waited and 40 got 503).
#[test]
fn rack_queue_limit_counts_pipelined_requests() {
    require_rack();
    let dir = TestDir::new();
    // Every request finding the process busy is pipelined, and none is taken back.
    let (root, server, _instance) = start_hit_counter_app(
        &dir,
        "queue_limit_app",
        "600000,600000",
        &[
            "--max-pool-size",
            "1",
            "--max-request-queue-size",
            "5",
            "--spawn-method",
            "direct",
        ],
    );
    let addr = server.addr;
    let first = std::thread::spawn(move || get(addr, "/second-0"));
    wait_until("the app started /second-0", deadline(), || {
        hits(&root).contains(&"/second-0".to_string())
    });
    let started = Instant::now();
    let others: Vec<_> = (1..50)
        .map(|i| {
            std::thread::spawn(move || {
                let resp = get(addr, &format!("/second-{i}"));
                (resp.status, started.elapsed())
            })
        })
        .collect();
    let mut statuses = vec![
        first
            .join()
            .expect("invariant: the request thread does not panic")
            .status,
    ];
    let mut slowest_200 = Duration::ZERO;
    let mut slowest_503 = Duration::ZERO;
    for t in others {
        let (status, took) = t
            .join()
            .expect("invariant: the request thread does not panic");
        match status {
            200 => slowest_200 = slowest_200.max(took),
            503 => slowest_503 = slowest_503.max(took),
            _ => {}
        }
        statuses.push(status);
    }
    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    assert_eq!(
        (count(200), count(503)),
        (6, 44),
        "one in the process, five waiting, the rest turned away: {statuses:?}"
    );
    let ran = hits(&root)
        .iter()
        .filter(|h| h.starts_with("/second-"))
        .count();
    assert_eq!(ran, 6, "a request answered 503 never reaches the app");
    assert!(
        slowest_503 < Duration::from_secs(1),
        "a 503 is answered at once, not after waiting: {slowest_503:?}"
    );
    assert!(
        slowest_200 < Duration::from_secs(6) + deadline() / 2,
        "the last of the five waiters is served about 5 s later: {slowest_200:?}"
    );
}

/// A request pipelined behind one whose process dies is not lost with it: the core
/// takes back its claim once the process is gone, and a new process serves it.
#[test]
fn rack_pipelined_request_survives_its_process_dying() {
    require_rack();
    let dir = TestDir::new();
    // Never taken back for waiting: only the process's death frees it.
    let (root, server, instance) =
        start_hit_counter_app(&dir, "pipelined_crash_app", "600000,600000", &[]);
    let addr = server.addr;
    let crash = std::thread::spawn(move || get(addr, "/crash"));
    wait_until("the app started /crash", deadline(), || {
        hits(&root).contains(&"/crash".to_string())
    });
    let after = std::thread::spawn(move || get(addr, "/after-crash"));
    wait_until("the second request was pipelined", deadline(), || {
        metric(&instance, "passenger_pipelined_requests_total") >= 1.0
    });
    let crash = crash
        .join()
        .expect("invariant: the /crash thread does not panic");
    let after = after
        .join()
        .expect("invariant: the request thread does not panic");
    assert_eq!(
        crash.status,
        502,
        "the request its process died in: {}",
        crash.text()
    );
    assert_eq!(
        (after.status, after.text()),
        (200, "/after-crash".to_string()),
        "the pipelined request is served by a new process"
    );
    assert_eq!(
        hits(&root).iter().filter(|h| *h == "/after-crash").count(),
        1
    );
    assert!(metric(&instance, "passenger_pipeline_withdrawals_total") >= 1.0);
}

/// Pipelining with two smart-spawned processes: while one is held up by a slow
/// request, concurrent requests are pipelined to both, those waiting behind the slow
/// one are taken back, and every request runs exactly once.
#[test]
fn rack_pipelining_over_two_smart_spawned_processes_runs_each_request_once() {
    require_rack();
    let dir = TestDir::new();
    let (root, server, instance) = start_hit_counter_app(
        &dir,
        "pipelined_pair_app",
        "60000,200",
        &[
            "--max-pool-size",
            "2",
            "--min-instances",
            "2",
            "--spawn-method",
            "smart",
        ],
    );
    let addr = server.addr;
    wait_until("two processes serve", deadline(), || {
        let pool = crate::admin::api(&instance, "GET", "/pool.json", None).text();
        pool.matches("\"pid\"").count() >= 2
    });
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the app started /slow", deadline(), || {
        hits(&root).contains(&"/slow".to_string())
    });
    let load = {
        let root = root.clone();
        std::thread::spawn(move || load_runs_each_request_once(addr, &root, "p", 40))
    };
    let slow = slow
        .join()
        .expect("invariant: the /slow thread does not panic");
    assert_eq!((slow.status, slow.text()), (200, "/slow".to_string()));
    load.join()
        .expect("the load failed; see its assertion above");
    // Requests taken back from behind /slow are still in their connections to that
    // process. Once it has answered a request sent after /slow ended, it has read
    // them all: none may have run again.
    let slow_pid = slow
        .header("x-pid")
        .expect("the app names its pid")
        .to_string();
    let mut probes = 0;
    wait_until("the process of /slow serves again", deadline(), || {
        let pair: Vec<_> = (0..2)
            .map(|_| {
                probes += 1;
                let path = format!("/probe-{probes}");
                std::thread::spawn(move || get(addr, &path))
            })
            .collect();
        pair.into_iter()
            .map(|t| t.join().expect("invariant: a probe thread does not panic"))
            .any(|resp| resp.header("x-pid") == Some(slow_pid.as_str()))
    });
    let seen = hits(&root);
    for w in 0..6 {
        for i in 0..40 {
            let path = format!("/p{w}-{i}");
            let count = seen.iter().filter(|h| **h == path).count();
            assert_eq!(count, 1, "{path} ran {count} times");
        }
    }
    assert!(
        metric(&instance, "passenger_pipelined_requests_total") >= 20.0,
        "hardly any request was pipelined under load"
    );
    assert!(
        metric(&instance, "passenger_pipeline_withdrawals_total") >= 1.0,
        "requests pipelined behind /slow were taken back"
    );

    // Each worker's claims pipe is in the socket directory and goes with the server.
    let pool = crate::admin::api(&instance, "GET", "/pool.json", None).text();
    let pid: u32 = pool
        .split("\"pid\":")
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no process pid in /pool.json:\n{pool}"));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("worker environment");
    let base = environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"PASSENGER_CLAIMS="))
        .map(|v| PathBuf::from(String::from_utf8_lossy(v).into_owned()))
        .expect("the worker was told where its claims go");
    let claims_pipes = |dir: &std::path::Path| {
        use std::os::unix::fs::FileTypeExt;
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".c"))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_fifo()))
                .count()
        })
    };
    assert_eq!(
        claims_pipes(&base),
        2,
        "one claims pipe per worker in {}",
        base.display()
    );
    drop(server);
    wait_until("the claims pipes are removed at stop", deadline(), || {
        claims_pipes(&base) == 0
    });
}
