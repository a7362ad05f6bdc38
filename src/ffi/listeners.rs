//! Listening sockets: inherited by name, or bound.

use core::ffi::{c_char, c_int, c_void};

use super::boundary::{self, run};
use crate::listeners::{self, ListenOptions, PreBind};

/// Options for gracefd_listen_with(): an opaque handle made by
/// gracefd_listen_opts_new() and released by gracefd_listen_opts_free().
/// A handle may be used for any number of calls; it is not thread-safe to
/// change it while another thread uses it.
pub struct gracefd_listen_opts {
    inner: ListenOptions,
}

/// A new options handle with the defaults: backlog SOMAXCONN, unix socket
/// mode as the umask gives, blocking mode untouched (new sockets blocking,
/// inherited sockets as they are). Free it with gracefd_listen_opts_free().
///
/// Returns NULL only if memory is exhausted. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_listen_opts_new() -> *mut gracefd_listen_opts {
    boundary::into_handle(gracefd_listen_opts { inner: ListenOptions::default() })
}

/// Set the listen(2) backlog of stream sockets that gracefd_listen_with()
/// creates (inherited sockets keep theirs). The kernel caps it at
/// net.core.somaxconn.
///
/// Returns 0; `-EINVAL` if `opts` is NULL or `backlog` is below 1.
/// Not thread-safe for one handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen_opts_set_backlog(opts: *mut gracefd_listen_opts, backlog: c_int) -> c_int {
    run(|| {
        // SAFETY: the caller passes a handle from gracefd_listen_opts_new() or NULL.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        o.inner.set_backlog(backlog)?;
        Ok(0)
    })
}

/// Set the permission bits (for example 0660) of unix socket files that
/// gracefd_listen_with() creates at a filesystem path. The socket is created
/// no more open than `mode` (fchmod before bind, less the umask), then
/// chmod'ed to exactly `mode`. Ignored for other addresses, abstract unix
/// sockets and inherited sockets.
///
/// Returns 0; `-EINVAL` if `opts` is NULL or `mode` has bits outside 0777.
/// Not thread-safe for one handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen_opts_set_unix_mode(opts: *mut gracefd_listen_opts, mode: u32) -> c_int {
    run(|| {
        // SAFETY: the caller passes a handle from gracefd_listen_opts_new() or NULL.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        o.inner.set_unix_mode(mode)?;
        Ok(0)
    })
}

/// Ask gracefd_listen_with() to set (`nonblocking` 1) or clear (0) O_NONBLOCK
/// on the socket it returns, whether new or inherited. Without this call,
/// new sockets are blocking and inherited or already registered sockets are
/// returned in whatever mode they have.
///
/// O_NONBLOCK belongs to the socket's open file description: it is shared by
/// every duplicate and every process holding the socket (an old generation
/// still serving, a supervisor). Setting it on an inherited socket changes it
/// for all of them; that is why gracefd does it only when asked here.
///
/// Returns 0; `-EINVAL` if `opts` is NULL or `nonblocking` is neither 0 nor 1.
/// Not thread-safe for one handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen_opts_set_nonblocking(opts: *mut gracefd_listen_opts, nonblocking: c_int) -> c_int {
    run(|| {
        // SAFETY: the caller passes a handle from gracefd_listen_opts_new() or NULL.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        o.inner.set_nonblocking(boundary::flag(nonblocking, "nonblocking")?);
        Ok(0)
    })
}

/// Set a hook that gracefd_listen_with() calls on each socket it creates,
/// after socket(2) and before bind(2): the place to set options that must be
/// set before binding (`SO_REUSEPORT`, `IP_FREEBIND`, `TCP_FASTOPEN`,
/// `SO_MARK`, `SO_RCVBUF`…), like Go's `net.ListenConfig.Control`.
///
/// `hook(fd, userdata)` gets the new socket (it must not close it, nor keep
/// it) and returns 0 to go on, or a negative errno to refuse: the socket is
/// then closed and gracefd_listen_with() fails with that errno (any other
/// non-zero value: `-ECANCELED`), its message naming the address. The hook
/// is not called for inherited or already registered sockets (they are
/// bound already: use gracefd_inherited() and getsockopt to check them). It
/// is called on the thread that listens, with no lock of the library held,
/// so it may call the library (but not gracefd_listen_with() on the same
/// address). `hook` NULL removes the hook; `userdata` is passed back as is.
///
/// Returns 0; `-EINVAL` if `opts` is NULL. Not thread-safe for one handle.
///
/// # Safety
/// `hook` is NULL or a function that may be called with `userdata` by every
/// later gracefd_listen_with() with this handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen_opts_set_pre_bind(
    opts: *mut gracefd_listen_opts,
    hook: Option<unsafe extern "C" fn(fd: c_int, userdata: *mut c_void) -> c_int>,
    userdata: *mut c_void,
) -> c_int {
    run(|| {
        // SAFETY: the caller passes a handle from gracefd_listen_opts_new() or NULL.
        let o = unsafe { boundary::handle(opts, "opts") }?;
        o.inner.set_pre_bind(hook.map(|func| PreBind { func, data: userdata as usize }));
        Ok(0)
    })
}

/// Release an options handle. NULL is a no-op. Not thread-safe for one handle.
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen_opts_free(opts: *mut gracefd_listen_opts) {
    // SAFETY: the caller passes a handle from gracefd_listen_opts_new() or NULL, once.
    unsafe { boundary::free_handle(opts) }
}

/// A listening socket for `name` at `address`, with default options: the same
/// as gracefd_listen_with(name, address, NULL).
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen(name: *const c_char, address: *const c_char) -> c_int {
    // SAFETY: forwarded as received; the callee checks them.
    unsafe { gracefd_listen_with(name, address, core::ptr::null()) }
}

/// A listening socket (or, for `udp://`, a bound UDP socket) for `name` at
/// `address`: the one this process inherited under that name, else a new one,
/// bound, listening and registered so that an upgrade hands it down.
///
/// `address`: `host:port`, `:port` (all interfaces, IPv6 dual-stack; IPv4
/// only if IPv6 is unavailable), `[v6]:port`, `tcp://`, `tcp4://`, `tcp6://`
/// (IPV6_V6ONLY), `udp://`, `udp4://`, `udp6://`, `unix:/path` (or `/path`),
/// `unix:@abstract`. Host names other than `localhost` are not resolved.
///
/// `name` (printable ASCII, no ':', at most GRACEFD_NAME_MAX bytes) may be
/// NULL: unnamed, matched by address only. `"unknown"` (systemd's name for an
/// unnamed fd) means the same as NULL. Which socket is returned:
///  1. An inherited or registered fd of that name, not yet claimed by a
///     listen call: **the name decides**, even if it is bound elsewhere than
///     `address` (the service manager chose the address; `address` is what to
///     bind without one). Its kind must fit the address (a TCP listener for
///     TCP, a unix stream listener for unix, a UDP socket for udp).
///     A later call with the same name and the same address (or the address
///     it is bound to) returns the same socket again, so a program can
///     rebuild its servers on a reload without ever closing a listener.
///  2. Else an unnamed inherited fd (LISTEN_FDNAMES "unknown", every
///     SERVER_STARTER_PORT fd) bound to `address` (getsockname), which then
///     takes the name. `:port` also matches an inherited `0.0.0.0:port`.
///  3. Else a new socket: TCP with SO_REUSEADDR and IPV6_V6ONLY exactly as the
///     address says; UDP bound (no SO_REUSEADDR); unix stream at a path, where
///     an existing path is replaced only if it is a socket nobody listens on.
///
/// `opts` may be NULL (defaults). Backlog and unix mode apply to new sockets
/// only. Blocking mode: see gracefd_listen_opts_set_nonblocking(); by default
/// new sockets are blocking and inherited sockets are returned as they are.
///
/// Returns a new CLOEXEC fd that belongs to the caller (close it when done;
/// the registry keeps its own duplicate, so closing it does not close the
/// socket: gracefd_forget() does that). Errors:
///  - `-EINVAL`: `address` is NULL or does not parse, `name` is not a valid
///    name (gracefd_last_error() says which and why);
///  - `-ENAMETOOLONG`: the unix path or abstract name does not fit;
///  - `-EEXIST`: `name` is already listening on another address (forget it
///    first), or the unix path exists and is not a socket (a regular file, a
///    directory, a symbolic link) and is left alone;
///  - `-EADDRINUSE`: the address is in use, including a unix socket something
///    listens on (the message names a registry entry bound there, if any);
///  - `-EPROTOTYPE`: the inherited fd of that name is a socket of another
///    kind (for example UDP where TCP is asked, or a stream socket that is not
///    listening); `-ENOTSOCK`: it is not a socket. The message names the fd and
///    the variable that announced it. gracefd_forget() the name to bind afresh;
///  - `-EAFNOSUPPORT`, `-EACCES`, `-EADDRNOTAVAIL`, `-EMFILE`, `-ENOBUFS`…:
///    from socket, bind, listen, fchmod/chmod or fcntl, with the call and the
///    address in the message.
///
/// Environment: none at call time. What was inherited was read once, before
/// main, from LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, SERVER_STARTER_PORT and
/// SERVER_STARTER_GENERATION (docs/listeners.md).
///
/// Thread-safe (the registry has one lock; concurrent calls for one name get
/// the same socket).
#[no_mangle]
pub unsafe extern "C" fn gracefd_listen_with(
    name: *const c_char,
    address: *const c_char,
    opts: *const gracefd_listen_opts,
) -> c_int {
    run(|| {
        // SAFETY: the caller passes NUL-terminated strings or NULL.
        let name = unsafe { boundary::opt_cstr(name) };
        // SAFETY: as above.
        let address = unsafe { boundary::cstr(address, "address") }?;
        let o = if opts.is_null() {
            ListenOptions::default()
        } else {
            // SAFETY: a live handle from gracefd_listen_opts_new(), only read here.
            unsafe { boundary::handle(opts as *mut gracefd_listen_opts, "opts") }?.inner
        };
        let fd = listeners::listen(name, address, &o)?;
        Ok(fd.into_raw())
    })
}
