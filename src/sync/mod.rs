//! The two synchronisation primitives the core needs, without std:
//! a one-time initialiser and a mutex (pthread-based, so it sleeps rather than spins).
//!
//! Neither is ever touched between fork and exec. Each counts as a lock in
//! this thread's bookkeeping (`held.rs`), which the log uses to keep a
//! message made under a lock until the last one is released.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU8, Ordering};

use crate::sys::thread::RawMutex;

mod held;
mod opt_in;
pub(crate) use held::{keep_while_locked, set_sink, Kept, Sink};
pub(crate) use opt_in::OptIn;

const NEW: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// Runs a closure once; concurrent callers wait until it has finished.
pub struct Once(AtomicU8);

impl Once {
    /// A fresh, not yet run, initialiser.
    pub const fn new() -> Once {
        Once(AtomicU8::new(NEW))
    }

    /// Run `f` if nobody has yet; return once it has run (here or elsewhere).
    pub fn call(&self, f: impl FnOnce()) {
        self.run::<true>(f);
    }

    /// [`Once::call`] for an initialiser that neither logs nor takes a
    /// counted lock (the start-up snapshot, the lineage's variables): without
    /// the per-thread bookkeeping, so that the library's constructor, which
    /// runs only such initialisers, does not reach the log's delivery code
    /// (every program linking the library carries what it reaches).
    pub(crate) fn call_leaf(&self, f: impl FnOnce()) {
        self.run::<false>(f);
    }

    fn run<const COUNTED: bool>(&self, f: impl FnOnce()) {
        if self.0.load(Ordering::Acquire) == DONE {
            return;
        }
        if self.0.compare_exchange(NEW, RUNNING, Ordering::Acquire, Ordering::Acquire).is_ok() {
            // Others wait for `f`: like a lock, no call out (log hook) inside.
            if COUNTED {
                held::enter();
            }
            f();
            self.0.store(DONE, Ordering::Release);
            if COUNTED {
                held::leave();
            }
            return;
        }
        while self.0.load(Ordering::Acquire) != DONE {
            crate::sys::thread::yield_now();
        }
    }

    /// Whether `call` has completed.
    pub fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == DONE
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

/// A value initialised lazily, once.
pub struct Lazy<T> {
    once: Once,
    val: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once inside `Once` and only read afterwards.
unsafe impl<T: Sync + Send> Sync for Lazy<T> {}

impl<T> Lazy<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Lazy { once: Once::new(), val: UnsafeCell::new(None) }
    }

    /// The value, computing it with `f` on first use.
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        self.once.call(|| {
            // SAFETY: only written here, once, before `once` completes.
            unsafe { *self.val.get() = Some(f()) };
        });
        // SAFETY: `once` has completed, so the value is written and never again.
        match unsafe { &*self.val.get() } {
            Some(v) => v,
            None => abort_unreachable(),
        }
    }

    /// [`Lazy::get_or_init`] for an `f` that neither logs nor takes a
    /// counted lock (see [`Once::call_leaf`]).
    pub(crate) fn get_or_init_leaf(&self, f: impl FnOnce() -> T) -> &T {
        self.once.call_leaf(|| {
            // SAFETY: only written here, once, before `once` completes.
            unsafe { *self.val.get() = Some(f()) };
        });
        // SAFETY: `once` has completed, so the value is written and never again.
        match unsafe { &*self.val.get() } {
            Some(v) => v,
            None => abort_unreachable(),
        }
    }

    /// The value if it was initialised.
    #[cfg(test)]
    pub fn get(&self) -> Option<&T> {
        if self.once.is_done() {
            // SAFETY: completed once: written and immutable.
            unsafe { (*self.val.get()).as_ref() }
        } else {
            None
        }
    }
}

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Lazy::new()
    }
}

#[cold]
fn abort_unreachable() -> ! {
    // This path is impossible by construction.
    crate::sys::process::abort()
}

/// A mutex over `T`, backed by a static `pthread_mutex_t`.
pub struct Mutex<T> {
    raw: RawMutex,
    val: UnsafeCell<T>,
}

// SAFETY: access to `val` is serialised by the pthread mutex.
unsafe impl<T: Send> Sync for Mutex<T> {}
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(v: T) -> Self {
        Mutex { raw: RawMutex::new(), val: UnsafeCell::new(v) }
    }

    /// Lock it. A static default pthread mutex cannot fail to lock except by
    /// self-deadlock, which the core never does: no call out (the log hook)
    /// happens while a guard lives — log messages made meanwhile are kept and
    /// delivered when this thread's last guard is dropped.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        held::enter();
        MutexGuard { m: self }
    }
}

impl<T> Mutex<T> {
    /// Run `f` on the value under the lock, without the per-thread
    /// bookkeeping, for an `f` under which nothing logs or calls out: the
    /// log hook's own cell, and the library's constructor, so that it
    /// reaches no log code (a guard's drop would).
    pub(crate) fn with_leaf<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.raw.lock();
        // SAFETY: we hold the lock until after `f` returns.
        let r = f(unsafe { &mut *self.val.get() });
        // SAFETY: locked above.
        unsafe { self.raw.unlock() };
        r
    }
}

/// Holds the lock; releases it on drop.
pub struct MutexGuard<'a, T> {
    m: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock.
        unsafe { &*self.m.val.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock.
        unsafe { &mut *self.m.val.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: locked by us in `lock`.
        unsafe { self.m.raw.unlock() };
        held::leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn mutex_serialises() {
        let m = Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..10000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), 40000);
    }

    #[test]
    fn lazy_runs_once() {
        static L: Lazy<u32> = Lazy::new();
        assert!(L.get().is_none());
        assert_eq!(*L.get_or_init(|| 7), 7);
        assert_eq!(*L.get_or_init(|| 8), 7);
    }
}
