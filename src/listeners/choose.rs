//! Which registry entry a `listen` call gets (by name, else by address),
//! and handing it out; the errors for an entry that does not fit.

use core::fmt;

use super::options::ListenOptions;
use crate::registry::{AddrShown, ListenKey};
use crate::error::{Error, Msg, Result};
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::proto::listen_env::UNKNOWN;
use crate::registry::{Entry, FdKind, Registry};
use crate::sys::fd::{self, Fd};
use crate::sys::socket;
use crate::{err, log};

fn bound_matches(e: &Entry, key: &ListenKey) -> bool {
    socket::getsockname(e.fd.raw()).map(|b| key.matches_bound(&b)).unwrap_or(false)
}

fn keyed_to(e: &Entry, key: &ListenKey) -> bool {
    e.key.as_ref().is_some_and(|k| k.same(key))
}

/// Whose entries a search looks at.
#[derive(Clone, Copy)]
enum Whose<'a> {
    /// Entries of this name (`unknown` for the unnamed ones).
    Named(&'a [u8]),
    /// Any entry; for port 0 (a request for a new port, not an address)
    /// only an unnamed one.
    Any,
}

/// What a search asks of an entry.
#[derive(Clone, Copy)]
enum Wants {
    /// Claimed for this address.
    Keyed,
    /// At this address: claimed for it, or of the right kind and bound to it.
    Here,
    /// At this address, and inherited.
    HereInherited,
    /// Not yet claimed by listen, of the right kind.
    FreeFitting,
    /// Not yet claimed by listen.
    Free,
}

/// The first entry of `whose` that satisfies `wants`. One function for every
/// search of [`find`] (each search used to be its own closure).
fn first(es: &[Entry], whose: Whose<'_>, wants: Wants, key: &ListenKey) -> Option<usize> {
    let kind = key.wants();
    let here = |e: &Entry| keyed_to(e, key) || (e.kind == kind && bound_matches(e, key));
    es.iter().position(|e| {
        let theirs = match whose {
            Whose::Named(n) => e.name == n,
            Whose::Any => !key.is_port_zero() || e.name == UNKNOWN,
        };
        theirs
            && match wants {
                Wants::Keyed => keyed_to(e, key),
                Wants::Here => here(e),
                Wants::HereInherited => e.source.inherited() && here(e),
                Wants::FreeFitting => e.key.is_none() && e.kind == kind,
                Wants::Free => e.key.is_none(),
            }
    })
}

/// Which entry `listen(name, key)` should use, if any.
pub(super) fn find(reg: &Registry, name: Option<&[u8]>, key: &ListenKey) -> Result<Option<usize>> {
    let es = reg.entries.as_slice();
    let look = |whose, wants| first(es, whose, wants, key);
    if let Some(n) = name {
        let named = Whose::Named(n);
        if let Some(any) = es.iter().find(|e| e.name == n) {
            // The same address: claimed for it, or bound to it.
            if let Some(i) = look(named, Wants::Keyed).or_else(|| look(named, Wants::Here)) {
                return Ok(Some(i));
            }
            // Not yet claimed by listen: the name decides.
            if let Some(i) = look(named, Wants::FreeFitting) {
                return Ok(Some(i));
            }
            if let Some(e) = look(named, Wants::Free).and_then(|i| es.get(i)) {
                return Err(unfit(e, key));
            }
            return Err(elsewhere(n, any, key));
        }
        let unnamed = Whose::Named(UNKNOWN);
        return Ok(look(unnamed, Wants::Keyed).or_else(|| look(unnamed, Wants::Here)));
    }
    // Unnamed: any entry at this address (see `Whose::Any` for port 0).
    Ok(look(Whose::Any, Wants::Keyed)
        .or_else(|| look(Whose::Any, Wants::HereInherited))
        .or_else(|| look(Whose::Any, Wants::Here)))
}

/// The error for a name every entry of which is claimed for another address
/// (`e` is the first of them).
#[cold]
#[inline(never)]
fn elsewhere(n: &[u8], e: &Entry, key: &ListenKey) -> Error {
    let mut other = Msg::new();
    if let Some(k) = e.key.as_ref() {
        let _ = fmt::write(&mut other, format_args!("{}", k));
    }
    err!(
        EEXIST,
        "name {} is already listening on {}; asked for {} (forget the name first to move it)",
        Shown(n),
        Plain(other.as_str()),
        key
    )
}

/// The error for an entry whose kind does not fit the address.
fn unfit(e: &Entry, key: &ListenKey) -> Error {
    if e.kind == FdKind::File {
        err!(ENOTSOCK, "{} is not a socket; {} needs {}", e.describe(), key, key.wants().describe())
    } else {
        err!(EPROTOTYPE, "{} is {}; {} needs {}", e.describe(), e.kind.describe(), key, key.wants().describe())
    }
}

/// Hand out entry `i` for `listen(name, key)`.
pub(super) fn claim(reg: &mut Registry, i: usize, name: Option<&[u8]>, key: &ListenKey, opts: &ListenOptions) -> Result<Fd> {
    let mut notice = Msg::new();
    let (dup, renamed) = {
        let e = reg.entries.get_mut(i).ok_or_else(|| err!(ENOENT, "registry entry {} vanished", i))?;
        if e.kind != key.wants() {
            return Err(unfit(e, key));
        }
        let dup = e.fd.try_clone().map_err(|er| Error::sys(er, "duplicating a registry fd"))?;
        if let Some(nb) = opts.nonblocking {
            fd::set_nonblocking(dup.raw(), nb).map_err(|er| Error::sys(er, "setting O_NONBLOCK"))?;
        }
        if e.key.is_none() && e.source.inherited() {
            if let Ok(b) = socket::getsockname(e.fd.raw()) {
                if !key.matches_bound(&b) {
                    let _ = fmt::write(
                        &mut notice,
                        format_args!(
                            "{}: asked for {}, using inherited {} bound to {} (an inherited name decides the address)",
                            Shown(name.unwrap_or(UNKNOWN)),
                            key,
                            e.describe(),
                            AddrShown(&b)
                        ),
                    );
                }
            }
        }
        if e.key.is_none() {
            e.key = Some(key.clone());
        }
        e.claimed = true;
        (dup, name.filter(|_| e.name == UNKNOWN))
    };
    if let Some(n) = renamed {
        reg.rename(i, n);
    }
    if !notice.as_str().is_empty() {
        reg.log(log::NOTICE, format_args!("{}", notice.as_str()));
    }
    Ok(dup)
}

/// On `EADDRINUSE`, say which registry entry holds the address, if one does.
pub(super) fn hint_in_use(reg: &Registry, e: Error, key: &ListenKey) -> Error {
    if e.errno.0 != libc::EADDRINUSE {
        return e;
    }
    match reg.entries.iter().find(|x| bound_matches(x, key)) {
        Some(x) => Error::new(e.errno, format_args!("{} (the registry's {} is bound there)", e.message(), x.describe())),
        None => e,
    }
}
