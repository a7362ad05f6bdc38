//! The log hook: the host program may register a callback that receives the
//! library's internal events (an upgrade started, a child failed and why, an
//! inherited fd rejected). Without one, the library prints nothing.
//!
//! Levels are syslog priorities: 0 (emerg) … 7 (debug). Messages are one line,
//! formatted into a stack buffer (no allocation) and delivered on the thread
//! that produced them. Never called between fork and exec.

use core::ffi::c_void;
use core::fmt;
use core::sync::atomic::{AtomicI32, Ordering};

use crate::msg::{Msg, MSG_CAP};
use crate::sync::{self, Kept, Mutex, Sink};

/// `LOG_ERR`.
pub const ERR: i32 = 3;
/// `LOG_WARNING`.
pub const WARNING: i32 = 4;
/// `LOG_NOTICE`.
pub const NOTICE: i32 = 5;
/// `LOG_INFO`.
pub const INFO: i32 = 6;
/// `LOG_DEBUG`.
pub const DEBUG: i32 = 7;

/// The callback: `(user, level, message)`; `message` is NUL-terminated and only
/// valid during the call.
pub(crate) type LogFn = unsafe extern "C" fn(user: *mut c_void, level: i32, msg: *const libc::c_char);

#[derive(Clone, Copy)]
struct Hook {
    f: Option<LogFn>,
    user: usize,
    max_level: i32,
}

static HOOK: Mutex<Hook> = Mutex::new(Hook { f: None, user: 0, max_level: -1 });

/// The hook's `max_level`, -1 without a hook: what [`enabled`] reads at
/// every `log!` site, inline and without the hook's lock (a call that took
/// the lock was 12 bytes at each of the library's log sites, and a lock and
/// unlock per message not logged). [`emit`] and [`deliver`] still decide by
/// the hook itself.
static MAX_LEVEL: AtomicI32 = AtomicI32::new(-1);

/// Register (or with `None`, remove) the hook. Messages above `max_level` are dropped
/// before they are formatted. `EINVAL` (and the hook unchanged) when a hook
/// is given with a `max_level` that is not a syslog level (0 to 7).
pub fn set_hook(f: Option<LogFn>, user: *mut c_void, max_level: i32) -> crate::error::Result<()> {
    if f.is_some() && !(0..=DEBUG).contains(&max_level) {
        return Err(crate::err!(EINVAL, "max_level {} is not a syslog level (0 to 7)", max_level));
    }
    // Before any message can be kept under a lock, say where kept ones go.
    sync::set_sink(&KEPT_SINK);
    HOOK.with_leaf(|h| {
        *h = Hook { f, user: user as usize, max_level };
        MAX_LEVEL.store(if f.is_some() { max_level } else { -1 }, Ordering::Release);
    });
    Ok(())
}

static KEPT_SINK: Sink = Sink(deliver_kept);

/// Deliver what this thread kept while it held a lock (it holds none now).
fn deliver_kept(recs: &[Kept], dropped: u32) {
    for r in recs {
        deliver(r.level, &r.msg);
    }
    if dropped > 0 {
        let mut m = Msg::new();
        let _ = fmt::write(
            &mut m,
            format_args!("gracefd[{}]: {} log messages dropped (made while a lock was held)", crate::sys::process::getpid(), dropped),
        );
        deliver(WARNING, &m);
    }
}

/// Whether a message at `level` would be delivered.
#[inline]
pub(crate) fn enabled(level: i32) -> bool {
    level <= MAX_LEVEL.load(Ordering::Acquire)
}

/// Deliver one message. The hook may call back into the library, so it never
/// runs with a lock held: the hook is copied out of its own lock first, and a
/// message made while this thread holds any library lock is kept until the
/// last one is released (`sync::keep_while_locked`).
pub(crate) fn emit(level: i32, args: fmt::Arguments<'_>) {
    // A first sieve, without the hook's lock: `deliver` decides by the hook itself.
    if !enabled(level) {
        return;
    }
    let mut m = Msg::new();
    let _ = fmt::write(&mut m, format_args!("gracefd[{}]: {}", crate::sys::process::getpid(), args));
    if sync::keep_while_locked(level, &m) {
        return;
    }
    deliver(level, &m);
}

/// Hand `m` to the hook now (no lock held).
fn deliver(level: i32, m: &Msg) {
    let h = HOOK.with_leaf(|h| *h);
    let Some(f) = h.f else { return };
    if level > h.max_level {
        return;
    }
    let mut buf = [0u8; MSG_CAP + 1];
    let s = m.as_str().as_bytes();
    let n = s.len().min(MSG_CAP);
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), s.get(..n)) {
        dst.copy_from_slice(src);
    }
    // SAFETY: f was registered by the host for exactly this call shape; buf is NUL-terminated.
    unsafe { f(h.user as *mut c_void, level, buf.as_ptr() as *const libc::c_char) };
}

/// `log!(log::INFO, "upgrade started: pid {}", pid)`.
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        if $crate::log::enabled($level) {
            $crate::log::emit($level, format_args!($($arg)+));
        }
    };
}
pub(crate) use log;
