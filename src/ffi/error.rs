//! Error codes and the per-thread error detail (the Rust face's errors are
//! `io::Error`s: api/error.rs).

use core::ffi::{c_char, c_int};

use crate::sys::Errno;

/// A static description of an error code, such as `"invalid argument (EINVAL)"`.
/// Accepts the negative value a gracefd function returned, or a positive errno.
/// Unknown codes give `"unknown error"`.
///
/// Never fails; never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_strerror(code: c_int) -> *const c_char {
    let e = code.checked_abs().unwrap_or(0);
    Errno(e).describe_nul().as_ptr() as *const c_char
}

/// Detail of the most recent failure of a gracefd function on the calling
/// thread: one line saying what went wrong and with which input (for example
/// `address "127.0.0.1:99999": port "99999" is above 65535`). Empty if no call
/// has failed on this thread. Successful calls do not clear it.
///
/// The string belongs to the library and stays valid until the next failing
/// gracefd call on the same thread. Never NULL. Thread-safe (per-thread storage).
#[no_mangle]
pub extern "C" fn gracefd_last_error() -> *const c_char {
    crate::error::last_ptr() as *const c_char
}
