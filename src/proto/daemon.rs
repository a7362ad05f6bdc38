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

/// The keys in the order [`parse`] numbers them: 0–3 the fds in `Plan`
/// order (stdin, stdout, stderr, the working directory), then the rest. One
/// string, not a table of slices: a table would cost every program linking
/// the library relocations at load, since the start-up constructor reads it.
const KEYS: &[u8] = b"in\0out\0err\0dir\0umask\0uid\0gid\0nofile\0groups\0";

/// A key's number in [`KEYS`].
fn key_index(key: &[u8]) -> Option<usize> {
    let mut rest = KEYS;
    let mut i = 0;
    while let (k, Some(next)) = cut(rest, 0) {
        if k == key {
            return Some(i);
        }
        rest = next;
        i += 1;
    }
    None
}

/// `s` up to the first `sep`, and what follows it (`None`: no `sep`). One
/// function for every split of the marker (each `split` iterator with its
/// closure was its own inlined code).
fn cut(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == sep) {
        Some(i) => (s.get(..i).unwrap_or(&[]), s.get(i + 1..)),
        None => (s, None),
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
        key_index(key).filter(|&k| k < 4)?;
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
pub fn decode(v: &[u8]) -> Result<Plan> {
    parse(v).map_err(Bad::error)
}

/// Why a marker was refused, and the text it was refused for. Small, so
/// that [`parse`] passes it up in registers: the 248-byte [`Error`] is built
/// once, by [`Bad::error`] (each `?` on an `Error` copies it).
///
/// [`Error`]: crate::error::Error
#[derive(Clone, Copy)]
enum Bad<'a> {
    /// An item without `=`.
    NoEq(&'a [u8]),
    /// A key given twice.
    Twice(&'a [u8]),
    /// `key=value` with a value the key does not take.
    Value(&'a [u8], &'a [u8]),
    Unknown(&'a [u8]),
    /// A required key (`in`, `out`, `err`, `dir`, `umask`) is absent.
    Missing(&'static str),
    /// `uid` or `groups` without `gid`, or `gid` without `groups`.
    Creds,
}

impl Bad<'_> {
    #[cold]
    #[inline(never)]
    fn error(self) -> crate::error::Error {
        let var = Shown(VAR);
        match self {
            Bad::NoEq(item) => err!(EINVAL, "{}: item {} has no '='", var, Shown(item)),
            Bad::Twice(key) => err!(EINVAL, "{}: {} is given twice", var, Shown(key)),
            Bad::Value(key, val) => err!(EINVAL, "{}: {}={} is not valid", var, Shown(key), Shown(val)),
            Bad::Unknown(key) => err!(EINVAL, "{}: unknown key {}", var, Shown(key)),
            Bad::Missing(name) => err!(EINVAL, "{}: {} is missing", var, crate::msg::Plain(name)),
            Bad::Creds => err!(EINVAL, "{}: uid, gid and groups must come together (gid and groups at least)", var),
        }
    }
}

/// The largest value of a one-number key: fds are `i32`, the umask at most 0777.
fn max_value(k: usize) -> u32 {
    match k {
        0..=3 => i32::MAX as u32,
        4 => 0o777,
        _ => u32::MAX,
    }
}

fn parse(v: &[u8]) -> core::result::Result<Plan, Bad<'_>> {
    // in, out, err, dir, umask, uid, gid: one number each.
    let mut one: [Option<u32>; 7] = [None; 7];
    let mut nofile = None;
    let mut groups: Option<Vec<u32>> = None;
    let mut items = Some(v);
    while let Some(rest) = items {
        let (item, next) = cut(rest, b',');
        items = next;
        let (key, Some(val)) = cut(item, b'=') else { return Err(Bad::NoEq(item)) };
        let k = key_index(key).ok_or(Bad::Unknown(key))?;
        let bad = Bad::Value(key, val);
        let was_set = if let Some(slot) = one.get_mut(k) {
            slot.replace(num::parse_u32(val).filter(|n| *n <= max_value(k)).ok_or(bad)?).is_some()
        } else if k == 7 {
            let (s, Some(h)) = cut(val, b':') else { return Err(bad) };
            let soft = num::parse_u64(s).ok_or(bad)?;
            let hard = num::parse_u64(h).ok_or(bad)?;
            nofile.replace((soft, hard)).is_some()
        } else {
            let mut g = Vec::new();
            let mut numbers = Some(val).filter(|v| !v.is_empty());
            while let Some(rest) = numbers {
                let (x, next) = cut(rest, b':');
                numbers = next;
                g.push(num::parse_u32(x).ok_or(bad)?);
            }
            groups.replace(g).is_some()
        };
        if was_set {
            return Err(Bad::Twice(key));
        }
    }
    let [fin, fout, ferr, fdir, umask, uid, gid] = one;
    let creds = match (uid, gid, groups) {
        (None, None, None) => None,
        (uid, Some(gid), Some(groups)) => Some(Creds { uid, gid, groups }),
        _ => return Err(Bad::Creds),
    };
    // The fds are at most i32::MAX (max_value).
    let fd = |f: Option<u32>, name: &'static str| f.map(|n| n as i32).ok_or(Bad::Missing(name));
    Ok(Plan {
        stdin: fd(fin, "in")?,
        stdout: fd(fout, "out")?,
        stderr: fd(ferr, "err")?,
        dir: fd(fdir, "dir")?,
        umask: umask.ok_or(Bad::Missing("umask"))?,
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

    // Each refusal names the problem and the text (the messages the decoder
    // gave before it passed a small error up and built the message once).
    #[test]
    fn refusals_say_why() {
        for (bad, want) in [
            (&b"in=5,out"[..], "\"GRACEFD_DAEMON\": item \"out\" has no '='"),
            (b"in=5,in=6", "\"GRACEFD_DAEMON\": \"in\" is given twice"),
            (b"in=x,in=6", "\"GRACEFD_DAEMON\": \"in\"=\"x\" is not valid"),
            (b"umask=512", "\"GRACEFD_DAEMON\": \"umask\"=\"512\" is not valid"),
            (b"dir=2147483648", "\"GRACEFD_DAEMON\": \"dir\"=\"2147483648\" is not valid"),
            (b"nofile=1:", "\"GRACEFD_DAEMON\": \"nofile\"=\"1:\" is not valid"),
            (b"gid=1,groups=1::2", "\"GRACEFD_DAEMON\": \"groups\"=\"1::2\" is not valid"),
            (b"uid=1,uid=1", "\"GRACEFD_DAEMON\": \"uid\" is given twice"),
            (b"groups=,groups=", "\"GRACEFD_DAEMON\": \"groups\" is given twice"),
            (b"what=1", "\"GRACEFD_DAEMON\": unknown key \"what\""),
            (b"=1", "\"GRACEFD_DAEMON\": unknown key \"\""),
            (b"in=5,out=6,err=6,dir=7,umask=18,uid=0", "\"GRACEFD_DAEMON\": uid, gid and groups must come together (gid and groups at least)"),
            (b"out=6,err=6,dir=7,umask=18", "\"GRACEFD_DAEMON\": in is missing"),
            (b"in=5,out=6,err=6,dir=7", "\"GRACEFD_DAEMON\": umask is missing"),
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!((e.errno.0, e.message()), (libc::EINVAL, want), "{:?}", String::from_utf8_lossy(bad));
        }
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
