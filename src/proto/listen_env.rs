//! The environment protocols that announce inherited fds, parsed strictly.
//! Pure code: the registry (`crate::registry`) does the syscalls.
//!
//! **systemd socket activation** (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`),
//! with sd_listen_fds(3)'s semantics:
//!
//! - `LISTEN_FDS` unset: nothing announced (whatever `LISTEN_PID` says).
//! - `LISTEN_PID` unset, or a valid pid other than ours: the fds are
//!   **not for us** (they were meant for a parent that exec'd us, or a
//!   sibling); nothing is inherited and the fds are not touched.
//! - `LISTEN_PID` or `LISTEN_FDS` not a plain decimal number (sign, spaces,
//!   trailing bytes, `0` as a pid, above the int range), or `LISTEN_FDS`
//!   announcing more fds than the caller's limit: an **error**; nothing is
//!   inherited.
//! - `LISTEN_PIDFDID` (systemd ≥ 258), when set and `LISTEN_PID` is ours:
//!   must be a plain decimal number, and when the kernel can tell this
//!   process's pidfd id, equal to it; another id means the pid was reused:
//!   **not for us** ([`check_pidfdid`]).
//! - The fds are `3 .. 3 + LISTEN_FDS`.
//! - Names: `LISTEN_FDNAMES` unset means every fd is named `unknown` (as
//!   systemd does). Otherwise it is split on `:`; each name must pass
//!   [`fdname_is_valid`]. An empty name is read as `unknown`.
//!   **Fewer names than fds**: the fds without a name are named `unknown`
//!   (and [`Systemd::Fds::missing_names`] says how many, so the caller can
//!   warn; libsystemd itself fails the call). **More names than fds**: an
//!   error, since the announcement is inconsistent and it is not knowable
//!   which part of it is wrong; nothing is inherited.
//!
//! **Server::Starter** (`SERVER_STARTER_PORT`, `SERVER_STARTER_GENERATION`):
//! `SERVER_STARTER_PORT` is `key=fd;key=fd;…` where each key is what
//! `start_server` was given: `port` (IPv4, all interfaces), `host:port`,
//! `[v6]:port`, or a unix socket path. Rules:
//!
//! - An empty value announces nothing (`start_server` with no ports).
//! - Entries are separated by `;`; an empty entry (`a=3;;b=4`, a trailing `;`)
//!   is an error.
//! - Each entry is split on its **last** `=`, so a path may contain `=`; the
//!   fd must be a plain decimal number that fits in an int; the key must not
//!   be empty.
//! - A key is an inet address when it is all digits (a port), `[host]:port`,
//!   or has no `/` and ends in `:digits`; anything else is a unix socket path
//!   (`/run/a:80` is a path, `a:80` is host `a`, port 80). Ports above 65535
//!   are an error. A host is not resolved; only its family matters (a `:`
//!   inside means IPv6).
//! - The same fd twice is an error. The same key twice is allowed:
//!   `start_server --port=8000 --port=u8000` announces a TCP and a UDP socket
//!   both as `8000`.
//!
//! Any error rejects the whole variable: a malformed announcement cannot be
//! trusted in part.

use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Result};
use crate::proto::addr::Shown;
use crate::proto::num;
use crate::sys::Errno;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
pub(crate) const LISTEN_FDS_START: i32 = 3;

/// Longest fd name, in bytes (systemd's `FDNAME_MAX`).
pub const FDNAME_MAX: usize = 255;

/// The name systemd gives an fd it has no name for.
pub(crate) const UNKNOWN: &[u8] = b"unknown";

/// Whether `name` may be used as an fd name in `LISTEN_FDNAMES`, as systemd's
/// `fdname_is_valid` decides: printable ASCII (0x20–0x7e), no `:` (the
/// separator), at most [`FDNAME_MAX`] bytes. Unlike systemd, the empty name is
/// refused: gracefd uses "no name" (`unknown`) instead.
pub fn fdname_is_valid(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= FDNAME_MAX && name.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b':')
}

/// Why a name is not valid, for error messages (`None` if it is).
pub fn fdname_problem(name: &[u8]) -> Option<&'static str> {
    // One pass for a valid name (a hand-off checks 10,000 of them on each
    // side); the reason is sorted out only for a bad one.
    if fdname_is_valid(name) {
        None
    } else if name.is_empty() {
        Some("is empty")
    } else if name.len() > FDNAME_MAX {
        Some("is longer than 255 bytes")
    } else if name.contains(&b':') {
        Some("contains ':' (the LISTEN_FDNAMES separator)")
    } else {
        Some("contains a byte that is not printable ASCII")
    }
}

/// [`fdname_problem`] as an error: `EINVAL`, `fd name "x" <why>`. The one
/// check of fd names: the registry, the hand-off, the fd store and the
/// superdaemon all use it.
pub fn validate_fdname(name: &[u8]) -> Result<()> {
    match fdname_problem(name) {
        None => Ok(()),
        Some(why) => Err(Refusal::new("fd name {a} {B}", name, why.as_bytes(), 0, 0).error()),
    }
}

/// Why an announcement is refused, before it is worded. The parsers return
/// this small value (not an [`Error`], whose message is made in place and
/// is 248 bytes): each error site is one template and its inputs, and the
/// words are made once, by its `Display`, only when somebody reads them.
///
/// The template is the message with `{a}` and `{b}` for the inputs `a` and
/// `b` shown quoted ([`Shown`]), `{B}` for `b` as it is (a reason, ASCII),
/// `{n}` and `{m}` for the numbers, `{e}` for `n` as an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal<'a> {
    text: &'static str,
    a: &'a [u8],
    b: &'a [u8],
    n: u64,
    m: u64,
}

impl<'a> Refusal<'a> {
    pub(crate) fn new(text: &'static str, a: &'a [u8], b: &'a [u8], n: u64, m: u64) -> Self {
        Refusal { text, a, b, n, m }
    }

    /// As an [`Error`]: `EINVAL` with this message.
    #[cold]
    #[inline(never)]
    pub fn error(self) -> Error {
        Error::new(Errno(libc::EINVAL), format_args!("{}", self))
    }
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Byte positions and `get`: no char-boundary panic path (a template
        // is ASCII around its marks anyway).
        let mut rest = self.text;
        while let Some(open) = rest.bytes().position(|b| b == b'{') {
            f.write_str(rest.get(..open).unwrap_or(""))?;
            let mark = rest.as_bytes().get(open + 1).copied().unwrap_or(b'm');
            match mark {
                b'a' | b'b' => fmt::Display::fmt(&Shown(if mark == b'a' { self.a } else { self.b }), f)?,
                b'B' => {
                    for &c in self.b {
                        fmt::Write::write_char(f, char::from(c))?;
                    }
                }
                b'e' => fmt::Display::fmt(&Errno(i32::try_from(self.n).unwrap_or(0)), f)?,
                _ => fmt::Display::fmt(if mark == b'n' { &self.n } else { &self.m }, f)?,
            }
            rest = rest.get(open + 3..).unwrap_or("");
        }
        f.write_str(rest)
    }
}

/// The fields of a `sep`-separated list, as `<[u8]>::split` gives them (one
/// field for an empty text): one non-generic scanner for every list here.
struct Fields<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

fn fields(text: &[u8], sep: u8) -> Fields<'_> {
    Fields { rest: Some(text), sep }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let text = self.rest?;
        match text.iter().position(|&b| b == self.sep) {
            Some(i) => {
                self.rest = text.get(i + 1..);
                text.get(..i)
            }
            None => {
                self.rest = None;
                Some(text)
            }
        }
    }
}

/// `entry` split on its last `=`: the key and the fd, when the key is not
/// empty and the fd is a plain decimal number that fits in an int.
/// `Err(None)`: no `=`; `Err(Some(key))`: the key is empty or the fd bad.
fn key_and_fd(entry: &[u8]) -> core::result::Result<(&[u8], i32), Option<&[u8]>> {
    let eq = entry.iter().rposition(|&b| b == b'=').ok_or(None)?;
    let key = entry.get(..eq).unwrap_or(&[]);
    let fd = entry.get(eq + 1..).and_then(num::parse_u32).and_then(|v| i32::try_from(v).ok());
    match fd {
        Some(fd) if !key.is_empty() => Ok((key, fd)),
        _ => Err(Some(key)),
    }
}

/// What the systemd variables announce.
#[derive(Debug, PartialEq, Eq)]
pub enum Systemd<'a> {
    /// `LISTEN_FDS` is not set.
    Absent,
    /// The fds are meant for another process (or `LISTEN_PID` is unset).
    NotForUs {
        /// The pid `LISTEN_PID` names (None if unset).
        listen_pid: Option<i32>,
    },
    /// Fds `3 .. 3 + count` are ours; see [`Systemd::name_of`].
    Fds {
        /// How many fds (`LISTEN_FDS`).
        count: u32,
        /// The names given, in fd order (at most `count`; empty ones already
        /// replaced by `unknown`). Fds past the end are named `unknown`.
        names: Vec<&'a [u8]>,
        /// How many fds got `unknown` because `LISTEN_FDNAMES` had too few
        /// names (0 when it was unset or complete).
        missing_names: usize,
    },
}

impl Systemd<'_> {
    /// The name of the `i`-th announced fd (fd `3 + i`): `unknown` when it
    /// has none (or when this is not [`Systemd::Fds`]).
    pub fn name_of(&self, i: usize) -> &[u8] {
        match self {
            Systemd::Fds { names, .. } => names.get(i).copied().unwrap_or(UNKNOWN),
            _ => UNKNOWN,
        }
    }
}

/// Parse the systemd variables (each `None` when unset). `our_pid` is the pid
/// the environment was captured in; `max_fds` is the largest `LISTEN_FDS`
/// accepted (the caller derives it from the open-files limit).
pub fn parse_systemd<'a>(
    listen_pid: Option<&[u8]>,
    listen_fds: Option<&[u8]>,
    listen_fdnames: Option<&'a [u8]>,
    our_pid: i32,
    max_fds: u32,
) -> Result<Systemd<'a>> {
    systemd(listen_pid, listen_fds, listen_fdnames, our_pid, max_fds).map_err(Refusal::error)
}

/// [`parse_systemd`], refusing with a [`Refusal`].
pub fn systemd<'r, 'a: 'r>(
    listen_pid: Option<&'r [u8]>,
    listen_fds: Option<&'r [u8]>,
    listen_fdnames: Option<&'a [u8]>,
    our_pid: i32,
    max_fds: u32,
) -> core::result::Result<Systemd<'a>, Refusal<'r>> {
    Ok(match systemd_checked(listen_pid, listen_fds, listen_fdnames, our_pid, max_fds)? {
        Announced::Absent => Systemd::Absent,
        Announced::NotForUs(listen_pid) => Systemd::NotForUs { listen_pid },
        Announced::Fds { count, mut names, missing_names } => {
            // The names given (none when `LISTEN_FDNAMES` is unset).
            let given = if listen_fdnames.is_some() { count as usize - missing_names } else { 0 };
            let mut list = Vec::new();
            for _ in 0..given {
                list.push(names.next_name());
            }
            Systemd::Fds { count, names: list, missing_names }
        }
    })
}

/// [`Systemd`] with the names not gathered yet: the registry reads them one
/// by one (an upgrade may pass thousands), with no list to allocate.
pub(crate) enum Announced<'a> {
    Absent,
    NotForUs(Option<i32>),
    Fds { count: u32, names: FdNames<'a>, missing_names: usize },
}

/// The names of the announced fds, checked, in fd order.
pub(crate) struct FdNames<'a>(Fields<'a>);

impl<'a> FdNames<'a> {
    /// The next fd's name: `unknown` for an empty one and past the end.
    pub(crate) fn next_name(&mut self) -> &'a [u8] {
        match self.0.next() {
            Some(name) if !name.is_empty() => name,
            _ => UNKNOWN,
        }
    }
}

/// [`systemd`]'s checks, the names left where they are.
pub(crate) fn systemd_checked<'r, 'a: 'r>(
    listen_pid: Option<&'r [u8]>,
    listen_fds: Option<&'r [u8]>,
    listen_fdnames: Option<&'a [u8]>,
    our_pid: i32,
    max_fds: u32,
) -> core::result::Result<Announced<'a>, Refusal<'r>> {
    let Some(fds) = listen_fds else { return Ok(Announced::Absent) };
    let Some(pid_text) = listen_pid else { return Ok(Announced::NotForUs(None)) };
    let Some(pid) = num::parse_pid(pid_text) else {
        return Err(Refusal::new("LISTEN_PID={a}: not a process id (a decimal number from 1 to 2147483647)", pid_text, &[], 0, 0));
    };
    if pid != our_pid {
        return Ok(Announced::NotForUs(Some(pid)));
    }
    let Some(count) = num::parse_u32(fds) else {
        return Err(Refusal::new("LISTEN_FDS={a}: not a count of fds (a plain decimal number, no sign or spaces)", fds, &[], 0, 0));
    };
    // fds 3 .. 3+n must be ints.
    let cap = max_fds.min(i32::MAX as u32 - LISTEN_FDS_START as u32);
    if count > cap {
        return Err(Refusal::new(
            "LISTEN_FDS={n}: more fds than this process can have open (at most {m})",
            &[],
            &[],
            count.into(),
            cap.into(),
        ));
    }
    let n = count as usize;
    let mut names = fields(&[], b':');
    names.rest = None;
    let mut given = 0;
    if let Some(text) = listen_fdnames {
        // One pass: count the names, and find the first bad one (empty
        // names are systemd's "no name", `unknown`). Too many names is said
        // first: then which name is wrong is not knowable.
        let mut bad = None;
        for name in fields(text, b':') {
            if bad.is_none() && !name.is_empty() {
                bad = fdname_problem(name).map(|why| (name, why, given));
            }
            given += 1;
        }
        if text.is_empty() && n == 0 {
            given = 0;
        }
        if given > n {
            return Err(Refusal::new(
                "LISTEN_FDNAMES names {n} fds but LISTEN_FDS={m} announces {m}: inconsistent, ignoring both",
                &[],
                &[],
                given as u64,
                n as u64,
            ));
        }
        if let Some((name, why, i)) = bad {
            let fd = LISTEN_FDS_START as u64 + i as u64;
            return Err(Refusal::new("LISTEN_FDNAMES: name {a} of fd {n} {B}", name, why.as_bytes(), fd, 0));
        }
        if given > 0 {
            // (An empty list with no fds has nothing to read.)
            names = fields(text, b':');
        }
    }
    // Unset, every fd is `unknown` as systemd has it: none is missing.
    let missing_names = if listen_fdnames.is_some() { n - given } else { 0 };
    Ok(Announced::Fds { count, names: FdNames(names), missing_names })
}

/// What `LISTEN_PIDFDID` says, given the id of this process's own pidfd.
///
/// systemd ≥ 258 sets it beside `LISTEN_PID`: the inode number of a pidfd
/// (pidfs) of the process the fds are for, which unlike a pid is never
/// reused. The check is on top of `LISTEN_PID`, never instead of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidfdId {
    /// Not set: `LISTEN_PID` alone decides.
    Unset,
    /// Set, and it is this process.
    Matches(u64),
    /// Set to another process's id (the pid was reused): not for us.
    Other {
        /// What `LISTEN_PIDFDID` says.
        announced: u64,
        /// This process's pidfd id.
        ours: u64,
    },
    /// Set, but the kernel cannot tell this process's id (no pidfd_open, or
    /// pidfds without unique inodes): `LISTEN_PID` alone decides.
    Unverifiable(u64),
}

/// Check `LISTEN_PIDFDID` (`None` when unset) against `ours`, this process's
/// pidfd inode number (`None` when the kernel cannot tell). The value must be
/// a plain decimal number from 1 to 2^64-1; anything else is `EINVAL`, and
/// the caller then trusts none of the announcement, as for a malformed
/// `LISTEN_PID`.
pub fn check_pidfdid(listen_pidfdid: Option<&[u8]>, ours: Option<u64>) -> Result<PidfdId> {
    pidfdid(listen_pidfdid, ours).map_err(Refusal::error)
}

/// [`check_pidfdid`], refusing with a [`Refusal`].
pub fn pidfdid(listen_pidfdid: Option<&[u8]>, ours: Option<u64>) -> core::result::Result<PidfdId, Refusal<'_>> {
    let Some(text) = listen_pidfdid else { return Ok(PidfdId::Unset) };
    let Some(id) = num::parse_u64(text).filter(|&v| v != 0) else {
        return Err(Refusal::new("LISTEN_PIDFDID={a}: not a pidfd id (a decimal number from 1 to 2^64-1)", text, &[], 0, 0));
    };
    Ok(match ours {
        Some(o) if o == id => PidfdId::Matches(id),
        Some(o) => PidfdId::Other { announced: id, ours: o },
        None => PidfdId::Unverifiable(id),
    })
}

/// What a `SERVER_STARTER_PORT` key says about its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StarterAddr<'a> {
    /// An IPv4 socket (`port` or `host:port`; `host` empty for a bare port).
    Inet4 {
        /// The host text (unresolved).
        host: &'a [u8],
        /// The port.
        port: u16,
    },
    /// An IPv6 socket (`[host]:port`).
    Inet6 {
        /// The host text (unresolved, without brackets).
        host: &'a [u8],
        /// The port.
        port: u16,
    },
    /// A unix socket at this path.
    Path(&'a [u8]),
}

/// One `key=fd` entry of `SERVER_STARTER_PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StarterEntry<'a> {
    /// The key as written.
    pub key: &'a [u8],
    /// What the key says.
    pub addr: StarterAddr<'a>,
    /// The announced fd (any int; the registry refuses 0–2).
    pub fd: i32,
}

/// Parse `SERVER_STARTER_PORT` (rules in the module documentation).
pub fn parse_server_starter_port(value: &[u8]) -> Result<Vec<StarterEntry<'_>>> {
    server_starter_port(value).map_err(Refusal::error)
}

/// [`parse_server_starter_port`], refusing with a [`Refusal`].
pub fn server_starter_port(value: &[u8]) -> core::result::Result<Vec<StarterEntry<'_>>, Refusal<'_>> {
    let mut out: Vec<StarterEntry<'_>> = Vec::new();
    if value.is_empty() {
        return Ok(out);
    }
    for (i, entry) in fields(value, b';').enumerate() {
        let no = |text| Refusal::new(text, entry, &[], 0, 0);
        let (key, fd) = match key_and_fd(entry) {
            Ok(v) => v,
            Err(_) if entry.is_empty() => {
                return Err(Refusal::new("SERVER_STARTER_PORT={a}: entry {n} is empty", value, &[], i as u64 + 1, 0));
            }
            Err(None) => return Err(no("SERVER_STARTER_PORT: entry {a} has no '=fd'")),
            Err(Some(&[])) => return Err(no("SERVER_STARTER_PORT: entry {a} has an empty address")),
            Err(Some(key)) => {
                let fd_text = entry.get(key.len() + 1..).unwrap_or(&[]);
                let text = "SERVER_STARTER_PORT: entry {a}: fd {b} is not a plain decimal fd number";
                return Err(Refusal::new(text, entry, fd_text, 0, 0));
            }
        };
        let addr = match starter_key_addr(key) {
            Ok(addr) => addr,
            Err(Some(port)) => {
                return Err(Refusal::new("SERVER_STARTER_PORT: entry {a}: port {b} is above 65535", entry, port, 0, 0));
            }
            Err(None) => return Err(no("SERVER_STARTER_PORT: entry {a}: empty IPv6 host between brackets")),
        };
        if let Some(prev) = out.iter().find(|p| p.fd == fd) {
            let text = "SERVER_STARTER_PORT: fd {n} is announced twice (for {a} and {b})";
            return Err(Refusal::new(text, prev.key, key, fd as u64, 0));
        }
        out.push(StarterEntry { key, addr, fd });
    }
    Ok(out)
}

/// `p` is a port: digits only, not empty.
fn all_digits(p: &[u8]) -> bool {
    !p.is_empty() && p.iter().all(u8::is_ascii_digit)
}

/// What a key says; `Err(Some(port))` for a port above 65535, `Err(None)`
/// for `[]:port`.
fn starter_key_addr(key: &[u8]) -> core::result::Result<StarterAddr<'_>, Option<&[u8]>> {
    // Where the port is and what it is for: a bare port, `[v6]:port`,
    // `host:port` (no '/' in it); anything else is a path.
    let bracketed = key.strip_prefix(b"[").and_then(|rest| {
        let close = rest.iter().position(|&b| b == b']')?;
        let (host, tail) = rest.split_at(close);
        let port = tail.strip_prefix(b"]:")?;
        all_digits(port).then_some((host, port))
    });
    let no_host: &[u8] = &[];
    let (host, port, v6) = if all_digits(key) {
        (no_host, key, false)
    } else if let Some((host, port)) = bracketed {
        if host.is_empty() {
            return Err(None);
        }
        (host, port, true)
    } else {
        let colon = if key.contains(&b'/') { None } else { key.iter().rposition(|&b| b == b':') };
        let Some(colon) = colon else { return Ok(StarterAddr::Path(key)) };
        let (host, port) = key.split_at(colon);
        let port = port.get(1..).unwrap_or(&[]);
        if !all_digits(port) {
            return Ok(StarterAddr::Path(key));
        }
        (host, port, host.contains(&b':'))
    };
    let port = match num::parse_u32(port) {
        Some(v) if v <= 65535 => v as u16,
        _ => return Err(Some(port)),
    };
    Ok(if v6 { StarterAddr::Inet6 { host, port } } else { StarterAddr::Inet4 { host, port } })
}

/// Parse `SERVER_STARTER_GENERATION` (a plain decimal number).
pub fn parse_server_starter_generation(value: &[u8]) -> Result<u32> {
    server_starter_generation(value).map_err(Refusal::error)
}

/// [`parse_server_starter_generation`], refusing with a [`Refusal`].
pub fn server_starter_generation(value: &[u8]) -> core::result::Result<u32, Refusal<'_>> {
    num::parse_u32(value).ok_or(Refusal::new("SERVER_STARTER_GENERATION={a}: not a plain decimal number", value, &[], 0, 0))
}

// ---- At load: the same rules, verdicts only ----
//
// The library's constructor decides, before `main`, which announced fds the
// registry will adopt, so that it makes exactly those CLOEXEC. It must not
// reach the message-making code above (`core::fmt`, the error type): every
// program linking the library carries what the constructor reaches. These
// functions give the parsers' verdicts without a message and without
// allocating; tests check they agree with the parsers.

/// The number of `LISTEN_FDS` fds that are ours: `Some(count)` exactly when
/// [`parse_systemd`] returns [`Systemd::Fds`] with that count.
pub fn systemd_count(
    listen_pid: Option<&[u8]>,
    listen_fds: Option<&[u8]>,
    listen_fdnames: Option<&[u8]>,
    our_pid: i32,
    max_fds: u32,
) -> Option<u32> {
    if num::parse_pid(listen_pid?)? != our_pid {
        return None;
    }
    let n = num::parse_u32(listen_fds?)?;
    if n > max_fds.min(i32::MAX as u32 - LISTEN_FDS_START as u32) {
        return None;
    }
    if let Some(text) = listen_fdnames {
        if !(text.is_empty() && n == 0) {
            let mut given: usize = 0;
            for name in fields(text, b':') {
                given += 1;
                // Empty names are systemd's "no name" here (they hold no ':'
                // after the split).
                if !name.is_empty() && !fdname_is_valid(name) {
                    return None;
                }
            }
            if given > n as usize {
                return None;
            }
        }
    }
    Some(n)
}

/// Whether `LISTEN_PIDFDID` lets the announcement stand: [`check_pidfdid`]
/// gives `Unset`, `Matches` or `Unverifiable`.
pub fn pidfdid_allows(listen_pidfdid: Option<&[u8]>, ours: Option<u64>) -> bool {
    let Some(text) = listen_pidfdid else { return true };
    match num::parse_u64(text) {
        Some(0) | None => false,
        Some(id) => ours.map_or(true, |o| o == id),
    }
}

/// The fd numbers `SERVER_STARTER_PORT` announces, in order, when each
/// entry has the form `key=fd` (a non-empty key, a plain decimal fd that
/// fits in an int); none otherwise. The keys are not read: when
/// [`parse_server_starter_port`] accepts the value, these are its fds, but
/// it also refuses some values this accepts (a port above 65535, the same
/// fd twice), so the caller must be ready to undo what it did with them.
pub fn for_each_starter_fd(value: &[u8], mut each: impl FnMut(i32)) {
    let fd_of = |entry| key_and_fd(entry).ok().map(|(_, fd)| fd);
    if value.is_empty() || fields(value, b';').any(|e| fd_of(e).is_none()) {
        return;
    }
    fields(value, b';').filter_map(fd_of).for_each(&mut each);
}

#[cfg(test)]
#[path = "listen_env_tests.rs"]
mod tests;
