//! Named fds: inherited ones, and any fd an upgrade should hand down.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::error::io;
use crate::err;
use crate::registry::{self, Info, Source};

/// Register any fd under `name` so that an upgrade hands it down (sockets of
/// any kind, a memfd of state, a pipe): the new generation finds it with
/// [`inherited`]`(name)`. The fd is borrowed: the registry keeps its own
/// CLOEXEC duplicate, and you may close yours.
///
/// Errors: `EINVAL` for an invalid name (printable ASCII, no `:`, 1–255
/// bytes) or `"unknown"`; `EEXIST` if the name is taken; `EMFILE`… if the
/// duplicate fails.
///
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// gracefd::add_fd("state", &a)?;
/// assert!(gracefd::add_fd("state", &a).is_err()); // EEXIST
/// assert_eq!(gracefd::forget("state")?, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn add_fd(name: &str, fd: impl AsFd) -> io::Result<()> {
    io(registry::add(name.as_bytes(), fd.as_fd().as_raw_fd()))
}

/// A duplicate (CLOEXEC, yours) of the fd inherited under `name`: from
/// systemd (`LISTEN_FDS` + `LISTEN_FDNAMES`), an older generation, or
/// `gracefd run`. Never binds anything. With several fds of that name, an
/// unclaimed one first. The fd is as its passer left it: blocking mode and
/// all flags except CLOEXEC untouched.
///
/// Errors: `ENOENT` if nothing was inherited under `name` (if something was
/// announced but rejected, the message says why); `EINVAL` for an invalid
/// name; `EMFILE`… if the duplicate fails.
///
/// ```
/// use gracefd::ErrorExt;
/// // Started without LISTEN_FDS: nothing inherited.
/// let err = gracefd::inherited("web").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// assert_eq!(err.errno(), Some(libc::ENOENT));
/// ```
pub fn inherited(name: &str) -> io::Result<OwnedFd> {
    io(registry::inherited(name.as_bytes())).map(OwnedFd::from)
}

/// Remove every registry entry named `name`: an upgrade no longer hands it
/// down, and [`listen_tcp`](crate::listen_tcp) & co. bind that name afresh.
/// Duplicates you hold stay open (and a unix socket's file stays). Returns
/// how many entries were removed.
///
/// Errors: `ENOENT` if there is none; `EINVAL` for an invalid name.
pub fn forget(name: &str) -> io::Result<usize> {
    io(registry::forget(name.as_bytes()))
}

/// Close every inherited fd nobody claimed (by listening on its name,
/// [`inherited`], or [`InheritedFd::claim`]), so that sockets the new
/// configuration no longer uses are not kept open and handed down forever.
/// Call it once start-up is complete. Returns how many were closed.
pub fn close_unclaimed() -> usize {
    registry::close_unclaimed()
}

/// The inherited fds, in the order they were passed: systemd's
/// `LISTEN_FDS`, Server::Starter's `SERVER_STARTER_PORT`, or a hand-off.
/// A snapshot: each item says what the fd is, and [`InheritedFd::claim`]
/// takes a duplicate. Empty when nothing was inherited.
///
/// ```
/// for fd in gracefd::inherited_fds() {
///     println!("{} {:?} from {:?}", fd.name(), fd.kind(), fd.source());
/// }
/// assert_eq!(gracefd::inherited_fds().len(), 0); // doctests inherit nothing
/// ```
pub fn inherited_fds() -> InheritedFds {
    let v: Vec<InheritedFd> =
        registry::inherited_entries().into_iter().enumerate().map(|(index, info)| InheritedFd { index, info }).collect();
    InheritedFds(v.into_iter())
}

/// Iterator over [`inherited_fds`].
#[derive(Debug)]
pub struct InheritedFds(std::vec::IntoIter<InheritedFd>);

impl Iterator for InheritedFds {
    type Item = InheritedFd;
    fn next(&mut self) -> Option<InheritedFd> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for InheritedFds {}

/// One inherited fd, as listed by [`inherited_fds`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InheritedFd {
    index: usize,
    info: Info,
}

/// What an fd is: [`FdKind::TcpListener`], [`FdKind::UnixListener`],
/// [`FdKind::Udp`], [`FdKind::Socket`] (any other socket) or [`FdKind::File`]
/// (not a socket: a memfd, a pipe, a file).
pub use crate::registry::FdKind;

/// How an fd came: [`FdSource::ListenFds`] (systemd's protocol, also what
/// gracefd passes), [`FdSource::ServerStarter`], [`FdSource::Imported`] (a
/// hand-off); `Added` and `Created` do not occur among inherited fds.
pub type FdSource = Source;

impl InheritedFd {
    /// Its name (`unknown` if it has none, as systemd says).
    pub fn name(&self) -> &str {
        // Names are validated printable ASCII.
        std::str::from_utf8(&self.info.name).unwrap_or("unknown")
    }

    /// What it is.
    pub fn kind(&self) -> FdKind {
        self.info.kind
    }

    /// How it came.
    pub fn source(&self) -> FdSource {
        self.info.source
    }

    /// Whether it was already handed to the program when listed.
    pub fn is_claimed(&self) -> bool {
        self.info.claimed
    }

    /// For a Server::Starter fd, the key it was announced under
    /// (`127.0.0.1:80`, `/path/to.sock`); else `None`.
    pub fn label(&self) -> Option<&OsStr> {
        (!self.info.label.is_empty()).then(|| OsStr::from_bytes(&self.info.label))
    }

    /// The fd number the library holds it at, for messages only (it is not
    /// yours: [`claim`](InheritedFd::claim) for a duplicate).
    pub fn fd_number(&self) -> RawFd {
        self.info.raw
    }

    /// A duplicate of this very fd (CLOEXEC, yours, flags untouched); the
    /// entry counts as claimed from now on.
    ///
    /// Errors: `ENOENT` if the entry is gone or changed since it was listed
    /// (forgotten, or closed by [`close_unclaimed`]); `EMFILE`… if the
    /// duplicate fails.
    pub fn claim(&self) -> io::Result<OwnedFd> {
        let same = |i: &Info| i.raw == self.info.raw && i.name == self.info.name;
        let (now, _) = io(registry::inherited_at(self.index, false, usize::MAX))?;
        if !same(&now) {
            return Err(err!(ENOENT, "inherited fd {} ({}) is no longer at index {}", self.info.raw, self.name(), self.index).into());
        }
        let (now, fd) = io(registry::inherited_at(self.index, true, usize::MAX))?;
        match fd {
            Some(fd) if same(&now) => Ok(OwnedFd::from(fd)),
            _ => Err(err!(ENOENT, "inherited fd {} ({}) changed while it was claimed", self.info.raw, self.name()).into()),
        }
    }
}
