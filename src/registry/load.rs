//! Loading the start-up announcements (`LISTEN_FDS`, `SERVER_STARTER_PORT`):
//! every announced fd is validated before it is registered; a rejected one
//! is logged, kept for the `ENOENT` message of a lookup, and left untouched.

use core::fmt;

use super::entry::{Entry, Source};
use super::fd_kind::{classify, FdKind};
use super::table::{Registry, Rejected};
use crate::error::Msg;
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::proto::listen_env::{self, Announced, PidfdId, Refusal, StarterAddr, StarterEntry, UNKNOWN};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::socket::{self, SockAddr};
use crate::sys::Errno;
use crate::log;

/// The environment variables the registry reads.
#[derive(Clone, Copy, Default)]
pub(crate) struct EnvVars<'a> {
    pub(crate) listen_pid: Option<&'a [u8]>,
    pub(crate) listen_fds: Option<&'a [u8]>,
    pub(crate) listen_fdnames: Option<&'a [u8]>,
    pub(crate) listen_pidfdid: Option<&'a [u8]>,
    /// This process's pidfd id (`sys::process::own_pidfd_id`), `None` when
    /// the kernel cannot tell (or `LISTEN_PIDFDID` is unset: not needed).
    pub(crate) our_pidfd_id: Option<u64>,
    pub(crate) server_starter_port: Option<&'a [u8]>,
    pub(crate) server_starter_generation: Option<&'a [u8]>,
    /// `LISTEN_FDS` fds the constructor already found open, classified and
    /// made CLOEXEC (`at_load.rs`), in fd order: not inspected again.
    pub(crate) protected: &'a [(RawFd, FdKind)],
    /// `SERVER_STARTER_PORT` fds the constructor made CLOEXEC (`at_load.rs`):
    /// the flag goes back on each one the load rejects.
    pub(crate) starter_marks: &'a [StarterMark],
}

/// A `SERVER_STARTER_PORT` fd the constructor made CLOEXEC: whether it was
/// CLOEXEC already, and which file it was then (device and inode), so the
/// flag is put back only on that file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StarterMark {
    pub(crate) fd: RawFd,
    pub(crate) was_cloexec: bool,
    pub(crate) dev: libc::dev_t,
    pub(crate) ino: libc::ino_t,
}

impl Registry {
    /// Read the start-up announcements. `our_pid` is the pid the environment
    /// was captured in; `first_fd` is where `LISTEN_FDS` starts (3 except in
    /// tests); `max_fds` bounds `LISTEN_FDS`.
    pub(crate) fn load(&mut self, env: EnvVars<'_>, our_pid: i32, first_fd: RawFd, max_fds: u32) {
        self.loading = true;
        self.load_systemd(env, our_pid, first_fd, max_fds);
        self.load_server_starter(env);
        self.undo_starter_marks(env.starter_marks);
        self.loading = false;
    }

    /// Put back the flag the constructor set on a `SERVER_STARTER_PORT` fd
    /// that was not adopted, if it is still the same file.
    fn undo_starter_marks(&self, marks: &[StarterMark]) {
        for m in marks {
            if m.was_cloexec || self.entries.iter().any(|e| e.fd.raw() == m.fd) {
                continue;
            }
            if fd::fstat(m.fd).is_ok_and(|st| st.st_dev == m.dev && st.st_ino == m.ino) {
                let _ = fd::set_cloexec(m.fd, false);
            }
        }
    }

    /// Record (and log) that announced fd `fd` is not adopted, and why.
    /// One out-of-line function: each caller passes a small [`Refusal`],
    /// not a message of its own.
    #[inline(never)]
    fn reject(&mut self, var: &'static str, name: &[u8], fd: RawFd, why: Refusal<'_>) {
        let mut m = Msg::new();
        let _ = fmt::write(&mut m, format_args!("{}", why));
        self.log(log::WARNING, format_args!("{}: fd {} {} rejected: {}; not inherited", Plain(var), fd, Shown(name), Plain(m.as_str())));
        self.rejected.push(Rejected { name: name.to_vec(), fd, var, why: m });
    }

    /// Log `words` then `tail`, and if `keep`, keep the line as a note: the
    /// one site that words what the load says about a variable.
    #[inline(never)]
    fn tell(&mut self, level: i32, keep: bool, words: &Refusal<'_>, tail: &'static str) {
        let mut m = Msg::new();
        let _ = fmt::write(&mut m, format_args!("{}{}", words, Plain(tail)));
        self.log(level, format_args!("{}", Plain(m.as_str())));
        if keep {
            self.notes.push(m);
        }
    }

    /// Note that a variable is refused as a whole (`tail` says which), and why.
    fn refuse(&mut self, why: &Refusal<'_>, tail: &'static str) {
        self.tell(log::WARNING, true, why, tail);
    }

    /// [`Registry::tell`] a message made from a template with two numbers
    /// ([`Refusal`]'s marks `{n}` and `{m}`).
    #[inline(never)]
    fn say(&mut self, level: i32, keep: bool, text: &'static str, n: u64, m: u64) {
        self.tell(level, keep, &Refusal::new(text, &[], &[], n, m), "");
    }

    fn load_systemd(&mut self, env: EnvVars<'_>, our_pid: i32, first_fd: RawFd, max_fds: u32) {
        let parsed = listen_env::systemd_checked(env.listen_pid, env.listen_fds, env.listen_fdnames, our_pid, max_fds);
        let sd = match parsed {
            Ok(sd) => sd,
            Err(why) => return self.refuse(&why, NO_LISTEN_FDS),
        };
        let (count, mut names) = match sd {
            Announced::Absent => return,
            Announced::NotForUs(None) => {
                let text = "LISTEN_FDS is set but LISTEN_PID is not: the fds are not for this process, ignored";
                return self.say(log::INFO, true, text, 0, 0);
            }
            Announced::NotForUs(Some(p)) => {
                let text = "LISTEN_PID={n} is not this process ({m}): LISTEN_FDS is not for us, ignored";
                return self.say(log::INFO, true, text, p as u64, our_pid as u64);
            }
            Announced::Fds { count, names, missing_names } => {
                match listen_env::pidfdid(env.listen_pidfdid, env.our_pidfd_id) {
                    Ok(PidfdId::Unset) | Ok(PidfdId::Matches(_)) => {}
                    Ok(PidfdId::Other { announced, ours }) => {
                        let text = "LISTEN_PIDFDID={n} is not this process (pidfd id {m}; its pid was reused): LISTEN_FDS is not for us, ignored";
                        return self.say(log::INFO, true, text, announced, ours);
                    }
                    Ok(PidfdId::Unverifiable(id)) => {
                        let text = "LISTEN_PIDFDID={n}: this kernel cannot tell our pidfd id; LISTEN_PID alone decides";
                        self.say(log::DEBUG, false, text, id, 0);
                    }
                    Err(why) => return self.refuse(&why, NO_LISTEN_FDS),
                }
                if missing_names > 0 {
                    let text = "LISTEN_FDNAMES names fewer fds than LISTEN_FDS={n}: the last {m} are named \"unknown\"";
                    self.say(log::WARNING, false, text, count.into(), missing_names as u64);
                }
                (count, names)
            }
        };
        for i in 0..count as usize {
            let raw = first_fd.saturating_add(i as RawFd);
            let name = names.next_name();
            let seen = env.protected.binary_search_by_key(&raw, |p| p.0).ok().and_then(|j| env.protected.get(j));
            let kind = match seen {
                Some(&(_, kind)) => kind,
                None => match self.check_systemd_fd(name, raw) {
                    Some(kind) => kind,
                    None => continue,
                },
            };
            // SAFETY: announced to this process by LISTEN_FDS/LISTEN_PID, checked
            // open; from now on the registry is its only owner (documented).
            let fd = unsafe { Fd::from_raw(raw) };
            self.adopt(name, fd, kind, Source::ListenFds, &[]);
        }
    }

    /// Whether announced fd `raw` can be adopted (open, inspectable, made
    /// CLOEXEC), and its kind; if not, the rejection is recorded.
    fn check_systemd_fd(&mut self, name: &[u8], raw: RawFd) -> Option<FdKind> {
        let kind = match classify(raw) {
            Ok(k) => k,
            Err(e) if e.0 == libc::EBADF => {
                self.reject("LISTEN_FDS", name, raw, says("it is not open"));
                return None;
            }
            Err(e) => {
                self.reject("LISTEN_FDS", name, raw, failed("cannot inspect it: {e}", e));
                return None;
            }
        };
        if let Err(e) = fd::set_cloexec(raw, true) {
            self.reject("LISTEN_FDS", name, raw, failed(CLOEXEC_FAILED, e));
            return None;
        }
        Some(kind)
    }

    fn load_server_starter(&mut self, env: EnvVars<'_>) {
        if let Some(g) = env.server_starter_generation {
            match listen_env::server_starter_generation(g) {
                Ok(v) => self.generation = Some(v),
                Err(why) => self.tell(log::WARNING, true, &why, "; ignored"),
            }
        }
        let Some(value) = env.server_starter_port else { return };
        let parsed = match listen_env::server_starter_port(value) {
            Ok(v) => v,
            Err(why) => return self.refuse(&why, "; no fd inherited from SERVER_STARTER_PORT"),
        };
        for entry in parsed {
            self.adopt_starter(&entry);
        }
    }

    fn adopt_starter(&mut self, entry: &StarterEntry<'_>) {
        const VAR: &str = "SERVER_STARTER_PORT";
        let raw = entry.fd;
        let key = entry.key;
        let mut bound = SockAddr::empty();
        let kind = match check_starter(entry, &mut bound) {
            Ok(k) => k,
            Err(why) => {
                self.reject(VAR, key, raw, why);
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
            self.reject(VAR, key, raw, failed(CLOEXEC_FAILED, e));
            return;
        }
        // SAFETY: announced to this process by SERVER_STARTER_PORT, checked to be
        // the socket announced, not registered yet; the registry now owns it.
        let fd = unsafe { Fd::from_raw(raw) };
        self.adopt(UNKNOWN, fd, kind, Source::ServerStarter, key);
    }

    /// Register an announced fd (unclaimed). One site builds the (large)
    /// entry for both variables.
    #[inline(never)]
    fn adopt(&mut self, name: &[u8], fd: Fd, kind: FdKind, source: Source, label: &[u8]) {
        self.push(Entry { name: name.to_vec(), fd, kind, source, label: label.to_vec(), claimed: false, key: None });
    }
}

/// What the load adds when it refuses the systemd variables.
const NO_LISTEN_FDS: &str = "; no fd inherited from LISTEN_FDS";

/// Why an announced fd is rejected: as it is.
fn says(text: &'static str) -> Refusal<'static> {
    Refusal::new(text, &[], &[], 0, 0)
}

/// Why an announced fd is rejected: a call failed (`{e}` in `text`).
fn failed(text: &'static str, e: Errno) -> Refusal<'static> {
    Refusal::new(text, &[], &[], e.0 as u64, 0)
}

const CLOEXEC_FAILED: &str = "cannot set FD_CLOEXEC: {e}";

/// Check a Server::Starter fd is the socket its key announces; its kind.
/// `bound` receives the socket's address (a rejection may quote it).
fn check_starter<'b>(entry: &StarterEntry<'_>, bound: &'b mut SockAddr) -> core::result::Result<FdKind, Refusal<'b>> {
    let raw = entry.fd;
    if raw < 3 {
        // Offsets into one string, not a table of pointers (each a relocation).
        let (from, to) = match raw {
            0 => (0, 5),
            1 => (5, 11),
            _ => (11, 17),
        };
        let which = b"stdinstdoutstderr".get(from..to).unwrap_or(&[]);
        return Err(Refusal::new("fd {n} is {B}, never a listener", &[], which, raw as u64, 0));
    }
    if !fd::is_open(raw) {
        return Err(says("it is not open"));
    }
    let kind = classify(raw).map_err(|e| failed("cannot inspect it: {e}", e))?;
    if kind == FdKind::File {
        return Err(says("it is not a socket"));
    }
    *bound = socket::getsockname(raw).map_err(|e| failed("getsockname: {e}", e))?;
    let bound = &*bound;
    let (want_family, family_name): (_, &[u8]) = match entry.addr {
        StarterAddr::Inet4 { .. } => (libc::AF_INET, b"an IPv4"),
        StarterAddr::Inet6 { .. } => (libc::AF_INET6, b"an IPv6"),
        StarterAddr::Path(_) => (libc::AF_UNIX, b"a unix"),
    };
    if bound.family() != want_family {
        let text = "the key announces {B} socket, the fd is of another family";
        return Err(Refusal::new(text, &[], family_name, 0, 0));
    }
    let kind_is = kind.describe().as_bytes();
    match entry.addr {
        StarterAddr::Inet4 { port, .. } | StarterAddr::Inet6 { port, .. } => {
            if kind != FdKind::TcpListener && kind != FdKind::Udp {
                return Err(Refusal::new("the key announces a listener, the fd is {B}", &[], kind_is, 0, 0));
            }
            let got = bound.port().unwrap_or(0);
            if port != 0 && got != port {
                let text = "the key announces port {n}, the socket is bound to port {m}";
                return Err(Refusal::new(text, &[], &[], port.into(), got.into()));
            }
        }
        StarterAddr::Path(path) => {
            if kind != FdKind::UnixListener {
                return Err(Refusal::new("the key announces a unix listener, the fd is {B}", &[], kind_is, 0, 0));
            }
            let at = bound.unix_path().unwrap_or(&[]);
            if at != path {
                return Err(Refusal::new("the socket is bound to {a}, not to the path announced", at, &[], 0, 0));
            }
        }
    }
    Ok(kind)
}
