//! Body buffering (issue 15): a slow client never holds an app process. Responses are drained from
//! the app into the core (128 KiB in memory, then an unlinked file, up to
//! `--response-buffer-high-watermark` in all)
//! and request bodies are read whole before a process is checked out; a request body that ends
//! early or whose chunked framing is broken gets 400 and never reaches the app, and with
//! `--no-buffer-upload` the app sees an error instead of a shorter body.
//!
//! The app is `tests/fixtures/apps/wsgi_buffers` behind a pool of one process, so any request that
//! held the process would stall every other.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::admin::instance_dir;
use crate::support::apps::{copy_app, require_python, require_rack};
use crate::support::http::read_response;
use crate::support::process::proc_kb;
use crate::support::{deadline, start_app, wait_until, Request, Server, TestDir};

/// How long a request may take while another client is slow: far below the minutes the slow
/// client would hold the process for.
const PROMPT: Duration = Duration::from_secs(5);

/// Byte `i` of every body the fixture sends.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Starts the fixture app with a pool of one process, recording uploads in `record.jsonl`.
fn start(dir: &TestDir, extra: &[&str]) -> (Server, PathBuf) {
    start_app_named(dir, "wsgi_buffers", extra)
}

/// [`start`] with the fixture app `app` (`wsgi_buffers` or `rack_buffers`).
fn start_app_named(dir: &TestDir, app: &str, extra: &[&str]) -> (Server, PathBuf) {
    if app.starts_with("rack") {
        require_rack();
    } else {
        require_python();
    }
    let root = copy_app(dir, app);
    let record = dir.join("record.jsonl");
    let env = format!("RECORD_FILE={}", record.display());
    let mut flags = vec!["--max-pool-size", "1", "--envvar", &env];
    flags.extend_from_slice(extra);
    let server = start_app(dir, &root, &flags);
    // The process is up and has answered once.
    let warm = Request::new("GET", "/fast")
        .send(server.addr)
        .expect("GET /fast");
    assert_eq!(warm.status, 200);
    (server, record)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, deadline()).expect("connect");
    stream.set_read_timeout(Some(deadline())).expect("timeout");
    stream.set_write_timeout(Some(deadline())).expect("timeout");
    stream
}

/// `GET /fast` answers 200 within [`PROMPT`].
fn assert_prompt(addr: SocketAddr, while_what: &str) {
    let asked = Instant::now();
    let resp = Request::new("GET", "/fast").timeout(PROMPT).send(addr);
    let took = asked.elapsed();
    match resp {
        Ok(resp) => assert_eq!(resp.status, 200, "{while_what}: {}", resp.text()),
        Err(err) => panic!("{while_what}: GET /fast got no answer in {took:?}: {err}"),
    }
    assert!(took < PROMPT, "{while_what}: GET /fast took {took:?}");
}

/// Asks for `/big?n=<n>` on a new connection and reads nothing yet.
fn ask_big(addr: SocketAddr, n: u64) -> TcpStream {
    let mut stream = connect(addr);
    write!(
        stream,
        "GET /big?n={n} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    stream
}

/// Reads the response to [`ask_big`] and checks every byte.
fn read_big(stream: TcpStream, n: u64) {
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 200"), "{line:?}");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            assert_eq!(v.trim(), n.to_string());
        }
    }
    let mut got: u64 = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = reader.read(&mut buf).expect("read body");
        if k == 0 {
            break;
        }
        for (j, b) in buf[..k].iter().enumerate() {
            assert_eq!(
                *b,
                pattern(got + j as u64),
                "byte {} differs",
                got + j as u64
            );
        }
        got += k as u64;
    }
    assert_eq!(got, n, "the whole body arrived");
}

/// The lines the app recorded so far.
fn recorded(record: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The core's pid, from the instance's `properties.json`.
fn core_pid(dir: &TestDir, server: &Server) -> u32 {
    let props = crate::admin::properties(&instance_dir(dir, server));
    let pid = props["core_pid"].as_u64().expect("core_pid");
    u32::try_from(pid).expect("a pid")
}

/// Sizes of the unlinked buffer files the core holds open.
fn buffer_files(pid: u32) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                let t = target.to_string_lossy();
                t.contains("/buffers/") && t.ends_with("(deleted)")
            })
        })
        .filter_map(|fd| std::fs::metadata(fd.path()).ok().map(|m| m.len()))
        .collect()
}

#[test]
fn a_slow_reader_does_not_hold_the_only_process() {
    let dir = TestDir::new();
    let (server, _) = start(&dir, &[]);
    const N: u64 = 20_000_000;
    // A client that asks for 20 MB and reads none of it (yet).
    let slow = ask_big(server.addr, N);
    std::thread::sleep(Duration::from_millis(300)); // let the app start writing
    assert_prompt(server.addr, "while a client does not read its 20 MB");
    assert_prompt(server.addr, "again");
    // The slow client still gets every byte, from the core's buffer.
    read_big(slow, N);
}

#[test]
fn an_app_that_opts_out_streams_its_responses_and_keeps_its_process_busy() {
    let dir = TestDir::new();
    let (server, _) = start(&dir, &["--no-buffer-response"]);
    const N: u64 = 20_000_000;
    let slow = ask_big(server.addr, N);
    std::thread::sleep(Duration::from_millis(300));
    // Unbuffered, the process writes into the client's full socket until it reads: the other
    // request waits (as with the original's `PassengerBufferResponse off`).
    let other = Request::new("GET", "/fast")
        .timeout(Duration::from_secs(2))
        .send(server.addr);
    assert!(
        other.is_err(),
        "answered while the process was busy: {other:?}"
    );
    read_big(slow, N);
    assert_prompt(server.addr, "once the slow client has read everything");
}

#[test]
fn buffered_responses_go_to_unlinked_files_and_the_core_stays_small() {
    let dir = TestDir::new();
    let (server, _) = start(&dir, &[]);
    let core = core_pid(&dir, &server);
    let before_kb = proc_kb(core, "VmRSS");
    const N: u64 = 40_000_000;
    let slow: Vec<TcpStream> = (0..3).map(|_| ask_big(server.addr, N)).collect();
    // The app writes all three (one after the other, pool of one) while nobody reads: what
    // the sockets do not hold is in the core's files.
    wait_until(
        "three buffer files holding most of the three responses",
        deadline(),
        || {
            let files = buffer_files(core);
            files.len() == 3 && files.iter().all(|len| *len > N / 2)
        },
    );
    assert_prompt(server.addr, "while three clients read nothing");
    let after_kb = proc_kb(core, "VmRSS");
    // 128 KiB of each response stays in memory; the rest is in the files.
    assert!(
        after_kb < before_kb + 30 * 1024,
        "core RSS grew from {before_kb} kB to {after_kb} kB with {} MB buffered",
        3 * N / 1_000_000
    );
    for stream in slow {
        read_big(stream, N);
    }
    wait_until("the buffer files are closed", deadline(), || {
        buffer_files(core).is_empty()
    });
    let instance = instance_dir(&dir, &server);
    let left: Vec<_> = std::fs::read_dir(instance.join("buffers"))
        .expect("the default buffer dir is in the instance dir")
        .collect();
    assert!(left.is_empty(), "buffer files are unlinked: {left:?}");
}

#[test]
fn past_the_high_watermark_the_app_is_read_no_further() {
    let dir = TestDir::new();
    const WATERMARK: u64 = 4 * 1024 * 1024;
    let (server, _) = start(
        &dir,
        &["--response-buffer-high-watermark", &WATERMARK.to_string()],
    );
    let core = core_pid(&dir, &server);
    const N: u64 = 40_000_000;
    let slow = ask_big(server.addr, N);
    wait_until("a buffer file at the watermark", deadline(), || {
        buffer_files(core)
            .first()
            .is_some_and(|len| *len >= WATERMARK / 2)
    });
    // The file also holds what already went into the sockets to the client (a few MB on
    // loopback); without the watermark it would hold nearly all 40 MB.
    std::thread::sleep(Duration::from_millis(500));
    let held = buffer_files(core);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(buffer_files(core), held, "the app is read no further");
    assert!(
        held.len() == 1 && held[0] < N / 4,
        "the buffer stops near the watermark: {held:?}"
    );
    read_big(slow, N);
    assert_prompt(server.addr, "once the client has read everything");
}

#[test]
fn slow_uploads_do_not_hold_the_only_process() {
    let dir = TestDir::new();
    let (server, record) = start(&dir, &[]);
    const N: usize = 5_000_000;
    let body: Vec<u8> = (0..N as u64).map(pattern).collect();
    // Two uploads that stall after their first 100 kB.
    let mut slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(server.addr);
            write!(
                s,
                "POST /record HTTP/1.1\r\nHost: t\r\nContent-Length: {N}\r\n\r\n"
            )
            .expect("head");
            s.write_all(&body[..100_000]).expect("first part");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_prompt(server.addr, "while two uploads stall");
    assert!(
        recorded(&record).is_empty(),
        "no upload reached the app yet"
    );
    for s in &mut slow {
        s.write_all(&body[100_000..]).expect("the rest");
    }
    let crc = crc32(&body);
    for s in slow {
        let resp = read_response(&mut BufReader::new(s), false).expect("response");
        assert_eq!(resp.status, 200);
        let v = resp.json();
        assert_eq!(v["length"], N as u64, "{v}");
        assert_eq!(v["crc32"], crc, "{v}");
    }
}

/// The test's own CRC-32 (IEEE), to compare with what the app computed.
fn crc32(data: &[u8]) -> u64 {
    let mut crc: u32 = !0;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    u64::from(!crc)
}

/// Sends `raw` (head and body) on a new connection, with `end` ends its writing side, and
/// returns the status of the answer.
fn send_raw(addr: SocketAddr, raw: &[u8], end: bool) -> u16 {
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send");
    if end {
        stream.shutdown(Shutdown::Write).expect("shutdown");
    }
    let resp = read_response(&mut BufReader::new(stream), false)
        .unwrap_or_else(|e| panic!("no answer to {:?}: {e}", String::from_utf8_lossy(raw)));
    resp.status
}

/// Request bodies that end early or break chunked framing, each with what makes it broken.
const BROKEN: &[(&str, &[u8])] = &[
    (
        "bad chunk size",
        b"POST /record HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n",
    ),
    (
        "chunk size overflow",
        b"POST /record HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nfffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    ),
    (
        "missing CRLF after chunk data",
        b"POST /record HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
    ),
    (
        "chunked body without its last chunk",
        b"POST /record HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ),
    (
        "shorter than its Content-Length",
        b"POST /record HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b",
    ),
];

#[test]
fn broken_request_bodies_get_400_and_never_reach_the_app() {
    let dir = TestDir::new();
    let (server, record) = start(&dir, &[]);
    for (what, raw) in BROKEN {
        assert_eq!(send_raw(server.addr, raw, true), 400, "{what}");
    }
    assert_eq!(
        recorded(&record),
        Vec::<serde_json::Value>::new(),
        "no broken body reached the app"
    );
    // A good chunked body does, whole, as a body of known length.
    let good = b"POST /record HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(send_raw(server.addr, good, false), 200);
    let lines = recorded(&record);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["length"], 11);
    assert_eq!(lines[0]["crc32"], crc32(b"hello world"));
    assert_prompt(server.addr, "after the broken bodies");
}

#[test]
fn a_streamed_body_that_breaks_off_is_an_error_for_a_wsgi_app() {
    streamed_broken_bodies_are_errors("wsgi_buffers");
}

#[test]
fn a_streamed_body_that_breaks_off_is_an_error_for_a_rack_app() {
    streamed_broken_bodies_are_errors("rack_buffers");
}

/// With `--no-buffer-upload`, every [`BROKEN`] body reaches `app` as an error from its input,
/// never as a shorter body that looks whole; a good chunked body still arrives whole.
fn streamed_broken_bodies_are_errors(app: &str) {
    let dir = TestDir::new();
    let (server, record) = start_app_named(&dir, app, &["--no-buffer-upload"]);
    let good = b"POST /record HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(send_raw(server.addr, good, false), 200);
    let lines = recorded(&record);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["length"], 11, "a good chunked body arrives whole");
    for (what, raw) in BROKEN {
        let before = recorded(&record).len();
        let mut stream = connect(server.addr);
        stream.write_all(raw).expect("send");
        stream.shutdown(Shutdown::Write).expect("shutdown");
        // Whatever the client gets (the app may answer before the core notices), the app
        // must not have seen a complete-looking body.
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        let mut lines = Vec::new();
        wait_until(
            &format!("{what}: the app recorded the request"),
            deadline(),
            || {
                lines = recorded(&record);
                lines.len() > before
            },
        );
        let line = &lines[before];
        assert!(
            line.get("error").is_some(),
            "{what}: the app took a broken body for a whole one: {line}"
        );
    }
    assert_prompt(server.addr, "after the broken bodies");
}
