//! Serving files from an app's `public/` directory, and its page cache.
//!
//! Owns: mapping a request path to a file strictly inside `public/` (rejecting
//! traversal in every encoding and symlinks that lead outside), and answering GET and
//! HEAD for it with validators (ETag, Last-Modified), conditional requests (304) and
//! single byte ranges (206/416). Files are streamed in chunks, never read whole.
//! Then the page cache: `<path>.html`, `<path>/index.html`.
//!
//! It does not list directories, compress, or set caching policy (no Cache-Control),
//! and it does not decide which app's `public/` to use: the caller passes it.

use std::fs::{File as StdFile, Metadata, OpenOptions};
use std::io::{self, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

use super::{empty_body, error_page, ProxyBody};

/// Bytes read from disk per body frame.
const CHUNK_SIZE: usize = 64 * 1024;

/// What resolving a request path against `public/` found.
enum Lookup {
    /// Serve this open regular file.
    Found(StdFile, Box<Metadata>, PathBuf),
    /// No such file: the app should handle the request.
    Missing,
    /// The path tried to leave `public/` or is malformed: answer 404.
    Rejected,
}

/// Answers a GET or HEAD for a file in `public_dir` (or its page cache), or returns
/// `None` when the request is not for a static file and should go to the app (any
/// other method, an unknown path, a directory without `index.html`, a path outside
/// `base_uri`). Paths that try to escape `public_dir` get a 404 response.
pub async fn serve(
    public_dir: &Path,
    method: &Method,
    path_and_query: &str,
    base_uri: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response<ProxyBody>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = match path_and_query.find(['?', '#']) {
        Some(end) => &path_and_query[..end],
        None => path_and_query,
    };
    let path = strip_base(path, base_uri)?;
    let segments = match decode_path(path) {
        Ok(segments) => segments,
        Err(()) => {
            tracing::debug!(path = path_and_query, "rejected static file path");
            return Some(error_page::not_found());
        }
    };
    let public_dir = public_dir.to_path_buf();
    let trailing_slash = path.ends_with('/');
    let lookup =
        tokio::task::spawn_blocking(move || lookup(&public_dir, &segments, trailing_slash)).await;
    match lookup {
        Ok(Lookup::Found(file, meta, path)) => {
            Some(respond(file, &meta, &path, method, headers).await)
        }
        Ok(Lookup::Missing) => None,
        Ok(Lookup::Rejected) => {
            tracing::debug!(path = path_and_query, "static file path leaves public/");
            Some(error_page::not_found())
        }
        Err(join) => {
            tracing::warn!(error = %join, "static file lookup task failed");
            Some(error_page::internal_error(None))
        }
    }
}

/// The path below `base_uri`, or `None` if it is not under it.
fn strip_base<'a>(path: &'a str, base_uri: Option<&str>) -> Option<&'a str> {
    let base = base_uri.unwrap_or("").trim_end_matches('/');
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// Percent-decodes `path` into its non-empty segments, refusing anything that could
/// name a file outside the directory it is joined to.
fn decode_path(path: &str) -> Result<Vec<Vec<u8>>, ()> {
    // An encoded slash would make one URL segment two path segments; encoded dots are
    // only ever used to sneak `..` past a filter. Neither has a legitimate use here.
    let raw = path.as_bytes();
    let encoded = |w: &[u8], code: &[u8]| w[0] == b'%' && w[1..3].eq_ignore_ascii_case(code);
    for (i, w) in raw.windows(3).enumerate() {
        if encoded(w, b"2f") || encoded(w, b"5c") {
            return Err(());
        }
        if encoded(w, b"2e") && raw.get(i + 3..i + 6).is_some_and(|n| encoded(n, b"2e")) {
            return Err(());
        }
    }
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    if decoded.contains(&0) || decoded.contains(&b'\\') {
        return Err(());
    }
    let mut segments = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => continue,
            b".." => return Err(()),
            _ => segments.push(seg.to_vec()),
        }
    }
    Ok(segments)
}

/// Finds and opens the file for `segments` (blocking). Tries the exact path, then
/// `<path>.html`, then `<path>/index.html`.
fn lookup(public_dir: &Path, segments: &[Vec<u8>], trailing_slash: bool) -> Lookup {
    let Ok(root) = public_dir.canonicalize() else {
        return Lookup::Missing;
    };
    let mut rel = PathBuf::new();
    for seg in segments {
        rel.push(std::ffi::OsStr::from_bytes(seg));
    }
    let mut candidates = Vec::with_capacity(3);
    if !segments.is_empty() && !trailing_slash {
        candidates.push(root.join(&rel));
        let mut html = root.join(&rel).into_os_string();
        html.push(".html");
        candidates.push(PathBuf::from(html));
    }
    candidates.push(root.join(&rel).join("index.html"));

    for candidate in candidates {
        let real = match candidate.canonicalize() {
            Ok(real) => real,
            Err(_) => continue,
        };
        if !real.starts_with(&root) {
            return Lookup::Rejected;
        }
        // O_NOFOLLOW: `real` has no symlinks now; refuse one swapped in since.
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&real);
        let Ok(file) = opened else { continue };
        match file.metadata() {
            Ok(meta) if meta.is_file() => return Lookup::Found(file, Box::new(meta), real),
            _ => continue,
        }
    }
    Lookup::Missing
}

/// Validators of one file version.
struct Validators {
    etag: String,
    /// Modification time truncated to whole seconds, as HTTP dates carry.
    mtime: Option<SystemTime>,
}

impl Validators {
    fn of(meta: &Metadata) -> Validators {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let secs = mtime.map_or(0, |d| d.as_secs());
        Validators {
            etag: format!("W/\"{:x}-{:x}\"", meta.len(), secs),
            mtime: mtime.map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs())),
        }
    }

    /// Weak comparison against an `If-None-Match` list.
    fn none_match(&self, value: &str) -> bool {
        let ours = self.etag.trim_start_matches("W/");
        value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
    }

    /// Whether the file is unmodified since an `If-Modified-Since` date.
    fn not_modified_since(&self, value: &str) -> bool {
        match (self.mtime, httpdate::parse_http_date(value)) {
            (Some(mtime), Ok(since)) => mtime <= since,
            _ => false,
        }
    }

    /// Whether an `If-Range` value still names this version. Our ETags are weak and
    /// If-Range needs a strong match, so only an exact date qualifies.
    fn if_range_matches(&self, value: &str) -> bool {
        match (self.mtime, httpdate::parse_http_date(value.trim())) {
            (Some(mtime), Ok(date)) => mtime == date,
            _ => false,
        }
    }
}

/// A parsed `Range` header, for a file of a known size.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Serve the whole file (no usable range, or several ranges).
    Full,
    /// Serve bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// No requested byte exists.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n`. Syntax errors mean "ignore the header".
fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some((unit, spec)) = value.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    if first.is_empty() {
        return match num(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => RangeRequest::Full,
        };
    }
    let Some(start) = num(first) else {
        return RangeRequest::Full;
    };
    let end = if last.is_empty() {
        None
    } else {
        match num(last) {
            Some(end) if end >= start => Some(end),
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial {
        start,
        end: end.map_or(size - 1, |e| e.min(size - 1)),
    }
}

/// Content-Type for `path`; text types get `charset=utf-8`.
fn content_type(path: &Path) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        );
    let value = if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Builds the response for an open regular file.
async fn respond(
    file: StdFile,
    meta: &Metadata,
    path: &Path,
    method: &Method,
    headers: &HeaderMap,
) -> Response<ProxyBody> {
    let size = meta.len();
    let validators = Validators::of(meta);
    let mut builder = Response::builder()
        .header(header::ETAG, validators.etag.as_str())
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(mtime) = validators.mtime {
        builder = builder.header(header::LAST_MODIFIED, httpdate::fmt_http_date(mtime));
    }

    // RFC 9110 13.2.2: If-None-Match takes precedence over If-Modified-Since.
    let not_modified = match header_str(headers, header::IF_NONE_MATCH) {
        Some(inm) => validators.none_match(inm),
        None => header_str(headers, header::IF_MODIFIED_SINCE)
            .is_some_and(|ims| validators.not_modified_since(ims)),
    };
    if not_modified {
        return finish(builder.status(StatusCode::NOT_MODIFIED), empty_body());
    }

    builder = builder.header(header::CONTENT_TYPE, content_type(path));
    let range = match header_str(headers, header::RANGE) {
        Some(range)
            if header_str(headers, header::IF_RANGE)
                .is_none_or(|ir| validators.if_range_matches(ir)) =>
        {
            parse_range(range, size)
        }
        _ => RangeRequest::Full,
    };
    let (status, start, len) = match range {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial { start, end } => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeRequest::Unsatisfiable => {
            return finish(
                builder
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .header(header::CONTENT_LENGTH, 0),
                empty_body(),
            );
        }
    };
    builder = builder.status(status).header(header::CONTENT_LENGTH, len);
    if method == Method::HEAD || len == 0 {
        return finish(builder, empty_body());
    }
    let mut file = tokio::fs::File::from_std(file);
    if start > 0 {
        if let Err(err) = file.seek(SeekFrom::Start(start)).await {
            tracing::warn!(path = %path.display(), error = %err, "seek in static file failed");
            return error_page::internal_error(None);
        }
    }
    finish(builder, FileBody::new(file, len).boxed_unsync())
}

fn finish(builder: http::response::Builder, body: ProxyBody) -> Response<ProxyBody> {
    match builder.body(body) {
        Ok(resp) => resp,
        Err(err) => {
            // Only reachable if a header value we built is invalid.
            tracing::warn!(error = %err, "could not build static file response");
            error_page::internal_error(None)
        }
    }
}

/// Streams `remaining` bytes of a file in chunks of at most [`CHUNK_SIZE`].
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    /// The buffer of the read in flight, kept across `Pending`.
    buf: Option<BytesMut>,
}

impl FileBody {
    fn new(file: tokio::fs::File, len: u64) -> FileBody {
        FileBody {
            file,
            remaining: len,
            buf: None,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).map_or(CHUNK_SIZE, |r| r.min(CHUNK_SIZE));
        let buf = this.buf.get_or_insert_with(|| BytesMut::zeroed(want));
        let mut read_buf = ReadBuf::new(&mut buf[..]);
        ready!(Pin::new(&mut this.file).poll_read(cx, &mut read_buf))?;
        let n = read_buf.filled().len();
        let mut buf = this.buf.take().expect("invariant: buffer set above");
        if n == 0 {
            // The file shrank after we announced its length.
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "static file shorter than its announced length",
            ))));
        }
        buf.truncate(n);
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
