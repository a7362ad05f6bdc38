//! Errors of the Rust face: [`std::io::Error`] carrying a [`crate::Error`].
//!
//! `std::io::Error` has no representation that holds both an OS error code
//! and a custom message: [`io::Error::from_raw_os_error`] keeps the code (and
//! `raw_os_error()` returns it) but its text is only `strerror`;
//! [`io::Error::new`] keeps a message but then `raw_os_error()` is `None`.
//! The detail is what tells a user *which* address or fd was wrong, so the
//! Rust face keeps it: every error is `io::Error::new(kind, detail)` where
//! `kind` is what std maps the errno to and `detail` is the core's
//! [`crate::Error`] (errno + one-line message). [`ErrorExt`] gets the errno
//! back from any `io::Error`.

use std::io;

use crate::Error;

impl std::error::Error for Error {}

impl Error {
    /// The errno (positive), like [`io::Error::raw_os_error`] of an OS error.
    pub fn raw_os_error(&self) -> i32 {
        self.errno.0
    }

    /// The [`io::ErrorKind`] std gives this errno (`EADDRINUSE` →
    /// `AddrInUse`, `ENOENT` → `NotFound`, `EINVAL` → `InvalidInput`…).
    pub fn kind(&self) -> io::ErrorKind {
        io::Error::from_raw_os_error(self.errno.0).kind()
    }
}

/// `io::Error::new(e.kind(), e)`: the kind from the errno, the message and
/// the errno kept in the error (see [`ErrorExt`]).
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// The errno and the detail of an [`io::Error`] returned by this crate.
///
/// `io::Error::raw_os_error()` is `None` for errors that carry a message
/// (std's `Custom` representation), which is how this crate returns its
/// errors. [`errno`](ErrorExt::errno) looks in both places: the OS code of a
/// plain OS error, or the errno of the [`crate::Error`] inside.
///
/// ```
/// use gracefd::ErrorExt;
///
/// let err = gracefd::listen_tcp("web", "127.0.0.1:99999").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// assert_eq!(err.raw_os_error(), None); // std's rule for errors with a message
/// assert_eq!(err.errno(), Some(libc::EINVAL));
/// assert!(err.to_string().contains("99999"), "{err}");
/// assert_eq!(err.detail().map(|d| d.errno.name()), Some("EINVAL"));
/// ```
pub trait ErrorExt {
    /// The errno: `raw_os_error()` if set, else the errno of the
    /// [`crate::Error`] inside; `None` for other errors.
    fn errno(&self) -> Option<i32>;

    /// The [`crate::Error`] inside, if this error came from this crate.
    fn detail(&self) -> Option<&Error>;
}

impl ErrorExt for io::Error {
    fn errno(&self) -> Option<i32> {
        self.raw_os_error().or_else(|| self.detail().map(Error::raw_os_error))
    }

    fn detail(&self) -> Option<&Error> {
        self.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }
}

/// The crate's `Result` → `io::Result`.
pub(crate) fn io<T>(r: crate::Result<T>) -> io::Result<T> {
    r.map_err(io::Error::from)
}

/// An `io::Error` with errno `EINVAL` and this message.
pub(crate) fn invalid(args: core::fmt::Arguments<'_>) -> io::Error {
    Error::new(crate::sys::Errno(libc::EINVAL), args).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::err;

    #[test]
    fn kind_errno_and_message_survive() {
        let e: io::Error = err!(EADDRINUSE, "bind 127.0.0.1:80: taken").into();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(e.errno(), Some(libc::EADDRINUSE));
        assert_eq!(e.to_string(), "bind 127.0.0.1:80: taken");
        assert!(format!("{e:?}").contains("EADDRINUSE"));
        // A plain OS error still answers errno().
        assert_eq!(io::Error::from_raw_os_error(libc::EPERM).errno(), Some(libc::EPERM));
        assert_eq!(io::Error::other("x").errno(), None);
    }
}
