//! After a hand-over, this generation's exit gives the CPU to the new one.
//!
//! Once an upgrade has succeeded, the old generation drains and exits, and
//! the kernel frees its memory during that exit, in the old generation's own
//! context: about a third of a second of CPU per touched GiB on the
//! benchmark machine. The new generation's ready report woke the old one,
//! often onto the CPU the new one runs on; the new one then waits there
//! behind the old one's drain and exit until the scheduler next looks (at
//! 4 GiB, the next tick), before it answers its first request. So, after a
//! hand-over, the library registers an exit handler that lowers every
//! thread of the process to the lowest nice value and yields: the new
//! generation runs first, and from then on the freeing takes a small share
//! of a CPU the new generation wants.
//!
//! Why not `SCHED_IDLE`: a lower priority alone, without the yield, gained
//! nothing measurable (a priority change does not make the scheduler look
//! again), and an idle teardown on a busy machine waited for seconds (5.7 s
//! and 8.8 s for 4 GiB in 15 upgrades), holding the memory meanwhile. At
//! nice 19 it still gets a share: "old gone" for 4 GiB stayed under a
//! second (docs/performance.md, "What grows with the size").
//!
//! Both hand-overs arm it: a successful upgrade and a hand-off whose taker
//! is ready. A program turns it off with `gracefd_set_exit_yield(0)` (C) or
//! `gracefd::set_exit_yield(false)` (Rust).
//!
//! The handler runs when the program exits, after its own drain, so no
//! request still in flight is served at a lowered priority. Nothing happens
//! where a process leaves without exit handlers (`_exit`, a fatal signal,
//! Go's `os.Exit`).

use core::sync::atomic::{AtomicBool, Ordering};

use crate::sys::{fs, sched, thread, Errno};

static ARMED: AtomicBool = AtomicBool::new(false);

/// Whether an armed exit gives way (on unless the program said otherwise):
/// read at exit, so it can be changed until then.
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turn the behaviour on or off for this process (on by default): for a
/// program whose exit handlers or final flushes must keep its priority.
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Make this process's exit give way to its successor (registers the exit
/// handler once; later calls do nothing). Called where a new generation has
/// taken over: a successful upgrade, a hand-off to a taker that is ready.
/// No message and no lock: callers holding a lock note the error and log it
/// after. Errors: `ENOMEM` if libc has no room for another exit handler.
pub(crate) fn arm() -> Result<(), Errno> {
    if ARMED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    sched::at_exit(on_exit)
}

/// Every thread to the lowest priority, then give the CPU away. Called by
/// libc's `exit`; it must not unwind (nothing here can panic).
extern "C" fn on_exit() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    lower_every_thread();
    thread::yield_now();
}

/// Lower every thread of this process to nice 19: the kernel frees the
/// memory in whichever thread leaves last. Best effort: a thread that is
/// gone or that cannot be listed is skipped (the calling one always is
/// lowered).
pub(crate) fn lower_every_thread() {
    let _ = sched::set_nice(0, sched::NICE_LOWEST);
    let mut tids = [0i32; 1024];
    let n = match fs::list_dir_numbers(b"/proc/self/task\0", &mut tids) {
        Ok(n) => n,
        Err(_) => return,
    };
    for &tid in tids.iter().take(n) {
        let _ = sched::set_nice(tid, sched::NICE_LOWEST);
    }
}

#[cfg(test)]
#[path = "exit_yield_tests.rs"]
mod tests;
