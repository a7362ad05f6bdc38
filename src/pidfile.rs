//! Pid files that tell the truth: locked for the holder's whole life, so a
//! second instance is refused while the first runs and a stale file (its
//! lock is free) is simply taken over.
//!
//! - Opened `O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC`, mode 0644 (a symbolic link
//!   is refused with `ELOOP`), never truncated on open: the pid of a running
//!   instance is read back for the "already running as pid N" message.
//! - It must be a regular file, owned by our effective uid, with one link (a
//!   hard link planted next to a daemon's pid file must not make it rewrite
//!   some other file).
//! - `flock(LOCK_EX|LOCK_NB)`, then checked: the locked file must still be
//!   the one at the path (same device and inode, still linked). If its holder
//!   removed it between our open and our flock, we start over: a lock on the
//!   removed file would let another process lock a new file at the path.
//! - The lock belongs to the open file description:
//!   it survives fork, stays with the daemon after the launcher exits, and is
//!   handed down on upgrade with the fd (`GRACEFD_PIDFILE_FD`), so it never
//!   drops between generations.
//! - The pid is written in place: `pwrite` at 0, then `ftruncate` to its
//!   length, so a reader never sees an empty file.
//! - On clean exit the file is removed only if it still names us (after an
//!   upgrade it names the new generation) and is still the file we hold.
//!
//! Already-running is reported as `EEXIST` (an instance exists), not
//! `EAGAIN`: it is not worth retrying.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::msg::Plain;
use crate::proto::addr::Shown;
use crate::proto::num;
use crate::sys::cpath::CPath;
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::process::{self, Pid};
use crate::sys::{fs, Errno};
use crate::{err, lineage, log};

/// Open, check and lock the pid file at `path`, without writing to it.
/// Returns the locked fd (CLOEXEC). If this process already holds that very
/// file (an earlier call, or one inherited from the old generation), a new
/// CLOEXEC dup of the held fd is returned instead.
///
/// Errors: `EEXIST` "already running as pid N" (the lock is held elsewhere);
/// `ELOOP` the path is a symbolic link; `EPERM` not a file we own, or more than
/// one link; `EINVAL` empty path, NUL inside, not a regular file; `EAGAIN` the
/// file kept being removed or replaced between open and lock (100 tries);
/// whatever open or flock fail with (`EACCES`, `ENOENT` for a missing directory, …).
pub fn acquire(path: &[u8]) -> Result<Fd> {
    let c = CPath::checked(path, "pid file path")?;
    for _ in 0..RELOCK_TRIES {
        match acquire_once(&c) {
            Ok(Some(f)) => return Ok(f),
            Ok(None) => {}
            Err(r) => return Err(r.error(path)),
        }
    }
    Err(err!(EAGAIN, "pid file {} kept being removed or replaced while we locked it; try again", Shown(path)))
}

/// How often [`acquire`] starts over when the file it locked is no longer the
/// one at the path (its holder removed it meanwhile).
const RELOCK_TRIES: u32 = 100;

/// Why [`acquire_once`] refused the file: small, so it is passed up in
/// registers and the message (with the path) is built once, by
/// [`Refused::error`].
enum Refused {
    /// A system call failed: its name and errno.
    Sys(&'static str, Errno),
    Symlink,
    NotRegular,
    /// Owned by this uid, not by us (the second).
    NotOurs(u32, u32),
    /// This many hard links.
    Links(libc::nlink_t),
    /// Locked by a running instance, which wrote this pid (or none yet).
    Running(Option<Pid>),
}

impl Refused {
    #[cold]
    #[inline(never)]
    fn error(self, path: &[u8]) -> Error {
        let shown = Shown(path);
        match self {
            Refused::Sys(what, e) => Error::new(e, format_args!("pid file {}: {}: {}", shown, Plain(what), e)),
            Refused::Symlink => err!(ELOOP, "pid file {} is a symbolic link; refusing to follow it", shown),
            Refused::NotRegular => err!(EINVAL, "pid file {} is not a regular file", shown),
            Refused::NotOurs(owner, me) => err!(EPERM, "pid file {} belongs to uid {}, not to us (uid {}); refusing to use it", shown, owner, me),
            Refused::Links(n) => err!(EPERM, "pid file {} has {} hard links; refusing to use it", shown, n),
            Refused::Running(Some(p)) => err!(EEXIST, "pid file {}: already running as pid {}", shown, p),
            Refused::Running(None) => err!(EEXIST, "pid file {}: already running (it is locked, and its pid is not written yet)", shown),
        }
    }
}

/// One open-check-lock. `Ok(None)`: the lock was taken on a file that is no
/// longer at the path (removed, or replaced, between open and flock: a lock
/// on it would let a third process lock a new file there too); start over.
fn acquire_once(c: &[u8]) -> core::result::Result<Option<Fd>, Refused> {
    let f = fs::open(c, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, 0o644).map_err(|e| match e {
        Errno(libc::ELOOP) => Refused::Symlink,
        e => Refused::Sys("open", e),
    })?;
    let st = fd::fstat(f.raw()).map_err(|e| Refused::Sys("fstat", e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Refused::NotRegular);
    }
    if let Some(held) = lineage::pidfile_fd() {
        if let Ok(h) = fd::fstat(held) {
            if (h.st_dev, h.st_ino) == (st.st_dev, st.st_ino) {
                return fd::dup_cloexec(held).map(Some).map_err(|e| Refused::Sys("dup", e));
            }
        }
    }
    let me = process::geteuid();
    if st.st_uid != me {
        return Err(Refused::NotOurs(st.st_uid, me));
    }
    if st.st_nlink != 1 {
        return Err(Refused::Links(st.st_nlink));
    }
    match fs::flock(f.raw(), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(Errno(libc::EWOULDBLOCK)) => return Err(Refused::Running(read_pid(f.raw()))),
        Err(e) => return Err(Refused::Sys("flock", e)),
    }
    // Locked: but is it still the file at the path, and still linked?
    let locked = fd::fstat(f.raw()).map_err(|e| Refused::Sys("fstat", e))?;
    let still_there = match fs::lstat(c) {
        Ok(at_path) => (at_path.st_dev, at_path.st_ino) == (locked.st_dev, locked.st_ino) && locked.st_nlink > 0,
        Err(Errno(libc::ENOENT)) => false,
        Err(e) => return Err(Refused::Sys("lstat", e)),
    };
    Ok(still_there.then_some(f))
}

/// Write `pid\n` over the file's content (the lock is untouched): `pwrite` at
/// offset 0, then `ftruncate` to the new length. Errors: the errno of the
/// step that failed, as "write pid file" or "truncate pid file".
pub fn write_pid(fd: RawFd, pid: Pid) -> Result<()> {
    write_pid_raw(fd, pid).map_err(|(what, e)| Error::sys(e, what))
}

/// [`write_pid`] with system calls only and no message: the failed step
/// ("write pid file", "truncate pid file") and its errno. A child between
/// clone and exec calls it.
pub(crate) fn write_pid_raw(fd: RawFd, pid: Pid) -> core::result::Result<(), (&'static str, crate::sys::Errno)> {
    // The digits go right-aligned into the first 20 bytes, before the newline.
    let mut buf = [b'\n'; 21];
    let len = buf.first_chunk_mut::<20>().map_or(0, |d| num::fmt_u64(pid as u64, d).len());
    let line = buf.get(20usize.saturating_sub(len)..).unwrap_or(&[]);
    fs::pwrite_all(fd, line, 0).map_err(|e| ("write pid file", e))?;
    fs::ftruncate(fd, line.len() as i64).map_err(|e| ("truncate pid file", e))
}

/// The pid a pid file names (`None` if empty or not a pid).
pub fn read_pid(fd: RawFd) -> Option<Pid> {
    let mut buf = [0u8; 32];
    let n = fs::pread_full(fd, &mut buf, 0).ok()?;
    let text = buf.get(..n)?;
    let end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
    num::parse_pid(text.get(..end)?)
}

/// For programs that do not daemonize: lock the pid file at `path`, write our
/// pid into it and hold it for the rest of our life (it is handed to the new
/// generation on upgrade). Calling it again for the file already held only
/// rewrites the pid — except in a new generation started by an upgrade that
/// handed this very file down: there the pid is left as it is, because the
/// old generation writes the new pid only once the new one is ready (a new
/// generation that then fails must not leave the file naming a dead process).
///
/// Errors: those of [`acquire`]; `EBUSY` if this process already holds a
/// different pid file; the write's.
pub fn create(path: &[u8]) -> Result<()> {
    let held_before = lineage::pidfile_fd();
    let f = acquire(path)?;
    if let Some(h) = held_before {
        let same = match (fd::fstat(h), fd::fstat(f.raw())) {
            (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
            _ => false,
        };
        if !same {
            return Err(err!(EBUSY, "this process already holds another pid file; not taking {} as well", Shown(path)));
        }
    }
    if held_before.is_some() && lineage::is_upgrade() {
        // Inherited from the old generation, which writes our pid when we are ready.
        lineage::set_pidfile(f);
        log!(log::INFO, "pid file {} inherited; the old generation names us once we are ready", Shown(path));
        return Ok(());
    }
    write_pid(f.raw(), process::getpid()).map_err(|e| e.context(format_args!("pid file {}", Shown(path))))?;
    lineage::set_pidfile(f);
    log!(log::INFO, "pid file {} holds pid {}", Shown(path), process::getpid());
    Ok(())
}

/// On clean exit: remove the pid file this process holds if it still names
/// this process and is still the file at its path, then release it.
/// `Ok(true)`: removed. `Ok(false)`: nothing held, or it names another
/// process (after an upgrade: the new generation), or it was replaced or
/// removed meanwhile: left alone. Errors: `unlink` failed (`EACCES` when the
/// daemon switched to a user that may not write the directory); the file stays
/// held then.
pub fn remove() -> Result<bool> {
    let Some(raw) = lineage::pidfile_fd() else { return Ok(false) };
    let me = process::getpid();
    let path = match held_path(raw) {
        Some(p) if read_pid(raw) == Some(me) => p,
        _ => {
            drop(lineage::take_pidfile());
            return Ok(false);
        }
    };
    let shown_path = Shown(path.as_bytes());
    let removed = match fd::fstat(raw) {
        Ok(held) => fs::unlink_if_same(&path, held.st_dev, held.st_ino)
            .map_err(|e| Error::sys(e, "unlink").context(format_args!("pid file {}", shown_path)))?,
        Err(_) => false,
    };
    drop(lineage::take_pidfile());
    if removed {
        log!(log::INFO, "pid file {} removed", shown_path);
    }
    Ok(removed)
}

/// The path of the file behind `fd`, from /proc/self/fd.
fn held_path(fd: RawFd) -> Option<CPath> {
    let mut link = Vec::with_capacity(40);
    link.extend_from_slice(b"/proc/self/fd/");
    link.extend_from_slice(num::fmt_u64(u64::try_from(fd).ok()?, &mut [0u8; 20]));
    let link = CPath::new(&link).ok()?;
    let mut buf = alloc::vec![0u8; 4096];
    let n = fs::readlink(&link, &mut buf).ok()?;
    let target = buf.get(..n)?;
    if !target.starts_with(b"/") {
        return None;
    }
    CPath::new(target).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("gracefd-pidfile-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn bytes(p: &std::path::Path) -> Vec<u8> {
        p.as_os_str().as_encoded_bytes().to_vec()
    }

    #[test]
    fn write_pid_shrinks_and_grows_in_place() {
        let d = tmp("write");
        let p = d.join("x.pid");
        std::fs::write(&p, b"1234567890\n").unwrap();
        let f = acquire(&bytes(&p)).unwrap();
        write_pid(f.raw(), 42).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"42\n");
        write_pid(f.raw(), 123456).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"123456\n");
        assert_eq!(read_pid(f.raw()), Some(123456));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn lock_held_elsewhere_is_already_running() {
        let d = tmp("locked");
        let p = d.join("x.pid");
        // A second open file description in this same process conflicts with
        // the first one's flock exactly as another process would.
        let first = acquire(&bytes(&p)).unwrap();
        write_pid(first.raw(), 4321).unwrap();
        let e = acquire(&bytes(&p)).unwrap_err();
        assert_eq!(e.errno.0, libc::EEXIST);
        assert!(e.message().contains("already running as pid 4321"), "{}", e.message());
        drop(first);
        // Now it is stale: taken over.
        let again = acquire(&bytes(&p)).unwrap();
        assert_eq!(read_pid(again.raw()), Some(4321));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_symlinks_links_and_odd_files() {
        let d = tmp("refuse");
        let target = d.join("target");
        std::fs::write(&target, b"").unwrap();
        let link = d.join("link.pid");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = acquire(&bytes(&link)).unwrap_err();
        assert_eq!(e.errno.0, libc::ELOOP);
        assert!(e.message().contains("symbolic link"), "{}", e.message());
        let hard = d.join("hard.pid");
        std::fs::hard_link(&target, &hard).unwrap();
        let e = acquire(&bytes(&hard)).unwrap_err();
        assert_eq!(e.errno.0, libc::EPERM);
        assert!(e.message().contains("hard links"), "{}", e.message());
        let e = acquire(&bytes(&d)).unwrap_err();
        assert!(e.errno.0 == libc::EISDIR || e.errno.0 == libc::EINVAL, "{:?}", e);
        assert_eq!(acquire(b"").unwrap_err().errno.0, libc::EINVAL);
        assert_eq!(acquire(b"a\0b").unwrap_err().errno.0, libc::EINVAL);
        let e = acquire(&bytes(&d.join("no/such/dir.pid"))).unwrap_err();
        assert_eq!(e.errno.0, libc::ENOENT);
        assert!(e.message().contains("no/such/dir.pid"), "{}", e.message());
        let _ = std::fs::remove_dir_all(&d);
    }

    // The refusals' messages, whole (they were built at each site before
    // the small `Refused` carried them up to one builder).
    #[test]
    fn refusals_say_why_naming_the_path() {
        let d = tmp("messages");
        let shown = |p: &std::path::Path| format!("{:?}", p.to_str().unwrap());
        let link = d.join("link.pid");
        std::os::unix::fs::symlink(d.join("target"), &link).unwrap();
        let e = acquire(&bytes(&link)).unwrap_err();
        assert_eq!(e.message(), format!("pid file {} is a symbolic link; refusing to follow it", shown(&link)));
        let one = d.join("one.pid");
        std::fs::write(&one, b"").unwrap();
        let two = d.join("two.pid");
        std::fs::hard_link(&one, &two).unwrap();
        let e = acquire(&bytes(&two)).unwrap_err();
        assert_eq!(e.message(), format!("pid file {} has 2 hard links; refusing to use it", shown(&two)));
        let p = d.join("x.pid");
        let first = acquire(&bytes(&p)).unwrap();
        let e = acquire(&bytes(&p)).unwrap_err();
        assert_eq!(e.message(), format!("pid file {}: already running (it is locked, and its pid is not written yet)", shown(&p)));
        write_pid(first.raw(), 77).unwrap();
        let e = acquire(&bytes(&p)).unwrap_err();
        assert_eq!((e.errno.0, e.message()), (libc::EEXIST, format!("pid file {}: already running as pid 77", shown(&p)).as_str()));
        let missing = d.join("no/x.pid");
        let e = acquire(&bytes(&missing)).unwrap_err();
        assert_eq!(e.message(), format!("pid file {}: open: {}", shown(&missing), Errno(libc::ENOENT)));
        let fifo = d.join("fifo.pid");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = acquire(&bytes(&fifo)).unwrap_err();
        assert_eq!((e.errno.0, e.message()), (libc::EINVAL, format!("pid file {} is not a regular file", shown(&fifo)).as_str()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn held_path_names_the_file() {
        let d = tmp("path");
        let p = d.join("x.pid");
        let f = acquire(&bytes(&p)).unwrap();
        assert_eq!(held_path(f.raw()).unwrap().as_bytes(), bytes(&p));
        let _ = std::fs::remove_dir_all(&d);
    }
}
