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
//! Layers: [`sys`] is the only place libc is called; [`proto`] is pure code
//! (parsers and wire formats, no syscalls); the feature modules hold the
//! behaviour; `ffi` converts pointers and nothing else.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
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

pub mod spawn;
pub mod startup;

#[cfg(feature = "ffi")]
mod ffi;
// The staticlib's own allocator and panic handler (std brings its own).
#[cfg(all(feature = "ffi", not(any(test, feature = "std"))))]
mod runtime;

pub use error::{Error, Result};
