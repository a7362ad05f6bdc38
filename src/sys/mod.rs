//! The only place libc is called: one small function per syscall, returning
//! `Result<T, Errno>`, allocating nothing. Everything here that is marked
//! "async-signal-safe" may be used between fork and exec.

use core::fmt;

pub mod clone;
pub mod cpath;
pub mod fd;
pub mod fs;
pub mod poll;
pub mod process;
pub mod rlimit;
pub mod sched;
pub mod sigfd;
pub mod signal;
pub mod socket;
pub mod thread;
pub mod time;

/// An errno value (positive).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

/// Result of a raw syscall wrapper.
pub type SysResult<T> = core::result::Result<T, Errno>;

impl Errno {
    /// Whether a send failed because the peer closed its end (`EPIPE`,
    /// `ECONNRESET`, `ENOTCONN`): the one rule for "the other side is gone".
    pub(crate) fn peer_closed(self) -> bool {
        matches!(self.0, libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
    }

    /// The calling thread's current errno. Async-signal-safe.
    pub fn last() -> Errno {
        // SAFETY: __errno_location returns a valid pointer to this thread's errno.
        Errno(unsafe { *libc::__errno_location() })
    }

    /// Make this the calling thread's errno (a signal handler restores the
    /// interrupted code's errno this way). Async-signal-safe.
    pub fn set(self) {
        // SAFETY: __errno_location returns a valid pointer to this thread's errno.
        unsafe { *libc::__errno_location() = self.0 };
    }

    /// The symbolic name, e.g. `"EINVAL"`; `"E?"` for one the table lacks.
    pub fn name(self) -> &'static str {
        errno_parts(self.0).map_or("E?", |(_, name)| name)
    }

    /// A short English description (no locale, no allocation).
    pub fn describe(self) -> &'static str {
        errno_parts(self.0).map_or(UNKNOWN_TEXT, |(text, _)| text)
    }

    /// `"description (ENAME)"` with a trailing NUL, for `gracefd_strerror`.
    pub fn describe_nul(self) -> &'static str {
        errno_entry(self.0).unwrap_or(UNKNOWN_NUL)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The table entry already reads "description (ENAME)".
        match nul_entry(ERRNO_CODES, ERRNO_TEXTS, self.0, 0) {
            Some(s) => f.write_str(s),
            None => f.write_str("unknown error (E?)"),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Turn a `-1 means errno` return into a Result.
#[inline]
pub(crate) fn cvt(r: libc::c_int) -> SysResult<libc::c_int> {
    if r == -1 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// [`cvt`] for `ssize_t` returns.
#[inline]
pub(crate) fn cvt_size(r: libc::ssize_t) -> SysResult<usize> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// Retry a syscall interrupted by a signal.
#[inline]
pub(crate) fn retry<T>(mut f: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        match f() {
            Err(Errno(libc::EINTR)) => continue,
            r => return r,
        }
    }
}

/// How an errno the table lacks is described.
const UNKNOWN_TEXT: &str = "unknown error";
const UNKNOWN_NUL: &str = "unknown error\0";

/// `"description (ENAME)\0"` of a known errno, NUL included.
fn errno_entry(e: i32) -> Option<&'static str> {
    nul_entry(ERRNO_CODES, ERRNO_TEXTS, e, 1)
}

/// The entry of `code` in a table of one byte per code (`codes`) and one
/// string of NUL-terminated entries in the same order (`texts`), with its
/// last `keep_nul` (0 or 1) bytes: the errno and signal tables.
pub(crate) fn nul_entry(codes: &[u8], texts: &'static str, code: i32, keep_nul: usize) -> Option<&'static str> {
    let i = codes.iter().position(|&c| i32::from(c) == code)?;
    // A plain byte walk: str::split_inclusive would link a searcher and memchr.
    let (mut start, mut seen) = (0, 0);
    for (at, &b) in texts.as_bytes().iter().enumerate() {
        if b == 0 {
            if seen == i {
                return texts.get(start..at + keep_nul);
            }
            seen += 1;
            start = at + 1;
        }
    }
    None
}

/// `(description, name)` of a known errno, cut out of its table entry
/// (`"description (NAME)"`). Byte positions, not str patterns: each
/// pattern kind links a searcher of its own.
fn errno_parts(e: i32) -> Option<(&'static str, &'static str)> {
    let entry = nul_entry(ERRNO_CODES, ERRNO_TEXTS, e, 0)?;
    // Descriptions hold no '(': the last one opens the name.
    let open = entry.bytes().rposition(|b| b == b'(')?;
    Some((entry.get(..open.checked_sub(1)?)?, entry.get(open + 1..entry.len().checked_sub(1)?)?))
}

// The table is one string and one byte per errno rather than a `match`:
// a match on the errno compiles to switch tables of a pointer and a length
// per value up to the largest errno (about 1.5 KB each for the name and the
// text), which every program that can describe an error would carry.
macro_rules! errno_table {
    ($($name:ident => $text:expr,)*) => {
        /// The errno values the table knows, in the order of [`ERRNO_TEXTS`].
        const ERRNO_CODES: &[u8] = &[$(libc::$name as u8,)*];
        // Every value fits the byte it is stored in.
        const _: () = { $(assert!(libc::$name > 0 && libc::$name < 256);)* };
        /// `"description (ENAME)\0"` per entry of [`ERRNO_CODES`], back to back.
        const ERRNO_TEXTS: &str = concat!($($text, " (", stringify!($name), ")\0",)*);
    };
}

errno_table! {
    EPERM => "operation not permitted",
    ENOENT => "no such file or directory",
    ESRCH => "no such process",
    EINTR => "interrupted system call",
    EIO => "input/output error",
    ENXIO => "no such device or address",
    E2BIG => "argument list too long",
    ENOEXEC => "exec format error",
    EBADF => "bad file descriptor",
    ECHILD => "no child processes",
    EAGAIN => "resource temporarily unavailable",
    ENOMEM => "out of memory",
    EACCES => "permission denied",
    EFAULT => "bad address",
    EBUSY => "device or resource busy",
    EEXIST => "file exists",
    ENODEV => "no such device",
    ENOTDIR => "not a directory",
    EISDIR => "is a directory",
    EINVAL => "invalid argument",
    ENFILE => "too many open files in system",
    EMFILE => "too many open files",
    ENOTTY => "inappropriate ioctl for device",
    ETXTBSY => "text file busy",
    EFBIG => "file too large",
    ENOSPC => "no space left on device",
    EROFS => "read-only file system",
    EPIPE => "broken pipe",
    ERANGE => "result out of range",
    EDEADLK => "resource deadlock avoided",
    ENAMETOOLONG => "file name too long",
    ENOSYS => "function not implemented",
    ENOTEMPTY => "directory not empty",
    ELOOP => "too many levels of symbolic links",
    ENODATA => "no data available",
    ETIME => "timer expired",
    EPROTO => "protocol error",
    EBADMSG => "bad message",
    EOVERFLOW => "value too large for defined data type",
    EILSEQ => "invalid or incomplete multibyte or wide character",
    ENOTSOCK => "socket operation on non-socket",
    EDESTADDRREQ => "destination address required",
    EMSGSIZE => "message too long",
    EPROTOTYPE => "protocol wrong type for socket",
    ENOPROTOOPT => "protocol not available",
    EPROTONOSUPPORT => "protocol not supported",
    ESOCKTNOSUPPORT => "socket type not supported",
    EOPNOTSUPP => "operation not supported",
    EAFNOSUPPORT => "address family not supported by protocol",
    EADDRINUSE => "address already in use",
    EADDRNOTAVAIL => "cannot assign requested address",
    ENETDOWN => "network is down",
    ENETUNREACH => "network is unreachable",
    ECONNABORTED => "software caused connection abort",
    ECONNRESET => "connection reset by peer",
    ENOBUFS => "no buffer space available",
    ETOOMANYREFS => "too many references: cannot splice",
    EISCONN => "transport endpoint is already connected",
    ENOTCONN => "transport endpoint is not connected",
    ETIMEDOUT => "connection timed out",
    ECONNREFUSED => "connection refused",
    EHOSTUNREACH => "no route to host",
    EALREADY => "operation already in progress",
    EINPROGRESS => "operation now in progress",
    ECANCELED => "operation canceled",
    EOWNERDEAD => "owner died",
    ENOTRECOVERABLE => "state not recoverable",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_texts() {
        assert_eq!(Errno(libc::EINVAL).name(), "EINVAL");
        assert_eq!(Errno(libc::EBADMSG).describe(), "bad message");
        assert_eq!(Errno(99999).name(), "E?");
        assert_eq!(Errno(libc::EPERM).describe_nul(), "operation not permitted (EPERM)\0");
        assert_eq!(Errno(libc::ENOTRECOVERABLE).to_string(), "state not recoverable (ENOTRECOVERABLE)");
        assert_eq!(Errno(libc::ENOTRECOVERABLE).name(), "ENOTRECOVERABLE");
        assert_eq!(Errno(99999).describe(), "unknown error");
        assert_eq!(Errno(99999).describe_nul(), "unknown error\0");
        assert_eq!(Errno(99999).to_string(), "unknown error (E?)");
        assert_eq!(Errno(-1).name(), "E?");
        assert_eq!(Errno(256 + libc::EPERM).name(), "E?");
    }

    #[test]
    fn every_entry_splits_into_text_and_name() {
        for &c in ERRNO_CODES {
            let e = Errno(i32::from(c));
            assert!(!e.describe().is_empty() && !e.describe().ends_with(' '), "{}", c);
            assert!(e.name().starts_with('E'), "{}", c);
            assert_eq!(e.describe_nul(), format!("{} ({})\0", e.describe(), e.name()));
        }
    }
}
