//! Loading (validation of announced fds), the operations, and names.
//! (The parent module includes this file under #[cfg(test)].)

use super::*;
use crate::proto::listen_env::UNKNOWN;
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::socket::{self, SockAddr};

fn tcp_listener() -> Fd {
    let s = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    socket::bind(s.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
    socket::listen(s.raw(), 8).unwrap();
    s
}

fn udp() -> Fd {
    let s = socket::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
    socket::bind(s.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
    s
}

/// Place `fds` at `base..` (CLOEXEC cleared, as a parent would pass them);
/// the test owns nothing there afterwards (the registry will).
fn place(fds: &[&Fd], base: RawFd) {
    for (i, f) in fds.iter().enumerate() {
        fd::dup2(f.raw(), base + i as RawFd).unwrap();
    }
}

fn env<'a>(pid: &'a str, fds: &'a str, names: Option<&'a str>) -> EnvVars<'a> {
    EnvVars {
        listen_pid: Some(pid.as_bytes()),
        listen_fds: Some(fds.as_bytes()),
        listen_fdnames: names.map(str::as_bytes),
        ..EnvVars::default()
    }
}

#[test]
fn systemd_fds_are_validated_and_made_cloexec() {
    let base = 820;
    let (t, u) = (tcp_listener(), udp());
    let (p, _w) = fd::pipe().unwrap();
    place(&[&t, &u, &p], base);
    fd::close(base + 3); // announced but closed
    let mut r = Registry::new();
    r.load(env("77", "4", Some("web:dns:state:gone")), 77, base, 1000);
    let kinds: Vec<_> = r.entries.iter().map(|e| (e.name.clone(), e.kind, e.fd.raw())).collect();
    assert_eq!(
        kinds,
        vec![
            (b"web".to_vec(), FdKind::TcpListener, base),
            (b"dns".to_vec(), FdKind::Udp, base + 1),
            (b"state".to_vec(), FdKind::File, base + 2)
        ]
    );
    for e in &r.entries {
        assert!(fd::is_cloexec(e.fd.raw()).unwrap());
        assert!(e.source.inherited() && !e.claimed);
    }
    let warn: Vec<_> = r.startup_log.iter().map(|(_, m)| m.as_str().to_string()).collect();
    assert!(warn.iter().any(|m| m.contains("LISTEN_FDS: fd 823 \"gone\" rejected: it is not open")), "{:?}", warn);
    let e = r.inherited(b"gone").unwrap_err();
    assert_eq!(e.errno.0, libc::ENOENT);
    assert!(e.message().contains("LISTEN_FDS fd 823 was rejected: it is not open"), "{}", e);
    // Claiming gives a CLOEXEC duplicate of the same socket.
    let d = r.inherited(b"web").unwrap();
    assert!(fd::is_cloexec(d.raw()).unwrap());
    assert_eq!(fd::fstat(d.raw()).unwrap().st_ino, fd::fstat(base).unwrap().st_ino);
    assert!(r.entries[0].claimed);
    assert_eq!(r.close_unclaimed(), 2);
    assert!(!fd::is_open(base + 1) && !fd::is_open(base + 2) && fd::is_open(base));
}

#[test]
fn systemd_not_for_us_or_malformed_touches_nothing() {
    let base = 840;
    let t = tcp_listener();
    place(&[&t], base);
    for (pid, fds, names) in
        [("78", "1", None), ("77", "-1", None), ("77", "1x", None), ("77", "1", Some("a:b")), ("77", "5000", None)]
    {
        let mut r = Registry::new();
        r.load(env(pid, fds, names), 77, base, 1000);
        assert!(r.entries.is_empty(), "{} {} {:?}", pid, fds, names);
        assert!(!fd::is_cloexec(base).unwrap(), "fd flags touched for {} {}", pid, fds);
        assert!(!r.notes.is_empty());
        let e = r.inherited(b"a").unwrap_err();
        assert!(e.message().contains("LISTEN_"), "{}", e);
    }
    fd::close(base);
}

#[test]
fn server_starter_checks_the_announced_socket() {
    let (t, u) = (tcp_listener(), udp());
    let (p, _w) = fd::pipe().unwrap();
    let tport = socket::getsockname(t.raw()).unwrap().port().unwrap();
    let uport = socket::getsockname(u.raw()).unwrap().port().unwrap();
    let other = tcp_listener();
    let value = format!(
        "127.0.0.1:{tp}={t};{up}={u};80={p};[::1]:{tp}={o};/x.sock={o2};1=0;1={closed};127.0.0.1:{tp2}={o3}",
        tp = tport,
        t = t.raw(),
        up = uport,
        u = u.raw(),
        p = p.raw(),
        o = other.raw(),
        o2 = t.raw() + 10000,
        closed = 9999,
        tp2 = tport.wrapping_add(1),
        o3 = other.raw(),
    );
    // fd o is announced twice: a parse error. Split the cases.
    let bad = value.replace(&format!(";127.0.0.1:{}={}", tport.wrapping_add(1), other.raw()), "");
    let mut r = Registry::new();
    r.load(EnvVars { server_starter_port: Some(bad.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
    let got: Vec<_> = r.entries.iter().map(|e| (e.fd.raw(), e.kind)).collect();
    assert_eq!(got, vec![(t.raw(), FdKind::TcpListener), (u.raw(), FdKind::Udp)]);
    assert!(r.entries.iter().all(|e| e.name == UNKNOWN && e.source == Source::ServerStarter));
    let why: Vec<_> = r.rejected.iter().map(|x| (x.fd, x.why.as_str().to_string())).collect();
    assert!(why.iter().any(|(f, w)| *f == p.raw() && w.contains("not a socket")), "{:?}", why);
    assert!(why.iter().any(|(f, w)| *f == other.raw() && w.contains("IPv6")), "{:?}", why);
    assert!(why.iter().any(|(f, w)| *f == 0 && w.contains("stdin")), "{:?}", why);
    assert!(why.iter().any(|(f, w)| *f == 9999 && w.contains("not open")), "{:?}", why);
    // The registry took ownership of the accepted ones; give them back.
    for e in core::mem::take(&mut r.entries) {
        let _ = e.fd.into_raw();
    }
    // Wrong port.
    let v = format!("127.0.0.1:{}={}", tport.wrapping_add(1), other.raw());
    let mut r = Registry::new();
    r.load(EnvVars { server_starter_port: Some(v.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
    assert!(r.entries.is_empty());
    assert!(r.rejected[0].why.as_str().contains("bound to port"), "{}", r.rejected[0].why.as_str());
    // Malformed: nothing at all.
    let v = format!("127.0.0.1:{}={};x={}", tport, t.raw(), t.raw());
    let mut r = Registry::new();
    r.load(EnvVars { server_starter_port: Some(v.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
    assert!(r.entries.is_empty());
    assert!(r.notes[0].as_str().contains("announced twice"));
}

#[test]
fn both_protocols_for_one_fd_make_one_entry() {
    let base = 860;
    let t = tcp_listener();
    let port = socket::getsockname(t.raw()).unwrap().port().unwrap();
    place(&[&t], base);
    let ss = format!("127.0.0.1:{}={}", port, base);
    let mut r = Registry::new();
    let mut e = env("5", "1", Some("web"));
    e.server_starter_port = Some(ss.as_bytes());
    e.server_starter_generation = Some(b"3");
    r.load(e, 5, base, 100);
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.entries[0].name, b"web");
    assert_eq!(r.entries[0].label, format!("127.0.0.1:{}", port).into_bytes());
    assert_eq!(r.generation, Some(3));
}

#[test]
fn add_import_forget_export() {
    let mut r = Registry::new();
    let t = tcp_listener();
    r.add(b"mine", t.raw()).unwrap();
    assert_eq!(r.add(b"mine", t.raw()).unwrap_err().errno.0, libc::EEXIST);
    assert_eq!(r.add(b"unknown", t.raw()).unwrap_err().errno.0, libc::EINVAL);
    assert_eq!(r.add(b"bad:name", t.raw()).unwrap_err().errno.0, libc::EINVAL);
    assert_eq!(r.add(b"closed", 12345).unwrap_err().errno.0, libc::EBADF);
    let (p, _w) = fd::pipe().unwrap();
    r.import(b"state", p).unwrap();
    r.import(b"state", udp()).unwrap();
    assert_eq!(r.entries.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![FdKind::TcpListener, FdKind::File, FdKind::Udp]);
    let x = r.export().unwrap();
    assert_eq!(x.iter().map(|e| e.name.clone()).collect::<Vec<_>>(), vec![b"mine".to_vec(), b"state".to_vec(), b"state".to_vec()]);
    for (e, ent) in x.iter().zip(&r.entries) {
        assert!(fd::is_cloexec(e.fd.raw()).unwrap());
        assert_ne!(e.fd.raw(), ent.fd.raw());
        assert_eq!(fd::fstat(e.fd.raw()).unwrap().st_ino, fd::fstat(ent.fd.raw()).unwrap().st_ino);
    }
    assert_eq!(r.forget(b"state").unwrap(), 2);
    assert_eq!(r.forget(b"state").unwrap_err().errno.0, libc::ENOENT);
    // add() registered a dup: the caller's fd is still its own.
    drop(r);
    assert!(fd::is_open(t.raw()));
}

#[test]
fn names_are_validated() {
    assert!(validate_name(b"web").is_ok());
    for bad in [&b""[..], b"a:b", b"a\nb", &[b'x'; 256]] {
        let e = validate_name(bad).unwrap_err();
        assert_eq!(e.errno.0, libc::EINVAL);
        assert!(e.message().starts_with("fd name"));
    }
}

/// Before `main`, the `LISTEN_FDS` fds the load will adopt, and only those,
/// become CLOEXEC, and the kinds the load-time pass hands the load are the
/// ones the load finds itself; `SERVER_STARTER_PORT` sockets become CLOEXEC
/// at once and the load puts the flag back on those it rejects. For each
/// environment, after the load exactly the adopted fds are CLOEXEC.
#[test]
fn the_load_time_pass_protects_exactly_what_the_load_adopts() {
    let base = 900;
    let (t, u, other) = (tcp_listener(), udp(), tcp_listener());
    let (p, _w) = fd::pipe().unwrap();
    let tport = socket::getsockname(t.raw()).unwrap().port().unwrap();
    let oport = socket::getsockname(other.raw()).unwrap().port().unwrap();
    let starter_ok = format!("127.0.0.1:{}={}", tport, base);
    let starter_wrong_port = format!("127.0.0.1:{}={}", oport, base);
    let starter_pipe = format!("127.0.0.1:{}={}", tport, base + 2);
    let uport = socket::getsockname(u.raw()).unwrap().port().unwrap();
    let starter_two = format!("{}={};[::1]:{}={};u:{}={}", tport, base, uport, base + 1, uport, base + 1);
    let starter_both = format!("{}={};127.0.0.1:{}={}", tport, base, uport, base + 1);
    let starter_big_port = format!("{}={};127.0.0.1:70000={}", tport, base, base + 1);
    let starter_path = format!("/nonexistent/x={}", base);
    let cases: Vec<(EnvVars<'_>, &str)> = vec![
        (env("77", "3", Some("web:dns:state")), "systemd, all good"),
        (env("77", "4", Some("web:dns:state:gone")), "systemd, one closed"),
        (env("78", "3", None), "systemd, not our pid"),
        (env("77", "3", Some("a:b:c:d")), "systemd, too many names"),
        (env("77", "3", Some("a:b c")), "systemd, a bad name"),
        (EnvVars { listen_pidfdid: Some(b"12"), our_pidfd_id: Some(13), ..env("77", "3", None) }, "systemd, another pidfd"),
        (EnvVars { listen_pidfdid: Some(b"x"), ..env("77", "3", None) }, "systemd, malformed pidfd id"),
        (EnvVars { server_starter_port: Some(starter_ok.as_bytes()), ..EnvVars::default() }, "starter, good"),
        (EnvVars { server_starter_port: Some(starter_wrong_port.as_bytes()), ..EnvVars::default() }, "starter, wrong port"),
        (EnvVars { server_starter_port: Some(starter_pipe.as_bytes()), ..EnvVars::default() }, "starter, a pipe"),
        (EnvVars { server_starter_port: Some(b"80=900;"), ..EnvVars::default() }, "starter, malformed"),
        (EnvVars { server_starter_port: Some(starter_two.as_bytes()), ..EnvVars::default() }, "starter, one fd twice"),
        (EnvVars { server_starter_port: Some(starter_both.as_bytes()), ..EnvVars::default() }, "starter, TCP and UDP"),
        (EnvVars { server_starter_port: Some(starter_big_port.as_bytes()), ..EnvVars::default() }, "starter, a port too big"),
        (EnvVars { server_starter_port: Some(starter_path.as_bytes()), ..EnvVars::default() }, "starter, a path, an inet fd"),
        (
            EnvVars { server_starter_port: Some(starter_both.as_bytes()), ..env("77", "2", Some("a:b")) },
            "systemd and starter for the same fds",
        ),
    ];
    for (vars, what) in cases {
        place(&[&t, &u, &p], base);
        fd::close(base + 3);
        let cloexec = || -> Vec<RawFd> { (base..base + 4).filter(|&f| fd::is_cloexec(f).unwrap_or(false)).collect() };
        super::at_load::protect(vars, 77, base, 1000);
        let protected = cloexec();
        let super::at_load::Found { protected: seen, starter_marks: marks } = super::at_load::take_found();
        let mut r = Registry::new();
        r.load(EnvVars { starter_marks: &marks, ..vars }, 77, base, 1000);
        let mut adopted: Vec<RawFd> = r.entries.iter().map(|e| e.fd.raw()).collect();
        adopted.sort_unstable();
        if vars.server_starter_port.is_none() {
            assert_eq!(protected, adopted, "{}: the load-time pass protects what the load adopts", what);
        } else {
            assert!(adopted.iter().all(|f| protected.contains(f)), "{}: {:?} adopted, {:?} protected", what, adopted, protected);
            assert!(!protected.contains(&(base + 2)), "{}: the pipe is no socket, never touched", what);
        }
        assert_eq!(cloexec(), adopted, "{}: after the load", what);
        // What it found about LISTEN_FDS fds is what the load finds.
        let systemd: Vec<(RawFd, FdKind)> =
            r.entries.iter().filter(|e| e.source == Source::ListenFds).map(|e| (e.fd.raw(), e.kind)).collect();
        assert_eq!(seen, systemd, "{}", what);
        // The registry owns what it adopted; the rest is still placed here.
        r.entries.clear();
        for f in base..base + 3 {
            if !adopted.contains(&f) {
                fd::close(f);
            }
        }
    }
}

/// The load takes the constructor's findings for `LISTEN_FDS` fds as they
/// are (no second inspection), and inspects the others itself.
#[test]
fn the_load_uses_what_the_load_time_pass_found() {
    let base = 930;
    let (t, u) = (tcp_listener(), udp());
    place(&[&t, &u], base);
    // Say fd 930 is a UDP socket: the load believes it without asking.
    let protected = [(base, FdKind::Udp)];
    let mut r = Registry::new();
    r.load(EnvVars { protected: &protected, ..env("77", "2", Some("a:b")) }, 77, base, 1000);
    let kinds: Vec<_> = r.entries.iter().map(|e| (e.fd.raw(), e.kind)).collect();
    assert_eq!(kinds, vec![(base, FdKind::Udp), (base + 1, FdKind::Udp)]);
    assert!(fd::is_cloexec(base + 1).unwrap(), "the fd not found at load is checked and made CLOEXEC by the load");
}

/// The load puts the flag back only on the file the constructor marked: an
/// fd number that means another file by then keeps its CLOEXEC.
#[test]
fn the_load_undoes_only_what_the_load_time_pass_did_to_that_file() {
    let base = 940;
    let (t, other) = (tcp_listener(), tcp_listener());
    place(&[&t], base);
    let st = fd::fstat(other.raw()).unwrap();
    let marks = [StarterMark { fd: base, was_cloexec: false, dev: st.st_dev, ino: st.st_ino }];
    fd::set_cloexec(base, true).unwrap();
    let mut r = Registry::new();
    r.load(EnvVars { server_starter_port: Some(b"1=940"), starter_marks: &marks, ..EnvVars::default() }, 77, base, 1000);
    assert!(r.entries.is_empty(), "port 1 is not the socket's: rejected");
    assert!(fd::is_cloexec(base).unwrap(), "the mark names another file: not undone");
    let st = fd::fstat(base).unwrap();
    let marks = [StarterMark { fd: base, was_cloexec: false, dev: st.st_dev, ino: st.st_ino }];
    r.load(EnvVars { server_starter_port: Some(b"1=940"), starter_marks: &marks, ..EnvVars::default() }, 77, base, 1000);
    assert!(!fd::is_cloexec(base).unwrap(), "the same file: the flag is put back");
    fd::close(base);
}

#[test]
fn server_starter_rejections_read_exactly_as_before() {
    // The whole text of each reason (worded at one site from a small value:
    // this pins the words, and the log line around them).
    let t = tcp_listener();
    let tport = socket::getsockname(t.raw()).unwrap().port().unwrap();
    let (p, _w) = fd::pipe().unwrap();
    let dir = std::env::temp_dir().join(format!("gracefd-reg-why-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let at = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let ul = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).unwrap();
    socket::bind(ul.raw(), &SockAddr::unix(at("a.sock").as_bytes(), false).unwrap()).unwrap();
    socket::listen(ul.raw(), 1).unwrap();
    let ud = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
    socket::bind(ud.raw(), &SockAddr::unix(at("d.sock").as_bytes(), false).unwrap()).unwrap();
    let quiet = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    socket::bind(quiet.raw(), &SockAddr::v4([127, 0, 0, 1], 0)).unwrap();
    let qport = socket::getsockname(quiet.raw()).unwrap().port().unwrap();
    let cases = [
        (format!("80={}", 0), "fd 0 is stdin, never a listener".to_string()),
        ("80=9999".to_string(), "it is not open".to_string()),
        (format!("80={}", p.raw()), "it is not a socket".to_string()),
        (format!("[::1]:{}={}", tport, t.raw()), "the key announces an IPv6 socket, the fd is of another family".to_string()),
        (
            format!("{}={}", tport.wrapping_add(1), t.raw()),
            format!("the key announces port {}, the socket is bound to port {}", tport.wrapping_add(1), tport),
        ),
        (
            format!("{}={}", qport, quiet.raw()),
            "the key announces a listener, the fd is a socket that is not a TCP/unix listener or a UDP socket".to_string(),
        ),
        (
            format!("{}={}", at("d.sock"), ud.raw()),
            "the key announces a unix listener, the fd is a socket that is not a TCP/unix listener or a UDP socket".to_string(),
        ),
        (format!("{}={}", at("b.sock"), ul.raw()), format!("the socket is bound to \"{}\", not to the path announced", at("a.sock"))),
    ];
    for (value, want) in &cases {
        let mut r = Registry::new();
        r.load(EnvVars { server_starter_port: Some(value.as_bytes()), ..EnvVars::default() }, 1, 3, 100);
        assert!(r.entries.is_empty(), "{}", value);
        assert_eq!(r.rejected.len(), 1, "{}", value);
        assert_eq!(r.rejected[0].why.as_str(), want.as_str(), "{}", value);
        let key = value.rsplit_once('=').unwrap().0;
        let line = format!("SERVER_STARTER_PORT: fd {} \"{}\" rejected: {}; not inherited", r.rejected[0].fd, key, want);
        assert!(r.startup_log.iter().any(|(_, m)| m.as_str() == line), "{:?} lacks {:?}", r.startup_log.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(), line);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The whole text of what the load notes when a variable does not parse.
#[test]
fn a_malformed_variable_is_noted_in_full() {
    let cases: [(EnvVars<'_>, &str); 5] = [
        (
            env("x", "1", None),
            "LISTEN_PID=\"x\": not a process id (a decimal number from 1 to 2147483647); no fd inherited from LISTEN_FDS",
        ),
        (
            env("1", "1", Some("a:b")),
            "LISTEN_FDNAMES names 2 fds but LISTEN_FDS=1 announces 1: inconsistent, ignoring both; no fd inherited from LISTEN_FDS",
        ),
        (
            EnvVars { listen_pidfdid: Some(b"-1"), ..env("1", "0", None) },
            "LISTEN_PIDFDID=\"-1\": not a pidfd id (a decimal number from 1 to 2^64-1); no fd inherited from LISTEN_FDS",
        ),
        (
            EnvVars { server_starter_port: Some(b"80=3;80=3"), ..EnvVars::default() },
            "SERVER_STARTER_PORT: fd 3 is announced twice (for \"80\" and \"80\"); no fd inherited from SERVER_STARTER_PORT",
        ),
        (
            EnvVars { server_starter_generation: Some(b"1 "), ..EnvVars::default() },
            "SERVER_STARTER_GENERATION=\"1 \": not a plain decimal number; ignored",
        ),
    ];
    for (vars, want) in cases {
        let mut r = Registry::new();
        r.load(vars, 1, 3, 100);
        let notes: Vec<&str> = r.notes.iter().map(|m| m.as_str()).collect();
        assert_eq!(notes, vec![want]);
        assert!(r.entries.is_empty());
    }
}

/// The whole text of what the load says when the fds are not for this
/// process, and of what it only logs.
#[test]
fn what_the_load_says_about_systemd_fds_in_full() {
    let noted = |vars: EnvVars<'_>| {
        let mut r = Registry::new();
        r.load(vars, 77, 3, 100);
        assert!(r.entries.is_empty());
        r.notes.iter().map(|m| m.as_str().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        noted(EnvVars { listen_fds: Some(b"1"), ..EnvVars::default() }),
        ["LISTEN_FDS is set but LISTEN_PID is not: the fds are not for this process, ignored"]
    );
    assert_eq!(noted(env("78", "1", None)), ["LISTEN_PID=78 is not this process (77): LISTEN_FDS is not for us, ignored"]);
    assert_eq!(
        noted(EnvVars { listen_pidfdid: Some(b"5"), our_pidfd_id: Some(6), ..env("77", "1", None) }),
        ["LISTEN_PIDFDID=5 is not this process (pidfd id 6; its pid was reused): LISTEN_FDS is not for us, ignored"]
    );
    // Logged only (not kept as notes): fewer names than fds, an id the kernel cannot check.
    let mut r = Registry::new();
    r.load(EnvVars { listen_pidfdid: Some(b"5"), ..env("77", "0", Some("")) }, 77, 3, 100);
    let logged: Vec<_> = r.startup_log.iter().map(|(l, m)| (*l, m.as_str().to_string())).collect();
    assert_eq!(logged, [(log::DEBUG, "LISTEN_PIDFDID=5: this kernel cannot tell our pidfd id; LISTEN_PID alone decides".to_string())]);
    let base = 860;
    let t = tcp_listener();
    place(&[&t, &t], base);
    let mut r = Registry::new();
    r.load(env("77", "2", Some("web")), 77, base, 1000);
    assert!(r.notes.is_empty());
    let logged: Vec<_> = r.startup_log.iter().map(|(l, m)| (*l, m.as_str().to_string())).collect();
    assert_eq!(
        logged,
        [(log::WARNING, "LISTEN_FDNAMES names fewer fds than LISTEN_FDS=2: the last 1 are named \"unknown\"".to_string())]
    );
    assert_eq!(r.entries.len(), 2);
}

// A hand-off transfer in progress is dropped (ESTALE) when the registry
// changed; closing no unclaimed fd is no change.
#[test]
fn closing_nothing_is_no_change() {
    let mut r = Registry::new();
    r.add(b"web", tcp_listener().raw()).unwrap();
    let before = r.changes;
    assert_eq!(r.close_unclaimed(), 0);
    assert_eq!(r.changes, before);
}
