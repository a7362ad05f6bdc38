//! What every new socket goes through, whatever its address: the caller's
//! pre-bind hook, the blocking mode asked for, and errors that name the call
//! and the address.
//!
//! The steps of making a socket return a small [`Failed`] (an errno and the
//! call's words), and [`failed`] turns it into the [`Error`] once, at the end
//! of the steps: one place that formats, instead of one `format_args!` and
//! one copy of a 248-byte error at every step.

use core::ffi::c_int;
use core::fmt;

use super::options::ListenOptions;
use crate::err;
use crate::error::Error;
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::registry::AddrShown;
use crate::sys::fd::{self, Fd};
use crate::sys::socket::SockAddr;
use crate::sys::{Errno, SysResult};

/// The address a failed step's message names.
#[derive(Clone, Copy)]
pub(super) enum At<'a> {
    /// `tcp 127.0.0.1:80`, `udp [::1]:53` (`true`: UDP).
    Inet(bool, &'a SockAddr),
    /// A unix path or abstract name, quoted: `"/run/web.sock"`.
    Path(&'a [u8]),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            At::Inet(udp, sa) => write!(f, "{} {}", Plain(if udp { "udp" } else { "tcp" }), AddrShown(sa)),
            At::Path(p) => fmt::Display::fmt(&Shown(p), f),
        }
    }
}

/// A step that failed, before its message is made.
#[derive(Clone, Copy)]
pub(super) enum Failed {
    /// `<call><address>: <errno>`; `call` ends with what separates it from
    /// the address (`"bind "`, `"bind unix:"`).
    Call(Errno, &'static str),
    /// `<call>: <errno>`, no address.
    Bare(Errno, &'static str),
    /// The pre-bind hook returned this (non-zero); the text goes before the
    /// address (`"unix:"`, or nothing for an internet address).
    Hook(c_int, &'static str),
}

/// A step of making a socket.
pub(super) type Step<T = ()> = core::result::Result<T, Failed>;

/// A syscall's result as a step: `call` names it in the message.
pub(super) fn call<T>(r: SysResult<T>, call: &'static str) -> Step<T> {
    r.map_err(|e| Failed::Call(e, call))
}

/// The error for a failed step at `at`.
#[cold]
#[inline(never)]
pub(super) fn failed(f: Failed, at: At<'_>) -> Error {
    match f {
        Failed::Call(e, call) => Error::new(e, format_args!("{}{}: {}", Plain(call), at, e)),
        Failed::Bare(e, call) => Error::new(e, format_args!("{}: {}", Plain(call), e)),
        Failed::Hook(r, pre) if r < 0 && r > -4096 => {
            Error::new(Errno(-r), format_args!("the pre-bind hook refused {}{}: {}", Plain(pre), at, Errno(-r)))
        }
        Failed::Hook(r, pre) => {
            err!(ECANCELED, "the pre-bind hook refused {}{} (it returned {}, not a negative errno)", Plain(pre), at, r)
        }
    }
}

/// Run the caller's pre-bind hook (if any) on a new socket; `pre` goes
/// before the address in the message.
pub(super) fn run_pre_bind(s: &Fd, opts: &ListenOptions, pre: &'static str) -> Step {
    let Some(h) = opts.pre_bind else {
        return Ok(());
    };
    // SAFETY: whoever set the hook promised that `func` may be called with
    // `data` for the duration of the listen call, which this is; the fd is
    // open and stays ours.
    let r = unsafe { (h.func)(s.raw(), h.data as *mut core::ffi::c_void) };
    if r == 0 {
        Ok(())
    } else {
        Err(Failed::Hook(r, pre))
    }
}

pub(super) fn apply_nonblocking(s: &Fd, opts: &ListenOptions) -> Step {
    if let Some(nb) = opts.nonblocking {
        fd::set_nonblocking(s.raw(), nb).map_err(|e| Failed::Bare(e, "setting O_NONBLOCK"))?;
    }
    Ok(())
}
