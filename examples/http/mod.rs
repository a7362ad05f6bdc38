//! What the example servers share: command line, request parsing, the
//! response. (A module of the examples, not an example itself.)
// Each example server uses its part: the hyper one only the command line.
#![allow(dead_code)]

use std::time::Duration;

/// Largest request head + body accepted.
pub const MAX_REQUEST: usize = 64 * 1024;
/// How often an idle connection looks at the drain flag (the blocking
/// server; the async ones are woken by `gracefd::tokio`).
pub const TICK: Duration = Duration::from_millis(50);
/// While draining: idle this long, nothing waiting → close.
pub const IDLE_CLOSE: Duration = Duration::from_millis(200);

/// The command line.
pub struct Args {
    /// `(name, address)` pairs; name `""` is unnamed.
    pub listen: Vec<(String, String)>,
    pub drain_timeout: Duration,
    pub verbose: bool,
    /// `--pass-connections` (only where [`args_with_pass`] parsed it).
    pub pass_connections: bool,
}

/// `[--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose]`; exits 2 on misuse.
pub fn args(prog: &str) -> Args {
    parse_args(prog, false)
}

/// [`args`], and `--pass-connections` (for a server that passes its
/// connections to the new generation instead of draining them).
pub fn args_with_pass(prog: &str) -> Args {
    parse_args(prog, true)
}

fn parse_args(prog: &str, with_pass: bool) -> Args {
    let usage = || -> ! {
        let pass = if with_pass { " [--pass-connections]" } else { "" };
        eprintln!("usage: {prog} [--listen [NAME=]ADDR]... [--drain-timeout MS] [--verbose]{pass}");
        std::process::exit(2)
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut a = Args { listen: Vec::new(), drain_timeout: Duration::from_millis(10_000), verbose: false, pass_connections: false };
    let mut i = 0;
    while i < argv.len() {
        match (argv[i].as_str(), argv.get(i + 1)) {
            ("--verbose", _) => {
                a.verbose = true;
                i += 1;
                continue;
            }
            ("--pass-connections", _) if with_pass => {
                a.pass_connections = true;
                i += 1;
                continue;
            }
            ("--listen", Some(v)) => a.listen.push(split_spec(v)),
            ("--drain-timeout", Some(v)) => a.drain_timeout = Duration::from_millis(v.parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
        i += 2;
    }
    if a.listen.is_empty() {
        a.listen.push(split_spec("http=127.0.0.1:8080"));
    }
    if a.verbose {
        // The library's log: upgrades started, ready (with latency), failed.
        gracefd::set_log_hook(gracefd::Level::DEBUG, |level, msg| eprintln!("<{}>{msg}", level.as_i32()));
    }
    a
}

/// `web=127.0.0.1:80` → ("web", "127.0.0.1:80"); `127.0.0.1:80` → ("", …).
fn split_spec(spec: &str) -> (String, String) {
    match spec.split_once('=') {
        Some((name, addr)) if !name.contains(':') && !name.contains('/') => (name.to_string(), addr.to_string()),
        _ => (String::new(), spec.to_string()),
    }
}

/// One complete request at the start of a buffer.
pub struct Request {
    /// Bytes it takes (head and body).
    pub len: usize,
    /// The client asked to close (`Connection: close`, or HTTP/1.0).
    pub close: bool,
}

/// The first complete request in `buf`: `Ok(None)` if incomplete, `Err` if malformed.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, ()> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_REQUEST { Err(()) } else { Ok(None) };
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ())?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    if !(first.starts_with("GET ") || first.starts_with("POST ") || first.starts_with("HEAD ")) {
        return Err(());
    }
    let mut close = first.ends_with(" HTTP/1.0");
    let mut content = 0usize;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            content = v.parse().map_err(|_| ())?;
        } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let len = end + 4 + content;
    if len > MAX_REQUEST {
        return Err(());
    }
    Ok((buf.len() >= len).then_some(Request { len, close }))
}

/// `ok pid=<pid> generation=<n>\n`.
pub fn body() -> String {
    format!("ok pid={} generation={}\n", std::process::id(), gracefd::generation())
}

/// What to send for the complete requests at the front of `buf` (they are
/// removed from it), and whether to close the connection after sending it: a
/// request that asks to close, or `draining` (the polite drain answers with
/// `Connection: close`), ends the batch. `Err` for a malformed request: close
/// at once. Both example servers, blocking and async, serve with this.
pub fn answer(buf: &mut Vec<u8>, body: &str, draining: bool) -> Result<(Vec<u8>, bool), ()> {
    let mut out = Vec::new();
    while let Some(req) = parse(buf)? {
        buf.drain(..req.len);
        let close = req.close || draining;
        out.extend_from_slice(&response(body, close));
        if close {
            return Ok((out, true));
        }
    }
    Ok((out, false))
}

/// The whole response: 200, `X-Pid`, and `Connection: close` when closing.
pub fn response(body: &str, close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pid: {}\r\nContent-Length: {}\r\n{}\r\n",
        std::process::id(),
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}
