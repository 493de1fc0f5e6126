//! Writing one request to a loader: its header block, then its body, framed when its
//! length was not known up front (ARCHITECTURE.md, "Session protocol").

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::OwnedWriteHalf;

/// Writes `block`, then `body`, and hands the write half back. With `framed` (see
/// [`body_is_framed`](super::body_is_framed)) the body goes in pieces, each a 4-byte
/// big-endian length and its bytes, and a zero length at the end: a body that breaks
/// off (the client's error, returned here) ends the connection without that end,
/// which the loader raises as an error instead of a shorter body.
pub async fn write_request<B>(
    mut write: OwnedWriteHalf,
    block: Vec<u8>,
    mut body: B,
    framed: bool,
) -> std::io::Result<OwnedWriteHalf>
where
    B: Body<Data = Bytes, Error = std::io::Error> + Unpin,
{
    write.write_all(&block).await?;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            if framed {
                if data.is_empty() {
                    continue;
                }
                let len = u32::try_from(data.len()).map_err(std::io::Error::other)?;
                write.write_all(&len.to_be_bytes()).await?;
            }
            write.write_all(&data).await?;
        }
    }
    if framed {
        write.write_all(&[0, 0, 0, 0]).await?;
    }
    Ok(write)
}
