//! tokio-httpd: the same server as `examples/httpd.rs`, on tokio and
//! `gracefd::tokio` (feature `tokio`): `200 OK`, `X-Pid: <pid>`, body
//! `ok pid=<pid> generation=<n>\n`, keep-alive; SIGHUP/SIGUSR2 upgrades
//! while serving, SIGTERM/SIGINT or a successful upgrade drains politely
//! and exits.
//!
//! ```text
//! cargo run --features tokio --example tokio-httpd -- [--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose] [--pass-connections]
//! ```
//!
//! What it shows: no `unsafe`, no `set_nonblocking`, no `AsyncFd` —
//! `gracefd::tokio` hands out tokio listeners, the lifecycle loop turns
//! signals into upgrades and tells when to drain, and `serve` stops
//! accepting and waits (bounded) for the connections, which answer with
//! `Connection: close` while draining and close only when idle.
//!
//! With `--pass-connections` (zero-drain upgrades, docs/zero-drain.md) an
//! upgrade closes no connection: each generation takes the connections
//! passed to it (`Event::Conns`), and once a new generation is ready the old
//! one hands it every open connection at its next point between requests
//! (no response in flight), with the bytes of a next request already read
//! as state. What cannot be passed (the new generation did not take them,
//! or it failed mid-pass) is drained politely as without the flag.
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gracefd::tokio::{serve, Connection, Drain, Events, Upgrading};
use gracefd::{Event, Upgrade};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex};

mod http;
use http::IDLE_CLOSE;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = http::args_with_pass("tokio-httpd");
    if let Err(e) = run(&args.listen, args.drain_timeout, args.pass_connections).await {
        let msg = format!("tokio-httpd: {e}");
        let _ = gracefd::fail(1, &msg);
        eprintln!("{msg}");
        std::process::exit(1);
    }
}

async fn run(specs: &[(String, String)], drain_timeout: Duration, pass_connections: bool) -> io::Result<()> {
    let mut listeners = Vec::new();
    for (name, addr) in specs {
        listeners.push(gracefd::tokio::listen_tcp(name, addr)?);
    }
    let events = Events::install()?;
    if pass_connections {
        // The older generation (if any) may pass us its connections.
        gracefd::take_connections()?;
    }
    gracefd::ready()?;

    let drain = Drain::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let srv = Server {
        drain: drain.clone(),
        body: Arc::new(http::body()),
        pass: pass_connections,
        passing: AtomicBool::new(false),
        handovers: tx,
        collected: Mutex::new(rx),
        limit: drain_timeout,
    };
    let srv = Arc::new(srv);
    let life = tokio::spawn(lifecycle(events, Arc::clone(&srv)));
    let handler = {
        let srv = Arc::clone(&srv);
        move |s, c| handle(s, c, Arc::clone(&srv), Vec::new())
    };
    let left = serve(listeners, &drain, drain_timeout, handler).await;
    if left > 0 {
        eprintln!("tokio-httpd[{}]: drain timeout: {left} connections cut", std::process::id());
    }
    match life.await {
        Ok(r) => r.map(|_| ()),
        Err(e) => Err(io::Error::other(e)),
    }
}

/// What the lifecycle and every connection share.
struct Server {
    drain: Drain,
    body: Arc<String>,
    /// `--pass-connections`.
    pass: bool,
    /// A pass to the new generation runs: connections hand themselves over
    /// instead of answering with `Connection: close`.
    passing: AtomicBool,
    handovers: mpsc::UnboundedSender<Handover>,
    collected: Mutex<mpsc::UnboundedReceiver<Handover>>,
    /// How long the pass (and then the drain) may take.
    limit: Duration,
}

/// A connection between requests, offered for the pass: a duplicate of its
/// socket, the bytes of its next request read so far, and where to say
/// whether it went (`true`: it lives on in the new generation).
struct Handover {
    fd: OwnedFd,
    state: Vec<u8>,
    verdict: oneshot::Sender<bool>,
}

enum Step {
    Upgraded(io::Result<u32>),
    Event(io::Result<Event>),
}

/// Signals → upgrades (one at a time) while serving; passed connections are
/// served as they arrive; returns once draining started (after passing the
/// connections, if the new generation takes them).
async fn lifecycle(events: Events, srv: Arc<Server>) -> io::Result<()> {
    let pid = std::process::id();
    let how = Upgrade::new();
    let mut in_flight: Option<Upgrading> = None;
    loop {
        let step = {
            let up = async {
                match in_flight.as_mut() {
                    Some(u) => u.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = up => Step::Upgraded(r),
                ev = events.recv() => Step::Event(ev),
            }
        };
        match step {
            Step::Upgraded(Ok(new)) => {
                if srv.pass && gracefd::can_pass_connections().is_ok() {
                    srv.passing.store(true, Ordering::SeqCst);
                    srv.drain.start();
                    pass_all(&srv, new).await;
                } else {
                    srv.drain.start();
                }
                return Ok(());
            }
            Step::Upgraded(Err(e)) => {
                in_flight = None;
                eprintln!("tokio-httpd[{pid}]: upgrade failed, still serving: {e}");
            }
            Step::Event(Ok(Event::Upgrade)) if in_flight.is_none() => match gracefd::tokio::upgrade(&how) {
                Ok(u) => in_flight = Some(u),
                Err(e) => eprintln!("tokio-httpd[{pid}]: upgrade failed, still serving: {e}"),
            },
            Step::Event(Ok(Event::Conns)) => take_passed(&srv),
            Step::Event(Ok(Event::Shutdown | Event::Drain)) => {
                srv.drain.start();
                return Ok(());
            }
            Step::Event(Ok(_)) => {}
            Step::Event(Err(e)) => {
                srv.drain.start();
                return Err(e);
            }
        }
    }
}

/// Serve the connections the older generation passed, from where it left
/// them: the state is the start of the next request.
fn take_passed(srv: &Arc<Server>) {
    while let Some(c) = gracefd::next_connection() {
        let std = std::net::TcpStream::from(c.fd);
        // O_NONBLOCK is the socket's own flag: the old generation (tokio
        // too) had it set already.
        let Ok(s) = std.set_nonblocking(true).and_then(|()| TcpStream::from_std(std)) else { continue };
        tokio::spawn(handle(s, srv.drain.connection(), Arc::clone(srv), c.state));
    }
}

/// Old side, the new generation (`new`) being ready: collect the
/// connections as each reaches a point between requests, pass them in
/// rounds, until none is open or the time is up. Whatever is not passed
/// falls back to the polite drain.
async fn pass_all(srv: &Server, new: u32) {
    let pid = std::process::id();
    let end = Instant::now() + srv.limit;
    let mut rx = srv.collected.lock().await;
    let (mut passed_total, mut kept) = (0usize, 0usize);
    while Instant::now() < end && srv.drain.live() > 0 {
        // Gather: until every open connection has offered itself, or a
        // short quiet gap after the first offer.
        let mut batch: Vec<Handover> = Vec::new();
        while batch.len() < srv.drain.live() && Instant::now() < end {
            let gap = Duration::from_millis(if batch.is_empty() { 50 } else { 5 });
            match tokio::time::timeout(gap, rx.recv()).await {
                Ok(Some(h)) => batch.push(h),
                Ok(None) => break,
                Err(_) if batch.is_empty() => {}
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        // The pass blocks (bounded): off the runtime's thread.
        let wait = end.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let (batch, res) = tokio::task::spawn_blocking(move || {
            let list: Vec<gracefd::Connection<'_>> =
                batch.iter().map(|h| gracefd::Connection { fd: h.fd.as_fd(), tag: 0, state: &h.state }).collect();
            let res = gracefd::pass_connections(&list, wait);
            drop(list);
            (batch, res)
        })
        .await
        .unwrap_or_else(|e| (Vec::new(), Err(gracefd::PassError { passed: 0, error: io::Error::other(e) })));
        let n = batch.len();
        let passed = match &res {
            Ok(()) => n,
            Err(e) => e.passed,
        };
        for (i, h) in batch.into_iter().enumerate() {
            let _ = h.verdict.send(i < passed);
        }
        passed_total += passed;
        if let Err(e) = res {
            kept += n - passed;
            eprintln!("tokio-httpd[{pid}]: passed {passed_total} connections to pid {new}, then: {e}; draining the rest");
            break;
        }
    }
    // Late offers are declined: those connections drain politely.
    srv.passing.store(false, Ordering::SeqCst);
    rx.close();
    while let Ok(h) = rx.try_recv() {
        kept += 1;
        let _ = h.verdict.send(false);
    }
    gracefd::release_connections();
    eprintln!("tokio-httpd[{pid}]: passed {passed_total} connections to pid {new}; {kept} kept");
}

impl Server {
    /// Offer this connection (between requests) to the pass; `true` if it
    /// went to the new generation.
    async fn hand_over(&self, s: &TcpStream, state: &[u8]) -> bool {
        if state.len() > gracefd::CONNECTION_STATE_MAX {
            return false;
        }
        let Ok(fd) = s.as_fd().try_clone_to_owned() else { return false };
        let (verdict, rx) = oneshot::channel();
        if self.handovers.send(Handover { fd, state: state.to_vec(), verdict }).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

async fn handle(stream: TcpStream, conn: Connection, srv: Arc<Server>, state: Vec<u8>) {
    let _ = stream.set_nodelay(true);
    // Reads count as activity: a connection is never closed under a request.
    let mut s = conn.track(stream);
    let mut buf: Vec<u8> = state;
    let mut chunk = [0u8; 8192];
    let mut partial = None;
    // Whether this connection may still be passed once draining starts.
    let mut may_pass = srv.pass;
    loop {
        // While a pass runs, no `Connection: close`: this one is handed over
        // at its next point between requests.
        let closing = conn.is_draining() && !srv.passing.load(Ordering::SeqCst);
        let Ok((out, close)) = http::answer(&mut buf, &srv.body, closing) else {
            return;
        };
        if (!out.is_empty() && s.write_all(&out).await.is_err()) || close {
            let _ = s.shutdown().await;
            return;
        }
        // Part of a request is buffered: it is in progress, not idle.
        if buf.is_empty() {
            partial = None;
        } else if partial.is_none() {
            partial = Some(conn.request());
        }
        tokio::select! {
            // `read` is cancel-safe: nothing read is lost.
            r = s.read(&mut chunk) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            // Between requests (everything answered, `buf` holds at most
            // the start of the next one): offer it to the pass.
            _ = conn.drain().started(), if may_pass => {
                if srv.passing.load(Ordering::SeqCst) && srv.hand_over(s.get_ref(), &buf).await {
                    return; // it lives on in the new generation; our copy closes
                }
                may_pass = false;
            }
            _ = conn.idle_while_draining(IDLE_CLOSE), if partial.is_none() && !may_pass => return,
        }
    }
}
