//! The library's log messages, to a Rust closure (or, with the `log`
//! feature, to the `log` crate).

use std::ffi::{c_char, c_void, CStr};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use crate::log as core_log;

/// How important a log message is: syslog's priorities, of which the
/// library uses these five. Ordered by number: `ERR < DEBUG`, so "at most
/// `NOTICE`" means `ERR`, `WARNING` and `NOTICE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(i32);

impl Level {
    /// `LOG_ERR` (3): something failed and was given up on.
    pub const ERR: Level = Level(core_log::ERR);
    /// `LOG_WARNING` (4): something was wrong and was worked around.
    pub const WARNING: Level = Level(core_log::WARNING);
    /// `LOG_NOTICE` (5): a lifecycle step (upgrade started, new generation ready).
    pub const NOTICE: Level = Level(core_log::NOTICE);
    /// `LOG_INFO` (6): detail of a lifecycle step.
    pub const INFO: Level = Level(core_log::INFO);
    /// `LOG_DEBUG` (7): everything else.
    pub const DEBUG: Level = Level(core_log::DEBUG);

    /// The syslog priority number.
    pub const fn as_i32(self) -> i32 {
        self.0
    }

    /// The level of a syslog priority number (0–2 count as `ERR`, above 7 as `DEBUG`).
    pub const fn from_i32(n: i32) -> Level {
        if n <= core_log::ERR {
            Level::ERR
        } else if n >= core_log::DEBUG {
            Level::DEBUG
        } else {
            Level(n)
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            core_log::ERR => "error",
            core_log::WARNING => "warning",
            core_log::NOTICE => "notice",
            core_log::INFO => "info",
            _ => "debug",
        })
    }
}

type Hook = Arc<dyn Fn(Level, &str) + Send + Sync>;

static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// Receive the library's log messages: `f(level, message)` for each message
/// at `level <= max_level`. Without a hook the library prints nothing.
/// Messages are one line, `gracefd[<pid>]: …`: an upgrade started, a new
/// generation ready (and how long it took) or failed (and why), an
/// inherited fd rejected (and why).
///
/// `f` runs on the thread that logs, never between fork and exec, and may
/// call back into the library. A panic in `f` is caught and ignored.
/// Replaces any earlier hook (including one set through the C ABI, or
/// `set_log_crate_hook` of the `log` feature). Cannot fail.
///
/// ```
/// use gracefd::Level;
/// gracefd::set_log_hook(Level::NOTICE, |level, msg| eprintln!("{level}: {msg}"));
/// # gracefd::clear_log_hook();
/// ```
pub fn set_log_hook<F>(max_level: Level, f: F)
where
    F: Fn(Level, &str) + Send + Sync + 'static,
{
    let mut h = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    *h = Some(Arc::new(f));
    drop(h);
    // Every Level a caller can name is 0–7, which the core takes.
    let _ = core_log::set_hook(Some(trampoline), std::ptr::null_mut(), max_level.0);
}

/// Remove the log hook: the library is silent again. Cannot fail.
pub fn clear_log_hook() {
    // Removing the hook is never refused.
    let _ = core_log::set_hook(None, std::ptr::null_mut(), -1);
    let mut h = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    *h = None;
}

/// Send the library's log messages to the [`log`](https://docs.rs/log)
/// crate (feature `log`), target `"gracefd"`: `ERR` → `error!`, `WARNING` →
/// `warn!`, `NOTICE` and `INFO` → `info!`, `DEBUG` → `debug!`. Messages
/// above [`log::max_level()`](https://docs.rs/log/0.4/log/fn.max_level.html) as it is at this call are not even formatted;
/// so call this after the logger is set up. Replaces any earlier hook.
/// Cannot fail.
///
/// ```
/// gracefd::set_log_crate_hook();
/// # gracefd::clear_log_hook();
/// ```
#[cfg(feature = "log")]
pub fn set_log_crate_hook() {
    let max = match log_crate::max_level() {
        // Nothing would be delivered: no hook at all (an earlier one, set
        // through the C ABI say, is removed as well).
        log_crate::LevelFilter::Off => return clear_log_hook(),
        log_crate::LevelFilter::Error => Level::ERR,
        log_crate::LevelFilter::Warn => Level::WARNING,
        log_crate::LevelFilter::Info => Level::INFO,
        log_crate::LevelFilter::Debug | log_crate::LevelFilter::Trace => Level::DEBUG,
    };
    set_log_hook(max, |level, msg| {
        let l = match level {
            Level::ERR => log_crate::Level::Error,
            Level::WARNING => log_crate::Level::Warn,
            Level::NOTICE | Level::INFO => log_crate::Level::Info,
            _ => log_crate::Level::Debug,
        };
        log_crate::log!(target: "gracefd", l, "{msg}");
    });
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
    let _ = catch_unwind(AssertUnwindSafe(|| hook(Level::from_i32(level), &text)));
}

#[cfg(test)]
mod tests {
    use super::Level;
    #[cfg(feature = "log")]
    use core::ffi::{c_char, c_void};

    #[cfg(feature = "log")]
    #[test]
    fn the_log_crates_off_removes_an_earlier_hook() {
        unsafe extern "C" fn earlier(_: *mut c_void, _: i32, _: *const c_char) {}
        crate::log::set_hook(Some(earlier), std::ptr::null_mut(), 7).unwrap();
        assert!(crate::log::enabled(crate::log::ERR));
        let before = log_crate::max_level();
        log_crate::set_max_level(log_crate::LevelFilter::Off);
        super::set_log_crate_hook();
        log_crate::set_max_level(before);
        assert!(!crate::log::enabled(crate::log::ERR), "Off must leave the library silent");
        super::clear_log_hook();
    }

    #[test]
    fn levels_order_and_clamp_like_syslog() {
        assert!(Level::ERR < Level::WARNING && Level::INFO < Level::DEBUG);
        assert_eq!(Level::from_i32(0), Level::ERR);
        assert_eq!(Level::from_i32(9), Level::DEBUG);
        assert_eq!(Level::from_i32(5), Level::NOTICE);
        assert_eq!(Level::WARNING.to_string(), "warning");
    }
}
