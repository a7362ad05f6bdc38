//! Signal masks and dispositions.

use super::{cvt, SysResult};

/// Highest signal number to reset (glibc's `_NSIG - 1` on Linux).
const NSIG: i32 = 65;

/// Unblock every signal in the calling thread. Async-signal-safe.
pub fn unblock_all() -> SysResult<()> {
    // SAFETY: sigset ops on a local set.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        let r = libc::pthread_sigmask(libc::SIG_SETMASK, &set, core::ptr::null_mut());
        if r != 0 {
            return Err(super::Errno(r));
        }
    }
    Ok(())
}

/// Reset every catchable signal to its default action. Async-signal-safe
/// (sigaction is). Exec would reset handled signals anyway, but not ignored
/// ones (SIG_IGN survives exec), so this runs before exec too.
///
/// glibc's `sigaction` refuses the two signals it reserves (32 and 33,
/// SIGCANCEL and SIGSETXID) with EINVAL; a process can still inherit them
/// ignored (some shells and build tools pass them on so). For those, an
/// inherited SIG_IGN is turned into SIG_DFL with the raw system call, and a
/// handler glibc installed is left alone.
pub(crate) fn reset_all_dispositions() {
    for sig in 1..NSIG {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction with SIG_DFL is valid.
        let r = unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, core::ptr::null_mut())
        };
        if r != 0 {
            unignore_raw(sig);
        }
    }
}

/// The kernel's `struct sigaction` (x86_64, aarch64: handler, flags, restorer, mask).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// If `sig` is ignored, make it SIG_DFL, bypassing libc. Async-signal-safe.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn unignore_raw(sig: i32) {
    let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    let dfl = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    let size = core::mem::size_of::<u64>();
    // SAFETY: rt_sigaction with valid pointers to kernel-layout structs and
    // the kernel's sigset size (8 bytes).
    unsafe {
        if libc::syscall(libc::SYS_rt_sigaction, sig, core::ptr::null::<KernelSigaction>(), &mut old as *mut KernelSigaction, size) == 0
            && old.handler == libc::SIG_IGN
        {
            libc::syscall(libc::SYS_rt_sigaction, sig, &dfl as *const KernelSigaction, core::ptr::null_mut::<KernelSigaction>(), size);
        }
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn unignore_raw(_sig: i32) {}

/// Block `sigs` in the calling thread, returning the previous mask.
pub fn block(sigs: &[i32]) -> SysResult<libc::sigset_t> {
    // SAFETY: sigset ops on locals.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        if r != 0 {
            return Err(super::Errno(r));
        }
        Ok(old)
    }
}

/// Block every signal in the calling thread (around fork, so no handler runs
/// in the child before its dispositions are reset), returning the previous mask.
pub(crate) fn block_all() -> SysResult<libc::sigset_t> {
    // SAFETY: sigset ops on locals.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut set);
        let r = libc::pthread_sigmask(libc::SIG_SETMASK, &set, &mut old);
        if r != 0 {
            return Err(super::Errno(r));
        }
        Ok(old)
    }
}

/// Restore a mask saved by [`block`].
pub(crate) fn set_mask(mask: &libc::sigset_t) -> SysResult<()> {
    // SAFETY: mask is a valid sigset.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, core::ptr::null_mut()) };
    if r != 0 {
        return Err(super::Errno(r));
    }
    Ok(())
}

/// Install `handler` for `sig` with `SA_RESTART`, returning the previous action.
pub fn install(sig: i32, handler: extern "C" fn(libc::c_int)) -> SysResult<libc::sigaction> {
    // SAFETY: zeroed sigaction structs are valid; pointers to locals.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        let mut old: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        cvt(libc::sigaction(sig, &sa, &mut old))?;
        Ok(old)
    }
}

/// Set `sig` to its default action (no `SA_NOCLDWAIT` or other flags).
pub fn set_default(sig: i32) -> SysResult<()> {
    set_default_saving(sig).map(|_| ())
}

/// Set `sig` to its default action, returning the previous one (to put back
/// with [`restore`]).
pub(crate) fn set_default_saving(sig: i32) -> SysResult<libc::sigaction> {
    // SAFETY: zeroed sigaction structs are valid; pointers to locals.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        let mut old: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        cvt(libc::sigaction(sig, &sa, &mut old))?;
        Ok(old)
    }
}

/// Restore an action returned by [`install`] or [`set_default_saving`].
pub(crate) fn restore(sig: i32, old: &libc::sigaction) -> SysResult<()> {
    // SAFETY: old came from sigaction.
    cvt(unsafe { libc::sigaction(sig, old, core::ptr::null_mut()) }).map(|_| ())
}

// One list makes both tables: `NAMES` (number and name, for the lookups by
// name) and `NAME_CODES` + `NAME_TEXTS` (one byte per signal and one string),
// which is what a lookup by number reads. A table of `(i32, &str)` pairs is
// 24 bytes and a load-time relocation per signal in every program that can
// say how a child died (the `Exit` text).
macro_rules! signal_table {
    ($($name:ident,)*) => {
        /// Every signal with a name, and its symbolic name: the one table the
        /// library, the supervisor's options and messages, and the Rust face use.
        pub const NAMES: [(i32, &str); 31] = [$((libc::$name, stringify!($name)),)*];
        /// The signal numbers of [`NAMES`], in its order.
        const NAME_CODES: &[u8] = &[$(libc::$name as u8,)*];
        // Every number fits the byte it is stored in.
        const _: () = { $(assert!(libc::$name > 0 && libc::$name < 256);)* };
        /// The names of [`NAME_CODES`], each followed by a NUL, back to back.
        const NAME_TEXTS: &str = concat!($(stringify!($name), "\0",)*);
    };
}

signal_table! {
    SIGHUP,
    SIGINT,
    SIGQUIT,
    SIGILL,
    SIGTRAP,
    SIGABRT,
    SIGBUS,
    SIGFPE,
    SIGKILL,
    SIGUSR1,
    SIGSEGV,
    SIGUSR2,
    SIGPIPE,
    SIGALRM,
    SIGTERM,
    SIGSTKFLT,
    SIGCHLD,
    SIGCONT,
    SIGSTOP,
    SIGTSTP,
    SIGTTIN,
    SIGTTOU,
    SIGURG,
    SIGXCPU,
    SIGXFSZ,
    SIGVTALRM,
    SIGPROF,
    SIGWINCH,
    SIGIO,
    SIGPWR,
    SIGSYS,
}

/// The symbolic name of a signal number (`"SIGSEGV"`), if it has one.
pub fn lookup(sig: i32) -> Option<&'static str> {
    super::nul_entry(NAME_CODES, NAME_TEXTS, sig, 0)
}

/// The symbolic name of a signal number (`"SIGSEGV"`), or `"SIG?"`.
pub fn name(sig: i32) -> &'static str {
    lookup(sig).unwrap_or("SIG?")
}

/// The number of a signal by its name, with or without `SIG` (`"TERM"`,
/// `"SIGTERM"`; upper case).
pub fn by_name(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    NAMES.iter().find(|(_, s)| s.get(3..) == Some(bare)).map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_both_ways() {
        assert_eq!((name(libc::SIGSYS), name(libc::SIGTERM), name(99)), ("SIGSYS", "SIGTERM", "SIG?"));
        assert_eq!((by_name("TERM"), by_name("SIGUSR1"), by_name("SYS")), (Some(libc::SIGTERM), Some(libc::SIGUSR1), Some(libc::SIGSYS)));
        assert_eq!((by_name("term"), by_name("SIG"), by_name("")), (None, None, None));
        for (n, s) in NAMES {
            assert_eq!(by_name(s), Some(n), "{}", s);
            assert_eq!(lookup(n), Some(s), "{}", n);
        }
        assert_eq!((lookup(0), lookup(-1), lookup(256 + libc::SIGHUP), lookup(32)), (None, None, None, None));
    }

    #[test]
    fn packed_lookup_agrees_with_the_table() {
        for sig in -300..600 {
            let want = NAMES.iter().find(|(n, _)| *n == sig).map(|(_, s)| *s);
            assert_eq!(lookup(sig), want, "signal {}", sig);
        }
        assert_eq!(NAMES.iter().filter(|(n, _)| lookup(*n).is_some()).count(), NAMES.len());
    }
}
