//! Files: the `--status-file`, and what is removed at the end (the status
//! file, our pid file, the unix sockets gracefd bound).

use crate::sys::process::Pid;

use super::Sup;
use crate::supervise::say::{self, say};
use crate::supervise::{detach, status_file as status};

impl Sup {
    pub(super) fn write_status(&self) {
        let Some(path) = &self.o.status_file else { return };
        let mut entries: Vec<(u32, Pid)> = Vec::new();
        entries.extend(self.current.iter().map(|w| (w.generation, w.pid)));
        entries.extend(self.old.iter().map(|o| (o.w.generation, o.w.pid)));
        if let Err(e) = status::write(path, &entries) {
            say!(say::WARNING, "--status-file {}: {}", path.display(), e);
        }
    }

    pub(super) fn finish(mut self) -> i32 {
        say!(say::NOTICE, "stopped");
        if let Some(path) = &self.o.status_file {
            let _ = std::fs::remove_file(path);
        }
        if self.pidfile {
            detach::remove_own();
        }
        self.control = None;
        remove_unix_sockets();
        // Connections waiting for the stop see EOF when the process exits.
        std::mem::forget(std::mem::take(&mut self.stop_conns));
        self.init_exit_code(self.exit_code)
    }
}

/// Remove the files of the unix sockets gracefd bound (not inherited ones),
/// as start_server does for `--path`: nobody else can have bound them while
/// gracefd listened.
fn remove_unix_sockets() {
    for info in crate::registry::entries() {
        if info.source != crate::registry::Source::Created || info.kind != crate::registry::FdKind::UnixListener {
            continue;
        }
        let Ok(a) = crate::sys::socket::getsockname(info.raw) else { continue };
        let Some(p) = a.unix_path() else { continue };
        if p.is_empty() || p.first() == Some(&0) {
            continue;
        }
        let Ok(z) = crate::sys::cpath::CPath::new(p) else { continue };
        if crate::sys::fs::lstat(&z).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
            let _ = crate::sys::fs::unlink(&z);
        }
    }
}
