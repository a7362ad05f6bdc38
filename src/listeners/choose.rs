//! Which registry entry a `listen` call gets (by name, else by address),
//! and handing it out; the errors for an entry that does not fit.

use core::fmt;

use super::options::ListenOptions;
use crate::registry::{AddrShown, ListenKey};
use crate::error::{Error, Msg, Result};
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

/// Which entry `listen(name, key)` should use, if any.
pub(super) fn find(reg: &Registry, name: Option<&[u8]>, key: &ListenKey) -> Result<Option<usize>> {
    let es = &reg.entries;
    let wants = key.wants();
    let pos = |pred: &dyn Fn(&Entry) -> bool| es.iter().position(pred);
    // The same address: claimed for it, or bound to it.
    let here = |e: &Entry| keyed_to(e, key) || (e.kind == wants && bound_matches(e, key));
    if let Some(n) = name {
        let named = |e: &Entry| e.name == n;
        if es.iter().any(named) {
            if let Some(i) = pos(&|e| named(e) && keyed_to(e, key)).or_else(|| pos(&|e| named(e) && here(e))) {
                return Ok(Some(i));
            }
            // Not yet claimed by listen: the name decides.
            let free = |e: &Entry| named(e) && e.key.is_none();
            if let Some(i) = pos(&|e| free(e) && e.kind == wants) {
                return Ok(Some(i));
            }
            if let Some(e) = es.iter().find(|e| free(e)) {
                return Err(unfit(e, key));
            }
            let mut other = Msg::new();
            if let Some(k) = es.iter().find(|e| named(e)).and_then(|e| e.key.as_ref()) {
                let _ = fmt::write(&mut other, format_args!("{}", k));
            }
            return Err(err!(
                EEXIST,
                "name {} is already listening on {}; asked for {} (forget the name first to move it)",
                Shown(n),
                other.as_str(),
                key
            ));
        }
        let unnamed = |e: &Entry| e.name == UNKNOWN;
        return Ok(pos(&|e| unnamed(e) && keyed_to(e, key)).or_else(|| pos(&|e| unnamed(e) && here(e))));
    }
    // Unnamed: any entry at this address; for port 0 (a request for a new
    // port, not an address) only an unnamed one made by the same request.
    let ok = |e: &Entry| !key.is_port_zero() || e.name == UNKNOWN;
    Ok(pos(&|e| ok(e) && keyed_to(e, key))
        .or_else(|| pos(&|e| ok(e) && here(e) && e.source.inherited()))
        .or_else(|| pos(&|e| ok(e) && here(e))))
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
    let dup = {
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
        if let Some(n) = name {
            if e.name == UNKNOWN {
                e.name = n.to_vec();
            }
        }
        dup
    };
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
