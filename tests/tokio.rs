//! The tokio face (feature `tokio`): listeners non-blocking by construction,
//! events and the upgrade as futures, the async hand-off, and the drain.
#![cfg(feature = "tokio")]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use gracefd::tokio::{serve, Drain, Events};
use gracefd::{ErrorExt, Upgrade};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One upgrade at a time per process (the core refuses a second one).
static UPGRADES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn nonblocking(fd: RawFd) -> bool {
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(fl >= 0);
    fl & libc::O_NONBLOCK != 0
}

#[tokio::test]
async fn listeners_are_nonblocking_and_registered() {
    let l = gracefd::tokio::listen_tcp("tokio-t-web", "127.0.0.1:0").unwrap();
    assert!(nonblocking(l.as_raw_fd()));
    // Same name again: the same socket (the registry's), with the flag set —
    // it belongs to the socket, not to one fd.
    let again = gracefd::listen_tcp("tokio-t-web", "127.0.0.1:0").unwrap();
    assert_eq!(again.local_addr().unwrap(), l.local_addr().unwrap());
    assert!(nonblocking(again.as_raw_fd()));
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (_s, peer) = l.accept().await.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());

    let u = gracefd::tokio::listen_udp("tokio-t-udp", "udp://127.0.0.1:0").unwrap();
    assert!(nonblocking(u.as_raw_fd()));
    let e = gracefd::tokio::listen_tcp("tokio-t-bad", "127.0.0.1:99999").unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    let e = gracefd::tokio::listen_tcp("tokio-t-nort", "127.0.0.1:0").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    assert!(e.to_string().contains("tokio runtime"), "{e}");
    assert!(Events::without_signals().is_err());

    // An upgrade started outside a runtime: its future still gives the
    // real outcome (waited for at once), not a made-up error.
    let _one = UPGRADES.lock().unwrap_or_else(|p| p.into_inner());
    let pending = Upgrade::new().exe("/bin/false").timeout(Duration::from_secs(10)).start().unwrap();
    let up = gracefd::tokio::Upgrading::new(pending);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let e = rt.block_on(up).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ECHILD), "{e}");
}

#[tokio::test]
async fn events_arrive_by_recv() {
    let events = Events::install().unwrap();
    assert_eq!(events.try_recv().unwrap(), None);
    unsafe { libc::raise(libc::SIGUSR2) };
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap().unwrap();
    assert_eq!(ev, gracefd::Event::Upgrade);
    unsafe { libc::raise(libc::SIGTERM) };
    assert_eq!(events.recv().await.unwrap(), gracefd::Event::Shutdown);
    gracefd::Events::restore_signals().unwrap();
}

#[tokio::test]
// Each test has its own runtime and thread: the guard only keeps the other test's upgrades out.
#[allow(clippy::await_holding_lock)]
async fn a_failed_upgrade_is_the_future_error() {
    let _one = UPGRADES.lock().unwrap_or_else(|p| p.into_inner());
    // Refused before anything starts.
    let e = gracefd::tokio::upgrade(&Upgrade::new().exe("relative")).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
    // A new generation that exits at once: the future says so, bounded.
    let up = gracefd::tokio::upgrade(&Upgrade::new().exe("/bin/false").timeout(Duration::from_secs(10))).unwrap();
    let e = tokio::time::timeout(Duration::from_secs(15), up).await.unwrap().unwrap_err();
    assert_eq!(e.errno(), Some(libc::ECHILD), "{e}");
    // And the next upgrade can start (the outcome was collected).
    let up = gracefd::tokio::upgrade(&Upgrade::new().exe("/bin/false").timeout(Duration::from_secs(10))).unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(15), up).await.unwrap().is_err());
    // Dropped unfinished: a task collects the outcome, so another upgrade
    // can start (instead of EALREADY for ever).
    drop(gracefd::tokio::upgrade(&Upgrade::new().exe("/bin/false").timeout(Duration::from_secs(10))).unwrap());
    let give_up = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match gracefd::tokio::upgrade(&Upgrade::new().exe("/bin/false").timeout(Duration::from_secs(10))) {
            Ok(up) => {
                assert!(tokio::time::timeout(Duration::from_secs(15), up).await.unwrap().is_err());
                break;
            }
            Err(e) if e.errno() == Some(libc::EALREADY) && std::time::Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("the dropped upgrade was not collected: {e}"),
        }
    }
}

#[tokio::test]
async fn take_from_nobody_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("gracefd-tokio-t-{}.sock", std::process::id()));
    let e = gracefd::tokio::take_from(&path, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(e.errno(), Some(libc::ENOENT) | Some(libc::ECONNREFUSED)), "{e}");
}

#[tokio::test]
async fn drain_counts_connections_and_is_bounded() {
    let d = Drain::new();
    assert!(!d.is_draining());
    let c = d.connection();
    assert_eq!(d.live(), 1);
    d.start();
    d.started().await;
    assert!(c.is_draining());
    // Still open: the bounded wait gives up and says how many are left.
    assert_eq!(d.finished(Duration::from_millis(50)).await, 1);
    drop(c);
    assert_eq!(d.finished(Duration::from_secs(5)).await, 0);
}

#[tokio::test]
async fn idle_means_no_request_and_nothing_read() {
    let d = Drain::new();
    let c = d.connection();
    let idle = Duration::from_millis(30);
    // Not draining: never idle-closed.
    assert!(tokio::time::timeout(Duration::from_millis(100), c.idle_while_draining(idle)).await.is_err());
    d.start();
    {
        let _busy = c.request();
        assert!(tokio::time::timeout(Duration::from_millis(100), c.idle_while_draining(idle)).await.is_err(), "a request is in progress");
    }
    tokio::time::timeout(Duration::from_secs(5), c.idle_while_draining(idle)).await.expect("idle once the request is over");
}

/// `serve` answers until the drain, then stops accepting without losing a
/// queued connection: the socket stays open (the registry's duplicate) and
/// whoever listens by that name next accepts it.
#[tokio::test]
async fn serve_stops_accepting_and_loses_nothing_queued() {
    let l = gracefd::tokio::listen_tcp("tokio-t-serve", "127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let drain = Drain::new();
    let server = tokio::spawn({
        let drain = drain.clone();
        async move {
            serve(vec![l], &drain, Duration::from_secs(5), |mut s, c| async move {
                let mut b = [0u8; 1];
                while let Ok(1) = s.read(&mut b).await {
                    let reply: &[u8] = if c.is_draining() { b"c" } else { b"k" };
                    if s.write_all(reply).await.is_err() || c.is_draining() {
                        return;
                    }
                }
            })
            .await
        }
    });
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(b"x").await.unwrap();
    let mut r = [0u8; 1];
    a.read_exact(&mut r).await.unwrap();
    assert_eq!(&r, b"k");

    drain.start();
    // The open connection is answered "closing" and closed by the server.
    a.write_all(b"x").await.unwrap();
    a.read_exact(&mut r).await.unwrap();
    assert_eq!(&r, b"c");
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap(), 0);

    // Stopped accepting, socket still open: a new connection is queued…
    let mut q = TcpStream::connect(addr).await.unwrap();
    q.write_all(b"q").await.unwrap();
    // …and the next listener by that name (a new generation) takes it.
    let next = gracefd::tokio::listen_tcp("tokio-t-serve", "127.0.0.1:0").unwrap();
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(5), next.accept()).await.unwrap().unwrap();
    s.read_exact(&mut r).await.unwrap();
    assert_eq!(&r, b"q");
}
