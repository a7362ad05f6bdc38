//! tokio-httpd: the same server as `examples/httpd.rs`, on tokio and
//! `gracefd::tokio` (feature `tokio`): `200 OK`, `X-Pid: <pid>`, body
//! `ok pid=<pid> generation=<n>\n`, keep-alive; SIGHUP/SIGUSR2 upgrades
//! while serving, SIGTERM/SIGINT or a successful upgrade drains politely
//! and exits.
//!
//! ```text
//! cargo run --features tokio --example tokio-httpd -- [--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose]
//! ```
//!
//! What it shows: no `unsafe`, no `set_nonblocking`, no `AsyncFd` —
//! `gracefd::tokio` hands out tokio listeners, `lifecycle` turns signals
//! into upgrades and tells when to drain, and `serve` stops accepting and
//! waits (bounded) for the connections, which answer with
//! `Connection: close` while draining and close only when idle.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use gracefd::tokio::{lifecycle, serve, Connection, Drain, Events};
use gracefd::Upgrade;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod http;
use http::IDLE_CLOSE;

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
    let mut listeners = Vec::new();
    for (name, addr) in specs {
        listeners.push(gracefd::tokio::listen_tcp(name, addr)?);
    }
    let events = Events::install()?;
    gracefd::ready()?;

    let drain = Drain::new();
    let life = tokio::spawn({
        let drain = drain.clone();
        async move {
            let pid = std::process::id();
            lifecycle(&events, &Upgrade::new(), &drain, |e| eprintln!("tokio-httpd[{pid}]: upgrade failed, still serving: {e}")).await
        }
    });
    let body = Arc::new(http::body());
    let left = serve(listeners, &drain, drain_timeout, move |s, c| handle(s, c, Arc::clone(&body))).await;
    if left > 0 {
        eprintln!("tokio-httpd[{}]: drain timeout: {left} connections cut", std::process::id());
    }
    match life.await {
        Ok(r) => r.map(|_| ()),
        Err(e) => Err(io::Error::other(e)),
    }
}

async fn handle(stream: TcpStream, conn: Connection, body: Arc<String>) {
    let _ = stream.set_nodelay(true);
    // Reads count as activity: a connection is never closed under a request.
    let mut s = conn.track(stream);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut partial = None;
    loop {
        let Ok((out, close)) = http::answer(&mut buf, &body, conn.is_draining()) else {
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
            _ = conn.idle_while_draining(IDLE_CLOSE), if partial.is_none() => return,
        }
    }
}
