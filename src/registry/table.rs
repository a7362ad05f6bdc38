//! The registry itself: its entries in order, and their operations (lookup
//! and claim, add, import, forget, close the unclaimed, export for a child).

use alloc::vec::Vec;
use core::fmt;

use super::entry::{validate_name, Entry, Exported, Source};
use super::fd_kind::classify;
use crate::error::{Error, Msg, Result};
use crate::proto::addr::Shown;
use crate::proto::listen_env::UNKNOWN;
use crate::sys::fd::{self, Fd, RawFd};
use crate::{err, log};

/// An announced fd that was not registered, and why (for the `ENOENT`
/// message of a lookup by its name).
pub(super) struct Rejected {
    pub(super) name: Vec<u8>,
    pub(super) fd: RawFd,
    pub(super) var: &'static str,
    pub(super) why: Msg,
}

/// Messages kept before anyone could listen.
const STARTUP_LOG_CAP: usize = 64;

pub(crate) struct Registry {
    pub(crate) entries: Vec<Entry>,
    pub(super) rejected: Vec<Rejected>,
    /// Variables rejected as a whole (or ignored), with the reason.
    pub(super) notes: Vec<Msg>,
    pub(super) generation: Option<u32>,
    pub(super) startup_log: Vec<(i32, Msg)>,
    /// Messages produced by the current operation, emitted after unlock.
    pub(crate) log: Vec<(i32, Msg)>,
    pub(super) loading: bool,
    /// Bumped by [`push`](Self::push), [`rename`](Self::rename), forget and
    /// close, so that a reader
    /// that let go of the lock (the hand-off's transfer, sent in pieces) can
    /// tell the entries changed meanwhile, even if an fd number came back.
    pub(crate) changes: u64,
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
            changes: 0,
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

    pub(super) fn claim_index(&mut self, i: usize) -> Result<Fd> {
        let e = self.entries.get_mut(i).ok_or_else(|| err!(ENOENT, "no registry entry {}", i))?;
        let dup = e.fd.try_clone().map_err(|er| Error::sys(er, "duplicating a registry fd"))?;
        e.claimed = true;
        Ok(dup)
    }

    pub(super) fn inherited_indices(&self) -> impl Iterator<Item = usize> + '_ {
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
        self.push(Entry { name: name.to_vec(), fd, kind, source: Source::Added, label: Vec::new(), claimed: true, key: None });
        Ok(())
    }

    // Only the tests register one fd that may lack CLOEXEC; the hand-off
    // registers received (CLOEXEC) fds with `import_cloexec`.
    #[cfg(test)]
    pub(crate) fn import(&mut self, name: &[u8], fd: Fd) -> Result<()> {
        fd::set_cloexec(fd.raw(), true).map_err(|er| Error::sys(er, "setting FD_CLOEXEC"))?;
        self.import_cloexec(name.to_vec(), fd)
    }

    /// Register an fd received after start-up that is CLOEXEC already (received with
    /// `MSG_CMSG_CLOEXEC`, which the kernel applies as it installs the fd:
    /// no `fcntl` needed, none made). The name is checked and the kind read
    /// from the fd, as for every inherited fd.
    pub(crate) fn import_cloexec(&mut self, name: Vec<u8>, fd: Fd) -> Result<()> {
        validate_name(&name)?;
        let kind = classify(fd.raw()).map_err(|er| Error::sys(er, "inspecting the fd"))?;
        self.push(Entry { name, fd, kind, source: Source::Imported, label: Vec::new(), claimed: false, key: None });
        Ok(())
    }

    /// Add an entry. Every entry comes in here and every name changes in
    /// [`rename`](Self::rename) (they leave through `forget` and
    /// `close_unclaimed`), so that the change counter is never forgotten.
    pub(crate) fn push(&mut self, e: Entry) {
        self.entries.push(e);
        self.changes += 1;
    }

    /// Give entry `i` the name `name` (`listen` naming an `unknown` entry).
    pub(crate) fn rename(&mut self, i: usize, name: &[u8]) {
        if let Some(e) = self.entries.get_mut(i) {
            e.name = name.to_vec();
            self.changes += 1;
        }
    }

    pub(crate) fn forget(&mut self, name: &[u8]) -> Result<usize> {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        let n = before - self.entries.len();
        if n == 0 {
            return Err(err!(ENOENT, "no fd named {} is registered", Shown(name)));
        }
        self.changes += 1;
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
        if n > 0 {
            self.changes += 1;
        }
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
