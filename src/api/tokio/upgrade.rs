//! The upgrade in flight as a Future.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::time::{sleep, Sleep};

use crate::api::{PendingUpgrade, Upgrade};

/// The core notices the readiness timeout only when asked: ask this often.
const TIMEOUT_CHECK: Duration = Duration::from_millis(100);

/// Start the upgrade `u` describes ([`Upgrade::start`]) and return a future
/// of its outcome: the new generation's pid once it is ready (then stop
/// accepting, drain and exit), or the error that says why it failed (it
/// was killed and reaped; keep serving).
///
/// Errors, now: as [`Upgrade::start`]; `Other` outside a tokio runtime.
/// Errors of the future: as [`Upgrade::run`].
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// match gracefd::tokio::upgrade(&gracefd::Upgrade::new())?.await {
///     Ok(pid) => eprintln!("pid {pid} took over: draining"),
///     Err(e) => eprintln!("upgrade failed, still serving: {e}"),
/// }
/// # Ok(()) }
/// ```
pub fn upgrade(u: &Upgrade) -> io::Result<Upgrading> {
    super::in_runtime()?;
    Ok(Upgrading::new(u.start()?))
}

impl Upgrading {
    /// The future of an upgrade already started with [`Upgrade::start`].
    ///
    /// Cannot fail: should the readiness fd not register with the runtime
    /// (outside a tokio runtime, or epoll refusing it), the outcome is
    /// waited for here, blocking, and the future gives it at once — so an
    /// upgrade is never left in flight, nor reported failed when the new
    /// generation is in fact ready.
    pub fn new(pending: PendingUpgrade) -> Upgrading {
        let fail = |pending: PendingUpgrade| Upgrading { fd: None, tick: None, outcome: Some(pending.wait()), respawn: false };
        if super::in_runtime().is_err() {
            return fail(pending);
        }
        // SAFETY: `PendingUpgrade` owns its fd (its own duplicate of the
        // readiness channel) and returns that same fd until dropped.
        match unsafe { AsyncFd::register(pending) } {
            Ok(fd) => Upgrading { fd: Some(fd), tick: Some(Box::pin(sleep(TIMEOUT_CHECK))), outcome: None, respawn: true },
            Err(e) => fail(e.into_parts().0),
        }
    }
}

/// An upgrade in flight, from [`upgrade`]: a future of the new
/// generation's pid.
///
/// Dropping it before it is done does not leave the upgrade in flight for
/// ever: the outcome is collected by a task spawned on the runtime (the
/// library's log says it), so the next upgrade can start. (If the runtime
/// itself shuts down first, the upgrade is left to the process's exit.)
#[must_use = "an upgrade in flight is only finished by awaiting it"]
#[derive(Debug)]
pub struct Upgrading {
    fd: Option<AsyncFd<PendingUpgrade>>,
    tick: Option<Pin<Box<Sleep>>>,
    /// The outcome, when it was waited for at creation.
    outcome: Option<io::Result<u32>>,
    /// Dropped unfinished: hand the rest to a task (false for that task's
    /// own copy, so a runtime shutting down cannot make it respawn itself).
    respawn: bool,
}

impl Future for Upgrading {
    type Output = io::Result<u32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u32>> {
        let this = &mut *self;
        if let Some(done) = this.outcome.take() {
            return Poll::Ready(done);
        }
        let (Some(fd), Some(tick)) = (this.fd.as_mut(), this.tick.as_mut()) else {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidInput, "this upgrade is already over")));
        };
        loop {
            match fd.get_mut().poll() {
                Ok(None) => {}
                done => {
                    this.fd = None;
                    return Poll::Ready(done.map(|pid| pid.unwrap_or_default()));
                }
            }
            // Wake on the readiness channel (the new generation reported or
            // died) or on the timer (for the timeout).
            let mut progressed = false;
            if let Poll::Ready(r) = fd.poll_read_ready_mut(cx) {
                match r {
                    Ok(mut g) => g.clear_ready(),
                    Err(e) => return Poll::Ready(Err(e)),
                }
                progressed = true;
            }
            if tick.as_mut().poll(cx).is_ready() {
                tick.as_mut().reset(tokio::time::Instant::now() + TIMEOUT_CHECK);
                progressed = true;
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Upgrading {
    fn drop(&mut self) {
        let Some(mut fd) = self.fd.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if self.respawn => {
                let _guard = h.enter();
                let rest = Upgrading { fd: Some(fd), tick: Some(Box::pin(sleep(TIMEOUT_CHECK))), outcome: None, respawn: false };
                h.spawn(async move {
                    let _ = rest.await;
                });
            }
            // The background task itself, dropped by a runtime shutting
            // down: one last look, without blocking a shutdown.
            Ok(_) => {
                let _ = fd.get_mut().poll();
            }
            // No runtime at all: block for the outcome (bounded by the
            // upgrade's timeout).
            Err(_) => {
                let _ = fd.into_inner().wait();
            }
        }
    }
}
