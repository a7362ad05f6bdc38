//! How the supervisor's messages (and the command's) name things: signals
//! (`SIGTERM`), durations (`1.5 s`), values quoted from the command line.

/// A value quoted for messages (lossy UTF-8, quoted).
pub fn shown(v: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(v))
}

/// The signal names accepted (without `SIG`), for completion: the
/// library's one table (`sys::signal::NAMES`).
pub fn signal_names() -> impl Iterator<Item = &'static str> {
    crate::sys::signal::NAMES.iter().map(|(_, s)| s.get(3..).unwrap_or(s))
}

/// A signal by name, any case, with or without `SIG` (`term`, `SIGTERM`).
pub fn signal_by_name(name: &str) -> Option<i32> {
    crate::sys::signal::by_name(&name.to_ascii_uppercase())
}

/// The name of a signal, for messages (`SIGTERM`, or `signal 40`).
pub fn signal_name(sig: i32) -> String {
    match crate::sys::signal::lookup(sig) {
        Some(n) => n.to_string(),
        None => format!("signal {}", sig),
    }
}

/// Format milliseconds as seconds for messages (`1.5 s`, `0.05 s`, `3 s`).
pub fn fmt_secs(ms: u64) -> String {
    crate::num::Secs(ms).to_string()
}


/// Longest duration accepted anywhere (about 115 days), in ms.
pub const MAX_SECS: u64 = 10_000_000;

/// Seconds, maybe fractional (`1`, `0.25`, `2.5`), to milliseconds (a
/// fraction finer than a millisecond rounds up). No sign, exponent or unit.
/// EINVAL naming `--<opt>` and the value otherwise.
pub fn parse_secs(opt: &str, v: &[u8]) -> crate::error::Result<u64> {
    let bad = || crate::err!(EINVAL, "--{} {}: not a number of seconds (like 5 or 0.25)", opt, shown(v));
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (v.get(..dot).unwrap_or(&[]), Some(v.get(dot + 1..).unwrap_or(&[]))),
        None => (v, None),
    };
    if let Some(f) = frac {
        if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
    }
    // Strict digits (no sign, no spaces); too many of them is "not a number".
    let whole = crate::num::parse_u64(int).ok_or_else(bad)?;
    if whole > MAX_SECS {
        return Err(crate::err!(EINVAL, "--{} {}: more than {} seconds", opt, shown(v), MAX_SECS));
    }
    let mut ms = whole * 1000;
    if let Some(f) = frac {
        for (k, d) in f.iter().take(3).enumerate() {
            ms += u64::from(d - b'0') * [100, 10, 1].get(k).copied().unwrap_or(0);
        }
        // Finer than a millisecond rounds up, as the library's durations do
        // (sys::time::duration_to_ms): a wait is never cut short.
        if f.iter().skip(3).any(|&d| d != b'0') {
            ms += 1;
        }
    }
    Ok(ms)
}
