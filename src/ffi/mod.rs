//! The C ABI. Every function here converts pointers, calls the core, and
//! returns; nothing here decides anything. cbindgen reads this module tree
//! (and only it) to generate include/gracefd.h.
#![allow(non_camel_case_types)]

mod boundary;

pub mod basics;
pub mod daemon;
pub mod lifecycle;
pub mod listeners;
pub mod notify;
pub mod pidfile;
pub mod upgrade;
pub mod handoff;
pub mod conns;
