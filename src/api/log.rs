//! The library's log messages, to a Rust closure.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

type Hook = Arc<dyn Fn(i32, &str) + Send + Sync>;

static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// Receive the library's log messages: `f(level, message)` for each message
/// at `level <= max_level` (syslog priorities: [`crate::log::ERR`] 3 …
/// [`crate::log::DEBUG`] 7). Without a hook the library prints nothing.
/// Messages are one line, `gracefd[<pid>]: …`: an upgrade started, a new
/// generation ready (and how long it took) or failed (and why), an
/// inherited fd rejected (and why).
///
/// `f` runs on the thread that logs, never between fork and exec, and may
/// call back into the library. A panic in `f` is caught and ignored.
/// Replaces any earlier hook (including one set through the C ABI).
///
/// ```
/// gracefd::set_log_hook(gracefd::log::NOTICE, |level, msg| eprintln!("<{level}>{msg}"));
/// ```
pub fn set_log_hook<F>(max_level: i32, f: F)
where
    F: Fn(i32, &str) + Send + Sync + 'static,
{
    let mut h = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    *h = Some(Arc::new(f));
    crate::log::set_hook(Some(trampoline), std::ptr::null_mut(), max_level);
}

/// Remove the log hook: the library is silent again.
pub fn clear_log_hook() {
    crate::log::set_hook(None, std::ptr::null_mut(), -1);
    let mut h = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    *h = None;
}

unsafe extern "C" fn trampoline(_user: *mut c_void, level: i32, msg: *const c_char) {
    // Cloned out of the lock, so a hook that logs or sets a hook cannot deadlock.
    let hook = HOOK.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(hook) = hook else { return };
    if msg.is_null() {
        return;
    }
    // SAFETY: the library passes a NUL-terminated string valid for this call.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    let _ = catch_unwind(AssertUnwindSafe(|| hook(level, &text)));
}
