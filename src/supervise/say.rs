//! The supervisor's log lines (and the `gracefd` command's): one `write` per
//! line on stderr (which is the log file once `--log-file` applies, shared
//! with the workers), prefixed with the program name and pid, and a UTC
//! timestamp when writing to a file. The library's log events come through
//! the same path (its log hook) once [`init`] ran.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

pub use crate::log::{DEBUG, ERR, INFO, NOTICE, WARNING};

/// `say!(say::INFO, "worker {} is ready", pid)`, inside the crate (the
/// command has its own `say!` over [`line`]).
macro_rules! say {
    ($level:expr, $($arg:tt)+) => {
        $crate::supervise::say::line($level, format_args!($($arg)+))
    };
}
pub(crate) use say;

static PROG: OnceLock<String> = OnceLock::new();
static MAX_LEVEL: AtomicI32 = AtomicI32::new(INFO);
static TIMESTAMPS: AtomicBool = AtomicBool::new(false);

/// Set the name lines start with and the most verbose level shown, and route
/// the library's log events here.
pub fn init(prog: &str, max_level: i32) {
    let _ = PROG.set(prog.to_string());
    MAX_LEVEL.store(max_level, Ordering::Relaxed);
    // The command passes INFO or DEBUG; anything else is refused by the
    // core and the library's lines are then not shown.
    let _ = crate::log::set_hook(Some(library_hook), core::ptr::null_mut(), max_level);
}

/// Prefix lines with a timestamp (set when stderr goes to a log file).
pub(crate) fn set_timestamps(on: bool) {
    TIMESTAMPS.store(on, Ordering::Relaxed);
}

/// The program name lines start with.
pub fn prog() -> &'static str {
    PROG.get().map(String::as_str).unwrap_or("gracefd")
}

/// Whether a line at `level` is shown.
pub(crate) fn enabled(level: i32) -> bool {
    level <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Write one line (use the `say!` macro).
pub fn line(level: i32, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut s = String::with_capacity(128);
    if TIMESTAMPS.load(Ordering::Relaxed) {
        s.push_str(&utc_now());
        s.push(' ');
    }
    let tag = match level {
        ERR => "error: ",
        WARNING => "warning: ",
        _ => "",
    };
    use std::fmt::Write as _;
    let _ = write!(s, "{}[{}]: {}{}", prog(), crate::sys::process::getpid(), tag, args);
    s.push('\n');
    // One write: lines of gracefd and its workers do not interleave mid-line.
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

unsafe extern "C" fn library_hook(_user: *mut core::ffi::c_void, level: i32, msg: *const core::ffi::c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the library passes a NUL-terminated string valid for this call.
    let text = unsafe { core::ffi::CStr::from_ptr(msg) }.to_string_lossy();
    // The library prefixes "gracefd[pid]: "; ours says the same.
    let body = match text.find("]: ") {
        Some(i) if text.starts_with("gracefd[") => text.get(i + 3..).unwrap_or(&text),
        _ => &text,
    };
    line(level, format_args!("{}", body));
}

/// `2026-11-21T19:52:03.123Z`.
fn utc_now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format_utc(d.as_secs(), d.subsec_millis())
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn format_utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::format_utc(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(super::format_utc(1_700_000_000, 999), "2023-11-14T22:13:20.999Z");
    }
}
