//! The exit of a generation that handed over yields the CPU: every thread
//! goes to SCHED_IDLE. The parent module includes this file under
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

/// 0 if this thread and a second, blocked one are both SCHED_IDLE after
/// make_idle(); the policy seen otherwise (a thread's own view).
fn both_threads_idle() -> i32 {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let _ = tx.send(unsafe { libc::gettid() });
        let _ = stop_rx.recv();
    });
    let Ok(tid) = rx.recv() else { return 100 };
    if sched::policy(0) != Ok(libc::SCHED_OTHER) || sched::policy(tid) != Ok(libc::SCHED_OTHER) {
        return 101;
    }
    make_idle();
    let (me, other) = (sched::policy(0), sched::policy(tid));
    let _ = stop_tx.send(());
    let _ = t.join();
    match (me, other) {
        (Ok(libc::SCHED_IDLE), Ok(libc::SCHED_IDLE)) => 0,
        (Ok(libc::SCHED_IDLE), _) => 102,
        _ => 103,
    }
}

#[test]
fn make_idle_moves_every_thread_to_sched_idle() {
    assert_eq!(in_child(both_threads_idle), Exit::Code(0));
}

/// Registered before arm(): libc runs exit handlers last-registered first,
/// so this one sees what the library's handler left.
extern "C" fn report_policy_at_exit() {
    let code = match sched::policy(0) {
        Ok(libc::SCHED_IDLE) => 42,
        Ok(_) => 43,
        Err(_) => 44,
    };
    process::exit_now(code);
}

fn exit_after_arm() -> i32 {
    if sched::at_exit(report_policy_at_exit).is_err() {
        return 1;
    }
    arm();
    arm(); // once: a second hand-over registers nothing more
    // SAFETY: leaving the child through libc's exit, which runs the handlers.
    unsafe { libc::exit(0) }
}

fn exit_unarmed() -> i32 {
    if sched::at_exit(report_policy_at_exit).is_err() {
        return 1;
    }
    // SAFETY: as above.
    unsafe { libc::exit(0) }
}

#[test]
fn an_armed_process_exits_at_idle_priority() {
    assert_eq!(in_child(exit_after_arm), Exit::Code(42));
}

#[test]
fn an_unarmed_process_exits_at_its_own_priority() {
    assert_eq!(in_child(exit_unarmed), Exit::Code(43));
}
