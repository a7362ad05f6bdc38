//! INTERIM (hand-off branch only): a way for C programs and tests to put fds
//! into the registry and look them up, until the listening-sockets branch
//! lands the real registry with its C API (`gracefd_add_fd`, lookups,
//! `gracefd_listen`). Not in the public header (cbindgen:ignore);
//! `c-examples/gracefd_interim.h` declares them. The lead deletes this file
//! and that header when merging the real registry.

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::err;
use crate::proto::handoff::validate_name;

/// INTERIM: register a CLOEXEC dup of `fd` under `name` (the real registry's
/// `gracefd_add_fd` has the same signature). Returns 0; -EINVAL for a bad
/// name; -EBADF if `fd` is not open.
///
/// cbindgen:ignore
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_add_fd(name: *const c_char, fd: c_int) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let n = unsafe { boundary::cstr(name, "name") }?;
        validate_name(n)?;
        crate::registry::add(n, fd)?;
        Ok(0)
    })
}

/// INTERIM: a new CLOEXEC dup (owned by the caller) of the first registry
/// entry named `name`; -ENOENT if there is none. Replaced by the real
/// registry's lookup (or `gracefd_listen(name, ...)`) when it lands.
///
/// cbindgen:ignore
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gracefd_interim_registry_get(name: *const c_char) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let n = unsafe { boundary::cstr(name, "name") }?;
        let all = crate::registry::export_for_child()?;
        match all.into_iter().find(|x| x.name == n) {
            Some(x) => Ok(x.fd.into_raw()),
            None => Err(err!(ENOENT, "no registry entry named {}", crate::proto::addr::Shown(n))),
        }
    })
}
