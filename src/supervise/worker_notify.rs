//! The `NOTIFY_SOCKET` gracefd gives each worker: a unix datagram socket of
//! its own, in a private directory (mode 0700), so a datagram on it comes
//! from that worker (or its children) and nobody else can send one. A worker
//! that speaks sd_notify (libsystemd's `sd_notify`, `systemd-notify`, the
//! library's `gracefd_ready()`) reports `READY=1` here; gracefd's own
//! readiness goes up to the service manager from gracefd, never from a worker.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::notify_inbox;
use crate::sys::fd::{Fd, RawFd};
use crate::proto::notify;
use crate::supervise::say::{self, say};

/// The private directory holding the workers' sockets; removed on drop.
/// gracefd holds a lock on it while it runs, which is how a later gracefd
/// tells a stale directory (its owner was killed) from a live one.
pub(crate) struct NotifyDir {
    path: PathBuf,
    _lock: std::fs::File,
    /// `--user`/`--group`: the workers' uid and gid, who must reach their socket.
    owner: Option<(u32, u32)>,
}

/// Where the directories go: the start-up `$TMPDIR`, or `/tmp` when that
/// would make socket paths too long (`notify_inbox::base_dir`).
fn base_dir() -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(notify_inbox::base_dir()))
}

/// Open a directory without following a symbolic link, and lock it
/// (`LOCK_NB`: `Ok(None)` when someone else holds the lock).
fn open_locked(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)?;
    match crate::sys::fs::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => Ok(Some(f)),
        Err(crate::sys::Errno(libc::EWOULDBLOCK)) => Ok(None),
        Err(e) => Err(std::io::Error::from_raw_os_error(e.0)),
    }
}

/// Whether `name` is one of ours: `gracefd-<digits>-<digits>`.
fn is_our_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b"gracefd-") else { return false };
    let mut parts = rest.split(|&b| b == b'-');
    let digits = |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// The gracefd pid in `gracefd-<pid>-<n>`.
fn owner_pid(name: &[u8]) -> Option<i32> {
    let rest = name.strip_prefix(b"gracefd-")?;
    let digits = rest.split(|&b| b == b'-').next()?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Remove the notify directories a killed gracefd left behind: only ours
/// (the name pattern, a real directory owned by our effective uid, not a
/// symbolic link), only unlocked ones (a live gracefd holds its lock, even
/// one in another pid namespace), and only if they hold nothing but worker
/// sockets (`w<n>`), and only if the pid in the name is gone. Returns how
/// many were removed.
pub(crate) fn clean_stale() -> usize {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let base = base_dir();
    let Ok(rd) = std::fs::read_dir(&base) else { return 0 };
    let me = crate::sys::process::geteuid();
    let mut removed = 0;
    for e in rd.flatten() {
        if !is_our_name(e.file_name().as_bytes()) {
            continue;
        }
        // The gracefd named in it still runs (here, or a pid of this
        // namespace): leave it, even unlocked — an older gracefd, from before
        // the lock, may be running it during a rollout.
        if owner_pid(e.file_name().as_bytes()).is_some_and(crate::sys::process::exists) {
            continue;
        }
        let path = e.path();
        let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
        if !md.file_type().is_dir() || md.uid() != me {
            continue;
        }
        let Ok(Some(lock)) = open_locked(&path) else { continue };
        // The directory we locked is the one we looked at (not swapped since).
        match lock.metadata() {
            Ok(m) if m.dev() == md.dev() && m.ino() == md.ino() => {}
            _ => continue,
        }
        let Ok(inner) = std::fs::read_dir(&path) else { continue };
        let mut only_sockets = true;
        let mut socks = Vec::new();
        for x in inner.flatten() {
            let n = x.file_name();
            let ok = n.as_bytes().first() == Some(&b'w') && x.file_type().is_ok_and(|t| t.is_socket());
            if ok {
                socks.push(x.path());
            } else {
                only_sockets = false;
            }
        }
        if !only_sockets {
            say!(say::WARNING, "left {} in place: it holds more than worker sockets", path.display());
            continue;
        }
        for s in socks {
            let _ = std::fs::remove_file(s);
        }
        if std::fs::remove_dir(&path).is_ok() {
            say!(say::INFO, "removed the stale notify directory {}", path.display());
            removed += 1;
        }
    }
    removed
}

impl NotifyDir {
    /// Create `gracefd-<pid>-<n>` (mode 0700) under `$TMPDIR` (or `/tmp` when
    /// that would make socket paths too long), and lock it.
    pub(crate) fn create() -> std::io::Result<NotifyDir> {
        use std::os::unix::fs::DirBuilderExt;
        let base = base_dir();
        let pid = crate::sys::process::getpid();
        let mut last = None;
        for attempt in 0..100u64 {
            let salt = crate::sys::time::monotonic_ns().wrapping_add(attempt * 7919) % 1_000_000;
            // Made under a name clean_stale() ignores, locked, and only then
            // renamed to `gracefd-<pid>-<n>`: another gracefd starting at the
            // same moment can never find it unlocked and remove it.
            let making = base.join(format!(".gracefd-new-{}-{}", pid, salt));
            let path = base.join(format!("gracefd-{}-{}", pid, salt));
            match std::fs::DirBuilder::new().mode(0o700).create(&making) {
                Ok(()) => {
                    let lock = match open_locked(&making) {
                        Ok(Some(l)) => l,
                        Ok(None) => {
                            last = Some(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
                            continue;
                        }
                        Err(e) => {
                            let _ = std::fs::remove_dir(&making);
                            return Err(e);
                        }
                    };
                    if std::fs::symlink_metadata(&path).is_ok() {
                        let _ = std::fs::remove_dir(&making);
                        last = Some(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
                        continue;
                    }
                    if let Err(e) = std::fs::rename(&making, &path) {
                        let _ = std::fs::remove_dir(&making);
                        return Err(e);
                    }
                    return Ok(NotifyDir { path, _lock: lock, owner: None });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AlreadyExists)))
    }

    /// Workers run as `uid:gid` (`--user`): the directory becomes 0711 (they
    /// may reach a socket whose name they know, not list the others) and each
    /// socket is theirs. Nobody else can write into the directory, so the
    /// names cannot be swapped between bind and chown.
    pub(crate) fn allow(&mut self, uid: u32, gid: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o711))?;
        self.owner = Some((uid, gid));
        Ok(())
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A socket for one worker, named after its sequence number.
    pub(crate) fn socket(&self, seq: u64) -> crate::error::Result<NotifySock> {
        let path = self.path.join(format!("w{}", seq));
        let _ = std::fs::remove_file(&path);
        let s = notify_inbox::bind(path.as_os_str().as_bytes()).map_err(|e| crate::error::Error::sys(e, "NOTIFY_SOCKET bind"))?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|e| crate::error::Error::sys(crate::sys::Errno(e.raw_os_error().unwrap_or(libc::EIO)), "NOTIFY_SOCKET chown"))?;
        }
        Ok(NotifySock { fd: s, path })
    }
}

impl Drop for NotifyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One worker's notification socket; its file is removed on drop.
pub(crate) struct NotifySock {
    fd: Fd,
    path: PathBuf,
}

/// What a batch of notifications said.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    /// A `READY=1` line arrived.
    pub(crate) ready: bool,
    /// The last `STATUS=` text.
    pub(crate) status: Option<String>,
}

impl NotifySock {
    /// The value for the worker's `NOTIFY_SOCKET`.
    pub(crate) fn env_value(&self) -> &[u8] {
        self.path.as_os_str().as_bytes()
    }

    /// The fd to poll.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// Read the pending datagrams, a bounded batch (the socket stays readable
    /// for the rest; fds passed along, e.g. `FDSTORE=1`, are
    /// closed: gracefd keeps no fd store for workers).
    pub(crate) fn receive(&self) -> Notes {
        let mut notes = Notes::default();
        notify_inbox::drain(self.fd.raw(), |r| fold(r, &mut notes));
        notes
    }
}

impl Drop for NotifySock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Fold one parsed datagram into `notes`.
fn fold(r: notify::Received<'_>, notes: &mut Notes) {
    notes.ready |= r.ready;
    if let Some(s) = r.status {
        notes.status = Some(String::from_utf8_lossy(s).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::socket::{self, SockAddr};

    /// One datagram, parsed as `receive` parses it, folded into `notes`.
    fn parse_into(datagram: &[u8], notes: &mut Notes) {
        fold(notify::parse_received(datagram), notes);
    }

    #[test]
    fn parses_lines() {
        let mut n = Notes::default();
        parse_into(b"STATUS=warming up\nMAINPID=3", &mut n);
        assert_eq!(n, Notes { ready: false, status: Some("warming up".into()) });
        parse_into(b"READY=1\nSTATUS=serving\n", &mut n);
        assert!(n.ready);
        assert_eq!(n.status.as_deref(), Some("serving"));
        let mut n = Notes::default();
        parse_into(b"READY=10\nXREADY=1", &mut n);
        assert!(!n.ready);
    }

    #[test]
    fn receives_from_a_sender() {
        let dir = NotifyDir::create().unwrap();
        let s = dir.socket(7).unwrap();
        let addr = SockAddr::unix(s.env_value(), false).unwrap();
        let c = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        socket::send_with_fds(c.raw(), b"READY=1\nSTATUS=hi", &[], Some(&addr)).unwrap();
        let n = s.receive();
        assert!(n.ready);
        assert_eq!(n.status.as_deref(), Some("hi"));
        assert_eq!(s.receive(), Notes::default());
        let p = dir.path().to_path_buf();
        drop(s);
        drop(dir);
        assert!(!p.exists());
    }

    #[test]
    fn name_pattern() {
        assert!(is_our_name(b"gracefd-12-345"));
        for bad in ["gracefd-12", "gracefd-12-", "gracefd-a-1", "gracefd-1-2-3", "xgracefd-1-2", "gracefd--1"] {
            assert!(!is_our_name(bad.as_bytes()), "{}", bad);
        }
    }

    #[test]
    fn a_live_directory_is_not_stale() {
        let dir = NotifyDir::create().unwrap();
        let _s = dir.socket(1).unwrap();
        clean_stale();
        assert!(dir.path().exists(), "a locked (live) directory was removed");
    }

    #[test]
    fn a_directory_being_created_is_never_taken_for_stale() {
        // Two gracefds starting at once: one cleans while the other creates.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cleaner = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    clean_stale();
                }
            })
        };
        let mut lost = 0;
        for _ in 0..3000 {
            let dir = NotifyDir::create().unwrap();
            if dir.socket(1).is_err() || !dir.path().exists() {
                lost += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        cleaner.join().unwrap();
        assert_eq!(lost, 0, "directories removed by a concurrent clean_stale() while being created");
    }

    #[test]
    fn a_directory_of_a_running_gracefd_without_a_lock_is_kept() {
        // An older gracefd (no lock) running during a rollout: its pid is alive.
        let me = std::process::id();
        let dir = base_dir().join(format!("gracefd-{}-{}", me, 999_999));
        std::fs::create_dir(&dir).unwrap();
        clean_stale();
        let kept = dir.exists();
        let _ = std::fs::remove_dir(&dir);
        assert!(kept, "the unlocked directory of a live gracefd was removed");
        assert_eq!(owner_pid(b"gracefd-12-34"), Some(12));
        assert!(!crate::sys::process::exists(0));
    }
}
