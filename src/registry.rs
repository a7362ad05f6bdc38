//! The process-wide registry of named fds: what this process inherited, what
//! it bound, and what it registered, so that an upgrade can hand all of it
//! down (see [`export_for_child`]).
//!
//! **Sources**, read once from the start-up environment (never getenv, never
//! setenv): systemd's `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` (also what
//! gracefd itself writes for a new generation or a superdaemon worker) and
//! Server::Starter's `SERVER_STARTER_PORT` (+ `SERVER_STARTER_GENERATION`).
//! Parsing rules: [`crate::proto::listen_env`]. [`init`] runs from the
//! start-up constructor, before `main`, so inherited fds are made CLOEXEC
//! before any thread could fork and exec.
//!
//! **Validation.** Every announced fd is checked before it is registered:
//!
//! - `LISTEN_FDS`: the fd must be open. Any kind of fd is accepted (systemd
//!   passes sockets of every type, FIFOs, and files or memfds from its fd
//!   store); its [`Kind`] is recorded and [`crate::listeners::listen`] refuses
//!   a kind that does not fit the address it is asked for.
//! - `SERVER_STARTER_PORT`: the fd must be 3 or above (0–2 are stdio), open,
//!   a socket of the family the key announces (IPv4 for `port`/`host:port`,
//!   IPv6 for `[host]:port`, unix for a path), a listening stream socket (or a
//!   UDP socket, since `start_server --port=uN` announces those with the same
//!   key form), bound to the announced port or path.
//!
//! A rejected fd is logged (a warning naming the variable and the fd), is not
//! registered, and is left exactly as it was: not closed, flags untouched. A
//! variable that does not parse is rejected as a whole, logged likewise. The
//! reason is also repeated in the `ENOENT` error of a lookup for that name.
//! Start-up warnings are kept until a log hook is registered and delivered on
//! the next registry call after that.
//!
//! **Ownership.** The registry owns one CLOEXEC fd per entry: for inherited
//! fds, the inherited fd itself (from start-up on, fds `3…` announced to this
//! process belong to the library; ask for a duplicate with
//! [`inherited`]); for registered ones, its own duplicate. Everything handed
//! out is a new duplicate that belongs to the caller. Duplicates share the
//! open file description, so `O_NONBLOCK` is shared state: nothing here
//! changes it.
//!
//! **Names.** Valid names follow systemd's `fdname_is_valid` (printable
//! ASCII, no `:`, at most 255 bytes; see [`validate_name`]). `unknown` is
//! systemd's name for an unnamed fd: Server::Starter entries are registered
//! under it, and [`crate::listeners::listen`] renames an `unknown` entry to
//! the name it is claimed with. Inherited names may repeat (one systemd socket
//! unit with several `Listen…=` lines passes one name several times).
//!
//! Thread-safe: one mutex, never held while calling out (log hooks run after it
//! is released). Never touched between fork and exec.

use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Msg, Result};
use crate::listeners::ListenKey;
use crate::proto::addr::Shown;
use crate::proto::listen_env::{self, StarterAddr, StarterEntry, Systemd, UNKNOWN};
use crate::sync::{Mutex, Once};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::socket;
use crate::{err, log};

/// What kind of fd an entry holds (the C ABI's `GRACEFD_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A listening TCP socket (IPv4 or IPv6).
    TcpListener = 1,
    /// A listening unix stream socket (path or abstract).
    UnixListener = 2,
    /// A UDP socket (IPv4 or IPv6).
    Udp = 3,
    /// Any other socket: a connected stream, a unix datagram socket, a stream
    /// socket that is not listening, netlink…
    Socket = 4,
    /// Not a socket: a regular file, a memfd, a pipe, a device.
    File = 5,
}

impl Kind {
    /// The `GRACEFD_KIND_*` value.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Words for messages: "a TCP listener".
    pub fn describe(self) -> &'static str {
        match self {
            Kind::TcpListener => "a listening TCP socket",
            Kind::UnixListener => "a listening unix stream socket",
            Kind::Udp => "a UDP socket",
            Kind::Socket => "a socket that is not a TCP/unix listener or a UDP socket",
            Kind::File => "not a socket",
        }
    }
}

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// systemd's `LISTEN_FDS` (or gracefd's, which is the same protocol).
    ListenFds,
    /// Server::Starter's `SERVER_STARTER_PORT`.
    ServerStarter,
    /// Received after start-up, by [`import`] (the hand-off).
    Imported,
    /// Registered by the program ([`add`]).
    Added,
    /// Bound by [`crate::listeners::listen`].
    Created,
}

impl Source {
    /// Inherited from a predecessor (announced at start-up or imported).
    pub fn inherited(self) -> bool {
        matches!(self, Source::ListenFds | Source::ServerStarter | Source::Imported)
    }

    /// Words for messages: the variable or function it came through.
    pub fn describe(self) -> &'static str {
        match self {
            Source::ListenFds => "LISTEN_FDS",
            Source::ServerStarter => "SERVER_STARTER_PORT",
            Source::Imported => "hand-off",
            Source::Added => "gracefd_add_fd",
            Source::Created => "gracefd_listen",
        }
    }
}

/// One fd to pass to a child, in the order of the registry (what an upgrade
/// puts at fds 3, 4, … with `LISTEN_FDNAMES` made of the names).
pub struct Exported {
    /// The entry's name (valid per [`validate_name`]).
    pub name: Vec<u8>,
    /// A fresh CLOEXEC duplicate, owned by the caller.
    pub fd: Fd,
}

/// What a caller may know about an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// The name (`unknown` if it has none).
    pub name: Vec<u8>,
    /// What the fd is.
    pub kind: Kind,
    /// Where it came from.
    pub source: Source,
    /// The registry's own fd number: borrowed, for display and matching only.
    pub raw: RawFd,
    /// Already handed to the program (by `listen`, `inherited`, or a claim).
    pub claimed: bool,
    /// For a Server::Starter entry: its key (`127.0.0.1:80`, `/path`); else empty.
    pub label: Vec<u8>,
}

pub(crate) struct Entry {
    pub(crate) name: Vec<u8>,
    pub(crate) fd: Fd,
    pub(crate) kind: Kind,
    pub(crate) source: Source,
    pub(crate) label: Vec<u8>,
    pub(crate) claimed: bool,
    /// The address `listen` was last called with for this entry.
    pub(crate) key: Option<ListenKey>,
}

impl Entry {
    fn info(&self) -> Info {
        Info {
            name: self.name.clone(),
            kind: self.kind,
            source: self.source,
            raw: self.fd.raw(),
            claimed: self.claimed,
            label: self.label.clone(),
        }
    }

    /// `fd 3 "web" (LISTEN_FDS)`, for messages.
    pub(crate) fn describe(&self) -> EntryShown<'_> {
        EntryShown(self)
    }
}

pub(crate) struct EntryShown<'a>(&'a Entry);

impl fmt::Display for EntryShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "fd {} {} ({}", e.fd.raw(), Shown(&e.name), e.source.describe())?;
        if !e.label.is_empty() {
            write!(f, " {}", Shown(&e.label))?;
        }
        f.write_str(")")
    }
}

/// An announced fd that was not registered, and why.
struct Rejected {
    name: Vec<u8>,
    fd: RawFd,
    var: &'static str,
    why: Msg,
}

/// Messages kept before anyone could listen.
const STARTUP_LOG_CAP: usize = 64;

pub(crate) struct Registry {
    pub(crate) entries: Vec<Entry>,
    rejected: Vec<Rejected>,
    /// Variables rejected as a whole (or ignored), with the reason.
    notes: Vec<Msg>,
    generation: Option<u32>,
    startup_log: Vec<(i32, Msg)>,
    /// Messages produced by the current operation, emitted after unlock.
    pub(crate) log: Vec<(i32, Msg)>,
    loading: bool,
}

/// The environment variables the registry reads.
#[derive(Clone, Copy, Default)]
pub(crate) struct EnvVars<'a> {
    pub(crate) listen_pid: Option<&'a [u8]>,
    pub(crate) listen_fds: Option<&'a [u8]>,
    pub(crate) listen_fdnames: Option<&'a [u8]>,
    pub(crate) server_starter_port: Option<&'a [u8]>,
    pub(crate) server_starter_generation: Option<&'a [u8]>,
}

impl Registry {
    pub(crate) const fn new() -> Registry {
        Registry {
            entries: Vec::new(),
            rejected: Vec::new(),
            notes: Vec::new(),
            generation: None,
            startup_log: Vec::new(),
            log: Vec::new(),
            loading: false,
        }
    }

    /// Queue a log message (delivered after the lock is released).
    pub(crate) fn log(&mut self, level: i32, args: fmt::Arguments<'_>) {
        let mut m = Msg::new();
        let _ = fmt::write(&mut m, args);
        if self.loading {
            if self.startup_log.len() < STARTUP_LOG_CAP {
                self.startup_log.push((level, m));
            }
        } else {
            self.log.push((level, m));
        }
    }

    /// Read the start-up announcements. `our_pid` is the pid the environment
    /// was captured in; `first_fd` is where `LISTEN_FDS` starts (3 except in
    /// tests); `max_fds` bounds `LISTEN_FDS`.
    pub(crate) fn load(&mut self, env: EnvVars<'_>, our_pid: i32, first_fd: RawFd, max_fds: u32) {
        self.loading = true;
        self.load_systemd(env, our_pid, first_fd, max_fds);
        self.load_server_starter(env);
        self.loading = false;
    }

    fn reject(&mut self, var: &'static str, name: &[u8], fd: RawFd, why: fmt::Arguments<'_>) {
        let mut m = Msg::new();
        let _ = fmt::write(&mut m, why);
        self.log(log::WARNING, format_args!("{}: fd {} {} rejected: {}; not inherited", var, fd, Shown(name), m.as_str()));
        self.rejected.push(Rejected { name: name.to_vec(), fd, var, why: m });
    }

    fn note(&mut self, level: i32, args: fmt::Arguments<'_>) {
        let mut m = Msg::new();
        let _ = fmt::write(&mut m, args);
        self.log(level, format_args!("{}", m.as_str()));
        self.notes.push(m);
    }

    fn load_systemd(&mut self, env: EnvVars<'_>, our_pid: i32, first_fd: RawFd, max_fds: u32) {
        let parsed = listen_env::parse_systemd(env.listen_pid, env.listen_fds, env.listen_fdnames, our_pid, max_fds);
        let sd = match parsed {
            Ok(sd) => sd,
            Err(e) => {
                self.note(log::WARNING, format_args!("{}; no fd inherited from LISTEN_FDS", e.message()));
                return;
            }
        };
        let count = match &sd {
            Systemd::Absent => return,
            Systemd::NotForUs { listen_pid: None } => {
                self.note(log::INFO, format_args!("LISTEN_FDS is set but LISTEN_PID is not: the fds are not for this process, ignored"));
                return;
            }
            Systemd::NotForUs { listen_pid: Some(p) } => {
                self.note(
                    log::INFO,
                    format_args!("LISTEN_PID={} is not this process ({}): LISTEN_FDS is not for us, ignored", p, our_pid),
                );
                return;
            }
            Systemd::Fds { count, missing_names, .. } => {
                if *missing_names > 0 {
                    self.log(
                        log::WARNING,
                        format_args!(
                            "LISTEN_FDNAMES names fewer fds than LISTEN_FDS={}: the last {} are named \"unknown\"",
                            count, missing_names
                        ),
                    );
                }
                *count
            }
        };
        for i in 0..count as usize {
            let raw = first_fd.saturating_add(i as RawFd);
            let name = sd.name_of(i);
            if let Err(e) = fd::get_fd_flags(raw) {
                let why = if e.0 == libc::EBADF { "it is not open" } else { e.describe() };
                self.reject("LISTEN_FDS", name, raw, format_args!("{}", why));
                continue;
            }
            let kind = match classify(raw) {
                Ok(k) => k,
                Err(e) => {
                    self.reject("LISTEN_FDS", name, raw, format_args!("cannot inspect it: {}", e));
                    continue;
                }
            };
            if let Err(e) = fd::set_cloexec(raw, true) {
                self.reject("LISTEN_FDS", name, raw, format_args!("cannot set FD_CLOEXEC: {}", e));
                continue;
            }
            // SAFETY: announced to this process by LISTEN_FDS/LISTEN_PID, checked
            // open; from now on the registry is its only owner (documented).
            let fd = unsafe { Fd::from_raw(raw) };
            self.entries.push(Entry {
                name: name.to_vec(),
                fd,
                kind,
                source: Source::ListenFds,
                label: Vec::new(),
                claimed: false,
                key: None,
            });
        }
    }

    fn load_server_starter(&mut self, env: EnvVars<'_>) {
        if let Some(g) = env.server_starter_generation {
            match listen_env::parse_server_starter_generation(g) {
                Ok(v) => self.generation = Some(v),
                Err(e) => self.note(log::WARNING, format_args!("{}; ignored", e.message())),
            }
        }
        let Some(value) = env.server_starter_port else { return };
        let parsed = match listen_env::parse_server_starter_port(value) {
            Ok(v) => v,
            Err(e) => {
                self.note(log::WARNING, format_args!("{}; no fd inherited from SERVER_STARTER_PORT", e.message()));
                return;
            }
        };
        for entry in parsed {
            self.adopt_starter(&entry);
        }
    }

    fn adopt_starter(&mut self, entry: &StarterEntry<'_>) {
        const VAR: &str = "SERVER_STARTER_PORT";
        let raw = entry.fd;
        let key = entry.key;
        if raw < 3 {
            let which = match raw {
                0 => "stdin",
                1 => "stdout",
                _ => "stderr",
            };
            self.reject(VAR, key, raw, format_args!("fd {} is {}, never a listener", raw, which));
            return;
        }
        if !fd::is_open(raw) {
            self.reject(VAR, key, raw, format_args!("it is not open"));
            return;
        }
        let kind = match check_starter(entry) {
            Ok(k) => k,
            Err(e) => {
                self.reject(VAR, key, raw, format_args!("{}", e.message()));
                return;
            }
        };
        // Announced by LISTEN_FDS too (the gracefd superdaemon writes both):
        // one entry, the LISTEN_FDS name.
        if let Some(existing) = self.entries.iter_mut().find(|e| e.fd.raw() == raw) {
            existing.label = key.to_vec();
            return;
        }
        if let Err(e) = fd::set_cloexec(raw, true) {
            self.reject(VAR, key, raw, format_args!("cannot set FD_CLOEXEC: {}", e));
            return;
        }
        // SAFETY: announced to this process by SERVER_STARTER_PORT, checked to be
        // the socket announced, not registered yet; the registry now owns it.
        let fd = unsafe { Fd::from_raw(raw) };
        self.entries.push(Entry {
            name: UNKNOWN.to_vec(),
            fd,
            kind,
            source: Source::ServerStarter,
            label: key.to_vec(),
            claimed: false,
            key: None,
        });
    }

    /// The reason a name is not (or no longer) here, for ENOENT messages.
    fn why_missing(&self, name: &[u8]) -> Msg {
        let mut m = Msg::new();
        if let Some(r) = self.rejected.iter().find(|r| r.name == name) {
            let _ = fmt::write(&mut m, format_args!("; {} fd {} was rejected: {}", r.var, r.fd, r.why.as_str()));
        } else if let Some(n) = self.notes.first() {
            let _ = fmt::write(&mut m, format_args!("; {}", n.as_str()));
        }
        m
    }

    pub(crate) fn inherited(&mut self, name: &[u8]) -> Result<Fd> {
        let pick = self
            .entries
            .iter()
            .position(|e| e.source.inherited() && !e.claimed && e.name == name)
            .or_else(|| self.entries.iter().position(|e| e.source.inherited() && e.name == name));
        let Some(i) = pick else {
            let why = self.why_missing(name);
            return Err(err!(ENOENT, "no inherited fd named {}{}", Shown(name), why.as_str()));
        };
        self.claim_index(i)
    }

    fn claim_index(&mut self, i: usize) -> Result<Fd> {
        let e = self.entries.get_mut(i).ok_or_else(|| err!(ENOENT, "no registry entry {}", i))?;
        let dup = e.fd.try_clone().map_err(|er| Error::sys(er, "duplicating a registry fd"))?;
        e.claimed = true;
        Ok(dup)
    }

    fn inherited_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().enumerate().filter(|(_, e)| e.source.inherited()).map(|(i, _)| i)
    }

    pub(crate) fn add(&mut self, name: &[u8], raw: RawFd) -> Result<()> {
        validate_name(name)?;
        if name == UNKNOWN {
            return Err(err!(EINVAL, "fd name \"unknown\" is systemd's name for an unnamed fd: give it a name"));
        }
        if let Some(e) = self.entries.iter().find(|e| e.name == name) {
            return Err(err!(EEXIST, "fd name {} is already registered ({})", Shown(name), e.describe()));
        }
        let fd = fd::dup_cloexec(raw).map_err(|er| {
            if er.0 == libc::EBADF {
                err!(EBADF, "fd {} for {} is not open", raw, Shown(name))
            } else {
                Error::sys(er, "duplicating the fd")
            }
        })?;
        let kind = classify(fd.raw()).map_err(|er| Error::sys(er, "inspecting the fd"))?;
        self.entries.push(Entry { name: name.to_vec(), fd, kind, source: Source::Added, label: Vec::new(), claimed: true, key: None });
        Ok(())
    }

    pub(crate) fn import(&mut self, name: &[u8], fd: Fd) -> Result<()> {
        validate_name(name)?;
        fd::set_cloexec(fd.raw(), true).map_err(|er| Error::sys(er, "setting FD_CLOEXEC"))?;
        let kind = classify(fd.raw()).map_err(|er| Error::sys(er, "inspecting the fd"))?;
        self.entries.push(Entry {
            name: name.to_vec(),
            fd,
            kind,
            source: Source::Imported,
            label: Vec::new(),
            claimed: false,
            key: None,
        });
        Ok(())
    }

    pub(crate) fn forget(&mut self, name: &[u8]) -> Result<usize> {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        let n = before - self.entries.len();
        if n == 0 {
            return Err(err!(ENOENT, "no fd named {} is registered", Shown(name)));
        }
        Ok(n)
    }

    pub(crate) fn close_unclaimed(&mut self) -> usize {
        let mut closed: Vec<Msg> = Vec::new();
        self.entries.retain(|e| {
            let drop_it = e.source.inherited() && !e.claimed;
            if drop_it {
                let mut m = Msg::new();
                let _ = fmt::write(&mut m, format_args!("closing unclaimed inherited {}", e.describe()));
                closed.push(m);
            }
            !drop_it
        });
        let n = closed.len();
        for m in closed {
            self.log(log::INFO, format_args!("{}", m.as_str()));
        }
        n
    }

    pub(crate) fn export(&self) -> Result<Vec<Exported>> {
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let fd = e.fd.try_clone().map_err(|er| Error::sys(er, "duplicating a registry fd for the child"))?;
            out.push(Exported { name: e.name.clone(), fd });
        }
        Ok(out)
    }
}

/// What kind of fd `raw` is (fstat, then the socket's domain, type, protocol
/// and `SO_ACCEPTCONN`).
pub(crate) fn classify(raw: RawFd) -> crate::sys::SysResult<Kind> {
    let st = fd::fstat(raw)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Ok(Kind::File);
    }
    let domain = socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let ty = socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_TYPE)?;
    let proto = socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
    let listening = socket::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0;
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    Ok(match ty {
        libc::SOCK_STREAM if inet && proto == libc::IPPROTO_TCP && listening => Kind::TcpListener,
        libc::SOCK_STREAM if domain == libc::AF_UNIX && listening => Kind::UnixListener,
        libc::SOCK_DGRAM if inet && proto == libc::IPPROTO_UDP => Kind::Udp,
        _ => Kind::Socket,
    })
}

/// Check a Server::Starter fd is the socket its key announces.
fn check_starter(entry: &StarterEntry<'_>) -> Result<Kind> {
    let raw = entry.fd;
    let kind = classify(raw).map_err(|e| Error::sys(e, "cannot inspect it"))?;
    if kind == Kind::File {
        return Err(err!(ENOTSOCK, "it is not a socket"));
    }
    let bound = socket::getsockname(raw).map_err(|e| Error::sys(e, "getsockname"))?;
    let (want_family, family_name) = match entry.addr {
        StarterAddr::Inet4 { .. } => (libc::AF_INET, "an IPv4"),
        StarterAddr::Inet6 { .. } => (libc::AF_INET6, "an IPv6"),
        StarterAddr::Path(_) => (libc::AF_UNIX, "a unix"),
    };
    if bound.family() != want_family {
        return Err(err!(EPROTOTYPE, "the key announces {} socket, the fd is of another family", family_name));
    }
    match entry.addr {
        StarterAddr::Inet4 { port, .. } | StarterAddr::Inet6 { port, .. } => {
            if kind != Kind::TcpListener && kind != Kind::Udp {
                return Err(err!(EPROTOTYPE, "the key announces a listener, the fd is {}", kind.describe()));
            }
            let got = bound.port().unwrap_or(0);
            if port != 0 && got != port {
                return Err(err!(EPROTOTYPE, "the key announces port {}, the socket is bound to port {}", port, got));
            }
        }
        StarterAddr::Path(path) => {
            if kind != Kind::UnixListener {
                return Err(err!(EPROTOTYPE, "the key announces a unix listener, the fd is {}", kind.describe()));
            }
            let got = bound.unix_path().unwrap_or(&[]);
            if got != path {
                return Err(err!(EPROTOTYPE, "the socket is bound to {}, not to the path announced", Shown(got)));
            }
        }
    }
    Ok(kind)
}

/// Check a name for the registry (and for `LISTEN_FDNAMES`): printable ASCII,
/// no `:`, 1 to 255 bytes. `EINVAL` with the reason otherwise. The hand-off
/// and the superdaemon use this for every name they accept.
pub fn validate_name(name: &[u8]) -> Result<()> {
    match listen_env::fdname_problem(name) {
        None => Ok(()),
        Some(why) => Err(err!(EINVAL, "fd name {} {}", Shown(name), why)),
    }
}

// ---- the process-wide instance ---------------------------------------------

static REG: Mutex<Registry> = Mutex::new(Registry::new());
static INIT: Once = Once::new();

/// The largest `LISTEN_FDS` worth considering: fds above the open-files limit
/// cannot be open.
fn max_listen_fds() -> u32 {
    match crate::sys::process::getrlimit(libc::RLIMIT_NOFILE) {
        Ok(l) => u32::try_from(l.rlim_cur).unwrap_or(u32::MAX).saturating_sub(listen_env::LISTEN_FDS_START as u32),
        Err(_) => 1 << 20,
    }
}

/// Read the start-up environment into the registry, once; later calls do
/// nothing. Called by the start-up constructor after the snapshot is stored
/// (so inherited fds are CLOEXEC before `main`), and by every registry
/// function, so it also works when the constructor did not run.
pub fn init() {
    INIT.call(|| {
        let st = crate::startup::get();
        let env = EnvVars {
            listen_pid: st.var(b"LISTEN_PID"),
            listen_fds: st.var(b"LISTEN_FDS"),
            listen_fdnames: st.var(b"LISTEN_FDNAMES"),
            server_starter_port: st.var(b"SERVER_STARTER_PORT"),
            server_starter_generation: st.var(b"SERVER_STARTER_GENERATION"),
        };
        let mut reg = Registry::new();
        reg.load(env, st.pid, listen_env::LISTEN_FDS_START, max_listen_fds());
        // Nobody else locks REG before INIT completes: every path calls init() first.
        *REG.lock() = reg;
    });
}

/// Run `f` on the registry (initialised), then deliver the log messages it
/// produced, after the lock is released (a hook may call back in).
pub(crate) fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    init();
    // A hook is registered (at any level): the start-up messages can go out.
    let hooked = log::enabled(0);
    let (r, msgs) = {
        let mut reg = REG.lock();
        let r = f(&mut reg);
        let mut msgs = core::mem::take(&mut reg.log);
        if hooked && !reg.startup_log.is_empty() {
            let mut early = core::mem::take(&mut reg.startup_log);
            early.append(&mut msgs);
            msgs = early;
        }
        (r, msgs)
    };
    for (level, m) in msgs {
        log!(level, "{}", m.as_str());
    }
    r
}

/// A duplicate of an inherited fd (announced at start-up or imported) named
/// `name`; the entry becomes claimed. With several of that name, an unclaimed
/// one first, in registry order. `ENOENT` if there is none (the message says
/// why when it was announced but rejected); `EINVAL` for an invalid name;
/// `EMFILE`… if the duplicate fails.
pub fn inherited(name: &[u8]) -> Result<Fd> {
    validate_name(name)?;
    with(|r| r.inherited(name))
}

/// Register `fd` (borrowed: the registry keeps its own CLOEXEC duplicate)
/// under `name`, so that an upgrade hands it down. `EINVAL`: invalid name, or
/// `unknown`; `EEXIST`: the name is taken; `EBADF`: `fd` is not open.
pub fn add(name: &[u8], fd: RawFd) -> Result<()> {
    with(|r| r.add(name, fd))
}

/// Register an fd received after start-up (the hand-off), taking ownership;
/// it counts as inherited (unclaimed until the program asks for it). Its kind
/// is read from the fd. `EINVAL` for an invalid name. Names may repeat.
pub fn import(name: &[u8], fd: Fd) -> Result<()> {
    with(|r| r.import(name, fd))
}

/// Remove every entry named `name`, closing the registry's fds (duplicates
/// the program holds stay open; a unix socket's file is not removed). Returns
/// how many were removed; `ENOENT` if none; `EINVAL` for an invalid name.
pub fn forget(name: &[u8]) -> Result<usize> {
    validate_name(name)?;
    with(|r| r.forget(name))
}

/// Close every inherited entry the program has not claimed; returns how many.
pub fn close_unclaimed() -> usize {
    with(|r| r.close_unclaimed())
}

/// The inherited entries, in registry order.
pub fn inherited_entries() -> Vec<Info> {
    with(|r| r.entries.iter().filter(|e| e.source.inherited()).map(Entry::info).collect())
}

/// Every entry, in registry order (what [`export_for_child`] would pass).
pub fn entries() -> Vec<Info> {
    with(|r| r.entries.iter().map(Entry::info).collect())
}

/// How many inherited entries there are (announced at start-up or imported,
/// claimed or not, and not forgotten or closed).
pub fn inherited_count() -> usize {
    with(|r| r.inherited_indices().count())
}

/// The `index`-th inherited entry (as in [`inherited_entries`]) and, if
/// `claim`, a duplicate of its fd (the entry becomes claimed; `info.claimed`
/// tells whether it was before). `ENOENT` if there is no such entry;
/// `ERANGE` (before anything is claimed) if its name is longer than
/// `max_name` bytes.
pub fn inherited_at(index: usize, claim: bool, max_name: usize) -> Result<(Info, Option<Fd>)> {
    with(|r| {
        let count = r.inherited_indices().count();
        let i = r
            .inherited_indices()
            .nth(index)
            .ok_or_else(|| err!(ENOENT, "no inherited entry at index {} (there are {})", index, count))?;
        let info = r.entries.get(i).map(Entry::info).ok_or_else(|| err!(ENOENT, "no inherited entry at index {}", index))?;
        if info.name.len() > max_name {
            return Err(err!(
                ERANGE,
                "the name of inherited entry {} is {} bytes; the buffer holds {} and a NUL",
                index,
                info.name.len(),
                max_name
            ));
        }
        let fd = if claim { Some(r.claim_index(i)?) } else { None };
        Ok((info, fd))
    })
}

/// Fresh CLOEXEC duplicates of every registered entry (inherited, added and
/// created alike), in registry order, for a child: it gets `out[i].fd` at fd
/// `3 + i` and `out[i].name` as the `i`-th name of `LISTEN_FDNAMES`.
pub fn export_for_child() -> Result<Vec<Exported>> {
    with(|r| r.export())
}

/// `SERVER_STARTER_GENERATION` as announced at start-up (None if unset or malformed).
pub fn server_starter_generation() -> Option<u32> {
    with(|r| r.generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::socket::SockAddr;

    fn tcp_listener() -> Fd {
        let s = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        socket::bind(s.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
        socket::listen(s.raw(), 8).unwrap();
        s
    }

    fn udp() -> Fd {
        let s = socket::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
        socket::bind(s.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
        s
    }

    /// Place `fds` at `base..` (CLOEXEC cleared, as a parent would pass them);
    /// the test owns nothing there afterwards (the registry will).
    fn place(fds: &[&Fd], base: RawFd) {
        for (i, f) in fds.iter().enumerate() {
            fd::dup2(f.raw(), base + i as RawFd).unwrap();
        }
    }

    fn env<'a>(pid: &'a str, fds: &'a str, names: Option<&'a str>) -> EnvVars<'a> {
        EnvVars {
            listen_pid: Some(pid.as_bytes()),
            listen_fds: Some(fds.as_bytes()),
            listen_fdnames: names.map(str::as_bytes),
            ..EnvVars::default()
        }
    }

    #[test]
    fn systemd_fds_are_validated_and_made_cloexec() {
        let base = 820;
        let (t, u) = (tcp_listener(), udp());
        let (p, _w) = fd::pipe().unwrap();
        place(&[&t, &u, &p], base);
        fd::close(base + 3); // announced but closed
        let mut r = Registry::new();
        r.load(env("77", "4", Some("web:dns:state:gone")), 77, base, 1000);
        let kinds: Vec<_> = r.entries.iter().map(|e| (e.name.clone(), e.kind, e.fd.raw())).collect();
        assert_eq!(
            kinds,
            vec![
                (b"web".to_vec(), Kind::TcpListener, base),
                (b"dns".to_vec(), Kind::Udp, base + 1),
                (b"state".to_vec(), Kind::File, base + 2)
            ]
        );
        for e in &r.entries {
            assert!(fd::is_cloexec(e.fd.raw()).unwrap());
            assert!(e.source.inherited() && !e.claimed);
        }
        let warn: Vec<_> = r.startup_log.iter().map(|(_, m)| m.as_str().to_string()).collect();
        assert!(warn.iter().any(|m| m.contains("LISTEN_FDS: fd 823 \"gone\" rejected: it is not open")), "{:?}", warn);
        let e = r.inherited(b"gone").unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        assert!(e.message().contains("LISTEN_FDS fd 823 was rejected: it is not open"), "{}", e);
        // Claiming gives a CLOEXEC duplicate of the same socket.
        let d = r.inherited(b"web").unwrap();
        assert!(fd::is_cloexec(d.raw()).unwrap());
        assert_eq!(fd::fstat(d.raw()).unwrap().st_ino, fd::fstat(base).unwrap().st_ino);
        assert!(r.entries[0].claimed);
        assert_eq!(r.close_unclaimed(), 2);
        assert!(!fd::is_open(base + 1) && !fd::is_open(base + 2) && fd::is_open(base));
    }

    #[test]
    fn systemd_not_for_us_or_malformed_touches_nothing() {
        let base = 840;
        let t = tcp_listener();
        place(&[&t], base);
        for (pid, fds, names) in
            [("78", "1", None), ("77", "-1", None), ("77", "1x", None), ("77", "1", Some("a:b")), ("77", "5000", None)]
        {
            let mut r = Registry::new();
            r.load(env(pid, fds, names), 77, base, 1000);
            assert!(r.entries.is_empty(), "{} {} {:?}", pid, fds, names);
            assert!(!fd::is_cloexec(base).unwrap(), "fd flags touched for {} {}", pid, fds);
            assert!(!r.notes.is_empty());
            let e = r.inherited(b"a").unwrap_err();
            assert!(e.message().contains("LISTEN_"), "{}", e);
        }
        fd::close(base);
    }

    #[test]
    fn server_starter_checks_the_announced_socket() {
        let (t, u) = (tcp_listener(), udp());
        let (p, _w) = fd::pipe().unwrap();
        let tport = socket::getsockname(t.raw()).unwrap().port().unwrap();
        let uport = socket::getsockname(u.raw()).unwrap().port().unwrap();
        let other = tcp_listener();
        let value = format!(
            "127.0.0.1:{tp}={t};{up}={u};80={p};[::1]:{tp}={o};/x.sock={o2};1=0;1={closed};127.0.0.1:{tp2}={o3}",
            tp = tport,
            t = t.raw(),
            up = uport,
            u = u.raw(),
            p = p.raw(),
            o = other.raw(),
            o2 = t.raw() + 10000,
            closed = 9999,
            tp2 = tport.wrapping_add(1),
            o3 = other.raw(),
        );
        // fd o is announced twice: a parse error. Split the cases.
        let bad = value.replace(&format!(";127.0.0.1:{}={}", tport.wrapping_add(1), other.raw()), "");
        let mut r = Registry::new();
        r.load(EnvVars { server_starter_port: Some(bad.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
        let got: Vec<_> = r.entries.iter().map(|e| (e.fd.raw(), e.kind)).collect();
        assert_eq!(got, vec![(t.raw(), Kind::TcpListener), (u.raw(), Kind::Udp)]);
        assert!(r.entries.iter().all(|e| e.name == UNKNOWN && e.source == Source::ServerStarter));
        let why: Vec<_> = r.rejected.iter().map(|x| (x.fd, x.why.as_str().to_string())).collect();
        assert!(why.iter().any(|(f, w)| *f == p.raw() && w.contains("not a socket")), "{:?}", why);
        assert!(why.iter().any(|(f, w)| *f == other.raw() && w.contains("IPv6")), "{:?}", why);
        assert!(why.iter().any(|(f, w)| *f == 0 && w.contains("stdin")), "{:?}", why);
        assert!(why.iter().any(|(f, w)| *f == 9999 && w.contains("not open")), "{:?}", why);
        // The registry took ownership of the accepted ones; give them back.
        for e in core::mem::take(&mut r.entries) {
            let _ = e.fd.into_raw();
        }
        // Wrong port.
        let v = format!("127.0.0.1:{}={}", tport.wrapping_add(1), other.raw());
        let mut r = Registry::new();
        r.load(EnvVars { server_starter_port: Some(v.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
        assert!(r.entries.is_empty());
        assert!(r.rejected[0].why.as_str().contains("bound to port"), "{}", r.rejected[0].why.as_str());
        // Malformed: nothing at all.
        let v = format!("127.0.0.1:{}={};x={}", tport, t.raw(), t.raw());
        let mut r = Registry::new();
        r.load(EnvVars { server_starter_port: Some(v.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
        assert!(r.entries.is_empty());
        assert!(r.notes[0].as_str().contains("announced twice"));
    }

    #[test]
    fn both_protocols_for_one_fd_make_one_entry() {
        let base = 860;
        let t = tcp_listener();
        let port = socket::getsockname(t.raw()).unwrap().port().unwrap();
        place(&[&t], base);
        let ss = format!("127.0.0.1:{}={}", port, base);
        let mut r = Registry::new();
        let mut e = env("5", "1", Some("web"));
        e.server_starter_port = Some(ss.as_bytes());
        e.server_starter_generation = Some(b"3");
        r.load(e, 5, base, 100);
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].name, b"web");
        assert_eq!(r.entries[0].label, format!("127.0.0.1:{}", port).into_bytes());
        assert_eq!(r.generation, Some(3));
    }

    #[test]
    fn add_import_forget_export() {
        let mut r = Registry::new();
        let t = tcp_listener();
        r.add(b"mine", t.raw()).unwrap();
        assert_eq!(r.add(b"mine", t.raw()).unwrap_err().errno.0, libc::EEXIST);
        assert_eq!(r.add(b"unknown", t.raw()).unwrap_err().errno.0, libc::EINVAL);
        assert_eq!(r.add(b"bad:name", t.raw()).unwrap_err().errno.0, libc::EINVAL);
        assert_eq!(r.add(b"closed", 12345).unwrap_err().errno.0, libc::EBADF);
        let (p, _w) = fd::pipe().unwrap();
        r.import(b"state", p).unwrap();
        r.import(b"state", udp()).unwrap();
        assert_eq!(r.entries.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![Kind::TcpListener, Kind::File, Kind::Udp]);
        let x = r.export().unwrap();
        assert_eq!(x.iter().map(|e| e.name.clone()).collect::<Vec<_>>(), vec![b"mine".to_vec(), b"state".to_vec(), b"state".to_vec()]);
        for (e, ent) in x.iter().zip(&r.entries) {
            assert!(fd::is_cloexec(e.fd.raw()).unwrap());
            assert_ne!(e.fd.raw(), ent.fd.raw());
            assert_eq!(fd::fstat(e.fd.raw()).unwrap().st_ino, fd::fstat(ent.fd.raw()).unwrap().st_ino);
        }
        assert_eq!(r.forget(b"state").unwrap(), 2);
        assert_eq!(r.forget(b"state").unwrap_err().errno.0, libc::ENOENT);
        // add() registered a dup: the caller's fd is still its own.
        drop(r);
        assert!(fd::is_open(t.raw()));
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name(b"web").is_ok());
        for bad in [&b""[..], b"a:b", b"a\nb", &[b'x'; 256]] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.errno.0, libc::EINVAL);
            assert!(e.message().starts_with("fd name"));
        }
    }
}
