//! The private `NOTIFY_SOCKET` a launcher gives a program it starts
//! (`Ready::Notify`): a unix datagram socket in a directory of its own (mode
//! 0700, at an unpredictable name under `$TMPDIR` or `/tmp`), so a datagram
//! on it comes from the daemon (or a process it started) and from nobody
//! else. The socket and the reading of its datagrams are `notify_inbox`'s
//! (shared with the supervisor's per-worker sockets). Removed when the
//! launcher is done.

use crate::error::{Error, Result};
use crate::sync::OptIn;
use crate::sys::cpath::CPath;
use crate::sys::fd::{Fd, RawFd};
use crate::sys::fs;
use crate::{notify_inbox, safe_path};

/// The socket's name in the private directory.
const NAME: &[u8] = b"notify";

pub(super) struct NotifySocket {
    sock: Fd,
    /// `<base>/<private dir>` and `<base>/<private dir>/notify`.
    dir: CPath,
    path: CPath,
}

impl NotifySocket {
    /// Make the directory and bind the socket in it. Errors name the step.
    pub(super) fn make() -> Result<NotifySocket> {
        READ_READY.install(&(read_ready as fn(RawFd) -> bool));
        let base = notify_inbox::base_dir();
        let base_z = CPath::new(base).map_err(|e| Error::sys(e, "the NOTIFY_SOCKET base directory"))?;
        let parent = fs::open(&base_z, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| Error::sys(e, "open the NOTIFY_SOCKET base directory"))?;
        let name = safe_path::make_private_dir(&parent, b"gracefd-notify").map_err(|e| Error::sys(e, "make the NOTIFY_SOCKET directory"))?;
        let name = name.as_bytes();
        let dir = CPath::join(&[base, b"/", name]).map_err(|e| Error::sys(e, "the NOTIFY_SOCKET directory"))?;
        let path = CPath::join(&[base, b"/", name, b"/", NAME]).map_err(|e| Error::sys(e, "the NOTIFY_SOCKET path"))?;
        match notify_inbox::bind(path.as_bytes()) {
            Ok(sock) => Ok(NotifySocket { sock, dir, path }),
            Err(e) => {
                let _ = fs::unlinkat(libc::AT_FDCWD, &dir, true);
                Err(Error::sys(e, "bind the NOTIFY_SOCKET"))
            }
        }
    }

    /// The value for the program's `NOTIFY_SOCKET`.
    pub(super) fn env_value(&self) -> &[u8] {
        self.path.as_bytes()
    }

    /// The fd to poll.
    pub(super) fn raw(&self) -> RawFd {
        self.sock.raw()
    }

    /// Read every pending datagram; whether one said `READY=1`. (Fds sent
    /// along, e.g. `FDSTORE=1`, are closed.)
    pub(super) fn said_ready(&self) -> bool {
        // Installed: `self` was made by `make`.
        READ_READY.get().is_some_and(|read| read(self.sock.raw()))
    }
}

/// [`read_ready`], installed by [`NotifySocket::make`]: the launcher's wait,
/// which every `daemonize` links, reaches the reading of datagrams only
/// through it, so a program without command mode does not link it
/// (`sync::OptIn`).
static READ_READY: OptIn<fn(RawFd) -> bool> = OptIn::new();

/// Read the pending datagrams on `sock` (a bounded batch: the socket stays
/// readable for the rest); whether one said `READY=1`.
fn read_ready(sock: RawFd) -> bool {
    let mut ready = false;
    notify_inbox::drain(sock, |r| ready |= r.ready);
    ready
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = fs::unlink(&self.path);
        let _ = fs::unlinkat(libc::AT_FDCWD, &self.dir, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::socket::{self, SockAddr};

    #[test]
    fn hears_ready_and_cleans_up() {
        let n = NotifySocket::make().unwrap();
        let addr = SockAddr::unix(n.env_value(), false).unwrap();
        let c = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        socket::send_with_fds(c.raw(), b"STATUS=warming up", &[], Some(&addr)).unwrap();
        assert!(!n.said_ready());
        socket::send_with_fds(c.raw(), b"STATUS=up\nREADY=1\n", &[], Some(&addr)).unwrap();
        assert!(n.said_ready());
        assert!(!n.said_ready(), "read once");
        let st = fs::lstat(&n.dir).unwrap();
        assert_eq!(st.st_mode & 0o777, 0o700);
        let dir = n.dir.clone();
        drop(n);
        assert!(fs::lstat(&dir).is_err(), "the directory was removed");
    }
}
