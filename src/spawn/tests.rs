//! The child as the parent plans it, on both paths (the vfork-style clone
//! and fork). The parent module includes this file under #[cfg(test)].

use std::collections::BTreeSet;
use std::vec::Vec;

use super::*;
use crate::proto::ready::{self as frame, ReadyReport};
use crate::sys::fd::{self, Fd};
use crate::sys::process::Exit;
use crate::sys::socket;

const PATHS: [bool; 2] = [false, true];

fn expect_path(fork_only: bool) -> Path {
    if fork_only {
        Path::Fork(0)
    } else {
        Path::Clone
    }
}

fn sh(script: &str, fork_only: bool) -> Spawn {
    let mut sp = Spawn::new(b"/bin/sh");
    sp.arg(b"sh").arg(b"-c").arg(script.as_bytes());
    if fork_only {
        sp.fork_only();
    }
    sp
}

/// Everything the child writes to its fd 3, until it closes it.
fn read_all(f: &Fd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match fd::read(f.raw(), &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno(libc::EINTR)) => {}
            Err(e) => panic!("read: {}", e),
        }
    }
    String::from_utf8(out).unwrap()
}

fn wait_code(pid: Pid) -> Exit {
    process::wait(pid).unwrap()
}

// A defect found in review: env_child_pid recorded an index into the env list, and
// a later env_set/env_remove moved the entries, so the child wrote its pid
// 20 bytes before a heap buffer (a debug build panicked in the parent).
#[test]
fn pid_slot_survives_later_env_changes() {
    for fork_only in PATHS {
        let (r, w) = fd::pipe().unwrap();
        let mut sp = sh(r#"printf '%s|%s|%s|%s' "$LISTEN_PID" "$$" "$A" "$B" >&3"#, fork_only);
        sp.env_set(b"A", b"first");
        sp.env_set(b"GONE", b"x");
        sp.env_child_pid_ours(b"LISTEN_PID");
        sp.env_remove(b"GONE");
        sp.env_set(b"A", b"again");
        sp.env_set(b"B", b"b");
        sp.pass_fd(w.raw());
        let (pid, path) = sp.spawn_path().unwrap();
        assert_eq!(path, expect_path(fork_only));
        drop(w);
        let got = read_all(&r);
        assert_eq!(got, format!("{pid}|{pid}|again|b"), "fork_only={fork_only}");
        assert_eq!(wait_code(pid), Exit::Code(0));
    }
}

#[test]
fn env_set_after_child_pid_wins() {
    let (r, w) = fd::pipe().unwrap();
    let mut sp = sh(r#"printf '%s' "$LISTEN_PID" >&3"#, false);
    sp.env_child_pid_ours(b"LISTEN_PID");
    sp.env_set(b"LISTEN_PID", b"42");
    sp.pass_fd(w.raw());
    let pid = sp.spawn().unwrap();
    drop(w);
    assert_eq!(read_all(&r), "42");
    assert_eq!(wait_code(pid), Exit::Code(0));
}

/// The inode of a pidfd for `pid`, as the child computed it, where pidfs exists.
#[test]
fn listen_pidfdid_names_the_child_where_pidfs_exists() {
    let pidfs = crate::sys::clone::pidfd_inode(process::getpid()).is_some();
    for fork_only in PATHS {
        let (r, w) = fd::pipe().unwrap();
        let mut sp = sh(r#"printf '%s|%s' "$LISTEN_PID" "${LISTEN_PIDFDID-unset}" >&3"#, fork_only);
        sp.env_set(b"LISTEN_PIDFDID", b"stale");
        sp.env_child_pid_ours(b"LISTEN_PID");
        sp.pass_fd(w.raw());
        let pid = sp.spawn().unwrap();
        drop(w);
        let got = read_all(&r);
        // The child has not been reaped yet: its pidfd still names it.
        let want = match crate::sys::clone::pidfd_inode(pid) {
            Some(ino) if pidfs => ino.to_string(),
            _ => "unset".to_string(),
        };
        assert_eq!(got, format!("{pid}|{want}"), "fork_only={fork_only}");
        assert_eq!(wait_code(pid), Exit::Code(0));
    }
}

#[test]
fn no_pidfdid_without_listen_pid() {
    let (r, w) = fd::pipe().unwrap();
    let mut sp = sh(r#"printf '%s' "${LISTEN_PIDFDID-unset}" >&3"#, false);
    sp.env_child_pid_ours(b"OTHER_PID");
    sp.pass_fd(w.raw());
    let pid = sp.spawn().unwrap();
    drop(w);
    assert_eq!(read_all(&r), "unset");
    assert_eq!(wait_code(pid), Exit::Code(0));
}

static HANDLER_RAN: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

extern "C" fn count(_: libc::c_int) {
    HANDLER_RAN.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
}

fn status_field(text: &str, name: &str) -> u64 {
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
    u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
}

// The child starts with an empty mask and every disposition at its default,
// even when the parent handles SIGUSR1 and SIGCHLD, ignores SIGPIPE (the Rust
// runtime does) and blocks SIGUSR2 in the spawning thread; the parent's mask
// is as it was afterwards.
#[test]
fn child_starts_with_default_signals_and_empty_mask() {
    let usr1 = signal::install(libc::SIGUSR1, count).unwrap();
    let chld = signal::install(libc::SIGCHLD, count).unwrap();
    let before = signal::block(&[libc::SIGUSR2]).unwrap();
    for fork_only in PATHS {
        let (r, w) = fd::pipe().unwrap();
        let mut sp = sh("exec cat /proc/self/status >&3", fork_only);
        sp.pass_fd(w.raw());
        let pid = sp.spawn().unwrap();
        drop(w);
        let st = read_all(&r);
        assert_eq!(wait_code(pid), Exit::Code(0));
        assert_eq!(status_field(&st, "SigBlk:"), 0, "fork_only={fork_only}");
        assert_eq!(status_field(&st, "SigIgn:"), 0, "fork_only={fork_only}");
        assert_eq!(status_field(&st, "SigCgt:"), 0, "fork_only={fork_only}");
    }
    // Still blocked here, and nothing else is.
    let now = signal::block(&[]).unwrap();
    // SAFETY: sigismember on valid sets.
    unsafe {
        assert_eq!(libc::sigismember(&now, libc::SIGUSR2), 1);
        assert_eq!(libc::sigismember(&now, libc::SIGUSR1), libc::sigismember(&before, libc::SIGUSR1));
        assert_eq!(libc::sigismember(&now, libc::SIGTERM), libc::sigismember(&before, libc::SIGTERM));
    }
    signal::set_mask(&before).unwrap();
    // The parent's handlers still work after the starts.
    let n = HANDLER_RAN.load(core::sync::atomic::Ordering::SeqCst);
    // SAFETY: raise on this thread, SIGUSR1 is handled by `count`.
    unsafe { libc::raise(libc::SIGUSR1) };
    assert!(HANDLER_RAN.load(core::sync::atomic::Ordering::SeqCst) > n);
    signal::restore(libc::SIGUSR1, &usr1).unwrap();
    signal::restore(libc::SIGCHLD, &chld).unwrap();
}

#[test]
fn exec_failure_is_reported_with_errno() {
    for fork_only in PATHS {
        let (waiter, child_end) = crate::ready::channel().unwrap();
        let mut sp = Spawn::new(b"/nonexistent/gracefd-no-such-program");
        sp.arg(b"x");
        if fork_only {
            sp.fork_only();
        }
        sp.pass_report_fd(child_end.raw());
        let pid = sp.spawn().unwrap();
        drop(child_end);
        let mut buf = [0u8; frame::FRAME_MAX];
        let n = socket::recv(waiter.raw(), &mut buf, 0).unwrap();
        let f = frame::decode(&buf[..n]).unwrap();
        assert_eq!(f.kind, ReadyReport::ExecFailed);
        assert_eq!(f.status, libc::ENOENT);
        assert_eq!(wait_code(pid), Exit::Code(127));
    }
}

/// Wait until `pid` runs `comm` (it has exec'd).
fn wait_exec(pid: Pid, comm: &str) {
    for _ in 0..2000 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() == comm).unwrap_or(false) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("pid {pid} never became {comm}");
}

/// The fds `pid` holds once its program has started: right after `execve`
/// the dynamic loader briefly holds fds of its own (ld.so.cache, libc) at
/// the first free numbers, so a look too early sees them. Looks again until
/// the set is `want`, for at most 2 s, and returns the last set seen (an fd
/// that leaked into the child stays, and the caller's assertion fails).
fn settled_fds(pid: Pid, want: &BTreeSet<i32>) -> BTreeSet<i32> {
    let mut fds = open_fds(pid);
    for _ in 0..2000 {
        if &fds == want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        fds = open_fds(pid);
    }
    fds
}

fn open_fds(pid: Pid) -> BTreeSet<i32> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .filter(|&n: &i32| n > 2)
        .collect()
}

// Only the planned fds reach the program, even ones the parent left without
// CLOEXEC, and they arrive in the planned order.
#[test]
fn only_planned_fds_reach_the_child() {
    for fork_only in PATHS {
        let (a, _a2) = fd::pipe().unwrap();
        let (b, _b2) = fd::pipe().unwrap();
        let (leak, _leak2) = fd::pipe().unwrap();
        fd::set_cloexec(leak.raw(), false).unwrap();
        let mut sp = Spawn::new(b"/bin/sleep");
        sp.arg(b"sleep").arg(b"30");
        if fork_only {
            sp.fork_only();
        }
        assert_eq!(sp.pass_fd(b.raw()), 3);
        assert_eq!(sp.pass_fd(a.raw()), 4);
        let pid = sp.spawn().unwrap();
        wait_exec(pid, "sleep");
        let fds = settled_fds(pid, &BTreeSet::from([3, 4]));
        let ino = |p: String| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
        let third = ino(format!("/proc/{pid}/fd/3"));
        let fourth = ino(format!("/proc/{pid}/fd/4"));
        let _ = process::kill(pid, libc::SIGKILL);
        let _ = process::wait(pid);
        assert_eq!(fds, BTreeSet::from([3, 4]), "fork_only={fork_only}");
        assert_eq!(third, fd::fstat(b.raw()).unwrap().st_ino);
        assert_eq!(fourth, fd::fstat(a.raw()).unwrap().st_ino);
    }
}

fn stat_fields(pid: Pid) -> (Pid, Pid) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // state ppid pgrp session
    (f[1].parse().unwrap(), f[3].parse().unwrap())
}

// A detached start: the middle process reports the real child's pid and
// leaves; the child is ours (so we learn how it dies), in the middle's new
// session, and not its leader.
#[test]
fn detached_child_is_our_sibling_in_a_new_session() {
    for fork_only in PATHS {
        let (waiter, child_end) = crate::ready::channel().unwrap();
        let mut sp = Spawn::new(b"/bin/sleep");
        sp.arg(b"sleep").arg(b"30");
        if fork_only {
            sp.fork_only();
        }
        sp.pass_report_fd(child_end.raw());
        sp.detach();
        let middle = sp.spawn().unwrap();
        drop(child_end);
        let mut buf = [0u8; frame::FRAME_MAX];
        let n = socket::recv(waiter.raw(), &mut buf, 0).unwrap();
        let f = frame::decode(&buf[..n]).unwrap();
        assert_eq!(f.kind, ReadyReport::Pid);
        let daemon = f.status;
        assert_eq!(wait_code(middle), Exit::Code(0));
        wait_exec(daemon, "sleep");
        let (ppid, session) = stat_fields(daemon);
        let _ = process::kill(daemon, libc::SIGKILL);
        let _ = process::wait(daemon);
        assert_eq!(ppid, process::getpid(), "fork_only={fork_only}");
        assert_eq!(session, middle);
        assert_ne!(session, process::getsid().unwrap());
    }
}

// The child's stack: how much of it the deepest path (fd layout, pid and
// pidfd slots, a failed exec reported on the channel) really uses. A wide
// margin below STACK_SIZE, in this unoptimised build too.
#[test]
fn child_stack_use_is_far_below_its_size() {
    use crate::sys::clone::{clone_vfork, ChildStack, Parent, STACK_SIZE};
    let (waiter, child_end) = crate::ready::channel().unwrap();
    let (a, _b) = fd::pipe().unwrap();
    let fds = [a.raw(), child_end.raw()];
    let mut scratch = [-1; 2];
    let mut pid_entry = slot_entry(b"LISTEN_PID");
    let mut pidfd_entry = slot_entry(PIDFDID);
    let pid_ptr = pid_entry.as_mut_ptr();
    let pidfd_ptr = pidfd_entry.as_mut_ptr();
    let mut envp: Vec<*const core::ffi::c_char> = vec![pid_ptr as *const _, pidfd_ptr as *const _, core::ptr::null()];
    let exe = b"/nonexistent/gracefd-stack-probe\0";
    let argv: [*const core::ffi::c_char; 2] = [exe.as_ptr() as *const _, core::ptr::null()];
    // SAFETY: both slots are SLOT_WIDTH bytes after "KEY=".
    let slots = [unsafe { pid_ptr.add(b"LISTEN_PID=".len()) }];
    let mut plan = child::Plan {
        exe: exe.as_ptr() as *const _,
        argv: argv.as_ptr(),
        envp: envp.as_mut_ptr(),
        fds: &fds,
        scratch: &mut scratch,
        report: Some((child_end.raw(), 4)),
        first_free: 5,
        pid_slots: &slots,
        // SAFETY: as above.
        pidfd_slot: Some((unsafe { pidfd_ptr.add(PIDFDID.len() + 1) }, 1)),
        detach: None,
        setup: &crate::child_setup::ChildSetup::default(),
        // The applying code is called, as when a setup was given; but a
        // default setup runs none of its steps, so the deepest ones
        // (setgroups, the daemon's pid file) are not measured here.
        apply: Some(&super::APPLY),
        own_group: true,
    };
    let mut stack = ChildStack::new().unwrap();
    let old = signal::block_all().unwrap();
    // SAFETY: the plan is complete and lives until the child has exited.
    let pid = unsafe { clone_vfork(&mut stack, Parent::Caller, child::entry, &mut plan as *mut child::Plan<'_> as *mut core::ffi::c_void) }.unwrap();
    signal::set_mask(&old).unwrap();
    drop(child_end);
    let mut buf = [0u8; frame::FRAME_MAX];
    let n = socket::recv(waiter.raw(), &mut buf, 0).unwrap();
    assert_eq!(frame::decode(&buf[..n]).unwrap().kind, ReadyReport::ExecFailed);
    assert_eq!(wait_code(pid), Exit::Code(127));
    let used = stack.used();
    std::eprintln!("child stack: {} of {} bytes used", used, STACK_SIZE);
    assert!(used > 0 && used < STACK_SIZE / 4, "{used} bytes");
}

#[test]
fn protocol_vars_are_exactly_the_listed_prefixes() {
    for ours in [
        &b"LISTEN_PID=1"[..],
        b"LISTEN_PIDFDID=2",
        b"LISTEN_FDS=3",
        b"LISTEN_FDNAMES=a:b",
        b"SERVER_STARTER_PORT=80=3",
        b"SERVER_STARTER_GENERATION=4",
        b"WATCHDOG_PID=5",
        b"GRACEFD_READY_FD=6",
        b"GRACEFD_",
        b"=x",
    ] {
        assert!(is_protocol_var(ours), "{:?}", String::from_utf8_lossy(ours));
    }
    for theirs in [&b"GRACEFD_SPAWN=fork"[..], b"LISTEN_PIDX=1", b"LISTEN_PID", b"WATCHDOG_USEC=5", b"PATH=/bin", b"", b"SERVER_STARTER=1"] {
        assert!(!is_protocol_var(theirs), "{:?}", String::from_utf8_lossy(theirs));
    }
}

// Every refusal of a bad argument, key, value or entry: its errno and whole
// text (the setters record the first and `spawn` returns it).
#[test]
fn bad_input_is_refused_with_its_whole_message() {
    let cases: [(&dyn Fn() -> Spawn, &str); 6] = [
        (&|| Spawn::new(b""), "executable path is empty"),
        (&|| Spawn::new(b"/bin/s\0h"), "executable path \"/bin/s\\x00h\" contains NUL"),
        (&|| { let mut sp = Spawn::new(b"/bin/sh"); sp.arg(b"a\0b"); sp }, "argument \"a\\x00b\" contains NUL"),
        (&|| { let mut sp = Spawn::new(b"/bin/sh"); sp.env_set(b"A=B", b"v"); sp }, "environment key \"A=B\" is empty or contains '=' or NUL"),
        (&|| { let mut sp = Spawn::new(b"/bin/sh"); sp.env_set(b"A", b"v\0w"); sp }, "environment value for \"A\" contains NUL"),
        (&|| { let mut sp = Spawn::new(b"/bin/sh"); sp.env_put(b"NOEQUALS"); sp }, "environment entry \"NOEQUALS\" has no '='"),
    ];
    for (make, want) in cases {
        let e = make().refused().unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL, "{}", want);
        assert_eq!(e.message(), want);
        // spawn starts nothing and says the same (a child it started by
        // mistake is reaped before the test fails).
        match make().spawn() {
            Ok(pid) => {
                let _ = crate::sys::process::wait(pid);
                panic!("{}: started pid {}", want, pid);
            }
            Err(e) => assert_eq!((e.errno.0, e.message()), (libc::EINVAL, want)),
        }
    }
}

// The first refused input is the one reported, as when each setter returned
// its error at once; the setters after it still run.
#[test]
fn the_first_refusal_is_reported() {
    let mut sp = Spawn::new(b"");
    sp.arg(b"a\0b");
    assert_eq!(sp.refused().unwrap_err().message(), "executable path is empty");
    let mut sp = Spawn::new(b"/bin/sh");
    sp.env_put(b"NOEQUALS").arg(b"a\0b").env_set(b"OK", b"1");
    match sp.spawn() {
        Ok(pid) => {
            let _ = crate::sys::process::wait(pid);
            panic!("a refused Spawn started pid {}", pid);
        }
        Err(e) => assert_eq!(e.message(), "environment entry \"NOEQUALS\" has no '='"),
    }
    assert!(sp.env.iter().any(|e| e.as_slice() == b"OK=1\0"));
    let mut sp = Spawn::new(b"/bin/sh");
    sp.arg(b"sh");
    assert!(sp.refused().is_ok());
}

/// State and process group of `pid` from /proc/PID/stat (`None` once reaped).
fn state_and_group(pid: Pid) -> Option<(char, Pid)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some((f[0].chars().next().unwrap(), f[2].parse().unwrap()))
}

// A child started with `own_group` leads a process group of its own, and
// what it forked stays in it after it is gone: `end_group` stops that (the
// upgrade's way of not leaving a failed generation's workers running).
#[test]
fn own_group_is_led_by_the_child_and_ended_with_what_it_left() {
    for fork_only in PATHS {
        let (r, w) = fd::pipe().unwrap();
        let mut sp = sh("sleep 30 3>&- & echo $! >&3", fork_only);
        sp.own_group();
        sp.pass_fd(w.raw());
        let pid = sp.spawn().unwrap();
        drop(w);
        let left: Pid = read_all(&r).trim().parse().unwrap();
        assert_eq!(wait_code(pid), Exit::Code(0));
        let group = state_and_group(left).map(|(_, g)| g);
        // A leader not reaped here: its group is left alone.
        assert!(!end_group(pid, Exit::NOT_OURS, libc::SIGTERM, 0), "fork_only={fork_only}");
        let untouched = state_and_group(left);
        assert!(matches!(untouched, Some((s, _)) if s != 'Z'), "{untouched:?} fork_only={fork_only}");
        let ended = end_group(pid, Exit::Code(0), libc::SIGTERM, 2_000);
        let after = state_and_group(left);
        if matches!(after, Some((s, _)) if s != 'Z') {
            let _ = process::kill(left, libc::SIGKILL);
        }
        assert_eq!(group, Some(pid), "fork_only={fork_only}");
        assert!(ended, "fork_only={fork_only}");
        assert!(matches!(after, None | Some(('Z', _))), "{after:?} fork_only={fork_only}");
    }
    // Without it, the child stays in ours.
    let mut sp = sh("exit 0", false);
    let pid = sp.spawn().unwrap();
    let group = state_and_group(pid).map(|(_, g)| g);
    assert_eq!(wait_code(pid), Exit::Code(0));
    assert_eq!(group, Some(unsafe { libc::getpgrp() }));
}

// A new generation still running when the upgrade gives up on it: it and
// what it forked get the signal at once, within one grace. Before, the
// members got it only once the leader was gone: a leader that ignores the
// signal and waits for its workers (this one) was SIGKILLed after the grace
// while they ran on, and only then were they signalled, with a grace of
// their own.
#[test]
fn a_running_group_leader_and_its_members_are_signalled_at_once() {
    for fork_only in PATHS {
        let (r, w) = fd::pipe().unwrap();
        let mut sp = sh("sleep 30 3>&- & trap '' TERM; echo $! >&3; exec 3>&-; wait $!", fork_only);
        sp.own_group();
        sp.pass_fd(w.raw());
        let pid = sp.spawn().unwrap();
        drop(w);
        let member: Pid = read_all(&r).trim().parse().unwrap();
        assert_eq!(state_and_group(member).map(|(_, g)| g), Some(pid), "fork_only={fork_only}");
        let (exit, _) = stop_led_group(pid, libc::SIGTERM, 2_000);
        // Its worker ended by the signal, the leader's wait returned and it exited.
        assert_eq!(exit, Some(Exit::Code(128 + libc::SIGTERM)), "fork_only={fork_only}");
        assert_eq!(process::try_wait(pid), Err(Errno(libc::ECHILD)), "reaped; fork_only={fork_only}");
        assert_eq!(state_and_group(member), None, "its worker, reaped by it; fork_only={fork_only}");
    }
}

// A stopped member (SIGSTOP, or SIGTTIN from reading a terminal) acts on the
// kill signal only once continued: without the SIGCONT that follows it, it
// stayed stopped through the whole grace and was SIGKILLed.
#[test]
fn a_stopped_group_gets_the_kill_signal_and_acts_on_it() {
    let mut sp = sh("kill -STOP $$; exit 0", false);
    sp.own_group();
    let pid = sp.spawn().unwrap();
    let mut stopped = false;
    for _ in 0..10_000 {
        if matches!(state_and_group(pid), Some(('T', _))) {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let (exit, _) = stop_led_group(pid, libc::SIGTERM, 2_000);
    assert!(stopped, "the child never stopped itself");
    assert_eq!(exit, Some(Exit::Signal(libc::SIGTERM)));
}

// A detached start leads a session: its own group would be the middle
// process's, whose pid is what `spawn` returns, so it is refused.
#[test]
fn a_detached_start_cannot_lead_its_own_group() {
    let (_waiter, child_end) = crate::ready::channel().unwrap();
    let mut sp = Spawn::new(b"/bin/true");
    sp.arg(b"true");
    sp.pass_report_fd(child_end.raw());
    sp.detach();
    sp.own_group();
    let e = sp.spawn().unwrap_err();
    assert_eq!(e.errno.0, libc::EINVAL);
    assert_eq!(e.message(), "a detached start cannot lead its own process group (it leads a session)");
}
