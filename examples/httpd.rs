//! httpd: a small HTTP/1.1 server on std threads that upgrades itself with
//! zero downtime (the Rust twin of c-examples/httpd.c).
//!
//! Every request gets `200 OK`, the header `X-Pid: <pid>` and the body
//! `ok pid=<pid> generation=<n>\n`; connections are kept alive.
//!
//! ```text
//! cargo run --example httpd -- [--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose]
//! ```
//!
//! (default `--listen http=127.0.0.1:8080`, drain timeout 10000 ms).
//!
//! SIGHUP/SIGUSR2: upgrade to a new generation, without blocking: this one
//! keeps serving while the new one starts, and simply goes on if it fails.
//! SIGTERM/SIGINT, or a successful upgrade: drain politely and exit.
//!
//! The polite drain (what loses no request): stop accepting (the new
//! generation accepts from the same kernel queue); answer each further
//! request with `Connection: close` and close after the response; close a
//! connection early only when it has been idle a while with nothing
//! waiting; exit when none are left or the drain timeout passes.
//!
//! Shape: the main thread polls the event fd, the upgrade in flight and the
//! listeners (`poll(2)`, so it can stop accepting at any moment); each
//! connection gets a thread with blocking I/O and a short read timeout, so
//! it notices the drain.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gracefd::{Event, Events, PendingUpgrade, Upgrade};

mod http;
use http::{IDLE_CLOSE, TICK};

struct Shared {
    draining: AtomicBool,
    live: AtomicUsize,
    body: String,
}

fn main() {
    let args = http::args("httpd");
    if let Err(e) = run(&args.listen, args.drain_timeout) {
        let msg = format!("httpd: {e}");
        // Tell whoever waits (an upgrading old generation) why, then exit.
        let _ = gracefd::fail(1, &msg);
        eprintln!("{msg}");
        std::process::exit(1);
    }
}

fn run(specs: &[(String, String)], drain_timeout: Duration) -> io::Result<()> {
    let mut listeners: Vec<TcpListener> = Vec::new();
    for (name, addr) in specs {
        let l = gracefd::listen_tcp(name, addr)?;
        // We poll before accept and another generation may take the
        // connection first: our own, explicit choice of non-blocking mode.
        l.set_nonblocking(true)?;
        listeners.push(l);
    }
    let events = Events::install()?;
    let shared = Arc::new(Shared {
        draining: AtomicBool::new(false),
        live: AtomicUsize::new(0),
        body: http::body(),
    });
    gracefd::ready()?;

    let mut upgrade: Option<PendingUpgrade> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let mut fds = vec![
            libc::pollfd { fd: events.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: upgrade.as_ref().map_or(-1, |u| u.as_raw_fd()), events: libc::POLLIN, revents: 0 },
        ];
        fds.extend(listeners.iter().map(|l| libc::pollfd { fd: l.as_raw_fd(), events: libc::POLLIN, revents: 0 }));
        let timeout = if drain_deadline.is_some() || upgrade.is_some() { 50 } else { -1 };
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::last_os_error());
        }

        while let Some(ev) = events.try_next()? {
            match ev {
                Event::Upgrade if drain_deadline.is_none() && upgrade.is_none() => match Upgrade::new().start() {
                    Ok(p) => upgrade = Some(p),
                    Err(e) => eprintln!("httpd[{}]: upgrade not started: {e}", std::process::id()),
                },
                Event::Upgrade => {}
                _ => drain_deadline = drain_deadline.or(Some(Instant::now() + drain_timeout)),
            }
        }
        if let Some(p) = upgrade.as_mut() {
            match p.poll() {
                Ok(None) => {}
                Ok(Some(_pid)) => {
                    upgrade = None;
                    drain_deadline = drain_deadline.or(Some(Instant::now() + drain_timeout));
                }
                Err(e) => {
                    eprintln!("httpd[{}]: upgrade failed, still serving: {e}", std::process::id());
                    upgrade = None;
                }
            }
        }
        if drain_deadline.is_some() && !listeners.is_empty() {
            // Stop accepting: the new generation (or nobody, on shutdown)
            // takes what is queued. The registry's duplicate keeps the
            // socket open until we exit.
            listeners.clear();
            shared.draining.store(true, Ordering::SeqCst);
        }
        for (l, p) in listeners.iter().zip(fds.iter().skip(2)) {
            if p.revents & libc::POLLIN != 0 {
                accept_all(l, &shared);
            }
        }
        if let Some(d) = drain_deadline {
            if shared.live.load(Ordering::SeqCst) == 0 || Instant::now() >= d {
                return Ok(());
            }
        }
    }
}

fn accept_all(l: &TcpListener, shared: &Arc<Shared>) {
    loop {
        match l.accept() {
            Ok((s, _)) => {
                // Accepted sockets do not inherit O_NONBLOCK: blocking I/O
                // with a read timeout.
                let shared = Arc::clone(shared);
                shared.live.fetch_add(1, Ordering::SeqCst);
                let spawned = std::thread::Builder::new().spawn({
                    let shared = Arc::clone(&shared);
                    move || {
                        serve(s, &shared);
                        shared.live.fetch_sub(1, Ordering::SeqCst);
                    }
                });
                if spawned.is_err() {
                    shared.live.fetch_sub(1, Ordering::SeqCst);
                }
            }
            // WouldBlock: none left, or another generation took it.
            Err(_) => return,
        }
    }
}

fn serve(mut s: TcpStream, shared: &Shared) {
    if s.set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut last_active = Instant::now();
    loop {
        // Answer every complete request waiting in the buffer.
        let Ok((out, close)) = http::answer(&mut buf, &shared.body, shared.draining.load(Ordering::SeqCst)) else {
            return;
        };
        if (!out.is_empty() && s.write_all(&out).is_err()) || close {
            let _ = s.shutdown(std::net::Shutdown::Write);
            return;
        }
        match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                last_active = Instant::now();
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                // The read just waited TICK and found nothing: idle, nothing waiting.
                if shared.draining.load(Ordering::SeqCst) && buf.is_empty() && last_active.elapsed() >= IDLE_CLOSE {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
