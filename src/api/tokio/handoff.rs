//! The hand-off, taker side, without blocking the runtime.

use std::io;
use std::path::Path;
use std::time::Duration;

/// [`crate::take_from`] on tokio's blocking pool: take every named fd from
/// the instance serving hand-off at `path`, then listen by name as usual
/// (the taken sockets are found first). Returns how many fds were taken.
///
/// Errors: as [`crate::take_from`]; `Other` outside a tokio runtime or if
/// the blocking task could not run.
pub async fn take_from(path: impl AsRef<Path>, timeout: Duration) -> io::Result<usize> {
    super::in_runtime()?;
    let path = path.as_ref().to_path_buf();
    match tokio::task::spawn_blocking(move || crate::api::take_from(path, timeout)).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!("gracefd::tokio::take_from: the blocking task failed: {e}"))),
    }
}
