//! A tiny, fast HTTP/1.1 app for benchmarks: answers every request with `hello\n`.
//!
//! It listens on `127.0.0.1:$PORT` (the contract for generic apps), keeps connections alive, and
//! understands just enough HTTP/1.1 to frame requests: the header block, `Content-Length` bodies and
//! `Connection: close`. It does not support chunked request bodies; a client sending one gets a 501
//! and the connection is closed. It exists so `bench/proxy` measures proxy overhead, not app speed.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
const RESPONSE_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";
const NOT_IMPLEMENTED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Header blocks larger than this are refused rather than buffered without bound.
const MAX_HEAD: usize = 64 * 1024;

/// What one parsed request head asks of the connection.
struct Head {
    /// Bytes of the head including the blank line.
    len: usize,
    /// Declared body length.
    body: usize,
    close: bool,
    chunked: bool,
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn parse_head(buf: &[u8]) -> Option<Head> {
    let len = find_head_end(buf)?;
    let text = String::from_utf8_lossy(&buf[..len]);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    // HTTP/1.0 closes by default.
    let mut close = request_line.ends_with("HTTP/1.0");
    let mut body = 0;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Some(Head {
        len,
        body,
        close,
        chunked,
    })
}

async fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        // Answer every complete request already buffered (pipelining) before reading more.
        while let Some(head) = parse_head(&buf) {
            if head.chunked {
                stream.write_all(NOT_IMPLEMENTED).await?;
                return Ok(());
            }
            let total = head.len.saturating_add(head.body);
            while buf.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            if head.close {
                stream.write_all(RESPONSE_CLOSE).await?;
                return Ok(());
            }
            stream.write_all(RESPONSE).await?;
        }
        if buf.len() > MAX_HEAD {
            stream.write_all(TOO_LARGE).await?;
            return Ok(());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .map_err(|_| anyhow::anyhow!("PORT is not set"))?
        .parse()
        .map_err(|e| anyhow::anyhow!("PORT is not a port number: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    println!("passenger-bench-app listening on {addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            // Out of fds and the like: back off briefly, keep serving the connections we have.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let _ = serve(stream).await;
        });
    }
}
