//! Lifecycle events: signals (and the library's own notices) as an fd you
//! can poll, or an iterator.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::error::io;
use crate::events as core_events;
use crate::sys::poll;
use crate::sys::time::Deadline;

/// What the process is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// Upgrade to a new generation: `SIGHUP` or `SIGUSR2` arrived.
    Upgrade,
    /// Shut down (drain and exit): `SIGTERM` or `SIGINT` arrived.
    Shutdown,
    /// Another process took this one's sockets over: stop accepting and drain.
    Drain,
    /// Connections passed by the older generation wait: take them with
    /// [`next_connection`](crate::next_connection) until it returns `None`.
    Conns,
}

impl Event {
    fn from_code(c: i32) -> Option<Event> {
        match c {
            core_events::UPGRADE => Some(Event::Upgrade),
            core_events::SHUTDOWN => Some(Event::Shutdown),
            core_events::DRAIN => Some(Event::Drain),
            core_events::CONNS => Some(Event::Conns),
            _ => None,
        }
    }
}

/// The event queue: an fd that is readable while events are pending, and
/// [`try_next`](Events::try_next) / [`wait`](Events::wait) /
/// [`iter`](Events::iter) to take them.
///
/// There is one queue per process; every `Events` value is a handle to it
/// (with its own fd, a duplicate: close it by dropping the value), so an
/// event is taken by whichever handle asks first.
///
/// **Signals.** [`install`](Events::install) sets handlers for `SIGHUP`,
/// `SIGUSR2` (→ [`Event::Upgrade`]), `SIGTERM` and `SIGINT`
/// (→ [`Event::Shutdown`]). A handler writes one byte to a pipe private to
/// the library and then calls the handler that was installed before, if it
/// was a plain function (not `SA_SIGINFO`, not `SIG_DFL`/`SIG_IGN`); handlers
/// use `SA_RESTART`. [`restore_signals`](Events::restore_signals) puts the
/// previous ones back. Do not also use `tokio::signal` (or `signal-hook`) for
/// these four signals: their handlers are `SA_SIGINFO` ones, which gracefd
/// does not chain, so installed after them `Events::install` takes those
/// signals away from them.
///
/// **In an event loop**: poll the fd ([`AsFd`]) for readability, then take
/// events with `try_next` until it returns `None`. The fd is non-blocking
/// (it is a pipe only the library writes to). With tokio, the `tokio`
/// feature's `gracefd::tokio::Events` does this: `events.recv().await`.
///
/// **Blocking**: [`wait`](Events::wait) with a timeout, or the iterator:
///
/// ```no_run
/// for ev in gracefd::Events::install()?.iter() {
///     match ev? {
///         gracefd::Event::Upgrade => { /* gracefd::Upgrade::new().run() … */ }
///         _ => break,
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Events {
    fd: OwnedFd,
}

impl Events {
    /// Install the signal handlers (idempotent: later calls only return
    /// another handle) and return a handle to the queue.
    ///
    /// Errors: `EMFILE`/`ENFILE` if no fd is left for the pipe;
    /// `sigaction` errors.
    ///
    /// ```
    /// let events = gracefd::Events::install()?;
    /// unsafe { libc::raise(libc::SIGHUP) };
    /// assert_eq!(events.try_next()?, Some(gracefd::Event::Upgrade));
    /// assert_eq!(events.try_next()?, None);
    /// gracefd::Events::restore_signals()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn install() -> io::Result<Events> {
        io(core_events::install()).map(|fd| Events { fd: fd.into() })
    }

    /// A handle to the queue without installing signal handlers: for the
    /// library's own events ([`Event::Drain`] after a hand-off), or when
    /// the program handles signals itself. Errors: `EMFILE`/`ENFILE`.
    pub fn without_signals() -> io::Result<Events> {
        io(core_events::fd()).map(|fd| Events { fd: fd.into() })
    }

    /// Put back the signal handlers [`install`](Events::install) replaced
    /// (nothing if it was not called). Handles stay usable for the
    /// library's own events. Errors: `sigaction` errors.
    pub fn restore_signals() -> io::Result<()> {
        io(core_events::uninstall())
    }

    /// Take the next pending event without blocking; `None` if there is none.
    /// Errors: the pipe could not be read (`EBADF`… never in practice).
    pub fn try_next(&self) -> io::Result<Option<Event>> {
        loop {
            let c = io(core_events::next())?;
            if c == core_events::NONE {
                return Ok(None);
            }
            // Codes this version does not know are skipped.
            if let Some(ev) = Event::from_code(c) {
                return Ok(Some(ev));
            }
        }
    }

    /// Wait for the next event, at most `timeout` (`None`: without limit);
    /// `Ok(None)` when the time is up. A signal that arrives meanwhile is
    /// seen at once. Errors: `poll` or the pipe failed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let events = gracefd::Events::without_signals()?;
    /// assert_eq!(events.wait(Some(Duration::from_millis(10)))?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<Event>> {
        let deadline = Deadline::after_ms(timeout.map_or(-1, super::timeout::timeout_ms));
        loop {
            if let Some(ev) = self.try_next()? {
                return Ok(Some(ev));
            }
            let r = poll::wait(self.fd.as_raw_fd(), libc::POLLIN, deadline).map_err(|e| crate::Error::sys(e, "poll the event fd"))?;
            if r == 0 {
                return self.try_next();
            }
        }
    }

    /// A blocking iterator: each item is the next event, waited for without
    /// limit (an error ends nothing: the caller decides).
    pub fn iter(&self) -> Iter<'_> {
        Iter { events: self }
    }
}

impl AsFd for Events {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Events {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Blocking iterator over events, from [`Events::iter`]; never ends by itself.
#[derive(Debug)]
pub struct Iter<'a> {
    events: &'a Events,
}

impl Iterator for Iter<'_> {
    type Item = io::Result<Event>;
    fn next(&mut self) -> Option<io::Result<Event>> {
        loop {
            match self.events.wait(None) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = io::Result<Event>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
