//! [`Msg`]: a one-line message formatted into a fixed buffer (no
//! allocation). The text of an [`Error`](crate::Error), of a log record,
//! of a rejected fd's reason: at the bottom of the core, so that every layer
//! can hold one.

use core::fmt;

/// Longest message kept, in bytes (longer ones are cut at a char boundary).
pub const MSG_CAP: usize = 240;

/// A fixed-capacity UTF-8 string that formatting writes into, truncating.
#[derive(Clone, Copy)]
pub struct Msg {
    len: u8,
    buf: [u8; MSG_CAP],
}

impl Msg {
    /// An empty message.
    pub const fn new() -> Self {
        Msg { len: 0, buf: [0; MSG_CAP] }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let b = self.buf.get(..self.len as usize).unwrap_or(&[]);
        // SAFETY: only `write_str` fills `buf`, with whole `&str`s cut at a
        // char boundary, so `buf[..len]` is UTF-8. Not re-checked with
        // from_utf8: that validator is 0.5 KB in every program that reports an error.
        unsafe { core::str::from_utf8_unchecked(b) }
    }
}

impl Default for Msg {
    fn default() -> Self {
        Msg::new()
    }
}

impl fmt::Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let used = self.len as usize;
        let room = MSG_CAP - used;
        let mut take = s.len().min(room);
        while take > 0 && !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) = (self.buf.get_mut(used..used + take), s.as_bytes().get(..take)) {
            dst.copy_from_slice(src);
            self.len = (used + take) as u8;
        }
        Ok(())
    }
}

/// A `&str` that formats as itself: `{}` on a plain `&str` goes through
/// `Formatter::pad` (width, fill, precision: 1 KB of code), which a message never needs.
#[derive(Clone, Copy)]
pub struct Plain<'a>(pub &'a str);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn cut_keeps_utf8_and_plain_writes_as_is() {
        let mut m = Msg::new();
        let _ = write!(m, "{}{}", "x".repeat(MSG_CAP - 1), Plain("é"));
        assert_eq!(m.as_str(), "x".repeat(MSG_CAP - 1));
        assert_eq!(format!("[{:>4}]", Plain("ab")), "[ab]");
    }
}
