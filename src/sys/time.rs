//! The monotonic clock, deadlines, timerfds, and the one conversion of a
//! duration to the core's milliseconds.

use core::time::Duration;

use super::fd::{Fd, RawFd};
use super::{cvt, SysResult};

/// A timeout in ms meaning "no limit" (every negative one does; this is the
/// one the conversions give).
pub const NO_LIMIT_MS: i64 = -1;

/// Nanoseconds as whole milliseconds, rounded up: a wait is never cut short
/// of what was asked (1 ns is 1 ms, not 0 — which would mean "do not wait").
pub const fn ms_ceil(ns: u64) -> u64 {
    ns.div_ceil(1_000_000)
}

/// A duration as the core's timeout in milliseconds: rounded up
/// ([`ms_ceil`]); `Duration::MAX` is [`NO_LIMIT_MS`]; anything else too long
/// for an `i64` saturates at `i64::MAX` (some 292 million years). Every face
/// taking a `Duration` converts with this, so they agree to the millisecond.
pub fn duration_to_ms(d: Duration) -> i64 {
    if d == Duration::MAX {
        return NO_LIMIT_MS;
    }
    let sub_ms = ms_ceil(d.subsec_nanos() as u64); // 0..=1000
    d.as_secs().checked_mul(1000).and_then(|ms| ms.checked_add(sub_ms)).and_then(|ms| i64::try_from(ms).ok()).unwrap_or(i64::MAX)
}

/// Nanoseconds on `CLOCK_MONOTONIC`. Async-signal-safe.
pub fn monotonic_ns() -> u64 {
    // SAFETY: zeroed timespec is a valid out-buffer.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Microseconds on `CLOCK_MONOTONIC` (sd_notify's `MONOTONIC_USEC`).
pub(crate) fn monotonic_us() -> u64 {
    monotonic_ns() / 1000
}

/// A point in monotonic time after which waiting stops.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<u64>);

impl Deadline {
    /// `ms` milliseconds from now; negative means never.
    pub fn after_ms(ms: i64) -> Deadline {
        if ms < 0 {
            Deadline(None)
        } else {
            Deadline(Some(monotonic_ns().saturating_add((ms as u64).saturating_mul(1_000_000))))
        }
    }

    /// Milliseconds left for `poll`: -1 = infinite, 0 = expired (rounded up, so a
    /// poll never wakes just before the deadline and spins).
    pub fn poll_ms(&self) -> i32 {
        match self.0 {
            None => -1,
            Some(end) => {
                let now = monotonic_ns();
                if now >= end {
                    0
                } else {
                    ms_ceil(end - now).min(i32::MAX as u64) as i32
                }
            }
        }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        match self.0 {
            None => false,
            Some(end) => monotonic_ns() >= end,
        }
    }
}

/// Sleep `ms` milliseconds (EINTR resumes with the remaining time).
pub fn sleep_ms(ms: u64) {
    let mut req = libc::timespec { tv_sec: (ms / 1000) as libc::time_t, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long };
    loop {
        let mut rem = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: valid timespec pointers.
        if unsafe { libc::nanosleep(&req, &mut rem) } == 0 {
            return;
        }
        if super::Errno::last().0 != libc::EINTR {
            return;
        }
        req = rem;
    }
}

/// A monotonic timerfd (CLOEXEC, non-blocking), disarmed: readable once armed
/// and expired, so a deadline can sit in a poll or epoll set.
pub(crate) fn timerfd() -> SysResult<Fd> {
    // SAFETY: plain syscall.
    let r = cvt(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { Fd::from_raw(r) })
}

/// Arm `fd` (a [`timerfd`]) to expire once, `ms` from now; `ms <= 0`
/// disarms it. Re-arming forgets an expiry not yet read.
pub(crate) fn timerfd_arm(fd: RawFd, ms: i64) -> SysResult<()> {
    let ms = ms.max(0);
    let it = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec { tv_sec: (ms / 1000) as libc::time_t, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long },
    };
    // SAFETY: valid itimerspec; old value not wanted.
    cvt(unsafe { libc::timerfd_settime(fd, 0, &it, core::ptr::null_mut()) }).map(|_| ())
}

/// Whether `fd` (a [`timerfd`]) has expired since it was last armed.
pub(crate) fn timerfd_expired(fd: RawFd) -> bool {
    let mut n = [0u8; 8];
    matches!(super::fd::read(fd, &mut n), Ok(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_round_up_to_whole_ms() {
        assert_eq!((ms_ceil(0), ms_ceil(1), ms_ceil(1_000_000), ms_ceil(1_000_001)), (0, 1, 1, 2));
    }

    #[test]
    fn durations_round_up_to_whole_ms() {
        assert_eq!(duration_to_ms(Duration::ZERO), 0);
        assert_eq!(duration_to_ms(Duration::from_nanos(1)), 1);
        assert_eq!(duration_to_ms(Duration::from_micros(1500)), 2);
        assert_eq!(duration_to_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(duration_to_ms(Duration::from_secs(30)), 30_000);
    }

    #[test]
    fn no_limit_and_saturation() {
        assert_eq!(duration_to_ms(Duration::MAX), NO_LIMIT_MS);
        assert_eq!(duration_to_ms(Duration::MAX - Duration::from_nanos(1)), i64::MAX);
        assert_eq!(duration_to_ms(Duration::from_secs(u64::MAX / 1000)), i64::MAX);
        assert_eq!(duration_to_ms(Duration::from_secs(9_223_372_036_854_775)), 9_223_372_036_854_775_000);
    }

    #[test]
    fn poll_ms_rounds_up() {
        assert_eq!(Deadline::after_ms(-1).poll_ms(), -1);
        assert_eq!(Deadline::after_ms(0).poll_ms(), 0);
        let left = Deadline::after_ms(60_000).poll_ms();
        assert!(left > 0 && left <= 60_000, "{}", left);
    }
}
