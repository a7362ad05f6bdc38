//! A user's server on gracefd::tokio, and nothing else of the repository:
//! `--listen NAME=ADDR --drain-timeout MS [--verbose]`, answering every
//! request with `ok pid=<pid> generation=<n>` (keep-alive), upgraded on
//! SIGHUP, drained on SIGTERM or after an upgrade.

use std::time::Duration;

use gracefd::tokio::{lifecycle, serve, Connection, Drain, Events};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mut name, mut addr, mut drain_ms) = ("http".to_string(), "127.0.0.1:8080".to_string(), 5000u64);
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--listen" => match w[1].split_once('=') {
                Some((n, a)) => (name, addr) = (n.to_string(), a.to_string()),
                None => addr = w[1].clone(),
            },
            "--drain-timeout" => drain_ms = w[1].parse().unwrap_or(5000),
            _ => {}
        }
    }
    if argv.iter().any(|a| a == "--verbose") {
        gracefd::set_log_hook(gracefd::Level::DEBUG, |_, msg| eprintln!("{msg}"));
    }
    let web = gracefd::tokio::listen_tcp(&name, &addr)?;
    let events = Events::install()?;
    gracefd::ready()?;
    let drain = Drain::new();
    let life = tokio::spawn({
        let drain = drain.clone();
        async move { lifecycle(&events, &gracefd::Upgrade::new(), &drain, |e| eprintln!("upgrade failed: {e}")).await }
    });
    let body = format!("ok pid={} generation={}\n", std::process::id(), gracefd::generation());
    serve(vec![web], &drain, Duration::from_millis(drain_ms), move |s, c| answer(s, c, body.clone())).await;
    life.await.map_err(std::io::Error::other)?.map(|_| ())
}

/// HTTP/1.1 without bodies: enough for GETs.
async fn answer(stream: TcpStream, conn: Connection, body: String) {
    let mut s = conn.track(stream);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            buf.drain(..end + 4);
            let close = conn.is_draining() || head.contains("connection: close");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nX-Pid: {}\r\nContent-Length: {}\r\n{}\r\n{body}",
                std::process::id(),
                body.len(),
                if close { "Connection: close\r\n" } else { "" }
            );
            if s.write_all(resp.as_bytes()).await.is_err() || close {
                let _ = s.shutdown().await;
                return;
            }
        }
        let _busy = (!buf.is_empty()).then(|| conn.request());
        tokio::select! {
            r = s.read(&mut chunk) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            _ = conn.idle_while_draining(Duration::from_millis(200)), if buf.is_empty() => return,
        }
    }
}
