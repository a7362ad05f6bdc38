//! [`OptIn`]: code a program pays for only if it calls what turns it on.
//!
//! A linker keeps a function when anything it keeps refers to it. A call
//! such as `gracefd_ready` must start the connection-receiving thread only
//! when `conns::enable` was called, and only a process that took its fds by
//! hand-off has a hand-off peer to tell; yet a direct call from `ready` would
//! link both into every program that reports ready. So the function that
//! turns such a feature on installs it here, and the code that runs it finds
//! it here: a program that never links the setter never links the feature.
//! docs/HACKING.md says when to use it.

use core::sync::atomic::{AtomicPtr, Ordering};

/// A `&'static T` (usually a function pointer) installed by the function
/// that turns a feature on; `None` until then.
pub(crate) struct OptIn<T: 'static>(AtomicPtr<T>);

impl<T: 'static> OptIn<T> {
    /// Nothing installed yet.
    pub(crate) const fn new() -> Self {
        OptIn(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// Install `v` (every caller of one slot installs the same value, so a
    /// second install changes nothing).
    pub(crate) fn install(&self, v: &'static T) {
        // black_box: a slot only ever given one value would otherwise be
        // turned by LLVM into a flag plus that constant, a direct reference
        // again (which would keep the feature linked wherever `get` is).
        self.0.store(core::hint::black_box(core::ptr::from_ref(v).cast_mut()), Ordering::Release);
    }

    /// What was installed, if anything.
    pub(crate) fn get(&self) -> Option<&'static T> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: the slot only ever holds null or a pointer made from a
        // `&'static T` in `install`, and nothing writes through it.
        unsafe { p.cast_const().as_ref() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seven() -> i32 {
        7
    }

    #[test]
    fn empty_until_installed_then_the_installed_value() {
        static SLOT: OptIn<fn() -> i32> = OptIn::new();
        static SEVEN: fn() -> i32 = seven;
        assert!(SLOT.get().is_none());
        SLOT.install(&SEVEN);
        assert_eq!(SLOT.get().map(|f| f()), Some(7));
        assert!(SLOT.get().is_some_and(|f| core::ptr::eq(f, &SEVEN)));
    }
}
