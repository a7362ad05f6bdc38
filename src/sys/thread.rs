//! Threads: pthread keys (per-thread storage without std), a raw pthread
//! mutex, yielding, and the C heap for per-thread buffers.

use core::cell::UnsafeCell;
use core::ffi::c_void;

use super::{Errno, SysResult};

/// A pthread key.
pub(crate) type Key = libc::pthread_key_t;

/// `pthread_key_create` with a destructor run at thread exit for non-NULL values.
pub(crate) fn key_create(dtor: unsafe extern "C" fn(*mut c_void)) -> SysResult<Key> {
    let mut k: Key = 0;
    // SAFETY: valid out-pointer; dtor has the signature pthread expects.
    match unsafe { libc::pthread_key_create(&mut k, Some(dtor)) } {
        0 => Ok(k),
        e => Err(Errno(e)),
    }
}

/// This thread's value for `k` (NULL if none).
pub(crate) fn get_specific(k: Key) -> *mut c_void {
    // SAFETY: any key value is accepted; an invalid one gives NULL.
    unsafe { libc::pthread_getspecific(k) }
}

/// Set this thread's value for `k`.
pub(crate) fn set_specific(k: Key, p: *mut c_void) -> SysResult<()> {
    // SAFETY: p is stored, not dereferenced, by pthread.
    match unsafe { libc::pthread_setspecific(k, p as *const c_void) } {
        0 => Ok(()),
        e => Err(Errno(e)),
    }
}

/// `calloc(1, n)`: zeroed C heap memory, NULL on failure.
pub(crate) fn zalloc(n: usize) -> *mut u8 {
    // SAFETY: plain calloc.
    unsafe { libc::calloc(1, n) as *mut u8 }
}

/// `free`.
///
/// # Safety
/// `p` is NULL or came from [`zalloc`] and is not used afterwards.
pub(crate) unsafe fn free(p: *mut c_void) {
    // SAFETY: caller's promise.
    unsafe { libc::free(p) }
}

/// `sched_yield`.
pub(crate) fn yield_now() {
    // SAFETY: no preconditions.
    unsafe { libc::sched_yield() };
}

/// A statically initialised pthread mutex. It must not move once used (keep
/// it in a static or behind a pointer).
pub(crate) struct RawMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: pthread mutexes are made to be shared between threads.
unsafe impl Sync for RawMutex {}
unsafe impl Send for RawMutex {}

impl RawMutex {
    /// An unlocked default mutex.
    pub const fn new() -> RawMutex {
        RawMutex(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER))
    }

    /// Lock (a default mutex only fails on self-deadlock, which callers avoid).
    pub fn lock(&self) {
        // SAFETY: an initialised mutex that does not move.
        unsafe { libc::pthread_mutex_lock(self.0.get()) };
    }

    /// Unlock.
    ///
    /// # Safety
    /// The calling thread holds the lock.
    pub(crate) unsafe fn unlock(&self) {
        // SAFETY: caller's promise.
        unsafe { libc::pthread_mutex_unlock(self.0.get()) };
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        RawMutex::new()
    }
}

/// Start a detached thread running `f(arg)` with every signal blocked in it,
/// so the program's signals keep going to the program's own threads (a
/// `signalfd` or `sigwait` user that blocks them in its threads would
/// otherwise lose them to ours). The caller's mask is left as it was.
///
/// # Safety
/// `f` must be sound to run on another thread with `arg`, which it then owns.
pub(crate) unsafe fn spawn_detached(f: extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void) -> SysResult<()> {
    // SAFETY: plain data, filled by the calls below before use.
    let mut all: libc::sigset_t = unsafe { core::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    let mut attr: libc::pthread_attr_t = unsafe { core::mem::zeroed() };
    let mut tid: libc::pthread_t = 0;
    // SAFETY: valid pointers to live locals; the new thread inherits the
    // blocked mask, then ours is restored.
    unsafe {
        libc::sigfillset(&mut all);
        let e = libc::pthread_attr_init(&mut attr);
        if e != 0 {
            return Err(Errno(e));
        }
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let e = libc::pthread_create(&mut tid, &attr, f, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if e != 0 {
            return Err(Errno(e));
        }
    }
    Ok(())
}
