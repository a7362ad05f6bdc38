//! The control socket (`--control-socket PATH`) and its client (`gracefd ctl`).
//!
//! A unix stream socket, mode 0600; a peer is served only when
//! `SO_PEERCRED` says it runs as gracefd's effective uid or as root.
//! One request per connection, a line of ASCII:
//!
//! | request | reply (then the server closes) |
//! |---|---|
//! | `status\n` | `ok\n`, then `key: value` lines: `pid`, `state`, `uptime`, `generation`, `worker`, `starting`, `old` (one per draining worker), `reload-queued`, `reloads`, `respawns`, `last-failure`, `ready-rule`, `socket` (one per fd) |
//! | `reload\n` | when the reload that covers this request ends: `ok generation N pid P\n`, or `error: <why>\n` (the old worker still serves) |
//! | `stop\n`   | `ok stopping\n` at once; the connection then stays open until gracefd has stopped every worker and exits (EOF) |
//!
//! Anything else gets `error: <why>\n`. A connection that sends no complete
//! line within 10 s is closed.
//!
//! This line protocol is interim. The hand-off framing (`src/proto/handoff.rs`:
//! versioned `GFDH` frames over the same kind of 0600 + `SO_PEERCRED`
//! socket) should carry it: a request kind and a reply kind (errno + one-line
//! reason, as REFUSE has) added there, so that one socket both answers
//! `ctl` and hands the listeners to a successor instance; that needs new frame kinds in the library's wire format,
//! which is the hand-off module's to define.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gracefd::sys::fd::{self, Fd, RawFd};
use gracefd::sys::socket::{self, SockAddr};
use gracefd::sys::{fs, process, Errno};

/// Longest request line.
const REQUEST_MAX: usize = 64;
/// How long a client has to send its request.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// A request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Report the state.
    Status,
    /// Start a new worker; answer when it is ready or failed.
    Reload,
    /// Stop the workers and exit.
    Stop,
}

impl Request {
    /// Parse a request line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Request, String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line {
            b"status" => Ok(Request::Status),
            b"reload" => Ok(Request::Reload),
            b"stop" => Ok(Request::Stop),
            _ => Err(format!("unknown request {:?} (known: status, reload, stop)", String::from_utf8_lossy(line))),
        }
    }

    /// The wire form.
    pub fn line(self) -> &'static str {
        match self {
            Request::Status => "status\n",
            Request::Reload => "reload\n",
            Request::Stop => "stop\n",
        }
    }
}

/// The listening control socket; its file is removed on drop if still ours.
pub struct Server {
    fd: Fd,
    path: PathBuf,
    ino: (u64, u64),
}

fn nul(path: &Path) -> Vec<u8> {
    let mut v = path.as_os_str().as_bytes().to_vec();
    v.push(0);
    v
}

impl Server {
    /// Create the socket at `path` (mode 0600). A stale socket file (nobody
    /// listens) is replaced; a live one or a non-socket is an error.
    pub fn bind(path: &Path) -> Result<Server, String> {
        let shown = path.display();
        let bytes = path.as_os_str().as_bytes();
        let addr = SockAddr::unix(bytes, false).map_err(|e| format!("--control-socket {}: {}", shown, e))?;
        let z = nul(path);
        if let Ok(st) = fs::lstat(&z) {
            if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return Err(format!("--control-socket {}: exists and is not a socket", shown));
            }
            let probe = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| format!("--control-socket {}: socket: {}", shown, e))?;
            match socket::connect(probe.raw(), &addr) {
                Ok(()) => return Err(format!("--control-socket {}: another process listens there (is gracefd already running?)", shown)),
                Err(Errno(libc::ECONNREFUSED)) => {
                    let _ = fs::unlink(&z);
                }
                Err(e) => return Err(format!("--control-socket {}: connect: {}", shown, e)),
            }
        }
        let s = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| format!("--control-socket {}: socket: {}", shown, e))?;
        // The mode is set before bind, so the file is never more open than 0600.
        fs::fchmod(s.raw(), 0o600).map_err(|e| format!("--control-socket {}: fchmod: {}", shown, e))?;
        socket::bind(s.raw(), &addr).map_err(|e| format!("--control-socket {}: bind: {}", shown, e))?;
        fs::chmod(&z, 0o600).map_err(|e| format!("--control-socket {}: chmod: {}", shown, e))?;
        socket::listen(s.raw(), 16).map_err(|e| format!("--control-socket {}: listen: {}", shown, e))?;
        fd::set_nonblocking(s.raw(), true).map_err(|e| format!("--control-socket {}: O_NONBLOCK: {}", shown, e))?;
        let st = fs::lstat(&z).map_err(|e| format!("--control-socket {}: {}", shown, e))?;
        Ok(Server { fd: s, path: path.to_path_buf(), ino: (st.st_dev, st.st_ino) })
    }

    /// The fd to poll.
    pub fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept one pending connection. `Ok(None)`: none pending. A peer of
    /// another uid gets `error: permission denied` and is dropped (`Err`
    /// carries the message to log).
    pub fn accept(&self) -> Result<Option<Conn>, String> {
        let c = match socket::accept(self.fd.raw(), libc::SOCK_NONBLOCK) {
            Ok(c) => c,
            Err(Errno(libc::EAGAIN)) | Err(Errno(libc::ECONNABORTED)) | Err(Errno(libc::EINTR)) => return Ok(None),
            Err(e) => return Err(format!("control socket: accept: {}", e)),
        };
        let cred = socket::peer_cred(c.raw()).map_err(|e| format!("control socket: SO_PEERCRED: {}", e))?;
        let me = process::geteuid();
        if cred.uid != me && cred.uid != 0 {
            let conn = Conn::new(c);
            conn.reply("error: permission denied\n");
            return Err(format!("control socket: refused pid {} (uid {}; only uid {} or root may connect)", cred.pid, cred.uid, me));
        }
        Ok(Some(Conn::new(c)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let z = nul(&self.path);
        if let Ok(st) = fs::lstat(&z) {
            if (st.st_dev, st.st_ino) == self.ino {
                let _ = fs::unlink(&z);
            }
        }
    }
}

/// What reading a connection gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// No complete line yet.
    Pending,
    /// A request.
    Request(Request),
    /// A malformed request (reply with this and close).
    Bad(String),
    /// The client closed or failed.
    Closed,
}

/// One client connection.
pub struct Conn {
    fd: Fd,
    buf: Vec<u8>,
    /// When it was accepted (monotonic ns).
    pub opened_ns: u64,
}

impl Conn {
    fn new(fd: Fd) -> Conn {
        Conn { fd, buf: Vec::new(), opened_ns: gracefd::sys::time::monotonic_ns() }
    }

    /// The fd to poll.
    pub fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// Read what is there; a request once its line is complete.
    pub fn read_request(&mut self) -> Incoming {
        let mut chunk = [0u8; 128];
        loop {
            match socket::recv(self.fd.raw(), &mut chunk, libc::MSG_DONTWAIT) {
                Ok(0) => return Incoming::Closed,
                Ok(n) => {
                    self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                    if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                        return match Request::parse(self.buf.get(..nl).unwrap_or(&[])) {
                            Ok(r) => Incoming::Request(r),
                            Err(e) => Incoming::Bad(e),
                        };
                    }
                    if self.buf.len() > REQUEST_MAX {
                        return Incoming::Bad(format!("request longer than {} bytes", REQUEST_MAX));
                    }
                }
                Err(Errno(libc::EAGAIN)) => return Incoming::Pending,
                Err(_) => return Incoming::Closed,
            }
        }
    }

    /// Send `text` (best effort: a client that went away is not an error).
    pub fn reply(&self, text: &str) {
        let mut rest = text.as_bytes();
        let deadline = gracefd::sys::time::Deadline::after_ms(1000);
        while !rest.is_empty() {
            match socket::send(self.fd.raw(), rest, 0) {
                Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
                Err(Errno(libc::EAGAIN)) => {
                    if gracefd::sys::poll::wait(self.fd.raw(), libc::POLLOUT, deadline).unwrap_or(0) == 0 {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// Why a client request did not get an answer.
#[derive(Debug)]
pub struct ClientError {
    /// Nobody answers at the path (not running): exit status 3.
    pub unreachable: bool,
    /// What happened.
    pub msg: String,
}

/// Send `req` to the gracefd at `path`; return `(ok, text)`: whether the
/// first line said `ok`, and the reply without that word. `timeout_ms`
/// bounds the whole exchange (None: as long as it takes; the server bounds
/// a reload by its `--ready-timeout`).
pub fn request(path: &Path, req: Request, timeout_ms: Option<u64>) -> Result<(bool, String), ClientError> {
    let shown = path.display();
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| ClientError {
        unreachable: matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR)),
        msg: format!("cannot connect to control socket {}: {} (is gracefd running with --control-socket {}?)", shown, e, shown),
    })?;
    let t = timeout_ms.map(std::time::Duration::from_millis);
    let _ = s.set_read_timeout(t);
    let _ = s.set_write_timeout(Some(std::time::Duration::from_millis(5000)));
    s.write_all(req.line().as_bytes()).map_err(|e| ClientError { unreachable: true, msg: format!("control socket {}: send: {}", shown, e) })?;
    let mut out = Vec::new();
    let timed_out = |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);
    if req == Request::Stop {
        // "ok stopping", then EOF once gracefd has exited.
        let mut buf = [0u8; 512];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or(&[])),
                Err(e) if timed_out(&e) => {
                    return Err(ClientError { unreachable: false, msg: format!("control socket {}: gracefd did not stop in time", shown) })
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // A reset after the reply: gracefd is gone, which is what was asked.
                Err(_) if !out.is_empty() => break,
                Err(e) => return Err(ClientError { unreachable: false, msg: format!("control socket {}: {}", shown, e) }),
            }
        }
    } else if let Err(e) = s.read_to_end(&mut out) {
        let msg = if timed_out(&e) { "no reply in time".to_string() } else { e.to_string() };
        return Err(ClientError { unreachable: false, msg: format!("control socket {}: {}", shown, msg) });
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    if let Some(rest) = text.strip_prefix("ok") {
        return Ok((true, rest.trim_start_matches([' ', '\n']).to_string()));
    }
    if let Some(rest) = text.strip_prefix("error: ") {
        return Ok((false, rest.to_string()));
    }
    Err(ClientError { unreachable: false, msg: format!("control socket {}: unexpected reply {:?}", shown, text) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(Request::parse(b"status"), Ok(Request::Status));
        assert_eq!(Request::parse(b"reload\r"), Ok(Request::Reload));
        assert_eq!(Request::parse(b"stop"), Ok(Request::Stop));
        assert!(Request::parse(b"STOP").unwrap_err().contains("unknown request"));
        assert!(Request::parse(b"").is_err());
    }

    #[test]
    fn serves_a_request() {
        let dir = std::env::temp_dir().join(format!("gracefd-ctl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("ctl.sock");
        std::fs::write(&path, "x").unwrap();
        assert!(Server::bind(&path).err().unwrap().contains("not a socket"));
        std::fs::remove_file(&path).unwrap();
        let srv = Server::bind(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(Server::bind(&path).err().unwrap().contains("another process listens"));
        let p2 = path.clone();
        let client = std::thread::spawn(move || request(&p2, Request::Status, Some(5000)));
        // The first connection is the probe of the second bind (it closed).
        let (conn, req) = loop {
            let Some(mut c) = srv.accept().unwrap() else {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            };
            let r = loop {
                match c.read_request() {
                    Incoming::Pending => std::thread::sleep(std::time::Duration::from_millis(5)),
                    r => break r,
                }
            };
            if r != Incoming::Closed {
                break (c, r);
            }
        };
        assert_eq!(req, Incoming::Request(Request::Status));
        conn.reply("ok\npid: 1\n");
        drop(conn);
        let (ok, text) = client.join().unwrap().unwrap();
        assert!(ok);
        assert_eq!(text, "pid: 1\n");
        drop(srv);
        assert!(!path.exists(), "the socket file is removed");
        let e = request(&path, Request::Status, Some(1000)).unwrap_err();
        assert!(e.unreachable);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
