//! Serving files from an app's `public/` directory, and its page cache.
//!
//! Owns: mapping a request path to a file inside `public/` (rejecting traversal in
//! every encoding; a symlink that leads outside is followed only if its owner owns
//! the target and the app's user could read the file, Apache's
//! `SymLinksIfOwnerMatch`, else the app gets the request), and answering GET and
//! HEAD for it with validators (ETag, Last-Modified), conditional requests (304) and
//! single byte ranges (206/416). Files are streamed in chunks, never read whole.
//! Then the page cache: `<path>.html`, `<path>/index.html`. Paths that named no
//! file are remembered for [`MISS_TTL`] ([`Misses`]), so a dynamic request does not
//! pay a failed `lstat` per candidate each time.
//!
//! It does not list directories, compress, or set caching policy (no Cache-Control),
//! and it does not decide which app's `public/` to use: the caller passes it.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File as StdFile, Metadata, OpenOptions};
use std::io::{self, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

use super::{empty_body, error_page, ProxyBody};

/// Bytes read from disk per body frame.
const CHUNK_SIZE: usize = 64 * 1024;

/// How long a path that named no file under `public/` is taken to name none: a file
/// added there is served by the core at most this long after it appears (before
/// that, the app answers its URL). The original throttles its file checks the same
/// way (`stat_throttle_rate`).
pub const MISS_TTL: Duration = Duration::from_secs(1);

/// Remembered misses beyond this are all forgotten at once: the map stays bounded
/// whatever URLs clients make up.
const MAX_MISSES: usize = 4096;

/// Request paths under some `public/` that recently named no file (see
/// [`MISS_TTL`]). Shared by all requests; cheap next to the `lstat`s it saves.
#[derive(Debug, Default)]
pub struct Misses {
    /// Keyed by the raw path (not `PathBuf`, whose comparison ignores the trailing
    /// slash that makes `/docs/` and `/docs` different lookups).
    seen: Mutex<HashMap<OsString, Instant>>,
}

impl Misses {
    /// Whether `key` named no file less than [`MISS_TTL`] before `now`.
    fn recent(&self, key: &OsStr, now: Instant) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key)
            .is_some_and(|at| now.saturating_duration_since(*at) < MISS_TTL)
    }

    fn record(&self, key: OsString, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_MISSES {
            seen.clear();
        }
        seen.insert(key, now);
    }
}

/// What resolving a request path against `public/` found.
enum Lookup {
    /// Serve this open regular file.
    Found(StdFile, Box<Metadata>, PathBuf),
    /// No such file, or one behind a link the core may not follow: the app decides.
    Missing,
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
    misses: &Misses,
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
        Err(NotAFile::Separator) => return None,
        Err(NotAFile::Traversal) => {
            tracing::debug!(path = path_and_query, "rejected static file path");
            return Some(error_page::not_found());
        }
    };
    // Lookups are a few stat/open calls on local metadata, done inline as nginx and
    // Apache do: handing each to the blocking pool cost more than the calls themselves.
    // A missing public/ (or file) costs one failed lstat per candidate in `lookup`,
    // once per MISS_TTL.
    let trailing_slash = path.ends_with('/');
    let mut key = public_dir.as_os_str().to_os_string();
    for seg in &segments {
        key.push("/");
        key.push(OsStr::from_bytes(seg));
    }
    if trailing_slash {
        key.push("/"); // `/docs/` and `/docs` try different candidates.
    }
    let now = Instant::now();
    if misses.recent(&key, now) {
        return None;
    }
    match lookup(public_dir, &segments, trailing_slash) {
        Lookup::Found(file, meta, path) => Some(respond(file, &meta, &path, method, headers).await),
        Lookup::Missing => {
            misses.record(key, now);
            None
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

/// Why a request path names no file of `public/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotAFile {
    /// An encoded separator (`%2f`, `%5c`) or a backslash: one URL segment that would be
    /// two path segments. No file is named that way; the app gets the request (Rails'
    /// `/users/fujikura%2fyuu`, with `PassengerAllowEncodedSlashes`).
    Separator,
    /// `..` (literal, encoded, or made by decoding) or a NUL byte: refused with a 404.
    Traversal,
}

/// Percent-decodes `path` into its non-empty segments, refusing anything that could
/// name a file outside the directory it is joined to.
pub(crate) fn decode_path(path: &str) -> Result<Vec<Vec<u8>>, NotAFile> {
    // Encoded dots are only ever used to sneak `..` past a filter.
    let raw = path.as_bytes();
    let encoded = |w: &[u8], code: &[u8]| w[0] == b'%' && w[1..3].eq_ignore_ascii_case(code);
    let mut separator = false;
    for (i, w) in raw.windows(3).enumerate() {
        separator |= encoded(w, b"2f") || encoded(w, b"5c");
        if encoded(w, b"2e") && raw.get(i + 3..i + 6).is_some_and(|n| encoded(n, b"2e")) {
            return Err(NotAFile::Traversal);
        }
    }
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    if decoded.contains(&0) {
        return Err(NotAFile::Traversal);
    }
    // `..` between any separators, encoded or not, is a traversal attempt first.
    if decoded
        .split(|&b| b == b'/' || b == b'\\')
        .any(|seg| seg == b"..")
    {
        return Err(NotAFile::Traversal);
    }
    if separator || decoded.contains(&b'\\') {
        return Err(NotAFile::Separator);
    }
    let mut segments = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => continue,
            _ => segments.push(seg.to_vec()),
        }
    }
    Ok(segments)
}

/// Finds and opens the file for `segments` (blocking). Tries the exact path, then
/// `<path>.html`, then `<path>/index.html`.
fn lookup(public_dir: &Path, segments: &[Vec<u8>], trailing_slash: bool) -> Lookup {
    let mut rel = PathBuf::new();
    for seg in segments {
        rel.push(OsStr::from_bytes(seg));
    }
    let mut candidates = Vec::with_capacity(3);
    if !segments.is_empty() && !trailing_slash {
        candidates.push(public_dir.join(&rel));
        let mut html = public_dir.join(&rel).into_os_string();
        html.push(".html");
        candidates.push(PathBuf::from(html));
    }
    candidates.push(public_dir.join(&rel).join("index.html"));

    // Most requests name no file: one lstat per candidate says so. Only a path that
    // exists goes through the full resolution below, which is what keeps symlinks
    // from leading out of public/ (a miss serves nothing, so it needs no check).
    let mut root: Option<PathBuf> = None;
    for candidate in candidates {
        if std::fs::symlink_metadata(&candidate).is_err() {
            continue;
        }
        let root = match &root {
            Some(root) => root.clone(),
            None => match public_dir.canonicalize() {
                Ok(r) => root.insert(r).clone(),
                Err(_) => return Lookup::Missing,
            },
        };
        let real = match candidate.canonicalize() {
            Ok(real) => real,
            Err(_) => continue,
        };
        if !real.starts_with(&root) && !links_owner_match(public_dir, &candidate) {
            // A link out of public/ that its target's owner did not make: the app
            // decides (Capistrano's public/system may be served by a controller).
            return Lookup::Missing;
        }
        // O_NOFOLLOW: `real` has no symlinks now; refuse one swapped in since.
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&real);
        let Ok(file) = opened else { continue };
        match file.metadata() {
            Ok(meta)
                if meta.is_file()
                    && !real.starts_with(&root)
                    && !app_can_read(public_dir, &meta) =>
            {
                return Lookup::Missing;
            }
            Ok(meta) if meta.is_file() => return Lookup::Found(file, Box::new(meta), real),
            _ => continue,
        }
    }
    Lookup::Missing
}

/// Apache's `SymLinksIfOwnerMatch` for `candidate` below `public_dir`: every symlink
/// on the way from `public_dir` is owned by the owner of what it points to. Only asked
/// for a path that leads out of `public/` (Capistrano's `public/system ->
/// ../shared/system`); false if anything on the way cannot be stat'ed.
fn links_owner_match(public_dir: &Path, candidate: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(rel) = candidate.strip_prefix(public_dir) else {
        return false;
    };
    let mut path = public_dir.to_path_buf();
    for part in rel.components() {
        path.push(part);
        let Ok(link) = std::fs::symlink_metadata(&path) else {
            return false;
        };
        if link.file_type().is_symlink() {
            match std::fs::metadata(&path) {
                Ok(target) if target.uid() == link.uid() => {}
                _ => return false,
            }
        }
    }
    true
}

/// Whether the app's user could read the file `meta` describes itself, judged by its
/// mode bits for the owner of `public_dir` (whom the app's files belong to): the core
/// never serves, from outside `public/`, a file the app could not.
fn app_can_read(public_dir: &Path, meta: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(public) = std::fs::metadata(public_dir) else {
        return false;
    };
    let mode = meta.mode();
    if meta.uid() == public.uid() {
        mode & 0o400 != 0
    } else if meta.gid() == public.gid() {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    struct Site {
        _tmp: tempfile::TempDir,
        public: PathBuf,
        misses: Misses,
    }

    fn site() -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let public = tmp.path().join("public");
        let outside = tmp.path().join("outside");
        for dir in [
            &public,
            &outside,
            &public.join("docs"),
            &public.join("empty"),
        ] {
            fs::create_dir_all(dir).expect("mkdir");
        }
        let write = |p: PathBuf, s: &[u8]| fs::write(p, s).expect("write");
        write(public.join("hello.txt"), b"hello world");
        write(public.join("style.css"), b"body{}");
        write(public.join("blob.unknownext"), b"\x00\x01");
        write(public.join("index.html"), b"<p>home</p>");
        write(public.join("about.html"), b"<p>about</p>");
        write(public.join("docs/index.html"), b"<p>docs</p>");
        write(public.join("empty.txt"), b"");
        write(outside.join("secret.txt"), b"secret");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        write(public.join("big.bin"), &big);
        symlink(public.join("hello.txt"), public.join("inside_link")).expect("symlink");
        symlink("docs", public.join("docs_link")).expect("symlink");
        symlink(outside.join("secret.txt"), public.join("outside_link")).expect("symlink");
        symlink(&outside, public.join("outside_dir")).expect("symlink");
        symlink("../outside/secret.txt", public.join("relative_escape")).expect("symlink");
        Site {
            _tmp: tmp,
            public,
            misses: Misses::default(),
        }
    }

    struct Got {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
        frames: usize,
    }

    impl Got {
        fn header(&self, name: header::HeaderName) -> &str {
            self.headers
                .get(&name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("missing header {name}"))
        }
    }

    async fn request(
        site: &Site,
        method: Method,
        path: &str,
        base: Option<&str>,
        headers: &[(header::HeaderName, &str)],
    ) -> Option<Got> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(name, HeaderValue::from_str(value).expect("test header"));
        }
        let resp = serve(&site.public, &method, path, base, &map, &site.misses).await?;
        let (parts, mut body) = resp.into_parts();
        let (mut out, mut frames) = (Vec::new(), 0);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("body frame").into_data() {
                frames += 1;
                out.extend_from_slice(&data);
            }
        }
        Some(Got {
            status: parts.status,
            headers: parts.headers,
            body: out,
            frames,
        })
    }

    async fn get(site: &Site, path: &str) -> Option<Got> {
        request(site, Method::GET, path, None, &[]).await
    }

    async fn get_with(site: &Site, path: &str, h: &[(header::HeaderName, &str)]) -> Got {
        request(site, Method::GET, path, None, h)
            .await
            .expect("static response")
    }

    #[tokio::test]
    async fn a_path_that_named_no_file_is_remembered_for_the_miss_ttl() {
        let site = site();
        assert!(get(&site, "/later.txt").await.is_none(), "no such file yet");
        fs::write(site.public.join("later.txt"), b"now here").expect("write");
        assert!(
            get(&site, "/later.txt").await.is_none(),
            "the miss is remembered: the app keeps answering this URL for now"
        );
        let key = OsString::from(format!("{}/later.txt", site.public.display()));
        let now = Instant::now();
        assert!(site.misses.recent(&key, now));
        assert!(
            !site.misses.recent(&key, now + MISS_TTL),
            "forgotten after MISS_TTL"
        );
        // A fresh cache (as after MISS_TTL) finds the new file.
        let fresh = Site {
            _tmp: tempfile::tempdir().expect("tempdir"),
            public: site.public.clone(),
            misses: Misses::default(),
        };
        let got = get(&fresh, "/later.txt")
            .await
            .expect("served once the miss is forgotten");
        assert_eq!(got.body, b"now here");
    }

    #[tokio::test]
    async fn a_miss_with_a_trailing_slash_does_not_hide_the_path_without_one() {
        let site = site();
        assert!(get(&site, "/about/").await.is_none(), "no about/index.html");
        let got = get(&site, "/about").await.expect("about.html");
        assert_eq!(got.body, b"<p>about</p>");
    }

    #[tokio::test]
    async fn a_current_if_range_date_gets_the_range() {
        let site = site();
        let modified = get(&site, "/hello.txt").await.expect("served");
        let date = modified.header(header::LAST_MODIFIED).to_string();
        let got = get_with(
            &site,
            "/hello.txt",
            &[(header::RANGE, "bytes=0-4"), (header::IF_RANGE, &date)],
        )
        .await;
        assert_eq!(got.status, StatusCode::PARTIAL_CONTENT, "If-Range: {date}");
        assert_eq!(got.body, b"hello");
    }

    /// Only a percent-encoded slash, backslash or `..` is refused: other escapes,
    /// a lone encoded dot, and their letters unescaped are ordinary names.
    #[tokio::test]
    async fn ordinary_escapes_and_look_alike_names_are_served() {
        let site = site();
        fs::write(site.public.join("a b.txt"), b"space").expect("write");
        fs::write(site.public.join("x2f5c2e.txt"), b"letters").expect("write");
        for (path, body) in [
            ("/a%20b.txt", &b"space"[..]),
            ("/x2f5c2e.txt", b"letters"),
            ("/hello%2etxt", b"hello world"),
            ("/hello%2Etxt", b"hello world"),
        ] {
            let got = get(&site, path)
                .await
                .unwrap_or_else(|| panic!("{path} forwarded"));
            assert_eq!(
                (got.status, &got.body[..]),
                (StatusCode::OK, body),
                "{path}"
            );
        }
    }

    /// A FIFO under public/ is not a file: looking it up neither blocks (O_NONBLOCK)
    /// nor serves it.
    #[test]
    fn a_fifo_in_public_is_not_served_and_does_not_block() {
        let site = site();
        let fifo = site.public.join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        let public = site.public.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let found = matches!(
                lookup(&public, &[b"pipe".to_vec()], false),
                Lookup::Found(..)
            );
            let _ = tx.send(found);
        });
        let found = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the lookup of a FIFO returns (opening it must not wait for a writer)");
        assert!(!found, "a FIFO is not served");
    }

    #[test]
    fn only_textual_types_get_a_charset() {
        for (file, want) in [
            ("a.png", "image/png"),
            ("a.woff2", "font/woff2"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.json", "application/json; charset=utf-8"),
            ("a.svg", "image/svg+xml; charset=utf-8"),
            ("a", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(file)), want, "{file}");
        }
    }

    /// The body announces its exact length and its end, and reads 64 KiB per frame.
    #[tokio::test]
    async fn a_file_body_streams_in_chunks_with_exact_hints() {
        let site = site();
        let file = tokio::fs::File::open(site.public.join("big.bin"))
            .await
            .expect("open");
        let mut body = FileBody::new(file, 300_000);
        assert_eq!(body.size_hint().exact(), Some(300_000));
        assert!(!body.is_end_stream());
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.expect("read").into_data().expect("a data frame");
            sizes.push(data.len());
        }
        assert_eq!(sizes, [65536, 65536, 65536, 65536, 37856]);
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[test]
    fn a_miss_is_remembered_for_exactly_the_miss_ttl() {
        let misses = Misses::default();
        let key = OsString::from("/p/x");
        let at = Instant::now();
        misses.record(key.clone(), at);
        misses.record(OsString::from("/p/z"), at);
        assert!(misses.recent(&OsString::from("/p/z"), at));
        assert!(misses.recent(&key, at + MISS_TTL - Duration::from_nanos(1)));
        assert!(!misses.recent(&key, at + MISS_TTL), "forgotten at MISS_TTL");
        assert!(
            !misses.recent(&OsString::from("/p/y"), at),
            "only what was recorded"
        );
    }

    #[test]
    fn remembered_misses_stay_bounded() {
        let misses = Misses::default();
        let now = Instant::now();
        for i in 0..=MAX_MISSES {
            misses.record(OsString::from(format!("/p/{i}")), now);
        }
        let seen = misses.seen.lock().expect("not poisoned");
        assert!(seen.len() <= MAX_MISSES, "{} entries", seen.len());
    }

    #[tokio::test]
    async fn serves_a_file_with_validators() {
        let site = site();
        let got = get(&site, "/hello.txt?x=1").await.expect("served");
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, b"hello world");
        assert_eq!(
            got.header(header::CONTENT_TYPE),
            "text/plain; charset=utf-8"
        );
        assert_eq!(got.header(header::CONTENT_LENGTH), "11");
        assert_eq!(got.header(header::ACCEPT_RANGES), "bytes");
        assert!(got.header(header::ETAG).starts_with("W/\""));
        assert!(httpdate::parse_http_date(got.header(header::LAST_MODIFIED)).is_ok());
        assert!(got.headers.get(header::CACHE_CONTROL).is_none());

        let css = get(&site, "/style.css").await.expect("served");
        assert_eq!(css.header(header::CONTENT_TYPE), "text/css; charset=utf-8");
        let blob = get(&site, "/blob.unknownext").await.expect("served");
        assert_eq!(
            blob.header(header::CONTENT_TYPE),
            "application/octet-stream"
        );
        let empty = get(&site, "/empty.txt").await.expect("served");
        assert_eq!((empty.status, empty.body.len()), (StatusCode::OK, 0));
    }

    #[tokio::test]
    async fn non_static_requests_go_to_the_app() {
        let site = site();
        assert!(request(&site, Method::POST, "/hello.txt", None, &[])
            .await
            .is_none());
        assert!(get(&site, "/missing.txt").await.is_none());
        assert!(
            get(&site, "/empty").await.is_none(),
            "directories are not listed"
        );
        assert!(get(&site, "/empty/").await.is_none());
        let missing_public = Site {
            public: site.public.join("nope"),
            _tmp: tempfile::tempdir().expect("tempdir"),
            misses: Misses::default(),
        };
        assert!(get(&missing_public, "/hello.txt").await.is_none());
    }

    #[tokio::test]
    async fn base_uri_is_stripped() {
        let site = site();
        let at = |p: &'static str| request(&site, Method::GET, p, Some("/app"), &[]);
        assert_eq!(
            at("/app/hello.txt").await.expect("served").body,
            b"hello world"
        );
        assert_eq!(at("/app").await.expect("served").body, b"<p>home</p>");
        assert!(at("/hello.txt").await.is_none());
        assert!(at("/apphello.txt").await.is_none());
    }

    #[tokio::test]
    async fn head_has_headers_but_no_body() {
        let site = site();
        let got = request(&site, Method::HEAD, "/hello.txt", None, &[])
            .await
            .expect("served");
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.header(header::CONTENT_LENGTH), "11");
        assert_eq!(
            got.header(header::CONTENT_TYPE),
            "text/plain; charset=utf-8"
        );
        assert!(got.body.is_empty());
    }

    #[tokio::test]
    async fn conditional_requests_get_304() {
        let site = site();
        let first = get(&site, "/hello.txt").await.expect("served");
        let etag = first.header(header::ETAG).to_string();
        let last_modified = first.header(header::LAST_MODIFIED).to_string();

        let got = get_with(&site, "/hello.txt", &[(header::IF_NONE_MATCH, &etag)]).await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED);
        assert!(got.body.is_empty());
        assert_eq!(got.header(header::ETAG), etag);
        let list = format!("\"other\", {}", etag.trim_start_matches("W/"));
        let got = get_with(&site, "/hello.txt", &[(header::IF_NONE_MATCH, &list)]).await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED);
        let got = get_with(&site, "/hello.txt", &[(header::IF_NONE_MATCH, "*")]).await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED);
        let got = get_with(&site, "/hello.txt", &[(header::IF_NONE_MATCH, "\"x\"")]).await;
        assert_eq!(got.status, StatusCode::OK);

        let got = get_with(
            &site,
            "/hello.txt",
            &[(header::IF_MODIFIED_SINCE, &last_modified)],
        )
        .await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED);
        let old = "Sat, 01 Jan 2000 00:00:00 GMT";
        let got = get_with(&site, "/hello.txt", &[(header::IF_MODIFIED_SINCE, old)]).await;
        assert_eq!(got.status, StatusCode::OK);
        let got = get_with(
            &site,
            "/hello.txt",
            &[(header::IF_MODIFIED_SINCE, "garbage")],
        )
        .await;
        assert_eq!(got.status, StatusCode::OK);
        // If-None-Match takes precedence over a matching If-Modified-Since.
        let got = get_with(
            &site,
            "/hello.txt",
            &[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_MODIFIED_SINCE, &last_modified),
            ],
        )
        .await;
        assert_eq!(got.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn single_ranges_get_206_and_bad_ones_416() {
        let site = site();
        let range = |r: &'static str| {
            let site = &site;
            async move { get_with(site, "/hello.txt", &[(header::RANGE, r)]).await }
        };
        for (spec, body, content_range) in [
            ("bytes=0-4", &b"hello"[..], "bytes 0-4/11"),
            ("bytes=6-", b"world", "bytes 6-10/11"),
            ("bytes=-5", b"world", "bytes 6-10/11"),
            ("bytes=-500", b"hello world", "bytes 0-10/11"),
            ("bytes=8-100", b"rld", "bytes 8-10/11"),
            ("bytes=10-10", b"d", "bytes 10-10/11"),
        ] {
            let got = range(spec).await;
            assert_eq!(got.status, StatusCode::PARTIAL_CONTENT, "{spec}");
            assert_eq!(got.body, body, "{spec}");
            assert_eq!(got.header(header::CONTENT_RANGE), content_range, "{spec}");
            assert_eq!(got.header(header::CONTENT_LENGTH), body.len().to_string());
        }
        for spec in ["bytes=11-", "bytes=20-30", "bytes=-0"] {
            let got = range(spec).await;
            assert_eq!(got.status, StatusCode::RANGE_NOT_SATISFIABLE, "{spec}");
            assert_eq!(got.header(header::CONTENT_RANGE), "bytes */11");
            assert!(got.body.is_empty());
        }
        for spec in [
            "bytes=0-1,3-4",
            "bytes=5-2",
            "items=0-1",
            "bytes=x-y",
            "bytes=1",
        ] {
            let got = range(spec).await;
            assert_eq!(got.status, StatusCode::OK, "{spec}");
            assert_eq!(got.body, b"hello world");
        }
        let got = get_with(
            &site,
            "/hello.txt",
            &[
                (header::RANGE, "bytes=0-1"),
                (header::IF_RANGE, "Sat, 01 Jan 2000 00:00:00 GMT"),
            ],
        )
        .await;
        assert_eq!(
            got.status,
            StatusCode::OK,
            "stale If-Range sends the whole file"
        );
        let head = request(
            &site,
            Method::HEAD,
            "/hello.txt",
            None,
            &[(header::RANGE, "bytes=0-4")],
        )
        .await
        .expect("served");
        assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(head.header(header::CONTENT_LENGTH), "5");
        assert!(head.body.is_empty());
        let empty = get_with(&site, "/empty.txt", &[(header::RANGE, "bytes=-1")]).await;
        assert_eq!(empty.status, StatusCode::RANGE_NOT_SATISFIABLE);
    }

    #[tokio::test]
    async fn large_files_stream_in_chunks() {
        let site = site();
        let expected: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let got = get(&site, "/big.bin").await.expect("served");
        assert_eq!(got.body, expected);
        assert!(got.frames >= 300_000 / CHUNK_SIZE, "{} frames", got.frames);
        let got = get_with(&site, "/big.bin", &[(header::RANGE, "bytes=100000-250000")]).await;
        assert_eq!(got.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(got.body, &expected[100_000..=250_000]);
    }

    #[tokio::test]
    async fn page_cache() {
        let site = site();
        for (path, body) in [
            ("/", &b"<p>home</p>"[..]),
            ("/about", b"<p>about</p>"),
            ("/docs", b"<p>docs</p>"),
            ("/docs/", b"<p>docs</p>"),
            ("/docs_link/", b"<p>docs</p>"),
        ] {
            let got = get(&site, path).await.expect(path);
            assert_eq!(got.status, StatusCode::OK, "{path}");
            assert_eq!(got.body, body, "{path}");
            assert_eq!(got.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
        }
        let head = request(&site, Method::HEAD, "/about", None, &[])
            .await
            .expect("served");
        assert_eq!(head.header(header::CONTENT_LENGTH), "12");
        assert!(get(&site, "/about/").await.is_none());
    }

    #[tokio::test]
    async fn symlinks_inside_public_are_followed() {
        let site = site();
        let got = get(&site, "/inside_link").await.expect("served");
        assert_eq!(got.body, b"hello world");
    }

    #[tokio::test]
    async fn links_out_of_public_are_served_when_their_owner_owns_the_target() {
        let site = site();
        for path in [
            "/outside_link",
            "/outside_dir/secret.txt",
            "/relative_escape",
        ] {
            let got = get(&site, path).await.unwrap_or_else(|| panic!("{path}"));
            assert_eq!(
                (got.status, got.body.as_slice()),
                (StatusCode::OK, &b"secret"[..])
            );
        }
    }

    /// Needs root to give a link or a file away (CI runs as root).
    #[tokio::test]
    async fn links_out_of_public_go_to_the_app_unless_owners_match_and_the_app_could_read() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test chowns files: run it as root"
        );
        let site = site();
        let nobody = Some(nix::unistd::Uid::from_raw(65534));
        let outside = site.public.parent().expect("tempdir").join("outside");
        // A link made by someone else than the target's owner.
        nix::unistd::fchownat(
            None,
            &site.public.join("outside_link"),
            nobody,
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("lchown");
        assert!(
            get(&site, "/outside_link").await.is_none(),
            "goes to the app"
        );
        // The target given away: the owners differ, so the app decides.
        fs::write(outside.join("theirs.txt"), b"theirs").expect("write");
        nix::unistd::chown(&outside.join("theirs.txt"), nobody, None).expect("chown");
        symlink(outside.join("theirs.txt"), site.public.join("theirs_link")).expect("symlink");
        assert!(
            get(&site, "/theirs_link").await.is_none(),
            "goes to the app"
        );
        // Owners match through a linked directory, but the app's user (public/'s
        // owner) may not read the file: not served either.
        fs::write(outside.join("unreadable.txt"), b"x").expect("write");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            outside.join("unreadable.txt"),
            fs::Permissions::from_mode(0o044),
        )
        .expect("chmod");
        assert!(get(&site, "/outside_dir/unreadable.txt").await.is_none());
        // Still served: the same-owner, readable file through the same directory link.
        assert_eq!(
            get(&site, "/outside_dir/secret.txt")
                .await
                .expect("served")
                .body,
            b"secret"
        );
    }

    #[tokio::test]
    async fn traversal_vectors_get_404() {
        let site = site();
        for path in [
            "/../etc/passwd",
            "/../outside/secret.txt",
            "/docs/../../outside/secret.txt",
            "/docs/../hello.txt",
            "/..",
            "/%2e%2e/x",
            "/%2e%2e/outside/secret.txt",
            "/a/%2E%2E/%2e%2e/x",
            "/.%2e/outside/secret.txt",
            "/%2e./outside/secret.txt",
            "/..%2f..%2fetc%2fpasswd",
            "/a/..%2fb",
            "/%00",
            "/hello.txt%00.png",
            "/..%5coutside%5csecret.txt",
            "/..\\outside\\secret.txt",
        ] {
            let got = get(&site, path)
                .await
                .unwrap_or_else(|| panic!("{path} was forwarded"));
            assert_eq!(got.status, StatusCode::NOT_FOUND, "{path}");
            assert!(
                !String::from_utf8_lossy(&got.body).contains("secret"),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn encoded_separators_name_no_file_and_go_to_the_app() {
        let site = site();
        for path in [
            "/a%2fb",
            "/docs%2Findex.html",
            "/hello.txt%5c",
            "/a\\b",
            "/users/x%2F",
        ] {
            assert!(get(&site, path).await.is_none(), "{path} was not forwarded");
        }
        assert_eq!(decode_path("/u/a%2fb"), Err(NotAFile::Separator));
        assert_eq!(decode_path("/u/a%5Cb"), Err(NotAFile::Separator));
        assert_eq!(decode_path("/u/..%2fb"), Err(NotAFile::Traversal));
        assert_eq!(decode_path("/u/%2e%2e%5cb"), Err(NotAFile::Traversal));
        assert_eq!(decode_path("/u/..\\b"), Err(NotAFile::Traversal));
        assert_eq!(decode_path("/u/x%00"), Err(NotAFile::Traversal));
        assert_eq!(
            decode_path("/u/./a%20b/"),
            Ok(vec![b"u".to_vec(), b"a b".to_vec()])
        );
    }

    #[test]
    fn range_parsing() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-0", 1), Partial { start: 0, end: 0 });
        assert_eq!(
            parse_range(" bytes = 2 - 3 ", 10),
            Partial { start: 2, end: 3 }
        );
        assert_eq!(parse_range("bytes=-3", 2), Partial { start: 0, end: 1 });
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=+1-2", 10), Full);
        assert_eq!(parse_range("bytes=99999999999999999999999-", 10), Full);
        assert_eq!(parse_range("bytes=", 10), Full);
    }
}
