//! Bodies: a streamed response arrives chunk by chunk, a large upload is streamed to the app.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::apps::{copy_app, require_rack};
use crate::support::{deadline, get, start_app, Request, TestDir};

#[test]
fn rack_streaming_body_arrives_chunk_by_chunk() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_stream");
    let server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    // Warm up, so the spawn is not part of the timing.
    assert_eq!(get(server.addr, "/").status, 200);

    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(deadline()))
        .expect("set timeout");
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .expect("send request");
    let started = Instant::now();
    let mut got = Vec::new();
    let mut first_chunk_at = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read the streamed response");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if first_chunk_at.is_none() && String::from_utf8_lossy(&got).contains("chunk 0") {
            first_chunk_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for want in ["chunk 0", "chunk 4", "last"] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    let first = first_chunk_at.expect("invariant: chunk 0 was seen above");
    // The app sleeps 0.5 s after each of 5 chunks: the first chunk must not wait for them.
    assert!(
        total.saturating_sub(first) >= Duration::from_millis(1500),
        "first chunk after {first:?}, whole body after {total:?}: the body was buffered"
    );
}

#[test]
fn rack_large_upload_is_streamed_to_the_app() {
    require_rack();
    let dir = TestDir::new();
    let root = copy_app(&dir, "rack_upload");
    let server = start_app(&dir, &root, &["--spawn-method", "direct"]);
    let size = 20 * 1024 * 1024;
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let resp = Request::new("POST", "/upload")
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .timeout(deadline() * 3)
        .send(server.addr)
        .expect("POST 20 MB");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), size.to_string(), "the app counted every byte");
}
