//! UTF-8 checking for the places that take bytes as text: a readiness
//! frame's message, a hand-off or connection-pass REFUSE reason, the text
//! fields of the hand-off and control frames, `Shown` (byte by byte) and the
//! IP printers' digit buffers. `core::str::from_utf8` does the same job with
//! a 256-byte table and a wide fast path, 0.75 KB linked into every program
//! that reports ready; the texts checked here are at most a few hundred
//! bytes.

/// Whether `b` is well-formed UTF-8: exactly what `core::str::from_utf8`
/// accepts (no overlong forms, no surrogates, nothing above U+10FFFF).
pub fn valid(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        if c < 0x80 {
            continue;
        }
        // How many continuation bytes follow, and the range the first of
        // them must be in (it is what rules out the overlong forms, the
        // surrogates and what lies above U+10FFFF); the others are 80..=bf.
        let (more, mut lo, mut hi) = match c {
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0..=0xef => (2, if c == 0xe0 { 0xa0 } else { 0x80 }, if c == 0xed { 0x9f } else { 0xbf }),
            0xf0..=0xf4 => (3, if c == 0xf0 { 0x90 } else { 0x80 }, if c == 0xf4 { 0x8f } else { 0xbf }),
            _ => return false,
        };
        for _ in 0..more {
            match b.get(i) {
                Some(&d) if (lo..=hi).contains(&d) => {}
                _ => return false,
            }
            (lo, hi, i) = (0x80, 0xbf, i + 1);
        }
    }
    true
}

/// `b` as text, if it is well-formed UTF-8 (as `core::str::from_utf8(b).ok()`).
pub fn as_str(b: &[u8]) -> Option<&str> {
    if !valid(b) {
        return None;
    }
    // SAFETY: `valid` accepted it; its tests hold it to core's own check.
    Some(unsafe { core::str::from_utf8_unchecked(b) })
}

/// Whether byte `n` of well-formed UTF-8 `b` starts a char, or is its end
/// (as `str::is_char_boundary`).
pub fn is_char_boundary(b: &[u8], n: usize) -> bool {
    match b.get(n) {
        Some(&c) => c & 0xc0 != 0x80,
        None => n == b.len(),
    }
}

#[cfg(test)]
#[path = "utf8_tests.rs"]
mod tests;
