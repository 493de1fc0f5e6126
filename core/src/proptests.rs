//! Property tests over the paths where outside bytes meet our code: the HTTP head
//! and chunked body as the core sees them (header handling, forwarded headers, the
//! limits), route and static path decoding, the configuration files, and the
//! loader response head. The pool's are in `pool::state::proptests`, the admin API
//! JSON bodies' in `core/tests/admin_api.rs`. `fuzz/` has the same targets for long
//! runs (bench/README.md).
//!
//! Case counts are small so that CI runs them in seconds; `PROPTEST_CASES=N` raises
//! them for a longer local run.

use proptest::prelude::*;

/// `default` cases, or `PROPTEST_CASES` when set.
pub(crate) fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // No regression files in the source tree: a failure prints its minimal case,
        // which becomes a unit test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

mod http_front {
    //! The request head and body as the core handles them after hyper parsed them,
    //! and the whole path through hyper with our limits for raw bytes.

    use std::sync::atomic::Ordering;

    use bytes::Bytes;
    use http::header::{HeaderMap, HeaderName, HeaderValue};
    use http::{Request, StatusCode};
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use proptest::prelude::*;

    use crate::loader::{header_block, RequestInfo};
    use crate::proxy::forward::{
        build_upstream_request, keep_only_end_to_end, PeerInfo, HOP_BY_HOP,
    };
    use crate::server::limits::{check_head, HttpLimits, LimitedBody};

    fn header_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "connection",
                "keep-alive",
                "proxy-connection",
                "te",
                "trailer",
                "transfer-encoding",
                "upgrade",
                "host",
                "content-length",
                "content-type",
                "x-forwarded-for",
                "x-secret",
                "cookie",
            ])
            .prop_map(str::to_string),
            "[a-zA-Z][a-zA-Z0-9!#$%&'*+.^_`|~-]{0,12}",
        ]
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![0x20u8..0x7f, Just(b','), Just(b'\t'), 0x80u8..=0xff],
            0..40,
        )
    }

    fn headers() -> impl Strategy<Value = HeaderMap> {
        prop::collection::vec((header_name(), header_value()), 0..12).prop_map(|pairs| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(&value),
                ) {
                    map.append(n, v);
                }
            }
            map
        })
    }

    fn target() -> impl Strategy<Value = String> {
        prop_oneof![
            "/[a-zA-Z0-9%./?=&_~:@!$'()*+,;-]{0,60}",
            Just("*".to_string()),
            "http://[a-z]{1,8}(:[0-9]{1,5})?/[a-z0-9/%.]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(super::config(128))]

        #[test]
        fn hop_by_hop_headers_and_those_connection_names_never_pass(mut h in headers(), upgrade: bool) {
            let named: Vec<HeaderName> = h
                .get_all(http::header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
                .collect();
            let others: usize = h
                .keys()
                .filter(|k| !HOP_BY_HOP.contains(k) && !named.contains(k))
                .map(|k| h.get_all(k).iter().count())
                .sum();
            keep_only_end_to_end(&mut h, upgrade);
            for name in HOP_BY_HOP.iter().chain(named.iter()) {
                let allowed = upgrade
                    && (*name == http::header::UPGRADE || *name == http::header::CONNECTION);
                prop_assert!(allowed || !h.contains_key(name), "{name} passed: {h:?}");
            }
            let kept: usize = h
                .keys()
                .filter(|k| **k != http::header::UPGRADE && **k != http::header::CONNECTION)
                .map(|k| h.get_all(k).iter().count())
                .sum();
            prop_assert!(kept >= others.saturating_sub(2) && kept <= others, "{kept} of {others}");
        }

        #[test]
        fn forwarded_headers_name_the_peer_and_the_target_is_kept(
            h in headers(), target in target(), https: bool, ip: [u8; 4], port: u16,
        ) {
            let Ok(req) = Request::get(target.as_str()).body(()) else { return Ok(()) };
            let (mut parts, ()) = req.into_parts();
            parts.headers = h;
            let peer = PeerInfo::new(Some((ip, port).into()), https);
            let up = build_upstream_request(&parts, crate::proxy::empty_body(), &peer, false);
            let ip_text = std::net::Ipv4Addr::from(ip).to_string();
            let xff = up.headers()["x-forwarded-for"].to_str().unwrap_or("").to_string();
            prop_assert!(xff.ends_with(&ip_text), "{xff}");
            prop_assert_eq!(&up.headers()["x-forwarded-proto"], if https { "https" } else { "http" });
            let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            prop_assert_eq!(up.uri().path_and_query().map_or("/", |pq| pq.as_str()), pq);
        }

        #[test]
        fn session_header_blocks_are_well_formed(
            h in headers(), target in target(), https: bool, base in prop::option::of("/[a-z]{1,6}"),
        ) {
            let Ok(req) = Request::post(target.as_str()).body(()) else { return Ok(()) };
            let (mut parts, ()) = req.into_parts();
            parts.headers = h;
            let info = RequestInfo {
                parts: &parts,
                base_uri: base.as_deref(),
                remote: Some(([127, 0, 0, 1], 4000).into()),
                https,
                vars: &[],
                connect_password: Some("secret"),
                upgrade: false,
                keep_alive: true,
                claim: None,
            };
            let block = header_block(&info);
            prop_assert!(block.len() >= 4);
            let n = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
            prop_assert_eq!(n, block.len() - 4);
            let fields: Vec<&[u8]> = block[4..].split(|b| *b == 0).collect();
            // NAME\0VALUE\0 pairs: an even count of fields, then the empty tail.
            prop_assert_eq!(fields.last().map(|f| f.len()), Some(0));
            prop_assert_eq!((fields.len() - 1) % 2, 0);
            let names: Vec<&[u8]> = fields.chunks(2).filter(|c| c.len() == 2).map(|c| c[0]).collect();
            prop_assert!(names.contains(&&b"REQUEST_METHOD"[..]));
            prop_assert!(names.iter().all(|n| !n.is_empty()));
        }

        #[test]
        fn request_lines_over_the_limit_get_414(target in target(), max in 16usize..200) {
            let Ok(req) = Request::get(target.as_str()).body(()) else { return Ok(()) };
            let limits = HttpLimits { max_request_line: max, ..HttpLimits::default() };
            let refused = check_head(&req, &limits);
            let line = 4 + req.uri().to_string().len() + 9;
            let long = line > max;
            // `*` and authority-form count as written; the rest as the URI shows.
            if target != "*" {
                prop_assert_eq!(refused.as_ref().map(|r| r.status()), long.then_some(StatusCode::URI_TOO_LONG));
            }
        }

        #[test]
        fn chunked_bodies_fail_exactly_when_past_the_limit(
            chunks in prop::collection::vec(0usize..300, 0..12), max in 1u64..2000,
        ) {
            let total: u64 = chunks.iter().map(|c| *c as u64).sum();
            let frames = chunks
                .iter()
                .map(|n| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![b'x'; *n]))))
                .collect::<Vec<_>>();
            let body = StreamBody::new(futures_util::stream::iter(frames));
            let limits = HttpLimits { max_request_body_size: max, ..HttpLimits::default() };
            let (body, flag) = LimitedBody::new(body, &HeaderMap::new(), &limits);
            let flag = flag.expect("chunked bodies are counted");
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let collected = rt.block_on(body.collect());
            prop_assert_eq!(collected.is_err(), total > max);
            prop_assert_eq!(flag.load(Ordering::Relaxed), total > max);
            if let Ok(c) = collected {
                prop_assert_eq!(c.to_bytes().len() as u64, total);
            }
        }

        /// Raw bytes through hyper configured as the server configures it, then our head
        /// checks and the body limit: never a panic, and every answer a well-formed
        /// status line.
        #[test]
        fn raw_requests_through_hyper_and_our_limits(raw in raw_request()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
            let answer = rt.block_on(serve_bytes(raw));
            prop_assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "), "{:?}", String::from_utf8_lossy(&answer));
        }

        #[test]
        fn valid_chunked_uploads_arrive_whole_or_get_413(
            chunks in prop::collection::vec((1usize..200, prop::option::of("[a-z]{1,5}(=[a-z0-9]{1,5})?")), 0..8),
            max in 1u64..1000,
        ) {
            let mut raw = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
            let mut total = 0u64;
            for (n, ext) in &chunks {
                total += *n as u64;
                raw.extend_from_slice(format!("{n:x}").as_bytes());
                if let Some(ext) = ext {
                    raw.extend_from_slice(format!(";{ext}").as_bytes());
                }
                raw.extend_from_slice(b"\r\n");
                raw.extend(std::iter::repeat_n(b'y', *n));
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"0\r\n\r\n");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime");
            let answer = String::from_utf8_lossy(&rt.block_on(serve_with(raw, max))).into_owned();
            if total > max {
                prop_assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
            } else {
                prop_assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                let want = format!("\r\n\r\n{total}");
                prop_assert!(answer.ends_with(&want), "{answer}");
            }
        }
    }

    /// Mostly request-shaped bytes: a request line, headers, a body that may be
    /// chunked, with random corruption.
    fn raw_request() -> impl Strategy<Value = Vec<u8>> {
        let line = (
            prop::sample::select(vec!["GET", "POST", "PUT", "HEAD", "OPTIONS", "G(T", ""]),
            target(),
            prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", ""]),
        );
        let fields = prop::collection::vec((header_name(), header_value()), 0..8);
        let body = prop::collection::vec(any::<u8>(), 0..64);
        let chunk_line = prop::sample::select(vec![
            "5\r\nhello\r\n0\r\n\r\n",
            "ffffffffffffffffff\r\n",
            "5\r\nhel",
            "-1\r\n",
            "0\r\n\r\n",
            "3;x=\"a\"\r\nabc\r\n0\r\nT: v\r\n\r\n",
            "zz\r\n",
            "5\r\nhelloXX0\r\n\r\n",
        ]);
        (
            line,
            fields,
            body,
            chunk_line,
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        )
            .prop_map(|((m, t, v), fields, body, chunk, flips)| {
                let mut raw = format!("{m} {t} {v}\r\n").into_bytes();
                let chunked = fields
                    .iter()
                    .any(|(n, v)| n == "transfer-encoding" && v.starts_with(b"chunked"));
                for (n, val) in fields {
                    raw.extend_from_slice(n.as_bytes());
                    raw.extend_from_slice(b": ");
                    raw.extend_from_slice(&val);
                    raw.extend_from_slice(b"\r\n");
                }
                raw.extend_from_slice(b"\r\n");
                if chunked {
                    raw.extend_from_slice(chunk.as_bytes());
                } else {
                    raw.extend_from_slice(&body);
                }
                for (at, byte) in flips {
                    if !raw.is_empty() {
                        let i = at % raw.len();
                        raw[i] = byte;
                    }
                }
                raw
            })
    }

    async fn serve_bytes(raw: Vec<u8>) -> Vec<u8> {
        crate::fuzzing::serve_with(raw, 100).await
    }

    async fn serve_with(raw: Vec<u8>, max_body: u64) -> Vec<u8> {
        crate::fuzzing::serve_with(raw, max_body).await
    }
}

mod paths_and_files {
    //! Route and static path decoding, the configuration files, the loader head.

    use std::path::PathBuf;
    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::app::{AppSpec, AppType};
    use crate::config::StartOptions;
    use crate::proxy::route::Router;
    use crate::proxy::static_files::decode_path;

    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "/", "a", "..", ".", "%2e", "%2E", "%2f", "%5c", "%00", "%", "%zz", "%c3%a9", "\\",
                "//", "?x=1", "#f", "blog", "%2e%2e", ".%2e", "é",
            ]),
            0..10,
        )
        .prop_map(|parts| parts.concat())
    }

    fn app(name: &str, hosts: &[&str], base: Option<&str>) -> Arc<AppSpec> {
        let mut spec = AppSpec::new(
            name,
            PathBuf::from(format!("/srv/{name}")),
            AppType::Generic {
                start_command: "true".into(),
            },
        );
        spec.server_names = hosts.iter().map(|h| h.to_string()).collect();
        spec.base_uri = base.map(str::to_string);
        Arc::new(spec)
    }

    proptest! {
        #![proptest_config(super::config(256))]

        #[test]
        fn decoded_static_paths_never_leave_the_directory(p in prop_oneof![path(), ".{0,40}"]) {
            if let Ok(segments) = decode_path(&p) {
                for seg in segments {
                    prop_assert!(!seg.is_empty() && seg != b"." && seg != b"..", "{p:?} gave {seg:?}");
                    prop_assert!(!seg.contains(&b'/') && !seg.contains(&b'\\') && !seg.contains(&0), "{p:?} gave {seg:?}");
                }
            }
        }

        #[test]
        fn routes_go_to_an_app_whose_base_uri_prefixes_the_path(
            host in prop::option::of(prop_oneof!["[a-zA-Z0-9.:-]{0,30}", Just("Blog.Example.com:80".to_string()), ".{0,20}"]),
            p in prop_oneof![path(), "/blog(/[a-z]{0,5})?", ".{0,30}"],
        ) {
            let apps = vec![
                app("main", &[], None),
                app("blog", &["blog.example.com"], Some("/blog")),
                app("shop", &["shop.example.com"], None),
            ];
            let router = Router::new(&apps, true);
            if let Some(route) = router.route(host.as_deref(), &p) {
                if let Some(base) = &route.base_uri {
                    prop_assert!(p.starts_with(base.as_str()), "{p:?} routed under {base}");
                }
            }
        }

        #[test]
        fn any_toml_file_loads_or_names_its_problems(text in toml_text()) {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir_all(dir.path().join("blog")).expect("mkdir");
            std::fs::write(dir.path().join("blog/config.ru"), "").expect("write");
            let file = dir.path().join("apps.toml");
            std::fs::write(&file, &text).expect("write");
            let opts = StartOptions { config_file: Some(file), ..StartOptions::default() };
            if let Err(crate::config::ConfigError::Invalid { problems }) = crate::config::load(&opts) {
                prop_assert!(!problems.is_empty());
            }
        }

        #[test]
        fn any_passengerfile_loads_or_names_its_problems(text in json_text()) {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("config.ru"), "").expect("write");
            std::fs::write(dir.path().join("Passengerfile.json"), &text).expect("write");
            let opts = StartOptions { app_dir: Some(dir.path().to_path_buf()), ..StartOptions::default() };
            if let Err(crate::config::ConfigError::Invalid { problems }) = crate::config::load(&opts) {
                prop_assert!(!problems.is_empty());
            }
        }

        #[test]
        fn loader_heads_parse_or_fail_cleanly(raw in loader_head()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let (parsed, valid) = rt.block_on(async {
                use tokio::io::AsyncWriteExt;
                let (mut loader, core) = tokio::net::UnixStream::pair().expect("pair");
                let (mut read, _write) = core.into_split();
                let (bytes, valid) = raw;
                loader.write_all(&bytes).await.expect("write");
                drop(loader);
                (crate::loader::read_head(&mut read, false).await.map(|(h, rest)| (h.status, h.headers.len(), h.keep_alive, rest.len())), valid)
            });
            if let Some((status, headers, keep_alive, rest)) = valid {
                let (s, h, k, r) = parsed.map_err(|e| TestCaseError::fail(format!("valid head refused: {e}")))?;
                prop_assert_eq!((s.as_u16(), h, k, r), (status, headers, keep_alive, rest));
            }
        }
    }

    const KEYS: &[&str] = &[
        "port",
        "max_pool_size",
        "pool_idle_time",
        "log_level",
        "environment",
        "min_instances",
        "max_requests",
        "max_request_queue_size",
        "memory_limit",
        "max_request_time",
        "max_header_size",
        "max_request_body_size",
        "keep_alive_timeout",
        "spawn_method",
        "app_type",
        "app_start_command",
        "base_uri",
        "server_names",
        "root",
        "env",
        "hooks",
        "user",
        "sticky_sessions",
        "nginx_bin",
        "prot",
        "friendly_error_pages",
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            prop::sample::select(vec![
                "0", "-1", "1", "65536", "true", "false", "1.5", "\"\"", "[]", "{}"
            ])
            .prop_map(str::to_string),
            "\"[a-z/ .-]{0,12}\"",
            prop::sample::select(vec![
                "\"smart\"",
                "\"generic\"",
                "\"/blog\"",
                "\"blog\"",
                "[\"a.example\", 1]",
                "{ A = \"b\" }",
                "{ spawn_failed = \"true\" }"
            ])
            .prop_map(str::to_string),
        ]
    }

    fn toml_text() -> impl Strategy<Value = String> {
        let pair = || {
            (prop::sample::select(KEYS.to_vec()), value()).prop_map(|(k, v)| format!("{k} = {v}\n"))
        };
        prop_oneof![
            4 => (prop::collection::vec(pair(), 0..6), prop::collection::vec(prop::collection::vec(pair(), 0..6), 0..3))
                .prop_map(|(top, apps)| {
                    let mut text = top.concat();
                    for app in apps {
                        text.push_str("[[app]]\nroot = \"blog\"\n");
                        text.push_str(&app.concat());
                    }
                    text
                }),
            1 => ".{0,80}",
        ]
    }

    fn json_text() -> impl Strategy<Value = String> {
        let json_value = prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            Just("1e400".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            "\"[a-z/ .-]{0,12}\"",
            Just("[1, \"a\"]".to_string()),
            Just("{\"A\": \"b\", \"B\": 1}".to_string()),
        ];
        let keys =
            prop::sample::select(KEYS.iter().copied().chain(["envvars"]).collect::<Vec<_>>());
        prop_oneof![
            4 => prop::collection::vec((keys, json_value), 0..8).prop_map(|pairs| {
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
            1 => ".{0,60}",
        ]
    }

    /// A loader response head (valid, with the expected parse: status, header count
    /// after dropping private and hop-by-hop ones, keep-alive length, bytes after it),
    /// or corrupted bytes (no expectation).
    /// Status, headers kept, `!~Keep-Alive` length and bytes after the head.
    type Expected = (u16, usize, Option<u64>, usize);

    fn loader_head() -> impl Strategy<Value = (Vec<u8>, Option<Expected>)> {
        let header = prop_oneof![
            ("[A-Za-z][A-Za-z0-9-]{0,10}", "[ -~]{0,20}").prop_map(|(n, v)| (
                n,
                v.trim().to_string(),
                false
            )),
            prop::sample::select(vec![
                "Status",
                "Connection",
                "Transfer-Encoding",
                "X-Passenger-Request-OOB-Work",
                "Keep-Alive"
            ])
            .prop_map(|n| (n.to_string(), "x".to_string(), true)),
        ];
        let valid = (
            100u16..600,
            prop::collection::vec(header, 0..10),
            prop::option::of(0u64..100_000),
            prop::collection::vec(any::<u8>(), 0..30),
        )
            .prop_map(|(status, headers, keep_alive, body)| {
                let mut raw = format!("HTTP/1.1 {status} Whatever\r\n").into_bytes();
                let mut kept = 0;
                for (n, v, _) in &headers {
                    let private = [
                        "connection",
                        "keep-alive",
                        "transfer-encoding",
                        "status",
                        "x-passenger-request-oob-work",
                    ]
                    .iter()
                    .any(|d| n.eq_ignore_ascii_case(d));
                    if !private || status == 101 {
                        kept += 1;
                    }
                    raw.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                if let Some(k) = keep_alive {
                    raw.extend_from_slice(format!("!~Keep-Alive: {k}\r\n").as_bytes());
                }
                raw.extend_from_slice(b"\r\n");
                raw.extend_from_slice(&body);
                (raw, Some((status, kept, keep_alive, body.len())))
            });
        let broken = (
            valid.clone(),
            prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        )
            .prop_map(|((mut raw, _), flips)| {
                for (at, b) in flips {
                    let i = at % raw.len();
                    raw[i] = b;
                }
                (raw, None)
            });
        prop_oneof![3 => valid, 2 => broken, 1 => prop::collection::vec(any::<u8>(), 0..100).prop_map(|b| (b, None))]
    }
}
