//! The log hook: the library's internal events to a C callback.

use core::ffi::{c_char, c_int, c_void};

use super::boundary::run;

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
        crate::log::set_hook(callback, user, max_level)?;
        Ok(0)
    })
}
