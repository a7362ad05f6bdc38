//! `listen` with a pre-bind hook, linked only into programs that can set
//! one (`sync::OptIn`).
//!
//! The hook is the caller's code: it must run with no lock held (it may call
//! the library), so the new socket is made between two visits to the
//! registry, and the second one looks again (another thread may have
//! registered the same socket meanwhile: then that one is returned).
//!
//! [`ListenOptions::set_pre_bind`](super::ListenOptions::set_pre_bind), the
//! setter of the C handle, installs this path. Only std builds (the Rust
//! builder, tests) write the field directly, and there [`super::listen`]
//! installs it itself; so a hook is never set without this path installed,
//! and a C program that never calls `gracefd_listen_opts_set_pre_bind` links
//! none of it.

use super::bind::bind_new;
use super::choose::{claim, find};
use super::options::ListenOptions;
use super::listen_made;
use crate::error::Result;
use crate::registry::{self, ListenKey, Registry};
use crate::sync::OptIn;
use crate::sys::fd::Fd;

/// The path of a listen with a hook.
type Hooked = fn(Option<&[u8]>, &ListenKey, &ListenOptions) -> Result<Fd>;

static PATH: OptIn<Hooked> = OptIn::new();

static LISTEN_HOOKED: Hooked = listen_hooked;

/// Make [`path`] find the hooked path (each setter of a hook calls this).
pub(super) fn enable() {
    PATH.install(&LISTEN_HOOKED);
}

/// The path, for a listen with a hook. Installed by whatever set the hook
/// (see the module documentation); were it not, the listen fails rather
/// than run the hook under the registry's lock.
pub(super) fn path() -> Result<&'static Hooked> {
    PATH.get().ok_or_else(|| crate::err!(EINVAL, "a pre-bind hook was set without ListenOptions::set_pre_bind"))
}

#[inline(never)]
fn listen_hooked(name: Option<&[u8]>, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
    let found = registry::with(|reg| match find(reg, name, key)? {
        Some(i) => claim(reg, i, name, key, opts).map(Some),
        None => Ok(None),
    })?;
    if let Some(fd) = found {
        return Ok(fd);
    }
    let mut outside = Registry::new(); // collects the bind's log lines
    let made = bind_new(&mut outside, key, opts);
    registry::with(|reg| {
        reg.log.append(&mut outside.log);
        listen_made(reg, name, key, opts, Some(made))
    })
}
