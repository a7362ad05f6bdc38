//! Unit tests of safe_path; the parent module includes this file under #[cfg(test)].

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::sys::socket;

pub(crate) fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gracefd-safe-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    d
}

/// An attacker who can write `dir` (but not enter directories private to
/// us): it replaces every socket file that appears in `dir` with a symbolic
/// link to `victim`, as fast as it can, until stopped. Returns the number of
/// swaps it made.
pub(crate) struct Racer {
    stop: Arc<AtomicBool>,
    h: Option<std::thread::JoinHandle<u64>>,
}

impl Racer {
    pub(crate) fn start(dir: &Path, victim: &Path) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let (d, v, s) = (dir.to_path_buf(), victim.to_path_buf(), stop.clone());
        let h = std::thread::spawn(move || {
            let link = d.join("racer-link");
            let mut swaps = 0u64;
            while !s.load(Ordering::Relaxed) {
                let Ok(rd) = std::fs::read_dir(&d) else { continue };
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_socket()) {
                        let _ = std::fs::remove_file(&link);
                        let _ = std::os::unix::fs::symlink(&v, &link);
                        if std::fs::rename(&link, e.path()).is_ok() {
                            swaps += 1;
                        }
                    }
                }
            }
            swaps
        });
        Racer { stop, h: Some(h) }
    }

    pub(crate) fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.h.take().map(|h| h.join().unwrap()).unwrap_or(0)
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
    }
}

pub(crate) fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn unix_sock() -> crate::sys::fd::Fd {
    socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).unwrap()
}

#[test]
fn socket_gets_exact_mode_and_no_debris() {
    let d = tmpdir("mode");
    let p = d.join("s.sock");
    let s = unix_sock();
    let placed = bind_unix(&s, p.as_os_str().as_encoded_bytes(), Some(0o640), 8, &mut || panic!("nothing is there")).unwrap();
    let md = std::fs::symlink_metadata(&p).unwrap();
    assert!(md.file_type().is_socket());
    assert_eq!(md.permissions().mode() & 0o7777, 0o640);
    assert_eq!((std::os::unix::fs::MetadataExt::ino(&md), std::os::unix::fs::MetadataExt::dev(&md)), (placed.ino, placed.dev));
    assert!(std::os::unix::net::UnixStream::connect(&p).is_ok(), "it listens");
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("s.sock")], "the private directory is gone");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn existing_is_asked_and_errors_leave_nothing() {
    let d = tmpdir("exist");
    let p = d.join("s.sock");
    std::fs::write(&p, "keep").unwrap();
    let s = unix_sock();
    let mut asked = 0;
    let e = bind_unix(&s, p.as_os_str().as_encoded_bytes(), Some(0o600), 8, &mut || {
        asked += 1;
        Err(crate::err!(EEXIST, "no"))
    })
    .unwrap_err();
    assert_eq!(asked, 1);
    assert_eq!(e.errno.0, libc::EEXIST);
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "no private directory left behind");
    // Allowed to replace: the rename replaces the name.
    let s = unix_sock();
    bind_unix(&s, p.as_os_str().as_encoded_bytes(), None, 8, &mut || Ok(())).unwrap();
    assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_socket());
    // A bad path: nothing made.
    let s = unix_sock();
    assert_eq!(bind_unix(&s, d.join("no/such").as_os_str().as_encoded_bytes(), None, 8, &mut || Ok(())).unwrap_err().errno.0, libc::ENOENT);
    assert_eq!(bind_unix(&s, b"", None, 8, &mut || Ok(())).unwrap_err().errno.0, libc::EINVAL);
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn racer_never_gets_the_mode() {
    let d = tmpdir("race");
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let racer = Racer::start(&d, &victim);
    for i in 0..300 {
        let p = d.join(format!("r{}.sock", i));
        let s = unix_sock();
        let _ = bind_unix(&s, p.as_os_str().as_encoded_bytes(), Some(0o777), 8, &mut || Ok(()));
        assert_eq!(mode_of(&victim), 0o600, "attempt {}: the victim's mode changed", i);
    }
    let swaps = racer.stop();
    assert!(swaps > 0, "the racer never swapped anything: the test proves nothing");
    assert_eq!(mode_of(&victim), 0o600);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn write_replace_does_not_follow_planted_links() {
    let d = tmpdir("write");
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    let p = d.join("status");
    // Links at the names an attacker can predict: the old "<path>.<pid>.tmp",
    // and the final name itself.
    std::os::unix::fs::symlink(&victim, d.join(format!("status.{}.tmp", std::process::id()))).unwrap();
    std::os::unix::fs::symlink(&victim, &p).unwrap();
    write_replace(p.as_os_str().as_encoded_bytes(), b"1:42\n").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
    assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_file(), "the link was replaced, not followed");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "1:42\n");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3, "no temporary file left");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn temp_file_is_exclusive_and_unpredictable() {
    let d = tmpdir("excl");
    let dir = crate::sys::fs::open(&[d.as_os_str().as_encoded_bytes(), b"\0"].concat(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
    let (_a, n1) = super::dir::create_temp_file(&dir, b"x", 0o600).unwrap();
    let (_b, n2) = super::dir::create_temp_file(&dir, b"x", 0o600).unwrap();
    assert_ne!(n1, n2);
    // The exclusive, no-follow open itself: a link at the name is refused.
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    std::os::unix::fs::symlink(&victim, d.join("planted")).unwrap();
    let e = crate::sys::fs::openat(dir.raw(), b"planted\0", libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o644).unwrap_err();
    assert_eq!(e.0, libc::EEXIST);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn append_refuses_a_link() {
    let d = tmpdir("append");
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    let p = d.join("log");
    std::os::unix::fs::symlink(&victim, &p).unwrap();
    assert_eq!(open_append(p.as_os_str().as_encoded_bytes(), 0o640).unwrap_err().errno.0, libc::ELOOP);
    std::fs::remove_file(&p).unwrap();
    let f = open_append(p.as_os_str().as_encoded_bytes(), 0o640).unwrap();
    crate::sys::fd::write_all(f.raw(), b"line\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "line\n");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
    // This process's own fds by their /proc link are fine (only root plants those).
    let own = format!("/proc/self/fd/{}", f.raw());
    let again = open_append(own.as_bytes(), 0o640).unwrap();
    crate::sys::fd::write_all(again.raw(), b"more\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "line\nmore\n");
    assert!(open_append(b"/proc/self/fd/x", 0o640).is_err(), "only digits name an fd");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bound_mode_is_exact_and_refuses_what_is_not_our_socket() {
    let d = tmpdir("bound");
    let p = d.join("b.sock");
    let s = unix_sock();
    // bind applies the umask; set_bound_mode makes it exact.
    crate::sys::fs::fchmod(s.raw(), 0o777).unwrap();
    socket::bind(s.raw(), &socket::SockAddr::unix(p.as_os_str().as_encoded_bytes(), false).unwrap()).unwrap();
    let placed = set_bound_mode(p.as_os_str().as_encoded_bytes(), 0o777).unwrap();
    assert_eq!(mode_of(&p), 0o777);
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::symlink_metadata(&p).unwrap()), placed.ino);
    // A link (to a file of ours) or a regular file at the name: refused, untouched.
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = d.join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for name in [&link, &victim] {
        assert_eq!(set_bound_mode(name.as_os_str().as_encoded_bytes(), 0o777).unwrap_err().errno.0, libc::EPERM);
    }
    assert_eq!(mode_of(&victim), 0o600);
    std::fs::remove_dir_all(&d).unwrap();
}
