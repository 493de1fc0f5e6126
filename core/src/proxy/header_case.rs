//! Response header names as the app wrote them, for responses read from loaders.
//!
//! Owns turning the header names of a loader's response head (read with `httparse`, see
//! `session.rs`) into what hyper needs to write them back in their original case. The
//! client connection serves with `preserve_header_case` and `title_case_headers`: a name
//! hyper has no recorded spelling for goes out Title-Cased, as Passenger writes its own
//! headers. Hyper records spellings only while parsing (its case map type is private),
//! so a head whose names are not all Title-Case already is parsed once more by hyper,
//! in memory, as a request carrying the same names; the resulting extensions are kept
//! per list of names, so an app that always answers with the same headers pays for
//! that parse once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Extensions, Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// Lists of names remembered; beyond this the cache starts over (apps whose header
/// names vary without bound must not grow it).
const CACHE_LIMIT: usize = 1024;

fn cache() -> &'static Mutex<HashMap<Vec<u8>, Extensions>> {
    static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Extensions>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether hyper's Title-Case fallback writes `name` exactly as given.
pub(crate) fn is_title_case(name: &[u8]) -> bool {
    let mut upper_next = true;
    name.iter().all(|&b| {
        let ok = if upper_next {
            !b.is_ascii_lowercase()
        } else {
            !b.is_ascii_uppercase()
        };
        upper_next = b == b'-';
        ok
    })
}

/// Extensions that make hyper write `names` (the header names of one response, in
/// order, repeats included) as spelled here; `None` when Title-Case already does, or
/// when the names cannot be parsed (they then go out Title-Cased).
pub async fn extensions_for<N: AsRef<[u8]>>(names: &[N]) -> Option<Extensions> {
    if names.iter().all(|n| is_title_case(n.as_ref())) {
        return None;
    }
    let names: Vec<&[u8]> = names.iter().map(AsRef::as_ref).collect();
    let key = names.join(&b'\n');
    if let Some(found) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(found.clone());
    }
    let parsed = parse(&names).await?;
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, parsed.clone());
    Some(parsed)
}

/// Has hyper parse a request carrying `names` and returns its extensions (with the
/// case map in them).
async fn parse(names: &[&[u8]]) -> Option<Extensions> {
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    let mut has_length = false;
    for name in names {
        // A length is read as one; any other value would be a parse error.
        let length = name.eq_ignore_ascii_case(b"content-length");
        if length && has_length {
            continue;
        }
        has_length |= length;
        head.extend_from_slice(name);
        head.extend_from_slice(if length { b": 0\r\n" } else { b": x\r\n" });
    }
    head.extend_from_slice(b"\r\n");
    let (mut client, server) = tokio::io::duplex(head.len() + 4096);
    client.write_all(&head).await.ok()?;
    let (tx, rx) = oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let service = service_fn(move |req: Request<Incoming>| {
        if let Some(tx) = tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(req.extensions().clone());
        }
        async { Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new())) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.preserve_header_case(true).keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(server), service);
    let (_, extensions) =
        tokio::time::timeout(Duration::from_secs(1), async { tokio::join!(conn, rx) })
            .await
            .ok()?;
    drop(client);
    extensions.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_is_recognized() {
        assert!(is_title_case(b"Content-Type"));
        assert!(is_title_case(b"X-Powered-By"));
        assert!(is_title_case(b"Etag"));
        assert!(!is_title_case(b"content-type"));
        assert!(!is_title_case(b"ETag"));
        assert!(!is_title_case(b"X-FOO"));
    }

    #[tokio::test]
    async fn title_case_names_need_no_map_and_others_get_one_cached() {
        let title: [&[u8]; 2] = [b"Content-Type", b"Content-Length"];
        assert!(extensions_for(&title).await.is_none());
        let names: [&[u8]; 3] = [b"content-type", b"content-length", b"X-CUSTOM"];
        let first = extensions_for(&names).await.expect("a case map");
        assert_eq!(first.len(), 1, "only the case map: {first:?}");
        let key = names.join(&b'\n');
        assert!(cache().lock().expect("lock").contains_key(&key));
    }
}
