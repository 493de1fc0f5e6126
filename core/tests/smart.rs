//! Integration tests of smart spawning through [`SpawnerFactory`] with the real
//! interpreters (`ruby` with the `rack` gem, `python3`): preloaders, forked workers and
//! the memory they share with the preloader,
//! idle stop, restarts, load errors and cleanup. A missing interpreter fails the test
//! with a clear message rather than skipping it.
//!
//! Every worker is killed on drop by [`support::Running`]; each test checks `/proc` for the
//! processes it saw before it ends.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use passenger_core::app::{AppSpec, AppType, SpawnMethod};
use passenger_core::pool::Gupid;
use passenger_core::spawn::{SpawnError, SpawnStep, Spawner, SpawnerFactory, SpawnerOptions};

use support::session::{parse, LoaderSocket, Request};
use support::{
    app_with, assert_gone, cmdline, gone, ppid, processes_titled, require_python, require_ruby,
    Running, START,
};

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .expect("read comm")
        .trim()
        .to_string()
}

const RACK_APP: &str = r#"
$forked = :never_called
PhusionPassenger.on_event(:starting_worker_process) { |forked| $forked = forked }
run lambda { |env| [200, { 'content-type' => 'text/plain' }, ["forked=#{$forked} pid=#{Process.pid}"]] }
"#;

const WSGI_APP: &str = r#"
import os
forked = None

def passenger_starting_worker_process(f):
    global forked
    forked = f

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("forked=%s pid=%d" % (forked, os.getpid())).encode()]
"#;

fn spec(name: &str, dir: &Path, app_type: AppType) -> AppSpec {
    let mut app = AppSpec::new(name, dir.to_path_buf(), app_type);
    app.start_timeout = START;
    app.spawn_method = SpawnMethod::Smart;
    app
}

fn ruby_app(name: &str) -> (tempfile::TempDir, AppSpec) {
    require_ruby();
    let dir = app_with("config.ru", RACK_APP);
    let app = spec(name, dir.path(), AppType::Ruby);
    (dir, app)
}

fn python_app(name: &str) -> (tempfile::TempDir, AppSpec) {
    require_python();
    let dir = app_with("passenger_wsgi.py", WSGI_APP);
    let app = spec(name, dir.path(), AppType::Python);
    (dir, app)
}

async fn spawn_timed(spawner: &SpawnerFactory, app: &AppSpec, what: &str) -> Running {
    let started = Instant::now();
    let result = spawner
        .spawn(Arc::new(app.clone()), Gupid(format!("{}-{what}", app.name)))
        .await;
    match result {
        Ok(p) => {
            println!(
                "{} ({:?}) {what}: spawned pid {} in {} ms",
                app.name,
                app.app_type,
                p.pid,
                started.elapsed().as_millis()
            );
            Running::new(p)
        }
        Err(e) => panic!("{what} spawn failed: {e}\noutput:\n{}", e.output),
    }
}

/// GET / over the session protocol; asserts a 200 and returns the body.
async fn get(socket: &LoaderSocket) -> String {
    let (status, _, body) = parse(&Request::get("/").send(socket).await);
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "unexpected status {status:?}"
    );
    body
}

fn preloader_of(spawner: &SpawnerFactory, app: &AppSpec) -> u32 {
    spawner
        .preloader_pid(&app.name)
        .expect("the app has a running preloader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_smart_spawn_forks_workers_from_one_preloader() {
    let (dir, app) = ruby_app("smart-ruby");
    let root = dir.path().display().to_string();
    let spawner = SpawnerFactory::new(SpawnerOptions::default());

    let first = spawn_timed(&spawner, &app, "first (starts the preloader)").await;
    let preloader = preloader_of(&spawner, &app);
    assert_eq!(
        ppid(first.pid()),
        preloader,
        "the worker is the preloader's child"
    );
    assert_eq!(
        cmdline(preloader),
        format!("Passenger AppPreloader: {root}")
    );
    assert_eq!(
        cmdline(first.pid()),
        format!("Passenger RubyApp: {root} ({})", app.environment)
    );
    assert_eq!(
        get(&first.socket()).await,
        format!("forked=true pid={}", first.pid())
    );

    let second = spawn_timed(&spawner, &app, "second (reuses the preloader)").await;
    assert_eq!(preloader_of(&spawner, &app), preloader);
    assert_eq!(ppid(second.pid()), preloader);
    assert_ne!(second.pid(), first.pid());
    assert_eq!(
        processes_titled(&format!("Passenger AppPreloader: {root}")),
        vec![preloader],
        "exactly one preloader"
    );
    assert!(get(&second.socket()).await.starts_with("forked=true"));

    // terminate() closes the worker's stdin; `exited` resolves; the other one serves on.
    let first_pid = first.pid();
    first.stop().await;
    assert!(gone(first_pid));
    assert!(get(&second.socket()).await.starts_with("forked=true"));

    // A restart replaces the preloader; the running worker is not touched.
    spawner.app_restarted(&app.name);
    assert_gone(preloader);
    let third = spawn_timed(&spawner, &app, "after restart (new preloader)").await;
    let new_preloader = preloader_of(&spawner, &app);
    assert_ne!(new_preloader, preloader);
    assert_eq!(ppid(third.pid()), new_preloader);
    assert!(get(&second.socket()).await.starts_with("forked=true"));

    // Direct mode still reports forked=false.
    let mut direct = app.clone();
    direct.name = "smart-ruby-direct".into();
    direct.spawn_method = SpawnMethod::Direct;
    let plain = spawn_timed(&spawner, &direct, "direct").await;
    assert_eq!(
        get(&plain.socket()).await,
        format!("forked=false pid={}", plain.pid())
    );
    assert_eq!(spawner.preloader_pid(&direct.name), None);

    let pids = [second.pid(), third.pid(), plain.pid()];
    second.stop().await;
    third.stop().await;
    plain.stop().await;
    drop(spawner);
    assert_gone(new_preloader);
    for pid in pids {
        assert_gone(pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smart_spawn_forks_workers_from_one_preloader() {
    let (_dir, app) = python_app("smart-python");
    let spawner = SpawnerFactory::new(SpawnerOptions::default());

    let first = spawn_timed(&spawner, &app, "first (starts the preloader)").await;
    let preloader = preloader_of(&spawner, &app);
    assert_eq!(ppid(first.pid()), preloader);
    // Python sets only the kernel's 15-byte name.
    assert_eq!(comm(preloader), "Passenger AppPr");
    assert_eq!(comm(first.pid()), "Passenger Pytho");
    assert_eq!(
        get(&first.socket()).await,
        format!("forked=True pid={}", first.pid())
    );

    let second = spawn_timed(&spawner, &app, "second (reuses the preloader)").await;
    assert_eq!(preloader_of(&spawner, &app), preloader);
    assert_eq!(ppid(second.pid()), preloader);
    assert!(get(&second.socket()).await.starts_with("forked=True"));

    let mut direct = app.clone();
    direct.name = "smart-python-direct".into();
    direct.spawn_method = SpawnMethod::Direct;
    let plain = spawn_timed(&spawner, &direct, "direct").await;
    assert!(get(&plain.socket()).await.starts_with("forked=False"));

    let pids = [first.pid(), second.pid(), plain.pid()];
    first.stop().await;
    second.stop().await;
    plain.stop().await;
    drop(spawner);
    assert_gone(preloader);
    for pid in pids {
        assert_gone(pid);
    }
}

/// A Rack app that fills 48 MiB of string buffers at load time.
const BALLAST_APP: &str = r#"
$ballast = Array.new(48) { |i| format('%02d', i) * (512 * 1024) }
run lambda { |env| [200, { 'content-type' => 'text/plain' }, ["ballast=#{$ballast.size} pid=#{Process.pid}"]] }
"#;

/// The ballast of [`BALLAST_APP`], in KiB.
const BALLAST_KB: u64 = 48 * 1024;

/// One `kB` field (`Pss`, `Private_Dirty`, `Shared_Dirty`, ...) of `/proc/<pid>/smaps_rollup`,
/// read here rather than through the metrics module, which is itself under test elsewhere.
fn smaps_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/smaps_rollup: {e}"));
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/smaps_rollup:\n{text}"))
}

/// What smart spawning is for: workers forked from the preloader share the memory the app
/// filled at load time (copy-on-write), where a directly spawned process has its own copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_workers_share_the_preloaded_memory() {
    require_ruby();
    let dir = app_with("config.ru", BALLAST_APP);
    let app = spec("smart-ballast", dir.path(), AppType::Ruby);
    let mut direct = app.clone();
    direct.name = "smart-ballast-direct".into();
    direct.spawn_method = SpawnMethod::Direct;
    let spawner = SpawnerFactory::new(SpawnerOptions::default());

    let workers = [
        spawn_timed(&spawner, &app, "worker 1").await,
        spawn_timed(&spawner, &app, "worker 2").await,
    ];
    let plain = spawn_timed(&spawner, &direct, "direct").await;
    for p in workers.iter().chain([&plain]) {
        assert_eq!(
            get(&p.socket()).await,
            format!("ballast=48 pid={}", p.pid())
        );
    }
    let direct_private = smaps_kb(plain.pid(), "Private_Dirty");
    let direct_pss = smaps_kb(plain.pid(), "Pss");
    assert!(
        direct_private >= BALLAST_KB,
        "the direct process holds its own ballast: private dirty {direct_private} kB"
    );
    for w in &workers {
        let pid = w.pid();
        let (shared, private, pss) = (
            smaps_kb(pid, "Shared_Dirty"),
            smaps_kb(pid, "Private_Dirty"),
            smaps_kb(pid, "Pss"),
        );
        let figures = format!(
            "worker {pid}: shared dirty {shared} kB, private dirty {private} kB, PSS {pss} kB; \
             direct: private dirty {direct_private} kB, PSS {direct_pss} kB"
        );
        println!("{figures}");
        assert!(
            shared >= BALLAST_KB * 9 / 10,
            "the ballast is shared: {figures}"
        );
        assert!(
            private + BALLAST_KB * 9 / 10 <= direct_private,
            "the ballast is not copied: {figures}"
        );
        // Preloader and two workers split the ballast: a third each, against all of it.
        assert!(
            pss + BALLAST_KB / 2 <= direct_pss,
            "PSS shows the sharing: {figures}"
        );
    }

    let pids: Vec<u32> = workers.iter().chain([&plain]).map(Running::pid).collect();
    for p in workers {
        p.stop().await;
    }
    plain.stop().await;
    drop(spawner);
    for pid in pids {
        assert_gone(pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_preloader_stops_and_is_replaced() {
    let (_dir, mut app) = ruby_app("smart-idle");
    app.max_preloader_idle_time = Duration::from_secs(1);
    let spawner = SpawnerFactory::new(SpawnerOptions::default());
    let worker = spawn_timed(&spawner, &app, "first").await;
    let preloader = preloader_of(&spawner, &app);
    assert_gone(preloader);
    // The worker outlives its preloader.
    assert!(get(&worker.socket()).await.starts_with("forked=true"));
    let next = spawn_timed(&spawner, &app, "after idle stop").await;
    let new_preloader = preloader_of(&spawner, &app);
    assert_ne!(new_preloader, preloader);
    let pids = [worker.pid(), next.pid()];
    worker.stop().await;
    next.stop().await;
    drop(spawner);
    assert_gone(new_preloader);
    for pid in pids {
        assert_gone(pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_preloader_is_replaced() {
    let (_dir, app) = python_app("smart-crash");
    let spawner = SpawnerFactory::new(SpawnerOptions::default());
    let first = spawn_timed(&spawner, &app, "first").await;
    let preloader = preloader_of(&spawner, &app);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(preloader).expect("pid fits")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the preloader");
    assert_gone(preloader);
    let second = spawn_timed(&spawner, &app, "after preloader crash").await;
    assert_ne!(preloader_of(&spawner, &app), preloader);
    assert!(get(&first.socket()).await.starts_with("forked=True"));
    assert!(get(&second.socket()).await.starts_with("forked=True"));
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_load_error_reports_app_load() {
    require_ruby();
    let dir = app_with("config.ru", "raise 'boom at load time'\n");
    let app = spec("smart-broken", dir.path(), AppType::Ruby);
    let spawner = SpawnerFactory::new(SpawnerOptions::default());
    let err: SpawnError = match spawner
        .spawn(Arc::new(app.clone()), Gupid("broken-1".into()))
        .await
    {
        Ok(p) => {
            let pid = p.pid;
            drop(Running::new(p));
            panic!("spawn of {pid} succeeded but the app cannot load");
        }
        Err(e) => e,
    };
    assert_eq!(err.step, SpawnStep::AppLoad, "{err}");
    assert!(err.summary.contains("boom at load time"), "{}", err.summary);
    assert_eq!(spawner.preloader_pid(&app.name), None);
    let root = dir.path().display().to_string();
    assert!(processes_titled(&format!("Passenger AppPreloader: {root}")).is_empty());
}

/// Dropping the spawner, the processes and the runtime leaves nothing behind.
#[test]
fn dropping_everything_leaves_no_process() {
    let (dir, app) = ruby_app("smart-drop");
    let root = dir.path().display().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build runtime");
    let pids = runtime.block_on(async {
        let spawner = SpawnerFactory::new(SpawnerOptions::default());
        let a = spawner
            .spawn(Arc::new(app.clone()), Gupid("drop-1".into()))
            .await
            .expect("first spawn");
        let b = spawner
            .spawn(Arc::new(app.clone()), Gupid("drop-2".into()))
            .await
            .expect("second spawn");
        let preloader = spawner.preloader_pid(&app.name).expect("preloader");
        vec![a.pid, b.pid, preloader]
    });
    drop(runtime);
    for pid in &pids {
        assert_gone(*pid);
    }
    assert!(processes_titled(&format!("Passenger AppPreloader: {root}")).is_empty());
    assert!(processes_titled(&format!("Passenger RubyApp: {root}")).is_empty());
}
