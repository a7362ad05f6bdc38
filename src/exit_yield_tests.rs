//! The exit of a generation that handed over gives the CPU away: every
//! thread goes to nice 19. The parent module includes this file under
//! #[cfg(test)].

use super::*;
use crate::sys::process::{self, Exit};
use crate::sys::time::Deadline;

/// Run `f` in a forked child (so the test process keeps its own scheduling)
/// and return how it exited, within 10 s (killed and reaped past that).
fn in_child(f: fn() -> i32) -> Exit {
    // SAFETY: the child only runs `f` and leaves with _exit.
    let pid = unsafe { process::fork() }.unwrap();
    if pid == 0 {
        process::exit_now(f());
    }
    let deadline = Deadline::after_ms(10_000);
    loop {
        if let Some(x) = process::try_wait(pid).unwrap() {
            return x;
        }
        if deadline.expired() {
            let _ = process::kill(pid, libc::SIGKILL);
            return process::wait(pid).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// 0 if this thread and a second, blocked one are both at nice 19 after
/// lower_every_thread(); another code says what was seen instead.
fn both_threads_lowered() -> i32 {
    if from_nice_0() == sched::NICE_LOWEST {
        return 101;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let _ = tx.send(unsafe { libc::gettid() });
        let _ = stop_rx.recv();
    });
    let Ok(tid) = rx.recv() else { return 100 };
    if sched::nice(tid) == Ok(sched::NICE_LOWEST) {
        return 101;
    }
    lower_every_thread();
    let (me, other) = (sched::nice(0), sched::nice(tid));
    let _ = stop_tx.send(());
    let _ = t.join();
    match (me, other) {
        (Ok(sched::NICE_LOWEST), Ok(sched::NICE_LOWEST)) => 0,
        (Ok(sched::NICE_LOWEST), _) => 102,
        _ => 103,
    }
}

#[test]
fn lower_every_thread_reaches_every_thread() {
    assert_eq!(in_child(both_threads_lowered), Exit::Code(0));
}

/// Registered before arm(): libc runs exit handlers last-registered first,
/// so this one sees what the library's handler left: it exits with 20 plus
/// the nice value (0 to 39), 99 if it cannot read it.
extern "C" fn report_nice_at_exit() {
    process::exit_now(sched::nice(0).map_or(99, |n| 20 + n));
}

/// Start from nice 0 where we may (root may lower it; others keep theirs),
/// so that the exit handler's change is visible. Returns the nice value.
fn from_nice_0() -> i32 {
    let _ = sched::set_nice(0, 0);
    sched::nice(0).unwrap_or(99)
}

fn exit_after_arm() -> i32 {
    if from_nice_0() == sched::NICE_LOWEST || sched::at_exit(report_nice_at_exit).is_err() {
        return 1;
    }
    if arm().is_err() || arm().is_err() {
        return 2; // once: a second hand-over registers nothing more
    }
    // SAFETY: leaving the child through libc's exit, which runs the handlers.
    unsafe { libc::exit(0) }
}

fn exit_unarmed() -> i32 {
    let start = from_nice_0();
    if start == sched::NICE_LOWEST || sched::at_exit(report_nice_at_exit).is_err() {
        return 1;
    }
    // SAFETY: as above.
    unsafe { libc::exit(0) }
}

// Each fails with status 1 where the tests themselves run at nice 19 and
// cannot be raised (not root): there the change could not be seen.

#[test]
fn an_armed_process_exits_at_the_lowest_priority() {
    assert_eq!(in_child(exit_after_arm), Exit::Code(20 + sched::NICE_LOWEST));
}

#[test]
fn an_unarmed_process_exits_at_its_own_priority() {
    let Exit::Code(c) = in_child(exit_unarmed) else { panic!("the child did not exit") };
    assert!((0..20 + sched::NICE_LOWEST).contains(&c), "exited with {}", c);
}
