//! Strict decimal parsing and allocation-free formatting: pure code with no
//! dependency, at the bottom of the core, so `sys` (fd numbers in
//! `/proc/self/fd`, thread counts) and `proto` both build on it.

/// Parse a non-empty string of ASCII digits (no sign, no spaces, no trailing
/// bytes) that fits in u32.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// Like [`parse_u32`] for u64.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// A positive pid (1..=i32::MAX), strictly parsed.
pub fn parse_pid(s: &[u8]) -> Option<i32> {
    let v = parse_u32(s)?;
    if v == 0 || v > i32::MAX as u32 {
        return None;
    }
    Some(v as i32)
}

/// Format `v` in decimal into `buf`, returning the written slice. 20 bytes
/// always suffice. Async-signal-safe (used between fork and exec).
pub fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or(&[])
}

/// Milliseconds shown as seconds, for messages: `3 s`, `1.5 s`, `0.05 s`.
pub struct Secs(pub u64);

impl core::fmt::Display for Secs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (whole, mut frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            return write!(f, "{} s", whole);
        }
        let mut width = 3;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(f, "{}.{:0w$} s", whole, frac, w = width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_are_shown_without_trailing_zeros() {
        let shown = |ms| alloc::format!("{}", Secs(ms));
        assert_eq!([shown(3000), shown(1500), shown(50), shown(1), shown(0)], ["3 s", "1.5 s", "0.05 s", "0.001 s", "0 s"]);
    }

    #[test]
    fn strict() {
        assert_eq!(parse_u32(b"0"), Some(0));
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        for bad in [&b""[..], b"-1", b"+1", b" 1", b"1 ", b"1x", b"0x10", b"99999999999999999999999"] {
            assert_eq!(parse_u32(bad), None, "{:?}", bad);
        }
        assert_eq!(parse_pid(b"0"), None);
        assert_eq!(parse_pid(b"2147483648"), None);
        assert_eq!(parse_pid(b"42"), Some(42));
    }

    #[test]
    fn format() {
        let mut b = [0u8; 20];
        assert_eq!(fmt_u64(0, &mut b), b"0");
        assert_eq!(fmt_u64(1234567890, &mut b), b"1234567890");
        assert_eq!(fmt_u64(u64::MAX, &mut b), b"18446744073709551615");
    }
}
