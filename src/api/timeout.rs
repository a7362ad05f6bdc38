//! The one conversion of a [`Duration`] to the core's milliseconds, for
//! every call of the face that takes a timeout.

use std::time::Duration;

/// `d` in whole milliseconds, rounded up (a timeout never ends early, and a
/// non-zero one never becomes 0); [`Duration::MAX`] is -1, the core's "no
/// limit". Anything too large for an `i64` is `i64::MAX` (millions of years).
/// (The rule itself, and its tests, are the core's: `sys::time::duration_to_ms`,
/// which the CLI's conversions use too.)
pub(crate) fn timeout_ms(d: Duration) -> i64 {
    crate::sys::time::duration_to_ms(d)
}
