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
    fn fd_of(entry: &[u8]) -> Option<i32> {
        let eq = entry.iter().rposition(|&b| b == b'=').filter(|&eq| eq > 0)?;
        num::parse_u32(entry.get(eq + 1..)?).and_then(|v| i32::try_from(v).ok())
    }
    if value.is_empty() || value.split(|&b| b == b';').any(|e| fd_of(e).is_none()) {
        return;
    }
    value.split(|&b| b == b';').filter_map(fd_of).for_each(&mut each);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: i32 = 4242;

    fn sd<'a>(pid: Option<&'a str>, fds: Option<&'a str>, names: Option<&'a str>) -> Result<Systemd<'a>> {
        parse_systemd(pid.map(str::as_bytes), fds.map(str::as_bytes), names.map(str::as_bytes), ME, 1000)
    }

    fn names(r: Result<Systemd<'_>>) -> (Vec<String>, usize) {
        let s = r.unwrap();
        match &s {
            Systemd::Fds { count, missing_names, .. } => (
                (0..*count as usize).map(|i| String::from_utf8(s.name_of(i).to_vec()).unwrap()).collect(),
                *missing_names,
            ),
            other => panic!("not fds: {:?}", other),
        }
    }

    fn sd_err(pid: Option<&str>, fds: Option<&str>, names: Option<&str>, needle: &str) {
        let e = sd(pid, fds, names).expect_err("accepted");
        assert!(e.message().contains(needle), "{:?} {:?} {:?}: {:?} lacks {:?}", pid, fds, names, e.message(), needle);
        assert_eq!(e.errno.0, libc::EINVAL);
    }

    #[test]
    fn systemd_normal() {
        assert_eq!(names(sd(Some("4242"), Some("2"), Some("web:admin"))), (vec!["web".into(), "admin".into()], 0));
        assert_eq!(names(sd(Some("4242"), Some("2"), None)), (vec!["unknown".into(), "unknown".into()], 0));
        assert_eq!(names(sd(Some("4242"), Some("0"), None)), (vec![], 0));
        assert_eq!(names(sd(Some("4242"), Some("0"), Some(""))), (vec![], 0));
        // Empty names read as unknown.
        assert_eq!(names(sd(Some("4242"), Some("3"), Some("a::c"))), (vec!["a".into(), "unknown".into(), "c".into()], 0));
        assert_eq!(names(sd(Some("4242"), Some("1"), Some(""))), (vec!["unknown".into()], 0));
        // Duplicate names are allowed (one socket unit with several Listen lines).
        assert_eq!(names(sd(Some("4242"), Some("2"), Some("w:w"))), (vec!["w".into(), "w".into()], 0));
        // Leading zeros are still a plain number.
        assert_eq!(names(sd(Some("04242"), Some("01"), Some("x"))).0.len(), 1);
    }

    #[test]
    fn systemd_absent_or_not_for_us() {
        assert_eq!(sd(None, None, None).unwrap(), Systemd::Absent);
        assert_eq!(sd(Some("4242"), None, Some("a")).unwrap(), Systemd::Absent);
        assert_eq!(sd(None, Some("2"), None).unwrap(), Systemd::NotForUs { listen_pid: None });
        assert_eq!(sd(Some("1"), Some("2"), None).unwrap(), Systemd::NotForUs { listen_pid: Some(1) });
        // Not for us wins over a malformed LISTEN_FDS: it is somebody else's business.
        assert_eq!(sd(Some("1"), Some("-1"), None).unwrap(), Systemd::NotForUs { listen_pid: Some(1) });
    }

    #[test]
    fn systemd_hostile() {
        for pid in ["", "0", "-1", "abc", "4242x", " 4242", "4242 ", "+4242", "2147483648", "99999999999999999999999"] {
            sd_err(Some(pid), Some("1"), None, "LISTEN_PID");
        }
        for fds in ["", "-1", "abc", "1x", "1 ", " 1", "+1", "0x1", "1.0", "4294967296", "99999999999999999999999"] {
            sd_err(Some("4242"), Some(fds), None, "LISTEN_FDS");
        }
        sd_err(Some("4242"), Some("1001"), None, "more fds than");
        sd_err(Some("4242"), Some("2147483647"), None, "more fds than");
        // The fd range must stay within int even with a huge limit.
        let e = parse_systemd(Some(b"1"), Some(b"2147483646"), None, 1, u32::MAX).unwrap_err();
        assert!(e.message().contains("more fds than"));
        assert!(parse_systemd(Some(b"1"), Some(b"2147483644"), None, 1, u32::MAX).is_ok());
    }

    #[test]
    fn systemd_names_count_mismatch() {
        // Fewer names: the rest are unknown, and the shortfall is reported.
        assert_eq!(names(sd(Some("4242"), Some("3"), Some("a"))), (vec!["a".into(), "unknown".into(), "unknown".into()], 2));
        // More names: an error.
        sd_err(Some("4242"), Some("1"), Some("a:b"), "LISTEN_FDNAMES names 2 fds");
        sd_err(Some("4242"), Some("0"), Some("a"), "LISTEN_FDNAMES names 1 fds");
        sd_err(Some("4242"), Some("1"), Some(":"), "LISTEN_FDNAMES names 2 fds");
    }

    #[test]
    fn systemd_bad_names() {
        sd_err(Some("4242"), Some("1"), Some("a\tb"), "not printable");
        sd_err(Some("4242"), Some("1"), Some("caf\u{e9}"), "not printable");
        sd_err(Some("4242"), Some("2"), Some("ok:\x7f"), "of fd 4");
        let long = "n".repeat(256);
        sd_err(Some("4242"), Some("1"), Some(&long), "longer than 255");
        let max = "n".repeat(255);
        assert_eq!(names(sd(Some("4242"), Some("1"), Some(&max))).0, vec![max.clone()]);
    }

    #[test]
    fn name_validity() {
        assert!(fdname_is_valid(b"web"));
        assert!(fdname_is_valid(b"web.socket"));
        assert!(fdname_is_valid(b"a b=c;d"));
        assert!(!fdname_is_valid(b""));
        assert!(!fdname_is_valid(b"a:b"));
        assert!(!fdname_is_valid(b"a\nb"));
        assert!(!fdname_is_valid(b"a\0b"));
        assert!(!fdname_is_valid(&[b'x'; 256]));
        assert!(fdname_is_valid(&[b'x'; 255]));
        assert_eq!(fdname_problem(b"ok"), None);
        assert!(fdname_problem(b"a:b").unwrap().contains("':'"));
    }

    fn ss(v: &str) -> Vec<StarterEntry<'_>> {
        parse_server_starter_port(v.as_bytes()).unwrap_or_else(|e| panic!("{:?}: {}", v, e))
    }

    fn ss_err(v: &[u8], needle: &str) {
        let e = parse_server_starter_port(v).expect_err("accepted");
        assert!(e.message().contains(needle), "{:?}: {:?} lacks {:?}", v, e.message(), needle);
        assert!(e.message().contains("SERVER_STARTER_PORT"));
    }

    #[test]
    fn server_starter_forms() {
        assert_eq!(ss(""), vec![]);
        let v = ss("8000=3;127.0.0.1:8001=4;[::1]:8002=5;/tmp/x.sock=6;localhost:80=7;::1:9=8");
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], StarterEntry { key: b"8000", addr: StarterAddr::Inet4 { host: b"", port: 8000 }, fd: 3 });
        assert_eq!(v[1].addr, StarterAddr::Inet4 { host: b"127.0.0.1", port: 8001 });
        assert_eq!(v[2].addr, StarterAddr::Inet6 { host: b"::1", port: 8002 });
        assert_eq!(v[3].addr, StarterAddr::Path(b"/tmp/x.sock"));
        assert_eq!(v[3].fd, 6);
        assert_eq!(v[4].addr, StarterAddr::Inet4 { host: b"localhost", port: 80 });
        assert_eq!(v[5].addr, StarterAddr::Inet6 { host: b"::1", port: 9 });
        // '=' inside a path: split on the last '='.
        let v = ss("/tmp/a=b=c.sock=9");
        assert_eq!(v[0].key, b"/tmp/a=b=c.sock");
        assert_eq!(v[0].addr, StarterAddr::Path(b"/tmp/a=b=c.sock"));
        assert_eq!(v[0].fd, 9);
        // A path with ':digits' is still a path; a relative name without one too.
        assert_eq!(ss("/run/a:80=3")[0].addr, StarterAddr::Path(b"/run/a:80"));
        assert_eq!(ss("x.sock=3")[0].addr, StarterAddr::Path(b"x.sock"));
        // The same key twice (TCP and UDP on one port) is fine; fd 0 parses (the registry refuses it).
        assert_eq!(ss("8000=3;8000=4").len(), 2);
        assert_eq!(ss("80=0")[0].fd, 0);
    }

    #[test]
    fn server_starter_hostile() {
        ss_err(b";", "entry 1 is empty");
        ss_err(b"80=3;", "entry 2 is empty");
        ss_err(b"80=3;;81=4", "entry 2 is empty");
        ss_err(b"80", "no '=fd'");
        ss_err(b"=3", "empty address");
        ss_err(b"80=", "not a plain decimal fd");
        ss_err(b"80=-1", "not a plain decimal fd");
        ss_err(b"80=3x", "not a plain decimal fd");
        ss_err(b"80= 3", "not a plain decimal fd");
        ss_err(b"80=2147483648", "not a plain decimal fd");
        ss_err(b"80=99999999999999999999999", "not a plain decimal fd");
        ss_err(b"/tmp/a.sock=", "not a plain decimal fd");
        ss_err(b"70000=3", "above 65535");
        ss_err(b"127.0.0.1:70000=3", "above 65535");
        ss_err(b"[]:80=3", "empty IPv6 host");
        ss_err(b"80=3;81=3", "fd 3 is announced twice");
        ss_err(b"/a=4;/b=4", "fd 4 is announced twice");
        // Bytes that are not text do not panic anything.
        let _ = parse_server_starter_port(b"\xff\xfe=3");
    }

    /// The whole text and errno of every error the parsers give, one case
    /// per error site (and per reason a name or a key is refused).
    #[test]
    fn every_parser_error_in_full() {
        let pinned = |r: Result<()>, want: &str| {
            let e = r.expect_err(want);
            assert_eq!(e.message(), want);
            assert_eq!(e.errno.0, libc::EINVAL, "{}", want);
        };
        let sd = |pid: &str, fds: &str, names: Option<&str>| {
            parse_systemd(Some(pid.as_bytes()), Some(fds.as_bytes()), names.map(str::as_bytes), ME, 1000).map(drop)
        };
        pinned(sd("+1", "1", None), "LISTEN_PID=\"+1\": not a process id (a decimal number from 1 to 2147483647)");
        pinned(sd("4242", "1\n", None), "LISTEN_FDS=\"1\\x0a\": not a count of fds (a plain decimal number, no sign or spaces)");
        pinned(sd("4242", "1001", None), "LISTEN_FDS=1001: more fds than this process can have open (at most 1000)");
        pinned(
            parse_systemd(Some(b"1"), Some(b"2147483645"), None, 1, u32::MAX).map(drop),
            "LISTEN_FDS=2147483645: more fds than this process can have open (at most 2147483644)",
        );
        pinned(sd("4242", "2", Some("a:b:c")), "LISTEN_FDNAMES names 3 fds but LISTEN_FDS=2 announces 2: inconsistent, ignoring both");
        pinned(sd("4242", "0", Some("a")), "LISTEN_FDNAMES names 1 fds but LISTEN_FDS=0 announces 0: inconsistent, ignoring both");
        pinned(
            sd("4242", "2", Some("ok:a\"\\\u{1}")),
            "LISTEN_FDNAMES: name \"a\\\"\\\\\\x01\" of fd 4 contains a byte that is not printable ASCII",
        );
        let long = "n".repeat(256);
        pinned(
            sd("4242", "1", Some(&long)),
            &format!("LISTEN_FDNAMES: name \"{}...\" of fd 3 is longer than 255 bytes", "n".repeat(64)),
        );
        pinned(check_pidfdid(Some(b"0"), None).map(drop), "LISTEN_PIDFDID=\"0\": not a pidfd id (a decimal number from 1 to 2^64-1)");
        pinned(check_pidfdid(Some(b""), Some(1)).map(drop), "LISTEN_PIDFDID=\"\": not a pidfd id (a decimal number from 1 to 2^64-1)");
        let ss = |v: &[u8]| parse_server_starter_port(v).map(drop);
        pinned(ss(b"80=3;;81=4"), "SERVER_STARTER_PORT=\"80=3;;81=4\": entry 2 is empty");
        pinned(ss(b";"), "SERVER_STARTER_PORT=\";\": entry 1 is empty");
        pinned(ss(b"80=3;/a.sock"), "SERVER_STARTER_PORT: entry \"/a.sock\" has no '=fd'");
        pinned(ss(b"=3"), "SERVER_STARTER_PORT: entry \"=3\" has an empty address");
        pinned(ss(b"80=3x"), "SERVER_STARTER_PORT: entry \"80=3x\": fd \"3x\" is not a plain decimal fd number");
        pinned(ss(b"80=2147483648"), "SERVER_STARTER_PORT: entry \"80=2147483648\": fd \"2147483648\" is not a plain decimal fd number");
        pinned(ss(b"70000=3"), "SERVER_STARTER_PORT: entry \"70000=3\": port \"70000\" is above 65535");
        pinned(ss(b"h:99999999999=3"), "SERVER_STARTER_PORT: entry \"h:99999999999=3\": port \"99999999999\" is above 65535");
        pinned(ss(b"[::1]:65536=3"), "SERVER_STARTER_PORT: entry \"[::1]:65536=3\": port \"65536\" is above 65535");
        pinned(ss(b"[]:80=3"), "SERVER_STARTER_PORT: entry \"[]:80=3\": empty IPv6 host between brackets");
        pinned(ss(b"/a=4;80=5;/b=4"), "SERVER_STARTER_PORT: fd 4 is announced twice (for \"/a\" and \"/b\")");
        pinned(parse_server_starter_generation(b"-1").map(drop), "SERVER_STARTER_GENERATION=\"-1\": not a plain decimal number");
        pinned(validate_fdname(b""), "fd name \"\" is empty");
        pinned(validate_fdname(b"a:b"), "fd name \"a:b\" contains ':' (the LISTEN_FDNAMES separator)");
    }

    #[test]
    fn generation() {
        assert_eq!(parse_server_starter_generation(b"0").unwrap(), 0);
        assert_eq!(parse_server_starter_generation(b"17").unwrap(), 17);
        for bad in [&b""[..], b"-1", b"1x", b" 1"] {
            assert!(parse_server_starter_generation(bad).is_err());
        }
    }

    #[test]
    fn never_panics_on_noise() {
        let seeds: [&[u8]; 4] = [b"8000=3;[::1]:8=4;/a=b=5", b"a::b:c", b"4242", b"[x]:1=2;;=;"];
        let mut x: u32 = 7;
        for s in seeds {
            for _ in 0..3000 {
                let mut v = s.to_vec();
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                let i = (x as usize >> 8) % v.len();
                v[i] = (x >> 16) as u8;
                let _ = parse_server_starter_port(&v);
                let _ = parse_systemd(Some(&v), Some(&v), Some(&v), 1, 64);
                let _ = parse_systemd(Some(b"1"), Some(b"3"), Some(&v), 1, 64);
                agree(&v);
            }
        }
    }

    #[test]
    fn pidfdid_is_checked_strictly() {
        assert_eq!(check_pidfdid(None, Some(5)).unwrap(), PidfdId::Unset);
        assert_eq!(check_pidfdid(None, None).unwrap(), PidfdId::Unset);
        assert_eq!(check_pidfdid(Some(b"5"), Some(5)).unwrap(), PidfdId::Matches(5));
        assert_eq!(check_pidfdid(Some(b"5"), Some(6)).unwrap(), PidfdId::Other { announced: 5, ours: 6 });
        assert_eq!(check_pidfdid(Some(b"5"), None).unwrap(), PidfdId::Unverifiable(5));
        assert_eq!(check_pidfdid(Some(b"18446744073709551615"), None).unwrap(), PidfdId::Unverifiable(u64::MAX));
        for bad in ["", "0", "-5", "+5", " 5", "5 ", "5x", "0x5", "18446744073709551616", "1.0"] {
            let e = check_pidfdid(Some(bad.as_bytes()), Some(5)).expect_err(bad);
            assert_eq!(e.errno.0, libc::EINVAL, "{:?}", bad);
            assert!(e.message().contains("LISTEN_PIDFDID"), "{:?}", e.message());
        }
    }

    /// The load-time verdicts are the parsers' verdicts, for `v` in every
    /// position.
    fn agree(v: &[u8]) {
        let mut scanned = Vec::new();
        for_each_starter_fd(v, |fd| scanned.push(fd));
        if let Ok(entries) = parse_server_starter_port(v) {
            let fds: Vec<i32> = entries.iter().map(|e| e.fd).collect();
            assert_eq!(scanned, fds, "{:?}", Shown(v));
        }
        let fds = |r: Result<Systemd<'_>>| match r {
            Ok(Systemd::Fds { count, .. }) => Some(count),
            _ => None,
        };
        for (pid, n, names) in [(Some(v), Some(v), Some(v)), (Some(&b"1"[..]), Some(&b"3"[..]), Some(v)), (Some(b"1"), Some(v), None)] {
            assert_eq!(systemd_count(pid, n, names, 1, 64), fds(parse_systemd(pid, n, names, 1, 64)), "{:?}", Shown(v));
        }
        for ours in [None, Some(5)] {
            let allowed = matches!(check_pidfdid(Some(v), ours), Ok(PidfdId::Unset | PidfdId::Matches(_) | PidfdId::Unverifiable(_)));
            assert_eq!(pidfdid_allows(Some(v), ours), allowed, "{:?}", Shown(v));
        }
    }

    #[test]
    fn the_load_time_verdicts_agree_with_the_parsers() {
        let cases: [&[u8]; 22] = [
            b"", b"0", b"3", b"5", b"1", b"01", b"4294967296", b"a:b:c", b"a::c", b":", b"a:b\x01", b"8000=3",
            b"8000=3;8000=3", b"8000=3;8001=4", b"99999=3", b"[]:80=3", b"[::1]:80=3;/p=a=4", b"=3", b"80=", b"80=3;",
            b"host:80=3;u:1=2", b"a:b:c:d:e:f:g",
        ];
        for c in cases {
            agree(c);
        }
        assert!(!pidfdid_allows(Some(b"5"), Some(6)));
        assert_eq!(systemd_count(Some(b"1"), Some(b"2"), Some(b"a:b"), 1, 64), Some(2));
    }
}
