//! The accept loop and the lifecycle, drained gracefully.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::{upgrade, Connection, Drain, Events, Upgrading};
use crate::api::{Event, Upgrade};

enum Either {
    Upgrade(io::Result<u32>),
    Event(io::Result<Event>),
}

/// Why the process drains, from [`lifecycle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainReason {
    /// A new generation (this pid) is ready and serving the same sockets.
    Upgraded(u32),
    /// `SIGTERM` or `SIGINT`.
    Shutdown,
    /// Another process took the sockets over by hand-off.
    HandedOff,
}

/// The lifecycle of a server, until it should drain: on
/// [`Event::Upgrade`] (`SIGHUP`/`SIGUSR2`) start `how` (one upgrade at a
/// time) and wait for it while serving; a failed upgrade goes to
/// `on_upgrade_error` and serving goes on. Returns, after
/// [`Drain::start`], once a new generation is ready, on
/// [`Event::Shutdown`] or on [`Event::Drain`].
///
/// Errors: the event queue could not be read (never in practice); draining
/// is started then too, so the caller's next step is the same.
pub async fn lifecycle(events: &Events, how: &Upgrade, drain: &Drain, mut on_upgrade_error: impl FnMut(io::Error)) -> io::Result<DrainReason> {
    let mut in_flight: Option<Upgrading> = None;
    let reason = loop {
        let ev = match in_flight.as_mut() {
            None => events.recv().await,
            Some(up) => {
                // The upgrade's outcome first, then events (an Upgrade
                // meanwhile is ignored, a Shutdown is taken).
                let next = std::future::poll_fn(|cx| match Pin::new(&mut *up).poll(cx) {
                    Poll::Ready(r) => Poll::Ready(Either::Upgrade(r)),
                    Poll::Pending => events.poll_recv(cx).map(Either::Event),
                })
                .await;
                match next {
                    Either::Upgrade(r) => {
                        in_flight = None;
                        match r {
                            Ok(pid) => break Ok(DrainReason::Upgraded(pid)),
                            Err(e) => {
                                on_upgrade_error(e);
                                continue;
                            }
                        }
                    }
                    Either::Event(ev) => ev,
                }
            }
        };
        match ev {
            Ok(Event::Upgrade) if in_flight.is_none() => match upgrade(how) {
                Ok(up) => in_flight = Some(up),
                Err(e) => on_upgrade_error(e),
            },
            Ok(Event::Upgrade) => {}
            Ok(Event::Shutdown) => break Ok(DrainReason::Shutdown),
            Ok(Event::Drain) => break Ok(DrainReason::HandedOff),
            // Only for a program that took passed connections (take_connections):
            // this loop does not, so there is nothing to collect.
            Ok(Event::Conns) => {}
            Err(e) => break Err(e),
        }
    };
    // An upgrade still in flight (shutdown meanwhile) finishes in the
    // background when dropped (see `Upgrading`).
    drain.start();
    reason
}

/// Serve connections gracefully: accept on every listener and run
/// `handler(stream, connection)` on a task of its own, until `drain`
/// starts; then stop accepting (the listeners are dropped: the registry's
/// duplicates keep the sockets open for the next generation, which takes
/// whatever is queued — nothing queued is lost) and wait up to `timeout`
/// for the open connections to end. Returns how many were still open then
/// (0: all ended); their tasks are left running, for the caller to exit.
///
/// The handler answers with `Connection: close` once
/// [`Connection::is_draining`], and closes an idle connection on
/// [`Connection::idle_while_draining`]. Accept errors (`EMFILE`…) are
/// retried after a short pause. Cannot fail.
pub async fn serve<F, Fut>(listeners: Vec<TcpListener>, drain: &Drain, timeout: Duration, handler: F) -> usize
where
    F: Fn(TcpStream, Connection) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut acceptors = Vec::with_capacity(listeners.len());
    for l in listeners {
        let (drain, handler) = (drain.clone(), handler.clone());
        acceptors.push(tokio::spawn(async move {
            let started = drain.started();
            tokio::pin!(started);
            loop {
                // Draining wins over a ready connection: that one stays
                // queued for the next generation.
                let next = std::future::poll_fn(|cx| {
                    if started.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    l.poll_accept(cx).map(Some)
                });
                match next.await {
                    None => break,
                    Some(Ok((s, _))) => {
                        let c = drain.connection();
                        tokio::spawn(handler(s, c));
                    }
                    // EMFILE and the like: the connection stays queued.
                    Some(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            // `l` is dropped here: this process stops accepting.
        }));
    }
    for a in acceptors {
        let _ = a.await;
    }
    drain.finished(timeout).await
}
