//! The header block that opens every request to a loader (ARCHITECTURE.md, "Session
//! protocol"): a 4-byte big-endian length, then `NAME\0VALUE\0` pairs of CGI-style
//! variables, and the control blocks (`OOBW`, `PING`) that carry only a method and
//! the connect password.
//!
//! Owns which variables a request becomes, when the core offers keep-alive and when
//! the body goes framed. It does not write anything (see
//! [`request_body`](super::request_body)).

use std::net::SocketAddr;

use http::header;

/// Request headers that are hop-by-hop and never become `HTTP_*` variables (except
/// on an upgrade, where the loader needs `Connection` and `Upgrade`).
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Whether the core can offer keep-alive for a request: its body length is known
/// up front (no body, or `Content-Length`) and it is not an upgrade, so the end of
/// the request does not depend on closing the connection.
pub fn can_keep_alive(parts: &http::request::Parts, body_is_empty: bool, upgrade: bool) -> bool {
    if upgrade {
        return false;
    }
    let has_length = parts.headers.contains_key(header::CONTENT_LENGTH);
    let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING) && !has_length;
    !chunked && (body_is_empty || has_length)
}

/// Whether the request body goes to the loader framed (`PASSENGER_BODY_FRAMED`): a
/// chunked body, whose length is not known up front, outside an upgrade.
pub fn body_is_framed(parts: &http::request::Parts, upgrade: bool) -> bool {
    !upgrade
        && parts.headers.contains_key(header::TRANSFER_ENCODING)
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
}

/// What the core knows about one request, for its header block.
pub struct RequestInfo<'a> {
    /// The request parts.
    pub parts: &'a http::request::Parts,
    /// The base URI the app is mounted under.
    pub base_uri: Option<&'a str>,
    /// The client's address; `None` on a unix socket (`REMOTE_ADDR` is then
    /// `127.0.0.1`).
    pub remote: Option<SocketAddr>,
    /// Whether the client connection is TLS (`HTTPS=on`).
    pub https: bool,
    /// Variables beyond the request's own (a web server module's `REMOTE_USER`).
    pub vars: &'a [(String, String)],
    /// The secret the loader expects.
    pub connect_password: Option<&'a str>,
    /// Whether the client asked for a protocol upgrade.
    pub upgrade: bool,
    /// Offer keep-alive (`PASSENGER_KEEP_ALIVE=1`); see [`can_keep_alive`].
    pub keep_alive: bool,
    /// The claim number of a pipelined request (`PASSENGER_CLAIM`): the loader runs
    /// it only if it wins the claim ([`pipeline`](super::pipeline)).
    pub claim: Option<u64>,
}

/// Builds the length-prefixed block of `NAME\0VALUE\0` pairs.
pub fn header_block(info: &RequestInfo<'_>) -> Vec<u8> {
    let parts = info.parts;
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&[0, 0, 0, 0]);
    let mut put = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let base = info.base_uri.unwrap_or("");
    let path_info = path.strip_prefix(base).unwrap_or(path);
    put(b"REQUEST_METHOD", parts.method.as_str().as_bytes());
    put(b"SCRIPT_NAME", base.as_bytes());
    put(b"PATH_INFO", path_info.as_bytes());
    put(b"QUERY_STRING", query.as_bytes());
    put(
        b"REQUEST_URI",
        parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .as_bytes(),
    );
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let (server_name, server_port) = split_host(host, info.https);
    put(b"SERVER_NAME", server_name.as_bytes());
    put(b"SERVER_PORT", server_port.as_bytes());
    put(b"SERVER_PROTOCOL", version_str(parts.version).as_bytes());
    put(b"SERVER_SOFTWARE", crate::SERVER_SOFTWARE.as_bytes());
    if let Some(remote) = info.remote {
        put(b"REMOTE_ADDR", remote.ip().to_string().as_bytes());
        put(b"REMOTE_PORT", remote.port().to_string().as_bytes());
    } else {
        put(b"REMOTE_ADDR", b"127.0.0.1");
        put(b"REMOTE_PORT", b"0");
    }
    if info.https {
        put(b"HTTPS", b"on");
    }
    for (name, value) in info.vars {
        put(name.as_bytes(), value.as_bytes());
    }
    if let Some(password) = info.connect_password {
        put(b"PASSENGER_CONNECT_PASSWORD", password.as_bytes());
    }
    if let Some(claim) = info.claim {
        put(b"PASSENGER_CLAIM", claim.to_string().as_bytes());
    }
    if info.keep_alive {
        put(b"PASSENGER_KEEP_ALIVE", b"1");
    }
    if body_is_framed(parts, info.upgrade) {
        put(b"PASSENGER_BODY_FRAMED", b"1");
    }
    if let Some(v) = parts.headers.get(header::CONTENT_TYPE) {
        put(b"CONTENT_TYPE", v.as_bytes());
    }
    if let Some(v) = parts.headers.get(header::CONTENT_LENGTH) {
        put(b"CONTENT_LENGTH", v.as_bytes());
    }
    let mut name_buf = Vec::with_capacity(64);
    for name in parts.headers.keys() {
        let n = name.as_str();
        if n == "content-type" || n == "content-length" {
            continue;
        }
        if !info.upgrade && HOP_BY_HOP.contains(&n) {
            continue;
        }
        // Headers whose names would collide after `-` → `_` are dropped, so a client
        // cannot forge one variable through another (CVE-2015-7519).
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        name_buf.clear();
        name_buf.extend_from_slice(b"HTTP_");
        name_buf.extend(n.bytes().map(|b| {
            if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            }
        }));
        let mut values = parts.headers.get_all(name).iter();
        let mut value: Vec<u8> = values
            .next()
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        for more in values {
            value.extend_from_slice(b", ");
            value.extend_from_slice(more.as_bytes());
        }
        put(&name_buf, &value);
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

fn split_host(host: &str, https: bool) -> (&str, String) {
    let default_port = if https { "443" } else { "80" };
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        if let Some((addr, port)) = rest.split_once("]:") {
            return (addr, port.to_string());
        }
        return (rest.trim_end_matches(']'), default_port.to_string());
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            (name, port.to_string())
        }
        _ => (host, default_port.to_string()),
    }
}

fn version_str(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

/// A header block for a control request with `method` (`OOBW`, `PING`), carrying
/// the connect password if the loader has one.
pub fn control_block(method: &str, password: Option<&str>) -> Vec<u8> {
    let mut block = Vec::with_capacity(128);
    block.extend_from_slice(&[0, 0, 0, 0]);
    block.extend_from_slice(b"REQUEST_METHOD\0");
    block.extend_from_slice(method.as_bytes());
    block.push(0);
    if let Some(password) = password {
        block.extend_from_slice(b"PASSENGER_CONNECT_PASSWORD\0");
        block.extend_from_slice(password.as_bytes());
        block.push(0);
    }
    let len = u32::try_from(block.len() - 4).expect("invariant: a control block is tiny");
    block[..4].copy_from_slice(&len.to_be_bytes());
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(block: &[u8]) -> Vec<(String, String)> {
        let len = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
        assert_eq!(len, block.len() - 4);
        let fields: Vec<&[u8]> = block[4..].split(|b| *b == 0).collect();
        fields
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| {
                (
                    String::from_utf8_lossy(c[0]).into_owned(),
                    String::from_utf8_lossy(c[1]).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn header_block_has_cgi_variables() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/app/items?x=1")
            .header("host", "example.test:8080")
            .header("content-type", "text/plain")
            .header("content-length", "5")
            .header("x-custom", "a")
            .header("x-custom", "b")
            .header("x_sneaky", "1")
            .header("connection", "keep-alive")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let info = RequestInfo {
            parts: &parts,
            base_uri: Some("/app"),
            remote: Some("10.1.2.3:4567".parse().unwrap()),
            https: false,
            vars: &[],
            connect_password: Some("secret"),
            upgrade: false,
            keep_alive: false,
            claim: Some(7),
        };
        let vars = pairs(&header_block(&info));
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("REQUEST_METHOD"), Some("POST"));
        assert_eq!(get("PASSENGER_CLAIM"), Some("7"));
        assert_eq!(get("SCRIPT_NAME"), Some("/app"));
        assert_eq!(get("PATH_INFO"), Some("/items"));
        assert_eq!(get("QUERY_STRING"), Some("x=1"));
        assert_eq!(get("REQUEST_URI"), Some("/app/items?x=1"));
        assert_eq!(get("SERVER_NAME"), Some("example.test"));
        assert_eq!(get("SERVER_PORT"), Some("8080"));
        assert_eq!(get("REMOTE_ADDR"), Some("10.1.2.3"));
        assert_eq!(get("CONTENT_LENGTH"), Some("5"));
        assert_eq!(get("CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get("HTTP_X_CUSTOM"), Some("a, b"));
        assert_eq!(get("PASSENGER_CONNECT_PASSWORD"), Some("secret"));
        assert_eq!(get("HTTP_X_SNEAKY"), None, "underscore headers are dropped");
        assert_eq!(
            get("HTTP_CONNECTION"),
            None,
            "hop-by-hop headers are dropped"
        );
        assert_eq!(get("HTTP_CONTENT_LENGTH"), None);
        assert_eq!(get("PASSENGER_KEEP_ALIVE"), None, "keep-alive not offered");
    }

    fn parts(builder: http::request::Builder) -> http::request::Parts {
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn keep_alive_is_offered_only_for_bodies_of_known_length() {
        let get = parts(http::Request::builder().uri("/"));
        assert!(can_keep_alive(&get, true, false));
        assert!(!can_keep_alive(&get, true, true), "upgrades end at EOF");
        let post = parts(
            http::Request::builder()
                .method("POST")
                .header("content-length", "3"),
        );
        assert!(can_keep_alive(&post, false, false));
        let chunked = parts(
            http::Request::builder()
                .method("POST")
                .header("transfer-encoding", "chunked"),
        );
        assert!(!can_keep_alive(&chunked, false, false), "EOF ends the body");
        assert!(
            body_is_framed(&chunked, false),
            "a chunked body goes framed"
        );
        assert!(!body_is_framed(&chunked, true), "not inside an upgrade");
        assert!(
            !body_is_framed(&post, false),
            "a body of known length is not"
        );
        let unknown = parts(http::Request::builder().method("POST"));
        assert!(
            !can_keep_alive(&unknown, false, false),
            "a body without a length (HTTP/2) cannot be framed"
        );

        let info = RequestInfo {
            parts: &get,
            base_uri: None,
            remote: None,
            https: false,
            vars: &[],
            connect_password: None,
            upgrade: false,
            keep_alive: true,
            claim: None,
        };
        let vars = pairs(&header_block(&info));
        assert!(
            vars.contains(&("PASSENGER_KEEP_ALIVE".to_string(), "1".to_string())),
            "{vars:?}"
        );
    }

    #[test]
    fn host_splitting() {
        assert_eq!(split_host("a.test", false), ("a.test", "80".to_string()));
        assert_eq!(split_host("a.test:81", true), ("a.test", "81".to_string()));
        assert_eq!(split_host("[::1]:82", false), ("::1", "82".to_string()));
        assert_eq!(split_host("[::1]", true), ("::1", "443".to_string()));
    }

    #[test]
    fn control_block_is_length_prefixed_pairs() {
        let block = control_block("PING", Some("pw"));
        let len = u32::from_be_bytes([block[0], block[1], block[2], block[3]]) as usize;
        assert_eq!(len, block.len() - 4);
        assert_eq!(
            &block[4..],
            b"REQUEST_METHOD\0PING\0PASSENGER_CONNECT_PASSWORD\0pw\0"
        );
    }
}
