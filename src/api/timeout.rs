//! The one conversion of a [`Duration`] to the core's milliseconds, for
//! every call of the face that takes a timeout.

use std::time::Duration;

/// `d` in whole milliseconds, rounded up (a timeout never ends early, and a
/// non-zero one never becomes 0); [`Duration::MAX`] is -1, the core's "no
/// limit". Anything too large for an `i64` is `i64::MAX` (millions of years).
/// (The rule itself is the core's, `sys::time::duration_to_ms`, which the
/// C-facing and CLI conversions use too.)
pub(crate) fn timeout_ms(d: Duration) -> i64 {
    crate::sys::time::duration_to_ms(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_and_max_means_no_limit() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_ms(Duration::from_micros(1500)), 2);
        assert_eq!(timeout_ms(Duration::from_millis(30)), 30);
        assert_eq!(timeout_ms(Duration::MAX), -1);
        assert_eq!(timeout_ms(Duration::MAX - Duration::from_secs(1)), i64::MAX);
    }
}
