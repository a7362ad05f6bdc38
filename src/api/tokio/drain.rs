//! Graceful draining: stop accepting, close connections politely, bounded.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// How often an idle connection looks again while draining.
const IDLE_CHECK: Duration = Duration::from_millis(50);

/// The drain state shared by the accept loop and every connection: whether
/// draining has started, and how many connections are open.
///
/// The policy it implements (and [`serve`](super::serve) applies):
/// once draining starts, **stop accepting** (drop the listeners: the
/// registry's duplicate keeps each socket open for the next generation,
/// whose `accept` takes what is queued, so nothing queued is lost); answer
/// further requests on open connections with **`Connection: close`**
/// ([`Connection::is_draining`]); **close a connection only when it is idle
/// with nothing pending** ([`Connection::idle_while_draining`]); and give up
/// on the rest after a **bounded** time ([`Drain::finished`]).
#[derive(Clone, Debug, Default)]
pub struct Drain {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    draining: AtomicBool,
    started: Notify,
    live: AtomicUsize,
    gone: Notify,
}

impl Drain {
    /// Not draining, no connection.
    pub fn new() -> Drain {
        Drain::default()
    }

    /// Start draining (idempotent). Cannot fail.
    pub fn start(&self) {
        if !self.shared.draining.swap(true, Ordering::SeqCst) {
            self.shared.started.notify_waiters();
        }
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::SeqCst)
    }

    /// Wait until draining starts (at once if it has). Cancel-safe.
    pub async fn started(&self) {
        loop {
            let notified = self.shared.started.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_draining() {
                return;
            }
            notified.await;
        }
    }

    /// Count a new connection; it counts until the [`Connection`] is dropped.
    pub fn connection(&self) -> Connection {
        self.shared.live.fetch_add(1, Ordering::SeqCst);
        Connection { drain: self.clone(), activity: Arc::new(Activity::new()) }
    }

    /// How many connections are open.
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Wait until every connection is closed, at most `timeout`; returns how
    /// many are still open (0: all closed). Cannot fail.
    pub async fn finished(&self, timeout: Duration) -> usize {
        let wait_all = async {
            loop {
                let notified = self.shared.gone.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.live() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait_all).await;
        self.live()
    }
}

#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last byte read or request finished.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity { epoch: Instant::now(), last_ms: AtomicU64::new(0), in_flight: AtomicUsize::new(0) }
    }
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::SeqCst);
    }
    fn idle_for(&self) -> Duration {
        Duration::from_millis(self.now_ms().saturating_sub(self.last_ms.load(Ordering::SeqCst)))
    }
}

/// One open connection, from [`Drain::connection`]: counted until dropped.
#[derive(Debug)]
pub struct Connection {
    drain: Drain,
    activity: Arc<Activity>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.drain.shared.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drain.shared.gone.notify_waiters();
        }
    }
}

impl Connection {
    /// Whether draining has started: answer with `Connection: close` (and
    /// close after the response).
    pub fn is_draining(&self) -> bool {
        self.drain.is_draining()
    }

    /// The shared drain state.
    pub fn drain(&self) -> &Drain {
        &self.drain
    }

    /// Mark a request in progress until the returned guard is dropped: the
    /// connection is not idle meanwhile.
    pub fn request(&self) -> Request {
        self.activity.in_flight.fetch_add(1, Ordering::SeqCst);
        self.activity.touch();
        Request { activity: Arc::clone(&self.activity) }
    }

    /// Wrap the connection's stream so every byte read counts as activity
    /// (bytes of a next request are "something pending": the connection is
    /// not closed under them).
    pub fn track<IO>(&self, io: IO) -> Tracked<IO> {
        Tracked { io, activity: Arc::clone(&self.activity) }
    }

    /// Resolve once draining has started and the connection has been idle
    /// for `idle` — no request in progress, nothing read — then close it
    /// (e.g. hyper's `graceful_shutdown`). Cancel-safe.
    pub async fn idle_while_draining(&self, idle: Duration) {
        self.drain.started().await;
        loop {
            let a = &self.activity;
            let quiet = a.idle_for();
            if a.in_flight.load(Ordering::SeqCst) == 0 && quiet >= idle {
                return;
            }
            tokio::time::sleep(idle.saturating_sub(quiet).clamp(Duration::from_millis(1), IDLE_CHECK)).await;
        }
    }
}

/// A request in progress, from [`Connection::request`].
#[derive(Debug)]
pub struct Request {
    activity: Arc<Activity>,
}

impl Drop for Request {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A stream whose reads count as activity, from [`Connection::track`].
#[derive(Debug)]
pub struct Tracked<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Tracked<IO> {
    /// The stream inside.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
