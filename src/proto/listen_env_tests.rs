//! Tests of `proto::listen_env`; its parent module includes this file under #[cfg(test)].

use super::*;

const ME: i32 = 4242;

fn sd<'a>(pid: Option<&'a str>, fds: Option<&'a str>, names: Option<&'a str>) -> Result<Systemd<'a>> {
    parse_systemd(pid.map(str::as_bytes), fds.map(str::as_bytes), names.map(str::as_bytes), ME, 1000)
}

fn names(r: Result<Systemd<'_>>) -> (Vec<String>, usize) {
    let s = r.unwrap();
    match &s {
        Systemd::Fds { count, missing_names, .. } => (
            (0..*count as usize).map(|i| String::from_utf8(s.name_of(i).to_vec()).unwrap()).collect(),
            *missing_names,
        ),
        other => panic!("not fds: {:?}", other),
    }
}

fn sd_err(pid: Option<&str>, fds: Option<&str>, names: Option<&str>, needle: &str) {
    let e = sd(pid, fds, names).expect_err("accepted");
    assert!(e.message().contains(needle), "{:?} {:?} {:?}: {:?} lacks {:?}", pid, fds, names, e.message(), needle);
    assert_eq!(e.errno.0, libc::EINVAL);
}

#[test]
fn systemd_normal() {
    assert_eq!(names(sd(Some("4242"), Some("2"), Some("web:admin"))), (vec!["web".into(), "admin".into()], 0));
    assert_eq!(names(sd(Some("4242"), Some("2"), None)), (vec!["unknown".into(), "unknown".into()], 0));
    assert_eq!(names(sd(Some("4242"), Some("0"), None)), (vec![], 0));
    assert_eq!(names(sd(Some("4242"), Some("0"), Some(""))), (vec![], 0));
    // Empty names read as unknown.
    assert_eq!(names(sd(Some("4242"), Some("3"), Some("a::c"))), (vec!["a".into(), "unknown".into(), "c".into()], 0));
    assert_eq!(names(sd(Some("4242"), Some("1"), Some(""))), (vec!["unknown".into()], 0));
    // Duplicate names are allowed (one socket unit with several Listen lines).
    assert_eq!(names(sd(Some("4242"), Some("2"), Some("w:w"))), (vec!["w".into(), "w".into()], 0));
    // Leading zeros are still a plain number.
    assert_eq!(names(sd(Some("04242"), Some("01"), Some("x"))).0.len(), 1);
}

#[test]
fn systemd_absent_or_not_for_us() {
    assert_eq!(sd(None, None, None).unwrap(), Systemd::Absent);
    assert_eq!(sd(Some("4242"), None, Some("a")).unwrap(), Systemd::Absent);
    assert_eq!(sd(None, Some("2"), None).unwrap(), Systemd::NotForUs { listen_pid: None });
    assert_eq!(sd(Some("1"), Some("2"), None).unwrap(), Systemd::NotForUs { listen_pid: Some(1) });
    // Not for us wins over a malformed LISTEN_FDS: it is somebody else's business.
    assert_eq!(sd(Some("1"), Some("-1"), None).unwrap(), Systemd::NotForUs { listen_pid: Some(1) });
}

#[test]
fn systemd_hostile() {
    for pid in ["", "0", "-1", "abc", "4242x", " 4242", "4242 ", "+4242", "2147483648", "99999999999999999999999"] {
        sd_err(Some(pid), Some("1"), None, "LISTEN_PID");
    }
    for fds in ["", "-1", "abc", "1x", "1 ", " 1", "+1", "0x1", "1.0", "4294967296", "99999999999999999999999"] {
        sd_err(Some("4242"), Some(fds), None, "LISTEN_FDS");
    }
    sd_err(Some("4242"), Some("1001"), None, "more fds than");
    sd_err(Some("4242"), Some("2147483647"), None, "more fds than");
    // The fd range must stay within int even with a huge limit.
    let e = parse_systemd(Some(b"1"), Some(b"2147483646"), None, 1, u32::MAX).unwrap_err();
    assert!(e.message().contains("more fds than"));
    assert!(parse_systemd(Some(b"1"), Some(b"2147483644"), None, 1, u32::MAX).is_ok());
}

#[test]
fn systemd_names_count_mismatch() {
    // Fewer names: the rest are unknown, and the shortfall is reported.
    assert_eq!(names(sd(Some("4242"), Some("3"), Some("a"))), (vec!["a".into(), "unknown".into(), "unknown".into()], 2));
    // More names: an error.
    sd_err(Some("4242"), Some("1"), Some("a:b"), "LISTEN_FDNAMES names 2 fds");
    sd_err(Some("4242"), Some("0"), Some("a"), "LISTEN_FDNAMES names 1 fds");
    sd_err(Some("4242"), Some("1"), Some(":"), "LISTEN_FDNAMES names 2 fds");
}

#[test]
fn systemd_bad_names() {
    sd_err(Some("4242"), Some("1"), Some("a\tb"), "not printable");
    sd_err(Some("4242"), Some("1"), Some("caf\u{e9}"), "not printable");
    sd_err(Some("4242"), Some("2"), Some("ok:\x7f"), "of fd 4");
    let long = "n".repeat(256);
    sd_err(Some("4242"), Some("1"), Some(&long), "longer than 255");
    let max = "n".repeat(255);
    assert_eq!(names(sd(Some("4242"), Some("1"), Some(&max))).0, vec![max.clone()]);
}

#[test]
fn name_validity() {
    assert!(fdname_is_valid(b"web"));
    assert!(fdname_is_valid(b"web.socket"));
    assert!(fdname_is_valid(b"a b=c;d"));
    assert!(!fdname_is_valid(b""));
    assert!(!fdname_is_valid(b"a:b"));
    assert!(!fdname_is_valid(b"a\nb"));
    assert!(!fdname_is_valid(b"a\0b"));
    assert!(!fdname_is_valid(&[b'x'; 256]));
    assert!(fdname_is_valid(&[b'x'; 255]));
    assert_eq!(fdname_problem(b"ok"), None);
    assert!(fdname_problem(b"a:b").unwrap().contains("':'"));
}

fn ss(v: &str) -> Vec<StarterEntry<'_>> {
    parse_server_starter_port(v.as_bytes()).unwrap_or_else(|e| panic!("{:?}: {}", v, e))
}

fn ss_err(v: &[u8], needle: &str) {
    let e = parse_server_starter_port(v).expect_err("accepted");
    assert!(e.message().contains(needle), "{:?}: {:?} lacks {:?}", v, e.message(), needle);
    assert!(e.message().contains("SERVER_STARTER_PORT"));
}

#[test]
fn server_starter_forms() {
    assert_eq!(ss(""), vec![]);
    let v = ss("8000=3;127.0.0.1:8001=4;[::1]:8002=5;/tmp/x.sock=6;localhost:80=7;::1:9=8");
    assert_eq!(v.len(), 6);
    assert_eq!(v[0], StarterEntry { key: b"8000", addr: StarterAddr::Inet4 { host: b"", port: 8000 }, fd: 3 });
    assert_eq!(v[1].addr, StarterAddr::Inet4 { host: b"127.0.0.1", port: 8001 });
    assert_eq!(v[2].addr, StarterAddr::Inet6 { host: b"::1", port: 8002 });
    assert_eq!(v[3].addr, StarterAddr::Path(b"/tmp/x.sock"));
    assert_eq!(v[3].fd, 6);
    assert_eq!(v[4].addr, StarterAddr::Inet4 { host: b"localhost", port: 80 });
    assert_eq!(v[5].addr, StarterAddr::Inet6 { host: b"::1", port: 9 });
    // '=' inside a path: split on the last '='.
    let v = ss("/tmp/a=b=c.sock=9");
    assert_eq!(v[0].key, b"/tmp/a=b=c.sock");
    assert_eq!(v[0].addr, StarterAddr::Path(b"/tmp/a=b=c.sock"));
    assert_eq!(v[0].fd, 9);
    // A path with ':digits' is still a path; a relative name without one too.
    assert_eq!(ss("/run/a:80=3")[0].addr, StarterAddr::Path(b"/run/a:80"));
    assert_eq!(ss("x.sock=3")[0].addr, StarterAddr::Path(b"x.sock"));
    // The same key twice (TCP and UDP on one port) is fine; fd 0 parses (the registry refuses it).
    assert_eq!(ss("8000=3;8000=4").len(), 2);
    assert_eq!(ss("80=0")[0].fd, 0);
}

#[test]
fn server_starter_hostile() {
    ss_err(b";", "entry 1 is empty");
    ss_err(b"80=3;", "entry 2 is empty");
    ss_err(b"80=3;;81=4", "entry 2 is empty");
    ss_err(b"80", "no '=fd'");
    ss_err(b"=3", "empty address");
    ss_err(b"80=", "not a plain decimal fd");
    ss_err(b"80=-1", "not a plain decimal fd");
    ss_err(b"80=3x", "not a plain decimal fd");
    ss_err(b"80= 3", "not a plain decimal fd");
    ss_err(b"80=2147483648", "not a plain decimal fd");
    ss_err(b"80=99999999999999999999999", "not a plain decimal fd");
    ss_err(b"/tmp/a.sock=", "not a plain decimal fd");
    ss_err(b"70000=3", "above 65535");
    ss_err(b"127.0.0.1:70000=3", "above 65535");
    ss_err(b"[]:80=3", "empty IPv6 host");
    ss_err(b"80=3;81=3", "fd 3 is announced twice");
    ss_err(b"/a=4;/b=4", "fd 4 is announced twice");
    // Bytes that are not text do not panic anything.
    let _ = parse_server_starter_port(b"\xff\xfe=3");
}

/// The whole text and errno of every error the parsers give, one case
/// per error site (and per reason a name or a key is refused).
#[test]
fn every_parser_error_in_full() {
    let pinned = |r: Result<()>, want: &str| {
        let e = r.expect_err(want);
        assert_eq!(e.message(), want);
        assert_eq!(e.errno.0, libc::EINVAL, "{}", want);
    };
    let sd = |pid: &str, fds: &str, names: Option<&str>| {
        parse_systemd(Some(pid.as_bytes()), Some(fds.as_bytes()), names.map(str::as_bytes), ME, 1000).map(drop)
    };
    pinned(sd("+1", "1", None), "LISTEN_PID=\"+1\": not a process id (a decimal number from 1 to 2147483647)");
    pinned(sd("4242", "1\n", None), "LISTEN_FDS=\"1\\x0a\": not a count of fds (a plain decimal number, no sign or spaces)");
    pinned(sd("4242", "1001", None), "LISTEN_FDS=1001: more fds than this process can have open (at most 1000)");
    pinned(
        parse_systemd(Some(b"1"), Some(b"2147483645"), None, 1, u32::MAX).map(drop),
        "LISTEN_FDS=2147483645: more fds than this process can have open (at most 2147483644)",
    );
    pinned(sd("4242", "2", Some("a:b:c")), "LISTEN_FDNAMES names 3 fds but LISTEN_FDS=2 announces 2: inconsistent, ignoring both");
    pinned(sd("4242", "0", Some("a")), "LISTEN_FDNAMES names 1 fds but LISTEN_FDS=0 announces 0: inconsistent, ignoring both");
    pinned(
        sd("4242", "2", Some("ok:a\"\\\u{1}")),
        "LISTEN_FDNAMES: name \"a\\\"\\\\\\x01\" of fd 4 contains a byte that is not printable ASCII",
    );
    let long = "n".repeat(256);
    pinned(
        sd("4242", "1", Some(&long)),
        &format!("LISTEN_FDNAMES: name \"{}...\" of fd 3 is longer than 255 bytes", "n".repeat(64)),
    );
    pinned(check_pidfdid(Some(b"0"), None).map(drop), "LISTEN_PIDFDID=\"0\": not a pidfd id (a decimal number from 1 to 2^64-1)");
    pinned(check_pidfdid(Some(b""), Some(1)).map(drop), "LISTEN_PIDFDID=\"\": not a pidfd id (a decimal number from 1 to 2^64-1)");
    let ss = |v: &[u8]| parse_server_starter_port(v).map(drop);
    pinned(ss(b"80=3;;81=4"), "SERVER_STARTER_PORT=\"80=3;;81=4\": entry 2 is empty");
    pinned(ss(b";"), "SERVER_STARTER_PORT=\";\": entry 1 is empty");
    pinned(ss(b"80=3;/a.sock"), "SERVER_STARTER_PORT: entry \"/a.sock\" has no '=fd'");
    pinned(ss(b"=3"), "SERVER_STARTER_PORT: entry \"=3\" has an empty address");
    pinned(ss(b"80=3x"), "SERVER_STARTER_PORT: entry \"80=3x\": fd \"3x\" is not a plain decimal fd number");
    pinned(ss(b"80=2147483648"), "SERVER_STARTER_PORT: entry \"80=2147483648\": fd \"2147483648\" is not a plain decimal fd number");
    pinned(ss(b"70000=3"), "SERVER_STARTER_PORT: entry \"70000=3\": port \"70000\" is above 65535");
    pinned(ss(b"h:99999999999=3"), "SERVER_STARTER_PORT: entry \"h:99999999999=3\": port \"99999999999\" is above 65535");
    pinned(ss(b"[::1]:65536=3"), "SERVER_STARTER_PORT: entry \"[::1]:65536=3\": port \"65536\" is above 65535");
    pinned(ss(b"[]:80=3"), "SERVER_STARTER_PORT: entry \"[]:80=3\": empty IPv6 host between brackets");
    pinned(ss(b"/a=4;80=5;/b=4"), "SERVER_STARTER_PORT: fd 4 is announced twice (for \"/a\" and \"/b\")");
    pinned(parse_server_starter_generation(b"-1").map(drop), "SERVER_STARTER_GENERATION=\"-1\": not a plain decimal number");
    pinned(validate_fdname(b""), "fd name \"\" is empty");
    pinned(validate_fdname(b"a:b"), "fd name \"a:b\" contains ':' (the LISTEN_FDNAMES separator)");
}

#[test]
fn generation() {
    assert_eq!(parse_server_starter_generation(b"0").unwrap(), 0);
    assert_eq!(parse_server_starter_generation(b"17").unwrap(), 17);
    for bad in [&b""[..], b"-1", b"1x", b" 1"] {
        assert!(parse_server_starter_generation(bad).is_err());
    }
}

#[test]
fn never_panics_on_noise() {
    let seeds: [&[u8]; 4] = [b"8000=3;[::1]:8=4;/a=b=5", b"a::b:c", b"4242", b"[x]:1=2;;=;"];
    let mut x: u32 = 7;
    for s in seeds {
        for _ in 0..3000 {
            let mut v = s.to_vec();
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let i = (x as usize >> 8) % v.len();
            v[i] = (x >> 16) as u8;
            let _ = parse_server_starter_port(&v);
            let _ = parse_systemd(Some(&v), Some(&v), Some(&v), 1, 64);
            let _ = parse_systemd(Some(b"1"), Some(b"3"), Some(&v), 1, 64);
            agree(&v);
        }
    }
}

#[test]
fn pidfdid_is_checked_strictly() {
    assert_eq!(check_pidfdid(None, Some(5)).unwrap(), PidfdId::Unset);
    assert_eq!(check_pidfdid(None, None).unwrap(), PidfdId::Unset);
    assert_eq!(check_pidfdid(Some(b"5"), Some(5)).unwrap(), PidfdId::Matches(5));
    assert_eq!(check_pidfdid(Some(b"5"), Some(6)).unwrap(), PidfdId::Other { announced: 5, ours: 6 });
    assert_eq!(check_pidfdid(Some(b"5"), None).unwrap(), PidfdId::Unverifiable(5));
    assert_eq!(check_pidfdid(Some(b"18446744073709551615"), None).unwrap(), PidfdId::Unverifiable(u64::MAX));
    for bad in ["", "0", "-5", "+5", " 5", "5 ", "5x", "0x5", "18446744073709551616", "1.0"] {
        let e = check_pidfdid(Some(bad.as_bytes()), Some(5)).expect_err(bad);
        assert_eq!(e.errno.0, libc::EINVAL, "{:?}", bad);
        assert!(e.message().contains("LISTEN_PIDFDID"), "{:?}", e.message());
    }
}

/// The load-time verdicts are the parsers' verdicts, for `v` in every
/// position.
fn agree(v: &[u8]) {
    let mut scanned = Vec::new();
    for_each_starter_fd(v, |fd| scanned.push(fd));
    if let Ok(entries) = parse_server_starter_port(v) {
        let fds: Vec<i32> = entries.iter().map(|e| e.fd).collect();
        assert_eq!(scanned, fds, "{:?}", Shown(v));
    }
    let fds = |r: Result<Systemd<'_>>| match r {
        Ok(Systemd::Fds { count, .. }) => Some(count),
        _ => None,
    };
    for (pid, n, names) in [(Some(v), Some(v), Some(v)), (Some(&b"1"[..]), Some(&b"3"[..]), Some(v)), (Some(b"1"), Some(v), None)] {
        assert_eq!(systemd_count(pid, n, names, 1, 64), fds(parse_systemd(pid, n, names, 1, 64)), "{:?}", Shown(v));
    }
    for ours in [None, Some(5)] {
        let allowed = matches!(check_pidfdid(Some(v), ours), Ok(PidfdId::Unset | PidfdId::Matches(_) | PidfdId::Unverifiable(_)));
        assert_eq!(pidfdid_allows(Some(v), ours), allowed, "{:?}", Shown(v));
    }
}

#[test]
fn the_load_time_verdicts_agree_with_the_parsers() {
    let cases: [&[u8]; 22] = [
        b"", b"0", b"3", b"5", b"1", b"01", b"4294967296", b"a:b:c", b"a::c", b":", b"a:b\x01", b"8000=3",
        b"8000=3;8000=3", b"8000=3;8001=4", b"99999=3", b"[]:80=3", b"[::1]:80=3;/p=a=4", b"=3", b"80=", b"80=3;",
        b"host:80=3;u:1=2", b"a:b:c:d:e:f:g",
    ];
    for c in cases {
        agree(c);
    }
    assert!(!pidfdid_allows(Some(b"5"), Some(6)));
    assert_eq!(systemd_count(Some(b"1"), Some(b"2"), Some(b"a:b"), 1, 64), Some(2));
}
