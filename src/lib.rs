//! gracefd: the Unix server lifecycle, written once.
//!
//! Daemonize correctly, inherit listening sockets (systemd socket activation,
//! Server::Starter, the gracefd superdaemon, an older generation of yourself),
//! upgrade to a new binary with zero dropped connections, and talk to systemd.
//!
//! The same core is exported three ways: the C ABI (`libgracefd.a` +
//! `include/gracefd.h`, feature `ffi`), this Rust crate (feature `std`, the
//! default), and the `gracefd` command.
//!
//! # Two layers
//!
//! - **The Rust face** (feature `std`, the default): [`api`], whose items
//!   are re-exported here — [`listen_tcp`], [`ready`](fn@ready),
//!   [`Upgrade`], [`Events`], [`api::notify`]… They take `&str`, return std
//!   types ([`std::net::TcpListener`], [`std::os::fd::OwnedFd`]…) and
//!   [`std::io::Result`]. Start here.
//! - **The core**, `#![no_std]` (with `alloc` and `libc`), at the same paths
//!   with or without `std`: [`sys`] is the only place libc is called;
//!   [`proto`] is pure code (address parser, environment protocols, wire
//!   formats); [`listeners`], [`registry`], [`mod@ready`], [`lineage`],
//!   [`upgrade`], [`notify`], [`events`] hold the behaviour. They take
//!   bytes, return [`sys::fd::Fd`] and [`Result`] with [`Error`] (an errno
//!   and a one-line message, allocation-free). With `default-features =
//!   false` this is what a `#![no_std]` crate gets. (The C ABI, feature
//!   `ffi`, only converts pointers on top of it.)
//!
//! Errors of the Rust face are `io::Error`s that carry the core's [`Error`]:
//! the kind from the errno, the message from the detail, the errno through
//! [`ErrorExt::errno`] (see [`api`]).
//!
//! # The lifecycle
//!
//! 1. **Listen** by name: [`listen_tcp`]`("web", "127.0.0.1:8080")` returns
//!    the socket inherited under that name (from systemd, Server::Starter,
//!    `gracefd run`, or the previous generation of this program) or binds a
//!    new one. Either way it is registered, so an upgrade hands it down.
//!    Other fds to hand down (a memfd of state…): [`add_fd`] /
//!    [`inherited`].
//! 2. **Ready**: once it can answer requests, the program calls
//!    [`ready()`](fn@ready). That tells whoever waits: the old generation
//!    of an upgrade, a daemonize launcher, `gracefd run`, and systemd
//!    (`READY=1`). A program that cannot start calls [`fail`] and exits:
//!    its starter reports the message and keeps going (an old generation
//!    keeps serving).
//! 3. **Upgrade on SIGHUP**: [`Events::install`] turns `SIGHUP`/`SIGUSR2`
//!    into [`Event::Upgrade`] (and `SIGTERM`/`SIGINT` into
//!    [`Event::Shutdown`]) on an fd you poll. On `Upgrade`, [`Upgrade`]
//!    starts the new binary (the path recorded at start-up, so a binary
//!    replaced by `rename` is the new one) with the same sockets at fds 3…
//!    and waits — blocking with [`Upgrade::run`], or from your event loop
//!    with [`Upgrade::start`] — until it calls `ready()`. If it fails in any
//!    way it is killed and reaped and the old generation simply goes on:
//!    nothing was closed, nothing was lost.
//! 4. **Drain**: once the new generation is ready (or on `Shutdown`), stop
//!    accepting (drop your listeners: the registry's duplicate keeps the
//!    socket open for the new generation, whose `accept` drains the same
//!    kernel queue, so no queued connection is lost), answer further
//!    requests on open connections with `Connection: close`, close only
//!    idle connections with nothing waiting, and exit when none are left or
//!    a drain timeout passes. `examples/httpd.rs` (threads) and
//!    `examples/tokio-httpd.rs` do exactly this.
//!
//! ```no_run
//! use gracefd::{Event, Events, Upgrade};
//!
//! fn main() -> std::io::Result<()> {
//!     let web = gracefd::listen_tcp("web", "127.0.0.1:8080")?;
//!     let events = Events::install()?;
//!     gracefd::ready()?;
//!     // … serve `web` on other threads; here, the lifecycle:
//!     for ev in &events {
//!         match ev? {
//!             Event::Upgrade => match Upgrade::new().run() {
//!                 Ok(pid) => { eprintln!("pid {pid} took over"); break }
//!                 Err(e) => eprintln!("upgrade failed, still serving: {e}"),
//!             },
//!             _ => break,
//!         }
//!     }
//!     drop(web); // stop accepting; then drain open connections and exit
//!     Ok(())
//! }
//! ```
//!
//! And what a first generation sees (this one runs):
//!
//! ```
//! let l = gracefd::listen_tcp("web", "127.0.0.1:0")?;
//! assert_eq!(gracefd::generation(), 1);
//! assert!(!gracefd::is_upgrade());
//! assert_eq!(gracefd::ready()?, false); // nobody waits: not an error
//! assert_eq!(gracefd::api::notify::status("serving")?, false); // NOTIFY_SOCKET unset: Ok
//! # drop(l);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Daemonize
//!
//! Under systemd there is nothing to daemonize: use `Type=notify`. For a
//! classic daemon, [`Daemon`] detaches the process (fork, `setsid`, fork; or
//! [`DaemonMode::Reexec`] for a program that already runs threads), locks a
//! pid file that follows the program across upgrades, and keeps the
//! launching shell waiting until the daemon calls [`ready()`](fn@ready) or
//! [`fail`]: `server && echo up` prints `up` only when the server is up.
//!
//! ```no_run
//! gracefd::Daemon::new().pid_file("/run/app.pid").run()?; // the launcher never returns
//! let web = gracefd::listen_tcp("web", "127.0.0.1:8080")?; // the daemon from here on
//! gracefd::ready()?; // the launcher exits 0 now
//! # drop(web); Ok::<(), std::io::Error>(())
//! ```
//!
//! # systemd
//!
//! ```ini
//! [Service]
//! Type=notify
//! # The new generation's own READY=1/MAINPID arrives before it is the main
//! # process; the old generation hands MAINPID over either way.
//! NotifyAccess=all
//! ExecStart=/usr/bin/myserver
//! ExecReload=/bin/kill -HUP $MAINPID
//! ```
//!
//! With socket activation (`FileDescriptorName=web` in the `.socket`
//! unit), `listen_tcp("web", …)` returns systemd's socket. [`ready()`](fn@ready)
//! sends `READY=1`; an upgrade sends `MAINPID=<new pid>` and waits on a
//! barrier before the old generation may exit; [`api::notify`] has
//! `STATUS`, `RELOADING`, `STOPPING`, the watchdog and the fd store. Outside
//! systemd (`NOTIFY_SOCKET` unset) they all succeed and do nothing.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// Errors carry their message inline (no allocation on any path, including
// the ones near fork); they are returned on cold paths only.
#![allow(clippy::result_large_err)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo
    )
)]

extern crate alloc;

pub mod conns;
pub mod daemon;
pub mod error;
pub mod events;
pub mod handoff;
pub mod lineage;
pub mod listeners;
pub mod log;
pub mod notify;
pub mod pidfile;
pub mod proto;
pub mod ready;
pub mod registry;
pub mod sync;
pub mod sys;
pub mod upgrade;
pub mod version;

pub mod child_setup;
pub mod spawn;
pub mod startup;

#[cfg(feature = "ffi")]
mod ffi;
// The staticlib's own allocator and panic handler (std brings its own).
#[cfg(all(feature = "ffi", not(any(test, feature = "std"))))]
mod runtime;

pub use error::{Error, Result};

#[cfg(feature = "std")]
pub mod api;
#[cfg(feature = "std")]
pub use api::{
    add_fd, clear_log_hook, close_unclaimed, fail, forget, generation, inherited, inherited_fds, is_upgrade, listen_fd, listen_tcp,
    listen_udp, listen_unix, pidfile_create, pidfile_remove, ready, set_log_hook, take_from, Daemon, DaemonMode, ErrorExt, Event,
    Events, FdKind, FdSource, Handoff, InheritedFd, InheritedFds, Listen, PendingUpgrade, Upgrade,
};
#[cfg(feature = "std")]
pub use api::{
    can_pass_connections, next_connection, pass_connections, pending_connections, release_connections, take_connections, Connection,
    PassError, PassedConnection, CONNECTION_STATE_MAX,
};
