//! Drives the real admin server over a real unix socket in a real instance
//! directory, with a fake pool.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use passenger_core::admin::{self, AdminCallbacks, AdminState, LogLevel, PoolApi, ServerInfo};
use passenger_core::instance::{Instance, InstanceProperties};
use passenger_core::pool::{
    GroupOptions, GroupSnapshot, PoolError, PoolSnapshot, ProcessSnapshot, RestartMethod,
};
use tokio::sync::watch;

const HELPER_ENV: &str = "ADMIN_API_TEST_NOBODY_SOCKET";
const HELPER_PROBES_ENV: &str = "ADMIN_API_TEST_NOBODY_PROBES";
const OUTCOMES_MARKER: &str = "OUTCOMES:";

struct FakePool {
    snapshot: Mutex<PoolSnapshot>,
    restarts: Mutex<Vec<(String, RestartMethod)>>,
    detaches: Mutex<Vec<u32>>,
    /// Every call fails as a pool whose actor has stopped does.
    stopped: std::sync::atomic::AtomicBool,
}

impl FakePool {
    fn check(&self) -> Result<(), PoolError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(PoolError::Stopped);
        }
        Ok(())
    }
}

impl PoolApi for FakePool {
    fn snapshot(&self) -> BoxFuture<'_, Result<PoolSnapshot, PoolError>> {
        let s = self.snapshot.lock().expect("lock").clone();
        let checked = self.check();
        Box::pin(async move { checked.map(|()| s) })
    }
    fn restart_group<'a>(
        &'a self,
        name: &'a str,
        method: RestartMethod,
    ) -> BoxFuture<'a, Result<(), PoolError>> {
        Box::pin(async move {
            self.check()?;
            let known = self
                .snapshot
                .lock()
                .expect("lock")
                .groups
                .iter()
                .any(|g| g.name == name);
            if !known {
                return Err(PoolError::NoSuchGroup(name.to_string()));
            }
            self.restarts
                .lock()
                .expect("lock")
                .push((name.to_string(), method));
            Ok(())
        })
    }
    fn detach_process(&self, pid: u32) -> BoxFuture<'_, Result<bool, PoolError>> {
        Box::pin(async move {
            self.check()?;
            let known = self
                .snapshot
                .lock()
                .expect("lock")
                .groups
                .iter()
                .flat_map(|g| &g.processes)
                .any(|p| p.pid == pid);
            if known {
                self.detaches.lock().expect("lock").push(pid);
            }
            Ok(known)
        })
    }
}

fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64
}

/// Times are offset by half a second more than the expected whole seconds, so the
/// rendering a few milliseconds later still truncates to the same values.
fn fixed_snapshot() -> PoolSnapshot {
    let now = now_usec();
    PoolSnapshot {
        max_pool_size: 6,
        capacity_used: 1,
        top_level_queue_len: 0,
        groups: vec![
            GroupSnapshot {
                name: "/webapps/rackapp".into(),
                app_root: "/webapps/rackapp".into(),
                environment: "development".into(),
                app_type: "ruby".into(),
                processes: vec![
                    ProcessSnapshot {
                        pid: 12950,
                        gupid: "1c88f10-6bbiXzJzZ5".into(),
                        sessions: 1,
                        concurrency: 1,
                        processed: 4,
                        spawn_start_time: now - 3_724_000_000,
                        spawn_end_time: now - 3_723_500_000,
                        last_used: now - 31_500_000,
                        enabled: "enabled".into(),
                        life_status: "alive".into(),
                        address: "tcp://127.0.0.1:44285".into(),
                        cpu_percent: Some(12),
                        real_memory_kb: Some(2648),
                        connect_password: Some("9y9JNnIWfB9cWAiO".into()),
                        direct_url: Some("http://127.0.0.1:44285".into()),
                        sticky_session_id: 938689976,
                        spawner_creation_time: 1795262437161683,
                        rss_kb: Some(15524),
                        pss_kb: Some(8344),
                        private_dirty_kb: Some(2600),
                        swap_kb: Some(48),
                        vmsize_kb: Some(213280),
                        process_group_id: Some(12950),
                        command: Some("Passenger RubyApp: /webapps/rackapp".into()),
                    },
                    ProcessSnapshot {
                        pid: 12951,
                        gupid: "1c88f10-second".into(),
                        concurrency: 1,
                        processed: 100,
                        spawn_end_time: now - 42_500_000,
                        last_used: now - 5_500_000,
                        enabled: "detached".into(),
                        life_status: "shutdown_triggered".into(),
                        address: "unix:/tmp/x/apps.s/app.1".into(),
                        direct_url: Some("http://unix:/tmp/x/apps.s/app.1".into()),
                        ..Default::default()
                    },
                ],
                uuid: "tJDH3hjjVjIh5nZigzIx".into(),
                user: Some("root".into()),
                uid: Some(0),
                group: Some("root".into()),
                gid: Some(0),
                options: GroupOptions {
                    app_root: "/webapps/rackapp".into(),
                    app_group_name: "/webapps/rackapp".into(),
                    app_type: "ruby".into(),
                    start_command: "ruby rack-loader.rb".into(),
                    process_title: Some("Passenger RubyApp".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            GroupSnapshot {
                name: "/srv/app \"beta\" (production)".into(),
                app_root: "/srv/app".into(),
                environment: "production".into(),
                app_type: "generic".into(),
                queue_len: 3,
                processes_being_spawned: 2,
                restarting: true,
                processes: vec![],
                ..Default::default()
            },
        ],
    }
}

const EXPECTED_POOL_TXT: &str = "\
----------- General information -----------
Max pool size : 6
App groups    : 2
Processes     : 1
Requests in top-level queue : 0

----------- Application groups -----------
/webapps/rackapp:
  App root: /webapps/rackapp
  Requests in queue: 0
  * PID: 12950   Sessions: 1       Processed: 4       Uptime: 1h 2m 3s
    CPU: 12%     Memory  : 2M      Last used: 31s ago
  * PID: 12951   Sessions: 0       Processed: 100     Uptime: 42s
    CPU: 0%      Memory  : 0M      Last used: 5s ago
    Shutting down...

/srv/app \"beta\" (production):
  App root: /srv/app
  (restarting...)
  (spawning 2 new processes...)
  Requests in queue: 3

";

struct Fixture {
    _registry: tempfile::TempDir,
    instance: Instance,
    socket: PathBuf,
    pool: Arc<FakePool>,
    state: Arc<AdminState>,
    shutdowns: Arc<AtomicUsize>,
    levels: Arc<Mutex<Vec<LogLevel>>>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

struct Options {
    owner_uid: Option<u32>,
    reopen_fails: bool,
}

async fn start(opts: Options) -> Fixture {
    let registry = tempfile::Builder::new()
        .prefix("adm")
        .tempdir_in("/tmp")
        .expect("tempdir");
    // Others (uid nobody in the peer test) must reach the socket.
    std::fs::set_permissions(registry.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let instance =
        Instance::create(Some(registry.path()), InstanceProperties::default()).expect("instance");
    let socket = instance.core_api_socket_path();
    let listener = admin::bind(&socket).expect("bind");
    let pool = Arc::new(FakePool {
        snapshot: Mutex::new(fixed_snapshot()),
        restarts: Mutex::new(Vec::new()),
        detaches: Mutex::new(Vec::new()),
        stopped: Default::default(),
    });
    let shutdowns = Arc::new(AtomicUsize::new(0));
    let levels = Arc::new(Mutex::new(Vec::new()));
    let mut callbacks = AdminCallbacks::noop();
    let counter = shutdowns.clone();
    callbacks.shutdown = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let seen = levels.clone();
    callbacks.set_log_level = Arc::new(move |level| {
        seen.lock().expect("lock").push(level);
        Ok(())
    });
    if opts.reopen_fails {
        callbacks.reopen_logs = Arc::new(|| Err("no log file configured".into()));
    }
    callbacks.server_stats = Some(Arc::new(|| serde_json::json!({"active_clients": 7})));
    let info = ServerInfo {
        pid: std::process::id(),
        version: passenger_core::VERSION.into(),
        server_software: passenger_core::SERVER_SOFTWARE.into(),
        instance_name: String::new(),
        instance_dir: PathBuf::new(),
        listen_addresses: vec!["http://127.0.0.1:3000".into()],
        started_at: SystemTime::now() - Duration::from_secs(10),
    };
    let mut state =
        AdminState::for_instance(pool.clone(), &instance, info, callbacks, LogLevel::Notice);
    if let Some(uid) = opts.owner_uid {
        state.owner_uid = uid;
    }
    state
        .static_config
        .insert("max_pool_size".into(), serde_json::json!(6));
    let state = Arc::new(state);
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(admin::serve(listener, state.clone(), stop_rx));
    Fixture {
        _registry: registry,
        instance,
        socket,
        pool,
        state,
        shutdowns,
        levels,
        stop,
        server,
    }
}

fn default_opts() -> Options {
    Options {
        owner_uid: None,
        reopen_fails: false,
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("json body")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(
    socket: &Path,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&[u8]>,
) -> Reply {
    call_with_headers(socket, method, path, auth, body, &[]).await
}

async fn call_with_headers(
    socket: &Path,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Reply {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some((user, pw)) = auth {
        req = req.header(
            "authorization",
            format!("Basic {}", base64(format!("{user}:{pw}").as_bytes())),
        );
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_vec())))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .expect("timely answer")
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The test runs as root or as the owner, so the peer uid grants full access.
async fn get(f: &Fixture, path: &str) -> Reply {
    call(&f.socket, "GET", path, None, None).await
}

async fn post(f: &Fixture, path: &str, body: &str) -> Reply {
    call(&f.socket, "POST", path, None, Some(body.as_bytes())).await
}

#[tokio::test]
async fn socket_is_world_connectable_in_agents_dir() {
    let f = start(default_opts()).await;
    let mode = std::fs::metadata(&f.socket)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o666);
    assert_eq!(f.socket, f.instance.path().join("agents.s/core_api"));
}

#[tokio::test]
async fn read_endpoints() {
    let f = start(default_opts()).await;

    let r = get(&f, "/ping.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("status"), Some("200 OK"));

    for path in ["/info.json", "/version.json"] {
        let info = get(&f, path).await.json();
        assert_eq!(info["pid"], std::process::id());
        assert_eq!(info["program_version"], passenger_core::VERSION);
        assert_eq!(info["instance_name"], f.instance.name());
        assert_eq!(info["api_version"], "0.3");
    }

    let server = get(&f, "/server.json").await.json();
    assert_eq!(server["pid"], std::process::id());
    assert_eq!(
        server["listen_addresses"],
        serde_json::json!(["http://127.0.0.1:3000"])
    );
    assert!(server["uptime_sec"].as_u64().expect("uptime") >= 10);
    assert_eq!(server["pool"]["process_count"], 1);
    assert_eq!(server["pool"]["group_count"], 2);
    assert_eq!(server["pool"]["total_requests_processed"], 104);
    assert_eq!(server["pool"]["active_sessions"], 1);
    assert_eq!(server["pool"]["queue_length"], 3);
    assert_eq!(server["server"]["active_clients"], 7);

    let r = get(&f, "/pool.txt").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("pool-empty"), None);
    assert_eq!(r.body, EXPECTED_POOL_TXT);

    let verbose = get(&f, "/pool.txt?verbose=true").await.body;
    assert!(verbose.contains(
        "    CPU: 12%     Memory  : 2M      Last used: 31s ago\n    URL     : http://127.0.0.1:44285\n    Password: 9y9JNnIWfB9cWAiO\n"
    ));
    assert!(
        verbose.contains("    Shutting down...\n    URL     : http://unix:/tmp/x/apps.s/app.1\n")
    );
    let colored = get(&f, "/pool.txt?colorize=true").await.body;
    assert!(colored.starts_with(
        "\x1b[33m\x1b[44m\x1b[1m----------- General information -----------\x1b[0m\n"
    ));

    let xml = get(&f, "/pool.xml").await;
    assert_eq!(xml.header("content-type"), Some("text/xml"));
    let x = &xml.body;
    assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"iso-8859-1\" ?>\n<info version=\"3\">"));
    for needle in [
        "<group_count>2</group_count>",
        "<process_count>1</process_count>",
        "<max>6</max>",
        "<supergroup><name>/webapps/rackapp</name><state>READY</state>",
        "<group default=\"true\"><name>/webapps/rackapp</name>",
        "<name>/srv/app &#34;beta&#34; &#40;production&#41;</name>",
        "<restarting/>",
        "<process><pid>12950</pid><sticky_session_id>938689976</sticky_session_id><gupid>1c88f10-6bbiXzJzZ5</gupid>",
        "<spawner_creation_time>1795262437161683</spawner_creation_time>",
        "<rss>15524</rss><pss>8344</pss><private_dirty>2600</private_dirty><swap>48</swap>\
         <real_memory>2648</real_memory><vmsize>213280</vmsize><process_group_id>12950</process_group_id>\
         <command>Passenger RubyApp: /webapps/rackapp</command></process>",
        "<enabled>ENABLED</enabled>",
        "<life_status>ALIVE</life_status>",
        "<cpu>12</cpu>",
        "<real_memory>2648</real_memory>",
        "<last_used_desc>31s ago</last_used_desc>",
        "<enabled>DETACHED</enabled>",
    ] {
        assert!(x.contains(needle), "{needle} missing from {x}");
    }
    assert!(!x.contains("<sockets>"));
    // Element order as in the original's document (passenger-6-observed.md, 3.7).
    assert_eq!(
        xml_children(x, &["info", "supergroups", "supergroup", "group"]),
        [
            "name",
            "component_name",
            "app_root",
            "app_type",
            "environment",
            "uuid",
            "enabled_process_count",
            "disabling_process_count",
            "disabled_process_count",
            "capacity_used",
            "get_wait_list_size",
            "disable_wait_list_size",
            "processes_being_spawned",
            "life_status",
            "user",
            "uid",
            "group",
            "gid",
            "options",
            "processes"
        ]
    );
    assert_eq!(
        xml_children(
            x,
            &[
                "info",
                "supergroups",
                "supergroup",
                "group",
                "processes",
                "process"
            ]
        ),
        [
            "pid",
            "sticky_session_id",
            "gupid",
            "concurrency",
            "sessions",
            "busyness",
            "processed",
            "spawner_creation_time",
            "spawn_start_time",
            "spawn_end_time",
            "last_used",
            "last_used_desc",
            "uptime",
            "life_status",
            "enabled",
            "has_metrics",
            "cpu",
            "rss",
            "pss",
            "private_dirty",
            "swap",
            "real_memory",
            "vmsize",
            "process_group_id",
            "command"
        ]
    );
    let original_options = [
        "app_root",
        "app_group_name",
        "app_type",
        "start_command",
        "startup_file",
        "process_title",
        "log_level",
        "start_timeout",
        "environment",
        "base_uri",
        "spawn_method",
        "bind_address",
        "default_user",
        "default_group",
        "integration_mode",
        "ruby",
        "python",
        "nodejs",
        "debugger",
        "api_key",
        "min_processes",
        "max_processes",
        "max_preloader_idle_time",
        "max_out_of_band_work_instances",
        "sticky_sessions_cookie_attributes",
    ];
    let options = xml_children(
        x,
        &["info", "supergroups", "supergroup", "group", "options"],
    );
    let mut rest = original_options.iter();
    for name in &options {
        assert!(
            rest.any(|o| o == name),
            "options {options:?} are not in the original's order"
        );
    }
    for needle in [
        "<uuid>tJDH3hjjVjIh5nZigzIx</uuid>",
        "<user>root</user><uid>0</uid><group>root</group><gid>0</gid><options><app_root>/webapps/rackapp</app_root>\
         <app_group_name>/webapps/rackapp</app_group_name><app_type>ruby</app_type>\
         <start_command>ruby rack-loader.rb</start_command>",
    ] {
        assert!(x.contains(needle), "{needle} missing from {x}");
    }
    let secret = get(&f, "/pool.xml?secrets=true").await.body;
    assert!(secret.contains("<sockets><socket><address>tcp://127.0.0.1:44285</address>"));
    // Another parameter set to true is not `secrets`.
    let other = get(&f, "/pool.xml?verbose=true&secrets=no").await.body;
    assert!(!other.contains("<sockets>"), "{other}");

    let pool = get(&f, "/pool.json").await.json();
    assert_eq!(pool["schema_version"], 1);
    assert_eq!(pool["max_pool_size"], 6);
    assert_eq!(pool["groups"][0]["processes"][0]["pid"], 12950);
    assert_eq!(pool["groups"][0]["processes"][0]["real_memory_kb"], 2648);
    assert_eq!(pool["groups"][1]["restarting"], true);

    let r = get(&f, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .expect("ct")
        .starts_with("text/plain; version=0.0.4"));
    let scrape = prometheus_parse::Scrape::parse(r.body.lines().map(|l| Ok(l.to_string())))
        .expect("prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(value("passenger_pool_max_size", &[]), Some(6.0));
    assert_eq!(
        value(
            "passenger_group_processes",
            &[("group", "/webapps/rackapp"), ("state", "enabled")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "passenger_group_processes",
            &[("group", "/webapps/rackapp"), ("state", "detached")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("passenger_process_processed_total", &[("pid", "12951")]),
        Some(100.0)
    );
    assert_eq!(
        value("passenger_process_memory_bytes", &[("pid", "12950")]),
        Some(2648.0 * 1024.0)
    );
    assert_eq!(
        value("passenger_process_cpu_percent", &[("pid", "12950")]),
        Some(12.0)
    );
    // No sample for a process without metrics.
    assert_eq!(
        value("passenger_process_cpu_percent", &[("pid", "12951")]),
        None
    );
    assert!(matches!(
        scrape
            .samples
            .iter()
            .find(|s| s.metric == "passenger_process_processed_total")
            .map(|s| &s.value),
        Some(prometheus_parse::Value::Counter(_))
    ));
    assert!(scrape.docs.contains_key("passenger_group_queue_length"));
    // The label with quotes is escaped per the exposition format.
    assert!(r.body.contains(
        "passenger_group_queue_length{group=\"/srv/app \\\"beta\\\" (production)\"} 3\n"
    ));
}

#[tokio::test]
async fn empty_pool_sets_pool_empty() {
    let f = start(default_opts()).await;
    *f.pool.snapshot.lock().expect("lock") = PoolSnapshot {
        max_pool_size: 6,
        ..Default::default()
    };
    let r = get(&f, "/pool.txt").await;
    assert_eq!(r.header("pool-empty"), Some("true"));
    assert_eq!(
        r.body,
        "----------- General information -----------\nMax pool size : 6\nApp groups    : 0\n\
         Processes     : 0\nRequests in top-level queue : 0\n\n----------- Application groups -----------\n"
    );
    assert_eq!(
        get(&f, "/pool.xml").await.header("pool-empty"),
        Some("true")
    );
    assert_eq!(
        get(&f, "/pool.json").await.header("pool-empty"),
        Some("true")
    );
}

#[tokio::test]
async fn write_endpoints() {
    let f = start(default_opts()).await;

    let r = post(
        &f,
        "/pool/restart_app_group.json",
        r#"{"name":"/webapps/rackapp"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"restarted": true}));
    post(
        &f,
        "/pool/restart_app_group.json",
        r#"{"name":"/webapps/rackapp","restart_method":"rolling"}"#,
    )
    .await;
    post(
        &f,
        "/pool/restart_app_group.json",
        r#"{"name":"/webapps/rackapp","method":"blocking"}"#,
    )
    .await;
    assert_eq!(
        *f.pool.restarts.lock().expect("lock"),
        vec![
            ("/webapps/rackapp".to_string(), RestartMethod::Blocking),
            ("/webapps/rackapp".to_string(), RestartMethod::Rolling),
            ("/webapps/rackapp".to_string(), RestartMethod::Blocking),
        ]
    );
    let r = post(
        &f,
        "/pool/restart_app_group.json",
        r#"{"name":"/nonexistent"}"#,
    )
    .await;
    assert_eq!(r.json(), serde_json::json!({"restarted": false}));

    let r = post(&f, "/pool/detach_process.json", r#"{"pid":12950}"#).await;
    assert_eq!(r.json(), serde_json::json!({"detached": true}));
    let r = post(&f, "/pool/detach_process.json", r#"{"pid":1}"#).await;
    assert_eq!(r.json(), serde_json::json!({"detached": false}));
    assert_eq!(*f.pool.detaches.lock().expect("lock"), vec![12950]);

    let cfg = get(&f, "/config.json").await.json();
    assert_eq!(cfg["log_level"]["effective_value"], "notice");
    assert_eq!(cfg["max_pool_size"]["effective_value"], 6);
    let r = call(
        &f.socket,
        "PUT",
        "/config.json",
        None,
        Some(br#"{"log_level":"debug"}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(f.state.log_level(), LogLevel::Debug);
    let r = call(
        &f.socket,
        "PUT",
        "/config.json",
        None,
        Some(br#"{"log_level":2}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        *f.levels.lock().expect("lock"),
        vec![LogLevel::Debug, LogLevel::Warn]
    );
    assert_eq!(
        get(&f, "/config.json").await.json()["log_level"]["effective_value"],
        "warn"
    );
    for bad in [
        r#"{"log_level":"loud"}"#,
        r#"{"nonsense":1}"#,
        r#"{"max_pool_size":3}"#,
        "[1]",
    ] {
        let r = call(&f.socket, "PUT", "/config.json", None, Some(bad.as_bytes())).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
        let msg = r.json()["message"].as_str().expect("message").to_string();
        assert!(msg.starts_with("Error reconfiguring: "), "{msg}");
        // A known but read-only option is not called unknown.
        let why = match bad {
            r#"{"nonsense":1}"# => "unknown option 'nonsense'",
            r#"{"max_pool_size":3}"# => "'max_pool_size' cannot be changed at runtime",
            _ => "",
        };
        assert!(msg.ends_with(why), "{bad}: {msg}");
    }
    assert_eq!(f.state.log_level(), LogLevel::Warn);

    let r = post(&f, "/reopen_logs.json", "").await;
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));

    assert_eq!(f.shutdowns.load(Ordering::SeqCst), 0);
    let r = post(&f, "/shutdown.json", "").await;
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(f.shutdowns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn reopen_logs_failure_is_500() {
    let f = start(Options {
        owner_uid: None,
        reopen_fails: true,
    })
    .await;
    let r = post(&f, "/reopen_logs.json", "").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json()["status"], "error");
    assert_eq!(r.json()["message"], "no log file configured");
}

#[tokio::test]
async fn error_replies() {
    let f = start(default_opts()).await;
    let check = |r: Reply, status: StatusCode, body: &str| {
        assert_eq!(r.status, status);
        assert_eq!(r.body, body);
        assert_eq!(
            r.header("cache-control"),
            Some("no-cache, no-store, must-revalidate")
        );
    };
    check(
        get(&f, "/nonexistent").await,
        StatusCode::NOT_FOUND,
        "Not found",
    );
    check(
        get(&f, "/shutdown.json").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    );
    check(
        get(&f, "/pool/restart_app_group.json").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    );
    check(
        call(&f.socket, "DELETE", "/config.json", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    );
    check(
        post(&f, "/pool.txt", "").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    );
    check(
        post(&f, "/pool/restart_app_group.json", "").await,
        StatusCode::BAD_REQUEST,
        "Body required",
    );
    check(
        post(&f, "/pool/detach_process.json", "{}").await,
        StatusCode::BAD_REQUEST,
        "PID required",
    );
    check(
        post(&f, "/pool/detach_process.json", r#"{"pid":"abc"}"#).await,
        StatusCode::BAD_REQUEST,
        "PID required",
    );
    check(
        post(
            &f,
            "/pool/restart_app_group.json",
            r#"{"method":"blocking"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "Name required",
    );
    check(
        post(
            &f,
            "/pool/restart_app_group.json",
            r#"{"name":"/webapps/rackapp","method":"sideways"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "Unsupported restart method",
    );

    let r = post(&f, "/pool/detach_process.json", "{pid: 1").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.starts_with("* Line 1, Column 2\n  Syntax error: "),
        "{}",
        r.body
    );

    let big = vec![b' '; 128 * 1024 + 1];
    let r = call(
        &f.socket,
        "POST",
        "/pool/detach_process.json",
        None,
        Some(&big),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body, "Request body too large");

    // Nothing reached the pool.
    assert!(f.pool.detaches.lock().expect("lock").is_empty());
    assert!(f.pool.restarts.lock().expect("lock").is_empty());

    // A body of exactly the limit is accepted.
    let mut at_limit = br#"{"pid":12950}"#.to_vec();
    at_limit.resize(128 * 1024, b' ');
    let r = call(
        &f.socket,
        "POST",
        "/pool/detach_process.json",
        None,
        Some(&at_limit),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(*f.pool.detaches.lock().expect("lock"), vec![12950]);
}

/// One request of the auth matrix and the status it must get.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
struct Probe {
    method: String,
    path: String,
    auth: Option<(String, String)>,
    body: String,
    expect: u16,
}

/// What a probe got back.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Outcome {
    status: u16,
    body: String,
    www_authenticate: Option<String>,
    cache_control: Option<String>,
    pool_empty: Option<String>,
}

fn auth_probes(f: &Fixture) -> Vec<Probe> {
    let ro = Some((
        "ro_admin".to_string(),
        f.instance.read_only_admin_password().to_string(),
    ));
    let full = Some((
        "admin".to_string(),
        f.instance.full_admin_password().to_string(),
    ));
    let wrong_ro = Some(("ro_admin".to_string(), "wrong".to_string()));
    let wrong_full = Some((
        "admin".to_string(),
        f.instance.read_only_admin_password().to_string(),
    ));
    let other_user = Some((
        "root".to_string(),
        f.instance.full_admin_password().to_string(),
    ));
    let p = |method: &str, path: &str, auth: &Option<(String, String)>, body: &str, expect: u16| {
        Probe {
            method: method.into(),
            path: path.into(),
            auth: auth.clone(),
            body: body.into(),
            expect,
        }
    };
    vec![
        p("GET", "/pool.txt", &None, "", 401),
        p("GET", "/ping.json", &None, "", 401),
        p("GET", "/config.json", &None, "", 401),
        p("GET", "/pool.txt", &wrong_ro, "", 401),
        p("GET", "/pool.txt", &wrong_full, "", 401),
        p("GET", "/pool.txt", &other_user, "", 401),
        p("GET", "/pool.txt", &ro, "", 200),
        p("GET", "/ping.json", &ro, "", 200),
        p("GET", "/config.json", &ro, "", 200),
        p("GET", "/metrics", &ro, "", 200),
        // Read-only on write endpoints.
        p(
            "POST",
            "/pool/detach_process.json",
            &ro,
            "{\"pid\":12950}",
            401,
        ),
        p(
            "POST",
            "/pool/restart_app_group.json",
            &ro,
            "{\"name\":\"/webapps/rackapp\"}",
            401,
        ),
        p("POST", "/shutdown.json", &ro, "", 401),
        p("PUT", "/config.json", &ro, "{\"log_level\":\"info\"}", 401),
        p(
            "POST",
            "/pool/detach_process.json",
            &None,
            "{\"pid\":12950}",
            401,
        ),
        // Full access.
        p("GET", "/pool.xml", &full, "", 200),
        p(
            "POST",
            "/pool/detach_process.json",
            &full,
            "{\"pid\":12950}",
            200,
        ),
    ]
}

fn check_outcomes(probes: &[Probe], outcomes: &[Outcome]) {
    assert_eq!(probes.len(), outcomes.len());
    for (probe, got) in probes.iter().zip(outcomes) {
        assert_eq!(got.status, probe.expect, "{probe:?} got {got:?}");
        if probe.expect == 401 {
            assert_eq!(got.body, "Unauthorized");
            assert_eq!(got.www_authenticate.as_deref(), Some("Basic realm=\"api\""));
            assert_eq!(
                got.cache_control.as_deref(),
                Some("no-cache, no-store, must-revalidate")
            );
        }
    }
}

async fn run_probes_in_process(socket: &Path, probes: &[Probe]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for p in probes {
        let auth = p.auth.as_ref().map(|(u, pw)| (u.as_str(), pw.as_str()));
        let r = call(socket, &p.method, &p.path, auth, Some(p.body.as_bytes())).await;
        out.push(Outcome {
            status: r.status.as_u16(),
            www_authenticate: r.header("www-authenticate").map(str::to_string),
            cache_control: r.header("cache-control").map(str::to_string),
            pool_empty: r.header("pool-empty").map(str::to_string),
            body: r.body,
        });
    }
    out
}

/// Runs the probes in a child process as uid/gid 65534 (nobody); needs root.
async fn run_probes_as_nobody(socket: &Path, probes: &[Probe]) -> Vec<Outcome> {
    let exe = std::env::current_exe().expect("current exe");
    let socket = socket.to_path_buf();
    let probes = serde_json::to_string(probes).expect("probes json");
    tokio::task::spawn_blocking(move || {
        use std::os::unix::process::CommandExt;
        let out = std::process::Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                "nobody_client_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, socket)
            .env(HELPER_PROBES_ENV, probes)
            .uid(65534)
            .gid(65534)
            .process_group(0)
            .output()
            .expect("run helper as nobody");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout
            .split_once(OUTCOMES_MARKER)
            .and_then(|(_, rest)| rest.lines().next())
            .unwrap_or_else(|| {
                panic!(
                    "helper printed no outcomes: {stdout} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        serde_json::from_str(line).expect("outcomes json")
    })
    .await
    .expect("join")
}

/// The auth matrix from a peer that is neither root nor the owner. As root this
/// runs the client as nobody; otherwise it pretends the owner is someone else.
#[tokio::test]
async fn auth_matrix_for_other_users() {
    let root = nix::unistd::geteuid().is_root();
    let f = start(Options {
        owner_uid: (!root).then_some(u32::MAX - 1),
        reopen_fails: false,
    })
    .await;
    let probes = auth_probes(&f);
    let outcomes = if root {
        run_probes_as_nobody(&f.socket, &probes).await
    } else {
        run_probes_in_process(&f.socket, &probes).await
    };
    check_outcomes(&probes, &outcomes);
    assert!(outcomes[6]
        .body
        .starts_with("----------- General information -----------\n"));
    // Only the full-access detach got through; nothing shut down or restarted.
    assert_eq!(*f.pool.detaches.lock().expect("lock"), vec![12950]);
    assert!(f.pool.restarts.lock().expect("lock").is_empty());
    assert_eq!(f.shutdowns.load(Ordering::SeqCst), 0);
    assert_eq!(f.state.log_level(), LogLevel::Notice);

    // Empty pool: the 401 tells tools there is nothing to show.
    *f.pool.snapshot.lock().expect("lock") = PoolSnapshot::default();
    let probe = vec![
        Probe {
            method: "GET".into(),
            path: "/pool.txt".into(),
            auth: None,
            body: String::new(),
            expect: 401,
        },
        Probe {
            method: "GET".into(),
            path: "/server.json".into(),
            auth: None,
            body: String::new(),
            expect: 401,
        },
    ];
    let outcomes = if root {
        run_probes_as_nobody(&f.socket, &probe).await
    } else {
        run_probes_in_process(&f.socket, &probe).await
    };
    check_outcomes(&probe, &outcomes);
    assert_eq!(outcomes[0].pool_empty.as_deref(), Some("true"));
    assert_eq!(outcomes[1].pool_empty, None, "only pool views say so");
}

/// Root or owner peer gets full access without any password.
#[tokio::test]
async fn owner_or_root_peer_has_full_access() {
    let f = start(default_opts()).await;
    let r = post(&f, "/pool/detach_process.json", r#"{"pid":12950}"#).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"detached": true}));
    // Tools written against the original may send the pid as a string.
    let r = post(&f, "/pool/detach_process.json", r#"{"pid":"12950"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // An instance owned by someone else: root still gets in; anyone else (we, when
    // not root) needs a password.
    let f = start(Options {
        owner_uid: Some(u32::MAX - 1),
        reopen_fails: false,
    })
    .await;
    let r = post(&f, "/pool/detach_process.json", r#"{"pid":12950}"#).await;
    if nix::unistd::geteuid().is_root() {
        assert_eq!(r.status, StatusCode::OK, "root, not the owner");
    } else {
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "neither root nor the owner"
        );
    }
}

/// Not a test: the client half of `auth_matrix_for_other_users`, which runs this
/// binary as nobody with `--ignored --exact nobody_client_helper`. Ignored so that it is
/// never counted as a passing test; run any other way it fails.
#[test]
#[ignore = "helper: run by auth_matrix_for_other_users as uid 65534"]
fn nobody_client_helper() {
    let (Some(socket), Ok(probes)) = (
        std::env::var_os(HELPER_ENV),
        std::env::var(HELPER_PROBES_ENV),
    ) else {
        panic!("nobody_client_helper is run by auth_matrix_for_other_users, not on its own");
    };
    let probes: Vec<Probe> = serde_json::from_str(&probes).expect("probes");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcomes = rt.block_on(run_probes_in_process(Path::new(&socket), &probes));
    println!(
        "\n{OUTCOMES_MARKER}{}",
        serde_json::to_string(&outcomes).expect("json")
    );
}

#[tokio::test]
async fn serve_stops_on_shutdown_signal() {
    let f = start(default_opts()).await;
    assert_eq!(get(&f, "/ping.json").await.status, StatusCode::OK);
    f.stop.send(true).expect("send");
    tokio::time::timeout(Duration::from_secs(5), f.server)
        .await
        .expect("serve returns")
        .expect("no panic");
}

/// A label value with quotes, backslashes and a newline is escaped by the encoder in
/// both formats; a scraper that asks for OpenMetrics gets it (with `# EOF`), anyone
/// else the 0.0.4 text.
#[tokio::test]
async fn metrics_escape_labels_and_negotiate_openmetrics() {
    let f = start(default_opts()).await;
    let odd = "/srv/q\"b\\s\nn";
    *f.pool.snapshot.lock().expect("lock") = PoolSnapshot {
        max_pool_size: 2,
        groups: vec![GroupSnapshot {
            name: odd.into(),
            queue_len: 4,
            processes: vec![ProcessSnapshot {
                pid: 77,
                processed: 9,
                enabled: "enabled".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let escaped = r#"group="/srv/q\"b\\s\nn""#;

    let plain = get(&f, "/metrics").await;
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &plain.body;
    assert!(
        text.contains(&format!("passenger_group_queue_length{{{escaped}}} 4\n")),
        "{text}"
    );
    assert!(text.contains("# TYPE passenger_process_processed_total counter\n"));
    assert!(text.contains(&format!(
        "passenger_process_processed_total{{{escaped},pid=\"77\"}} 9\n"
    )));
    assert!(!text.contains("# EOF"));
    // Every line is a comment or a sample: the newline never splits one.
    for line in text.lines() {
        assert!(
            line.starts_with("# ") || line.starts_with("passenger_"),
            "{line:?}"
        );
    }

    let prometheus_accept = "application/openmetrics-text;version=1.0.0,\
        application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = call_with_headers(
        &f.socket,
        "GET",
        "/metrics",
        None,
        None,
        &[("accept", prometheus_accept)],
    )
    .await;
    assert_eq!(om.status, StatusCode::OK);
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = &om.body;
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE passenger_process_processed counter\n"));
    assert!(text.contains(&format!(
        "passenger_process_processed_total{{{escaped},pid=\"77\"}} 9\n"
    )));
    assert!(text.contains(&format!("passenger_group_queue_length{{{escaped}}} 4\n")));
}

/// The names of the direct children of the first element at `path` (from the root).
fn xml_children(xml: &str, path: &[&str]) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut found: Option<Vec<String>> = None;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let (name, empty) = match &event {
            Event::Start(e) => (e.name().into_inner().to_string(), false),
            Event::Empty(e) => (e.name().into_inner().to_string(), true),
            Event::End(_) => {
                if stack.len() == path.len() && found.is_some() {
                    return found.unwrap_or_default();
                }
                stack.pop();
                continue;
            }
            Event::Eof => return found.unwrap_or_default(),
            _ => continue,
        };
        if stack.len() == path.len() && stack.iter().zip(path).all(|(a, b)| a == b) {
            found.get_or_insert_with(Vec::new).push(name.clone());
        }
        if !empty {
            stack.push(name);
        }
    }
}

/// When the pool actor has stopped (the core is shutting down), every route that asks the
/// pool answers 500 with a JSON error naming why, never cached.
#[tokio::test]
async fn a_stopped_pool_is_a_json_500() {
    let f = start(Options {
        owner_uid: None,
        reopen_fails: false,
    })
    .await;
    f.pool.stopped.store(true, Ordering::SeqCst);
    let replies = [
        get(&f, "/pool.json").await,
        get(&f, "/server.json").await,
        get(&f, "/metrics").await,
        post(
            &f,
            "/pool/restart_app_group.json",
            r#"{"name":"/webapps/rackapp"}"#,
        )
        .await,
        post(&f, "/pool/detach_process.json", r#"{"pid":12950}"#).await,
    ];
    let message = PoolError::Stopped.to_string();
    for r in replies {
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
        assert_eq!(
            r.json(),
            serde_json::json!({"status": "error", "message": message})
        );
        assert!(
            r.headers
                .get("cache-control")
                .is_some_and(|v| v.to_str().is_ok_and(|v| v.contains("no-cache"))),
            "{:?}",
            r.headers
        );
    }
}

/// Random JSON (and not quite JSON) bodies for the three endpoints that read one:
/// every answer is a status the API documents, a restart or detach reaches the pool
/// only with a valid name or pid, and the server keeps serving. `PROPTEST_CASES`
/// raises the case count for a long run (bench/README.md).
#[test]
fn admin_json_bodies_never_break_the_api() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        prop::sample::select(vec![
            "",
            "blocking",
            "rolling",
            "42",
            "-1",
            "4294967296",
            "debug",
            "notice",
            "crit",
            "7",
            "/srv/app (production)",
            "\u{0}",
            "é",
        ])
        .prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let keys = prop::sample::select(vec![
        "name",
        "method",
        "restart_method",
        "pid",
        "log_level",
        "max_pool_size",
        "x",
    ]);
    let object = prop::collection::vec((keys, value.clone()), 0..4).prop_map(|pairs| {
        serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            .to_string()
            .into_bytes()
    });
    let body = prop_oneof![
        4 => object,
        1 => value.prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => Just(vec![b' '; 200 * 1024]),
    ];
    let endpoint = prop::sample::select(vec![
        ("POST", "/pool/restart_app_group.json"),
        ("POST", "/pool/detach_process.json"),
        ("PUT", "/config.json"),
    ]);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let f = rt.block_on(start(default_opts()));
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(endpoint, body), |((method, path), body)| {
            let restarts = f.pool.restarts.lock().expect("lock").len();
            let detaches = f.pool.detaches.lock().expect("lock").len();
            let reply = rt.block_on(call(&f.socket, method, path, None, Some(&body)));
            let allowed = [200, 400, 413, 422, 500];
            prop_assert!(
                allowed.contains(&reply.status.as_u16()),
                "{method} {path} {:?}: {} {}",
                String::from_utf8_lossy(&body),
                reply.status,
                reply.body
            );
            if reply.status == StatusCode::OK
                && reply.body.contains("true")
                && path.contains("restart")
            {
                let restarted = f.pool.restarts.lock().expect("lock");
                prop_assert_eq!(restarted.len(), restarts + 1);
                prop_assert!(!restarted[restarts].0.is_empty());
            } else if path.contains("restart") {
                prop_assert_eq!(f.pool.restarts.lock().expect("lock").len(), restarts);
            }
            if reply.status != StatusCode::OK && path.contains("detach") {
                prop_assert_eq!(f.pool.detaches.lock().expect("lock").len(), detaches);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let ping = rt.block_on(get(&f, "/ping.json"));
    assert_eq!(ping.status, StatusCode::OK);
}
