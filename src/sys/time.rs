//! The monotonic clock, deadlines, and timerfds.

use super::fd::{Fd, RawFd};
use super::{cvt, SysResult};

/// Nanoseconds on `CLOCK_MONOTONIC`. Async-signal-safe.
pub fn monotonic_ns() -> u64 {
    // SAFETY: zeroed timespec is a valid out-buffer.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Microseconds on `CLOCK_MONOTONIC` (sd_notify's `MONOTONIC_USEC`).
pub fn monotonic_us() -> u64 {
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
                    ((end - now).div_ceil(1_000_000)).min(i32::MAX as u64) as i32
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
pub fn timerfd() -> SysResult<Fd> {
    // SAFETY: plain syscall.
    let r = cvt(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { Fd::from_raw(r) })
}

/// Arm `fd` (a [`timerfd`]) to expire once, `ms` from now; `ms <= 0`
/// disarms it. Re-arming forgets an expiry not yet read.
pub fn timerfd_arm(fd: RawFd, ms: i64) -> SysResult<()> {
    let ms = ms.max(0);
    let it = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec { tv_sec: (ms / 1000) as libc::time_t, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long },
    };
    // SAFETY: valid itimerspec; old value not wanted.
    cvt(unsafe { libc::timerfd_settime(fd, 0, &it, core::ptr::null_mut()) }).map(|_| ())
}

/// Whether `fd` (a [`timerfd`]) has expired since it was last armed.
pub fn timerfd_expired(fd: RawFd) -> bool {
    let mut n = [0u8; 8];
    matches!(super::fd::read(fd, &mut n), Ok(8))
}
