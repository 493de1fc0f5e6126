//! The server's named limits, seen from a client over raw TCP: 431 for a head over
//! `--max-header-size`, 414 for a request line over `--max-request-line-size`, connections closed
//! after `--header-read-timeout` (slowloris) and `--keep-alive-timeout`, 413 for a body over
//! `--max-request-body-size`, a process over `--memory-limit` replaced after its request, and 504
//! plus a new process after `--max-request-time`.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::http::read_response;
use crate::support::wait::poll;
use crate::support::{
    app_pid, app_root, deadline, get, pid_of, start_args, start_hello_app, wait_until, Server,
    TestDir,
};

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, deadline()).expect("connect");
    stream
        .set_read_timeout(Some(deadline()))
        .expect("invariant: positive timeout");
    stream
}

/// Sends `raw` on a new connection and reads one response.
fn raw(addr: SocketAddr, raw: &[u8]) -> crate::support::http::Response {
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send");
    read_response(&mut BufReader::new(stream), false).expect("a response")
}

/// How long until the server closes `stream` (reads EOF or a reset); `tick` is called between
/// reads of at most 100 ms.
fn time_until_closed(stream: &mut TcpStream, mut tick: impl FnMut(&mut TcpStream)) -> Duration {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("invariant: positive timeout");
    let mut buf = [0u8; 4096];
    loop {
        assert!(start.elapsed() < deadline(), "the connection stayed open");
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return start.elapsed(),
        }
        tick(stream);
    }
}

#[test]
fn oversized_heads_get_431_and_long_request_lines_414() {
    let (_dir, _root, server) = start_hello_app(&[
        "--max-header-size",
        "16384",
        "--max-request-line-size",
        "1024",
    ]);
    let addr = server.addr;

    let big = format!(
        "GET /pid HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20_000)
    );
    let resp = raw(addr, big.as_bytes());
    assert_eq!(resp.status, 431, "{}", resp.text());

    // Just under the head limit: the app answers.
    let fits = format!(
        "GET /pid HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(15_000)
    );
    assert_eq!(raw(addr, fits.as_bytes()).status, 200);

    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "p".repeat(2000)
    );
    let resp = raw(addr, long.as_bytes());
    assert_eq!(resp.status, 414, "{}", resp.text());
    assert_eq!(resp.header("status"), Some("414 URI Too Long"));
    assert!(resp.text().contains("at most 1024"), "{}", resp.text());

    // A request line within the limit reaches the app (hello.py answers 404 for unknown paths).
    let ok = format!(
        "GET /{}/pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "p".repeat(900)
    );
    assert_eq!(raw(addr, ok.as_bytes()).status, 200);
}

#[test]
fn slow_heads_and_idle_keep_alive_connections_are_closed() {
    let (_dir, _root, server) =
        start_hello_app(&["--header-read-timeout", "1", "--keep-alive-timeout", "3"]);
    let addr = server.addr;

    // A connection that never sends a byte owes its head within the header timeout.
    let mut silent = connect(addr);
    let took = time_until_closed(&mut silent, |_| {});
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
        "silent connection closed after {took:?}"
    );

    // Slowloris: a byte every 100 ms never completes the head; it is cut after ~1 s.
    let mut slow = connect(addr);
    slow.write_all(b"GET /pid HTTP/1.1\r\n").expect("send");
    let took = time_until_closed(&mut slow, |s| {
        let _ = s.write_all(b"X");
    });
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
        "slow head cut after {took:?}"
    );

    // After a response, a keep-alive connection may idle for the keep-alive timeout, longer
    // than the header timeout, and then serves another request.
    let mut kept = connect(addr);
    let request = b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n";
    kept.write_all(request).expect("send");
    let mut reader = BufReader::new(kept.try_clone().expect("clone"));
    assert_eq!(
        read_response(&mut reader, false).expect("first").status,
        200
    );
    std::thread::sleep(Duration::from_millis(1500));
    kept.write_all(request).expect("send again");
    assert_eq!(
        read_response(&mut reader, false).expect("second").status,
        200
    );
    let took = time_until_closed(&mut kept, |_| {});
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_millis(4500),
        "idle keep-alive connection closed after {took:?}"
    );

    // A request slower than both timeouts is not cut: the clocks stop while it is served.
    let resp = crate::support::Request::new("GET", "/sleep?s=4")
        .send(addr)
        .expect("slow request");
    assert_eq!(resp.status, 200);
}

const WSGI_LIMITS_APP: &str = r#"import os, time
hoard = []

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/grow":
        block = bytearray(int(environ["QUERY_STRING"] or "100") * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        hoard.append(block)
    elif path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"] or "30"))
    elif path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%d" % len(body)).encode()]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [('{"pid": %d}' % os.getpid()).encode()]
"#;

fn start_wsgi(dir: &TestDir, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let root = app_root(dir, "wsgi");
    std::fs::write(root.join("passenger_wsgi.py"), WSGI_LIMITS_APP).expect("write app");
    Server::start_with_env(dir, &start_args(&root, extra), env)
}

fn chunked_post(addr: SocketAddr, chunks: &[usize]) -> crate::support::http::Response {
    let mut msg =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for n in chunks {
        msg.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        msg.extend(std::iter::repeat_n(b'b', *n));
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b"0\r\n\r\n");
    raw(addr, &msg)
}

#[test]
fn bodies_over_max_request_body_size_get_413() {
    let dir = TestDir::new();
    let server = start_wsgi(&dir, &["--max-request-body-size", "1000"], &[]);
    let addr = server.addr;

    // By Content-Length, before a byte of the body is read.
    let mut stream = connect(addr);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
        .expect("send head");
    let resp = read_response(&mut BufReader::new(stream), false).expect("a response");
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.header("connection"), Some("close"));

    let fits = crate::support::Request::new("POST", "/echo")
        .body(vec![b'a'; 1000])
        .send(addr)
        .expect("post");
    assert_eq!((fits.status, fits.text()), (200, "1000".to_string()));

    // Chunked: refused once the count passes the limit.
    let resp = chunked_post(addr, &[600, 600, 600]);
    assert_eq!(resp.status, 413, "{}", resp.text());
    let resp = chunked_post(addr, &[500, 400]);
    assert_eq!((resp.status, resp.text()), (200, "900".to_string()));
}

#[test]
fn a_process_over_its_memory_limit_is_replaced_after_its_request() {
    let dir = TestDir::new();
    let server = start_wsgi(
        &dir,
        &["--memory-limit", "80"],
        &[("PASSENGER_MEMORY_CHECK_INTERVAL_MS", "200")],
    );
    let first = app_pid(&server, "/pid");
    // Below the limit, checks come and go and the process stays.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(app_pid(&server, "/pid"), first);

    let grown = get(server.addr, "/grow?150");
    assert_eq!(grown.status, 200, "{}", grown.text());
    assert_eq!(
        pid_of(&grown, "/grow"),
        first,
        "the request itself completes"
    );
    let mut now = first;
    wait_until("the grown process is replaced", deadline(), || {
        now = app_pid(&server, "/pid");
        now != first
    });
    assert!(
        server.log().contains("above memory_limit"),
        "{}",
        server.log()
    );
}

#[test]
fn a_request_over_max_request_time_gets_504_and_a_new_process() {
    let dir = TestDir::new();
    let server = start_wsgi(&dir, &["--max-request-time", "2"], &[]);
    let first = app_pid(&server, "/pid");
    let started = Instant::now();
    // Long enough to pass the limit; short enough that the replaced process soon exits.
    let resp = crate::support::Request::new("GET", "/sleep?6")
        .send(server.addr)
        .expect("a response");
    let took = started.elapsed();
    assert_eq!(resp.status, 504, "{}", resp.text());
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(10),
        "504 after {took:?}"
    );
    let second = app_pid(&server, "/pid");
    assert_ne!(second, first, "the stuck process was replaced");
    // A request within the limit is unaffected.
    let resp = get(server.addr, "/sleep?0.5");
    assert_eq!(resp.status, 200);
}

#[test]
fn max_request_time_covers_generic_apps_too() {
    let (_dir, _root, server) = start_hello_app(&["--max-request-time", "1"]);
    let first = app_pid(&server, "/pid");
    let resp = crate::support::Request::new("GET", "/sleep?s=60")
        .send(server.addr)
        .expect("a response");
    assert_eq!(resp.status, 504, "{}", resp.text());
    assert!(
        poll(deadline(), || app_pid(&server, "/pid") != first),
        "a new process serves after the timeout"
    );
}
