//! The options of [`listen`](super::listen): backlog, unix socket mode,
//! blocking mode and the pre-bind hook, with their defaults and checks.

use crate::err;
use crate::error::Result;

/// The default backlog: the system's maximum (the kernel caps it at
/// `net.core.somaxconn`).
pub const DEFAULT_BACKLOG: i32 = libc::SOMAXCONN;

/// A function the caller gives [`listen`](super::listen) to run on each new socket after
/// `socket(2)` and before `bind(2)`, to set socket options that must be set
/// before binding (`SO_REUSEPORT`, `IP_FREEBIND`, `TCP_FASTOPEN`, `SO_MARK`,
/// a buffer size…), like Go's `net.ListenConfig.Control`. It gets the fd
/// (borrowed: it must not close it) and `data`; it returns 0 to go on, or a
/// negative errno to refuse, and then `listen` fails with that errno (any
/// other non-zero value: `ECANCELED`). It is not called for inherited or
/// already registered sockets (they are bound already), and it runs with no
/// lock of the library held, so it may call the library.
#[derive(Clone, Copy, Debug)]
pub struct PreBind {
    /// The function; `data` is passed back to it.
    pub func: unsafe extern "C" fn(fd: core::ffi::c_int, data: *mut core::ffi::c_void) -> core::ffi::c_int,
    /// The caller's pointer, as an address (so that options stay `Send`).
    pub data: usize,
}

impl PartialEq for PreBind {
    fn eq(&self, other: &PreBind) -> bool {
        // The same function with the same data: compared by address.
        self.func as usize == other.func as usize && self.data == other.data
    }
}

impl Eq for PreBind {}

/// Options of [`listen`](super::listen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// `listen(2)` backlog for new stream sockets (at least 1).
    pub backlog: i32,
    /// Mode of a new unix socket file (at most `0o777`); None: as the umask gives.
    pub unix_mode: Option<u32>,
    /// Set (`Some(true)`) or clear (`Some(false)`) `O_NONBLOCK` on the returned
    /// socket; None: new sockets blocking, others untouched.
    pub nonblocking: Option<bool>,
    /// Called on each new socket before it is bound; see [`PreBind`].
    pub pre_bind: Option<PreBind>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions { backlog: DEFAULT_BACKLOG, unix_mode: None, nonblocking: None, pre_bind: None }
    }
}

/// The checked setters both faces use (the C handle and the Rust builder).
/// Each refuses a bad value with `EINVAL` and a message naming it, and
/// leaves the option as it was.
impl ListenOptions {
    /// Set the backlog; `EINVAL` below 1 or above `i32::MAX` (`listen(2)`
    /// takes an `int`; the faces pass a C `int` or a Rust `u32`, and an
    /// `i32` works as it always did).
    pub fn set_backlog<N: TryInto<i32> + Copy + core::fmt::Display>(&mut self, backlog: N) -> Result<()> {
        let Ok(b) = backlog.try_into() else {
            return Err(err!(EINVAL, "backlog {} is above {}", backlog, i32::MAX));
        };
        let o = ListenOptions { backlog: b, ..*self };
        o.validate()?;
        *self = o;
        Ok(())
    }

    /// Set the unix socket file mode; `EINVAL` for bits outside `0o777`.
    pub fn set_unix_mode(&mut self, mode: u32) -> Result<()> {
        let o = ListenOptions { unix_mode: Some(mode), ..*self };
        o.validate()?;
        *self = o;
        super::unix_mode::enable();
        Ok(())
    }

    /// Set (`true`) or clear (`false`) `O_NONBLOCK` on the returned socket,
    /// new or inherited (by default it is left as it is).
    pub fn set_nonblocking(&mut self, on: bool) {
        self.nonblocking = Some(on);
    }

    /// Set (or, with None, remove) the hook run on each new socket before
    /// it is bound; see [`PreBind`]. Every hook is valid.
    pub fn set_pre_bind(&mut self, hook: Option<PreBind>) {
        if hook.is_some() {
            super::hooked::enable();
        }
        self.pre_bind = hook;
    }

    /// `EINVAL` for a backlog below 1 or a mode with bits above `0o777`.
    pub fn validate(&self) -> Result<()> {
        if self.backlog < 1 {
            return Err(err!(EINVAL, "backlog {} is below 1", self.backlog));
        }
        if let Some(m) = self.unix_mode {
            if m & !0o777 != 0 {
                return Err(err!(EINVAL, "unix socket mode {:#o} has bits outside 0777", m));
            }
        }
        Ok(())
    }
}
