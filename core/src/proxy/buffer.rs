//! Body buffering between a client and an app process, so that a slow client never
//! holds an app process.
//!
//! Owns the [`Spool`] (bytes in memory up to a limit, then in an unlinked file under
//! the data buffer dir, up to the high watermark in all for a response), the decision which responses are buffered
//! ([`response_mode`]), the task that drains an app's response into a spool as fast
//! as the app writes it ([`buffer_response`]), and reading a whole request body
//! before a process is checked out ([`spool_request`]).
//!
//! A response body from an app (see [`forward`](super::forward)) holds its pool
//! session until its last frame; draining it into a spool therefore checks the
//! session in as soon as the app has finished writing, while the client is served
//! from the spool at its own pace. It does not choose processes nor parse HTTP: a
//! request body that hyper rejects (bad chunked framing, early end) is simply an
//! error here, which the proxy answers with 400.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::ProxyBody;

/// Passenger's `response_buffer_high_watermark` default: 128 MiB.
pub const DEFAULT_HIGH_WATERMARK: u64 = 128 * 1024 * 1024;

/// How much of one body is kept in memory before the rest goes to a file (the
/// original's `file_buffered_channel_threshold`).
pub const MEMORY_LIMIT: u64 = 128 * 1024;

/// Largest piece read back from a spool file at a time.
const FILE_READ_CHUNK: u64 = 256 * 1024;

/// Where and how much bodies are buffered; shared by every request.
#[derive(Debug, Clone)]
pub struct BufferSettings {
    /// Bytes of one response buffered (memory and file) before the core stops
    /// reading from the app until the client catches up.
    pub high_watermark: u64,
    /// Bytes of one body kept in memory before the rest goes to a file.
    pub memory_limit: u64,
    /// The directory spool files are created in (and unlinked from at once).
    pub dir: PathBuf,
}

impl Default for BufferSettings {
    fn default() -> Self {
        BufferSettings {
            high_watermark: DEFAULT_HIGH_WATERMARK,
            memory_limit: MEMORY_LIMIT,
            dir: std::env::temp_dir(),
        }
    }
}

/// How one response travels to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Straight through: the process stays busy until the client has read it all.
    Unbuffered,
    /// Through a spool: in memory up to the memory limit, then in a file, up to
    /// the high watermark in all; beyond it the app is read no further until the
    /// client catches up (so an endless stream takes at most that much disk).
    Buffered,
}

/// Decides how a response from an app travels (see ARCHITECTURE.md, "Response
/// buffering"): unbuffered when the app opts out (`buffer_response = false`, or
/// `X-Accel-Buffering: no` on the response), for `text/event-stream`, for an
/// upgrade (`101`), and for an empty body; buffered otherwise.
pub fn response_mode(
    app_buffers: bool,
    status: http::StatusCode,
    headers: &HeaderMap,
    body: &ProxyBody,
) -> ResponseMode {
    if !app_buffers || status == http::StatusCode::SWITCHING_PROTOCOLS || body.is_end_stream() {
        return ResponseMode::Unbuffered;
    }
    let event_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..17)
                .is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream"))
        });
    let opted_out = headers
        .get("x-accel-buffering")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no"));
    if event_stream || opted_out {
        return ResponseMode::Unbuffered;
    }
    ResponseMode::Buffered
}

/// Serves `resp` to the client from a spool that a task of its own fills from the
/// app as fast as the app writes; `mode` comes from [`response_mode`].
pub fn buffer_response(
    resp: Response<ProxyBody>,
    mode: ResponseMode,
    settings: &BufferSettings,
) -> Response<ProxyBody> {
    if mode == ResponseMode::Unbuffered {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let hint = body.size_hint();
    let spool = Spool::new(
        settings.memory_limit.min(settings.high_watermark),
        Some(settings.dir.clone()),
        Some(settings.high_watermark),
    );
    let reader = SpoolBody::new(spool.clone(), hint);
    tokio::spawn(async move {
        // An app error ends up in the spool; the client gets what came before it,
        // then the error (its connection is closed, never a short clean body).
        let _ = spool.fill(body, true).await;
    });
    Response::from_parts(parts, reader.boxed_unsync())
}

/// A buffered response body of at most this many bytes (by its exact size) is read
/// whole before the response is handed on, so the head and the body leave in one write.
pub const SMALL_BODY: u64 = 64 * 1024;

/// Like [`buffer_response`], but a buffered body of known size up to [`SMALL_BODY`]
/// is read from the app first and handed on complete: hyper then finds the body ready
/// when it writes the head and sends both in one write (one packet for the client, one
/// wakeup less for a web server module reading it), and the app's session is checked
/// in before the client is answered. An app error while reading reaches the client as
/// a body error (its connection is closed), as from the spool.
pub async fn respond(
    resp: Response<ProxyBody>,
    mode: ResponseMode,
    settings: &BufferSettings,
) -> Response<ProxyBody> {
    let small = resp
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= SMALL_BODY);
    if mode == ResponseMode::Unbuffered || !small {
        return buffer_response(resp, mode, settings);
    }
    let (parts, body) = resp.into_parts();
    let body = match body.collect().await {
        Ok(collected) => http_body_util::Full::new(collected.to_bytes())
            .map_err(|never| match never {})
            .boxed_unsync(),
        Err(err) => {
            http_body_util::StreamBody::new(futures_util::stream::once(async move { Err(err) }))
                .boxed_unsync()
        }
    };
    Response::from_parts(parts, body)
}

/// Why a request body could not be buffered.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The client's body is broken: it ended early, or its chunked framing is
    /// invalid (hyper's decoder says which). The client gets 400.
    #[error("invalid or incomplete request body: {0}")]
    Body(#[source] std::io::Error),
    /// The buffer file could not be created or written. The client gets 500.
    #[error("cannot buffer the request body: {0}")]
    Spool(#[source] std::io::Error),
}

/// Reads all of a request body into a spool: in memory up to
/// `settings.memory_limit`, the rest in a file. The body it returns replays
/// exactly those bytes; the `u64` is their count. An error means the request must
/// not reach the app.
pub async fn spool_request(
    body: ProxyBody,
    settings: &BufferSettings,
) -> Result<(ProxyBody, u64), BufferError> {
    let spool = Spool::new(settings.memory_limit, Some(settings.dir.clone()), None);
    let total = spool.fill(body, false).await.map_err(|err| match err {
        FillError::Body(err) => BufferError::Body(err),
        FillError::Spool(err) => BufferError::Spool(err),
    })?;
    let body = SpoolBody::new(spool, SizeHint::with_exact(total));
    Ok((body.boxed_unsync(), total))
}

/// Why [`Spool::fill`] stopped early.
#[derive(Debug)]
enum FillError {
    /// The body being read failed.
    Body(std::io::Error),
    /// The spool file failed.
    Spool(std::io::Error),
}

/// Creates an unlinked, read-write file in `dir`: `O_TMPFILE` where the file system
/// has it, else a fresh name removed right after creating it.
fn unlinked_file(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(file) => return Ok(file),
        Err(err) if err.raw_os_error() == Some(libc::EISDIR) => {}
        Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
        Err(err) => return Err(err),
    }
    for _ in 0..16 {
        let name = dir.join(format!("buffer.{:016x}", rand::random::<u64>()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&name)
        {
            Ok(file) => {
                std::fs::remove_file(&name)?;
                return Ok(file);
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "no free buffer file name",
    ))
}

/// Bytes on their way from a writer (the app, or the client's upload) to a reader,
/// in memory up to `memory_limit`, then in a file if the spool may spill; a writer
/// with a concurrent reader waits while `total_limit` bytes are unread.
///
/// Order is kept by one rule: while the file holds unread bytes or is being
/// written, new bytes go to the file too; the reader takes memory first, then the
/// file. So every byte in memory is older than every byte in the file.
#[derive(Debug, Clone)]
struct Spool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer when the reader took bytes from memory or went away.
    room: Notify,
    memory_limit: u64,
    /// Where the file is created; `None`: never spill (memory only, up to
    /// `memory_limit`).
    dir: Option<PathBuf>,
    /// Most unread bytes (memory and file) before the writer waits.
    total_limit: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    memory: VecDeque<Bytes>,
    memory_len: u64,
    file: Option<Arc<File>>,
    /// End of the bytes written to the file.
    file_written: u64,
    /// Start of the bytes not yet handed to the reader.
    file_read: u64,
    file_writing: bool,
    /// The writer saw the body's end.
    done: bool,
    trailers: Option<HeaderMap>,
    error: Option<std::io::Error>,
    reader_gone: bool,
    reader_waker: Option<Waker>,
    /// Most bytes held in memory at once (tests).
    peak_memory: u64,
    /// Most unread bytes, memory and file, at once (tests).
    peak_unread: u64,
}

impl State {
    /// Bytes written and not yet handed to the reader, in memory and the file.
    fn unread(&self) -> u64 {
        self.memory_len + (self.file_written - self.file_read)
    }

    fn wake_reader(&mut self) {
        if let Some(waker) = self.reader_waker.take() {
            waker.wake();
        }
    }
}

impl Spool {
    fn new(memory_limit: u64, dir: Option<PathBuf>, total_limit: Option<u64>) -> Spool {
        Spool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                room: Notify::new(),
                memory_limit: memory_limit.max(1),
                dir,
                total_limit,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves every frame of `body` into the spool and returns the byte count.
    /// With `concurrent_reader`, a full memory spool that cannot spill waits for the
    /// reader, and a reader that went away stops the fill (dropping `body`). An
    /// error is both returned and left for the reader.
    async fn fill(&self, mut body: ProxyBody, concurrent_reader: bool) -> Result<u64, FillError> {
        let mut total: u64 = 0;
        loop {
            if concurrent_reader {
                // Backpressure for a spool that may not spill: wait for room.
                loop {
                    let room = self.shared.room.notified();
                    {
                        let st = self.lock();
                        if st.reader_gone {
                            return Ok(total);
                        }
                        let full = match (&self.shared.dir, self.shared.total_limit) {
                            (None, _) => st.memory_len >= self.shared.memory_limit,
                            (Some(_), Some(limit)) => st.unread() >= limit,
                            (Some(_), None) => false,
                        };
                        if !full {
                            break;
                        }
                    }
                    room.await;
                }
            }
            let frame = if concurrent_reader {
                let gone = self.shared.room.notified();
                tokio::select! {
                    frame = body.frame() => frame,
                    () = gone => {
                        if self.lock().reader_gone {
                            return Ok(total);
                        }
                        continue;
                    }
                }
            } else {
                body.frame().await
            };
            let frame = match frame {
                None => {
                    let mut st = self.lock();
                    st.done = true;
                    st.wake_reader();
                    return Ok(total);
                }
                Some(Err(err)) => {
                    let mut st = self.lock();
                    st.error = Some(std::io::Error::new(err.kind(), err.to_string()));
                    st.done = true;
                    st.wake_reader();
                    return Err(FillError::Body(err));
                }
                Some(Ok(frame)) => frame,
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.lock().trailers = Some(trailers);
                    }
                    continue;
                }
            };
            if data.is_empty() {
                continue;
            }
            total += data.len() as u64;
            if let Err(err) = self.push(data).await {
                let mut st = self.lock();
                st.error = Some(std::io::Error::new(err.kind(), err.to_string()));
                st.done = true;
                st.wake_reader();
                return Err(FillError::Spool(err));
            }
        }
    }

    /// Stores one piece: in memory, or at the end of the file (see [`Spool`]).
    async fn push(&self, data: Bytes) -> std::io::Result<()> {
        let len = data.len() as u64;
        let (file, offset) = {
            let mut st = self.lock();
            let to_file = self.shared.dir.is_some()
                && (st.file_writing
                    || st.file_written > st.file_read
                    || st.memory_len + len > self.shared.memory_limit);
            if !to_file {
                st.memory_len += len;
                st.peak_memory = st.peak_memory.max(st.memory_len);
                st.memory.push_back(data);
                st.peak_unread = st.peak_unread.max(st.unread());
                st.wake_reader();
                return Ok(());
            }
            let file = match &st.file {
                Some(file) => file.clone(),
                None => {
                    let dir = self
                        .shared
                        .dir
                        .clone()
                        .expect("invariant: to_file implies a spill dir");
                    let file = Arc::new(unlinked_file(&dir).map_err(|err| {
                        std::io::Error::new(
                            err.kind(),
                            format!("cannot create a buffer file in {}: {err}", dir.display()),
                        )
                    })?);
                    st.file = Some(file.clone());
                    file
                }
            };
            st.file_writing = true;
            (file, st.file_written)
        };
        let written = tokio::task::spawn_blocking(move || file.write_all_at(&data, offset))
            .await
            .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        let mut st = self.lock();
        st.file_writing = false;
        written?;
        st.file_written += len;
        st.peak_unread = st.peak_unread.max(st.unread());
        st.wake_reader();
        Ok(())
    }

    /// Most bytes this spool held in memory at once.
    #[cfg(test)]
    fn peak_memory(&self) -> u64 {
        self.lock().peak_memory
    }

    /// Most unread bytes this spool held at once.
    #[cfg(test)]
    fn peak_unread(&self) -> u64 {
        self.lock().peak_unread
    }
}

/// The reading end of a [`Spool`], as a response or request body.
struct SpoolBody {
    spool: Spool,
    reading: Option<JoinHandle<std::io::Result<Bytes>>>,
    hint: SizeHint,
    sent: u64,
    ended: bool,
}

impl SpoolBody {
    fn new(spool: Spool, hint: SizeHint) -> SpoolBody {
        SpoolBody {
            spool,
            reading: None,
            hint,
            sent: 0,
            ended: false,
        }
    }

    fn data(&mut self, data: Bytes) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.sent += data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}

impl Body for SpoolBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(task) = this.reading.as_mut() {
            let read = match Pin::new(task).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(read) => read.unwrap_or_else(|err| Err(std::io::Error::other(err))),
            };
            this.reading = None;
            let mut st = this.spool.lock();
            if st.file_read == st.file_written && !st.file_writing {
                // Drained: the file starts over, so a long response through a slow
                // client takes no more disk than it is ahead by.
                st.file_read = 0;
                st.file_written = 0;
                if let Some(file) = &st.file {
                    let _ = file.set_len(0);
                }
            }
            drop(st);
            this.spool.shared.room.notify_one();
            return match read {
                Ok(data) => this.data(data),
                Err(err) => {
                    this.ended = true;
                    Poll::Ready(Some(Err(err)))
                }
            };
        }
        let mut st = this.spool.lock();
        if let Some(data) = st.memory.pop_front() {
            st.memory_len -= data.len() as u64;
            drop(st);
            this.spool.shared.room.notify_one();
            return this.data(data);
        }
        if st.file_written > st.file_read {
            let offset = st.file_read;
            let len = (st.file_written - st.file_read).min(FILE_READ_CHUNK);
            st.file_read += len;
            let file = st
                .file
                .clone()
                .expect("invariant: bytes were written to the file");
            drop(st);
            this.reading = Some(tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, offset)?;
                Ok(Bytes::from(buf))
            }));
            return Pin::new(this).poll_frame(cx);
        }
        if let Some(err) = st.error.take() {
            this.ended = true;
            return Poll::Ready(Some(Err(err)));
        }
        if st.done {
            this.ended = true;
            return match st.trailers.take() {
                Some(trailers) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                None => Poll::Ready(None),
            };
        }
        st.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.hint.exact() == Some(self.sent)
    }

    fn size_hint(&self) -> SizeHint {
        match self.hint.exact() {
            Some(total) => SizeHint::with_exact(total.saturating_sub(self.sent)),
            None => SizeHint::default(),
        }
    }
}

impl Drop for SpoolBody {
    fn drop(&mut self) {
        let mut st = self.spool.lock();
        st.reader_gone = true;
        drop(st);
        self.spool.shared.room.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// A body of `pieces` frames of `size` bytes, then optionally an error.
    fn body_of(data: &[u8], size: usize, fail: bool) -> ProxyBody {
        let mut frames: Vec<Result<Frame<Bytes>, std::io::Error>> = data
            .chunks(size)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        if fail {
            frames.push(Err(std::io::Error::other("client went away")));
        }
        StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
    }

    #[tokio::test]
    async fn a_spilled_body_comes_back_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(1_000_003);
        let spool = Spool::new(10_000, Some(dir.path().to_path_buf()), None);
        let total = spool
            .fill(body_of(&data, 7_001, false), false)
            .await
            .unwrap();
        assert_eq!(total, data.len() as u64);
        assert!(spool.peak_memory() <= 10_000, "{}", spool.peak_memory());
        let body = SpoolBody::new(spool, SizeHint::with_exact(total));
        let back = body.collect().await.unwrap().to_bytes();
        assert_eq!(back.len(), data.len());
        assert!(back[..] == data[..], "bytes differ");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the buffer file is unlinked at once"
        );
    }

    #[tokio::test]
    async fn a_concurrent_reader_gets_everything_while_memory_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(3_000_000);
        let settings = BufferSettings {
            high_watermark: 1024 * 1024,
            memory_limit: 64 * 1024,
            dir: dir.path().to_path_buf(),
        };
        let resp = Response::new(body_of(&data, 16 * 1024, false));
        let resp = buffer_response(resp, ResponseMode::Buffered, &settings);
        let back = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(back[..] == data[..], "bytes differ");
    }

    /// `body` with an exact size, as an app response with `Content-Length` has.
    struct Sized(ProxyBody, u64);

    impl Body for Sized {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Pin::new(&mut self.0).poll_frame(cx)
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.1)
        }
    }

    #[tokio::test]
    async fn a_small_complete_body_is_handed_on_in_one_ready_frame() {
        let data = pattern(SMALL_BODY as usize);
        let body = Sized(body_of(&data, 1000, false), data.len() as u64).boxed_unsync();
        let resp = respond(
            Response::new(body),
            ResponseMode::Buffered,
            &BufferSettings::default(),
        )
        .await;
        let mut body = resp.into_body();
        // Ready at the first poll (so hyper writes it with the head), and whole.
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) else {
            panic!("the body is not ready at once");
        };
        assert_eq!(frame.into_data().expect("data")[..], data[..]);
        assert!(body.is_end_stream());

        // A bigger one, or one of unknown size, goes through the spool, in pieces.
        let big = pattern(SMALL_BODY as usize + 1);
        let body = Sized(body_of(&big, 1000, false), big.len() as u64).boxed_unsync();
        let resp = respond(
            Response::new(body),
            ResponseMode::Buffered,
            &BufferSettings::default(),
        )
        .await;
        let back = resp.into_body().collect().await.expect("body").to_bytes();
        assert!(back[..] == big[..]);

        // An app error still reaches the client as an error.
        let body = Sized(body_of(&data[..100], 10, true), 200).boxed_unsync();
        let resp = respond(
            Response::new(body),
            ResponseMode::Buffered,
            &BufferSettings::default(),
        )
        .await;
        let err = resp.into_body().collect().await.expect_err("an error");
        assert!(err.to_string().contains("client went away"), "{err}");
    }

    #[tokio::test]
    async fn an_error_reaches_the_reader_after_the_bytes_before_it() {
        let data = pattern(5000);
        let resp = Response::new(body_of(&data, 1000, true));
        let resp = buffer_response(resp, ResponseMode::Buffered, &BufferSettings::default());
        let mut body = resp.into_body();
        let mut got = Vec::new();
        let err = loop {
            match body.frame().await {
                Some(Ok(f)) => got.extend_from_slice(&f.into_data().unwrap()),
                Some(Err(err)) => break err,
                None => panic!("a failed body must not end cleanly"),
            }
        };
        assert_eq!(got, data);
        assert!(err.to_string().contains("client went away"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_upload_is_an_error() {
        let Err(err) =
            spool_request(body_of(&pattern(100), 10, true), &BufferSettings::default()).await
        else {
            panic!("a failed body is an error");
        };
        assert!(matches!(err, BufferError::Body(_)), "{err:?}");
        assert!(err.to_string().contains("client went away"));
        let missing = BufferSettings {
            dir: PathBuf::from("/nonexistent/buffers"),
            memory_limit: 10,
            ..BufferSettings::default()
        };
        let Err(err) = spool_request(body_of(&pattern(100), 10, false), &missing).await else {
            panic!("a missing buffer dir is an error");
        };
        assert!(matches!(err, BufferError::Spool(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_memory_spool_waits_for_its_reader() {
        let spool = Spool::new(100, None, None);
        let writer = spool.clone();
        let fill = tokio::spawn(async move {
            writer
                .fill(body_of(&pattern(10_000), 50, false), true)
                .await
        });
        let reader = SpoolBody::new(spool.clone(), SizeHint::default());
        let back = reader.collect().await.unwrap().to_bytes();
        assert_eq!(back.len(), 10_000);
        assert_eq!(fill.await.unwrap().unwrap(), 10_000);
        assert!(spool.peak_memory() <= 150, "{}", spool.peak_memory());
    }

    #[tokio::test]
    async fn a_writer_waits_at_the_high_watermark_memory_and_file_together() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(1000, Some(dir.path().to_path_buf()), Some(20_000));
        let writer = spool.clone();
        let fill = tokio::spawn(async move {
            writer
                .fill(body_of(&pattern(500_000), 700, false), true)
                .await
        });
        // Nobody reads yet: the writer stops at the watermark.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!fill.is_finished(), "the writer waits for the reader");
        assert!(
            spool.peak_unread() < 20_000 + 700,
            "{}",
            spool.peak_unread()
        );
        assert!(spool.peak_memory() <= 1000, "{}", spool.peak_memory());
        let reader = SpoolBody::new(spool.clone(), SizeHint::default());
        let back = reader.collect().await.unwrap().to_bytes();
        assert!(back[..] == pattern(500_000)[..], "bytes differ");
        assert_eq!(fill.await.unwrap().unwrap(), 500_000);
        assert!(
            spool.peak_unread() < 20_000 + 700,
            "{}",
            spool.peak_unread()
        );
    }

    #[test]
    fn streams_and_opt_outs_are_not_buffered() {
        let body = || body_of(b"x", 1, false);
        let ok = http::StatusCode::OK;
        let mut h = HeaderMap::new();
        assert_eq!(response_mode(true, ok, &h, &body()), ResponseMode::Buffered);
        assert_eq!(
            response_mode(false, ok, &h, &body()),
            ResponseMode::Unbuffered
        );
        let sized = Full::new(Bytes::from_static(b"abc"))
            .map_err(|never| match never {})
            .boxed_unsync();
        assert_eq!(response_mode(true, ok, &h, &sized), ResponseMode::Buffered);
        assert_eq!(
            response_mode(true, ok, &h, &super::super::empty_body()),
            ResponseMode::Unbuffered
        );
        h.insert(
            header::CONTENT_TYPE,
            "Text/Event-Stream; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(
            response_mode(true, ok, &h, &body()),
            ResponseMode::Unbuffered
        );
        let mut h = HeaderMap::new();
        h.insert("x-accel-buffering", "no".parse().unwrap());
        assert_eq!(
            response_mode(true, ok, &h, &body()),
            ResponseMode::Unbuffered
        );
        assert_eq!(
            response_mode(
                true,
                http::StatusCode::SWITCHING_PROTOCOLS,
                &HeaderMap::new(),
                &body()
            ),
            ResponseMode::Unbuffered
        );
    }
}
