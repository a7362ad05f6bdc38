//! The re-exec daemonize marker: `GRACEFD_DAEMON=<plan>` in the environment a
//! daemonize launcher builds for the process it re-executes (honoured by that
//! process only when `LISTEN_PID` names it, like every gracefd variable).
//!
//! It carries everything the launcher prepared and checked, so the
//! re-executed process applies exactly that, whatever options its own code
//! passes:
//!
//! ```text
//! in=5,out=6,err=6,dir=7,umask=18[,nofile=SOFT:HARD][,gid=G,groups=G1:G2:…[,uid=U]]
//! ```
//!
//! `in`, `out`, `err` and `dir` are fds where the launcher placed them (stdin,
//! stdout, stderr, an `O_PATH` fd of the working directory); all numbers are
//! decimal; `groups` may be empty. Keys may come in any order, each at most
//! once; an unknown key, a missing required key, `uid` without `gid`, or a
//! malformed number is rejected (`EINVAL`) with the reason.

use alloc::vec::Vec;

use crate::err;
use crate::error::Result;
use crate::proto::addr::Shown;
use crate::proto::num;

/// The environment variable.
pub(crate) const VAR: &[u8] = b"GRACEFD_DAEMON";

/// User and groups to switch to.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Creds {
    /// The user id (None: keep the current user).
    pub uid: Option<u32>,
    /// The group id (real, effective, saved).
    pub gid: u32,
    /// The supplementary groups (what `initgroups` would set).
    pub groups: Vec<u32>,
}

/// What the daemon side applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// fd to make stdin.
    pub stdin: i32,
    /// fd to make stdout.
    pub stdout: i32,
    /// fd to make stderr.
    pub stderr: i32,
    /// fd of the working directory.
    pub dir: i32,
    /// The umask (at most 0o777).
    pub umask: u32,
    /// RLIMIT_NOFILE to raise to: (soft, hard).
    pub nofile: Option<(u64, u64)>,
    /// Credentials to switch to.
    pub creds: Option<Creds>,
}

/// Where a key naming an fd goes, in `Plan` order: stdin, stdout, stderr,
/// the working directory. (A `match`, not a table of slices: a table would
/// cost every program linking the library relocations at load, since the
/// start-up constructor reads it.)
fn fd_key(key: &[u8]) -> Option<usize> {
    match key {
        b"in" => Some(0),
        b"out" => Some(1),
        b"err" => Some(2),
        b"dir" => Some(3),
        _ => None,
    }
}

/// The fd numbers a marker value names (its `in`, `out`, `err` and `dir`
/// items that are numbers), without checking or decoding the rest and with
/// no message: the start-up constructor makes them CLOEXEC before anything
/// else runs ([`decode`] checks the whole plan on first use).
pub(crate) fn announced_fds(v: &[u8]) -> impl Iterator<Item = i32> + '_ {
    v.split(|&b| b == b',').filter_map(|item| {
        let eq = item.iter().position(|&b| b == b'=')?;
        let (key, val) = (item.get(..eq)?, item.get(eq + 1..)?);
        fd_key(key)?;
        num::parse_u32(val).and_then(|n| i32::try_from(n).ok())
    })
}

/// The marker's value for `plan`.
pub fn encode(plan: &Plan) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let mut d = [0u8; 20];
    let mut put = |out: &mut Vec<u8>, key: &[u8], v: u64| {
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(key);
        out.push(b'=');
        out.extend_from_slice(num::fmt_u64(v, &mut d));
    };
    put(&mut out, b"in", plan.stdin as u64);
    put(&mut out, b"out", plan.stdout as u64);
    put(&mut out, b"err", plan.stderr as u64);
    put(&mut out, b"dir", plan.dir as u64);
    put(&mut out, b"umask", u64::from(plan.umask));
    if let Some((soft, hard)) = plan.nofile {
        put(&mut out, b"nofile", soft);
        out.push(b':');
        out.extend_from_slice(num::fmt_u64(hard, &mut [0u8; 20]));
    }
    if let Some(c) = &plan.creds {
        put(&mut out, b"gid", u64::from(c.gid));
        out.extend_from_slice(b",groups=");
        for (i, g) in c.groups.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            out.extend_from_slice(num::fmt_u64(u64::from(*g), &mut [0u8; 20]));
        }
        if let Some(u) = c.uid {
            put(&mut out, b"uid", u64::from(u));
        }
    }
    out
}

/// Parse a marker value. `EINVAL` with the reason for anything malformed.
// Out of line (footprint): inlined, its error copies land in a caller's larger frame.
#[inline(never)]
pub fn decode(v: &[u8]) -> Result<Plan> {
    let mut fds: [Option<i32>; 4] = [None; 4];
    let mut umask = None;
    let mut nofile = None;
    let mut uid = None;
    let mut gid = None;
    let mut groups: Option<Vec<u32>> = None;
    for item in v.split(|&b| b == b',') {
        let eq = item.iter().position(|&b| b == b'=').ok_or_else(|| err!(EINVAL, "{}: item {} has no '='", Shown(VAR), Shown(item)))?;
        let (key, val) = item.split_at(eq);
        let val = val.get(1..).unwrap_or(&[]);
        let dup = || err!(EINVAL, "{}: {} is given twice", Shown(VAR), Shown(key));
        let bad = || err!(EINVAL, "{}: {}={} is not valid", Shown(VAR), Shown(key), Shown(val));
        let slot = fd_key(key);
        if let Some(i) = slot {
            let f = num::parse_u32(val).and_then(|n| i32::try_from(n).ok()).ok_or_else(bad)?;
            let s = fds.get_mut(i).ok_or_else(bad)?;
            if s.replace(f).is_some() {
                return Err(dup());
            }
            continue;
        }
        match key {
            b"umask" => {
                let m = num::parse_u32(val).filter(|m| *m <= 0o777).ok_or_else(bad)?;
                if umask.replace(m).is_some() {
                    return Err(dup());
                }
            }
            b"nofile" => {
                let c = val.iter().position(|&b| b == b':').ok_or_else(bad)?;
                let (s, h) = val.split_at(c);
                let soft = num::parse_u64(s).ok_or_else(bad)?;
                let hard = num::parse_u64(h.get(1..).unwrap_or(&[])).ok_or_else(bad)?;
                if nofile.replace((soft, hard)).is_some() {
                    return Err(dup());
                }
            }
            b"uid" => {
                if uid.replace(num::parse_u32(val).ok_or_else(bad)?).is_some() {
                    return Err(dup());
                }
            }
            b"gid" => {
                if gid.replace(num::parse_u32(val).ok_or_else(bad)?).is_some() {
                    return Err(dup());
                }
            }
            b"groups" => {
                let mut g = Vec::new();
                if !val.is_empty() {
                    for x in val.split(|&b| b == b':') {
                        g.push(num::parse_u32(x).ok_or_else(bad)?);
                    }
                }
                if groups.replace(g).is_some() {
                    return Err(dup());
                }
            }
            _ => return Err(err!(EINVAL, "{}: unknown key {}", Shown(VAR), Shown(key))),
        }
    }
    let need = |name: &str, f: Option<i32>| f.ok_or_else(|| err!(EINVAL, "{}: {} is missing", Shown(VAR), name));
    let [fin, fout, ferr, fdir] = fds;
    let creds = match (uid, gid, groups) {
        (None, None, None) => None,
        (uid, Some(gid), Some(groups)) => Some(Creds { uid, gid, groups }),
        _ => return Err(err!(EINVAL, "{}: uid, gid and groups must come together (gid and groups at least)", Shown(VAR))),
    };
    Ok(Plan {
        stdin: need("in", fin)?,
        stdout: need("out", fout)?,
        stderr: need("err", ferr)?,
        dir: need("dir", fdir)?,
        umask: umask.ok_or_else(|| err!(EINVAL, "{}: umask is missing", Shown(VAR)))?,
        nofile,
        creds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan { stdin: 5, stdout: 6, stderr: 6, dir: 7, umask: 0o027, nofile: None, creds: None }
    }

    // Every fd the launcher writes into the marker is one the constructor
    // protects, whatever else the marker holds.
    #[test]
    fn announced_fds_are_every_fd_encode_writes() {
        let mut p = plan();
        p.nofile = Some((1024, 4096));
        p.creds = Some(Creds { uid: Some(1000), gid: 100, groups: alloc::vec![100, 27] });
        let v = encode(&p);
        assert_eq!(announced_fds(&v).collect::<Vec<_>>(), [5, 6, 6, 7]);
        assert_eq!(announced_fds(b"umask=18,in=x,dir=9,inn=4,=3").collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn round_trips() {
        let p = plan();
        assert_eq!(encode(&p), b"in=5,out=6,err=6,dir=7,umask=23");
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        let full = Plan {
            nofile: Some((4096, 1 << 20)),
            creds: Some(Creds { uid: Some(65534), gid: 65534, groups: vec![65534, 100] }),
            ..plan()
        };
        assert_eq!(decode(&encode(&full)).unwrap(), full);
        let group_only = Plan { creds: Some(Creds { uid: None, gid: 10, groups: vec![] }), ..plan() };
        assert_eq!(decode(&encode(&group_only)).unwrap(), group_only);
    }

    #[test]
    fn any_order() {
        let p = decode(b"umask=18,dir=3,err=4,out=4,in=5").unwrap();
        assert_eq!((p.stdin, p.stdout, p.stderr, p.dir, p.umask), (5, 4, 4, 3, 0o022));
    }

    #[test]
    fn rejects_hostile_input() {
        for bad in [
            &b""[..],
            b"in=5",
            b"in=5,out=6,err=6,dir=7",
            b"in=5,out=6,err=6,dir=7,umask=512",
            b"in=5,out=6,err=6,dir=7,umask=18,umask=18",
            b"in=5,in=5,out=6,err=6,dir=7,umask=18",
            b"in=-1,out=6,err=6,dir=7,umask=18",
            b"in=5,out=6,err=6,dir=99999999999,umask=18",
            b"in=5,out=6,err=6,dir=7,umask=18,what=1",
            b"in=5,out=6,err=6,dir=7,umask=18,uid=0",
            b"in=5,out=6,err=6,dir=7,umask=18,gid=0",
            b"in=5,out=6,err=6,dir=7,umask=18,gid=0,groups=1::2",
            b"in=5,out=6,err=6,dir=7,umask=18,gid=0,groups=x",
            b"in=5,out=6,err=6,dir=7,umask=18,nofile=10",
            b"in=5,out=6,err=6,dir=7,umask=18,nofile=10:",
            b"in=5,out=6,err=6,dir=7,umask=18,nofile=:10",
            b"in=5,out=6,err=6,dir=7,umask=18,",
            b"in=5,out=6,err=6,dir=7,umask=18,novalue",
            b"in=5\0,out=6,err=6,dir=7,umask=18",
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.errno.0, libc::EINVAL, "{:?}", String::from_utf8_lossy(bad));
            assert!(e.message().starts_with("GRACEFD_DAEMON") || e.message().contains("GRACEFD_DAEMON"), "{}", e.message());
        }
    }
}
