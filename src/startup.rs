//! What the process looked like when it started: its environment, argv, and
//! the absolute path of its executable.
//!
//! Captured once, by the library's constructor (`crate::init`), which runs
//! before `main` and before any thread (Go's runtime included) exists, so the
//! library never reads the environment of a running, possibly multi-threaded
//! process and never calls setenv/unsetenv (docs/architecture.md, "Rules"). If
//! the constructor did not run (an unusual loader), the first use captures it
//! instead.
//!
//! The executable path is recorded now because later it may lie:
//! `/proc/self/exe` names the old, deleted inode after the binary is replaced
//! by rename, and a relative `argv[0]` breaks after `chdir`.

use alloc::vec::Vec;

use crate::sync::Lazy;
use crate::sys::process::Pid;

/// Bytes of a C string, without its NUL.
pub(crate) type Bytes = Vec<u8>;

/// The start-up snapshot.
pub struct Startup {
    /// `KEY=VALUE` entries of the initial environment, in order.
    pub(crate) env: Vec<Bytes>,
    /// The initial argv.
    pub(crate) argv: Vec<Bytes>,
    /// Absolute path of the executable (empty if it could not be found).
    pub(crate) exe: Bytes,
    /// Our pid at capture time (a fork-mode daemon re-captures nothing:
    /// code that needs the current pid calls getpid()).
    pub(crate) pid: Pid,
    /// Our pidfd id at capture time, for checking `LISTEN_PIDFDID`: looked
    /// up only when that is set (`None` also when the kernel cannot tell).
    pub(crate) pidfd_id: Option<u64>,
}

static STARTUP: Lazy<Startup> = Lazy::new();

/// The snapshot (captured at load time, or now if that did not happen).
pub fn get() -> &'static Startup {
    STARTUP.get_or_init_leaf(|| capture(None))
}

/// Capture the snapshot at load time (the constructor, `crate::init`, with
/// the argv glibc hands it; `None` elsewhere: argv is read from /proc).
pub(crate) fn capture_at_load(argv: Option<(*const *const libc::c_char, usize)>) {
    STARTUP.get_or_init_leaf(|| capture(argv));
}

impl Startup {
    /// The value of `key` in the start-up environment.
    pub fn var(&self, key: &[u8]) -> Option<&[u8]> {
        // The `=` first: most entries fail there, without comparing the key
        // (the constructor looks up a handful of names in every process).
        let n = key.len();
        self.env.iter().find_map(|e| match e.get(n) {
            Some(b'=') if e.get(..n) == Some(key) => e.get(n + 1..),
            _ => None,
        })
    }
}

fn capture(argv: Option<(*const *const libc::c_char, usize)>) -> Startup {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: at load time (or first use) environ is a valid NULL-terminated array.
    let env = unsafe { copy_strings(environ, usize::MAX) };
    let argv = match argv {
        // SAFETY: glibc passes the real argv to .init_array functions.
        Some((p, n)) if !p.is_null() => unsafe { copy_strings(p, n) },
        _ => read_cmdline(),
    };
    let exe = find_exe();
    let mut st = Startup { env, argv, exe, pid: crate::sys::process::getpid(), pidfd_id: None };
    if st.var(b"LISTEN_PIDFDID").is_some() {
        st.pidfd_id = crate::sys::process::own_pidfd_id();
    }
    st
}

/// Copy a NULL-terminated array of C strings (at most `max`).
///
/// # Safety
/// `p` is NULL or a valid NULL-terminated array of NUL-terminated strings.
unsafe fn copy_strings(p: *const *const libc::c_char, max: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    let mut i = 0;
    while i < max {
        // SAFETY: within the array until its NULL terminator.
        let s = unsafe { *p.add(i) };
        if s.is_null() {
            break;
        }
        // SAFETY: each entry is NUL-terminated.
        out.push(unsafe { core::ffi::CStr::from_ptr(s) }.to_bytes().to_vec());
        i += 1;
    }
    out
}

fn read_cmdline() -> Vec<Bytes> {
    let mut buf = alloc::vec![0u8; 64 * 1024];
    let n = crate::sys::fs::read_file(b"/proc/self/cmdline\0", &mut buf).unwrap_or(0);
    split_cmdline(buf.get(..n).unwrap_or(&[]))
}

/// The arguments in `/proc/self/cmdline`'s form: each one NUL-terminated.
/// An empty argument (`prog --name ""`) is kept: the upgrade re-executes
/// with these, and dropping it would shift every argument after it.
fn split_cmdline(data: &[u8]) -> Vec<Bytes> {
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    let mut out = Vec::new();
    if data.is_empty() {
        return out;
    }
    // A loop rather than filter/map/collect: less code in the constructor,
    // which every program that links the library carries.
    for arg in data.split(|&b| b == 0) {
        out.push(arg.to_vec());
    }
    out
}

fn find_exe() -> Bytes {
    let mut buf = [0u8; 4096];
    match crate::sys::fs::readlink(b"/proc/self/exe\0", &mut buf) {
        Ok(n) => buf.get(..n).map(|s| s.to_vec()).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cmdline_keeps_empty_arguments() {
        let v = |args: &[&str]| args.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(super::split_cmdline(b"prog\0--name\0\0--port\08080\0"), v(&["prog", "--name", "", "--port", "8080"]));
        assert_eq!(super::split_cmdline(b"prog\0\0"), v(&["prog", ""]));
        assert_eq!(super::split_cmdline(b"prog"), v(&["prog"]));
        assert_eq!(super::split_cmdline(b""), v(&[]));
    }

    #[test]
    fn captured_at_load() {
        let s = super::get();
        assert!(s.exe.starts_with(b"/"), "exe {:?}", String::from_utf8_lossy(&s.exe));
        assert!(!s.argv.is_empty());
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(s.var(b"PATH").map(|v| v.to_vec()), Some(path.into_bytes()));
    }
}
