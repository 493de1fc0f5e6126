//! A client of the loaders' session protocol (ARCHITECTURE.md, "Session protocol"): a header
//! block of CGI-style variables, the body (plain or framed), and the response read until EOF.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// A loader's session socket and the connect password its process expects (from its
/// `SpawnedProcess`). Derefs to the socket's path.
pub struct LoaderSocket {
    pub path: PathBuf,
    pub password: Option<String>,
}

impl std::ops::Deref for LoaderSocket {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for LoaderSocket {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// One request over the session protocol.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: &'a [u8],
    /// Send the body de-chunked and framed (`PASSENGER_BODY_FRAMED`), without CONTENT_LENGTH.
    pub chunked: bool,
    /// Override of the connect password (default: the process's).
    pub password: Option<String>,
    /// Offer keep-alive (`PASSENGER_KEEP_ALIVE=1`).
    pub keep_alive: bool,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path,
            headers: Vec::new(),
            body: b"",
            chunked: false,
            password: None,
            keep_alive: false,
        }
    }

    pub fn post(path: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method: "POST",
            body,
            ..Request::get(path)
        }
    }

    /// The header block: its length (4 bytes, big-endian), then NUL-separated names and values.
    pub fn header_block(&self, socket: &LoaderSocket) -> Vec<u8> {
        let password = self
            .password
            .clone()
            .or_else(|| socket.password.clone())
            .expect("the spawner returned a connect password for the loader");
        let (path, query) = self.path.split_once('?').unwrap_or((self.path, ""));
        let mut fields: Vec<(&str, String)> = vec![
            ("REQUEST_METHOD", self.method.to_string()),
            ("SCRIPT_NAME", String::new()),
            ("PATH_INFO", path.to_string()),
            ("QUERY_STRING", query.to_string()),
            ("REQUEST_URI", self.path.to_string()),
            ("SERVER_NAME", "localhost".to_string()),
            ("SERVER_PORT", "80".to_string()),
            ("SERVER_PROTOCOL", "HTTP/1.1".to_string()),
            ("REMOTE_ADDR", "127.0.0.1".to_string()),
            ("REMOTE_PORT", "5555".to_string()),
            ("HTTP_HOST", "localhost".to_string()),
        ];
        if self.chunked {
            fields.push(("HTTP_TRANSFER_ENCODING", "chunked".to_string()));
            fields.push(("PASSENGER_BODY_FRAMED", "1".to_string()));
        } else if !self.body.is_empty() {
            fields.push(("CONTENT_LENGTH", self.body.len().to_string()));
            fields.push(("CONTENT_TYPE", "text/plain".to_string()));
        }
        fields.extend(self.headers.iter().cloned());
        fields.push(("PASSENGER_CONNECT_PASSWORD", password));
        if self.keep_alive {
            fields.push(("PASSENGER_KEEP_ALIVE", "1".to_string()));
        }
        let mut block = Vec::new();
        for (name, value) in fields {
            block.extend_from_slice(name.as_bytes());
            block.push(0);
            block.extend_from_slice(value.as_bytes());
            block.push(0);
        }
        let mut out = (block.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&block);
        out
    }

    /// Sends the request and returns the raw response (head and body) read until EOF.
    pub async fn send(&self, socket: &LoaderSocket) -> String {
        let mut stream = UnixStream::connect(socket)
            .await
            .expect("connect to the loader socket");
        stream
            .write_all(&self.header_block(socket))
            .await
            .expect("send header block");
        if self.chunked {
            // Framed: each piece a 4-byte big-endian length, a zero length last.
            for piece in self.body.chunks(7) {
                stream
                    .write_all(&(piece.len() as u32).to_be_bytes())
                    .await
                    .expect("send a piece length");
                stream.write_all(piece).await.expect("send a piece");
            }
            stream.write_all(&[0, 0, 0, 0]).await.expect("end the body");
        } else {
            stream.write_all(self.body).await.expect("send body");
        }
        read_all(&mut stream).await
    }
}

/// Reads `stream` until EOF (at most 15 s).
pub async fn read_all(stream: &mut UnixStream) -> String {
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut response))
        .await
        .expect("response within 15 s")
        .expect("read response");
    String::from_utf8_lossy(&response).into_owned()
}

/// Splits a response into status line, header lines and body.
pub fn parse(response: &str) -> (String, Vec<String>, String) {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header/body separator in {response:?}"));
    let mut lines = head.split("\r\n").map(str::to_string);
    let status = lines.next().unwrap_or_default();
    (status, lines.collect(), body.to_string())
}
