//! The Rust face across processes: an upgrade to a re-executed copy of this
//! test binary (the child runs the `role` test, selected by an environment
//! variable), inheritance and blocking mode as the child sees them, the
//! failure paths of an upgrade, and sd_notify under a stand-in for systemd.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gracefd::{ErrorExt, FdKind, FdSource, Listen, Upgrade};

const ROLE: &str = "API_TEST_ROLE";

/// One upgrade at a time per process (the core refuses a second one).
static UPGRADES: Mutex<()> = Mutex::new(());

fn nonblocking(fd: RawFd) -> bool {
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(fl >= 0);
    fl & libc::O_NONBLOCK != 0
}

/// This binary again, running only the `role` test, as `role`.
fn as_role(role: &str) -> Upgrade {
    Upgrade::new().args(["role", "--exact", "--nocapture", "--test-threads=1"]).env(ROLE, role).timeout(Duration::from_secs(20))
}

fn reap(pid: u32) -> i32 {
    let mut st = 0;
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut st, 0) };
    assert_eq!(r, pid as libc::pid_t, "waitpid: {}", io::Error::last_os_error());
    assert!(libc::WIFEXITED(st), "status {st:#x}");
    libc::WEXITSTATUS(st)
}

/// Not a test when run normally: the body of the re-executed child.
#[test]
fn role() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let check = |ok: bool, what: &str| {
        if !ok {
            let _ = gracefd::fail(1, what);
            eprintln!("role {role}: {what}");
            std::process::exit(1);
        }
    };
    match role.as_str() {
        "ready" => {
            check(gracefd::generation() == 2, "generation is not 2");
            check(gracefd::is_upgrade(), "is_upgrade() is false");
            let fds: Vec<_> = gracefd::inherited_fds().filter(|f| f.name() == "t-web").collect();
            check(fds.len() == 1, "t-web is not among the inherited fds");
            check(fds[0].kind() == FdKind::TcpListener && fds[0].source() == FdSource::ListenFds, "t-web kind/source");
            check(!fds[0].is_claimed(), "t-web claimed already");
            // The name decides, whatever address is asked for.
            let web = gracefd::listen_tcp("t-web", "127.0.0.1:1");
            check(web.is_ok(), "listen_tcp(t-web) failed");
            let web = web.unwrap();
            let port: u16 = std::env::var("T_PORT").unwrap().parse().unwrap();
            check(web.local_addr().unwrap().port() == port, "t-web is not the parent's socket");
            // Blocking mode as the parent left it.
            check(!nonblocking(web.as_raw_fd()), "t-web became non-blocking");
            let nb = gracefd::inherited("t-nb");
            check(nb.as_ref().is_ok_and(|f| nonblocking(f.as_raw_fd())), "t-nb is not non-blocking");
            check(gracefd::inherited("t-web").is_ok(), "inherited(t-web) after listen");
            check(gracefd::ready().is_ok_and(|told| told), "ready() did not reach the parent");
            std::process::exit(0);
        }
        "fail" => {
            let _ = gracefd::fail(7, "no configuration file");
            std::process::exit(7);
        }
        "exit" => std::process::exit(3),
        "silent" => std::thread::sleep(Duration::from_secs(30)),
        "notify" => {
            use gracefd::api::notify;
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let sent = [
                notify::status("serving").unwrap(),
                notify::reloading().unwrap(),
                notify::ready().unwrap(),
                notify::stopping().unwrap(),
                notify::watchdog().unwrap(),
                notify::notify_with_fds("FDSTORE=1\nFDNAME=pair", &[std::os::fd::AsFd::as_fd(&a), std::os::fd::AsFd::as_fd(&b)]).unwrap()
                    == 1,
            ];
            check(sent.iter().all(|s| *s), "a notification was not sent");
            check(notify::status("a\nb").is_err(), "a two-line status was accepted");
            std::process::exit(0);
        }
        "conns" => {
            use std::io::Write;
            let events = gracefd::Events::without_signals().unwrap();
            check(gracefd::take_connections().is_ok_and(|up| up), "take_connections() did not see an upgrade");
            check(gracefd::ready().is_ok_and(|told| told), "ready() did not reach the parent");
            let ev = events.wait(Some(Duration::from_secs(10))).unwrap();
            check(ev == Some(gracefd::Event::Conns), "no Conns event");
            let p = gracefd::next_connection();
            check(p.is_some(), "no connection after the Conns event");
            let p = p.unwrap();
            check(gracefd::next_connection().is_none() && gracefd::pending_connections() == 0, "more than one connection");
            let mut s = std::net::TcpStream::from(p.fd);
            let line = format!("pid={} tag={} state={}\n", std::process::id(), p.tag, String::from_utf8_lossy(&p.state));
            check(s.write_all(line.as_bytes()).is_ok(), "write on the passed connection");
            std::process::exit(0);
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

#[test]
fn upgrade_hands_sockets_down_as_they_are() {
    let _g = UPGRADES.lock().unwrap_or_else(|p| p.into_inner());
    let web = gracefd::listen_tcp("t-web", "127.0.0.1:0").unwrap();
    let _nb = Listen::new().nonblocking(true).tcp("t-nb", "127.0.0.1:0").unwrap();
    let port = web.local_addr().unwrap().port();
    let pid = as_role("ready").env("T_PORT", port.to_string()).run().unwrap_or_else(|e| panic!("upgrade: {e}"));
    assert_eq!(reap(pid), 0);
    // The old generation's socket is untouched and still serves.
    assert!(!nonblocking(web.as_raw_fd()));
    let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(web.accept().unwrap().1, c.local_addr().unwrap());
}

#[test]
fn upgrade_failures_are_reported_and_the_child_reaped() {
    let _g = UPGRADES.lock().unwrap_or_else(|p| p.into_inner());
    let e = as_role("fail").run().unwrap_err();
    assert_eq!(e.errno(), Some(libc::ECANCELED), "{e}");
    assert!(e.to_string().contains("failed with status 7: no configuration file"), "{e}");
    let e = as_role("exit").run().unwrap_err();
    assert_eq!(e.errno(), Some(libc::ECHILD), "{e}");
    assert!(e.to_string().contains("exited with status 3"), "{e}");
    let t = Instant::now();
    let e = as_role("silent").timeout(Duration::from_millis(300)).run().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
    let e = Upgrade::new().exe("/nonexistent/gracefd-test").run().unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOEXEC), "{e}");
}

#[test]
fn upgrade_polled_from_an_event_loop() {
    let _g = UPGRADES.lock().unwrap_or_else(|p| p.into_inner());
    let web = gracefd::listen_tcp("t-web", "127.0.0.1:0").unwrap();
    let _nb = Listen::new().nonblocking(true).tcp("t-nb", "127.0.0.1:0").unwrap();
    let port = web.local_addr().unwrap().port();
    let mut pending = as_role("ready").env("T_PORT", port.to_string()).start().unwrap();
    // A second upgrade while one is in flight: EALREADY.
    assert_eq!(Upgrade::new().start().unwrap_err().errno(), Some(libc::EALREADY));
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        assert!(Instant::now() < deadline, "no outcome");
        let mut p = libc::pollfd { fd: pending.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        unsafe { libc::poll(&mut p, 1, 100) };
        if let Some(pid) = pending.poll().unwrap() {
            break pid;
        }
    };
    assert_eq!(pending.poll().unwrap_err().errno(), Some(libc::EINVAL), "over after Some");
    assert_eq!(reap(pid), 0);
}

#[test]
fn notify_under_a_stand_in_for_systemd() {
    let dir = std::env::temp_dir().join(format!("gracefd-api-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["role", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "notify")
        .env("NOTIFY_SOCKET", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "child: {}", String::from_utf8_lossy(&out.stderr));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..6 {
        let n = rx.recv(&mut buf).unwrap();
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(got[0], "STATUS=serving");
    assert!(got[1].starts_with("RELOADING=1\nMONOTONIC_USEC="), "{:?}", got[1]);
    assert_eq!(got[2], "READY=1", "not a new generation: no MAINPID");
    assert_eq!(got[3], "STOPPING=1");
    assert_eq!(got[4], "WATCHDOG=1");
    assert_eq!(got[5], "FDSTORE=1\nFDNAME=pair");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_iterate_and_wait() {
    let events = gracefd::Events::install().unwrap();
    assert_eq!(events.wait(Some(Duration::from_millis(1))).unwrap(), None);
    unsafe { libc::raise(libc::SIGUSR2) };
    unsafe { libc::raise(libc::SIGINT) };
    let mut it = events.iter();
    assert_eq!(it.next().unwrap().unwrap(), gracefd::Event::Upgrade);
    assert_eq!(it.next().unwrap().unwrap(), gracefd::Event::Shutdown);
    assert_eq!(events.try_next().unwrap(), None);
    gracefd::Events::restore_signals().unwrap();
}

/// Fork mode refuses a multi-threaded process (this test binary runs its tests
/// on threads) with EBUSY and a message naming the thread count, before
/// starting anything.
#[test]
fn daemon_fork_mode_refused_when_threaded() {
    let _t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(500)));
    let e = gracefd::Daemon::new().mode(gracefd::DaemonMode::Fork).run().unwrap_err();
    assert_eq!(gracefd::ErrorExt::errno(&e), Some(libc::EBUSY), "{}", e);
    assert!(e.to_string().contains("threads"), "{}", e);
}

/// take_from with nobody serving fails clearly.
#[test]
fn take_from_nobody_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("gracefd-api-take-{}", std::process::id()));
    let e = gracefd::take_from(&dir, std::time::Duration::from_millis(200)).unwrap_err();
    assert!(matches!(gracefd::ErrorExt::errno(&e), Some(libc::ENOENT) | Some(libc::ECONNREFUSED)), "{}", e);
}

#[test]
fn pass_connections_hands_the_same_connection_over() {
    use std::io::{BufRead, Read, Write};
    use std::os::fd::AsFd;
    let _g = UPGRADES.lock().unwrap_or_else(|p| p.into_inner());
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut server, _) = l.accept().unwrap();
    client.write_all(b"he").unwrap();
    let mut got = [0u8; 2];
    server.read_exact(&mut got).unwrap();
    assert_eq!(gracefd::can_pass_connections().unwrap_err().errno(), Some(libc::ENOTCONN));
    let pid = as_role("conns").run().unwrap_or_else(|e| panic!("upgrade: {e}"));
    assert_eq!(gracefd::can_pass_connections().unwrap(), pid);
    let list = [gracefd::Connection { fd: server.as_fd(), tag: 5, state: &got }];
    gracefd::pass_connections(&list, Duration::from_secs(5)).unwrap_or_else(|e| panic!("pass: {e}"));
    drop(server);
    let mut line = String::new();
    std::io::BufReader::new(&client).read_line(&mut line).unwrap();
    assert_eq!(line, format!("pid={pid} tag=5 state=he\n"));
    assert_eq!(reap(pid), 0);
    gracefd::release_connections();
    // Nothing to pass to any more: the error says how many went (none).
    let (_c2, s2) = (std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap(), l.accept().unwrap().0);
    let e = gracefd::pass_connections(&[gracefd::Connection { fd: s2.as_fd(), tag: 0, state: b"" }], Duration::from_secs(1)).unwrap_err();
    assert_eq!((e.passed, e.error.errno()), (0, Some(libc::ENOTCONN)));
}
