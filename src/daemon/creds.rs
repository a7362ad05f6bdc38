//! Users and groups: names or numbers resolved before the first fork, with
//! the supplementary groups `initgroups` would set.

use alloc::vec::Vec;

use crate::err;
use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::proto::daemon::Creds;
use crate::sync::OptIn;
use crate::sys::cpath::CPath;
use crate::sys::process;
use crate::sys::Errno;

/// How `daemonize` resolves a user and a group.
pub(super) type Resolve = fn(Option<&[u8]>, Option<&[u8]>) -> Result<Option<Creds>>;

/// [`resolve_creds`], installed by `DaemonOptions::set_user` and `set_group`
/// (the only ways an option gets a user or a group): the launcher reaches
/// the user database only through it, so a program that never switches
/// users does not link the lookups (`sync::OptIn`). The daemon side's
/// switch is not behind it: a re-executed daemon applies its launcher's
/// plan, whatever its own options say.
pub(super) static RESOLVE: OptIn<Resolve> = OptIn::new();

/// Make [`resolve_creds`] reachable (see [`RESOLVE`]).
pub(super) fn install() {
    RESOLVE.install(&(resolve_creds as Resolve));
}

/// Run an NSS lookup with a growing buffer (ERANGE → double, up to 1 MiB).
fn with_buf<T>(mut f: impl FnMut(&mut [u8]) -> core::result::Result<T, Errno>) -> core::result::Result<T, Errno> {
    let mut size = 1024;
    loop {
        let mut buf = alloc::vec![0u8; size];
        match f(&mut buf) {
            Err(Errno(libc::ERANGE)) if size < (1 << 20) => size *= 2,
            r => return r,
        }
    }
}

/// A user: (uid, primary gid if known, name if known).
// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
fn lookup_user(u: &[u8]) -> Result<(u32, Option<u32>, Option<Vec<u8>>)> {
    let c = CPath::checked(u, "user")?;
    let by_name = with_buf(|b| process::getpwnam(&c, b).map(|e| e.map(|e| (e.uid, e.gid, e.name.to_vec()))))
        .map_err(|e| Error::sys(e, "getpwnam").context(format_args!("user {}", Shown(u))))?;
    if let Some((uid, gid, name)) = by_name {
        return Ok((uid, Some(gid), Some(name)));
    }
    let Some(uid) = crate::proto::num::parse_u32(u) else {
        return Err(err!(ENOENT, "user {} does not exist", Shown(u)));
    };
    let by_id = with_buf(|b| process::getpwuid(uid, b).map(|e| e.map(|e| (e.gid, e.name.to_vec()))))
        .map_err(|e| Error::sys(e, "getpwuid").context(format_args!("user {}", uid)))?;
    Ok(match by_id {
        Some((gid, name)) => (uid, Some(gid), Some(name)),
        None => (uid, None, None),
    })
}

// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
fn lookup_group(g: &[u8]) -> Result<u32> {
    let c = CPath::checked(g, "group")?;
    let by_name = with_buf(|b| process::getgrnam(&c, b)).map_err(|e| Error::sys(e, "getgrnam").context(format_args!("group {}", Shown(g))))?;
    if let Some(gid) = by_name {
        return Ok(gid);
    }
    crate::proto::num::parse_u32(g).ok_or_else(|| err!(ENOENT, "group {} does not exist", Shown(g)))
}

/// Resolve user and group as `chown` does (a name first, then a number);
/// supplementary groups as `initgroups(user, gid)` would set them.
// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
pub(crate) fn resolve_creds(user: Option<&[u8]>, group: Option<&[u8]>) -> Result<Option<Creds>> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let u = user.map(lookup_user).transpose()?;
    let gid = match (group, &u) {
        (Some(g), _) => lookup_group(g)?,
        (None, Some((_, Some(gid), _))) => *gid,
        (None, Some((uid, None, _))) => {
            return Err(err!(EINVAL, "user {} has no passwd entry, so its group is unknown: set a group too", uid));
        }
        (None, None) => return Ok(None),
    };
    let groups = match &u {
        Some((_, _, Some(name))) => {
            let cname = CPath::new(name).map_err(|e| Error::sys(e, "user name for getgrouplist"))?;
            let mut list: Vec<libc::gid_t> = alloc::vec![0; 32];
            loop {
                let n = process::getgrouplist(&cname, gid, &mut list).map_err(|e| Error::sys(e, "getgrouplist"))?;
                if n <= list.len() {
                    list.truncate(n);
                    break;
                }
                if n > 65536 {
                    return Err(err!(E2BIG, "user {} is in {} groups", Shown(name), n));
                }
                list.resize(n, 0);
            }
            list
        }
        _ => alloc::vec![gid],
    };
    Ok(Some(Creds { uid: u.map(|(uid, _, _)| uid), gid, groups }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_root_and_numbers() {
        let c = resolve_creds(Some(b"root"), None).unwrap().unwrap();
        assert_eq!((c.uid, c.gid), (Some(0), 0));
        assert!(c.groups.contains(&0));
        let c = resolve_creds(Some(b"0"), Some(b"0")).unwrap().unwrap();
        assert_eq!((c.uid, c.gid), (Some(0), 0));
        let c = resolve_creds(None, Some(b"12345")).unwrap().unwrap();
        assert_eq!((c.uid, c.gid, c.groups.as_slice()), (None, 12345, &[12345u32][..]));
        assert!(resolve_creds(None, None).unwrap().is_none());
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve_creds(Some(b"no-such-user-gracefd"), None).unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        assert!(e.message().contains("no-such-user-gracefd"), "{}", e.message());
        let e = resolve_creds(None, Some(b"no-such-group-gracefd")).unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        // A numeric uid without a passwd entry needs a group.
        let e = resolve_creds(Some(b"3999999"), None).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        let c = resolve_creds(Some(b"3999999"), Some(b"3999999")).unwrap().unwrap();
        assert_eq!((c.uid, c.gid), (Some(3999999), 3999999));
    }
}
