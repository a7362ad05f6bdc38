//! The C ABI. Every function here converts pointers, calls the core, and
//! returns; nothing here decides anything. cbindgen reads this module tree
//! (and only it) to generate include/gracefd.h.
//!
//! One file per capability, the same files as the Rust face (src/api/):
//! lifecycle, events, listeners, fds, upgrade, notify, daemon (with the pid
//! file), handoff, conns, log, error. Face-only: `boundary` (pointers, the
//! errno convention, no panic across the ABI) and `version` (C programs
//! check the header against the archive; Cargo does that for Rust).
#![allow(non_camel_case_types)]

mod boundary;

pub mod version;
pub mod error;
pub mod log;
pub mod daemon;
pub mod lifecycle;
pub mod events;
pub mod listeners;
pub mod fds;
pub mod notify;
pub mod upgrade;
pub mod handoff;
pub mod conns;
pub mod deprecated;
