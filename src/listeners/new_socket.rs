//! What every new socket goes through, whatever its address: the caller's
//! pre-bind hook, the blocking mode asked for, and errors that name the call
//! and the address.

use core::fmt;

use super::options::ListenOptions;
use crate::err;
use crate::error::{Error, Result};
use crate::sys::fd::{self, Fd};
use crate::sys::Errno;

pub(super) fn sys_err(errno: Errno, args: fmt::Arguments<'_>) -> Error {
    Error::new(errno, format_args!("{}: {}", args, errno))
}

/// Run the caller's pre-bind hook (if any) on a new socket; `what` names
/// the address for the error.
pub(super) fn run_pre_bind(s: &Fd, opts: &ListenOptions, what: fmt::Arguments<'_>) -> Result<()> {
    let Some(h) = opts.pre_bind else {
        return Ok(());
    };
    // SAFETY: whoever set the hook promised that `func` may be called with
    // `data` for the duration of the listen call, which this is; the fd is
    // open and stays ours.
    let r = unsafe { (h.func)(s.raw(), h.data as *mut core::ffi::c_void) };
    match r {
        0 => Ok(()),
        r if r < 0 && r > -4096 => Err(Error::new(Errno(-r), format_args!("the pre-bind hook refused {}: {}", what, Errno(-r)))),
        r => Err(err!(ECANCELED, "the pre-bind hook refused {} (it returned {}, not a negative errno)", what, r)),
    }
}

pub(super) fn apply_nonblocking(s: &Fd, opts: &ListenOptions) -> Result<()> {
    if let Some(nb) = opts.nonblocking {
        fd::set_nonblocking(s.raw(), nb).map_err(|e| Error::sys(e, "setting O_NONBLOCK"))?;
    }
    Ok(())
}
