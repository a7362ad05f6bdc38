//! Listening sockets, by name: the inherited one if there is one, else a new
//! one, bound and listening; either way registered, so an upgrade hands it down.
//!
//! [`listen`]`(name, address, options)` returns a new CLOEXEC fd owned by the
//! caller (a duplicate; the registry keeps its own). The socket is chosen so:
//!
//! 1. **By name.** An entry of that name (inherited, registered with
//!    [`crate::registry::add`], or bound by an earlier `listen`):
//!    - one already claimed by `listen` for this same address: the same
//!      socket again (so a configuration reload can rebuild its servers
//!      without ever closing a listener);
//!    - else one not yet claimed by `listen` whose kind fits the address
//!      (TCP listener for a TCP address, unix listener for a unix one, UDP
//!      socket for `udp://`), preferring one bound to that very address.
//!      **The name decides**: an inherited socket is used even when it is
//!      bound elsewhere than `address` (the service manager chose its
//!      address; `address` is what to bind when nothing is inherited); a
//!      notice is logged;
//!    - a kind that does not fit: `EPROTOTYPE` (`ENOTSOCK` for a non-socket),
//!      naming the fd and the variable that announced it: never the wrong
//!      socket. [`crate::registry::forget`] the name to bind afresh instead;
//!    - every entry of that name already claimed for another address:
//!      `EEXIST`, naming both addresses (forget the name to move it).
//! 2. **Unnamed, by address.** No entry has the name: an entry without a name
//!    (`unknown`: systemd's unnamed fds, every Server::Starter fd, earlier
//!    unnamed `listen`s) claimed for this address, or bound to it (compared
//!    with `getsockname`), is used and takes the name. With no name
//!    (`name` None or `unknown`), any entry claimed for this address or not
//!    yet claimed and bound to it. `:port` (all interfaces, dual-stack) also
//!    matches an inherited socket bound to `0.0.0.0:port`. Port 0 never
//!    matches a bound socket (it asks for a new port).
//! 3. **Otherwise a new socket**, registered under the name (`unknown` if
//!    none):
//!    - TCP: `SO_REUSEADDR`; for IPv6, `IPV6_V6ONLY` set exactly as the
//!      address says (`tcp6://` on, everything else off, whatever the
//!      system default). `:port` binds `[::]:port` dual-stack, and falls back
//!      to `0.0.0.0:port` when IPv6 is unavailable (`EAFNOSUPPORT` from
//!      `socket`, or `EADDRNOTAVAIL` from `bind` when IPv6 is disabled).
//!    - UDP (`udp://`…): bound, not listening, no `SO_REUSEADDR` (on Linux it
//!      would let a second process silently share the port).
//!    - unix path: an existing path is replaced only when it is a socket that
//!      nobody listens on (a non-blocking connect is refused); a live socket
//!      gives `EADDRINUSE`, anything that is not a socket (regular file,
//!      directory, symbolic link…) `EEXIST`. With a mode, the socket is
//!      created with that mode less the umask (fchmod before bind, so it is
//!      never more open than asked) and then chmod'ed to exactly that mode.
//!    - unix abstract (`unix:@name`): in use gives `EADDRINUSE`.
//!
//! **Blocking mode.** `O_NONBLOCK` belongs to the open file description,
//! shared by every duplicate and every process holding the socket. With
//! [`ListenOptions::nonblocking`] `None` (the default), new sockets are
//! blocking and inherited or already registered sockets are returned in
//! whatever mode they have: nothing is changed. `Some(true)`/`Some(false)`
//! sets/clears `O_NONBLOCK` on the returned socket, new or not — for a
//! shared socket that is the caller's explicit decision for every holder.
//! The backlog and the unix mode apply only to sockets this call creates.

mod bind;
mod choose;
mod hooked;
mod new_socket;
mod options;
#[cfg(test)]
mod tests;
mod unix_mode;
mod unix_path;

pub use crate::registry::AddrShown;
pub use options::{ListenOptions, PreBind, DEFAULT_BACKLOG};

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::proto::addr::{self, Shown};
use crate::proto::listen_env::UNKNOWN;
use crate::registry::{self, Entry, ListenKey, Registry, Source};
use crate::sys::fd::Fd;
use crate::sys::socket;
use crate::log;
use bind::bind_new;
use choose::{claim, find, hint_in_use};

/// Return a listening socket (or bound UDP socket) for `name` and `address`,
/// inherited or new, as described in the module documentation. `name` None
/// (or `unknown`) means unnamed: matched by address only.
///
/// Errors: `EINVAL` for an invalid name, address or option (the message names
/// it); `ENAMETOOLONG` for a unix path that does not fit; `EEXIST` for a name
/// already listening on another address, or a unix path that exists and is
/// not a socket; `EADDRINUSE` when the address is taken (including a live
/// unix socket); `EPROTOTYPE`/`ENOTSOCK` for an inherited fd of that name
/// that does not fit the address; and the errno of `socket`, `bind`,
/// `listen`, `fchmod`/`chmod` or `fcntl` (`EACCES`, `EMFILE`…) with the
/// call and the address in the message.
pub fn listen(name: Option<&[u8]>, address: &[u8], opts: &ListenOptions) -> Result<Fd> {
    let name = name.filter(|n| *n != UNKNOWN);
    if let Some(n) = name {
        registry::validate_name(n)?;
    }
    opts.validate()?;
    // Rust callers may write the mode field directly (it is public, also to
    // `#![no_std]` users; the superdaemon and the tests do): the steps are
    // installed here for them. Only the C archive (ffi without std) leaves
    // this out: C sets the mode only through `set_unix_mode`, which installs
    // them, so a C program that sets no mode links none of it. Likewise the
    // hook's path (the Rust builder sets the field).
    #[cfg(any(feature = "std", not(feature = "ffi")))]
    {
        if opts.unix_mode.is_some() {
            unix_mode::enable();
        }
        if opts.pre_bind.is_some() {
            hooked::enable();
        }
    }
    let parsed = addr::parse(address)?;
    let key = ListenKey::from_address(&parsed)?;
    if opts.pre_bind.is_some() {
        return hooked::path()?(name, &key, opts);
    }
    registry::with(|reg| listen_made(reg, name, &key, opts, None))
}

#[cfg(test)]
pub(crate) fn listen_in(reg: &mut Registry, name: Option<&[u8]>, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
    listen_made(reg, name, key, opts, None)
}

/// The socket for `listen(name, key)`, under the registry's lock: the entry
/// [`find`] picks, else `made` (a socket bound outside the lock, with a
/// hook, `hooked.rs`), else one bound now. One function for both paths, so
/// that the choosing and the registering are linked once.
pub(super) fn listen_made(reg: &mut Registry, name: Option<&[u8]>, key: &ListenKey, opts: &ListenOptions, made: Option<Result<Fd>>) -> Result<Fd> {
    let made = match made {
        Some(r) => Some(r.map_err(|e| hint_in_use(reg, e, key))?),
        None => None,
    };
    if let Some(i) = find(reg, name, key)? {
        drop(made);
        return claim(reg, i, name, key, opts);
    }
    let sock = match made {
        Some(s) => s,
        None => bind_new(reg, key, opts).map_err(|e| hint_in_use(reg, e, key))?,
    };
    register_new(reg, name, key, sock)
}

/// Put a socket this process just made into the registry; return a duplicate.
fn register_new(reg: &mut Registry, name: Option<&[u8]>, key: &ListenKey, sock: Fd) -> Result<Fd> {
    let dup = sock.try_clone().map_err(|e| Error::sys(e, "duplicating the new socket"))?;
    let shown_name = name.unwrap_or(UNKNOWN);
    let bound = socket::getsockname(sock.raw()).ok();
    match bound {
        Some(b) => reg.log(log::DEBUG, format_args!("{}: listening on {} (fd {})", Shown(shown_name), AddrShown(&b), sock.raw())),
        None => reg.log(log::DEBUG, format_args!("{}: listening on {} (fd {})", Shown(shown_name), key, sock.raw())),
    }
    reg.push(Entry {
        name: shown_name.to_vec(),
        fd: sock,
        kind: key.wants(),
        source: Source::Created,
        label: Vec::new(),
        claimed: true,
        key: Some(key.clone()),
    });
    Ok(dup)
}
