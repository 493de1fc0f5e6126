//! The proxy seen from a client: WebSocket/`Upgrade` tunnels, request and response bodies streamed
//! both ways, `X-Forwarded-*` and hop-by-hop headers, keep-alive client connections, the unix socket
//! listener, an app dying mid-request next to healthy siblings, `--restart-dir`, and how a failed
//! spawn is retried.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::support::http::read_response;
use crate::support::{
    app_pid, app_root, deadline, fixture, generic_start_args, get, passenger, pid_alive,
    start_fixture, start_hello_app, wait_until, ProcGuard, Request, Server, TestDir,
};

/// The byte at offset `i` of every generated test body: not a repeating power of two, so a dropped,
/// duplicated or reordered piece shows up at its offset.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Opens a client connection with the test deadline as read/write timeout.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, deadline())
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(deadline()))
        .expect("invariant: a positive timeout is accepted");
    stream
        .set_write_timeout(Some(deadline()))
        .expect("invariant: a positive timeout is accepted");
    stream
}

/// Reads one CRLF-terminated line without the line ending; panics on EOF.
fn line(r: &mut impl BufRead) -> String {
    let mut s = String::new();
    let n = r.read_line(&mut s).expect("read a line");
    assert!(n > 0, "connection closed mid-message");
    s.trim_end_matches(['\r', '\n']).to_string()
}

/// Reads a response head; returns the status and the headers (names lower-cased).
fn read_head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let status_line = line(r);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let l = line(r);
        if l.is_empty() {
            return (status, headers);
        }
        let (k, v) = l
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {l:?}"));
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
}

/// Streams a response body (chunked or Content-Length) into `sink` piece by piece.
fn read_body_streaming(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    mut sink: impl FnMut(&[u8]),
) {
    let mut buf = vec![0u8; 64 * 1024];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut copy = |r: &mut dyn Read, mut left: usize| {
        while left > 0 {
            let want = left.min(buf.len());
            r.read_exact(&mut buf[..want]).expect("read body bytes");
            sink(&buf[..want]);
            left -= want;
        }
    };
    if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let size_line = line(r);
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
            if size == 0 {
                while !line(r).is_empty() {}
                return;
            }
            copy(r, size);
            assert!(line(r).is_empty(), "chunk data is followed by CRLF");
        }
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("neither chunked nor Content-Length: {headers:?}"));
        copy(r, len);
    }
}

/// CRC-32 (IEEE), the same checksum as Python's `zlib.crc32`.
fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, slot) in table.iter_mut().enumerate() {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    let mut crc = !0u32;
    for b in data {
        crc = table[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[test]
fn websocket_upgrade_is_tunnelled_both_ways() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "websocket.py", &[]);

    let stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    write!(
        writer,
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    )
    .expect("send the upgrade request");
    let resp = read_response(&mut reader, false).expect("read the 101 response");
    assert_eq!(resp.status, 101, "{:?} {}", resp.headers, resp.text());
    assert!(
        resp.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "Upgrade header kept: {:?}",
        resp.headers
    );
    // RFC 6455's own example key and answer: the app's handshake reached the client unchanged.
    assert_eq!(
        resp.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{:?}",
        resp.headers
    );

    // A masked text frame "Hello" (RFC 6455 5.7), then a second one, each echoed byte for byte.
    let frame: [u8; 11] = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    for round in 0..2 {
        writer.write_all(&frame).expect("send a frame");
        let mut back = [0u8; 11];
        reader
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("read the echoed frame (round {round}): {e}"));
        assert_eq!(back, frame, "round {round}");
    }

    // Closing our side ends the tunnel: the app sees EOF, closes, and so does the core.
    writer
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .expect("the tunnel closes after the client half-closes");
    assert!(rest.is_empty(), "nothing after the echo: {rest:?}");

    // The process is still usable for ordinary requests afterwards.
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn a_50_mb_body_streams_both_ways() {
    const TOTAL: usize = 50 * 1024 * 1024;
    const FIRST: usize = 1024 * 1024;
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    // Request bodies are read whole before a process is chosen unless uploads stream
    // (tests/integration/buffering.rs); the response passes through its buffer as it comes.
    let server = start_fixture(&dir, &root, "stream_echo.py", &["--no-buffer-upload"]);
    app_pid(&server, "/");

    let stream = connect(server.addr);
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    let received = Arc::new(AtomicUsize::new(0));
    let writer_done = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let (rx_count, done) = (received.clone(), writer_done.clone());
    let writer_thread = thread::spawn(move || -> Result<(), String> {
        write!(
            writer,
            "POST /echo HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {TOTAL}\r\n\
             Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| format!("send head: {e}"))?;
        let body: Vec<u8> = (0..TOTAL).map(pattern).collect();
        writer
            .write_all(&body[..FIRST])
            .map_err(|e| format!("send the first MB: {e}"))?;
        // Streaming proof: part of the echo must come back while most of the request body has not
        // even been sent. A proxy that buffered the request (or the response) whole never gets here.
        let streamed =
            crate::support::wait::poll(deadline(), || rx_count.load(Ordering::SeqCst) >= 64 * 1024);
        if !streamed {
            return Err(format!(
                "no echo within {:?} after the first MB: a body is buffered, not streamed",
                deadline()
            ));
        }
        for piece in body[FIRST..].chunks(256 * 1024) {
            writer
                .write_all(piece)
                .map_err(|e| format!("send the body: {e}"))?;
        }
        done.store(true, Ordering::SeqCst);
        Ok(())
    });

    let (status, headers) = read_head(&mut reader);
    assert_eq!(status, 200, "{headers:?}");
    let mut offset = 0usize;
    let mut mismatch: Option<usize> = None;
    read_body_streaming(&mut reader, &headers, |data| {
        for (k, b) in data.iter().enumerate() {
            if mismatch.is_none() && *b != pattern(offset + k) {
                mismatch = Some(offset + k);
            }
        }
        offset += data.len();
        received.store(offset, Ordering::SeqCst);
    });
    let sent = writer_thread.join().expect("writer thread");
    assert_eq!(sent, Ok(()));
    assert!(writer_done.load(Ordering::SeqCst));
    assert_eq!(offset, TOTAL, "the whole body came back");
    assert_eq!(mismatch, None, "first differing byte offset");
}

#[test]
fn a_chunked_request_body_without_content_length_reaches_the_app() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let server = start_fixture(&dir, &root, "stream_echo.py", &[]);

    // Uneven chunk sizes, some bigger than any buffer on the way, ~5 MB in all.
    let sizes = [1usize, 7, 4096, 65_537, 1_000_000, 3, 3_000_000, 999_999];
    let total: usize = sizes.iter().sum();
    let body: Vec<u8> = (0..total).map(pattern).collect();
    let mut msg = format!(
        "POST /digest HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .into_bytes();
    let mut at = 0;
    for size in sizes {
        msg.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        msg.extend_from_slice(&body[at..at + size]);
        msg.extend_from_slice(b"\r\n");
        at += size;
    }
    msg.extend_from_slice(b"0\r\n\r\n");

    let mut stream = connect(server.addr);
    stream.write_all(&msg).expect("send the chunked request");
    let resp = read_response(&mut BufReader::new(stream), false).expect("read the response");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let digest = resp.json();
    assert_eq!(digest["length"], total as u64, "{digest}");
    assert_eq!(digest["crc32"], u64::from(crc32(&body)), "{digest}");
}

#[test]
fn forwarded_headers_are_added_and_host_is_kept() {
    let (_dir, _root, server) = start_hello_app(&[]);

    let resp = Request::new("GET", "/headers")
        .header("Host", "shop.example.test:8123")
        .send(server.addr)
        .expect("GET /headers");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let headers = &resp.json()["headers"];
    assert_eq!(headers["host"], "shop.example.test:8123", "{headers}");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "{headers}");
    assert_eq!(headers["x-forwarded-proto"], "http", "{headers}");
}

#[test]
fn hop_by_hop_headers_are_not_forwarded() {
    let (_dir, _root, server) = start_hello_app(&[]);

    let resp = Request::new("GET", "/headers")
        .header("Connection", "close, x-foo")
        .header("X-Foo", "secret")
        .header("Keep-Alive", "timeout=5")
        .header("X-Kept", "yes")
        .send(server.addr)
        .expect("GET /headers");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let headers = &resp.json()["headers"];
    assert_eq!(
        headers["x-kept"], "yes",
        "an end-to-end header is forwarded"
    );
    for name in ["x-foo", "keep-alive"] {
        assert!(
            headers.get(name).is_none(),
            "{name} is hop-by-hop and must not reach the app: {headers}"
        );
    }
    assert_ne!(
        headers["connection"], "close, x-foo",
        "the client's Connection header is not passed through: {headers}"
    );
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (_dir, _root, server) = start_hello_app(&[]);

    let stream = connect(server.addr);
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    let host = server.addr;
    for i in 0..5 {
        write!(writer, "GET /pid?n={i} HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("send GET");
        let resp = read_response(&mut reader, false)
            .unwrap_or_else(|e| panic!("response {i} on the same connection: {e}"));
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["path"], format!("/pid?n={i}"));
        assert!(
            !resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close")),
            "the core keeps the connection open: {:?}",
            resp.headers
        );
    }
    let body = "a body in between";
    write!(
        writer,
        "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send POST");
    let resp = read_response(&mut reader, false).expect("the POST on the same connection");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), body);

    write!(
        writer,
        "GET /pid HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the last GET");
    let resp = read_response(&mut reader, false).expect("the last response");
    assert_eq!(resp.status, 200);
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .expect("the core closes after Connection: close");
    assert!(rest.is_empty(), "nothing after the last response: {rest:?}");
}

#[test]
fn serves_http_on_a_unix_socket() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let socket = dir.join("p.sock");
    let log = std::fs::File::create(dir.join("passenger.log")).expect("create the log file");
    let log2 = log.try_clone().expect("clone the log file");
    let mut cmd = passenger(&dir);
    cmd.arg("start")
        .arg(&root)
        .arg("--socket")
        .arg(&socket)
        .arg("--app-start-command")
        .arg(crate::support::py_command("hello.py"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let _guard = ProcGuard::spawn("passenger", &mut cmd, &dir);

    let request = |path: &str| -> std::io::Result<crate::support::http::Response> {
        let mut s = UnixStream::connect(&socket)?;
        s.set_read_timeout(Some(deadline()))?;
        s.set_write_timeout(Some(deadline()))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        read_response(&mut BufReader::new(s), false)
    };
    wait_until("the unix socket accepts connections", deadline(), || {
        request("/").is_ok()
    });
    let resp = request("/headers").expect("GET /headers over the unix socket");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["path"], "/headers");
    assert_eq!(body["headers"]["host"], "localhost");
    // The banner may trail the first accepted connection by a moment.
    let read_log = || std::fs::read_to_string(dir.join("passenger.log")).unwrap_or_default();
    wait_until("the banner is printed", deadline(), || {
        read_log().contains("Accessible via:")
    });
    let log = read_log();
    let via: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Accessible via:"))
        .collect();
    let socket_str = socket.to_string_lossy().into_owned();
    assert!(
        !via.is_empty() && via.iter().all(|l| l.contains(&socket_str)),
        "the banner names the socket and only the socket (--socket replaces the TCP listener):\n{log}"
    );
}

/// Sends `n` concurrent `/sleep?s=<secs>` requests and returns their pids (all must be 200).
fn concurrent_pids(addr: SocketAddr, n: usize, secs: &str) -> Vec<i32> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let target = format!("/sleep?s={secs}");
            thread::spawn(move || get(addr, &target))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| {
            let resp = h.join().expect("request thread");
            assert_eq!(resp.status, 200, "{}", resp.text());
            crate::support::pid_of(&resp, "a slow request")
        })
        .collect()
}

#[test]
fn an_app_dying_mid_request_fails_only_that_request() {
    let (dir, _root, server) = start_hello_app(&[
        "--min-instances",
        "3",
        "--max-pool-size",
        "3",
        "--force-max-concurrent-requests-per-process",
        "1",
    ]);
    let addr = server.addr;
    // Wait until three processes serve at once (min-instances starts them with the server).
    let mut before = BTreeSet::new();
    wait_until("three processes serve concurrently", deadline() * 2, || {
        before = concurrent_pids(addr, 3, "0.3").into_iter().collect();
        before.len() == 3
    });

    // Two slow requests occupy two processes; the third process crashes mid-response.
    let marks: Vec<_> = (0..2).map(|i| dir.join(&format!("slow-{i}"))).collect();
    let slow: Vec<_> = marks
        .iter()
        .map(|mark| {
            let target = format!("/sleep?s=2&mark={}", mark.display());
            thread::spawn(move || get(addr, &target))
        })
        .collect();
    wait_until("both slow requests reached an app", deadline(), || {
        marks.iter().all(|m| m.exists())
    });
    let crash = get(addr, "/crash");
    assert_eq!(crash.status, 502, "{}", crash.text());

    let survivors: BTreeSet<i32> = slow
        .into_iter()
        .map(|h| {
            let resp = h.join().expect("request thread");
            assert_eq!(
                resp.status,
                200,
                "a request on another process failed: {}",
                resp.text()
            );
            crate::support::pid_of(&resp, "a request on another process")
        })
        .collect();
    assert_eq!(survivors.len(), 2, "the slow requests ran on two processes");
    let dead: Vec<i32> = before.difference(&survivors).copied().collect();
    assert_eq!(dead.len(), 1, "before {before:?}, survivors {survivors:?}");
    let dead = dead[0];
    wait_until("the crashed process is gone", deadline(), || {
        !pid_alive(dead)
    });

    // The pool is back to three working processes, none of them the dead one.
    let mut after = BTreeSet::new();
    wait_until(
        "three processes serve again, the dead one replaced",
        deadline() * 2,
        || {
            after = concurrent_pids(addr, 3, "0.3").into_iter().collect();
            after.len() == 3
        },
    );
    assert!(!after.contains(&dead), "{after:?} still has {dead}");
    assert!(
        survivors.is_subset(&after),
        "the healthy processes were kept: {survivors:?} vs {after:?}"
    );
}

#[test]
fn restart_dir_moves_restart_txt() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    std::fs::create_dir_all(root.join("custom/restart")).expect("create the restart dir");
    let server = start_fixture(
        &dir,
        &root,
        "hello.py",
        &[
            "--restart-dir",
            "custom/restart",
            "--stat-throttle-rate",
            "0",
        ],
    );
    let first = app_pid(&server, "/");

    std::fs::write(root.join("tmp/restart.txt"), "").expect("touch tmp/restart.txt");
    assert_eq!(
        app_pid(&server, "/"),
        first,
        "tmp/restart.txt is not looked at when --restart-dir says otherwise"
    );

    std::fs::write(root.join("custom/restart/restart.txt"), "").expect("touch restart.txt");
    let second = app_pid(&server, "/");
    assert_ne!(
        second, first,
        "restart.txt in --restart-dir restarts the app"
    );
    wait_until("the old process exits", deadline(), || !pid_alive(first));
    assert_eq!(app_pid(&server, "/"), second, "and only once");
}

#[test]
fn a_failed_spawn_is_retried_on_a_later_request_not_in_a_loop() {
    let dir = TestDir::new();
    let root = app_root(&dir, "app");
    let counter = dir.join("spawn-attempts");
    let broken = dir.join("broken");
    std::fs::write(&broken, "").expect("create the broken marker");
    let start_cmd = format!(
        "python3 {} {} {}",
        fixture("counted_start.py").display(),
        counter.display(),
        broken.display()
    );
    let server = Server::start(
        &dir,
        &generic_start_args(&root, &start_cmd, &["--min-instances", "2"]),
    );
    let attempts = || {
        std::fs::read_to_string(&counter)
            .unwrap_or_default()
            .lines()
            .count()
    };

    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500, "the spawn error page: {}", resp.text());
    let after_first = attempts();
    assert!(after_first >= 1, "the request triggered a spawn attempt");

    // A quiet period with no requests: a retry loop (or min-instances topping up a failing group)
    // would show up as more attempts. This wait is the behavior under test, not a readiness wait.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        attempts(),
        after_first,
        "spawn attempts without any request:\n{}",
        server.log()
    );

    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 500, "still broken: {}", resp.text());
    let after_second = attempts();
    assert!(
        after_second > after_first,
        "a later request retries the spawn ({after_first} -> {after_second})"
    );

    std::fs::remove_file(&broken).expect("fix the app");
    let resp = get(server.addr, "/pid");
    assert_eq!(resp.status, 200, "the fixed app serves: {}", resp.text());
}
