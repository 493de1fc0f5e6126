//! The loader's HTTP/1.1 response head (ARCHITECTURE.md, "Session protocol"): parsed
//! with `httparse`, the headers that describe the loader connection dropped, and the
//! private `!~Keep-Alive` and `X-Passenger-Request-OOB-Work` headers turned into
//! fields of [`Head`].
//!
//! It does not read the body (the proxy's `session` module streams it).

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use tokio::io::AsyncReadExt;
use tokio::net::unix::OwnedReadHalf;

use super::SessionProtocolError;

/// Largest response head a loader may send.
const MAX_HEAD: usize = 64 * 1024;

/// The private response header with which a loader keeps the connection open: its
/// value is the number of body bytes that follow the head. Never sent to clients.
const KEEP_ALIVE_HEADER: &str = "!~keep-alive";

/// The response header with which an app asks for out-of-band work; never sent on.
const OOB_WORK_HEADER: &str = "x-passenger-request-oob-work";

/// Response headers that describe the loader connection, not the response.
const DROPPED_RESPONSE_HEADERS: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "status",
    OOB_WORK_HEADER,
    KEEP_ALIVE_HEADER,
];

/// Headers a `httparse` head may hold.
const MAX_HEADERS: usize = 128;

/// A loader's response head.
#[derive(Debug)]
pub struct Head {
    /// The status.
    pub status: StatusCode,
    /// The headers to send on, in order (connection headers dropped, except on a
    /// `101`, where the client needs them).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The header names as the app spelled them, when that is not Title-Case
    /// (hyper writes Title-Case by itself); `None` otherwise.
    pub spelled: Option<Vec<Vec<u8>>>,
    /// The app asked for out-of-band work.
    pub oob: bool,
    /// The loader keeps the connection open; this many body bytes follow the head.
    pub keep_alive: Option<u64>,
}

/// Reads the response head and returns it with the body bytes that came with it.
/// On a `reused` connection, EOF or a reset before the first byte is
/// [`SessionProtocolError::Stale`]: the loader closed the idle connection without
/// reading the request.
pub async fn read_head(
    read: &mut OwnedReadHalf,
    reused: bool,
) -> Result<(Head, Bytes), SessionProtocolError> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let n = match read.read_buf(&mut buf).await {
            Ok(n) => n,
            // A loader that closes an idle connection with our request unread in it
            // resets the connection.
            Err(err)
                if reused
                    && buf.is_empty()
                    && err.kind() == std::io::ErrorKind::ConnectionReset =>
            {
                return Err(SessionProtocolError::Stale(err))
            }
            Err(err) => return Err(SessionProtocolError::Incomplete(err)),
        };
        if n == 0 {
            let err = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the loader closed the connection before sending a response",
            );
            return Err(if reused && buf.is_empty() {
                SessionProtocolError::Stale(err)
            } else {
                SessionProtocolError::Incomplete(err)
            });
        }
        if let Some((head, len)) = parse(&buf)? {
            return Ok((head, buf.split_off(len).freeze()));
        }
    }
}

/// The head at the start of `buf` and its length, or `None` if it is not complete
/// yet.
fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, SessionProtocolError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut raw);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) => {
            return Err(SessionProtocolError::Malformed(format!(
                "response head larger than {MAX_HEAD} bytes"
            )))
        }
        Err(err) => return Err(SessionProtocolError::Malformed(err.to_string())),
    };
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| SessionProtocolError::Malformed("bad status code".into()))?;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    let mut spelled: Vec<&[u8]> = Vec::with_capacity(parsed.headers.len());
    let mut oob = false;
    let mut keep_alive = None;
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case(OOB_WORK_HEADER) {
            oob = true;
        }
        if h.name.eq_ignore_ascii_case(KEEP_ALIVE_HEADER) {
            keep_alive = Some(parse_length(h.value).ok_or_else(|| {
                SessionProtocolError::Malformed(format!(
                    "bad {KEEP_ALIVE_HEADER} value {:?}",
                    String::from_utf8_lossy(h.value)
                ))
            })?);
            continue;
        }
        if DROPPED_RESPONSE_HEADERS
            .iter()
            .any(|d| h.name.eq_ignore_ascii_case(d))
            && status != StatusCode::SWITCHING_PROTOCOLS
        {
            continue;
        }
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
            SessionProtocolError::Malformed(format!("bad header name {:?}", h.name))
        })?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| {
            SessionProtocolError::Malformed(format!("bad value for header {}", h.name))
        })?;
        headers.push((name, value));
        spelled.push(h.name.as_bytes());
    }
    let spelled = (!spelled
        .iter()
        .all(|n| crate::proxy::header_case::is_title_case(n)))
    .then(|| spelled.iter().map(|n| n.to_vec()).collect());
    let head = Head {
        status,
        headers,
        spelled,
        oob,
        keep_alive,
    };
    Ok(Some((head, len)))
}

/// A decimal byte count, digits only.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    #[tokio::test]
    async fn keep_alive_header_is_parsed_and_stripped() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut read, _write) = a.into_split();
        b.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n!~Keep-Alive: 5\r\n\r\nhello")
            .await
            .unwrap();
        let (head, rest) = read_head(&mut read, false).await.unwrap();
        assert_eq!(head.keep_alive, Some(5));
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec!["content-type"],
            "the private header is never sent on"
        );
        assert_eq!(&rest[..], b"hello");
    }

    #[tokio::test]
    async fn bad_keep_alive_length_is_malformed() {
        for value in ["", "-1", "1x", "99999999999999999999999"] {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (mut read, _write) = a.into_split();
            b.write_all(format!("HTTP/1.1 200 OK\r\n!~Keep-Alive: {value}\r\n\r\n").as_bytes())
                .await
                .unwrap();
            assert!(
                matches!(
                    read_head(&mut read, false).await,
                    Err(SessionProtocolError::Malformed(_))
                ),
                "{value:?}"
            );
        }
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"12345"), Some(12345));
    }

    #[tokio::test]
    async fn eof_on_a_reused_connection_is_stale_only_before_the_first_byte() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (mut read, _write) = a.into_split();
        assert!(matches!(
            read_head(&mut read, true).await,
            Err(SessionProtocolError::Stale(_))
        ));

        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        drop(b);
        let (mut read, _write) = a.into_split();
        assert!(matches!(
            read_head(&mut read, true).await,
            Err(SessionProtocolError::Incomplete(_))
        ));
    }

    #[tokio::test]
    async fn response_head_is_parsed_and_connection_headers_dropped() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut read, _write) = a.into_split();
        b.write_all(b"HTTP/1.1 201 Whatever\r\nContent-Type: text/plain\r\nConnection: close\r\nStatus: 201\r\nX-Passenger-Request-OOB-Work: true\r\n\r\nhello")
            .await
            .unwrap();
        let (head, rest) = read_head(&mut read, false).await.unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["content-type"]);
        assert_eq!(&rest[..], b"hello");
    }

    #[tokio::test]
    async fn eof_before_head_is_incomplete() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (mut read, _write) = a.into_split();
        assert!(matches!(
            read_head(&mut read, false).await,
            Err(SessionProtocolError::Incomplete(_))
        ));
    }
}
