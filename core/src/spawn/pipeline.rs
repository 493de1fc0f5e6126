//! Pipeline sockets of loader processes (ARCHITECTURE.md, "Request pipelining").
//!
//! A Ruby or Python loader started with `PASSENGER_PIPELINE=1` listens on a second
//! unix socket, `<session socket>.p`, and accepts from it only when it is free. The
//! core sends a pipelined request there as a new connection; until the loader
//! accepts it, it waits in that socket's backlog. The core holds the same listening
//! socket (the loader hands it over once, at spawn) so that it can take a waiting
//! request back: `accept(2)` is atomic, so whichever side accepts a connection first
//! owns it, and a request the core took back was never seen by the app.
//!
//! Owns fetching that listening socket from a loader, the withdrawal, and the small
//! control header blocks the core sends to loaders. It does not decide when to
//! pipeline or withdraw (the pool does) nor send requests (the proxy does).

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{accept4, recvmsg, ControlMessageOwned, MsgFlags, SockFlag, UnixAddr};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::UnixStream;

/// What a withdrawn pipelined connection gets instead of a response: the proxy sees
/// the `!~Withdrawn` header and sends the request elsewhere.
pub const WITHDRAWN_RESPONSE: &[u8] = b"HTTP/1.1 503 Withdrawn\r\n!~Withdrawn: 1\r\n\r\n";

/// How long a loader may take to hand over its pipeline socket.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The pipeline socket path of the loader listening on `socket`.
pub fn pipeline_path(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_os_string();
    path.push(".p");
    PathBuf::from(path)
}

/// A header block (ARCHITECTURE.md, "Session protocol") for a control request with
/// `method`, carrying the connect password if the loader has one.
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

/// The core's handle on a loader's pipeline listening socket.
#[derive(Debug)]
pub struct PipelineListener {
    fd: OwnedFd,
}

impl PipelineListener {
    /// Takes back the oldest pipelined request the loader has not accepted yet,
    /// answering it with [`WITHDRAWN_RESPONSE`]. False when there was none (the
    /// loader already started it).
    pub fn withdraw_one(&self) -> io::Result<bool> {
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        match accept4(self.fd.as_raw_fd(), flags) {
            Ok(raw) => {
                // SAFETY: accept4 just returned this descriptor; nothing else owns it.
                let mut conn = unsafe { std::os::unix::net::UnixStream::from_raw_fd(raw) };
                // A fresh connection's send buffer is empty, so this short write
                // cannot block. If the proxy side is gone, there is nobody to tell.
                let _ = conn.write_all(WITHDRAWN_RESPONSE);
                // Read the request before closing: closing with unread data would
                // reset the connection, and the proxy could miss the answer.
                let mut sink = [0u8; 8192];
                while matches!(io::Read::read(&mut conn, &mut sink), Ok(n) if n > 0) {}
                Ok(true)
            }
            Err(Errno::EAGAIN | Errno::ECONNABORTED | Errno::EINTR) => Ok(false),
            Err(errno) => Err(io::Error::from(errno)),
        }
    }
}

/// Asks the loader listening on `socket` for its pipeline listening socket (control
/// request `PIPELINE_FD`, answered with one byte and the descriptor).
pub async fn fetch_listener(socket: &Path, password: Option<&str>) -> io::Result<PipelineListener> {
    let work = async {
        let mut stream = UnixStream::connect(socket).await?;
        stream
            .write_all(&control_block("PIPELINE_FD", password))
            .await?;
        loop {
            stream.readable().await?;
            match stream.try_io(Interest::READABLE, || receive_fd(stream.as_raw_fd())) {
                Ok(fd) => break Ok(fd),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => break Err(err),
            }
        }
    };
    let fd = tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the loader did not hand over its pipeline socket",
            )
        })??;
    // The listening socket is shared with the loader: non-blocking, so that a
    // withdrawal never waits when the loader has just accepted.
    let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
        .map_err(io::Error::from)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))
        .map_err(io::Error::from)?;
    Ok(PipelineListener { fd })
}

/// The pipeline socket of the new process listening on `socket`, for an app whose
/// loader pipelines requests; `None` (logged) if it pipelines none or the handover
/// failed, in which case the process is simply never sent pipelined requests.
pub async fn listener_for(
    app: &crate::app::AppSpec,
    socket: &Path,
) -> Option<std::sync::Arc<PipelineListener>> {
    if !super::plan::pipelines(app) {
        return None;
    }
    let password = super::connect_password_for(socket);
    match fetch_listener(socket, password.as_deref()).await {
        Ok(listener) => Some(std::sync::Arc::new(listener)),
        Err(err) => {
            tracing::warn!(app = %app.name, socket = %socket.display(), "no request pipelining for this process: {err}");
            None
        }
    }
}

/// One `recvmsg` expecting a single descriptor (SCM_RIGHTS).
fn receive_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let msg = recvmsg::<UnixAddr>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut received = Vec::new();
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            received.extend(fds);
        }
    }
    if msg.bytes == 0 && received.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the loader closed the connection without a pipeline socket",
        ));
    }
    // SAFETY: SCM_RIGHTS installed these descriptors in this process for us alone.
    let mut owned: Vec<OwnedFd> = received
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    match owned.len() {
        1 => Ok(owned.remove(0)),
        n => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected one pipeline socket from the loader, got {n} descriptors"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_path_appends_p() {
        assert_eq!(
            pipeline_path(Path::new("/tmp/i/apps.s/ruby.00ff")),
            PathBuf::from("/tmp/i/apps.s/ruby.00ff.p")
        );
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

    #[tokio::test]
    async fn withdraw_takes_a_waiting_connection_and_answers_it() {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("l.p");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let handle = PipelineListener {
            fd: OwnedFd::from(listener),
        };
        assert!(
            !handle.withdraw_one().expect("empty backlog"),
            "nothing to take back"
        );
        let mut client = UnixStream::connect(&path).await.expect("connect");
        client.write_all(b"request").await.expect("write");
        assert!(handle.withdraw_one().expect("withdraw"));
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.expect("read");
        assert_eq!(answer, WITHDRAWN_RESPONSE);
    }
}
