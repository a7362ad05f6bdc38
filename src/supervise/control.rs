//! The control socket (`--control-socket PATH`) and its client (`gracefd ctl`).
//!
//! A unix stream socket, mode 0600; a peer is served only when
//! `SO_PEERCRED` says it runs as gracefd's effective uid or as root. It
//! speaks the hand-off's framing (`crate::proto::handoff`: a 12-byte head
//! — `"GFDH"`, version 1, kind, zero flags, body length — and a bounded
//! body), so one wire format, with one strict decoder, covers both. One
//! request per connection: a CONTROL frame naming the command; one answer:
//!
//! | CONTROL | answer (then the server closes) |
//! |---|---|
//! | `status` | REPLY 0, text: `key: value` lines: `pid`, `state`, `uptime`, `generation`, `worker`, `starting`, `old` (one per draining worker), `reload-queued`, `reloads`, `respawns`, `last-failure`, `ready-rule`, `socket` (one per fd) |
//! | `status-json` | REPLY 0, the same state as one JSON object (`ctl status --json`; keys in docs/cli.md) |
//! | `reload` | when the reload that covers this request ends: REPLY 0 `generation N pid P`, or REPLY `ETIMEDOUT` (not ready in time) / `ECANCELED` (exited, crashed, failed, not started) with why: the old worker still serves; REPLY `ESHUTDOWN` if gracefd is stopping |
//! | `stop`   | REPLY 0 `stopping` at once; the connection then stays open until gracefd has stopped every worker and exits (EOF) |
//!
//! A request that is not taken gets a REFUSE (errno and reason) and the
//! connection is closed: another uid (`EACCES`), bytes that are no frame or
//! a truncated one (`EBADMSG`: refused as soon as the bytes that arrived
//! show it, so a client of the old line protocol hears at once), another
//! protocol version (`EPROTONOSUPPORT`), a frame of another kind, such as a
//! hand-off TAKE (`EPROTO`), an unknown command (`EOPNOTSUPP`), no complete
//! frame within 10 s (`ETIMEDOUT`). None of this disturbs the supervisor:
//! connections are non-blocking, a refused peer is logged and dropped.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::proto::addr::Shown;
use crate::proto::control::{self as frames, RequestReader};
use crate::proto::handoff::{self as wire, HandoffMsg};
use crate::sys::fd::{self, Fd, RawFd};
use crate::sys::socket::{self, SockAddr};
use crate::sys::cpath::CPath;
use crate::sys::{fs, process, Errno};

pub use crate::proto::control::Command;

/// How long a client has to send its request.
pub(crate) const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// The requests `gracefd ctl` takes as its argument (`status-json` is
/// asked for with `--json`).
const CTL_REQUESTS: [Command; 3] = [Command::Status, Command::Reload, Command::Stop];

/// The command named by a `gracefd ctl` argument. The error names the
/// argument and the requests there are.
pub fn parse_command(arg: &[u8]) -> Result<Command, String> {
    CTL_REQUESTS
        .into_iter()
        .find(|c| c.name().as_bytes() == arg)
        .ok_or_else(|| format!("unknown request {} (known: {})", Shown(arg), Command::names(&CTL_REQUESTS)))
}

/// The listening control socket; its file is removed on drop if still ours.
pub(crate) struct Server {
    fd: Fd,
    path: PathBuf,
    ino: (u64, u64),
}

impl Server {
    /// Create the socket at `path` (mode 0600). A stale socket file (nobody
    /// listens) is replaced; a live one or a non-socket is an error.
    pub(crate) fn bind(path: &Path) -> Result<Server, String> {
        let shown = path.display();
        let bytes = path.as_os_str().as_bytes();
        let addr = SockAddr::unix(bytes, false).map_err(|e| format!("--control-socket {}: {}", shown, e))?;
        let z = CPath::new(bytes).map_err(|e| format!("--control-socket {}: {}", shown, e))?;
        let s = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| format!("--control-socket {}: socket: {}", shown, e))?;
        // Bound, made 0600 and listening in a private directory before its
        // name appears at the path: no chmod by a path someone could swap.
        let mut existing = || -> crate::error::Result<()> {
            let st = match fs::lstat(&z) {
                Ok(st) => st,
                Err(Errno(libc::ENOENT)) => return Ok(()),
                Err(e) => return Err(crate::error::Error::sys(e, "lstat")),
            };
            if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return Err(crate::error::Error::new(Errno(libc::EEXIST), format_args!("exists and is not a socket")));
            }
            let probe = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).map_err(|e| crate::error::Error::sys(e, "socket"))?;
            match socket::connect(probe.raw(), &addr) {
                Ok(()) => Err(crate::error::Error::new(Errno(libc::EADDRINUSE), format_args!("another process listens there (is gracefd already running?)"))),
                Err(Errno(libc::ECONNREFUSED)) | Err(Errno(libc::ENOENT)) => Ok(()),
                Err(e) => Err(crate::error::Error::sys(e, "connect")),
            }
        };
        let placed = crate::safe_path::bind_unix(&s, bytes, Some(0o600), 16, &mut existing).map_err(|e| format!("--control-socket {}: {}", shown, e))?;
        fd::set_nonblocking(s.raw(), true).map_err(|e| format!("--control-socket {}: O_NONBLOCK: {}", shown, e))?;
        Ok(Server { fd: s, path: path.to_path_buf(), ino: (placed.dev, placed.ino) })
    }

    /// The fd to poll.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// The path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Accept one pending connection. `Ok(None)`: none pending. A peer of
    /// another uid gets a REFUSE (`EACCES`) and is dropped (`Err` carries
    /// the message to log).
    pub(crate) fn accept(&self) -> Result<Option<Conn>, String> {
        let c = match socket::accept(self.fd.raw(), libc::SOCK_NONBLOCK) {
            Ok(c) => c,
            Err(Errno(libc::EAGAIN)) | Err(Errno(libc::ECONNABORTED)) | Err(Errno(libc::EINTR)) => return Ok(None),
            Err(e) => return Err(format!("control socket: accept: {}", e)),
        };
        let cred = socket::peer_cred(c.raw()).map_err(|e| format!("control socket: SO_PEERCRED: {}", e))?;
        let me = process::geteuid();
        let conn = Conn::new(c, cred.pid);
        if cred.uid != me && cred.uid != 0 {
            let why = format!("uid {} may not use the control socket of gracefd (uid {}): only the same uid or root", cred.uid, me);
            conn.refuse(libc::EACCES, &why);
            return Err(format!("control socket: refused pid {}: {}", cred.pid, why));
        }
        Ok(Some(conn))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only the socket we placed: another server's file stays.
        if let Ok(z) = CPath::new(self.path.as_os_str().as_bytes()) {
            let _ = fs::unlink_if_same(&z, self.ino.0, self.ino.1);
        }
    }
}

/// What reading a connection gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// No complete frame yet.
    Pending,
    /// A request.
    Request(Command),
    /// A request not taken: refuse it with this errno and reason, and close.
    Bad(i32, String),
    /// The client closed (before sending anything) or failed.
    Closed,
}

/// One client connection.
pub(crate) struct Conn {
    fd: Fd,
    /// The request so far (`proto::control` judges it).
    reader: RequestReader,
    /// The peer's pid (from `SO_PEERCRED`), for log lines.
    pub(crate) pid: i32,
    /// When it was accepted (monotonic ns).
    pub(crate) opened_ns: u64,
}

impl Conn {
    fn new(fd: Fd, pid: i32) -> Conn {
        Conn { fd, reader: RequestReader::new(), pid, opened_ns: crate::sys::time::monotonic_ns() }
    }

    /// The fd to poll.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd.raw()
    }

    /// Read what is there (never past the one frame); the request once its
    /// CONTROL frame is complete, `Bad` as soon as the bytes show it is not one.
    pub(crate) fn read_request(&mut self) -> Incoming {
        let mut chunk = [0u8; RequestReader::FRAME_MAX];
        loop {
            let room = self.reader.room().min(chunk.len());
            match socket::recv(self.fd.raw(), chunk.get_mut(..room).unwrap_or(&mut []), libc::MSG_DONTWAIT) {
                Ok(0) => {
                    return match self.reader.end() {
                        None => Incoming::Closed,
                        Some(e) => Incoming::Bad(e.errno.0, e.message().to_string()),
                    }
                }
                Ok(n) => match self.reader.push(chunk.get(..n).unwrap_or(&[])) {
                    Some(Ok(c)) => return Incoming::Request(c),
                    Some(Err(e)) => return Incoming::Bad(e.errno.0, e.message().to_string()),
                    None => {}
                },
                Err(Errno(libc::EAGAIN)) => return Incoming::Pending,
                Err(_) => return Incoming::Closed,
            }
        }
    }

    /// Answer a command: `errno` 0 and its output, or the errno and why it
    /// failed (one REPLY frame).
    pub(crate) fn reply(&self, errno: i32, text: &str) {
        self.send_all(&frames::encode_reply(errno, text));
    }

    /// Refuse the request (one REFUSE frame).
    pub(crate) fn refuse(&self, errno: i32, why: &str) {
        self.send_all(&wire::encode_refuse(errno, why));
    }

    /// Send `bytes` (best effort, at most 1 s: a client that went away or
    /// does not read is not an error).
    fn send_all(&self, bytes: &[u8]) {
        let mut rest = bytes;
        let deadline = crate::sys::time::Deadline::after_ms(1000);
        while !rest.is_empty() {
            match socket::send(self.fd.raw(), rest, libc::MSG_NOSIGNAL) {
                Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
                Err(Errno(libc::EAGAIN)) => {
                    if crate::sys::poll::wait(self.fd.raw(), libc::POLLOUT, deadline).unwrap_or(0) == 0 {
                        return;
                    }
                }
                Err(Errno(libc::EINTR)) => {}
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

/// Fill `buf` from `s` by `deadline`; how many bytes arrived before end of stream.
fn read_full(s: &mut std::os::unix::net::UnixStream, buf: &mut [u8], deadline: Option<Instant>) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let left = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()).filter(|l| !l.is_zero()) {
                Some(l) => Some(l),
                None => return Err(std::io::ErrorKind::TimedOut.into()),
            },
            None => None,
        };
        s.set_read_timeout(left)?;
        match s.read(buf.get_mut(got..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Send `cmd` to the gracefd at `path`; return `(ok, text)`: whether the
/// command was done (REPLY 0), and its output or why not (a REPLY's errno or
/// a REFUSE, as `refused: <why>`). `timeout_ms` bounds the whole exchange
/// (None: as long as it takes; the server bounds a reload by its
/// `--ready-timeout`).
pub fn request(path: &Path, cmd: Command, timeout_ms: Option<u64>) -> Result<(bool, String), ClientError> {
    let shown = path.display();
    let failed = |msg: String| ClientError { unreachable: false, msg: format!("control socket {}: {}", shown, msg) };
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| ClientError {
        unreachable: matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR)),
        msg: format!("cannot connect to control socket {}: {} (is gracefd running with --control-socket {}?)", shown, e, shown),
    })?;
    let deadline = timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let _ = s.set_write_timeout(Some(Duration::from_millis(5000)));
    // std's UnixStream sends with MSG_NOSIGNAL.
    std::io::Write::write_all(&mut s, &frames::encode_control(cmd))
        .map_err(|e| ClientError { unreachable: true, msg: format!("control socket {}: send: {}", shown, e) })?;
    let io = |e: std::io::Error| failed(if timed_out(&e) { "no reply in time".to_string() } else { e.to_string() });

    let mut head = [0u8; wire::HEAD_LEN];
    match read_full(&mut s, &mut head, deadline).map_err(io)? {
        0 => return Err(failed("gracefd closed the connection without answering".into())),
        n if n < wire::HEAD_LEN => return Err(failed(format!("truncated reply: the stream ended after {} of {} head bytes", n, wire::HEAD_LEN))),
        _ => {}
    }
    let h = wire::decode_head(&head).map_err(|e| failed(format!("bad reply: {}", e.message())))?;
    // decode_head bounded the length (at most 4 + REPLY_TEXT_MAX for a REPLY).
    let mut body = vec![0u8; h.len];
    let n = read_full(&mut s, &mut body, deadline).map_err(io)?;
    if n < h.len {
        return Err(failed(format!("truncated {} frame: the stream ended after {} of {} bytes", h.kind.name(), n, h.len)));
    }
    let (ok, text) = match h.kind {
        HandoffMsg::Reply => {
            let (e, text) = frames::decode_reply(&body).map_err(|e| failed(format!("bad reply: {}", e.message())))?;
            (e == 0, text.to_string())
        }
        HandoffMsg::Refuse => {
            let (_, why) = wire::decode_refuse(&body).map_err(|e| failed(format!("bad refusal: {}", e.message())))?;
            (false, format!("refused: {}", why.as_str()))
        }
        k => return Err(failed(format!("unexpected {} frame (expected a reply)", k.name()))),
    };
    if ok && cmd == Command::Stop {
        // "stopping", then EOF once gracefd has exited.
        let mut extra = [0u8; 64];
        match read_full(&mut s, &mut extra, deadline) {
            Ok(0) => {}
            Ok(_) => return Err(failed("unexpected bytes after the reply".into())),
            Err(e) if timed_out(&e) => return Err(failed("gracefd did not stop in time".into())),
            // A reset after the reply: gracefd is gone, which is what was asked.
            Err(_) => {}
        }
    }
    Ok((ok, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gracefd-ctl-test-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse_command(b"status"), Ok(Command::Status));
        assert_eq!(parse_command(b"reload"), Ok(Command::Reload));
        assert_eq!(parse_command(b"stop"), Ok(Command::Stop));
        assert!(parse_command(b"STOP").unwrap_err().contains("unknown request \"STOP\" (known: status, reload, stop)"));
        // The JSON status is asked for with --json, not by its wire name.
        assert!(parse_command(b"status-json").is_err());
        assert!(parse_command(b"reload\r").is_err());
        assert!(parse_command(b"").is_err());
    }

    /// A server-side connection fed `bytes` by a peer (then closed when `eof`).
    fn feed(bytes: &[u8], eof: bool) -> (Incoming, Fd) {
        let (a, b) = socket::socketpair(libc::SOCK_STREAM).unwrap();
        let mut c = Conn::new(a, 0);
        assert_eq!(c.read_request(), Incoming::Pending);
        assert_eq!(socket::send(b.raw(), bytes, 0).unwrap(), bytes.len());
        if eof {
            // SAFETY: plain syscall on our fd.
            unsafe { libc::shutdown(b.raw(), libc::SHUT_WR) };
        }
        (c.read_request(), b)
    }

    fn bad(bytes: &[u8], eof: bool) -> (i32, String) {
        match feed(bytes, eof).0 {
            Incoming::Bad(e, why) => (e, why),
            other => panic!("{:?} gave {:?}", bytes, other),
        }
    }

    #[test]
    fn reads_one_control_frame() {
        for c in Command::ALL {
            assert_eq!(feed(&frames::encode_control(c), false).0, Incoming::Request(c));
        }
        // A frame in pieces, one byte at a time.
        let (a, b) = socket::socketpair(libc::SOCK_STREAM).unwrap();
        let mut conn = Conn::new(a, 0);
        let f = frames::encode_control(Command::Reload);
        for (i, byte) in f.iter().enumerate() {
            assert_eq!(conn.read_request(), Incoming::Pending, "after {} bytes", i);
            socket::send(b.raw(), &[*byte], 0).unwrap();
        }
        assert_eq!(conn.read_request(), Incoming::Request(Command::Reload));
        // Nothing sent, then closed: no refusal owed.
        assert_eq!(feed(b"", true).0, Incoming::Closed);
    }

    #[test]
    fn refuses_hostile_requests() {
        // The old line protocol and other garbage: at once, no waiting for 12 bytes.
        let (e, why) = bad(b"status\n", false);
        assert_eq!(e, libc::EBADMSG);
        assert!(why.contains("not a gracefd frame") && why.contains("status"), "{}", why);
        assert_eq!(bad(b"X", false).0, libc::EBADMSG);
        assert_eq!(bad(b"GFDX", false).0, libc::EBADMSG);
        // Truncated: a head, or a body, cut by EOF.
        let f = frames::encode_control(Command::Status);
        let (e, why) = bad(&f[..5], true);
        assert!(e == libc::EBADMSG && why.contains("truncated") && why.contains("5 of 12"), "{}", why);
        let (e, why) = bad(&f[..f.len() - 1], true);
        assert!(e == libc::EBADMSG && why.contains("17 of 18"), "{}", why);
        // Another version, another kind, bad lengths, flags.
        let mut v2 = f.clone();
        v2[4] = 2;
        assert_eq!(bad(&v2, false).0, libc::EPROTONOSUPPORT);
        let (e, why) = bad(&wire::encode_take(), false);
        assert!(e == libc::EPROTO && why.contains("take frame"), "{}", why);
        assert_eq!(bad(&frames::encode_reply(0, "x"), false).0, libc::EPROTO);
        assert_eq!(bad(&wire::encode_head(HandoffMsg::Control, 0), false).0, libc::EBADMSG);
        assert_eq!(bad(&wire::encode_head(HandoffMsg::Control, frames::COMMAND_MAX + 1), false).0, libc::EBADMSG);
        let mut huge = wire::encode_head(HandoffMsg::Control, 0);
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(bad(&huge, false).0, libc::EBADMSG);
        let mut flags = f.clone();
        flags[6] = 1;
        assert_eq!(bad(&flags, false).0, libc::EBADMSG);
        // Unknown and malformed commands.
        let mut unknown = wire::encode_head(HandoffMsg::Control, 7).to_vec();
        unknown.extend_from_slice(b"restart");
        let (e, why) = bad(&unknown, false);
        assert!(e == libc::EOPNOTSUPP && why.contains("restart"), "{}", why);
        let mut utf = wire::encode_head(HandoffMsg::Control, 4).to_vec();
        utf.extend_from_slice(b"st\xc3\xa9");
        assert_eq!(bad(&utf, false).0, libc::EBADMSG);
        // Bytes after the frame are not read (the verdict is the frame's).
        let mut two = f.clone();
        two.extend_from_slice(b"garbage");
        assert_eq!(feed(&two, false).0, Incoming::Request(Command::Status));
    }

    #[test]
    fn replies_and_refusals_are_frames() {
        let (a, b) = socket::socketpair(libc::SOCK_STREAM).unwrap();
        let c = Conn::new(a, 0);
        c.reply(0, "pid: 1\n");
        c.reply(libc::ETIMEDOUT, "not ready\n");
        c.refuse(libc::EACCES, "no");
        drop(c);
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match socket::recv(b.raw(), &mut buf, 0).unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        let mut at = 0;
        let mut frames = Vec::new();
        while at < got.len() {
            let h = wire::decode_head(&got[at..at + wire::HEAD_LEN]).unwrap();
            frames.push((h.kind, got[at + wire::HEAD_LEN..at + wire::HEAD_LEN + h.len].to_vec()));
            at += wire::HEAD_LEN + h.len;
        }
        assert_eq!(frames.len(), 3);
        assert_eq!(frames::decode_reply(&frames[0].1).unwrap(), (0, "pid: 1\n"));
        assert_eq!(frames::decode_reply(&frames[1].1).unwrap(), (libc::ETIMEDOUT, "not ready"));
        assert_eq!(frames[2].0, HandoffMsg::Refuse);
        assert_eq!(wire::decode_refuse(&frames[2].1).unwrap().1.as_str(), "no");
    }

    #[test]
    fn serves_a_request() {
        let dir = temp_dir("serve");
        let path = dir.join("ctl.sock");
        std::fs::write(&path, "x").unwrap();
        assert!(Server::bind(&path).err().unwrap().contains("not a socket"));
        std::fs::remove_file(&path).unwrap();
        let srv = Server::bind(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(Server::bind(&path).err().unwrap().contains("another process listens"));
        let p2 = path.clone();
        let client = std::thread::spawn(move || request(&p2, Command::Status, Some(5000)));
        // The first connection is the probe of the second bind (it closed).
        let (conn, req) = loop {
            let Some(mut c) = srv.accept().unwrap() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let r = loop {
                match c.read_request() {
                    Incoming::Pending => std::thread::sleep(Duration::from_millis(5)),
                    r => break r,
                }
            };
            if r != Incoming::Closed {
                break (c, r);
            }
        };
        assert_eq!(req, Incoming::Request(Command::Status));
        assert_eq!(conn.pid, std::process::id() as i32);
        conn.reply(0, "pid: 1\n");
        drop(conn);
        let (ok, text) = client.join().unwrap().unwrap();
        assert!(ok);
        assert_eq!(text, "pid: 1\n");
        drop(srv);
        assert!(!path.exists(), "the socket file is removed");
        let e = request(&path, Command::Status, Some(1000)).unwrap_err();
        assert!(e.unreachable);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The client against a fake server answering `answer` to its request.
    fn ask_fake(cmd: Command, answer: Vec<u8>, close: bool) -> Result<(bool, String), ClientError> {
        let dir = temp_dir(&format!("fake-{}", answer.len()));
        let path = dir.join("ctl.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = vec![0u8; frames::encode_control(cmd).len()];
            s.read_exact(&mut req).unwrap();
            assert_eq!(req, frames::encode_control(cmd));
            let _ = s.write_all(&answer);
            if !close {
                std::thread::sleep(Duration::from_millis(600));
            }
        });
        let r = request(&path, cmd, Some(300));
        server.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn client_reads_replies_strictly() {
        let ok = |r: Result<(bool, String), ClientError>| r.unwrap();
        let err = |r: Result<(bool, String), ClientError>| {
            let e = r.unwrap_err();
            assert!(!e.unreachable);
            e.msg
        };
        assert_eq!(ok(ask_fake(Command::Reload, frames::encode_reply(0, "generation 2 pid 7"), true)), (true, "generation 2 pid 7".into()));
        assert_eq!(ok(ask_fake(Command::Reload, frames::encode_reply(libc::ECANCELED, "reload failed: x"), true)), (false, "reload failed: x".into()));
        assert_eq!(ok(ask_fake(Command::Status, wire::encode_refuse(libc::EACCES, "uid 5 may not"), true)), (false, "refused: uid 5 may not".into()));
        assert_eq!(ok(ask_fake(Command::Stop, frames::encode_reply(0, "stopping"), true)), (true, "stopping".into()));
        // stop waits for EOF
        assert!(err(ask_fake(Command::Stop, frames::encode_reply(0, "stopping"), false)).contains("did not stop in time"));
        assert!(err(ask_fake(Command::Status, vec![], true)).contains("without answering"));
        assert!(err(ask_fake(Command::Status, vec![], false)).contains("no reply in time"));
        assert!(err(ask_fake(Command::Status, b"ok\npid: 1\nstate: serving\n".to_vec(), true)).contains("bad reply: not a gracefd"));
        let f = frames::encode_reply(0, "pid: 1\n");
        assert!(err(ask_fake(Command::Status, f[..7].to_vec(), true)).contains("7 of 12 head bytes"));
        assert!(err(ask_fake(Command::Status, f[..f.len() - 2].to_vec(), true)).contains("truncated reply frame"));
        let mut v2 = f.clone();
        v2[4] = 2;
        assert!(err(ask_fake(Command::Status, v2, true)).contains("version 2"));
        assert!(err(ask_fake(Command::Status, wire::encode_take().to_vec(), true)).contains("unexpected take frame"));
        let mut bad_utf8 = wire::encode_head(HandoffMsg::Reply, 5).to_vec();
        bad_utf8.extend_from_slice(b"\0\0\0\0\xff");
        assert!(err(ask_fake(Command::Status, bad_utf8, true)).contains("UTF-8"));
    }

    /// Audit defect 1: the control socket was chmod'ed by path after bind,
    /// so a link swapped in by whoever can write the directory got mode 0600
    /// applied to its target. The racer replaces every socket that appears in
    /// the directory with a link to the victim (it cannot enter directories
    /// private to us, as a user without our uid could not).
    #[test]
    fn mode_never_lands_on_a_swapped_in_link() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let dir = temp_dir("race");
        let victim = dir.join("victim");
        std::fs::write(&victim, "secret").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (stop, swaps) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let racer = {
            let (d, v, stop, swaps) = (dir.clone(), victim.clone(), stop.clone(), swaps.clone());
            std::thread::spawn(move || {
                let link = d.join("racer-link");
                while !stop.load(Ordering::Relaxed) {
                    for e in std::fs::read_dir(&d).unwrap().flatten() {
                        if e.file_type().is_ok_and(|t| t.is_socket()) {
                            let _ = std::fs::remove_file(&link);
                            let _ = std::os::unix::fs::symlink(&v, &link);
                            if std::fs::rename(&link, e.path()).is_ok() {
                                swaps.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        };
        for i in 0..300 {
            drop(Server::bind(&dir.join(format!("c{}.sock", i))));
            let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o644, "attempt {}: the victim got the socket's mode", i);
        }
        stop.store(true, Ordering::Relaxed);
        racer.join().unwrap();
        assert!(swaps.load(Ordering::Relaxed) > 0, "the racer never swapped anything: the test proves nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
