//! Errors: an errno plus a one-line reason, and the per-thread "last error".
//!
//! An [`Error`] carries its message inline (no allocation), so it can be
//! built anywhere, including on paths where allocating would be wrong.
//! The C ABI stores the message of the most recent failure of each thread
//! (see [`set_last`]) and returns `-errno`.

use core::fmt;

use crate::sys::Errno;

pub use crate::msg::{Msg, MSG_CAP};

/// An error: what failed (`errno`) and why, in words.
#[derive(Clone, Copy)]
pub struct Error {
    /// The errno value (positive).
    pub errno: Errno,
    /// One line saying what went wrong, naming the input where there is one.
    pub msg: Msg,
}

/// Result with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// An error with a formatted message.
    pub fn new(errno: Errno, args: fmt::Arguments<'_>) -> Error {
        let mut msg = Msg::new();
        let _ = fmt::write(&mut msg, args);
        Error { errno, msg }
    }

    /// An error whose message is `what: <strerror>`, for a failed syscall.
    pub fn sys(errno: Errno, what: &str) -> Error {
        Error::new(errno, format_args!("{}: {}", crate::msg::Plain(what), errno))
    }

    /// The message.
    pub fn message(&self) -> &str {
        self.msg.as_str()
    }

    /// `-errno`, the C ABI's return value for this error.
    pub fn neg(&self) -> i32 {
        -self.errno.0
    }

    /// Prefix the message with context: `context: old message`.
    pub fn context(self, args: fmt::Arguments<'_>) -> Error {
        let mut msg = Msg::new();
        let _ = fmt::write(&mut msg, args);
        let _ = fmt::Write::write_str(&mut msg, ": ");
        let _ = fmt::Write::write_str(&mut msg, self.msg.as_str());
        Error { errno: self.errno, msg }
    }
}

/// An error slot: a step that fails records its error in a slot its caller
/// owns and returns a small code (`None`, a variant without payload). The
/// error is then built once, in place, instead of being copied (248 bytes)
/// through every `?` whose `Result` type differs, each copy being code.
impl Error {
    /// A slot to be overwritten by [`Error::set`] before it is read.
    pub(crate) const fn unset() -> Error {
        Error { errno: Errno(libc::EIO), msg: Msg::new() }
    }

    /// Overwrite the slot with a new error.
    #[cold]
    #[inline(never)]
    pub(crate) fn set(&mut self, errno: i32, args: fmt::Arguments<'_>) {
        *self = Error::new(Errno(errno), args);
    }

    /// Overwrite the slot with [`Error::sys`]`(errno, what)`.
    #[cold]
    #[inline(never)]
    pub(crate) fn set_sys(&mut self, errno: Errno, what: &str) {
        *self = Error::sys(errno, what);
    }

    /// [`Error::context`] in place: prefix the slot's message.
    #[cold]
    #[inline(never)]
    pub(crate) fn prefix(&mut self, args: fmt::Arguments<'_>) {
        *self = self.context(args);
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}, {:?})", self.errno.name(), self.msg.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.msg.as_str())
    }
}

/// Build an [`Error`]: `err!(EINVAL, "port {} is above 65535", p)`.
macro_rules! err {
    ($errno:ident, $($arg:tt)+) => {
        $crate::error::Error::new($crate::sys::Errno(libc::$errno), format_args!($($arg)+))
    };
}

/// Return early with an [`Error`]: `bail!(EINVAL, "...")`.
macro_rules! bail {
    ($errno:ident, $($arg:tt)+) => {
        return Err($crate::err!($errno, $($arg)+))
    };
}
pub(crate) use {bail, err};

// ---- the per-thread last error -------------------------------------------
//
// Thread-locals are not available to stable no_std code, so the per-thread
// slot is a pthread key whose value is a malloc'd buffer (freed by the key's
// destructor when the thread exits).

mod last {
    use super::MSG_CAP;
    use crate::sync::Lazy;
    use crate::sys::thread::{self, Key};

    const BUF: usize = MSG_CAP + 1;

    static KEY: Lazy<Option<Key>> = Lazy::new();

    unsafe extern "C" fn free_buf(p: *mut core::ffi::c_void) {
        // SAFETY: p was returned by thread::zalloc in `slot`, and is this
        // exiting thread's alone.
        unsafe { thread::free(p) }
    }

    /// This thread's buffer (BUF bytes, NUL-terminated), created on first use.
    pub fn slot(create: bool) -> *mut u8 {
        let Some(k) = *KEY.get_or_init(|| thread::key_create(free_buf).ok()) else {
            return core::ptr::null_mut();
        };
        let p = thread::get_specific(k) as *mut u8;
        if !p.is_null() || !create {
            return p;
        }
        let p = thread::zalloc(BUF);
        if p.is_null() {
            return p;
        }
        if thread::set_specific(k, p.cast()).is_err() {
            // SAFETY: p is ours and was never shared.
            unsafe { thread::free(p.cast()) };
            return core::ptr::null_mut();
        }
        p
    }

    pub const LEN: usize = BUF;
}

/// Record `e` as this thread's last error (what `gracefd_last_error()` returns).
pub fn set_last(e: &Error) {
    let p = last::slot(true);
    if p.is_null() {
        return;
    }
    let s = e.msg.as_str().as_bytes();
    let n = s.len().min(last::LEN - 1);
    // SAFETY: p points to LEN bytes owned by this thread; n < LEN.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), p, n);
        *p.add(n) = 0;
    }
}

/// This thread's last error message as a NUL-terminated pointer ("" if none).
/// Valid until the next failing gracefd call on this thread.
pub fn last_ptr() -> *const u8 {
    let p = last::slot(false);
    if p.is_null() {
        c"".as_ptr() as *const u8
    } else {
        p
    }
}

/// This thread's last error message, copied out (for the tests; the C ABI hands out the pointer).
#[cfg(test)]
pub fn last_message() -> Msg {
    let mut m = Msg::new();
    let p = last_ptr();
    // SAFETY: last_ptr is NUL-terminated within last::LEN bytes.
    let bytes = unsafe { core::ffi::CStr::from_ptr(p as *const libc::c_char) }.to_bytes();
    if let Ok(s) = core::str::from_utf8(bytes) {
        let _ = fmt::Write::write_str(&mut m, s);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_truncates_on_char_boundary() {
        let long = "é".repeat(200);
        let e = Error::new(Errno(libc::EINVAL), format_args!("{}", long));
        assert!(e.message().len() <= MSG_CAP);
        assert!(e.message().chars().all(|c| c == 'é'));
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last(&err!(EINVAL, "main thread"));
        std::thread::spawn(|| {
            assert_eq!(last_message().as_str(), "");
            set_last(&err!(EBADF, "other thread"));
            assert_eq!(last_message().as_str(), "other thread");
        })
        .join()
        .unwrap();
        assert_eq!(last_message().as_str(), "main thread");
    }

    #[test]
    fn context_prefixes() {
        let e = err!(ENOENT, "no such thing").context(format_args!("LISTEN_FDS"));
        assert_eq!(e.message(), "LISTEN_FDS: no such thing");
        assert_eq!(e.neg(), -libc::ENOENT);
    }
}
