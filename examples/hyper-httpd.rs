//! hyper-httpd: the example server on hyper 1 and `gracefd::tokio`
//! (feature `tokio`), answering like `examples/httpd.rs` (`200 OK`,
//! `X-Pid`, body `ok pid=<pid> generation=<n>\n`), with zero-downtime
//! upgrades on SIGHUP/SIGUSR2 and a polite drain.
//!
//! ```text
//! cargo run --features tokio --example hyper-httpd -- [--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose]
//! ```
//!
//! The drain, in hyper terms: `serve` stops accepting; the service adds
//! `Connection: close` to every response once draining (hyper then closes
//! the connection after writing it); a connection idle with nothing
//! pending gets hyper's `graceful_shutdown`; the whole drain is bounded by
//! `--drain-timeout`.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use gracefd::tokio::{lifecycle, serve, Connection, Drain, Events};
use gracefd::Upgrade;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

mod http;
use http::IDLE_CLOSE;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = http::args("hyper-httpd");
    if let Err(e) = run(&args.listen, args.drain_timeout).await {
        let msg = format!("hyper-httpd: {e}");
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
            lifecycle(&events, &Upgrade::new(), &drain, |e| eprintln!("hyper-httpd[{pid}]: upgrade failed, still serving: {e}")).await
        }
    });
    let body = Bytes::from(http::body());
    let left = serve(listeners, &drain, drain_timeout, move |s, c| handle(s, c, body.clone())).await;
    if left > 0 {
        eprintln!("hyper-httpd[{}]: drain timeout: {left} connections cut", std::process::id());
    }
    match life.await {
        Ok(r) => r.map(|_| ()),
        Err(e) => Err(io::Error::other(e)),
    }
}

async fn handle(stream: TcpStream, conn: Connection, body: Bytes) {
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(conn);
    let io = TokioIo::new(conn.track(stream));
    let svc = {
        let conn = Arc::clone(&conn);
        service_fn(move |_req: Request<Incoming>| {
            let _busy = conn.request();
            let mut resp = Response::new(Full::new(body.clone()));
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            h.insert("x-pid", HeaderValue::from(std::process::id()));
            if conn.is_draining() {
                // hyper closes the connection after this response.
                h.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            async move { Ok::<_, Infallible>(resp) }
        })
    };
    let served = http1::Builder::new().serve_connection(io, svc);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => {}
        // Idle while draining, nothing pending: close it, the polite way.
        _ = conn.idle_while_draining(IDLE_CLOSE) => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
}
