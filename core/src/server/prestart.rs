//! `PassengerPreStart`: once the core of a web server module is up, it requests each
//! pre-start URL through the web server (a `HEAD` to 127.0.0.1 on the URL's port, with
//! the URL's `Host`), so the module routes it to its app and the app is spawned before
//! the first visitor.
//!
//! Owns: parsing a pre-start URL and the one-request HTTP/1.1 exchange. Does not own
//! which app a URL belongs to (the web server and its module decide that) nor spawning.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long after start the first request waits: the web server's workers are still
/// starting while its master has already started the core.
const FIRST_DELAY: Duration = Duration::from_secs(2);
/// How long a refused connection is retried (the web server may not listen yet).
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
/// How long one exchange may take (a cold app start is part of it).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(120);

/// A pre-start URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrestartUrl {
    /// The `Host` header value (the URL's authority, port included when given).
    pub host: String,
    /// The web server's port for this URL (80 unless the URL names one).
    pub port: u16,
    /// The path and query (`/` when the URL has none).
    pub path: String,
}

/// Parses `http://host[:port][/path]`. `None` for anything else (the module has already
/// refused those at configuration time, and skipped `https://` ones).
pub(crate) fn parse(url: &str) -> Option<PrestartUrl> {
    let scheme_len = "http://".len();
    if url.len() < scheme_len || !url[..scheme_len].eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &url[scheme_len..];
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        // [v6]:port
        let after = &authority[end + 2..];
        (&authority[..end + 2], after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    if authority.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let port = match port {
        None | Some("") => 80,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
    };
    Some(PrestartUrl {
        host: authority.to_string(),
        port,
        path,
    })
}

/// Starts the task that requests each URL once (in order), logging each answer as
/// `PassengerPreStart <url>: <status line>`.
pub(crate) fn spawn(urls: Vec<String>) -> Option<tokio::task::JoinHandle<()>> {
    if urls.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        tokio::time::sleep(FIRST_DELAY).await;
        for url in urls {
            let Some(target) = parse(&url) else {
                tracing::warn!("PassengerPreStart {url}: not an http:// URL with a host; skipped");
                continue;
            };
            match tokio::time::timeout(EXCHANGE_TIMEOUT, request(&target)).await {
                Ok(Ok(status)) => tracing::info!("PassengerPreStart {url}: {status}"),
                Ok(Err(err)) => tracing::warn!("PassengerPreStart {url}: {err}"),
                Err(_) => tracing::warn!(
                    "PassengerPreStart {url}: no answer within {}s",
                    EXCHANGE_TIMEOUT.as_secs()
                ),
            }
        }
    }))
}

/// Connects (retrying refused connections for [`CONNECT_PATIENCE`]), sends the `HEAD`
/// and returns the status line's code and reason.
async fn request(target: &PrestartUrl) -> std::io::Result<String> {
    let started = tokio::time::Instant::now();
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", target.port)).await {
            Ok(s) => break s,
            Err(err)
                if err.kind() == std::io::ErrorKind::ConnectionRefused
                    && started.elapsed() < CONNECT_PATIENCE =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => return Err(err),
        }
    };
    let head = format!(
        "HEAD {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: passenger-rs pre-start\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    stream.write_all(head.as_bytes()).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.contains(&b'\n') && got.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let line = got.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let status = line.trim_end().split_once(" ").map_or("", |(_, s)| s);
    if status.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no HTTP answer",
        ));
    }
    Ok(status.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_with_port_80_by_default() {
        let u = parse("http://shop.example/").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("shop.example", 80, "/")
        );
        let u = parse("HTTP://127.0.0.1:8080/a/b?c=1").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1:8080", 8080, "/a/b?c=1")
        );
        let u = parse("http://[::1]:81").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("[::1]:81", 81, "/")
        );
        let u = parse("http://h?x").expect("valid");
        assert_eq!(u.path, "/?x");
    }

    #[test]
    fn other_schemes_missing_hosts_and_bad_ports_are_refused() {
        for bad in [
            "https://a/",
            "ftp://a/",
            "http://",
            "http:///x",
            "http://a:0/",
            "http://a:99999/",
            "http://a:x/",
            "http://a b/",
            "shop.example",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_head_request_reaches_the_port_with_the_host_header() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .expect("write");
            String::from_utf8(got).expect("utf8")
        });
        let url = parse(&format!("http://app.test:{port}/warm")).expect("valid");
        let status = request(&url).await.expect("answer");
        assert_eq!(status, "204 No Content");
        let seen = server.await.expect("server");
        assert!(seen.starts_with("HEAD /warm HTTP/1.1\r\n"), "{seen}");
        assert!(
            seen.contains(&format!("Host: app.test:{port}\r\n")),
            "{seen}"
        );
    }
}
