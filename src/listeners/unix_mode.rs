//! The mode of a new unix socket file (`ListenOptions::unix_mode`), linked
//! only into programs that can set one (`sync::OptIn`): `fchmod` before bind,
//! so the file is never more open than asked, then the exact mode on the
//! file verified to be ours (`safe_path::set_bound_mode`).
//!
//! [`ListenOptions::set_unix_mode`](super::ListenOptions::set_unix_mode), the
//! setter of the C handle and of the Rust builder, installs the steps. Rust
//! code may also write the public field directly (the superdaemon, the
//! tests, a `#![no_std]` user): in every build but the C archive
//! [`super::listen`] installs them itself. So a mode is never set without the
//! steps being installed, and a C program that never calls
//! `gracefd_listen_opts_set_unix_mode` links none of it.

use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::safe_path;
use crate::sync::OptIn;
use crate::sys::fd::Fd;
use crate::sys::fs;

/// A file's device and inode.
pub(super) type FileId = (u64, u64);

/// The two steps of a unix socket's mode.
pub(super) struct ModeSteps {
    /// `fchmod(sock, mode)` before bind.
    pub(super) before_bind: fn(&Fd, &[u8], u32) -> Result<()>,
    /// The exact mode on the bound file; its device and inode.
    pub(super) after_bind: fn(&[u8], u32) -> Result<FileId>,
}

static STEPS: OptIn<ModeSteps> = OptIn::new();

static MODE_STEPS: ModeSteps = ModeSteps { before_bind, after_bind };

/// Make [`steps`] find the mode's steps (each setter of a mode calls this).
pub(super) fn enable() {
    STEPS.install(&MODE_STEPS);
}

/// The steps, for a listen with a mode. Installed by whatever set the mode
/// (see the module documentation); were they not, the listen fails rather
/// than make a socket more open than asked.
pub(super) fn steps() -> Result<&'static ModeSteps> {
    STEPS.get().ok_or_else(|| crate::err!(EINVAL, "a unix socket mode was set without ListenOptions::set_unix_mode"))
}

#[inline(never)]
fn before_bind(s: &Fd, path: &[u8], mode: u32) -> Result<()> {
    // The file bind creates gets this mode less the umask: never more open than asked.
    fs::fchmod(s.raw(), mode).map_err(|e| Error::new(e, format_args!("fchmod {:#o} before binding {}: {}", mode, Shown(path), e)))
}

#[inline(never)]
fn after_bind(path: &[u8], mode: u32) -> Result<FileId> {
    // Set on the file we verified is our socket, never by a path lookup
    // that a link swapped in meanwhile could redirect.
    let p = safe_path::set_bound_mode(path, mode).map_err(|e| e.context(format_args!("unix socket {}: mode {:#o}", Shown(path), mode)))?;
    Ok((p.dev, p.ino))
}
