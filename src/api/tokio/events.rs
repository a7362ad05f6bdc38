//! The event queue as an async receiver.

use std::io;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;

use crate::api::Event;

/// [`crate::Events`] for tokio: `events.recv().await`.
///
/// Same queue, same signals as [`crate::Events`] (one queue per process;
/// do not also use `tokio::signal` for `SIGHUP`, `SIGUSR2`, `SIGTERM`,
/// `SIGINT`). For a `Stream`, wrap [`poll_recv`](Events::poll_recv) in
/// `futures::stream::poll_fn`. Receive from one task at a time (the
/// runtime wakes the last waiter only); give other tasks a
/// [`Drain`](super::Drain) or a channel instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let events = gracefd::tokio::Events::install()?;
/// unsafe { libc::raise(libc::SIGUSR2) };
/// assert_eq!(events.recv().await?, gracefd::Event::Upgrade);
/// gracefd::Events::restore_signals()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Events {
    fd: AsyncFd<crate::api::Events>,
}

impl Events {
    /// [`crate::Events::install`], registered with the runtime.
    /// Errors: as `install`; `Other` outside a tokio runtime.
    pub fn install() -> io::Result<Events> {
        Events::register(crate::api::Events::install()?)
    }

    /// [`crate::Events::without_signals`], registered with the runtime.
    /// Errors: as [`install`](Events::install).
    pub fn without_signals() -> io::Result<Events> {
        Events::register(crate::api::Events::without_signals()?)
    }

    fn register(e: crate::api::Events) -> io::Result<Events> {
        super::in_runtime()?;
        // SAFETY: `Events` owns its fd (a private, non-blocking pipe end)
        // and returns that same fd from every `as_raw_fd` until dropped.
        let fd = unsafe { AsyncFd::register(e) }.map_err(io::Error::from)?;
        Ok(Events { fd })
    }

    /// The next event, waiting for it. Cancel-safe: dropping the future
    /// loses no event. Errors: the pipe could not be read (never in practice).
    pub async fn recv(&self) -> io::Result<Event> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll for the next event (for a hand-written future or a `Stream`).
    /// Errors: as [`recv`](Events::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<io::Result<Event>> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match guard.get_inner().try_next() {
                Ok(Some(ev)) => return Poll::Ready(Ok(ev)),
                // Drained: wait for the next write to the pipe.
                Ok(None) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Take a pending event without waiting. Errors: as [`recv`](Events::recv).
    pub fn try_recv(&self) -> io::Result<Option<Event>> {
        self.fd.get_ref().try_next()
    }
}
