//! Resource limits. Beside the fd and process wrappers rather than in
//! either: closing every fd up to the limit needs it, and so do the daemon's
//! and the supervisor's limit settings.

use super::{cvt, SysResult};

/// `getrlimit(RLIMIT_*)`. Async-signal-safe.
pub fn getrlimit(res: libc::__rlimit_resource_t) -> SysResult<libc::rlimit> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    cvt(unsafe { libc::getrlimit(res, &mut r) })?;
    Ok(r)
}

/// `setrlimit(RLIMIT_*)`. Async-signal-safe.
pub fn setrlimit(res: libc::__rlimit_resource_t, lim: libc::rlimit) -> SysResult<()> {
    // SAFETY: valid pointer.
    cvt(unsafe { libc::setrlimit(res, &lim) }).map(|_| ())
}
