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
/// Decimal parsing and formatting: they live at the bottom of the core
/// (`src/num.rs`), where `sys` can use them too; here under their old path.
pub mod num {
    pub use crate::num::*;
}
pub mod ready;
pub(crate) mod sort;
pub mod utf8;
