//! Version, errors and the log hook.

use core::ffi::{c_char, c_int, c_uint, c_void};

use super::boundary::run;
use crate::err;
use crate::sys::Errno;

/// Log level: error conditions (syslog `LOG_ERR`).
pub const GRACEFD_LOG_ERR: c_int = 3;
/// Log level: warnings, such as an inherited fd that was rejected (`LOG_WARNING`).
pub const GRACEFD_LOG_WARNING: c_int = 4;
/// Log level: normal but significant events, such as an upgrade finished (`LOG_NOTICE`).
pub const GRACEFD_LOG_NOTICE: c_int = 5;
/// Log level: informational events (`LOG_INFO`).
pub const GRACEFD_LOG_INFO: c_int = 6;
/// Log level: debugging detail (`LOG_DEBUG`).
pub const GRACEFD_LOG_DEBUG: c_int = 7;

// The C values are the core's; checked at compile time (cbindgen needs literals).
const _: () = assert!(
    GRACEFD_LOG_ERR == crate::log::ERR
        && GRACEFD_LOG_WARNING == crate::log::WARNING
        && GRACEFD_LOG_NOTICE == crate::log::NOTICE
        && GRACEFD_LOG_INFO == crate::log::INFO
        && GRACEFD_LOG_DEBUG == crate::log::DEBUG
);

/// A log callback: receives `user` as registered, a syslog level (0–7) and a
/// one-line NUL-terminated message that is only valid during the call. It is
/// called on whichever thread produced the event and must not block for long.
/// It may call back into gracefd.
pub type gracefd_log_fn = Option<unsafe extern "C" fn(user: *mut c_void, level: c_int, message: *const c_char)>;

/// The library version as `MAJOR * 10000 + MINOR * 100 + PATCH`, which equals
/// `GRACEFD_VERSION_NUMBER` when the header and the archive match.
///
/// Never fails. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_version_number() -> c_uint {
    crate::version::NUMBER
}

/// The library version as a static NUL-terminated `"MAJOR.MINOR.PATCH"` string.
///
/// Never fails; never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_version_string() -> *const c_char {
    crate::version::STRING_NUL.as_ptr() as *const c_char
}

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

/// Register a callback that receives the library's internal events (an
/// upgrade started, a new generation failed and why, an inherited fd was
/// rejected…). Messages of a level numerically above `max_level` are dropped
/// before they are formatted. Pass `callback` NULL to remove the hook. Without
/// a hook the library prints nothing, anywhere.
///
/// Returns 0, or `-EINVAL` if `callback` is not NULL and `max_level` is not
/// between 0 and 7.
///
/// Thread-safe; the hook is process-wide. Never called between fork and exec.
#[no_mangle]
pub extern "C" fn gracefd_set_log_hook(callback: gracefd_log_fn, user: *mut c_void, max_level: c_int) -> c_int {
    run(|| {
        if callback.is_some() && !(0..=7).contains(&max_level) {
            return Err(err!(EINVAL, "max_level {} is not a syslog level (0 to 7)", max_level));
        }
        crate::log::set_hook(callback, user, max_level);
        Ok(0)
    })
}
