//! Watching a process that is not our child (for `gracefd stop` and
//! `gracefd reload`): a pidfd pins it, so a recycled pid is never signalled
//! or mistaken for it; its children show the new generation it starts; its
//! pid file or systemd's `MainPID` show which process serves.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sys::process;

/// A process we may signal and watch. Without pidfds (Linux < 5.3) it falls
/// back to the pid, checked through `/proc`.
pub struct Watched {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

/// Why a process cannot be watched.
pub enum OpenError {
    /// No such process (it already exited).
    Gone,
    /// Another error (permission…), with its text.
    Other(String),
}

impl Watched {
    /// Pin `pid`.
    pub fn open(pid: i32) -> Result<Watched, OpenError> {
        match process::pidfd_open(pid) {
            // SAFETY: a fresh fd from pidfd_open, owned from here on.
            Ok(raw) => Ok(Watched { pid, pidfd: Some(unsafe { OwnedFd::from_raw_fd(raw) }) }),
            Err(e) if e.0 == libc::ESRCH => Err(OpenError::Gone),
            Err(e) if e.0 == libc::ENOSYS => {
                if state_of(pid).is_some_and(|s| s != 'Z') {
                    Ok(Watched { pid, pidfd: None })
                } else {
                    Err(OpenError::Gone)
                }
            }
            Err(e) => Err(OpenError::Other(format!("pid {}: {}", pid, e))),
        }
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// Send `sig`. Through the pidfd, so it reaches this process or none.
    pub fn signal(&self, sig: i32) -> Result<(), String> {
        let r = match &self.pidfd {
            Some(fd) => process::pidfd_send_signal(fd.as_raw_fd(), sig),
            None => process::kill(self.pid, sig),
        };
        if let Err(e) = r {
            return Err(format!("cannot send {} to pid {}: {}", crate::supervise::names::signal_name(sig), self.pid, e));
        }
        Ok(())
    }

    /// Whether it has exited (a zombie counts as exited: it serves nothing).
    pub fn exited(&self) -> bool {
        match &self.pidfd {
            Some(fd) => {
                let mut p = [libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
                matches!(crate::sys::poll::poll(&mut p, 0), Ok(n) if n > 0)
            }
            None => state_of(self.pid).map_or(true, |s| s == 'Z'),
        }
    }

    /// Wait until it exits or `until`; true if it exited.
    pub fn wait_exit(&self, until: Instant) -> bool {
        loop {
            if self.exited() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match &self.pidfd {
                Some(fd) => {
                    let ms = crate::sys::time::duration_to_ms(left).clamp(1, 1000) as i32;
                    let mut p = [libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
                    let _ = crate::sys::poll::poll(&mut p, ms);
                }
                None => std::thread::sleep(left.min(Duration::from_millis(10))),
            }
        }
    }

    /// Its children now (every thread's; empty once it exited).
    pub(crate) fn children(&self) -> BTreeSet<i32> {
        children_of(self.pid)
    }
}

/// The state letter of `/proc/PID/stat` (None: no such process).
fn state_of(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    s.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// Whether `pid` is a live process (not a zombie).
pub(crate) fn is_alive(pid: i32) -> bool {
    state_of(pid).is_some_and(|s| s != 'Z')
}

/// The children of `pid`: `/proc/PID/task/*/children` where the kernel has
/// it, otherwise a scan of every process's parent pid.
pub(crate) fn children_of(pid: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    let mut have_children_files = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", pid)) {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                have_children_files = true;
                out.extend(text.split_ascii_whitespace().filter_map(|w| w.parse::<i32>().ok()));
            }
        }
    }
    if have_children_files {
        return out;
    }
    if let Ok(all) = std::fs::read_dir("/proc") {
        for e in all.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            if parent_of(p) == Some(pid) {
                out.insert(p);
            }
        }
    }
    out
}

/// Page faults of the children `pid` has reaped (`cminflt + cmajflt` of
/// `/proc/PID/stat`): it grows when `pid` waits for a child that ran, even
/// one that existed too briefly to be seen among its children.
pub(crate) fn reaped_children_faults(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the comm: state is field 3, so field n is f[n - 3]; cminflt is 11, cmajflt 13.
    let minor: u64 = f.get(8)?.parse().ok()?;
    let major: u64 = f.get(10)?.parse().ok()?;
    Some(minor.saturating_add(major))
}

fn parent_of(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// The pid a pid file names (None: missing, unreadable or not a pid).
pub(crate) fn pid_in_file(path: &Path) -> Option<i32> {
    let text = std::fs::read(path).ok()?;
    let line = text.split(|&b| b == b'\n').next()?;
    crate::proto::num::parse_pid(line)
}

/// Where systemctl is looked for (fixed places: never through `PATH`).
const SYSTEMCTL: [&str; 2] = ["/usr/bin/systemctl", "/bin/systemctl"];

/// systemd's `MainPID` of `unit` (0: none), asked with `systemctl show`.
pub(crate) fn systemd_main_pid(unit: &str) -> Result<i32, String> {
    let exe = SYSTEMCTL.iter().find(|p| Path::new(p).exists()).ok_or("systemctl is not installed (looked in /usr/bin and /bin)")?;
    let out = std::process::Command::new(exe)
        .args(["show", "--property=MainPID", "--value", "--", unit])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {}", exe, e))?;
    if !out.status.success() {
        return Err(format!("systemctl show {}: {}", unit, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse::<i32>().map_err(|_| format!("systemctl show {}: MainPID {:?} is not a number", unit, text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_shows_among_the_children_then_in_the_reaped_faults() {
        let me = std::process::id() as i32;
        let before = reaped_children_faults(me).unwrap();
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(children_of(me).contains(&pid));
        assert!(is_alive(pid));
        let w = Watched::open(pid).ok().unwrap();
        assert!(!w.exited());
        w.signal(libc::SIGTERM).unwrap();
        assert!(w.wait_exit(Instant::now() + Duration::from_secs(5)));
        assert!(w.exited() && !is_alive(pid)); // a zombie is not alive
        child.wait().unwrap();
        assert!(reaped_children_faults(me).unwrap() > before, "reaping a child that ran adds its faults");
    }

    #[test]
    fn an_exited_process_cannot_be_opened() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(matches!(Watched::open(pid), Err(OpenError::Gone)));
        assert_eq!(state_of(pid), None);
    }

    #[test]
    fn pid_files_and_stat_lines_are_read_strictly() {
        let dir = std::env::temp_dir().join(format!("gracefd-proc-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p");
        std::fs::write(&f, b"123\n").unwrap();
        assert_eq!(pid_in_file(&f), Some(123));
        std::fs::write(&f, b"12x\n").unwrap();
        assert_eq!(pid_in_file(&f), None);
        std::fs::write(&f, b"").unwrap();
        assert_eq!(pid_in_file(&f), None);
        assert_eq!(pid_in_file(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
        // Our own stat line, whatever our comm holds.
        assert!(matches!(state_of(std::process::id() as i32), Some('R') | Some('S')));
    }
}
