//! The Rust face (feature `std`, the default): std types, `io::Result`, builders.
//!
//! Everything here is a thin layer over the same core the C ABI and the
//! `gracefd` command use; the core decides, this module converts. Its items
//! are re-exported at the crate root (`gracefd::listen_tcp`,
//! `gracefd::Upgrade`, …) except [`notify`], which is `gracefd::api::notify`
//! because `gracefd::notify` is the core's module.
//!
//! | | |
//! |---|---|
//! | listening sockets | [`listen_tcp`], [`listen_unix`], [`listen_udp`], [`listen_fd`], [`Listen`] (backlog, unix mode, blocking mode) |
//! | other named fds | [`add_fd`], [`inherited`], [`inherited_fds`], [`forget`], [`close_unclaimed`] |
//! | readiness, lineage | [`ready`], [`fail`], [`generation`], [`is_upgrade`] |
//! | upgrade | [`Upgrade`] → [`Upgrade::run`] or [`Upgrade::start`] → [`PendingUpgrade`] |
//! | signals | [`Events`], [`Event`] |
//! | daemonize | [`Daemon`], [`pidfile_create`], [`pidfile_remove`] |
//! | hand-off | [`Handoff`] (old side), [`take_from`] (new side) |
//! | zero-drain upgrades | [`pass_connections`] (old side), [`take_connections`] + [`next_connection`] (new side) |
//! | systemd | [`notify`] |
//! | errors | `io::Error` + [`ErrorExt`] |
//! | log messages | [`set_log_hook`], [`clear_log_hook`], [`Level`]; `set_log_crate_hook` (feature `log`) |
//! | signals | [`Signal`] |
//!
//! # Errors
//!
//! Every fallible call returns [`std::io::Result`]. The error's
//! [`kind()`](std::io::Error::kind) is what std maps the errno to
//! (`AddrInUse`, `NotFound`, `InvalidInput`…), its message is the core's
//! one-line detail (`address "127.0.0.1:99999": port "99999" is above
//! 65535`), and the errno itself is [`ErrorExt::errno`]. Note that
//! [`std::io::Error::raw_os_error`] is `None` for these errors: std only
//! sets it for errors without a message, and the message is the useful
//! part. [`ErrorExt::detail`] gives the [`crate::Error`] inside.
//!
//! # Blocking mode
//!
//! `O_NONBLOCK` belongs to the open file description: every duplicate, in
//! every process that holds the socket (an old generation still draining,
//! systemd), shares it. So nothing here changes it unless asked:
//!
//! - a socket these calls create is **blocking**, unless
//!   [`Listen::nonblocking`]`(true)`;
//! - an **inherited** socket is returned as its passer left it (systemd
//!   passes blocking sockets; an older generation of your program passes
//!   what it had set);
//! - [`Listen::nonblocking`] sets or clears it, inherited or not: your
//!   explicit decision, for every holder.
//!
//! std's blocking `accept()` works as is. tokio (and every async runtime)
//! needs non-blocking sockets: the `tokio` feature's `gracefd::tokio`
//! returns tokio listeners set non-blocking (its docs say why that is safe
//! for an upgrade); for another runtime, one line:
//!
//! ```no_run
//! # fn f() -> std::io::Result<()> {
//! let l = gracefd::listen_tcp("web", "127.0.0.1:8080")?;
//! l.set_nonblocking(true)?; // for every holder of the socket: see above
//! # drop(l); Ok(()) }
//! ```
//!
//! # Adding a face
//!
//! One file per core capability, the same files as the C face (src/ffi/):
//! lifecycle, events, listeners, fds, upgrade, notify, daemon (with the pid
//! file), handoff, conns, log, error. Face-only: `signal` (the [`Signal`]
//! type; C takes signal numbers), `timeout` (the one `Duration` → milliseconds
//! conversion; C takes milliseconds) and the `tokio` face. A new capability:
//! `src/api/<name>.rs` converting types and errors (no decisions), a `mod` +
//! `pub use` line here, and the re-export in `src/lib.rs`.

mod conns;
mod daemon;
mod error;
mod events;
mod fds;
mod handoff;
mod lifecycle;
mod listeners;
mod log;
pub mod notify;
mod signal;
mod timeout;
#[cfg(feature = "tokio")]
pub mod tokio;
mod upgrade;

pub use conns::{
    can_pass_connections, next_connection, pass_connections, pending_connections, release_connections, take_connections, Connection,
    PassError, PassedConnection, CONNECTION_STATE_MAX,
};
pub use daemon::{pidfile_create, pidfile_remove, Daemon, DaemonMode};
pub use error::ErrorExt;
pub use handoff::{take_from, Handoff};
pub use events::{Event, Events, Iter as EventsIter};
pub use fds::{add_fd, close_unclaimed, forget, inherited, inherited_fds, FdKind, FdSource, InheritedFd, InheritedFds};
pub use lifecycle::{fail, generation, is_upgrade, ready, set_exit_yield};
pub use listeners::{listen_fd, listen_tcp, listen_udp, listen_unix, Listen};
#[cfg(feature = "log")]
pub use log::set_log_crate_hook;
pub use log::{clear_log_hook, set_log_hook, Level};
pub use signal::Signal;
pub use upgrade::{PendingUpgrade, Upgrade};
