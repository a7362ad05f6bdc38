//! Which locks this thread holds, and the log records made meanwhile: they
//! are kept here and handed to the log's [`Sink`] when the thread holds none,
//! so the log hook (which may call back into the library) never runs with a
//! lock held. Every `sync::Mutex` guard and every `sync::Once` initialiser
//! counts as a lock. The log registers its sink ([`set_sink`]) before it
//! keeps its first record, so this bottom layer never calls up by name.
//!
//! Per-thread state lives in a pthread key (no thread-locals in stable
//! no_std) holding a calloc'd [`Held`], created on the thread's first lock.
//! The key is made with an atomic, not a `Once`: a `Once` counts as a lock
//! and would come back here.

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::msg::Msg;
use crate::sys::thread::{self, Key};

/// How many records a thread keeps while it holds locks; more are counted
/// and reported as dropped.
const KEEP: usize = 16;

/// A record kept while a lock was held.
#[derive(Clone, Copy)]
pub(crate) struct Kept {
    /// Its syslog level.
    pub(crate) level: i32,
    /// Its text, formatted when it was made.
    pub(crate) msg: Msg,
}

/// Where kept records go once this thread holds no lock: the records, and
/// how many more were dropped for want of room.
pub(crate) struct Sink(pub(crate) fn(&[Kept], u32));

static SINK: AtomicPtr<Sink> = AtomicPtr::new(core::ptr::null_mut());

/// Register the sink (the log does, before it keeps anything).
pub(crate) fn set_sink(s: &'static Sink) {
    SINK.store(core::ptr::from_ref(s).cast_mut(), Ordering::Release);
}

/// All-zero bytes are a valid value (depth 0, nothing kept, empty messages).
struct Held {
    depth: u32,
    n: u32,
    dropped: u32,
    recs: [Kept; KEEP],
}

/// The key + 1 (0: not made yet; usize::MAX: making it failed).
static KEY: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn free_held(p: *mut core::ffi::c_void) {
    // SAFETY: p came from thread::zalloc in `held`, and is this exiting thread's alone.
    unsafe { thread::free(p) }
}

fn key() -> Option<Key> {
    match KEY.load(Ordering::Acquire) {
        usize::MAX => return None,
        0 => {}
        k => return Key::try_from(k - 1).ok(),
    }
    let made = thread::key_create(free_held).ok().and_then(|k| usize::try_from(k).ok()).map_or(usize::MAX, |k| k + 1);
    match KEY.compare_exchange(0, made, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Key::try_from(made.wrapping_sub(1)).ok().filter(|_| made != usize::MAX),
        // Another thread made one first: use it (ours stays unused; this
        // happens at most once per racing thread, at the first lock).
        Err(k) if k != usize::MAX => Key::try_from(k - 1).ok(),
        Err(_) => None,
    }
}

/// This thread's state; `None` only if the key or its memory could not be had.
fn held() -> Option<&'static mut Held> {
    let k = key()?;
    let mut p = thread::get_specific(k) as *mut Held;
    if p.is_null() {
        p = thread::zalloc(core::mem::size_of::<Held>()) as *mut Held;
        if p.is_null() {
            return None;
        }
        if thread::set_specific(k, p.cast()).is_err() {
            // SAFETY: p is ours and was never shared.
            unsafe { thread::free(p.cast()) };
            return None;
        }
    }
    // SAFETY: p is this thread's own zero-initialised (valid) Held, used by
    // this thread alone, and no other reference to it is alive: every user
    // below takes it, uses it and lets it go before calling anything else.
    Some(unsafe { &mut *p })
}

/// A lock was taken on this thread.
pub(crate) fn enter() {
    if let Some(h) = held() {
        h.depth = h.depth.saturating_add(1);
    }
}

/// A lock was released on this thread: at depth 0, deliver what was kept.
pub(crate) fn leave() {
    let (recs, n, dropped) = {
        let Some(h) = held() else { return };
        h.depth = h.depth.saturating_sub(1);
        if h.depth > 0 || (h.n == 0 && h.dropped == 0) {
            return;
        }
        let out = (h.recs, h.n as usize, h.dropped);
        h.n = 0;
        h.dropped = 0;
        out
    };
    let sink = SINK.load(Ordering::Acquire);
    if sink.is_null() {
        return;
    }
    // SAFETY: SINK only ever holds a pointer made from a `&'static Sink`.
    let sink = unsafe { &*sink };
    (sink.0)(recs.get(..n).unwrap_or(&[]), dropped);
}

/// Keep `msg` if this thread holds a lock (`true`); `false`: deliver it now.
/// Without per-thread state (out of memory) it is delivered now, as before
/// this existed.
pub(crate) fn keep_while_locked(level: i32, msg: &Msg) -> bool {
    let Some(h) = held() else { return false };
    if h.depth == 0 {
        return false;
    }
    match h.recs.get_mut(h.n as usize) {
        Some(slot) => {
            *slot = Kept { level, msg: *msg };
            h.n += 1;
        }
        None => h.dropped = h.dropped.saturating_add(1),
    }
    true
}
