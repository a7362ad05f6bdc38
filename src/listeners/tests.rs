//! `listen` through the process-wide registry, and `listen_in` on a local
//! (The parent module includes this file under #[cfg(test)].)
//! one with inherited sockets.

use core::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::registry::FdKind;
use crate::sys::fd;
use crate::sys::socket::SockAddr;


fn inode(f: &Fd) -> u64 {
    fd::fstat(f.raw()).unwrap().st_ino
}

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gracefd-listeners-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opt_int(f: &Fd, level: i32, opt: i32) -> i32 {
    socket::getsockopt_int(f.raw(), level, opt).unwrap()
}

fn ipv6_loopback() -> bool {
    socket::socket(libc::AF_INET6, libc::SOCK_STREAM, 0)
        .and_then(|s| socket::bind(s.raw(), &SockAddr::v6(Ipv6Addr::LOCALHOST.octets(), 0, 0)))
        .is_ok()
}

#[test]
fn same_name_twice_is_the_same_socket() {
    let o = ListenOptions::default();
    let a = listen(Some(b"lt-same"), b"127.0.0.1:0", &o).unwrap();
    let b = listen(Some(b"lt-same"), b"127.0.0.1:0", &o).unwrap();
    assert_ne!(a.raw(), b.raw());
    assert_eq!(inode(&a), inode(&b));
    assert!(fd::is_cloexec(a.raw()).unwrap() && fd::is_cloexec(b.raw()).unwrap());
    assert!(!fd::is_nonblocking(a.raw()).unwrap(), "new sockets are blocking by default");
    assert_eq!(opt_int(&a, libc::SOL_SOCKET, libc::SO_ACCEPTCONN), 1);
    assert_eq!(opt_int(&a, libc::SOL_SOCKET, libc::SO_REUSEADDR), 1);
    // The same name for another address: EEXIST naming both.
    let e = listen(Some(b"lt-same"), b"127.0.0.1:1", &o).unwrap_err();
    assert_eq!(e.errno.0, libc::EEXIST);
    assert!(e.message().contains("tcp 127.0.0.1:0") && e.message().contains("tcp 127.0.0.1:1"), "{}", e);
    // Equivalent spellings are the same address.
    let c = listen(Some(b"lt-same"), b"tcp://127.0.0.1:0", &o).unwrap();
    assert_eq!(inode(&a), inode(&c));
    // After forgetting, the name binds afresh (the old socket lives on in a, b, c).
    assert_eq!(registry::forget(b"lt-same").unwrap(), 1);
    let d = listen(Some(b"lt-same"), b"127.0.0.1:0", &o).unwrap();
    assert_ne!(inode(&d), inode(&a));
    assert_eq!(registry::forget(b"lt-same").unwrap(), 1);
    assert_eq!(registry::forget(b"lt-same").unwrap_err().errno.0, libc::ENOENT);
}

#[test]
fn unnamed_is_keyed_by_address_and_can_be_named_later() {
    let o = ListenOptions::default();
    let a = listen(None, b"127.0.0.1:0", &o).unwrap();
    let port = socket::getsockname(a.raw()).unwrap().port().unwrap();
    let addr = format!("127.0.0.1:{}", port);
    // port 0 again is the same request: the same socket.
    let b = listen(Some(b"unknown"), b"127.0.0.1:0", &o).unwrap();
    assert_eq!(inode(&a), inode(&b));
    // The concrete port matches the unnamed socket bound there, which takes the name.
    let c = listen(Some(b"lt-later"), addr.as_bytes(), &o).unwrap();
    assert_eq!(inode(&a), inode(&c));
    let names: Vec<_> = registry::entries().into_iter().filter(|i| i.raw >= 0).map(|i| i.name).collect();
    assert!(names.iter().any(|n| n == b"lt-later"));
    let _ = registry::forget(b"lt-later");
}

#[test]
fn udp_is_bound_not_listening() {
    let o = ListenOptions { nonblocking: Some(true), ..ListenOptions::default() };
    let u = listen(Some(b"lt-udp"), b"udp://127.0.0.1:0", &o).unwrap();
    assert_eq!(opt_int(&u, libc::SOL_SOCKET, libc::SO_TYPE), libc::SOCK_DGRAM);
    assert_eq!(opt_int(&u, libc::SOL_SOCKET, libc::SO_REUSEADDR), 0);
    assert!(fd::is_nonblocking(u.raw()).unwrap());
    assert_eq!(registry::classify(u.raw()).unwrap(), FdKind::Udp);
    // A TCP request under the same name does not get the UDP socket.
    let e = listen(Some(b"lt-udp"), b"127.0.0.1:0", &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::EEXIST);
    let _ = registry::forget(b"lt-udp");
}

#[test]
fn ipv6_only_as_the_address_says() {
    if !ipv6_loopback() {
        // The dual-stack fallback is what remains testable without IPv6.
        let s = listen(Some(b"lt-any"), b":0", &ListenOptions::default()).unwrap();
        assert_eq!(socket::getsockname(s.raw()).unwrap().family(), libc::AF_INET);
        let _ = registry::forget(b"lt-any");
        return;
    }
    let o = ListenOptions::default();
    let dual = listen(Some(b"lt-dual"), b":0", &o).unwrap();
    assert_eq!(socket::getsockname(dual.raw()).unwrap().family(), libc::AF_INET6);
    assert_eq!(opt_int(&dual, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 0);
    let only = listen(Some(b"lt-v6only"), b"tcp6://:0", &o).unwrap();
    assert_eq!(opt_int(&only, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
    // (Bound to a specific IPv6 address, Linux reports IPV6_V6ONLY on by itself.)
    let lo = listen(Some(b"lt-v6lo"), b"[::1]:0", &o).unwrap();
    assert_eq!(socket::getsockname(lo.raw()).unwrap().ip_v6().unwrap().0, Ipv6Addr::LOCALHOST.octets());
    for n in [&b"lt-dual"[..], b"lt-v6only", b"lt-v6lo"] {
        let _ = registry::forget(n);
    }
}

#[test]
fn unix_paths_stale_live_file_and_mode() {
    let d = tmpdir("unix");
    let path = d.join("s.sock");
    let addr = format!("unix:{}", path.display());
    let o = ListenOptions { unix_mode: Some(0o600), ..ListenOptions::default() };
    // Stale: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let a = listen(Some(b"lt-unix"), addr.as_bytes(), &o).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(registry::classify(a.raw()).unwrap(), FdKind::UnixListener);
    // Live: a second name for the same path is refused, and the file survives.
    let e = listen(Some(b"lt-unix2"), addr.as_bytes(), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::EADDRINUSE, "{}", e);
    assert!(e.message().contains("something is listening"), "{}", e);
    assert!(e.message().contains("lt-unix"), "hint names the holder: {}", e);
    assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
    // A regular file is never replaced.
    let file = d.join("file");
    std::fs::write(&file, b"data").unwrap();
    let e = listen(None, format!("unix:{}", file.display()).as_bytes(), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::EEXIST);
    assert!(e.message().contains("regular file"), "{}", e);
    assert_eq!(std::fs::read(&file).unwrap(), b"data");
    // Nor a symbolic link (even to a stale socket).
    let stale = d.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let link = d.join("link.sock");
    std::os::unix::fs::symlink(&stale, &link).unwrap();
    let e = listen(None, format!("unix:{}", link.display()).as_bytes(), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::EEXIST);
    assert!(e.message().contains("symbolic link"), "{}", e);
    let _ = registry::forget(b"lt-unix");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn abstract_unix() {
    let name = format!("unix:@gracefd-lt-{}", std::process::id());
    let a = listen(Some(b"lt-abs"), name.as_bytes(), &ListenOptions::default()).unwrap();
    let b = listen(Some(b"lt-abs"), name.as_bytes(), &ListenOptions::default()).unwrap();
    assert_eq!(inode(&a), inode(&b));
    let e = listen(Some(b"lt-abs2"), name.as_bytes(), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::EADDRINUSE);
    let _ = registry::forget(b"lt-abs");
}

#[test]
fn bad_input() {
    let o = ListenOptions::default();
    assert_eq!(listen(Some(b"a:b"), b"127.0.0.1:0", &o).unwrap_err().errno.0, libc::EINVAL);
    assert_eq!(listen(Some(b"x"), b"127.0.0.1:99999", &o).unwrap_err().errno.0, libc::EINVAL);
    let bad = ListenOptions { backlog: 0, ..o };
    assert!(listen(Some(b"x"), b"127.0.0.1:0", &bad).unwrap_err().message().contains("backlog"));
    let bad = ListenOptions { unix_mode: Some(0o4755), ..o };
    assert!(listen(Some(b"x"), b"127.0.0.1:0", &bad).unwrap_err().message().contains("mode"));
}

/// A local registry with one imported (inherited) socket named `name`.
fn reg_with(name: &[u8], s: Fd) -> Registry {
    let mut r = Registry::new();
    r.import(name, s).unwrap();
    r
}

fn tcp_listener(port: u16) -> Fd {
    let s = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    socket::bind(s.raw(), &SockAddr::v4([127, 0, 0, 1], port)).unwrap();
    socket::listen(s.raw(), 8).unwrap();
    s
}

fn key(a: &str) -> ListenKey {
    ListenKey::from_address(&addr::parse(a.as_bytes()).unwrap()).unwrap()
}

#[test]
fn inherited_by_name_wins_and_keeps_its_mode() {
    let s = tcp_listener(0);
    let ino = inode(&s);
    let mut r = reg_with(b"web", s);
    // Bound elsewhere than asked: the name decides (with a notice).
    let got = listen_in(&mut r, Some(b"web"), &key("127.0.0.1:1"), &ListenOptions::default()).unwrap();
    assert_eq!(inode(&got), ino);
    assert!(!fd::is_nonblocking(got.raw()).unwrap(), "inherited mode untouched by default");
    assert!(r.log.iter().any(|(_, m)| m.as_str().contains("an inherited name decides")));
    // The same call again: the same socket; another address now: EEXIST.
    assert_eq!(inode(&listen_in(&mut r, Some(b"web"), &key("127.0.0.1:1"), &ListenOptions::default()).unwrap()), ino);
    assert_eq!(
        listen_in(&mut r, Some(b"web"), &key("127.0.0.1:2"), &ListenOptions::default()).unwrap_err().errno.0,
        libc::EEXIST
    );
    // Asked explicitly, the mode is changed (shared state: the caller's decision).
    let nb = ListenOptions { nonblocking: Some(true), ..ListenOptions::default() };
    let got = listen_in(&mut r, Some(b"web"), &key("127.0.0.1:1"), &nb).unwrap();
    assert!(fd::is_nonblocking(got.raw()).unwrap());
}

#[test]
fn inherited_of_the_wrong_kind_is_refused() {
    let u = socket::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
    socket::bind(u.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
    let mut r = reg_with(b"web", u);
    let e = listen_in(&mut r, Some(b"web"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::EPROTOTYPE);
    assert!(e.message().contains("\"web\" (hand-off)") && e.message().contains("UDP"), "{}", e);
    let (p, _w) = fd::pipe().unwrap();
    let mut r = reg_with(b"state", p);
    let e = listen_in(&mut r, Some(b"state"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap_err();
    assert_eq!(e.errno.0, libc::ENOTSOCK);
    // Not listening: not a listener.
    let t = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let mut r = reg_with(b"web", t);
    assert_eq!(
        listen_in(&mut r, Some(b"web"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap_err().errno.0,
        libc::EPROTOTYPE
    );
}

#[test]
fn unnamed_inherited_is_matched_by_bound_address() {
    let s = tcp_listener(0);
    let port = socket::getsockname(s.raw()).unwrap().port().unwrap();
    let ino = inode(&s);
    let other = tcp_listener(0);
    let mut r = Registry::new();
    r.import(b"unknown", other).unwrap();
    r.import(b"unknown", s).unwrap();
    let got = listen_in(&mut r, Some(b"api"), &key(&format!("127.0.0.1:{}", port)), &ListenOptions::default()).unwrap();
    assert_eq!(inode(&got), ino);
    assert_eq!(r.entries[1].name, b"api");
    assert_eq!(r.entries[0].name, b"unknown");
    assert!(r.entries[1].claimed && !r.entries[0].claimed);
    // Unnamed, the same address finds it again.
    let again = listen_in(&mut r, None, &key(&format!("tcp://127.0.0.1:{}", port)), &ListenOptions::default()).unwrap();
    assert_eq!(inode(&again), ino);
}

/// A hand-off transfer planned before a change must see it (the registry's
/// change counter): `listen` naming an `unknown` entry is one, or the taker
/// would get the socket under "unknown". Claiming an entry without renaming
/// it is not.
#[test]
fn naming_an_unknown_entry_counts_as_a_change() {
    let s = tcp_listener(0);
    let port = socket::getsockname(s.raw()).unwrap().port().unwrap();
    let mut r = reg_with(b"unknown", s);
    let at = format!("127.0.0.1:{}", port);
    let before = r.changes;
    listen_in(&mut r, None, &key(&at), &ListenOptions::default()).unwrap();
    assert_eq!(r.changes, before, "claimed unnamed: no change");
    listen_in(&mut r, Some(b"api"), &key(&at), &ListenOptions::default()).unwrap();
    assert_eq!(r.entries[0].name, b"api");
    assert_eq!(r.changes, before + 1, "named: a change");
    let before = r.changes;
    listen_in(&mut r, Some(b"web"), &key("127.0.0.1:0"), &ListenOptions::default()).unwrap();
    assert_eq!(r.changes, before + 1, "a new socket: a change");
}

#[test]
fn dual_stack_request_matches_an_ipv4_wildcard_socket() {
    let s = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    socket::bind(s.raw(), &SockAddr::v4([0; 4], 0)).unwrap();
    socket::listen(s.raw(), 1).unwrap();
    let port = socket::getsockname(s.raw()).unwrap().port().unwrap();
    let ino = inode(&s);
    let mut r = reg_with(b"unknown", s);
    let got = listen_in(&mut r, None, &key(&format!(":{}", port)), &ListenOptions::default()).unwrap();
    assert_eq!(inode(&got), ino);
    // tcp4:// and tcp6:// are explicit and do not cross families.
    assert!(!key(&format!("tcp6://:{}", port)).matches_bound(&socket::getsockname(got.raw()).unwrap()));
}

#[test]
fn display() {
    assert_eq!(key("[::1]:80").to_string(), "tcp [::1]:80");
    assert_eq!(key("udp6://[fe80::1%2]:53").to_string(), "udp [fe80::1%2]:53 (IPv6 only)");
    assert_eq!(key("unix:/a b").to_string(), "unix:\"/a b\"");
    assert_eq!(key("unix:@x").to_string(), "unix:@\"x\"");
}

/// Audit defect 1: the mode of a unix listener was set with chmod(path) after
/// bind, so a link swapped in between got the mode applied to its target.
#[test]
fn unix_mode_never_lands_on_a_swapped_in_link() {
    use crate::safe_path::tests::{mode_of, Racer};
    let d = tmpdir("unix-race");
    let victim = d.join("victim");
    std::fs::write(&victim, "secret").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let racer = Racer::start(&d, &victim);
    let o = ListenOptions { unix_mode: Some(0o777), ..ListenOptions::default() };
    for i in 0..300 {
        let name = format!("lt-race-{}", i);
        let addr = format!("unix:{}", d.join(format!("r{}.sock", i)).display());
        if listen(Some(name.as_bytes()), addr.as_bytes(), &o).is_ok() {
            let _ = registry::forget(name.as_bytes());
        }
        assert_eq!(mode_of(&victim), 0o600, "attempt {}: the victim got the socket's mode", i);
    }
    assert!(racer.stop() > 0, "the racer never swapped anything: the test proves nothing");
    std::fs::remove_dir_all(&d).unwrap();
}

unsafe extern "C" fn refuse_eperm(_fd: core::ffi::c_int, _data: *mut core::ffi::c_void) -> core::ffi::c_int {
    -libc::EPERM
}

unsafe extern "C" fn refuse_seven(_fd: core::ffi::c_int, _data: *mut core::ffi::c_void) -> core::ffi::c_int {
    7
}

#[test]
fn new_socket_messages_read_exactly_as_before() {
    // The whole text of what a failed step says (the steps return a small
    // failure and one function words it: this pins the words).
    let o = ListenOptions::default();
    let errno = |e: i32| crate::sys::Errno(e).to_string();
    // An address in use by a socket outside the registry.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let e = listen(None, format!("127.0.0.1:{}", port).as_bytes(), &o).unwrap_err();
    assert_eq!(e.message(), format!("bind tcp 127.0.0.1:{}: {}", port, errno(libc::EADDRINUSE)));
    // A unix path in a directory that does not exist.
    let e = listen(None, b"unix:/nonexistent-gracefd-dir/x.sock", &o).unwrap_err();
    assert_eq!(e.message(), format!("bind unix:\"/nonexistent-gracefd-dir/x.sock\": {}", errno(libc::ENOENT)));
    // An abstract name in use.
    let name = format!("gracefd-lt-msg-{}", std::process::id());
    let first = listen(None, format!("unix:@{}", name).as_bytes(), &o).unwrap();
    let mut outside = Registry::new();
    let e = bind::bind_new(&mut outside, &key(&format!("unix:@{}", name)), &o).unwrap_err();
    assert_eq!((e.errno.0, e.message()), (libc::EADDRINUSE, format!("abstract unix socket @\"{}\" is in use", name).as_str()));
    drop(first);
    // The pre-bind hook's refusals, for each kind of address.
    let hooked = |func| ListenOptions { pre_bind: Some(PreBind { func, data: 0 }), ..ListenOptions::default() };
    let e = listen(None, b"127.0.0.1:0", &hooked(refuse_eperm)).unwrap_err();
    assert_eq!((e.errno.0, e.message()), (libc::EPERM, format!("the pre-bind hook refused tcp 127.0.0.1:0: {}", errno(libc::EPERM)).as_str()));
    // The hook runs before bind, so an address the machine may lack is not needed.
    let e = listen(None, b"udp://127.0.0.1:0", &hooked(refuse_seven)).unwrap_err();
    assert_eq!(
        (e.errno.0, e.message()),
        (libc::ECANCELED, "the pre-bind hook refused udp 127.0.0.1:0 (it returned 7, not a negative errno)")
    );
    let e = listen(None, format!("unix:@{}-h", name).as_bytes(), &hooked(refuse_eperm)).unwrap_err();
    assert_eq!(e.message(), format!("the pre-bind hook refused unix:@\"{}-h\": {}", name, errno(libc::EPERM)));
    let dir = tmpdir("msg");
    let path = format!("{}/h.sock", dir.display());
    let e = listen(None, format!("unix:{}", path).as_bytes(), &hooked(refuse_eperm)).unwrap_err();
    assert_eq!(e.message(), format!("the pre-bind hook refused unix:\"{}\": {}", path, errno(libc::EPERM)));
    // A regular file where the socket would go, and a live socket.
    let file = format!("{}/f.sock", dir.display());
    std::fs::write(&file, b"").unwrap();
    let e = listen(None, format!("unix:{}", file).as_bytes(), &o).unwrap_err();
    assert_eq!(e.message(), format!("unix socket path \"{}\" exists and is a regular file: refusing to replace it", file));
    let live = format!("{}/l.sock", dir.display());
    let _l = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let e = listen(None, format!("unix:{}", live).as_bytes(), &o).unwrap_err();
    assert_eq!(e.message(), format!("unix socket \"{}\" is in use: something is listening on it", live));
    let _ = std::fs::remove_dir_all(&dir);
}
