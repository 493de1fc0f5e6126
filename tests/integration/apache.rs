//! Apache with mod_passenger (built from the checkout) in front of the core: the request path,
//! app detection, the secret-authenticated option channel, start/stop/graceful, failures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::apache::{build_module, resources_dir, Apache};
use crate::support::process::{cmdline, marked_pids, parent_pid, pids_titled, status_field};
use crate::support::{
    get, get_host, passenger, pid_alive, run_with_deadline, wait_until, Request, TestDir,
};

/// A Rack app that reports what it sees, counts its requests, and streams big bodies.
const RACK_APP: &str = r#"require "json"
$n = 0
run lambda { |e|
  case e["PATH_INFO"]
  when "/upload"
    n = 0
    while (c = e["rack.input"].read(65536)); n += c.bytesize; end
    [200, {"content-type" => "text/plain"}, [n.to_s]]
  when "/sleep"
    File.open("arrivals.log", "a") { |f| f.puts "/sleep" }
    sleep e["QUERY_STRING"].to_i
    [200, {"content-type" => "text/plain"}, ["slept"]]
  when "/stall"
    File.open("arrivals.log", "a") { |f| f.puts "/stall" }
    body = Enumerator.new { |y| y << "start\n"; sleep 6; y << "end\n" }
    [200, {"content-type" => "text/plain"}, body]
  when "/pause"
    body = Enumerator.new { |y| y << "start\n"; sleep e["QUERY_STRING"].to_f; y << "end\n" }
    [200, {"content-type" => "text/plain"}, body]
  when "/big-header"
    File.open("arrivals.log", "a") { |f| f.puts "/big-header" }
    [200, {"content-type" => "text/plain", "x-big" => "b" * e["QUERY_STRING"].to_i}, ["big"]]
  when "/download"
    size = e["QUERY_STRING"].to_i
    chunk = "x" * 65536
    body = Enumerator.new { |y| (size / 65536).times { y << chunk } }
    [200, {"content-type" => "application/octet-stream", "content-length" => size.to_s}, body]
  else
    $n += 1
    [200, {"content-type" => "application/json"}, [JSON.generate(
      pid: Process.pid, n: $n, script_name: e["SCRIPT_NAME"], path_info: e["PATH_INFO"],
      remote_addr: e["REMOTE_ADDR"], remote_user: e["REMOTE_USER"], foo: ENV["FOO"],
      env: ENV["PASSENGER_APP_ENV"], cwd: Dir.pwd, forged: e["HTTP_X_FORGED"],
      request_uri: e["REQUEST_URI"], query: e["QUERY_STRING"])]]
  end
}
"#;

const WSGI_APP: &str = r#"import json, os
def application(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "script_name": environ.get("SCRIPT_NAME"),
                       "path_info": environ.get("PATH_INFO"), "cwd": os.getcwd()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"#;

fn rack_app(dir: &TestDir, name: &str) -> PathBuf {
    let root = crate::support::app_root(dir, name);
    std::fs::write(root.join("config.ru"), RACK_APP).expect("write config.ru");
    root
}

fn wsgi_app(dir: &TestDir, name: &str) -> PathBuf {
    let root = crate::support::app_root(dir, name);
    std::fs::write(root.join("passenger_wsgi.py"), WSGI_APP).expect("write wsgi");
    root
}

fn root_line() -> String {
    format!("PassengerRoot {}\n", resources_dir().display())
}

fn vhost_root(app: &Path, extra: &str) -> String {
    format!(
        "{root}DocumentRoot {app}/public\n<Directory {app}/public>\n  Require all granted\n  Options Indexes\n</Directory>\n{extra}\n",
        root = root_line(),
        app = app.display()
    )
}

/// App processes (their titles start with `Passenger `).
/// Builds the module and starts Apache (`mpm`) with one vhost serving a new Rack app `name`
/// (DocumentRoot its `public/`) plus the `extra` vhost lines: the module, the app root, Apache.
fn start_rack_vhost(
    dir: &TestDir,
    name: &str,
    mpm: &str,
    extra: &str,
) -> (PathBuf, PathBuf, Apache) {
    let module = build_module(dir);
    let app = rack_app(dir, name);
    let apache = Apache::start(dir, &module, mpm, &vhost_root(&app, extra));
    (module, app, apache)
}

fn app_pids(dir: &TestDir) -> Vec<i32> {
    pids_titled(dir, "Passenger ")
}

/// The watchdog and core (titles `passenger-rs ...`).
fn core_pids(dir: &TestDir) -> Vec<i32> {
    pids_titled(dir, "passenger-rs")
}

/// Whether `pid` has a handler for SIGCHLD (its `SigCgt` mask in /proc).
fn catches_sigchld(pid: i32) -> bool {
    let mask = status_field(pid, "SigCgt")
        .and_then(|m| u64::from_str_radix(&m, 16).ok())
        .unwrap_or(0);
    mask & (1 << (libc::SIGCHLD - 1)) != 0
}

/// Apache's worker processes: the master's children named `apache2`.
fn apache_children(dir: &TestDir, master: i32) -> Vec<i32> {
    marked_pids(dir.marker())
        .into_iter()
        .filter(|pid| parent_pid(*pid) == Some(master) && cmdline(*pid).starts_with("apache2"))
        .collect()
}

/// A client connection that stays open from request to request.
struct KeptAlive {
    stream: std::io::BufReader<std::net::TcpStream>,
    addr: std::net::SocketAddr,
}

impl KeptAlive {
    fn connect(addr: std::net::SocketAddr) -> KeptAlive {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        KeptAlive {
            stream: std::io::BufReader::new(stream),
            addr,
        }
    }

    /// Sends `GET path` without waiting for the answer.
    fn send(&mut self, path: &str) {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        std::io::Write::write_all(self.stream.get_mut(), head.as_bytes()).expect("send");
    }

    /// The next answer on the connection (its head only with `head_only`).
    fn read(&mut self, head_only: bool) -> std::io::Result<crate::support::http::Response> {
        crate::support::http::read_response(&mut self.stream, head_only)
    }

    fn get(&mut self, path: &str) -> crate::support::http::Response {
        self.send(path);
        self.read(false).expect("response")
    }
}

#[test]
fn apache_serves_a_rack_app_at_the_vhost_root_and_its_files_itself() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "shop");
    std::fs::write(app.join("public/robots.txt"), "static file\n").expect("write");
    std::fs::write(app.join("public/about.html"), "page cache\n").expect("write");
    std::fs::create_dir_all(app.join("public/docs")).expect("mkdir");
    std::fs::write(app.join("public/docs/index.html"), "docs index\n").expect("write");
    std::fs::create_dir_all(app.join("public/emptydir")).expect("mkdir");
    let mut apache = Apache::start(
        &dir,
        &module,
        "event",
        &vhost_root(&app, "SetEnv FOO from-apache"),
    );

    let first = get(apache.addr, "/hello/world?x=1");
    assert_eq!(
        first.status,
        200,
        "{}\n{}",
        first.text(),
        apache.error_log()
    );
    let j = first.json();
    assert_eq!(j["script_name"], "");
    assert_eq!(j["path_info"], "/hello/world");
    assert_eq!(j["remote_addr"], "127.0.0.1");
    assert_eq!(j["foo"], "from-apache", "SetEnv reaches the app");
    assert_eq!(j["env"], "production");
    assert_eq!(
        j["cwd"],
        app.display().to_string(),
        "app root = parent of DocumentRoot"
    );
    let n = j["n"].as_i64().expect("n");

    // Apache serves public/ files and the page cache; the app counts none of them.
    assert_eq!(get(apache.addr, "/robots.txt").text(), "static file\n");
    assert_eq!(get(apache.addr, "/about").text(), "page cache\n");
    assert_eq!(get(apache.addr, "/docs/").text(), "docs index\n");
    // A directory without index: no listing and no slash redirect, the app answers.
    let listing = get(apache.addr, "/emptydir");
    assert_eq!(listing.status, 200);
    assert_eq!(listing.json()["path_info"], "/emptydir");
    let after = get(apache.addr, "/again").json();
    assert_eq!(after["pid"], j["pid"]);
    assert_eq!(
        after["n"].as_i64(),
        Some(n + 2),
        "only /emptydir and /again reached the app"
    );

    // A chunked upload with `Expect: 100-continue` reaches the app de-chunked.
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(apache.addr).expect("connect");
        s.write_all(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
              Expect: 100-continue\r\nConnection: close\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .expect("write");
        let resp = crate::support::http::read_response(&mut std::io::BufReader::new(s), false)
            .expect("response");
        assert_eq!((resp.status, resp.text().as_str()), (200, "11"));
    }

    // The tools find the instance, in integration mode apache.
    let mut status = passenger(&dir);
    status.env(
        "PASSENGER_INSTANCE_REGISTRY_DIR",
        apache.root.join("registry"),
    );
    status.arg("status");
    let out = run_with_deadline(&dir, &mut status, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&app.display().to_string()),
        "passenger-status: {text}"
    );
    let registry = apache.root.join("registry");
    let props = std::fs::read_dir(&registry)
        .expect("registry")
        .flatten()
        .map(|e| e.path().join("properties.json"))
        .find(|p| p.exists())
        .expect("an instance dir");
    let props: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(props).expect("read")).expect("json");
    assert_eq!(props["integration_mode"], "apache");

    // `apachectl stop` leaves no core and no app.
    assert!(!app_pids(&dir).is_empty());
    apache.stop();
    wait_until("no process is left", Duration::from_secs(20), || {
        marked_pids(dir.marker()).is_empty()
    });
}

#[test]
fn sub_uri_wsgi_app_two_vhosts_and_passenger_enabled_off_under_prefork() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let rack = rack_app(&dir, "blog");
    let wsgi = wsgi_app(&dir, "wiki");
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("plain")).expect("mkdir");
    std::fs::write(site.join("plain/file.txt"), "apache file\n").expect("write");
    std::os::unix::fs::symlink(wsgi.join("public"), site.join("wiki")).expect("symlink");
    std::fs::create_dir_all(rack.join("public/off")).expect("mkdir");
    std::fs::write(rack.join("public/off/x.txt"), "not the app\n").expect("write");
    let body = format!(
        "{root}NameVirtualHost *\n\
         <VirtualHost 127.0.0.1:*>\n  ServerName a.test\n  DocumentRoot {rack}/public\n  <Directory {rack}/public>\n    Require all granted\n  </Directory>\n  <Location /off>\n    PassengerEnabled off\n  </Location>\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:*>\n  ServerName b.test\n  DocumentRoot {site}\n  <Directory {site}>\n    Require all granted\n    Options FollowSymLinks\n  </Directory>\n  PassengerBaseURI /wiki\n</VirtualHost>\n",
        root = root_line(),
        rack = rack.display(),
        site = site.display(),
    )
    .replace("NameVirtualHost *\n", "");
    let _apache = Apache::start(&dir, &module, "prefork", &body);
    let addr = _apache.addr;

    let a = get_host(addr, "a.test", "/x");
    assert_eq!(a.status, 200, "{}\n{}", a.text(), _apache.error_log());
    assert_eq!(a.json()["cwd"], rack.display().to_string());

    let w = get_host(addr, "b.test", "/wiki/page/1");
    assert_eq!(w.status, 200, "{}\n{}", w.text(), _apache.error_log());
    let wj = w.json();
    assert_eq!(wj["script_name"], "/wiki");
    assert_eq!(wj["path_info"], "/page/1");
    assert_eq!(wj["cwd"], wsgi.display().to_string());
    // Outside the base URI Apache serves the vhost itself.
    assert_eq!(
        get_host(addr, "b.test", "/plain/file.txt").text(),
        "apache file\n"
    );
    assert_eq!(get_host(addr, "b.test", "/nothing").status, 404);

    // PassengerEnabled off hands the location back to Apache.
    assert_eq!(
        get_host(addr, "a.test", "/off/x.txt").text(),
        "not the app\n"
    );
    assert_eq!(get_host(addr, "a.test", "/off/missing").status, 404);
}

#[test]
fn reserved_headers_from_a_client_are_refused() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "app");
    let other = rack_app(&dir, "other");
    let apache = Apache::start(&dir, &module, "event", &vhost_root(&app, ""));
    for (name, value) in [
        ("!~root", other.display().to_string()),
        ("!~user", "root".to_string()),
        ("!~secret", "guess".to_string()),
    ] {
        let resp = Request::new("GET", "/x")
            .header(name, &value)
            .send(apache.addr)
            .expect("send");
        assert_eq!(resp.status, 400, "{name}: {}", resp.text());
    }
    let ok = get(apache.addr, "/x").json();
    assert_eq!(ok["cwd"], app.display().to_string());
    // The core itself refuses reserved headers without the secret, even from its own socket.
    let run = apache.root.join("run");
    let sock = std::fs::read_dir(&run)
        .expect("run dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("passenger-rs."))
        .map(|e| e.path().join("core.1.sock"))
        .expect("core socket");
    let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("connect core");
    use std::io::{Read, Write};
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: x\r\n!~root: {}\r\nConnection: close\r\n\r\n",
        other.display()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        app_pids(&dir).iter().all(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .map(|c| !c.contains("other"))
                .unwrap_or(true)
        }),
        "no process of the forged app root was started"
    );
}

#[test]
fn graceful_and_restart_keep_the_core_and_app_pids_and_apply_min_instances() {
    let dir = TestDir::new();
    let (module, app, apache) = start_rack_vhost(&dir, "app", "event", "");
    let first = get(apache.addr, "/").json()["pid"].as_i64().expect("pid");
    let cores = core_pids(&dir);
    let apps = app_pids(&dir);
    assert_eq!(cores.len(), 2, "watchdog and core: {cores:?}");

    let out = apache.ctl("graceful");
    assert!(out.status.success());
    let t0 = std::time::Instant::now();
    let again = get(apache.addr, "/").json()["pid"].as_i64().expect("pid");
    let first_answer = t0.elapsed();
    assert_eq!(again, first, "same app process after graceful");
    assert_eq!(core_pids(&dir), cores, "same core after graceful");
    assert_eq!(app_pids(&dir), apps);
    eprintln!("graceful: first app response after {first_answer:?}");
    // The master is woken by its children's exits (so a graceful restart's new
    // generation starts without waiting for its once-a-second check); the children
    // themselves keep SIGCHLD's default.
    let master = apache.master_pid().expect("Apache's master is running");
    assert!(
        catches_sigchld(master),
        "the master has the module's SIGCHLD handler"
    );
    let children = apache_children(&dir, master);
    assert!(!children.is_empty(), "Apache has worker processes");
    for child in children {
        assert!(
            !catches_sigchld(child),
            "worker {child} keeps SIGCHLD's default"
        );
    }

    apache.rewrite(
        &module,
        "event",
        &vhost_root(&app, "PassengerMinInstances 3"),
    );
    let out = apache.ctl("restart");
    assert!(out.status.success());
    wait_until("Apache is back", Duration::from_secs(20), || {
        std::net::TcpStream::connect(apache.addr).is_ok()
    });
    let after = get(apache.addr, "/").json()["pid"].as_i64().expect("pid");
    assert_eq!(after, first, "same app process after restart");
    assert_eq!(core_pids(&dir), cores, "same core after restart");
    wait_until(
        "PassengerMinInstances 3 is obeyed",
        Duration::from_secs(30),
        || {
            app_pids(&dir).len() >= 4 // the preloader and 3 processes
        },
    );
    assert!(app_pids(&dir).contains(&(first as i32)));
    assert!(apache.error_log().contains("keeping the core"));

    // A changed PassengerAppEnv: the app is served in its new environment (once its
    // processes are replaced, rolling) and the processes of the old one leave.
    apache.rewrite(
        &module,
        "event",
        &vhost_root(&app, "PassengerAppEnv staging"),
    );
    assert!(apache.ctl("graceful").status.success());
    wait_until("the app runs in staging", Duration::from_secs(30), || {
        get(apache.addr, "/").json()["env"] == "staging"
    });
    assert_eq!(core_pids(&dir), cores, "same core after graceful");
    wait_until(
        "the production processes leave",
        Duration::from_secs(30),
        || !pid_alive(first as i32),
    );
}

#[test]
fn a_changed_app_env_restarts_the_app_rolling_while_requests_keep_succeeding() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = TestDir::new();
    // The held connection below must outlive the restart: a long KeepAliveTimeout.
    let (module, app, apache) = start_rack_vhost(&dir, "rolling", "event", "KeepAliveTimeout 120");
    let first = get(apache.addr, "/").json();
    assert_eq!(first["env"], "production");
    let old_pid = first["pid"].as_i64().expect("pid") as i32;

    // A client loop: every answer must be a 200 from the app, old env or new.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let client = {
        let (stop, seen, addr) = (stop.clone(), seen.clone(), apache.addr);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let got = match Request::new("GET", "/").send(addr) {
                    Ok(r) if r.status == 200 => {
                        (200, r.json()["env"].as_str().unwrap_or("").to_string())
                    }
                    Ok(r) => (r.status, r.text()),
                    Err(e) => (0, e.to_string()),
                };
                seen.lock().expect("lock").push(got);
            }
        })
    };
    wait_until("the loop runs", Duration::from_secs(10), || {
        seen.lock().expect("lock").len() >= 5
    });
    // A client that keeps its connection alive across the graceful: its next request is
    // served by an old worker, with the old options.
    let mut held = KeptAlive::connect(apache.addr);
    for path in ["/held/1", "/held/2"] {
        assert_eq!(held.get(path).json()["env"], "production");
    }
    apache.rewrite(
        &module,
        "event",
        &vhost_root(&app, "PassengerAppEnv staging\nKeepAliveTimeout 120"),
    );
    assert!(apache.ctl("graceful").status.success());
    wait_until(
        "the old process is replaced",
        Duration::from_secs(60),
        || !pid_alive(old_pid),
    );
    let before = seen.lock().expect("lock").len();
    wait_until(
        "more answers after the restart",
        Duration::from_secs(10),
        || seen.lock().expect("lock").len() >= before + 5,
    );
    stop.store(true, Ordering::Relaxed);
    client.join().expect("client loop");
    // The old worker's request is answered by the app as it now is, and restarts nothing.
    let staged_pids = app_pids(&dir);
    let late = held.get("/held/3");
    assert_eq!(late.status, 200, "{}", late.text());
    assert_eq!(late.json()["env"], "staging");
    let restarted =
        crate::support::wait::poll(Duration::from_secs(3), || app_pids(&dir) != staged_pids);
    assert!(
        !restarted,
        "the old generation's options restarted the app: {staged_pids:?} -> {:?}",
        app_pids(&dir)
    );
    let seen = seen.lock().expect("lock").clone();
    let failed: Vec<_> = seen.iter().filter(|(status, _)| *status != 200).collect();
    assert!(
        failed.is_empty(),
        "failed requests during the restart: {failed:?}"
    );
    assert_eq!(seen.last().map(|(_, env)| env.as_str()), Some("staging"));
    assert!(seen.iter().any(|(_, env)| env == "production"));
    let last = get(apache.addr, "/").json();
    assert_eq!(last["env"], "staging");
    assert!(app_pids(&dir).contains(&(last["pid"].as_i64().expect("pid") as i32)));

    // One group, with the name it had.
    let mut status = passenger(&dir);
    status.env(
        "PASSENGER_INSTANCE_REGISTRY_DIR",
        apache.root.join("registry"),
    );
    status.arg("status");
    let out = run_with_deadline(&dir, &mut status, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} (production)", app.display())),
        "{text}"
    );
    assert!(!text.contains("(staging)"), "{text}");
}

#[test]
fn restart_txt_restarts_the_app_behind_apache() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "app");
    let apache = Apache::start(
        &dir,
        &module,
        "event",
        &format!("{}PassengerStatThrottleRate 0\n", vhost_root(&app, "")),
    );
    let first = get(apache.addr, "/").json()["pid"].clone();
    std::fs::write(app.join("tmp/restart.txt"), "").expect("touch");
    wait_until("a new process answers", Duration::from_secs(30), || {
        get(apache.addr, "/").json()["pid"] != first
    });
}

#[test]
fn a_bad_directive_value_fails_configtest_with_its_message() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "app");
    for (line, message) in [
        (
            "PassengerMaxPoolSize 0",
            "PassengerMaxPoolSize must be at least 1.",
        ),
        (
            "PassengerBaseURI foo",
            "PassengerBaseURI must start with a slash (/)",
        ),
        (
            "RailsBaseURI /foo/",
            "RailsBaseURI must not end with a slash (/)",
        ),
        (
            "PassengerSpawnMethod fork",
            "PassengerSpawnMethod may only be 'smart', 'direct'.",
        ),
        (
            "PassengerMinInstances many",
            "PassengerMinInstances must be a whole number",
        ),
        (
            "PassengerPreStart shop.example/",
            "PassengerPreStart needs an http:// URL, got 'shop.example/'.",
        ),
        (
            "PassengerPreStart http:///status",
            "PassengerPreStart needs a URL with a host name",
        ),
    ] {
        let apache = Apache::configure(&dir, &module, "event", &vhost_root(&app, line));
        let out = apache.ctl("configtest");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line}: configtest passed");
        assert!(stderr.contains(message), "{line}: {stderr}");
    }
    // Old and obsolete names still start, with a warning for the obsolete ones.
    let apache = Apache::configure(
        &dir,
        &module,
        "event",
        &vhost_root(&app, "RailsAutoDetect on\nRackEnv staging\nRailsSpawnMethod smart-lv2\nPassengerUseGlobalQueue on"),
    );
    let out = apache.ctl("configtest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(core_pids(&dir).is_empty(), "a config test starts no core");
    drop(apache);
}

#[test]
fn passenger_pre_start_spawns_the_app_before_the_first_visitor() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "early");
    let apache = Apache::configure(&dir, &module, "event", "");
    let port = apache.addr.port();
    let body = vhost_root(
        &app,
        &format!(
            "PassengerPreStart http://127.0.0.1:{port}/warm\n\
             PassengerPreStart https://127.0.0.1/skipped\n\
             <VirtualHost 127.0.0.1:{port}>\n  ServerName other.test\n  \
             PassengerPreStart http://other.test:{port}/\n</VirtualHost>"
        ),
    );
    apache.rewrite(&module, "event", &body);
    let out = apache.ctl("start");
    assert!(out.status.success(), "{}", apache.error_log());

    // No client has asked anything: the app process comes from the pre-start request.
    wait_until(
        "the pre-started app process",
        Duration::from_secs(60),
        || !app_pids(&dir).is_empty(),
    );
    wait_until("the pre-start log lines", Duration::from_secs(60), || {
        let log = apache.error_log();
        log.contains(&format!(
            "PassengerPreStart http://127.0.0.1:{port}/warm: 200"
        )) && log.contains(&format!("PassengerPreStart http://other.test:{port}/: 200"))
    });
    let log = apache.error_log();
    assert!(
        log.contains(
            "PassengerPreStart https://127.0.0.1/skipped: https:// URLs are not pre-started"
        ),
        "{log}"
    );
    let first = get(apache.addr, "/hello").json();
    assert!(
        first["n"].as_i64().expect("n") >= 2,
        "the pre-start requests came first: {first}"
    );
    assert!(
        app_pids(&dir).contains(&(first["pid"].as_i64().expect("pid") as i32)),
        "the first visitor is served by a pre-started process"
    );
}

#[test]
fn mod_rewrite_reaches_the_app_and_encoded_slashes_follow_the_directive() {
    let dir = TestDir::new();
    let (_module, _app, apache) = start_rack_vhost(
        &dir,
        "rewritten",
        "event",
        "AllowEncodedSlashes On\nRewriteEngine on\nRewriteRule ^/about$ /info/about [PT]\n\
             <Location /users>\n  PassengerAllowEncodedSlashes on\n</Location>",
    );
    // A passthrough rewrite: the app gets the rewritten URI (the directive is off here).
    let about = get(apache.addr, "/about?x=1");
    assert_eq!(
        about.status,
        200,
        "{}\n{}",
        about.text(),
        apache.error_log()
    );
    let j = about.json();
    assert_eq!(j["path_info"], "/info/about", "{j}");
    assert_eq!(j["query"], "x=1", "{j}");
    // PassengerAllowEncodedSlashes on: the URI as the client wrote it; the core does not
    // take `%2f` for a file path (no 404), the app gets it.
    let users = get(apache.addr, "/users/fujikura%2fyuu");
    assert_eq!(
        users.status,
        200,
        "{}\n{}",
        users.text(),
        apache.error_log()
    );
    assert_eq!(users.json()["request_uri"], "/users/fujikura%2fyuu");
    // Off: Apache's decoded URI, re-encoded (the slash is a slash).
    let other = get(apache.addr, "/other/a%2fb");
    assert_eq!(other.status, 200, "{}", other.text());
    assert_eq!(other.json()["request_uri"], "/other/a/b");
}

#[test]
fn high_performance_mode_skips_the_directory_walk_for_app_requests() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "fast");
    std::fs::create_dir_all(app.join("public/secret")).expect("mkdir");
    std::fs::write(app.join("public/secret/file.txt"), "kept\n").expect("write");
    std::fs::write(app.join("public/robots.txt"), "static\n").expect("write");
    let deny = format!(
        "<Directory {}/public/secret>\n  Require all denied\n</Directory>",
        app.display()
    );
    // Without it, the directory walk applies <Directory> to app URLs too.
    let apache = Apache::start(&dir, &module, "event", &vhost_root(&app, &deny));
    assert_eq!(get(apache.addr, "/secret/page").status, 403);
    assert_eq!(get(apache.addr, "/other").status, 200);

    apache.rewrite(
        &module,
        "event",
        &vhost_root(&app, &format!("PassengerHighPerformance on\n{deny}")),
    );
    assert!(apache.ctl("graceful").status.success());
    wait_until(
        "high performance mode applies",
        Duration::from_secs(20),
        || get(apache.addr, "/secret/page").status == 200,
    );
    let page = get(apache.addr, "/secret/page").json();
    assert_eq!(page["path_info"], "/secret/page");
    // Files that exist still go Apache's ordinary way, rules included.
    assert_eq!(get(apache.addr, "/secret/file.txt").status, 403);
    assert_eq!(get(apache.addr, "/robots.txt").text(), "static\n");
    let n = get(apache.addr, "/count").json()["n"].as_i64().expect("n");
    assert_eq!(get(apache.addr, "/robots.txt").status, 200);
    assert_eq!(
        get(apache.addr, "/count").json()["n"].as_i64(),
        Some(n + 1),
        "the static file did not reach the app"
    );
}

#[test]
fn a_bad_passenger_root_gives_a_log_line_and_503() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "app");
    let body = vhost_root(&app, "").replace(
        &root_line(),
        &format!("PassengerRoot {}\n", dir.join("nowhere").display()),
    );
    let apache = Apache::start(&dir, &module, "event", &body);
    let resp = get(apache.addr, "/");
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert!(resp.text().contains("Service unavailable"));
    let log = apache.error_log();
    assert!(
        log.contains("PassengerRoot") && log.contains("is not a passenger-rs resources directory"),
        "{log}"
    );
    assert!(
        core_pids(&dir).is_empty(),
        "no core without a PassengerRoot"
    );
}

#[test]
fn large_upload_and_download_stream_with_bounded_memory() {
    let dir = TestDir::new();
    let (_module, _app, apache) = start_rack_vhost(&dir, "app", "event", "LimitRequestBody 0");
    const SIZE: u64 = 1 << 30;
    use std::io::{BufRead, BufReader, Read, Write};
    // Download.
    let mut s = std::net::TcpStream::connect(apache.addr).expect("connect");
    write!(
        s,
        "GET /download?{SIZE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("w");
    let mut r = BufReader::with_capacity(1 << 20, s);
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("head");
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    let mut peak = 0u64;
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got += n as u64;
        if got % (64 << 20) < n as u64 {
            peak = peak.max(rss_total(&dir));
        }
    }
    assert_eq!(got, SIZE);
    // Upload.
    let mut s = std::net::TcpStream::connect(apache.addr).expect("connect");
    write!(
        s,
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .expect("w");
    let chunk = vec![b'y'; 1 << 20];
    for i in 0..(SIZE >> 20) {
        s.write_all(&chunk).expect("upload");
        if i % 64 == 0 {
            peak = peak.max(rss_total(&dir));
        }
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.ends_with(&SIZE.to_string()), "{answer}");
    eprintln!("peak RSS of Apache + core + app: {} MiB", peak >> 10);
    assert!(peak < 400 << 10, "RSS stayed bounded: {} KiB", peak);
}

/// Sum of VmRSS (KiB) of Apache's processes and the core and app processes of this test.
fn rss_total(dir: &TestDir) -> u64 {
    marked_pids(dir.marker())
        .into_iter()
        .filter(|p| pid_alive(*p))
        .filter_map(|p| {
            status_field(p, "VmRSS")?
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn a_changed_global_directive_replaces_the_core_without_failing_requests() {
    let dir = TestDir::new();
    let (module, app, apache) = start_rack_vhost(&dir, "app", "event", "");
    assert_eq!(get(apache.addr, "/").status, 200);
    let old_cores = core_pids(&dir);
    apache.rewrite(
        &module,
        "event",
        &format!("PassengerMaxPoolSize 2\n{}", vhost_root(&app, "")),
    );
    assert!(apache.ctl("graceful").status.success());
    for _ in 0..20 {
        let resp = get(apache.addr, "/");
        assert_eq!(resp.status, 200, "{}\n{}", resp.text(), apache.error_log());
    }
    wait_until("the old core is gone", Duration::from_secs(30), || {
        old_cores.iter().all(|p| !pid_alive(*p))
    });
    assert_eq!(core_pids(&dir).len(), 2, "one new watchdog and core");
    assert!(apache.error_log().contains("replacing the core"));
}

#[test]
fn an_unreachable_core_gives_503_and_the_next_graceful_starts_a_new_one() {
    let dir = TestDir::new();
    let (_module, _app, apache) = start_rack_vhost(&dir, "app", "event", "");
    assert_eq!(get(apache.addr, "/").status, 200);
    for pid in core_pids(&dir) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    wait_until(
        "the core and its apps are gone",
        Duration::from_secs(20),
        || core_pids(&dir).is_empty() && app_pids(&dir).is_empty(),
    );
    let t0 = std::time::Instant::now();
    let resp = get(apache.addr, "/");
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert!(
        t0.elapsed() >= Duration::from_secs(4),
        "retried for a few seconds first"
    );
    assert!(apache.ctl("graceful").status.success());
    wait_until("a new core serves the app", Duration::from_secs(30), || {
        get(apache.addr, "/").status == 200
    });
}

/// An app log that a request appends its path to (`arrivals.log` in the app root), created
/// writable for the app's user (`nobody`: the app's files are root's).
fn arrivals_log(app: &Path) -> PathBuf {
    let log = app.join("arrivals.log");
    std::fs::write(&log, "").expect("create arrivals.log");
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .expect("chmod arrivals.log");
    log
}

/// A request the app does not answer within Apache's `Timeout` gets 504 once the Timeout
/// has passed, and is not sent again: a GET resent after a timeout would run twice and
/// answer only after several Timeouts. A response the module cannot take (a header line
/// longer than its buffer) is a 502, not a reason to send the request again either, and
/// one that stalls mid-body for longer than the Timeout is cut off. Each says why in the log.
#[test]
fn a_slow_or_unreadable_answer_is_an_error_and_the_request_runs_once() {
    let dir = TestDir::new();
    let (_module, app, apache) = start_rack_vhost(&dir, "app", "event", "Timeout 2\n");
    let log = arrivals_log(&app);
    assert_eq!(get(apache.addr, "/").status, 200);
    // A header line of 40 KiB: more than the module reads at once.
    let resp = get(apache.addr, "/big-header?40960");
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert!(
        apache
            .error_log()
            .contains("a response header line from the app is longer than 32768 bytes"),
        "{}",
        apache.error_log()
    );
    // A response that stops in the middle for longer than Timeout: what came is passed on,
    // then the client connection is closed (nothing marks the body complete).
    let mut client = std::net::TcpStream::connect(apache.addr).expect("connect to Apache");
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    std::io::Write::write_all(
        &mut client,
        b"GET /stall HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .expect("send");
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let _ = std::io::Read::read_to_end(&mut client, &mut got);
    let took = started.elapsed();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.contains("start") && !got.contains("end\n") && !got.ends_with("0\r\n\r\n"),
        "{got}"
    );
    assert!(
        took < Duration::from_millis(5500),
        "closed after {took:?}, not once Timeout passed"
    );
    wait_until("the stall is logged", Duration::from_secs(10), || {
        apache
            .error_log()
            .contains("no more of the app's response within Timeout (2000 ms)")
    });
    // The stalled request holds the app process until it ends: wait for it to be free.
    wait_until("the app answers again", Duration::from_secs(30), || {
        get(apache.addr, "/").status == 200
    });
    let started = std::time::Instant::now();
    let resp = get(apache.addr, "/sleep?6");
    let took = started.elapsed();
    assert_eq!(resp.status, 504, "{}", resp.text());
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(3900),
        "answered after {took:?}, not once the 2 s Timeout passed"
    );
    assert!(
        apache
            .error_log()
            .contains("no response from the app within Timeout (2000 ms)"),
        "{}",
        apache.error_log()
    );
    let arrivals = std::fs::read_to_string(&log).expect("read arrivals.log");
    assert_eq!(
        arrivals.lines().collect::<Vec<_>>(),
        ["/big-header", "/stall", "/sleep"],
        "each request reached the app once"
    );
}

/// `PassengerStatThrottleRate N`: the module looks for an app's startup file at most once
/// every N seconds per app root, as the guide says, so a vhost that is not an app does not
/// cost four failed stat() calls per request; an app that appears is served within N seconds.
#[test]
fn app_detection_is_throttled_by_passenger_stat_throttle_rate() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let site = crate::support::app_root(&dir, "site");
    // One child process, so every request sees the same detection results.
    let single_child = "StartServers 1\nServerLimit 1\nThreadsPerChild 25\n\
                        MaxRequestWorkers 25\nMinSpareThreads 1\nMaxSpareThreads 25\n";
    let apache = Apache::start(
        &dir,
        &module,
        "event",
        &format!(
            "{single_child}PassengerStatThrottleRate 5\n{}",
            vhost_root(&site, "")
        ),
    );
    assert_eq!(get(apache.addr, "/ping").status, 404, "not an app yet");
    let written = std::time::Instant::now();
    std::fs::write(site.join("config.ru"), RACK_APP).expect("write config.ru");
    let resp = get(apache.addr, "/ping");
    if written.elapsed() < Duration::from_secs(4) {
        assert_eq!(
            resp.status, 404,
            "the startup file was looked for again within 5 s"
        );
    }
    wait_until("the new app is served", Duration::from_secs(30), || {
        get(apache.addr, "/ping").status == 200
    });
    assert!(
        written.elapsed() < Duration::from_secs(25),
        "detected {:?} after the startup file appeared",
        written.elapsed()
    );
}

/// Under the event MPM a kept-alive app connection stays with one worker between requests (the
/// scoreboard shows it waiting in keep-alive, `K`), the hop through Apache's listener saved,
/// but only while more than a quarter of the child's workers are idle: with 8 threads and 8
/// idle kept-alive clients at most 5 workers are held, and a new client is answered at once
/// rather than after KeepAliveTimeout.
#[test]
fn kept_alive_app_connections_stay_in_a_worker_while_a_quarter_of_the_workers_are_idle() {
    let dir = TestDir::new();
    let module = build_module(&dir);
    let app = rack_app(&dir, "app");
    let body = format!(
        "StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n\
         MinSpareThreads 1\nMaxSpareThreads 16\nKeepAliveTimeout 30\nMaxKeepAliveRequests 0\n\
         LoadModule status_module /usr/lib/apache2/modules/mod_status.so\n\
         <Location /server-status>\n  SetHandler server-status\n  PassengerEnabled off\n</Location>\n{}",
        vhost_root(&app, "")
    );
    let apache = Apache::start(&dir, &module, "event", &body);
    assert_eq!(
        get(apache.addr, "/warm").status,
        200,
        "{}",
        apache.error_log()
    );
    let keep_alive = |client: &mut KeptAlive, path: &str| {
        let resp = client.get(path);
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        assert_ne!(
            resp.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("close"),
            "{path}: the connection is kept alive"
        );
    };
    // Eight clients, one after the other, two app requests each, then idle.
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let mut client = KeptAlive::connect(apache.addr);
            keep_alive(&mut client, &format!("/c{i}/1"));
            keep_alive(&mut client, &format!("/c{i}/2"));
            client
        })
        .collect();
    let held = || {
        let text = get(apache.addr, "/server-status?auto").text();
        let board = text
            .lines()
            .find_map(|l| l.strip_prefix("Scoreboard: "))
            .unwrap_or_else(|| panic!("no scoreboard in {text}"))
            .to_string();
        board.chars().filter(|c| *c == 'K').count()
    };
    wait_until(
        "a kept-alive app connection waits in a worker",
        Duration::from_secs(10),
        || held() >= 1,
    );
    let k = held();
    assert!(
        k <= 5,
        "{k} of 8 workers are held by idle kept-alive clients"
    );
    // A new client is served by a free worker, well within KeepAliveTimeout.
    let started = std::time::Instant::now();
    let resp = Request::new("GET", "/new")
        .timeout(Duration::from_secs(10))
        .send(apache.addr)
        .expect("a new client is answered");
    assert_eq!(resp.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // The held connections still serve their clients.
    for (i, mut client) in clients.into_iter().enumerate() {
        keep_alive(&mut client, &format!("/c{i}/3"));
    }
}

/// A graceful restart that lands while an answer is on its way, after its head promised
/// keep-alive: the client's next request on that connection, sent as soon as the answer
/// ends, is answered (with `Connection: close`, by the old worker) instead of finding the
/// connection closed, which is what Apache's own connection loop, and the event MPM's
/// listener for a connection it holds, do to it.
#[test]
fn a_request_sent_right_after_a_graceful_on_a_kept_alive_connection_is_answered() {
    use std::io::BufRead;
    let dir = TestDir::new();
    let (_module, _app, apache) = start_rack_vhost(&dir, "app", "event", "KeepAliveTimeout 30\n");
    assert_eq!(get(apache.addr, "/warm").status, 200);
    let master = apache.master_pid().expect("Apache's master is running");
    let before = apache_children(&dir, master);
    let mut client = KeptAlive::connect(apache.addr);
    client.send("/pause?4");
    let head = client.read(true).expect("head");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("transfer-encoding"),
        Some("chunked"),
        "{:?}",
        head.headers
    );
    assert_eq!(
        head.header("connection"),
        None,
        "the head promises keep-alive"
    );
    let headed = std::time::Instant::now();
    assert!(apache.ctl("graceful").status.success());
    wait_until(
        "a new generation of children",
        Duration::from_secs(10),
        || {
            apache_children(&dir, master)
                .iter()
                .any(|pid| !before.contains(pid))
        },
    );
    assert!(
        headed.elapsed() < Duration::from_secs(3),
        "the graceful landed before the answer ended ({:?})",
        headed.elapsed()
    );
    // The rest of the chunked body, up to its last chunk.
    let mut body = String::new();
    loop {
        let mut line = String::new();
        let n = client.stream.read_line(&mut line).expect("read the body");
        assert!(n > 0, "the connection closed mid-answer: {body:?}");
        body.push_str(&line);
        if body.ends_with("\r\n0\r\n\r\n") {
            break;
        }
    }
    assert!(
        body.contains("start\n") && body.contains("end\n"),
        "{body:?}"
    );
    client.send("/after");
    let resp = client
        .read(false)
        .expect("the request after the graceful is answered");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["path_info"], "/after");
    assert_eq!(
        resp.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("close"),
        "then the old worker lets the client go"
    );
}

#[test]
fn the_worker_mpm_serves_apps_too() {
    let dir = TestDir::new();
    let (_module, _app, mut apache) = start_rack_vhost(&dir, "app", "worker", "");
    let pids: std::collections::HashSet<String> = (0..20)
        .map(|i| {
            let resp = get(apache.addr, &format!("/w/{i}"));
            assert_eq!(resp.status, 200, "{}", resp.text());
            assert_eq!(resp.json()["path_info"], format!("/w/{i}"));
            resp.json()["pid"].to_string()
        })
        .collect();
    assert_eq!(pids.len(), 1, "one app process served them all");
    apache.stop();
    wait_until("no process is left", Duration::from_secs(20), || {
        marked_pids(dir.marker()).is_empty()
    });
}

/// The guide's user switching behind Apache: a root-owned app runs as `PassengerDefaultUser`,
/// `PassengerUser` wins over it, and with `PassengerUserSwitching off` every app runs as the
/// default user (the module hands the global directives to the core at its start).
#[test]
fn apache_apps_run_as_the_user_the_directives_name() {
    use crate::support::users::{account, proc_ids, test_users};
    assert!(
        crate::support::users::is_root(),
        "user switching behind Apache needs root (CI runs as root)"
    );
    let (app_user, other_user) = test_users();
    let uid_of = |apache: &Apache| {
        let pid = get(apache.addr, "/").json()["pid"]
            .as_i64()
            .expect("the app reports its pid");
        proc_ids(i32::try_from(pid).expect("pid fits")).uids[0]
    };
    for (config, want) in [
        (
            format!("PassengerDefaultUser {}\n", other_user.name),
            other_user.uid,
        ),
        (
            format!(
                "PassengerDefaultUser {}\nPassengerUser {}\n",
                other_user.name, app_user.name
            ),
            app_user.uid,
        ),
        (
            format!(
                "PassengerUserSwitching off\nPassengerDefaultUser {}\nPassengerUser {}\n",
                other_user.name, app_user.name
            ),
            other_user.uid,
        ),
    ] {
        let dir = TestDir::new();
        let module = build_module(&dir);
        let app = rack_app(&dir, "app");
        let apache = Apache::start(&dir, &module, "event", &vhost_root(&app, &config));
        assert_eq!(uid_of(&apache), want, "with:\n{config}");
        assert_ne!(account("root").uid, want);
        drop(apache);
    }
}
