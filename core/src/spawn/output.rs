//! Capture of an app process's stdout and stderr.
//!
//! Owns the tasks that read the app's output pipes line by line, log every line under
//! the `app_output` target, and, while the spawn is in progress, keep the last
//! [`TAIL_LIMIT`] bytes for [`SpawnError::output`](super::SpawnError::output). It does
//! not decide when a spawn failed.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::task::JoinHandle;

/// Bytes of output kept for a spawn error.
pub const TAIL_LIMIT: usize = 64 * 1024;

/// Longest line logged as one record; longer lines are split.
const MAX_LINE: u64 = 16 * 1024;

#[derive(Debug, Default)]
struct Tail {
    /// `false` once the spawn is over: nothing is kept any more.
    capturing: bool,
    text: String,
}

/// Output capture for one process: reader tasks plus the shared tail buffer.
#[derive(Debug)]
pub struct OutputCapture {
    tail: Arc<Mutex<Tail>>,
    readers: Vec<JoinHandle<()>>,
}

impl OutputCapture {
    /// Starts a reader task per stream. Tasks end at EOF, which comes when the
    /// process and every descendant holding the pipe have exited.
    pub fn start<R>(pid: u32, streams: impl IntoIterator<Item = R>) -> OutputCapture
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let tail = Arc::new(Mutex::new(Tail {
            capturing: true,
            text: String::new(),
        }));
        let readers = streams
            .into_iter()
            .map(|stream| tokio::spawn(read_lines(pid, stream, Arc::clone(&tail))))
            .collect();
        OutputCapture { tail, readers }
    }

    /// Stops keeping output (the spawn succeeded); lines are still logged.
    pub fn stop_capturing(self) {
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.capturing = false;
        tail.text = String::new();
    }

    /// Waits up to `grace` for the streams to reach EOF, then returns the kept output.
    /// The wait lets the last lines of a process that just exited arrive.
    pub async fn finish(self, grace: std::time::Duration) -> String {
        let all = futures_util::future::join_all(self.readers);
        let _ = tokio::time::timeout(grace, all).await;
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.capturing = false;
        std::mem::take(&mut tail.text)
    }
}

async fn read_lines<R>(pid: u32, stream: R, tail: Arc<Mutex<Tail>>)
where
    R: AsyncRead + Unpin,
{
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(pid, error = %e, "stopped reading app output");
                return;
            }
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        tracing::info!(target: "app_output", pid, "App {pid} output: {line}");
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.capturing {
            tail.text.push_str(&text);
            if !text.ends_with('\n') {
                // A split long line or a last line without newline.
                tail.text.push('\n');
            }
            trim_front(&mut tail.text, TAIL_LIMIT);
        }
    }
}

/// Drops the oldest bytes of `s` so it is at most `limit` bytes, at a char boundary.
fn trim_front(s: &mut String, limit: usize) {
    if s.len() <= limit {
        return;
    }
    let mut cut = s.len() - limit;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    s.drain(..cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_front_keeps_the_end_on_a_char_boundary() {
        let mut s = "aé".repeat(10);
        trim_front(&mut s, 4);
        assert!(s.len() <= 4);
        assert!(s.ends_with('é'));
    }

    #[tokio::test]
    async fn keeps_lines_until_stopped() {
        let input: &[u8] = b"one\ntwo\nno newline";
        let capture = OutputCapture::start(1, [input]);
        let out = capture.finish(std::time::Duration::from_secs(5)).await;
        assert_eq!(out, "one\ntwo\nno newline\n");
    }
}
