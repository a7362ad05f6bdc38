//! tokio-httpd: the same server as `examples/httpd.rs`, on tokio: `200 OK`,
//! `X-Pid: <pid>`, body `ok pid=<pid> generation=<n>\n`, keep-alive;
//! SIGHUP/SIGUSR2 upgrades without blocking, SIGTERM/SIGINT or a successful
//! upgrade drains politely and exits.
//!
//! ```text
//! cargo run --example tokio-httpd -- [--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose]
//! ```
//!
//! What it shows: gracefd's sockets are handed to tokio with
//! `set_nonblocking(true)` + `from_std` (gracefd never changes the mode by
//! itself); the event fd and the upgrade in flight are ordinary fds for
//! `tokio::io::unix::AsyncFd` (`AsyncFd::register`: both own their fd). Do not also use `tokio::signal` for the
//! signals `gracefd::Events::install` takes (HUP, USR2, TERM, INT).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gracefd::{Event, Events, PendingUpgrade, Upgrade};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

mod http;
use http::{IDLE_CLOSE, TICK};

struct Shared {
    draining: AtomicBool,
    live: AtomicUsize,
    body: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = http::args("tokio-httpd");
    if let Err(e) = run(&args.listen, args.drain_timeout).await {
        let msg = format!("tokio-httpd: {e}");
        let _ = gracefd::fail(1, &msg);
        eprintln!("{msg}");
        std::process::exit(1);
    }
}

async fn run(specs: &[(String, String)], drain_timeout: Duration) -> io::Result<()> {
    let shared = Arc::new(Shared { draining: AtomicBool::new(false), live: AtomicUsize::new(0), body: http::body() });
    let mut acceptors: Vec<JoinHandle<()>> = Vec::new();
    for (name, addr) in specs {
        let l = gracefd::listen_tcp(name, addr)?;
        // The one-line hand-off to tokio: our explicit choice of non-blocking mode.
        l.set_nonblocking(true)?;
        acceptors.push(tokio::spawn(accept_loop(TcpListener::from_std(l)?, Arc::clone(&shared))));
    }
    // SAFETY: `Events` owns its fd and always returns that same fd.
    let events = unsafe { AsyncFd::register(Events::install()?) }?;
    gracefd::ready()?;

    let mut upgrade: Option<AsyncFd<PendingUpgrade>> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let ticking = drain_deadline.is_some() || upgrade.is_some();
        tokio::select! {
            guard = events.readable() => {
                let mut guard = guard?;
                while let Some(ev) = guard.get_inner().try_next()? {
                    match ev {
                        Event::Upgrade if drain_deadline.is_none() && upgrade.is_none() => {
                            // SAFETY: `PendingUpgrade` owns its fd (a duplicate
                            // of the library's) and always returns that same fd.
                            let started = Upgrade::new().start().and_then(|p| unsafe { AsyncFd::register(p) }.map_err(io::Error::from));
                            match started {
                                Ok(p) => upgrade = Some(p),
                                Err(e) => eprintln!("tokio-httpd[{}]: upgrade not started: {e}", std::process::id()),
                            }
                        }
                        Event::Upgrade => {}
                        _ => drain_deadline = drain_deadline.or(Some(Instant::now() + drain_timeout)),
                    }
                }
                guard.clear_ready();
            }
            // The new generation reported (or died); its outcome is read below.
            r = readable(upgrade.as_ref()) => r?,
            // Timeouts are only noticed by polling: tick while something is pending.
            _ = tokio::time::sleep(TICK), if ticking => {}
        }
        if let Some(p) = upgrade.as_mut() {
            match p.get_mut().poll() {
                Ok(None) => {}
                Ok(Some(_pid)) => {
                    upgrade = None;
                    drain_deadline = drain_deadline.or(Some(Instant::now() + drain_timeout));
                }
                Err(e) => {
                    eprintln!("tokio-httpd[{}]: upgrade failed, still serving: {e}", std::process::id());
                    upgrade = None;
                }
            }
        }
        if drain_deadline.is_some() && !shared.draining.swap(true, Ordering::SeqCst) {
            // Stop accepting: the acceptors drop their listeners (the
            // registry's duplicate keeps the socket for the new generation).
            // Cancelling an accept loses nothing: a connection is either
            // returned by accept or still in the kernel's queue.
            for a in acceptors.drain(..) {
                a.abort();
                let _ = a.await;
            }
        }
        if let Some(d) = drain_deadline {
            if shared.live.load(Ordering::SeqCst) == 0 || Instant::now() >= d {
                return Ok(());
            }
        }
    }
}

/// Readable once, then the readiness is cleared (the outcome is read by
/// `poll`); pending forever without an upgrade in flight.
async fn readable(p: Option<&AsyncFd<PendingUpgrade>>) -> io::Result<()> {
    match p {
        Some(p) => {
            p.readable().await?.clear_ready();
            Ok(())
        }
        None => std::future::pending().await,
    }
}

async fn accept_loop(l: TcpListener, shared: Arc<Shared>) {
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                shared.live.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    serve(s, &shared).await;
                    shared.live.fetch_sub(1, Ordering::SeqCst);
                });
            }
            // EMFILE and the like: back off a little.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve(mut s: TcpStream, shared: &Shared) {
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut last_active = Instant::now();
    loop {
        let Ok((out, close)) = http::answer(&mut buf, &shared.body, shared.draining.load(Ordering::SeqCst)) else {
            return;
        };
        if (!out.is_empty() && s.write_all(&out).await.is_err()) || close {
            let _ = s.shutdown().await;
            return;
        }
        // `read` is cancel-safe: a timeout loses no bytes.
        match tokio::time::timeout(TICK, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                last_active = Instant::now();
            }
            Err(_) => {
                // Idle for TICK with nothing waiting.
                if shared.draining.load(Ordering::SeqCst) && buf.is_empty() && last_active.elapsed() >= IDLE_CLOSE {
                    return;
                }
            }
        }
    }
}
