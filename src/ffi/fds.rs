//! The registry of named fds: what was inherited, what an upgrade hands down.

use core::ffi::{c_char, c_int};

use super::boundary::{self, run};
use crate::registry;

/// Registry kind: a listening TCP socket (IPv4 or IPv6).
pub const GRACEFD_KIND_TCP_LISTENER: c_int = 1;
/// Registry kind: a listening unix stream socket (path or abstract).
pub const GRACEFD_KIND_UNIX_LISTENER: c_int = 2;
/// Registry kind: a UDP socket (IPv4 or IPv6).
pub const GRACEFD_KIND_UDP: c_int = 3;
/// Registry kind: any other socket (a connected stream, a unix datagram
/// socket, a stream socket that is not listening, …).
pub const GRACEFD_KIND_SOCKET: c_int = 4;
/// Registry kind: not a socket (a regular file, a memfd, a pipe, a device).
pub const GRACEFD_KIND_FILE: c_int = 5;
/// The longest fd name, in bytes (systemd's FDNAME_MAX). A buffer of
/// `GRACEFD_NAME_MAX + 1` bytes holds any name and its NUL.
pub const GRACEFD_NAME_MAX: c_int = 255;

// The C values are the core's; checked at compile time (cbindgen needs literals).
const _: () = assert!(
    GRACEFD_KIND_TCP_LISTENER == crate::registry::FdKind::TcpListener as c_int
        && GRACEFD_KIND_UNIX_LISTENER == crate::registry::FdKind::UnixListener as c_int
        && GRACEFD_KIND_UDP == crate::registry::FdKind::Udp as c_int
        && GRACEFD_KIND_SOCKET == crate::registry::FdKind::Socket as c_int
        && GRACEFD_KIND_FILE == crate::registry::FdKind::File as c_int
        && GRACEFD_NAME_MAX as usize == crate::proto::listen_env::FDNAME_MAX
);

/// Register `fd` under `name` so that an upgrade hands it down to the next
/// generation (with that name in LISTEN_FDNAMES): a listener made without
/// gracefd, a UDP socket, an open connection, a memfd holding state.
///
/// `fd` is borrowed: the registry keeps its own CLOEXEC duplicate, and the
/// caller keeps (and eventually closes) `fd`. Returns 0. Errors: `-EINVAL` if
/// `name` is NULL, invalid (printable ASCII, no ':', 1 to GRACEFD_NAME_MAX
/// bytes) or `"unknown"`; `-EEXIST` if an fd of that name is registered
/// already; `-EBADF` if `fd` is not open; `-EMFILE` if it cannot be
/// duplicated.
///
/// Environment: none. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn gracefd_add_fd(name: *const c_char, fd: c_int) -> c_int {
    run(|| {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let name = unsafe { boundary::cstr(name, "name") }?;
        registry::add(name, fd)?;
        Ok(0)
    })
}

/// A duplicate of the fd this process inherited under `name` (announced by
/// LISTEN_FDS with LISTEN_FDNAMES, or received by a hand-off); never binds
/// anything. With several fds of that name, one not yet claimed first. The
/// entry becomes claimed (gracefd_close_unclaimed() keeps it).
///
/// Returns a new CLOEXEC fd that belongs to the caller, in whatever blocking
/// mode the inherited socket has. Errors: `-ENOENT` if nothing of that name
/// was inherited (when it was announced but rejected, gracefd_last_error()
/// names the variable, the fd and the reason); `-EINVAL` if `name` is NULL
/// or invalid; `-EMFILE` if it cannot be duplicated.
///
/// Environment: none at call time (the start-up snapshot of LISTEN_PID,
/// LISTEN_FDS, LISTEN_FDNAMES, SERVER_STARTER_PORT). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn gracefd_inherited(name: *const c_char) -> c_int {
    run(|| {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let name = unsafe { boundary::cstr(name, "name") }?;
        Ok(registry::inherited(name)?.into_raw())
    })
}

/// How many inherited fds the registry holds (accepted from LISTEN_FDS and
/// SERVER_STARTER_PORT at start-up, or received by a hand-off; claimed or not;
/// not forgotten or closed). Indices for gracefd_inherited_at() are 0 to
/// this count - 1.
///
/// Never fails. Environment: none at call time. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_inherited_count() -> c_int {
    run(|| boundary::count(registry::inherited_count()))
}

/// Describe the `index`-th inherited fd, in the order announced.
///
/// - `name_buf`/`name_len`: receives the name and a NUL (`"unknown"` for
///   unnamed ones: systemd's unnamed fds and every SERVER_STARTER_PORT fd).
///   `GRACEFD_NAME_MAX + 1` bytes always suffice. May be NULL with
///   `name_len` 0 to ask only for the length.
/// - `kind_out`: a GRACEFD_KIND_* value. May be NULL.
/// - `claimed_out`: 1 if the fd was already handed to the program (by
///   gracefd_listen*, gracefd_inherited, or this function with `fd_out`),
///   else 0. May be NULL.
/// - `fd_out`: if not NULL, receives a new CLOEXEC duplicate that belongs to
///   the caller, and the entry becomes claimed. If NULL, nothing is claimed.
///
/// Out-parameters are written only on success. Returns the length of the name
/// (without the NUL). Errors: `-ENOENT` if `index` is not below
/// gracefd_inherited_count(); `-ERANGE` if the name and its NUL do not fit in
/// `name_len` bytes (nothing is claimed); `-EINVAL` if `name_buf` is NULL and
/// `name_len` is not 0; `-EMFILE` if the duplicate fails.
///
/// Environment: none at call time. Thread-safe, but indices shift when
/// another thread forgets or closes entries.
#[no_mangle]
pub unsafe extern "C" fn gracefd_inherited_at(
    index: usize,
    name_buf: *mut c_char,
    name_len: usize,
    kind_out: *mut c_int,
    claimed_out: *mut c_int,
    fd_out: *mut c_int,
) -> c_int {
    run(|| {
        // SAFETY: the caller passes name_len writable bytes at name_buf, or NULL and 0.
        let buf = unsafe { boundary::buf_mut(name_buf, name_len, "name_buf") }?;
        // SAFETY: each out-parameter is NULL or valid for a write of an int.
        let (kind_out, claimed_out, fd_out) =
            unsafe { (boundary::opt_out(kind_out), boundary::opt_out(claimed_out), boundary::opt_out(fd_out)) };
        let max_name = if buf.is_empty() { usize::MAX } else { buf.len() - 1 };
        let (info, fd) = registry::inherited_at(index, fd_out.is_some(), max_name)?;
        let n = boundary::count(info.name.len())?;
        if !buf.is_empty() {
            // inherited_at checked that the name and its NUL fit.
            let len = info.name.len();
            if let Some(dst) = buf.get_mut(..len) {
                dst.copy_from_slice(&info.name);
            }
            if let Some(z) = buf.get_mut(len) {
                *z = 0;
            }
        }
        if let Some(k) = kind_out {
            *k = info.kind.code();
        }
        if let Some(c) = claimed_out {
            *c = c_int::from(info.claimed);
        }
        if let (Some(o), Some(fd)) = (fd_out, fd) {
            *o = fd.into_raw();
        }
        Ok(n)
    })
}

/// Remove every registry entry named `name` (inherited, registered or bound
/// by gracefd_listen*), closing the registry's own fds: the name is no longer
/// handed down by an upgrade, and a later gracefd_listen*() binds afresh.
/// Duplicates the program holds stay open (the socket lives while any does);
/// a unix socket's file is not removed.
///
/// Returns how many entries were removed (1, or more for a name announced
/// several times). Errors: `-ENOENT` if none has that name; `-EINVAL` if
/// `name` is NULL or invalid.
///
/// Environment: none. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn gracefd_forget(name: *const c_char) -> c_int {
    run(|| {
        // SAFETY: the caller passes a NUL-terminated string or NULL.
        let name = unsafe { boundary::cstr(name, "name") }?;
        boundary::count(registry::forget(name)?)
    })
}

/// Close every inherited fd the program has not claimed (with
/// gracefd_listen*, gracefd_inherited or gracefd_inherited_at with `fd_out`),
/// for example once start-up is complete, so that a socket nobody serves
/// stops accepting connections into its queue. They are no longer handed
/// down by an upgrade. Each is logged at GRACEFD_LOG_INFO.
///
/// Returns how many were closed (0 if none). Never fails.
/// Environment: none. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_close_unclaimed() -> c_int {
    run(|| boundary::count(registry::close_unclaimed()))
}
