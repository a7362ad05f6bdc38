//! Pure code: parsers and wire formats. No syscalls, no global state, so
//! every function here can be unit-tested and fuzzed with hostile input.

pub mod addr;
pub mod conns;
pub mod control;
pub mod daemon;
pub mod handoff;
pub mod ip;
pub mod listen_env;
pub mod notify;
pub mod num;
pub mod ready;
