//! The `NOTIFY_SOCKET` gracefd gives each worker: a unix datagram socket of
//! its own, in a private directory (mode 0700), so a datagram on it comes
//! from that worker (or its children) and nobody else can send one. A worker
//! that speaks sd_notify (libsystemd's `sd_notify`, `systemd-notify`, the
//! library's `gracefd_ready()`) reports `READY=1` here; gracefd's own
//! readiness goes up to the service manager from gracefd, never from a worker.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gracefd::sys::fd::{self, Fd, RawFd};
use gracefd::sys::socket::{self, SockAddr};

/// The private directory holding the workers' sockets; removed on drop.
pub struct NotifyDir {
    path: PathBuf,
}

impl NotifyDir {
    /// Create `gracefd-<pid>-<n>` (mode 0700) under `$TMPDIR` (or `/tmp` when
    /// that would make socket paths too long).
    pub fn create() -> std::io::Result<NotifyDir> {
        use std::os::unix::fs::DirBuilderExt;
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > 60 {
            base = PathBuf::from("/tmp");
        }
        let pid = gracefd::sys::process::getpid();
        let mut last = None;
        for attempt in 0..100u64 {
            let salt = gracefd::sys::time::monotonic_ns().wrapping_add(attempt * 7919) % 1_000_000;
            let path = base.join(format!("gracefd-{}-{}", pid, salt));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(NotifyDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AlreadyExists)))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A socket for one worker, named after its generation.
    pub fn socket(&self, generation: u32) -> gracefd::Result<NotifySock> {
        let path = self.path.join(format!("w{}", generation));
        let _ = std::fs::remove_file(&path);
        let bytes = path.as_os_str().as_bytes();
        let addr = SockAddr::unix(bytes, false).map_err(|e| gracefd::Error::sys(e, "NOTIFY_SOCKET path"))?;
        let s = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).map_err(|e| gracefd::Error::sys(e, "NOTIFY_SOCKET socket"))?;
        socket::bind(s.raw(), &addr).map_err(|e| gracefd::Error::sys(e, "NOTIFY_SOCKET bind"))?;
        // Our own socket: non-blocking is ours to set.
        fd::set_nonblocking(s.raw(), true).map_err(|e| gracefd::Error::sys(e, "NOTIFY_SOCKET O_NONBLOCK"))?;
        Ok(NotifySock { fd: s, path })
    }
}

impl Drop for NotifyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One worker's notification socket; its file is removed on drop.
pub struct NotifySock {
    fd: Fd,
    path: PathBuf,
}

/// What a batch of notifications said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notes {
    /// A `READY=1` line arrived.
    pub ready: bool,
    /// The last `STATUS=` text.
    pub status: Option<String>,
    /// A `STOPPING=1` line arrived.
    pub stopping: bool,
}

impl NotifySock {
    /// The value for the worker's `NOTIFY_SOCKET`.
    pub fn env_value(&self) -> &[u8] {
        self.path.as_os_str().as_bytes()
    }

    /// The fd to poll.
    pub fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// Read every pending datagram (fds passed along, e.g. `FDSTORE=1`, are
    /// closed: gracefd keeps no fd store for workers).
    pub fn receive(&self) -> Notes {
        let mut notes = Notes::default();
        let mut buf = [0u8; 4096];
        let mut fds = [0 as RawFd; 16];
        while let Ok(r) = socket::recv_with_fds(self.fd.raw(), &mut buf, &mut fds, libc::MSG_DONTWAIT) {
            for f in fds.iter().take(r.nfds) {
                // SAFETY: just received with this datagram: ours alone, closed here.
                drop(unsafe { Fd::from_raw(*f) });
            }
            parse_into(buf.get(..r.len).unwrap_or(&[]), &mut notes);
        }
        notes
    }
}

impl Drop for NotifySock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Read one datagram of `KEY=VALUE` lines.
pub fn parse_into(datagram: &[u8], notes: &mut Notes) {
    for line in datagram.split(|&b| b == b'\n') {
        match line {
            b"READY=1" => notes.ready = true,
            b"STOPPING=1" => notes.stopping = true,
            _ => {
                if let Some(s) = line.strip_prefix(b"STATUS=") {
                    notes.status = Some(String::from_utf8_lossy(s).into_owned());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let mut n = Notes::default();
        parse_into(b"STATUS=warming up\nMAINPID=3", &mut n);
        assert_eq!(n, Notes { ready: false, status: Some("warming up".into()), stopping: false });
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
}
