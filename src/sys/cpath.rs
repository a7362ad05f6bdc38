//! [`CPath`]: bytes with one NUL at the end, what every `sys` call that takes
//! a path (or a user or group name) wants.
//!
//! The one thing in `sys` that allocates, when it is made: build it before a
//! fork, never between fork and exec. Reading it allocates nothing. Public
//! (through `__cli`) for the command, whose own copies are to switch to it.

use alloc::vec::Vec;
use core::ops::Deref;

use super::{Errno, SysResult};
use crate::proto::addr::Shown;
use crate::{err, Result};

/// A path or name for a libc call: its bytes, no NUL among them, then one
/// NUL. Dereferences to the bytes WITH the NUL (what `sys::fs::open` and
/// friends take); [`CPath::as_bytes`] gives them without.
#[derive(Clone, PartialEq, Eq)]
pub struct CPath(Vec<u8>);

impl CPath {
    /// `s` plus a NUL. `EINVAL` if `s` holds a NUL (libc would see a
    /// shorter string: another path). An empty `s` is allowed here (libc
    /// answers `ENOENT`); [`CPath::checked`] refuses it with a reason.
    pub fn new(s: &[u8]) -> SysResult<CPath> {
        if s.contains(&0) {
            return Err(Errno(libc::EINVAL));
        }
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s);
        v.push(0);
        Ok(CPath(v))
    }

    /// As [`CPath::new`], for a value a caller gave: `EINVAL` for an empty
    /// one too, with a message naming it (`what`: "pid file path", "user"…).
    pub fn checked(s: &[u8], what: &str) -> Result<CPath> {
        if s.is_empty() {
            return Err(err!(EINVAL, "{} is empty", crate::msg::Plain(what)));
        }
        CPath::new(s).map_err(|_| err!(EINVAL, "{} {} contains NUL", crate::msg::Plain(what), Shown(s)))
    }

    /// The parts one after the other, plus a NUL (a path built from a
    /// directory and a name). `EINVAL` if a part holds a NUL.
    pub fn join(parts: &[&[u8]]) -> SysResult<CPath> {
        if parts.iter().any(|p| p.contains(&0)) {
            return Err(Errno(libc::EINVAL));
        }
        let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1);
        for p in parts {
            v.extend_from_slice(p);
        }
        v.push(0);
        Ok(CPath(v))
    }

    /// The bytes without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.split_last().map_or(&[][..], |(_, rest)| rest)
    }
}

impl Deref for CPath {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for CPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", Shown(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_nul_at_the_end_and_none_inside() {
        let p = CPath::new(b"/run/x.pid").unwrap();
                assert_eq!(p.as_bytes(), b"/run/x.pid");
        assert_eq!(&*p, b"/run/x.pid\0");
        assert_eq!(CPath::new(b"a\0b").unwrap_err(), Errno(libc::EINVAL));
        assert_eq!(&*CPath::new(b"").unwrap(), b"\0");
        let e = CPath::checked(b"", "user").unwrap_err();
        assert_eq!((e.errno, e.message()), (Errno(libc::EINVAL), "user is empty"));
        let e = CPath::checked(b"a\0b", "group").unwrap_err();
        assert!(e.message().contains("contains NUL"), "{}", e.message());
    }
}
