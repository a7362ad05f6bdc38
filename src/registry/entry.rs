//! What an entry is: its [`FdKind`] (`fd_kind.rs`), its
//! [`Source`], its name (checked by [`validate_name`]), and the views handed
//! out ([`Info`], [`Exported`]).

use alloc::vec::Vec;
use core::fmt;

use super::fd_kind::FdKind;
use super::key::ListenKey;
use crate::proto::addr::Shown;
use crate::sys::fd::{Fd, RawFd};

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// systemd's `LISTEN_FDS` (or gracefd's, which is the same protocol).
    ListenFds,
    /// Server::Starter's `SERVER_STARTER_PORT`.
    ServerStarter,
    /// Received after start-up (the hand-off).
    Imported,
    /// Registered by the program (`add_fd`).
    Added,
    /// Bound by [`crate::listeners::listen`].
    Created,
}

impl Source {
    /// Inherited from a predecessor (announced at start-up or imported).
    pub(crate) fn inherited(self) -> bool {
        matches!(self, Source::ListenFds | Source::ServerStarter | Source::Imported)
    }

    /// Words for messages: the variable or function it came through.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Source::ListenFds => "LISTEN_FDS",
            Source::ServerStarter => "SERVER_STARTER_PORT",
            Source::Imported => "hand-off",
            Source::Added => "gracefd_add_fd",
            Source::Created => "gracefd_listen",
        }
    }
}

/// One fd to pass to a child, in the order of the registry (what an upgrade
/// puts at fds 3, 4, … with `LISTEN_FDNAMES` made of the names).
pub struct Exported {
    /// The entry's name (valid per [`validate_name`]).
    pub name: Vec<u8>,
    /// A fresh CLOEXEC duplicate, owned by the caller.
    pub fd: Fd,
}

/// What a caller may know about an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    /// The name (`unknown` if it has none).
    pub(crate) name: Vec<u8>,
    /// What the fd is.
    pub(crate) kind: FdKind,
    /// Where it came from.
    pub(crate) source: Source,
    /// The registry's own fd number: borrowed, for display and matching only.
    pub(crate) raw: RawFd,
    /// Already handed to the program (by `listen`, `inherited`, or a claim).
    pub(crate) claimed: bool,
    /// For a Server::Starter entry: its key (`127.0.0.1:80`, `/path`); else empty.
    pub(crate) label: Vec<u8>,
}

pub(crate) struct Entry {
    pub(crate) name: Vec<u8>,
    pub(crate) fd: Fd,
    pub(crate) kind: FdKind,
    pub(crate) source: Source,
    pub(crate) label: Vec<u8>,
    pub(crate) claimed: bool,
    /// The address `listen` was last called with for this entry.
    pub(crate) key: Option<ListenKey>,
}

impl Entry {
    pub(super) fn info(&self) -> Info {
        Info {
            name: self.name.clone(),
            kind: self.kind,
            source: self.source,
            raw: self.fd.raw(),
            claimed: self.claimed,
            label: self.label.clone(),
        }
    }

    /// `fd 3 "web" (LISTEN_FDS)`, for messages.
    pub(crate) fn describe(&self) -> EntryShown<'_> {
        EntryShown(self)
    }
}

pub(crate) struct EntryShown<'a>(&'a Entry);

impl fmt::Display for EntryShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "fd {} {} ({}", e.fd.raw(), Shown(&e.name), e.source.describe())?;
        if !e.label.is_empty() {
            write!(f, " {}", Shown(&e.label))?;
        }
        f.write_str(")")
    }
}

/// Check a name for the registry (and for `LISTEN_FDNAMES`): printable ASCII,
/// no `:`, 1 to 255 bytes; `EINVAL` with the reason. The hand-off and the
/// superdaemon use the same rule ([`crate::proto::listen_env::validate_fdname`]).
pub use crate::proto::listen_env::validate_fdname as validate_name;
