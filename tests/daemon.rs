//! The Rust `Daemon` builder refuses bad options with `EINVAL` and a message
//! naming the option and the value, from `run()`, before anything is
//! started. The rules are the core's checked setters (the C API's too).
//!
//! Each call asks for fork mode while a second thread is alive: had a bad
//! value slipped through, the call would stop at the fork-mode refusal
//! (`EBUSY`) instead of daemonizing this test binary.

use std::sync::mpsc;
use std::time::Duration;

use gracefd::{Daemon, DaemonMode, ErrorExt};

/// Run `d` in fork mode with a second thread alive; the error it returns.
fn refused(d: Daemon) -> std::io::Error {
    let (tx, rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || rx.recv());
    let r = d.mode(DaemonMode::Fork).run();
    drop(tx);
    let _ = t.join();
    r.expect_err("bad daemon options were accepted")
}

fn assert_einval(d: Daemon, want: &str) {
    let e = refused(d);
    assert_eq!(e.errno(), Some(libc::EINVAL), "{}", e);
    assert!(e.to_string().contains(want), "{:?} lacks {:?}", e.to_string(), want);
}

#[test]
fn empty_user_and_group_are_einval() {
    assert_einval(Daemon::new().user(""), "daemon user is empty");
    assert_einval(Daemon::new().group(""), "daemon group is empty");
}

#[test]
fn out_of_range_umask_is_einval() {
    assert_einval(Daemon::new().umask(0o1000), "daemon umask 1000 is above 0777");
}

#[test]
fn empty_paths_are_einval() {
    assert_einval(Daemon::new().pid_file(""), "daemon pid file path is empty");
    assert_einval(Daemon::new().log_file(""), "daemon log file path is empty");
    assert_einval(Daemon::new().workdir(""), "daemon working directory is empty");
}

#[test]
fn path_with_nul_is_einval() {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::OsStr::from_bytes(b"/run/a\0b");
    assert_einval(Daemon::new().pid_file(p), "contains NUL");
}

#[test]
fn zero_timeout_is_einval() {
    assert_einval(Daemon::new().timeout(Duration::ZERO), "timeout 0 ms");
}

/// The first bad value is the one reported; later good ones do not clear it.
#[test]
fn first_error_wins() {
    let d = Daemon::new().user("").umask(0o7777).user("nobody").timeout(Duration::from_secs(5));
    assert_einval(d, "daemon user is empty");
}

/// Good options still reach the core (here its fork-mode refusal).
#[test]
fn good_options_pass_the_checks() {
    let d = Daemon::new().user("nobody").group("nogroup").umask(0o077).pid_file("/tmp/x.pid").timeout(Duration::from_secs(1));
    let e = refused(d);
    assert_eq!(e.errno(), Some(libc::EBUSY), "{}", e);
}
