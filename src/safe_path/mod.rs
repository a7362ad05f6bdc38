//! Files and sockets gracefd creates by name, placed so that nobody who can
//! write the directory can redirect them with a symbolic link (the rule
//! "nothing by a path someone else can swap", docs/architecture.md, "Rules,
//! and why"; the threat model is docs/security.md).
//!
//! - A unix socket is bound inside a private 0700 directory made next to
//!   its final name, given its mode there (nobody else can reach into that
//!   directory), listened on, and renamed into place ([`bind_unix`]).
//! - A file written whole is written to an unpredictable temporary name
//!   created `O_EXCL|O_NOFOLLOW` relative to the directory's fd, then renamed
//!   over the final name ([`write_replace`]).
//! - A file appended to (a log) is opened `O_NOFOLLOW` ([`open_append`]).
//!
//! Everything after the directory is opened is relative to its fd, so a
//! directory swapped mid-way cannot redirect a later step either.

mod dir;
mod file;
mod socket;

pub(crate) use dir::make_private_dir;
pub use file::{open_append, write_replace};
pub use socket::bind_unix;
pub(crate) use socket::{set_bound_mode, Placed};

#[cfg(test)]
pub(crate) mod tests;
