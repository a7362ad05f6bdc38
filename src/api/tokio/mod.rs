//! The tokio face (feature `tokio`): listeners as tokio types, the event
//! queue as `recv().await`, the upgrade as a future, the hand-off without
//! blocking the runtime, and a graceful drain — no `unsafe`, no
//! `set_nonblocking`, no `AsyncFd` in your code.
//!
//! ```no_run
//! use std::time::Duration;
//! use gracefd::tokio::{lifecycle, serve, Drain, Events};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let web = gracefd::tokio::listen_tcp("web", "127.0.0.1:8080")?;
//!     let events = Events::install()?;
//!     let drain = Drain::new();
//!     gracefd::ready()?;
//!     let life = {
//!         let drain = drain.clone();
//!         tokio::spawn(async move {
//!             let upgrade = gracefd::Upgrade::new();
//!             lifecycle(&events, &upgrade, &drain, |e| eprintln!("upgrade failed, still serving: {e}")).await
//!         })
//!     };
//!     let left = serve(vec![web], &drain, Duration::from_secs(10), |stream, conn| async move {
//!         // answer on `stream`: `Connection: close` once conn.is_draining(),
//!         // close when conn.idle_while_draining(..) resolves.
//!         # drop((stream, conn));
//!     })
//!     .await;
//!     eprintln!("drained ({left} connections cut); {:?}", life.await);
//!     Ok(())
//! }
//! ```
//!
//! # Non-blocking sockets, and why setting that is safe for an upgrade
//!
//! `O_NONBLOCK` is a flag of the open file description, which every
//! duplicate of a socket shares, in every process that holds one — there is
//! no private copy of a socket's flags to be had (a socket cannot be
//! re-opened). tokio needs it set. So the listeners here set `O_NONBLOCK`
//! on the socket itself, and it is set for every holder. Who else holds it:
//!
//! - **the starter** — systemd, `gracefd run`, Server::Starter: they keep a
//!   duplicate to pass to the next instance, and never `accept` on it, so
//!   the flag does not change anything for them;
//! - **an older generation of this program**, still accepting until this
//!   one is ready (upgrade or hand-off). If it is async too, the flag was
//!   already set: nothing changes. If it accepts in blocking mode, its
//!   next `accept` returns `EAGAIN` when the queue is empty instead of
//!   waiting; the connection it would have waited for is taken by this
//!   generation instead (or by its own next `accept`): nothing is lost, as
//!   long as its accept loop retries after an error — and it stops
//!   accepting once this generation says it is ready;
//! - **the next generation**: it inherits the flag set, which is what it
//!   wants if it uses this module; a blocking one must clear it
//!   ([`Listen::nonblocking`](crate::Listen::nonblocking)`(false)`) and
//!   then the same reasoning holds the other way round for this one,
//!   except that this one must not block: so gracefd never clears it by
//!   itself, and a tokio program should not be upgraded to a blocking one
//!   while it may still accept (stop accepting first, as [`serve`] does on
//!   drain).
//!
//! The event queue and the upgrade's readiness channel are private to this
//! process (a pipe and a socket pair end nobody else holds): they are
//! non-blocking already and registered as they are.
//!
//! Every function that registers with tokio must be called inside a tokio
//! runtime with IO and time enabled; outside one it returns an `Other`
//! error instead of panicking.

mod drain;
mod events;
mod handoff;
mod listen;
mod serve;
mod upgrade;

use std::io;

pub use drain::{Connection, Drain, Request, Tracked};
pub use events::Events;
pub use handoff::take_from;
pub use listen::{listen_tcp, listen_udp, listen_unix, tcp_with, udp_with, unix_with};
pub use serve::{lifecycle, serve, DrainReason};
pub use upgrade::{upgrade, Upgrading};

/// tokio types need a runtime with IO enabled: said as an error, not a panic.
fn in_runtime() -> io::Result<()> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Ok(()),
        Err(_) => Err(io::Error::other("gracefd::tokio: not called from within a tokio runtime")),
    }
}
