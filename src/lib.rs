//! gracefd: the Unix server lifecycle, written once.
//!
//! Daemonize correctly, inherit listening sockets (systemd socket activation,
//! Server::Starter, the gracefd superdaemon, an older generation of yourself),
//! upgrade to a new binary with zero dropped connections, and talk to systemd.
//!
//! **Linux only.** The crate is built on Linux system calls (`pipe2`,
//! `accept4`, `SOCK_CLOEXEC`, `/proc`, `SO_PEERCRED`…); on any other target
//! it does not compile.
//!
//! The same core is exported three ways: this Rust crate (feature `std`,
//! the default), the C ABI (`libgracefd.a` + `include/gracefd.h`, feature
//! `ffi`), and the `gracefd` command (in the repository, not on crates.io).
//!
//! # Features
//!
//! | feature | |
//! |---|---|
//! | `std` (default) | the Rust face: std types, `io::Result`, builders |
//! | `tokio` | [`tokio`]: tokio listeners, async events, the upgrade as a future, a graceful drain |
//! | `log` | `set_log_crate_hook`: the library's log messages to the `log` crate |
//! | `ffi` | the C ABI (`gracefd_*` symbols); for the C archive |
//! | `header` | regenerate `include/gracefd.h` (developers, in the repository) |
//!
//! With `default-features = false` a `#![no_std]` crate gets the core,
//! [`nostd`]: bytes in, [`nostd::Fd`] and [`Result`] with [`Error`] out
//! (an errno and a one-line message, allocation-free; `alloc` is used).
//!
//! # The Rust face
//!
//! [`api`], whose items are re-exported here — [`listen_tcp`],
//! [`ready`](fn@ready), [`Upgrade`], [`Events`], [`api::notify`]… They take
//! `&str`, return std types ([`std::net::TcpListener`],
//! [`std::os::fd::OwnedFd`]…) and [`std::io::Result`]. Start here (or at
//! [`tokio`] for an async server).
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
// The core serves three faces: the Rust API (`std`), the C ABI (`ffi`) and
// the in-tree command (`cli-internals`); an item only one face uses is dead
// in a build without that face. Dead code is checked where every face is
// built (`make check`'s clippy over the workspace with `ffi`).
#![cfg_attr(not(all(feature = "std", feature = "ffi", feature = "cli-internals")), allow(dead_code, unused_imports))]
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

#[cfg(not(target_os = "linux"))]
compile_error!("gracefd supports Linux only: it is built on Linux system calls (pipe2, accept4, SOCK_CLOEXEC, /proc)");

extern crate alloc;

// The core: crate-internal. Its public face for `#![no_std]` users is
// [`nostd`]; for std users, [`api`]; the in-tree command reaches the rest
// through `__cli` (feature `cli-internals`).
mod error;
mod log;
// The core's error and log macros, by path (`crate::err!`, `use crate::{err, log}`), inside the crate only.
pub(crate) use error::{bail, err};
pub(crate) use log::log;

mod child_setup;
mod conns;
mod daemon;
mod events;
mod exit_yield;
mod handoff;
mod init;
mod lineage;
mod listeners;
mod msg;
mod num;
mod notify;
mod notify_inbox;
mod pidfile;
mod proto;
mod ready;
mod registry;
mod safe_path;
mod spawn;
mod startup;
mod sync;
#[cfg(feature = "supervise")]
mod supervise;
mod sys;
mod upgrade;
mod version;

pub mod nostd;

/// The core modules the `gracefd` command (cli/) and the in-tree tools
/// (examples/export-exec.rs, examples/fuzz-parsers.rs) are built on.
///
/// For the in-tree command only: this is not part of the crate's API and
/// carries no stability promise — anything here may change or go in any
/// release. It exists because the supervisor is not yet part of the library
/// proper; once it is, the command will use the public API and this module
/// will be removed. Enabled by the non-default feature `cli-internals`.
#[cfg(feature = "cli-internals")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod __cli {
    // The modules are private to the crate; their `pub` items are re-exported
    // here (a private module itself cannot be), at the same relative paths.
    // Only the modules the command and the tools use. In them, an item
    // nothing outside the crate uses is `pub(crate)`, so that the compiler
    // sees (and clippy refuses) what nobody uses at all.
    macro_rules! expose {
        ($($m:ident),* $(,)?) => { $( pub mod $m { pub use crate::$m::*; } )* };
    }
    expose!(daemon, lineage, listeners, log, notify, pidfile, proto, ready, registry, safe_path, spawn, startup, supervise, sys, upgrade, version);
}

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
    Events, FdKind, FdSource, Handoff, InheritedFd, InheritedFds, Level, Listen, PendingUpgrade, Signal, Upgrade,
};
#[cfg(feature = "std")]
pub use api::{
    can_pass_connections, next_connection, pass_connections, pending_connections, release_connections, take_connections, Connection,
    PassError, PassedConnection, CONNECTION_STATE_MAX,
};
#[cfg(feature = "log")]
pub use api::set_log_crate_hook;
#[cfg(feature = "tokio")]
pub use api::tokio;
