//! Entry points for fuzzing (`fuzz/`, with the `fuzzing` feature) shared with the
//! property tests: each takes raw bytes, drives one path where outside input meets
//! our code, and panics only when a property is broken.
//!
//! Not part of the API: it exists so that `cargo fuzz` targets, which are separate
//! crates, can reach crate-internal code.

use std::sync::atomic::Ordering;

use http::Request;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::limits::{check_head, HttpLimits, LimitedBody};

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("invariant: a current-thread runtime can be built")
}

/// Raw bytes from a client through hyper (configured as the server is) and our head
/// checks and body limit: any answer is a well-formed status line.
pub fn http_front(data: &[u8]) {
    let answer = paused_runtime().block_on(serve_with(data.to_vec(), 100));
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
}

/// Raw bytes from a loader as a response head: parsed or refused, never a panic.
pub fn loader_head(data: &[u8]) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("invariant: a current-thread runtime can be built")
        .block_on(async {
            let (mut loader, core) = tokio::net::UnixStream::pair().expect("a socket pair");
            let (mut read, _write) = core.into_split();
            let _ = loader.write_all(data).await;
            drop(loader);
            let _ = crate::loader::read_head(&mut read, false).await;
        });
}

/// Bytes as a multi-app TOML file (next to an app `blog/`): loads or names problems.
pub fn config_toml(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("blog")).expect("mkdir");
    std::fs::write(dir.path().join("blog/config.ru"), "").expect("write");
    let file = dir.path().join("apps.toml");
    std::fs::write(&file, data).expect("write");
    let opts = crate::config::StartOptions {
        config_file: Some(file),
        ..Default::default()
    };
    if let Err(crate::config::ConfigError::Invalid { problems }) = crate::config::load(&opts) {
        assert!(!problems.is_empty());
    }
}

/// Bytes as a `Passengerfile.json` of a Rack app: loads or names problems.
pub fn passengerfile(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("config.ru"), "").expect("write");
    std::fs::write(dir.path().join("Passengerfile.json"), data).expect("write");
    let opts = crate::config::StartOptions {
        app_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    if let Err(crate::config::ConfigError::Invalid { problems }) = crate::config::load(&opts) {
        assert!(!problems.is_empty());
    }
}

/// A request path as static file lookup decodes it: never a segment that leaves
/// `public/`.
pub fn static_path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(segments) = crate::proxy::static_files::decode_path(path) {
        for seg in segments {
            assert!(!seg.is_empty() && seg != b"." && seg != b"..", "{path:?}");
            assert!(!seg.contains(&b'/') && !seg.contains(&b'\\') && !seg.contains(&0));
        }
    }
}

/// Bytes as a sequence of pool inputs (three bytes each), run through the pool
/// harness: every invariant holds after every input.
pub fn pool_ops(data: &[u8]) {
    use crate::pool::state::harness::{run, Op};
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let ops = rest
        .chunks_exact(3)
        .map(|c| {
            let (a, b) = (usize::from(c[1]), c[2]);
            match c[0] % 13 {
                0..=2 => Op::Checkout {
                    app: a % 3,
                    pipelinable: b & 1 == 1,
                },
                3 => Op::Cancel(a),
                4 | 5 => Op::Close {
                    pick: a,
                    outcome: b % 4,
                },
                6 | 7 => Op::SpawnDone {
                    pick: a,
                    ok: b % 8 != 0,
                    concurrency: [1, 1, 2, 0, -1][usize::from(b >> 3) % 5],
                    pipeline: b & 0x80 != 0,
                },
                8 => Op::Exit(a),
                9 => Op::Tick([1, 5, 30, 400, 70_000][usize::from(b) % 5]),
                10 => Op::Restart {
                    app: a % 3,
                    rolling: b & 1 == 1,
                },
                11 => match b % 5 {
                    0 => Op::Detach(a),
                    1 => Op::Memory(a),
                    2 => Op::OobDone(a),
                    3 => Op::Prestart(a % 3),
                    _ => Op::GrowPool(u32::from(b % 3)),
                },
                _ => {
                    if b == 0xff {
                        Op::Shutdown
                    } else {
                        Op::Tick(1)
                    }
                }
            }
        })
        .collect();
    if let Err(broken) = run(u32::from(size % 4) + 1, ops) {
        panic!("pool invariant broken: {broken}");
    }
}

/// Serves one connection whose client sends `raw` and closes its write side;
/// returns what the server wrote. The service is the server's front: our head
/// checks, then the body read through the limit.
pub async fn serve_with(raw: Vec<u8>, max_body: u64) -> Vec<u8> {
    let limits = HttpLimits {
        max_header_size: 8192,
        max_request_line: 512,
        max_request_body_size: max_body,
        ..HttpLimits::default()
    };
    let (client, server) = tokio::io::duplex(64 * 1024);
    let service =
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
            if let Some(refused) = check_head(&req, &limits) {
                return Ok::<_, std::convert::Infallible>(refused);
            }
            let (parts, body) = req.into_parts();
            let (body, flag) = LimitedBody::new(body, &parts.headers, &limits);
            let got = body.collect().await;
            if flag.is_some_and(|f| f.load(Ordering::Relaxed)) {
                return Ok(crate::server::limits::body_too_large(
                    None,
                    limits.max_request_body_size,
                ));
            }
            Ok(match got {
                Ok(c) => {
                    http::Response::new(crate::proxy::full_body(c.to_bytes().len().to_string()))
                }
                Err(_) => crate::proxy::error_page::bad_request(),
            })
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_header_size(limits.max_header_size)
        .preserve_header_case(true)
        .title_case_headers(true);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(server), service);
    let (mut read, mut write) = tokio::io::split(client);
    // The client keeps its side open (as a browser does): a request hyper cannot
    // finish waits, and the paused clock ends the wait at once.
    let _ = write.write_all(&raw).await;
    let server = async move {
        let _ = conn.await;
    };
    tokio::pin!(server);
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(5));
    tokio::pin!(deadline);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut server_done = false;
    loop {
        tokio::select! {
            n = read.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            },
            () = &mut server, if !server_done => server_done = true,
            () = &mut deadline => break,
        }
    }
    drop(write);
    out
}

/// A pool for the admin API target: one group, restarts and detaches accepted.
struct NoPool;

impl crate::admin::PoolApi for NoPool {
    fn snapshot(
        &self,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<crate::pool::PoolSnapshot, crate::pool::PoolError>,
    > {
        Box::pin(async {
            Ok(crate::pool::PoolSnapshot {
                max_pool_size: 1,
                capacity_used: 0,
                top_level_queue_len: 0,
                groups: Vec::new(),
            })
        })
    }
    fn restart_group<'a>(
        &'a self,
        name: &'a str,
        _method: crate::pool::RestartMethod,
    ) -> futures_util::future::BoxFuture<'a, Result<(), crate::pool::PoolError>> {
        Box::pin(async move {
            assert!(
                !name.is_empty(),
                "a restart reached the pool without a name"
            );
            Ok(())
        })
    }
    fn detach_process(
        &self,
        _pid: u32,
    ) -> futures_util::future::BoxFuture<'_, Result<bool, crate::pool::PoolError>> {
        Box::pin(async { Ok(false) })
    }
}

/// The admin server the `admin_json` target talks to, started once per process.
struct AdminFixture {
    rt: tokio::runtime::Runtime,
    socket: std::path::PathBuf,
    _registry: tempfile::TempDir,
    _instance: crate::instance::Instance,
}

fn admin_fixture() -> &'static AdminFixture {
    static FIXTURE: std::sync::OnceLock<AdminFixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("invariant: a current-thread runtime can be built");
        let registry = tempfile::tempdir().expect("a temporary directory");
        let instance = crate::instance::Instance::create(
            Some(registry.path()),
            crate::instance::InstanceProperties::default(),
        )
        .expect("an instance directory");
        let socket = instance.core_api_socket_path();
        let info = crate::admin::ServerInfo {
            pid: std::process::id(),
            version: crate::VERSION.into(),
            server_software: crate::SERVER_SOFTWARE.into(),
            instance_name: String::new(),
            instance_dir: std::path::PathBuf::new(),
            listen_addresses: Vec::new(),
            started_at: std::time::SystemTime::now(),
        };
        let state = std::sync::Arc::new(crate::admin::AdminState::for_instance(
            std::sync::Arc::new(NoPool),
            &instance,
            info,
            crate::admin::AdminCallbacks::noop(),
            crate::admin::LogLevel::Notice,
        ));
        let listener = rt
            .block_on(async { crate::admin::bind(&socket) })
            .expect("bind");
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        std::mem::forget(stop_tx);
        rt.spawn(crate::admin::serve(listener, state, stop));
        AdminFixture {
            rt,
            socket,
            _registry: registry,
            _instance: instance,
        }
    })
}

/// Bytes as the JSON body of one of the admin API's write endpoints (the first byte
/// picks which): the answer is a status the API documents.
pub fn admin_json(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let (method, path) = [
        ("POST", "/pool/restart_app_group.json"),
        ("POST", "/pool/detach_process.json"),
        ("PUT", "/config.json"),
    ][usize::from(which) % 3];
    let f = admin_fixture();
    let body = bytes::Bytes::copy_from_slice(body);
    let status = f.rt.block_on(async {
        let stream = tokio::net::UnixStream::connect(&f.socket)
            .await
            .expect("connect");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .body(http_body_util::Full::new(body))
            .expect("a request");
        sender.send_request(req).await.expect("an answer").status()
    });
    assert!(
        [200, 400, 413, 422, 500].contains(&status.as_u16()),
        "{method} {path}: {status}"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_takes_empty_and_odd_input() {
        for data in [
            &b""[..],
            b"\x00",
            b"GET / HTTP/1.1\r\n\r\n",
            b"{\"pid\": 1}",
            b"\xff\xfe",
        ] {
            super::http_front(data);
            super::loader_head(data);
            super::config_toml(data);
            super::passengerfile(data);
            super::static_path(data);
            super::pool_ops(data);
            super::admin_json(data);
        }
    }
}
