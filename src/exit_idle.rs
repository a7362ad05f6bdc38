//! After a hand-over, this generation's exit yields the CPU to the new one.
//!
//! Once an upgrade has succeeded, the old generation drains and exits, and
//! the kernel frees its memory during that exit, in the old generation's own
//! context: about a third of a second of CPU per touched GiB on the
//! benchmark machine. It starts while the new generation answers its first
//! requests. On a small machine the woken new generation often waits on the
//! very CPU where that freeing runs, until the next scheduler tick, because
//! nothing of an ordinary exit gives way to it. So, after a hand-over, the
//! library registers an exit handler that moves every thread of the process
//! to `SCHED_IDLE` and yields: the freeing then runs on CPU time nobody
//! else wants.
//!
//! The handler runs when the program exits, after its own drain, so no
//! request still in flight is ever served at idle priority. The price: on a
//! machine with no spare CPU the teardown waits for one, so the old
//! generation takes longer to be gone and holds its memory meanwhile.
//! Nothing happens where a process leaves without exit handlers (`_exit`,
//! a fatal signal, Go's `os.Exit`).

use core::sync::atomic::{AtomicBool, Ordering};

use crate::sys::{fs, sched, thread};
use crate::log;

static ARMED: AtomicBool = AtomicBool::new(false);

/// Make this process's exit yield the CPU (once; later calls do nothing).
/// Called when a new generation has taken over from this one.
pub(crate) fn arm() {
    if ARMED.swap(true, Ordering::AcqRel) {
        return;
    }
    if let Err(e) = sched::at_exit(on_exit) {
        log!(log::WARNING, "upgrade: no exit handler to yield the CPU at exit: {}", e);
    }
}

/// Every thread of the process to `SCHED_IDLE`, then give the CPU away.
/// Called by libc's `exit`; it must not unwind (nothing here can panic).
extern "C" fn on_exit() {
    make_idle();
    thread::yield_now();
}

/// Move every thread of this process to `SCHED_IDLE`: the kernel frees the
/// memory in whichever thread leaves last. Best effort: a thread that is
/// gone or that cannot be listed is skipped (the calling one always gets it).
pub(crate) fn make_idle() {
    let _ = sched::set_idle(0);
    let mut tids = [0i32; 1024];
    let n = match fs::list_dir_numbers(b"/proc/self/task\0", &mut tids) {
        Ok(n) => n,
        Err(_) => return,
    };
    for &tid in tids.iter().take(n) {
        let _ = sched::set_idle(tid);
    }
}

#[cfg(test)]
#[path = "exit_idle_tests.rs"]
mod tests;
