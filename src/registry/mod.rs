//! The process-wide registry of named fds: what this process inherited, what
//! it bound, and what it registered, so that an upgrade can hand all of it
//! down (see [`export_for_child`]).
//!
//! **Sources**, read once from the start-up environment (never getenv, never
//! setenv): systemd's `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` (also what
//! gracefd itself writes for a new generation or a superdaemon worker) and
//! Server::Starter's `SERVER_STARTER_PORT` (+ `SERVER_STARTER_GENERATION`).
//! Parsing rules: [`crate::proto::listen_env`]. Before `main`, the library's
//! constructor makes CLOEXEC exactly the fds the registry will adopt
//! ([`protect_at_load`]), before any thread could fork and exec; the entries
//! are built, and rejections logged, on first use ([`init`]).
//!
//! **Validation.** Every announced fd is checked before it is registered:
//!
//! - `LISTEN_FDS`: the fd must be open. Any kind of fd is accepted (systemd
//!   passes sockets of every type, FIFOs, and files or memfds from its fd
//!   store); its [`FdKind`] is recorded and [`crate::listeners::listen`] refuses
//!   a kind that does not fit the address it is asked for.
//! - `SERVER_STARTER_PORT`: the fd must be 3 or above (0–2 are stdio), open,
//!   a socket of the family the key announces (IPv4 for `port`/`host:port`,
//!   IPv6 for `[host]:port`, unix for a path), a listening stream socket (or a
//!   UDP socket, since `start_server --port=uN` announces those with the same
//!   key form), bound to the announced port or path.
//!
//! A rejected fd is logged (a warning naming the variable and the fd), is not
//! registered, and is left as it was: not closed, flags as before (a
//! `SERVER_STARTER_PORT` socket the constructor made CLOEXEC gets its flag
//! back from the load, see `at_load.rs`). A
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

mod at_load;
mod entry;
mod fd_kind;
mod key;
mod load;
mod table;
#[cfg(test)]
mod tests;

pub use entry::{validate_name, Exported, Source};
pub(crate) use entry::Info;
pub use fd_kind::FdKind;
pub use key::AddrShown;

pub(crate) use entry::Entry;
pub(crate) use key::ListenKey;
// The listeners' tests check the kind of what they get.
#[cfg(test)]
pub(crate) use fd_kind::classify;
pub(crate) use load::EnvVars;
#[cfg(test)]
use load::StarterMark;
pub(crate) use table::Registry;

use alloc::vec::Vec;

use crate::error::Result;
use crate::proto::listen_env;
use crate::sync::{Mutex, Once};
use crate::sys::fd::{Fd, RawFd};
use crate::{err, log};

static REG: Mutex<Registry> = Mutex::new(Registry::new());
static INIT: Once = Once::new();

/// The largest `LISTEN_FDS` worth considering: fds above the open-files limit
/// cannot be open. Taken at load time when the constructor ran (a daemon may
/// change the limit before the registry is first used), so the load decides
/// as the constructor did.
fn max_listen_fds() -> u32 {
    match at_load::max_listen_fds() {
        Some(m) => m,
        None => max_listen_fds_now(),
    }
}

fn max_listen_fds_now() -> u32 {
    match crate::sys::rlimit::getrlimit(libc::RLIMIT_NOFILE) {
        Ok(l) => u32::try_from(l.rlim_cur).unwrap_or(u32::MAX).saturating_sub(listen_env::LISTEN_FDS_START as u32),
        Err(_) => 1 << 20,
    }
}

/// The variables the registry reads, from the start-up snapshot.
fn env_vars(st: &crate::startup::Startup) -> EnvVars<'_> {
    EnvVars {
        listen_pid: var(st, b"LISTEN_PID"),
        listen_fds: var(st, b"LISTEN_FDS"),
        listen_fdnames: var(st, b"LISTEN_FDNAMES"),
        listen_pidfdid: var(st, b"LISTEN_PIDFDID"),
        our_pidfd_id: st.pidfd_id,
        server_starter_port: var(st, b"SERVER_STARTER_PORT"),
        server_starter_generation: var(st, b"SERVER_STARTER_GENERATION"),
        protected: &[],
        starter_marks: &[],
    }
}

/// [`crate::startup::Startup::var`], called (not inlined) once per variable.
#[inline(never)]
fn var<'a>(st: &'a crate::startup::Startup, key: &[u8]) -> Option<&'a [u8]> {
    st.var(key)
}

/// Called by the library's constructor (`crate::init`), before `main`: make
/// CLOEXEC every announced fd that the registry will adopt, and only those,
/// so none leaks into a child the program starts before it first uses the
/// registry. Nothing is built and nothing is said yet (see `at_load.rs`).
pub(crate) fn protect_at_load() {
    // Another constructor (the Go package's) may have used the registry
    // first: it adopted the fds itself, and those numbers may mean other
    // files by now.
    if INIT.is_done() {
        return;
    }
    let st = crate::startup::get();
    // Most processes inherit nothing: two lookups, and nothing else to do.
    if var(st, b"LISTEN_FDS").is_none() && var(st, b"SERVER_STARTER_PORT").is_none() {
        return;
    }
    let env = env_vars(st);
    at_load::protect(env, st.pid, listen_env::LISTEN_FDS_START, max_listen_fds_now());
}

/// Read the start-up environment into the registry, once; later calls do
/// nothing. Called by every registry function, so the entries (and the
/// messages about rejected fds) are made on first use, not on every
/// program's start path.
pub(crate) fn init() {
    INIT.call(|| {
        let st = crate::startup::get();
        let found = at_load::take_found();
        let env = EnvVars { protected: &found.protected, starter_marks: &found.starter_marks, ..env_vars(st) };
        let mut reg = Registry::new();
        reg.load(env, st.pid, listen_env::LISTEN_FDS_START, max_listen_fds());
        // Nobody else locks REG before INIT completes: every path calls init()
        // first. What it held is `Registry::new()`, which owns nothing: not
        // dropped (its drop code would be reached for nothing).
        core::mem::forget(core::mem::replace(&mut *REG.lock(), reg));
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
        (r, take_log(&mut reg, hooked))
    };
    deliver(msgs);
    r
}

/// The messages queued by the operation that just ran, after the start-up
/// ones once a hook can hear them. Not generic and never inlined: every
/// instance of [`with`] shares it.
#[inline(never)]
fn take_log(reg: &mut Registry, hooked: bool) -> Queued {
    let early = if hooked { core::mem::take(&mut reg.startup_log) } else { Vec::new() };
    Queued { early, now: core::mem::take(&mut reg.log) }
}

/// What [`take_log`] took: two lists, said in order (not merged into one).
struct Queued {
    early: Vec<(i32, crate::error::Msg)>,
    now: Vec<(i32, crate::error::Msg)>,
}

/// Log `msgs`, with no lock held. Shared by every instance of [`with`].
#[inline(never)]
fn deliver(msgs: Queued) {
    say_all(msgs.early);
    say_all(msgs.now);
}

fn say_all(msgs: Vec<(i32, crate::error::Msg)>) {
    for (level, m) in msgs {
        log!(level, "{}", crate::msg::Plain(m.as_str()));
    }
}

/// Run `f` on the registry (initialised) and leave any log messages queued
/// for the next [`with`]: for callers that hold another lock (the hand-off
/// server sends registry fds from under its own), where a log hook must not
/// run.
pub(crate) fn with_quiet<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    init();
    f(&mut REG.lock())
}

/// A duplicate of an inherited fd (announced at start-up or imported) named
/// `name`; the entry becomes claimed. With several of that name, an unclaimed
/// one first, in registry order. `ENOENT` if there is none (the message says
/// why when it was announced but rejected); `EINVAL` for an invalid name;
/// `EMFILE`… if the duplicate fails.
pub(crate) fn inherited(name: &[u8]) -> Result<Fd> {
    validate_name(name)?;
    with(|r| r.inherited(name))
}

/// Register `fd` (borrowed: the registry keeps its own CLOEXEC duplicate)
/// under `name`, so that an upgrade hands it down. `EINVAL`: invalid name, or
/// `unknown`; `EEXIST`: the name is taken; `EBADF`: `fd` is not open.
pub(crate) fn add(name: &[u8], fd: RawFd) -> Result<()> {
    with(|r| r.add(name, fd))
}

/// Register the fds of a hand-off, in order, under one lock, taking
/// ownership: each counts as inherited (unclaimed until the program asks for
/// it), its kind read from the fd; names may repeat. They arrived with
/// `MSG_CMSG_CLOEXEC`, so are CLOEXEC already (no `fcntl` each). Stops at the first failure (the entries
/// before it stay registered; the fds after it are closed). Returns how many
/// were registered.
pub(crate) fn import_received(fds: Vec<(Vec<u8>, Fd)>) -> Result<usize> {
    with(|r| {
        r.entries.try_reserve(fds.len()).map_err(|_| err!(ENOMEM, "room for {} registry entries", fds.len()))?;
        let n = fds.len();
        for (name, fd) in fds {
            r.import_cloexec(name, fd)?;
        }
        Ok(n)
    })
}

/// Remove every entry named `name`, closing the registry's fds (duplicates
/// the program holds stay open; a unix socket's file is not removed). Returns
/// how many were removed; `ENOENT` if none; `EINVAL` for an invalid name.
pub(crate) fn forget(name: &[u8]) -> Result<usize> {
    validate_name(name)?;
    with(|r| r.forget(name))
}

/// Close every inherited entry the program has not claimed; returns how many.
pub(crate) fn close_unclaimed() -> usize {
    with(|r| r.close_unclaimed())
}

/// The inherited entries, in registry order.
pub(crate) fn inherited_entries() -> Vec<Info> {
    with(|r| r.entries.iter().filter(|e| e.source.inherited()).map(Entry::info).collect())
}

/// Every entry, in registry order (what [`export_for_child`] would pass).
pub(crate) fn entries() -> Vec<Info> {
    with(|r| r.entries.iter().map(Entry::info).collect())
}

/// How many inherited entries there are (announced at start-up or imported,
/// claimed or not, and not forgotten or closed).
pub(crate) fn inherited_count() -> usize {
    with(|r| r.inherited_indices().count())
}

/// The `index`-th inherited entry (as in [`inherited_entries`]) and, if
/// `claim`, a duplicate of its fd (the entry becomes claimed; `info.claimed`
/// tells whether it was before). `ENOENT` if there is no such entry;
/// `ERANGE` (before anything is claimed) if its name is longer than
/// `max_name` bytes.
pub(crate) fn inherited_at(index: usize, claim: bool, max_name: usize) -> Result<(Info, Option<Fd>)> {
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

