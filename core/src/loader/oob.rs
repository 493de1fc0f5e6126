//! Out-of-band work (ARCHITECTURE.md, "Session protocol"): the `OOBW` control request
//! that makes a loader run its `:oob_work` handlers.
//!
//! It does not decide when a process does out-of-band work (the pool does).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::control_block;

/// Longest out-of-band work we wait for before putting the process back.
const OOB_WORK_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks the loader listening on `socket` to run its `:oob_work` handlers: an `OOBW`
/// request on a connection of its own, finished when the loader closes it.
pub async fn run_oob_work(socket: &Path, password: Option<&str>) -> std::io::Result<()> {
    let block = control_block("OOBW", password);
    let work = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        stream.write_all(&block).await?;
        let mut sink = Vec::new();
        stream.read_to_end(&mut sink).await?;
        Ok(())
    };
    tokio::time::timeout(OOB_WORK_TIMEOUT, work)
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "out-of-band work timed out")
        })?
}
