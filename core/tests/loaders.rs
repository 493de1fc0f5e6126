//! Integration tests of the Ruby, Python and Node loaders through [`SpawnerFactory`],
//! with the real interpreters (`ruby` with the `rack` gem, `python3`, `node`). A
//! missing interpreter fails the test with a clear message rather than skipping it.
//!
//! Session-protocol apps are driven by the client in `support/session.rs` (one request per
//! connection) and, for keep-alive, by the framed reads in this file. Every spawned process is
//! killed on drop by [`support::Running`], and each test checks that its processes are gone from `/proc`
//! before it ends.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use passenger_core::app::{AppSpec, AppType, SpawnMethod};
use passenger_core::pool::ProcessAddress;
use passenger_core::spawn::{ExitInfo, SpawnError, SpawnStep};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use support::session::{parse, read_all, LoaderSocket, Request};
use support::{
    app_dir, app_with, cmdline, require_node, require_python, require_ruby, spawn_err, spawn_ok,
    write, Running, START,
};

/// Spawns (directly) an app whose root holds only `file` with `text`.
async fn spawn_app(file: &str, text: &str, app_type: AppType) -> (tempfile::TempDir, Running) {
    let dir = app_with(file, text);
    let running = spawn_ok(spec(dir.path(), app_type)).await;
    (dir, running)
}

/// The app's `/echo` answers a body of known length and a framed chunked one.
async fn assert_echoes_bodies(socket: &LoaderSocket) {
    let (_, _, body) = parse(&Request::post("/echo", b"posted body").send(socket).await);
    assert_eq!(body, "got:posted body");
    let chunked = Request {
        chunked: true,
        ..Request::post("/echo", b"streamed until EOF")
    };
    let (_, _, body) = parse(&chunked.send(socket).await);
    assert_eq!(body, "got:streamed until EOF");
}

fn spec(dir: &Path, app_type: AppType) -> AppSpec {
    let mut app = AppSpec::new("loader-app", dir.to_path_buf(), app_type);
    app.start_timeout = START;
    // These tests cover the loaders started directly; smart spawning is in smart.rs.
    app.spawn_method = SpawnMethod::Direct;
    app
}

/// One response read from a connection that may stay open: the head, then exactly
/// the `!~Keep-Alive` length if the loader sent one (else everything until EOF).
struct Framed {
    status: String,
    headers: Vec<String>,
    body: String,
    keep_alive: Option<usize>,
}

/// Reads a response head byte by byte (no further: the body stays in `stream`), within 15 s.
async fn read_head(stream: &mut UnixStream) -> Vec<u8> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut byte))
            .await
            .expect("response head within 15 s")
            .expect("read head");
        assert_eq!(n, 1, "EOF before the end of the head: {head:?}");
        head.push(byte[0]);
    }
    head
}

async fn read_framed(stream: &mut UnixStream) -> Framed {
    let head = read_head(stream).await;
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.trim_end().split("\r\n").map(str::to_string);
    let status = lines.next().unwrap_or_default();
    let headers: Vec<String> = lines.collect();
    let keep_alive = headers.iter().find_map(|h| {
        h.strip_prefix("!~Keep-Alive: ")
            .map(|v| v.parse::<usize>().expect("numeric !~Keep-Alive"))
    });
    let body = match keep_alive {
        Some(length) => {
            let mut body = vec![0u8; length];
            tokio::time::timeout(Duration::from_secs(15), stream.read_exact(&mut body))
                .await
                .expect("framed body within 15 s")
                .expect("read framed body");
            String::from_utf8_lossy(&body).into_owned()
        }
        None => read_all(stream).await,
    };
    Framed {
        status,
        headers,
        body,
        keep_alive,
    }
}

/// Sends `req` with keep-alive offered on an open connection.
async fn send_on(stream: &mut UnixStream, socket: &LoaderSocket, req: Request<'_>) -> Framed {
    let req = Request {
        keep_alive: true,
        ..req
    };
    stream
        .write_all(&req.header_block(socket))
        .await
        .expect("send header block");
    stream.write_all(req.body).await.expect("send body");
    read_framed(stream).await
}

/// Whether the loader closed `stream` (EOF) within 15 s.
async fn closed_by_loader(stream: &mut UnixStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(15), stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// The keep-alive checks shared by the Rack and WSGI loaders, against apps that
/// answer the same: `/` "hello" and `/echo` "got:<body>" as lists, `/cl` "abcd"
/// streamed with a Content-Length, `/stream` "abcd" streamed without one.
async fn keep_alive_scenario(socket: &LoaderSocket, closes_idle_on_new_connection: bool) {
    let connect = || async {
        UnixStream::connect(socket)
            .await
            .expect("connect to the loader socket")
    };
    let mut stream = connect().await;
    let first = send_on(&mut stream, socket, Request::get("/")).await;
    assert_eq!(first.status, "HTTP/1.1 200 OK");
    assert_eq!(first.keep_alive, Some(5), "{:?}", first.headers);
    assert_eq!(first.body, "hello");

    // More requests on the same connection: each is answered, so the loader read
    // them from the kept-alive connection rather than waiting in accept.
    let echo = send_on(&mut stream, socket, Request::post("/echo", b"posted body")).await;
    assert_eq!(echo.body, "got:posted body");
    assert_eq!(echo.keep_alive, Some(15));
    // A body the app does not read is drained before the next request.
    let unread = send_on(&mut stream, socket, Request::post("/", b"never read")).await;
    assert_eq!(
        (unread.body.as_str(), unread.keep_alive),
        ("hello", Some(5))
    );
    let streamed = send_on(&mut stream, socket, Request::get("/cl")).await;
    assert_eq!(
        (streamed.body.as_str(), streamed.keep_alive),
        ("abcd", Some(4)),
        "a streamed body with a Content-Length is framed by it"
    );
    let again = send_on(&mut stream, socket, Request::get("/")).await;
    assert_eq!(again.body, "hello");

    // A new connection while this one is idle is served: the loader never waits on a
    // connection the core does not use. The WSGI loader closes the idle one; the Rack
    // loader keeps serving both.
    let mut other = connect().await;
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        send_on(&mut other, socket, Request::get("/")),
    )
    .await
    .expect("a new connection is served while another is idle");
    assert_eq!(answer.body, "hello");
    if closes_idle_on_new_connection {
        assert!(
            closed_by_loader(&mut stream).await,
            "the idle connection is closed"
        );
    } else {
        let old = tokio::time::timeout(
            Duration::from_secs(15),
            send_on(&mut stream, socket, Request::get("/")),
        )
        .await
        .expect("the older connection is still served");
        assert_eq!(old.body, "hello");
        let newer = send_on(&mut other, socket, Request::get("/")).await;
        assert_eq!(newer.body, "hello");
    }

    // A streamed body without a length is not framed and ends at EOF.
    let unframed = send_on(&mut other, socket, Request::get("/stream")).await;
    assert_eq!(unframed.keep_alive, None, "{:?}", unframed.headers);
    assert_eq!(unframed.body, "abcd");
    assert!(
        !unframed.headers.iter().any(|h| h.starts_with("!~")),
        "{:?}",
        unframed.headers
    );

    // Without the offer the connection closes after the response (EOF-framed).
    let plain = Request::get("/").send(socket).await;
    assert!(!plain.contains("!~Keep-Alive"), "{plain}");
    assert!(plain.ends_with("\r\n\r\nhello"), "{plain}");
}

const RACK_KEEP_ALIVE_APP: &str = r##"
class Chunks
  def each
    yield 'ab'
    yield 'cd'
  end
end

run(lambda do |env|
  case env['PATH_INFO']
  when '/echo' then [200, {}, ['got:' + env['rack.input'].read]]
  when '/cl' then [200, { 'content-length' => '4' }, Chunks.new]
  when '/stream' then [200, {}, Chunks.new]
  else [200, { 'content-type' => 'text/plain' }, ['hello']]
  end
end)
"##;

const WSGI_KEEP_ALIVE_APP: &str = r#"
def chunks():
    yield b'ab'
    yield b'cd'

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/echo':
        body = b'got:' + environ['wsgi.input'].read()
        start_response('200 OK', [])
        return [body]
    if path == '/cl':
        start_response('200 OK', [('Content-Length', '4')])
        return chunks()
    if path == '/stream':
        start_response('200 OK', [])
        return chunks()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello']
"#;

/// The core sends the next request on a connection only after the response; two
/// requests written at once break that rule, so the Rack loader (which reads a header
/// block in one go) answers the first and closes the connection rather than guess.
#[tokio::test]
async fn ruby_loader_closes_a_connection_that_sent_two_requests_at_once() {
    require_ruby();
    let (_dir, running) = spawn_app("config.ru", RACK_KEEP_ALIVE_APP, AppType::Ruby).await;
    let socket = running.socket();
    let mut stream = UnixStream::connect(&socket)
        .await
        .expect("connect to the loader socket");
    let req = Request {
        keep_alive: true,
        ..Request::get("/")
    };
    let mut both = req.header_block(&socket);
    both.extend_from_slice(&req.header_block(&socket));
    stream
        .write_all(&both)
        .await
        .expect("send two header blocks");
    let first = read_framed(&mut stream).await;
    assert_eq!(
        (first.status.as_str(), first.body.as_str()),
        ("HTTP/1.1 200 OK", "hello")
    );
    assert_eq!(
        first.keep_alive, None,
        "not kept alive: {:?}",
        first.headers
    );
    assert!(
        closed_by_loader(&mut stream).await,
        "the connection is closed"
    );
}
/// Request pipelining at the loader: a request runs only if the loader reads its
/// claim from the claims pipe. A claim read on the way to a newer one is held for its
/// own request; a request the core took back is closed unanswered and never runs.
#[tokio::test]
async fn ruby_loader_runs_a_pipelined_request_only_with_its_claim() {
    require_ruby();
    let (_dir, running) = spawn_app("config.ru", RACK_KEEP_ALIVE_APP, AppType::Ruby).await;
    let socket = running.socket();
    let claims = Arc::clone(
        running
            .process()
            .pipeline
            .as_ref()
            .expect("a Ruby loader makes a claims pipe"),
    );
    let connect = || async {
        UnixStream::connect(&socket)
            .await
            .expect("connect to the loader socket")
    };
    let claimed = |number: u64| Request {
        headers: vec![("PASSENGER_CLAIM", number.to_string())],
        ..Request::get("/echo")
    };

    let older = claims.issue().expect("issue a claim");
    let newer = claims.issue().expect("issue a claim");
    let mut first = connect().await;
    let resp = send_on(&mut first, &socket, claimed(newer.number())).await;
    assert_eq!(resp.body, "got:", "the newer request runs");
    assert!(
        !older.withdraw(),
        "the loader read the older claim on the way and holds it"
    );
    let mut second = connect().await;
    let resp = send_on(&mut second, &socket, claimed(older.number())).await;
    assert_eq!(resp.body, "got:", "the held claim's request runs");

    let taken = claims.issue().expect("issue a claim");
    assert!(taken.withdraw(), "the core reads it back first");
    for number in [taken.number(), 999_999] {
        let mut stream = connect().await;
        stream
            .write_all(
                &Request {
                    headers: vec![("PASSENGER_CLAIM", number.to_string())],
                    keep_alive: true,
                    ..Request::post("/echo", b"ran")
                }
                .header_block(&socket),
            )
            .await
            .expect("send header block");
        // The loader may close as soon as it has read the header block and found no
        // claim, before the body is written: a refused write is that close.
        let _ = stream.write_all(b"ran").await;
        assert!(
            closed_by_loader(&mut stream).await,
            "claim {number}: closed unanswered"
        );
    }
    // The connections that ran requests are still usable.
    let resp = send_on(&mut first, &socket, Request::post("/echo", b"after")).await;
    assert_eq!(resp.body, "got:after");
    running.stop().await;
}

/// Spawns the keep-alive app `text` (in `file`), runs [`keep_alive_scenario`] on it and stops it.
async fn keeps_session_connections_alive(
    file: &str,
    text: &str,
    app_type: AppType,
    closes_idle_on_new_connection: bool,
) {
    let (_dir, running) = spawn_app(file, text, app_type).await;
    keep_alive_scenario(&running.socket(), closes_idle_on_new_connection).await;
    let (_, info) = running.stop().await;
    assert_eq!(info, ExitInfo::Code(0));
}

#[tokio::test]
async fn ruby_loader_keeps_session_connections_alive() {
    require_ruby();
    keeps_session_connections_alive("config.ru", RACK_KEEP_ALIVE_APP, AppType::Ruby, false).await;
}

#[tokio::test]
async fn python_loader_keeps_session_connections_alive() {
    require_python();
    keeps_session_connections_alive(
        "passenger_wsgi.py",
        WSGI_KEEP_ALIVE_APP,
        AppType::Python,
        true,
    )
    .await;
}

#[tokio::test]
async fn loader_with_an_idle_connection_stops_on_stdin_eof() {
    require_ruby();
    require_python();
    let dir = app_dir();
    write(dir.path(), "config.ru", RACK_KEEP_ALIVE_APP);
    write(dir.path(), "passenger_wsgi.py", WSGI_KEEP_ALIVE_APP);
    for app_type in [AppType::Ruby, AppType::Python] {
        let running = spawn_ok(spec(dir.path(), app_type)).await;
        let socket = running.socket();
        let mut stream = UnixStream::connect(&socket).await.expect("connect");
        let framed = send_on(&mut stream, &socket, Request::get("/")).await;
        assert_eq!(framed.keep_alive, Some(5));
        // The loader now waits on the idle connection; terminate must still work.
        let (_, info) = running.stop().await;
        assert_eq!(info, ExitInfo::Code(0));
        assert!(closed_by_loader(&mut stream).await);
    }
}

const RACK_APP: &str = r##"
$forked = :never_called
PhusionPassenger.on_event(:starting_worker_process) { |forked| $forked = forked }
PhusionPassenger.on_event(:stopping_worker_process) do
  File.write(ENV['STOP_MARKER'], 'stopped') if ENV['STOP_MARKER']
end
PhusionPassenger.on_event(:oob_work) { $oob = true }

class Streamer
  def each
    3.times { |i| yield "chunk#{i}\n" }
  end
  def close
    $closed = true
  end
end

run(lambda do |env|
  case env['PATH_INFO']
  when '/echo'
    [200, { 'content-type' => 'text/plain' }, ["got:" + env['rack.input'].read]]
  when '/forked'
    [200, {}, ["#{defined?(PhusionPassenger).inspect} #{$forked.inspect}"]]
  when '/stream'
    [200, { 'content-type' => 'text/plain' }, Streamer.new]
  when '/closed'
    [200, {}, [$closed.inspect, " ", $oob.inspect]]
  when '/raise'
    raise 'boom from the app'
  when '/env'
    [200, {}, ["#{env['REQUEST_METHOD']} [#{env['SCRIPT_NAME']}] #{env['PATH_INFO']} ?#{env['QUERY_STRING']} #{env['HTTP_X_TEST']} #{env['rack.url_scheme']} #{env['rack.multithread']}"]]
  when '/hijack'
    io = env['rack.hijack'].call
    io.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
    line = io.gets
    io.write("echo:#{line}")
    io.close
    [-1, {}, []]
  else
    [200, { 'content-type' => 'text/plain', 'x-multi' => "a\nb" }, ['hello from rack']]
  end
end)
"##;

#[tokio::test]
async fn ruby_rack_app_serves_the_session_protocol() {
    require_ruby();
    let dir = app_with("config.ru", RACK_APP);
    // Writable by `nobody`, whom the app runs as when the tests run as root.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o777)).expect("chmod tmp");
    let marker = tmp.join("stopped.txt");
    let mut app = spec(dir.path(), AppType::Ruby);
    app.env_vars = vec![("STOP_MARKER".into(), marker.display().to_string())];
    let running = spawn_ok(app).await;
    let process = running.process();
    assert_eq!(process.concurrency, 1);
    let socket = running.socket();
    assert!(
        socket.starts_with(std::env::temp_dir()),
        "{}",
        socket.display()
    );
    assert!(socket
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("ruby.")));

    let (status, headers, body) = parse(&Request::get("/").send(&socket).await);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "hello from rack");
    assert!(headers.contains(&"x-multi: a".to_string()), "{headers:?}");
    assert!(headers.contains(&"x-multi: b".to_string()), "{headers:?}");

    assert_echoes_bodies(&socket).await;

    let mut req = Request::get("/env?a=1");
    req.headers.push(("HTTP_X_TEST", "hdr".into()));
    let (_, _, body) = parse(&req.send(&socket).await);
    assert_eq!(body, "GET [] /env ?a=1 hdr http false");

    let (_, _, body) = parse(&Request::get("/forked").send(&socket).await);
    assert_eq!(body, "\"constant\" false");

    let (_, _, body) = parse(&Request::get("/stream").send(&socket).await);
    assert_eq!(body, "chunk0\nchunk1\nchunk2\n");

    let oobw = Request::get("/").send(&socket).await;
    assert!(oobw.starts_with("HTTP/1.1 200"), "{oobw}");
    let oobw = Request {
        method: "OOBW",
        ..Request::get("/")
    };
    let (status, _, body) = parse(&oobw.send(&socket).await);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "oobw done")
    );
    let (_, _, body) = parse(&Request::get("/closed").send(&socket).await);
    assert_eq!(body, "true true", "body.close was called and :oob_work ran");

    let (status, _, _) = parse(&Request::get("/raise").send(&socket).await);
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error");

    let wrong = Request {
        password: Some("wrong".into()),
        ..Request::get("/")
    };
    assert_eq!(
        wrong.send(&socket).await,
        "",
        "a wrong password gets no response"
    );

    // Full hijack: the app owns the socket after the header block.
    let mut stream = UnixStream::connect(&socket).await.expect("connect");
    stream
        .write_all(&Request::get("/hijack").header_block(&socket))
        .await
        .expect("send header block");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    stream
        .write_all(b"ping\n")
        .await
        .expect("send to hijacked socket");
    assert_eq!(read_all(&mut stream).await, "echo:ping\n");

    // The loader still serves after all of that.
    let (_, _, body) = parse(&Request::get("/").send(&socket).await);
    assert_eq!(body, "hello from rack");

    let (_, info) = running.stop().await;
    assert_eq!(info, ExitInfo::Code(0));
    assert_eq!(
        std::fs::read_to_string(&marker).ok().as_deref(),
        Some("stopped"),
        ":stopping_worker_process ran"
    );
    assert!(!socket.exists(), "socket file removed after exit");
}

#[tokio::test]
async fn ruby_process_title_names_app_root_and_environment() {
    require_ruby();
    let dir = app_with("config.ru", "run ->(env) { [200, {}, ['ok']] }\n");
    let mut app = spec(dir.path(), AppType::Ruby);
    app.environment = "staging".into();
    let running = spawn_ok(app).await;
    let title = cmdline(running.process().pid);
    assert!(
        title.starts_with(&format!(
            "Passenger RubyApp: {} (staging)",
            dir.path().display()
        )),
        "{title}"
    );
    running.stop().await;
}

#[tokio::test]
async fn ruby_setup_load_paths_replaces_bundler() {
    require_ruby();
    let dir = app_dir();
    // A Gemfile that Bundler could not satisfy: only skipped because of setup_load_paths.
    write(dir.path(), "Gemfile", "gem 'nonexistent_gem_xyz'\n");
    write(
        dir.path(),
        "config/setup_load_paths.rb",
        "$via = 'setup_load_paths'\n",
    );
    write(
        dir.path(),
        "config.ru",
        "run ->(env) { [200, {}, [$via]] }\n",
    );
    let running = spawn_ok(spec(dir.path(), AppType::Ruby)).await;
    let (_, _, body) = parse(&Request::get("/").send(&running.socket()).await);
    assert_eq!(body, "setup_load_paths");
    running.stop().await;
}

#[tokio::test]
async fn ruby_bundle_environment_and_rails2_apps_load() {
    require_ruby();
    let dir = app_with(".bundle/environment.rb", "$via = 'bundle_environment'\n");
    write(dir.path(), "Gemfile", "gem 'nonexistent_gem_xyz'\n");
    write(
        dir.path(),
        "config.ru",
        "run ->(env) { [200, {}, [$via]] }\n",
    );
    let running = spawn_ok(spec(dir.path(), AppType::Ruby)).await;
    let (_, _, body) = parse(&Request::get("/").send(&running.socket()).await);
    assert_eq!(body, "bundle_environment");
    running.stop().await;

    // Rails 2: no config.ru, config/environment.rb defines the dispatcher.
    let dir = app_with(
        "config/environment.rb",
        "module ActionController\n  class Dispatcher\n    def call(env)\n      [200, {}, ['rails2 ' + env['PATH_INFO']]]\n    end\n  end\nend\n",
    );
    let running = spawn_ok(spec(dir.path(), AppType::Ruby)).await;
    let (_, _, body) = parse(&Request::get("/x").send(&running.socket()).await);
    assert_eq!(body, "rails2 /x");
    running.stop().await;
}

async fn ruby_load_failure(config_ru: &str) -> SpawnError {
    let dir = app_with("config.ru", config_ru);
    spawn_err(spec(dir.path(), AppType::Ruby)).await
}

#[tokio::test]
async fn ruby_load_failures_report_app_load_with_the_exception() {
    require_ruby();
    let err = ruby_load_failure("raise 'kaboom while loading'\nrun nil\n").await;
    assert_eq!(err.step, SpawnStep::AppLoad);
    assert!(
        err.summary.contains("RuntimeError: kaboom while loading"),
        "{err:?}"
    );
    assert!(
        err.output.contains("config.ru"),
        "backtrace: {}",
        err.output
    );

    let err = ruby_load_failure("run(lambda do |env|\n").await;
    assert_eq!(err.step, SpawnStep::AppLoad);
    assert!(err.summary.contains("SyntaxError"), "{err:?}");

    let err = ruby_load_failure("require 'nonexistent_gem_xyz'\nrun nil\n").await;
    assert_eq!(err.step, SpawnStep::AppLoad);
    assert!(err.summary.contains("LoadError"), "{err:?}");
    assert!(err.summary.contains("nonexistent_gem_xyz"), "{err:?}");
}

#[tokio::test]
async fn ruby_app_that_never_listens_times_out() {
    require_ruby();
    let dir = app_with("config.ru", "sleep 60\nrun nil\n");
    let mut app = spec(dir.path(), AppType::Ruby);
    app.start_timeout = Duration::from_secs(2);
    let err = spawn_err(app).await;
    assert_eq!(err.step, SpawnStep::HandshakePerform);
    assert!(err.summary.contains("start timeout"), "{err:?}");
}

const WSGI_APP: &str = r#"
import sys

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/echo':
        body = b'got:' + environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    if path == '/file':
        f = open(__file__, 'rb')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return environ['wsgi.file_wrapper'](f, 7)
    if path == '/raise':
        raise RuntimeError('boom from wsgi')
    print('printed to stdout')
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Multi', 'a'), ('X-Multi', 'b')])
    return [b'hello ', b'from wsgi ', environ['wsgi.url_scheme'].encode(),
            b' ', str(environ['wsgi.multithread']).encode()]
"#;

#[tokio::test]
async fn python_wsgi_app_serves_the_session_protocol() {
    require_python();
    let (_dir, running) = spawn_app("passenger_wsgi.py", WSGI_APP, AppType::Python).await;
    assert_eq!(running.process().concurrency, 1);
    let socket = running.socket();
    assert!(socket
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("wsgi.")));

    let (status, headers, body) = parse(&Request::get("/").send(&socket).await);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "hello from wsgi http False");
    assert!(headers.contains(&"X-Multi: b".to_string()), "{headers:?}");

    assert_echoes_bodies(&socket).await;

    let (_, _, body) = parse(&Request::get("/file").send(&socket).await);
    assert_eq!(body, WSGI_APP);

    let (status, _, _) = parse(&Request::get("/raise").send(&socket).await);
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error");

    let oobw = Request {
        method: "OOBW",
        ..Request::get("/")
    };
    let (_, _, body) = parse(&oobw.send(&socket).await);
    assert_eq!(body, "oobw done");

    let (_, info) = running.stop().await;
    assert_eq!(info, ExitInfo::Code(0));
    assert!(!socket.exists(), "socket file removed after exit");
}

#[tokio::test]
async fn python_import_error_reports_app_load() {
    require_python();
    let dir = app_with(
        "passenger_wsgi.py",
        "import nonexistent_module_xyz\napplication = None\n",
    );
    let err = spawn_err(spec(dir.path(), AppType::Python)).await;
    assert_eq!(err.step, SpawnStep::AppLoad);
    assert!(err.summary.contains("ModuleNotFoundError"), "{err:?}");
    assert!(err.summary.contains("nonexistent_module_xyz"), "{err:?}");
    assert!(err.output.contains("passenger_wsgi.py"), "{}", err.output);
}

#[tokio::test]
async fn node_app_runs_under_the_loader_with_a_title() {
    require_node();
    let dir = app_with(
        "app.js",
        "require('http').createServer((q, s) => s.end(String(require.main === module)))\n  .listen(Number(process.env.PORT), '127.0.0.1');\n",
    );
    let mut app = spec(dir.path(), AppType::Node);
    app.nodejs = "node".into();
    let running = spawn_ok(app).await;
    let process = running.process();
    assert_eq!(process.concurrency, 0);
    let ProcessAddress::Tcp(addr) = process.address else {
        panic!("expected TCP, got {}", process.address);
    };
    let title = cmdline(process.pid);
    assert!(
        title.starts_with(&format!("Passenger NodeApp: {}", dir.path().display())),
        "{title}"
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
        .await
        .expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut response))
        .await
        .expect("response within 15 s")
        .expect("read");
    assert!(
        String::from_utf8_lossy(&response).ends_with("\r\n\r\ntrue"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    running.stop().await;
}

/// A loader whose direct-access port is taken does not start: the core would otherwise show
/// operators a URL that someone else answers, and they would send the password there.
#[test]
fn loaders_do_not_start_when_their_direct_access_port_is_taken() {
    require_ruby();
    require_python();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = taken
        .local_addr()
        .expect("local address")
        .port()
        .to_string();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../resources/helper-scripts");
    for (interpreter, script, file, text) in [
        (
            "ruby",
            "rack-loader.rb",
            "config.ru",
            "run lambda { |_| [200, {}, ['x']] }\n",
        ),
        (
            "python3",
            "wsgi-loader.py",
            "passenger_wsgi.py",
            "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'x']\n",
        ),
    ] {
        let dir = app_with(file, text);
                let socket = dir.path().join("loader.sock");
        let mut child = std::process::Command::new(interpreter)
            .arg(scripts.join(script))
            .current_dir(dir.path())
            .env("PASSENGER_SOCKET", &socket)
            .env("PASSENGER_CONNECT_PASSWORD", "secret")
            .env("PASSENGER_DIRECT_PORT", &port)
            .env("PASSENGER_APP_ROOT", dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the loader");
        let deadline = Instant::now() + START;
        while child.try_wait().expect("wait for the loader").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{script} kept running although its direct-access port is taken");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("loader output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{script}: {stderr}");
        assert!(stderr.contains("for direct access"), "{script}: {stderr}");
        assert!(!socket.exists(), "{script} must not listen for requests");
    }
}
