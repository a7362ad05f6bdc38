//! sd_notify, the pure part: the `$NOTIFY_SOCKET` address, the state string,
//! the messages gracefd composes, and the watchdog variables (docs/architecture.md, "sd_notify").
//!
//! A notification is one datagram of `KEY=VALUE` lines separated by `\n`.
//! Nothing here allocates: composed messages live in a fixed [`Message`]
//! buffer of [`MESSAGE_MAX`] bytes.

use crate::err;
use crate::error::Result;
use crate::msg::Plain;
use crate::proto::addr::{Shown, SUN_PATH_LEN};
use crate::proto::num;
use crate::sys::process::Pid;

/// Longest notification accepted, in bytes. systemd reads notifications into
/// a buffer of `PIPE_BUF` (4096) bytes and ignores longer ones, so a longer
/// message is refused here with `EMSGSIZE` rather than silently lost there.
pub const MESSAGE_MAX: usize = 4096;

/// Longest fd name (systemd's limit, [`crate::proto::listen_env::FDNAME_MAX`]).
pub const FDNAME_MAX: usize = crate::proto::listen_env::FDNAME_MAX;

/// Where `$NOTIFY_SOCKET` points. Both borrow from the variable's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifySocket<'a> {
    /// A socket at an absolute filesystem path.
    Path(&'a [u8]),
    /// A socket in Linux's abstract namespace (the name without the `@`).
    Abstract(&'a [u8]),
}

/// Parse the value of `$NOTIFY_SOCKET`: an absolute path (`/run/systemd/notify`)
/// or `@name` (abstract namespace).
///
/// Errors (the message quotes the value): `EINVAL` if it is empty, contains
/// NUL, is `@` alone, or is neither an absolute path nor `@name` (a relative
/// path, `vsock:…`, anything else); `ENAMETOOLONG` if it does not fit in
/// `sun_path` (107 bytes for a path, which needs its NUL; 107 for a name).
pub fn parse_socket(value: &[u8]) -> Result<NotifySocket<'_>> {
    let shown = Shown(value);
    if value.is_empty() {
        return Err(err!(EINVAL, "NOTIFY_SOCKET is set but empty"));
    }
    let (addr, len) = match value.split_first() {
        _ if value.contains(&0) => return Err(bad_socket(value, " contains a NUL byte")),
        Some((b'@', [])) => {
            return Err(bad_socket(value, ": the abstract socket name after '@' is empty"))
        }
        Some((b'@', name)) => (NotifySocket::Abstract(name), name.len()),
        Some((b'/', _)) => (NotifySocket::Path(value), value.len()),
        _ if value.starts_with(b"vsock:") => {
            return Err(bad_socket(value, ": vsock addresses are not supported (only a path or @name)"))
        }
        _ => return Err(bad_socket(value, " is neither an absolute path nor an @abstract name")),
    };
    // A path needs room for its terminating NUL; an abstract name for the leading one.
    let room = SUN_PATH_LEN - 1;
    if len > room {
        return Err(err!(
            ENAMETOOLONG,
            "NOTIFY_SOCKET {} is {} bytes long, at most {} fit in sun_path",
            shown,
            len,
            room
        ));
    }
    Ok(addr)
}

/// `EINVAL`, "NOTIFY_SOCKET <value><why>": one error site for the value's
/// malformations (each `err!` site is its own formatting code).
#[cold]
#[inline(never)]
fn bad_socket(value: &[u8], why: &str) -> crate::error::Error {
    err!(EINVAL, "NOTIFY_SOCKET {}{}", Shown(value), Plain(why))
}

/// `EINVAL`, "notification state: line <n> <what><text><why>": one error
/// site for the line-level problems of a state.
#[cold]
#[inline(never)]
fn bad_line(n: usize, what: &str, text: &[u8], why: &str) -> crate::error::Error {
    err!(EINVAL, "notification state: line {} {}{}{}", n, Plain(what), Shown(text), Plain(why))
}

/// Check a state string: one or more `KEY=VALUE` lines separated by `\n`
/// (one trailing `\n` is allowed). Keys are non-empty and made of ASCII
/// letters, digits and `_`; values may hold any byte but NUL and `\n`.
///
/// Errors: `EINVAL` for an empty state, a NUL byte, an empty line, a line
/// without `=`, or a bad key (the message names the line); `EMSGSIZE` above
/// [`MESSAGE_MAX`] bytes.
pub fn validate_state(state: &[u8]) -> Result<()> {
    if state.is_empty() {
        return Err(err!(EINVAL, "notification state is empty (expected KEY=VALUE lines)"));
    }
    if state.len() > MESSAGE_MAX {
        return Err(err!(
            EMSGSIZE,
            "notification state is {} bytes; systemd ignores messages above {}",
            state.len(),
            MESSAGE_MAX
        ));
    }
    if let Some(at) = state.iter().position(|&b| b == 0) {
        return Err(err!(EINVAL, "notification state contains a NUL byte at offset {}", at));
    }
    let body = state.strip_suffix(b"\n").unwrap_or(state);
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if line.is_empty() {
            return Err(err!(EINVAL, "notification state: line {} is empty (expected KEY=VALUE)", n));
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(bad_line(n, "", line, " has no '=' (expected KEY=VALUE)"));
        };
        let key = line.get(..eq).unwrap_or(&[]);
        if key.is_empty() {
            return Err(bad_line(n, "", line, " has an empty key"));
        }
        if !key.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad_line(n, "key ", key, " may only hold A-Z, a-z, 0-9 and '_'"));
        }
    }
    Ok(())
}

/// The lines of a (valid) state, without a trailing empty one.
fn lines(state: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = state.strip_suffix(b"\n").unwrap_or(state);
    body.split(|&b| b == b'\n')
}

/// Whether `state` announces a reload (`RELOADING=1`) without saying when
/// (`MONOTONIC_USEC=`): systemd needs the timestamp to tell this reload from
/// an older one, and `systemctl reload` of a `Type=notify-reload` service
/// waits for it.
pub fn needs_monotonic(state: &[u8]) -> bool {
    lines(state).any(|l| l == b"RELOADING=1") && !lines(state).any(|l| l.starts_with(b"MONOTONIC_USEC="))
}

/// A composed notification: at most [`MESSAGE_MAX`] bytes, on the stack.
#[derive(Clone)]
pub struct Message {
    len: usize,
    buf: [u8; MESSAGE_MAX],
}

impl Message {
    /// An empty message.
    pub const fn new() -> Message {
        Message { len: 0, buf: [0; MESSAGE_MAX] }
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Append raw bytes; `EMSGSIZE` if they do not fit.
    fn push(&mut self, b: &[u8]) -> Result<()> {
        let end = self.len.checked_add(b.len()).filter(|&e| e <= MESSAGE_MAX);
        match end.and_then(|e| self.buf.get_mut(self.len..e).map(|dst| (e, dst))) {
            Some((e, dst)) => {
                dst.copy_from_slice(b);
                self.len = e;
                Ok(())
            }
            None => Err(err!(
                EMSGSIZE,
                "notification would be longer than {} bytes, which systemd ignores",
                MESSAGE_MAX
            )),
        }
    }

    /// Start a new line unless the message is empty or already ends one.
    fn newline(&mut self) -> Result<()> {
        if self.len > 0 && self.as_bytes().last() != Some(&b'\n') {
            self.push(b"\n")?;
        }
        Ok(())
    }

    /// Append the line `KEY=VALUE` (the caller has checked both).
    fn line(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.newline()?;
        self.push(key)?;
        self.push(b"=")?;
        self.push(value)
    }

    /// Append bytes known to fit (the fixed messages below are a few dozen
    /// bytes): no error to make and move out, which the fallible `push` of
    /// each line costs at every call.
    fn put(&mut self, b: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
    }

    /// [`Message::put`] of a number in decimal.
    fn put_u64(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        self.put(num::fmt_u64(v, &mut digits));
    }

    /// Append the line `KEY=<decimal>`.
    fn line_u64(&mut self, key: &[u8], v: u64) -> Result<()> {
        let mut digits = [0u8; 20];
        let d = num::fmt_u64(v, &mut digits);
        self.line(key, d)
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Message({})", Shown(self.as_bytes()))
    }
}

pub(crate) fn check_pid(pid: Pid, what: &str) -> Result<u64> {
    u64::try_from(pid).ok().filter(|&p| p > 0).ok_or_else(|| err!(EINVAL, "{} {} is not a valid pid", crate::msg::Plain(what), pid))
}

/// `READY=1`, plus `MAINPID=<pid>` when `mainpid` is given (a new generation
/// tells systemd that it is now the main process).
/// `EINVAL` if `mainpid` is not positive.
pub fn ready(mainpid: Option<Pid>) -> Result<Message> {
    let mainpid = match mainpid {
        Some(pid) => Some(check_pid(pid, "MAINPID")?),
        None => None,
    };
    Ok(ready_message(mainpid))
}

/// [`ready`] with a pid known to be valid (this process's own): nothing
/// to check, so no error to carry.
pub(crate) fn ready_message(mainpid: Option<u64>) -> Message {
    let mut m = Message::new();
    m.put(b"READY=1");
    if let Some(pid) = mainpid {
        m.put(b"\nMAINPID=");
        m.put_u64(pid);
    }
    m
}

/// `MAINPID=<pid>`. `EINVAL` if `pid` is not positive.
#[cfg(test)]
pub(crate) fn mainpid(pid: Pid) -> Result<Message> {
    Ok(mainpid_message(check_pid(pid, "MAINPID")?))
}

/// [`mainpid`] for a pid already checked: made where it is used, never moved
/// (a `Result<Message>` moved its 4 KB buffer at each `?`).
pub(crate) fn mainpid_message(pid: u64) -> Message {
    let mut m = Message::new();
    m.put(b"MAINPID=");
    m.put_u64(pid);
    m
}

/// `RELOADING=1\nMONOTONIC_USEC=<usec>`: the only way gracefd announces a reload.
pub fn reloading(monotonic_usec: u64) -> Result<Message> {
    Ok(reloading_message(monotonic_usec))
}

/// [`reloading`], which cannot fail, without the `Result`.
pub(crate) fn reloading_message(monotonic_usec: u64) -> Message {
    let mut m = Message::new();
    m.put(b"RELOADING=1\nMONOTONIC_USEC=");
    m.put_u64(monotonic_usec);
    m
}

/// `STOPPING=1`.
pub fn stopping() -> Result<Message> {
    let mut m = Message::new();
    m.put(b"STOPPING=1");
    Ok(m)
}

/// `BARRIER=1` (sent alone, with one fd: systemd ignores everything else in a
/// barrier message).
pub(crate) const BARRIER: &[u8] = b"BARRIER=1";

/// `STATUS=<text>`. `text` may be empty (clears the status shown by
/// `systemctl status`). `EINVAL` if it contains `\n` (which would start
/// another KEY=VALUE line) or NUL; `EMSGSIZE` if too long.
pub fn status(text: &[u8]) -> Result<Message> {
    if let Some(at) = text.iter().position(|&b| b == b'\n' || b == 0) {
        return Err(err!(
            EINVAL,
            "status text {} contains a {} at offset {} (it must be one line)",
            Shown(text),
            Plain(if text.get(at) == Some(&0) { "NUL byte" } else { "newline" }),
            at
        ));
    }
    let mut m = Message::new();
    m.line(b"STATUS", text)?;
    Ok(m)
}

/// Check a name for stored fds (`FDNAME=`, later `LISTEN_FDNAMES`): the rule
/// of [`listen_env::validate_fdname`](crate::proto::listen_env::validate_fdname).
pub use crate::proto::listen_env::validate_fdname;

/// `FDSTORE=1`, plus `FDNAME=<name>` when a name is given (systemd names
/// unnamed stored fds "stored"). `EINVAL` for a bad name ([`validate_fdname`]).
pub fn fdstore(name: Option<&[u8]>) -> Result<Message> {
    let mut m = Message::new();
    m.line(b"FDSTORE", b"1")?;
    if let Some(n) = name {
        validate_fdname(n)?;
        m.line(b"FDNAME", n)?;
    }
    Ok(m)
}

/// `state` with `MONOTONIC_USEC=<usec>` appended as a last line when
/// [`needs_monotonic`] says it lacks one, otherwise `state` unchanged.
/// The caller has validated `state`. `EMSGSIZE` if the result is too long.
pub fn with_monotonic(state: &[u8], usec: u64) -> Result<Message> {
    let mut m = Message::new();
    m.push(state)?;
    if needs_monotonic(state) {
        m.line_u64(b"MONOTONIC_USEC", usec)?;
    }
    Ok(m)
}

/// The watchdog interval that applies to the process `our_pid`, from the
/// values of `WATCHDOG_USEC` and `WATCHDOG_PID` (`None` = unset).
///
/// - `WATCHDOG_USEC` unset: 0 (no watchdog).
/// - `WATCHDOG_PID` set to another pid: 0 (the watchdog is someone else's,
///   for example the launcher's of a daemon that forked); unset: ours.
/// - Otherwise the interval in microseconds (1 ..= 2^64 - 2).
///
/// Errors (`EINVAL`, quoting the value): a `WATCHDOG_PID` that is not a
/// positive decimal pid; a `WATCHDOG_USEC` that is not a decimal number, is
/// 0, or is 2^64 - 1 (systemd's "infinity", never a real interval).
pub fn watchdog_usec(usec: Option<&[u8]>, pid: Option<&[u8]>, our_pid: Pid) -> Result<u64> {
    if let Some(p) = pid {
        let Some(p) = num::parse_pid(p) else {
            return Err(err!(EINVAL, "WATCHDOG_PID {} is not a pid", Shown(p)));
        };
        if p != our_pid {
            return Ok(0);
        }
    }
    let Some(u) = usec else { return Ok(0) };
    match num::parse_u64(u) {
        Some(v) if v > 0 && v < u64::MAX => Ok(v),
        Some(_) => Err(err!(EINVAL, "WATCHDOG_USEC {} is not a usable interval (1 to 2^64-2 microseconds)", Shown(u))),
        None => Err(err!(EINVAL, "WATCHDOG_USEC {} is not a decimal number of microseconds", Shown(u))),
    }
}

/// What one received notification datagram says, for a process that listens
/// on a `NOTIFY_SOCKET` of its own (the supervisor's workers, a daemon that
/// links nothing). Borrowed from the datagram; nothing allocated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// A `READY=1` line.
    pub ready: bool,
    /// A `STOPPING=1` line.
    pub stopping: bool,
    /// A `RELOADING=1` line.
    pub reloading: bool,
    /// The last `STATUS=` text (without the key).
    pub status: Option<&'a [u8]>,
    /// The last `MAINPID=` value that is a positive decimal pid.
    pub mainpid: Option<Pid>,
}

/// Read one datagram of `KEY=VALUE` lines. Lines are matched exactly
/// (`READY=10` is not `READY=1`); unknown keys are ignored, as sd_notify(3)
/// asks of a receiver. Never fails: a malformed line says nothing.
pub fn parse_received(datagram: &[u8]) -> Received<'_> {
    let mut r = Received::default();
    for line in lines(datagram) {
        match line {
            b"READY=1" => r.ready = true,
            b"STOPPING=1" => r.stopping = true,
            b"RELOADING=1" => r.reloading = true,
            _ => {
                if let Some(s) = line.strip_prefix(b"STATUS=") {
                    r.status = Some(s);
                } else if let Some(p) = line.strip_prefix(b"MAINPID=") {
                    if let Some(p) = num::parse_pid(p) {
                        r.mainpid = Some(p);
                    }
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_errors_say_which_byte_and_where() {
        let e = status(b"a\nb").unwrap_err();
        assert_eq!((e.errno.0, e.message()), (libc::EINVAL, "status text \"a\\x0ab\" contains a newline at offset 1 (it must be one line)"));
        let e = status(b"ab\0").unwrap_err();
        assert_eq!(e.message(), "status text \"ab\\x00\" contains a NUL byte at offset 2 (it must be one line)");
    }

    #[test]
    fn received_lines() {
        let r = parse_received(b"STATUS=warming up\nMAINPID=3");
        assert_eq!(r, Received { status: Some(b"warming up"), mainpid: Some(3), ..Received::default() });
        let r = parse_received(b"READY=1\nSTATUS=a\nSTATUS=serving\n");
        assert!(r.ready && !r.stopping);
        assert_eq!(r.status, Some(&b"serving"[..]));
        let r = parse_received(b"READY=10\nXREADY=1\nMAINPID=0\nMAINPID=x\n\n");
        assert_eq!(r, Received::default());
        let r = parse_received(b"STOPPING=1\nRELOADING=1");
        assert!(r.stopping && r.reloading && !r.ready);
    }

    fn errno_of<T: core::fmt::Debug>(r: Result<T>) -> (i32, String) {
        let e = r.expect_err("accepted");
        (e.errno.0, e.message().to_string())
    }

    #[test]
    fn socket_forms() {
        assert_eq!(parse_socket(b"/run/systemd/notify").unwrap(), NotifySocket::Path(b"/run/systemd/notify"));
        assert_eq!(parse_socket(b"@gracefd/x").unwrap(), NotifySocket::Abstract(b"gracefd/x"));
        assert_eq!(parse_socket(b"/").unwrap(), NotifySocket::Path(b"/"));
        let max_path = format!("/{}", "a".repeat(SUN_PATH_LEN - 2));
        assert!(parse_socket(max_path.as_bytes()).is_ok());
        let max_name = format!("@{}", "a".repeat(SUN_PATH_LEN - 1));
        assert!(parse_socket(max_name.as_bytes()).is_ok());
    }

    #[test]
    fn socket_rejects_with_reason() {
        let cases: [(&[u8], i32, &str); 7] = [
            (b"", libc::EINVAL, "empty"),
            (b"run/notify", libc::EINVAL, "neither an absolute path"),
            (b"./notify", libc::EINVAL, "neither an absolute path"),
            (b"@", libc::EINVAL, "name after '@' is empty"),
            (b"/run\0/x", libc::EINVAL, "NUL"),
            (b"vsock:2:1234", libc::EINVAL, "vsock"),
            (b" /run/x", libc::EINVAL, "neither"),
        ];
        for (v, errno, needle) in cases {
            let (e, m) = errno_of(parse_socket(v));
            assert_eq!(e, errno, "{:?}", v);
            assert!(m.contains(needle) && m.contains("NOTIFY_SOCKET"), "{:?}: {}", v, m);
        }
        let long = format!("/{}", "a".repeat(SUN_PATH_LEN - 1));
        let (e, m) = errno_of(parse_socket(long.as_bytes()));
        assert_eq!(e, libc::ENAMETOOLONG);
        assert!(m.contains("sun_path"), "{}", m);
        let long = format!("@{}", "a".repeat(SUN_PATH_LEN));
        assert_eq!(errno_of(parse_socket(long.as_bytes())).0, libc::ENAMETOOLONG);
    }

    #[test]
    fn state_validation() {
        for ok in [
            &b"READY=1"[..],
            b"READY=1\n",
            b"READY=1\nSTATUS=up and running: 3 = three",
            b"STATUS=",
            b"X_1=\xff\xfe",
            b"FDSTORE=1\nFDNAME=a:b",
        ] {
            validate_state(ok).unwrap_or_else(|e| panic!("{:?}: {}", ok, e));
        }
        let cases: [(&[u8], &str); 9] = [
            (b"", "empty"),
            (b"READY", "line 1 \"READY\" has no '='"),
            (b"=1", "empty key"),
            (b"READY=1\n\nSTATUS=x", "line 2 is empty"),
            (b"READY=1\nSTATUS", "line 2"),
            (b"\n", "line 1 is empty"),
            (b"READY=1\n\n", "line 2 is empty"),
            (b"READY=1\0", "NUL byte at offset 7"),
            (b"RE ADY=1", "may only hold"),
        ];
        for (v, needle) in cases {
            let (e, m) = errno_of(validate_state(v));
            assert_eq!(e, libc::EINVAL, "{:?}", v);
            assert!(m.contains(needle), "{:?}: {}", v, m);
        }
        let big = format!("STATUS={}", "x".repeat(MESSAGE_MAX));
        assert_eq!(errno_of(validate_state(big.as_bytes())).0, libc::EMSGSIZE);
        let just = format!("STATUS={}", "x".repeat(MESSAGE_MAX - 7));
        assert!(validate_state(just.as_bytes()).is_ok());
    }

    #[test]
    fn composed_messages() {
        assert_eq!(ready(None).unwrap().as_bytes(), b"READY=1");
        assert_eq!(ready(Some(4242)).unwrap().as_bytes(), b"READY=1\nMAINPID=4242");
        assert_eq!(mainpid(1).unwrap().as_bytes(), b"MAINPID=1");
        assert_eq!(reloading(123456789).unwrap().as_bytes(), b"RELOADING=1\nMONOTONIC_USEC=123456789");
        assert_eq!(reloading(0).unwrap().as_bytes(), b"RELOADING=1\nMONOTONIC_USEC=0");
        assert_eq!(stopping().unwrap().as_bytes(), b"STOPPING=1");
        assert_eq!(status(b"serving 3 clients").unwrap().as_bytes(), b"STATUS=serving 3 clients");
        assert_eq!(status(b"").unwrap().as_bytes(), b"STATUS=");
        assert_eq!(fdstore(None).unwrap().as_bytes(), b"FDSTORE=1");
        assert_eq!(fdstore(Some(b"web")).unwrap().as_bytes(), b"FDSTORE=1\nFDNAME=web");
        for composed in [ready(Some(7)).unwrap(), reloading(1).unwrap(), status(b"x=y").unwrap(), fdstore(Some(b"n")).unwrap()] {
            validate_state(composed.as_bytes()).unwrap();
        }
    }

    #[test]
    fn composing_rejects_bad_input() {
        assert_eq!(errno_of(ready(Some(0))).0, libc::EINVAL);
        assert_eq!(errno_of(ready(Some(-5))).0, libc::EINVAL);
        assert_eq!(errno_of(mainpid(0)).0, libc::EINVAL);
        let (e, m) = errno_of(status(b"one\nREADY=1"));
        assert_eq!(e, libc::EINVAL);
        assert!(m.contains("newline at offset 3"), "{}", m);
        assert!(errno_of(status(b"a\0b")).1.contains("NUL byte"));
        assert_eq!(errno_of(status("x".repeat(MESSAGE_MAX).as_bytes())).0, libc::EMSGSIZE);
        assert!(status("x".repeat(MESSAGE_MAX - 7).as_bytes()).is_ok());
        for bad in [&b""[..], b"a:b", b"a\nb", b"caf\xc3\xa9", b"tab\there", b"del\x7f"] {
            assert_eq!(errno_of(fdstore(Some(bad))).0, libc::EINVAL, "{:?}", bad);
        }
        assert!(validate_fdname("n".repeat(FDNAME_MAX).as_bytes()).is_ok());
        assert!(validate_fdname("n".repeat(FDNAME_MAX + 1).as_bytes()).is_err());
        assert!(validate_fdname(b"with space-and.dots_").is_ok());
    }

    #[test]
    fn reloading_always_gets_a_timestamp() {
        assert!(needs_monotonic(b"RELOADING=1"));
        assert!(needs_monotonic(b"STATUS=x\nRELOADING=1\n"));
        assert!(!needs_monotonic(b"RELOADING=1\nMONOTONIC_USEC=5"));
        assert!(!needs_monotonic(b"MONOTONIC_USEC=5\nRELOADING=1"));
        assert!(!needs_monotonic(b"READY=1"));
        assert!(!needs_monotonic(b"STATUS=RELOADING=1"));
        assert!(!needs_monotonic(b"RELOADING=10"));
        assert_eq!(with_monotonic(b"RELOADING=1", 99).unwrap().as_bytes(), b"RELOADING=1\nMONOTONIC_USEC=99");
        assert_eq!(
            with_monotonic(b"RELOADING=1\nSTATUS=x\n", 99).unwrap().as_bytes(),
            b"RELOADING=1\nSTATUS=x\nMONOTONIC_USEC=99"
        );
        assert_eq!(with_monotonic(b"READY=1\n", 99).unwrap().as_bytes(), b"READY=1\n");
        assert_eq!(
            with_monotonic(b"RELOADING=1\nMONOTONIC_USEC=5", 99).unwrap().as_bytes(),
            b"RELOADING=1\nMONOTONIC_USEC=5"
        );
        // No room left for the timestamp: refused, not sent without it.
        let full = format!("RELOADING=1\nSTATUS={}", "x".repeat(MESSAGE_MAX - 20));
        validate_state(full.as_bytes()).unwrap();
        assert_eq!(errno_of(with_monotonic(full.as_bytes(), 1)).0, libc::EMSGSIZE);
    }

    #[test]
    fn watchdog() {
        assert_eq!(watchdog_usec(None, None, 10).unwrap(), 0);
        assert_eq!(watchdog_usec(Some(b"3000000"), None, 10).unwrap(), 3_000_000);
        assert_eq!(watchdog_usec(Some(b"3000000"), Some(b"10"), 10).unwrap(), 3_000_000);
        assert_eq!(watchdog_usec(Some(b"3000000"), Some(b"11"), 10).unwrap(), 0);
        assert_eq!(watchdog_usec(None, Some(b"10"), 10).unwrap(), 0);
        // Not ours: its interval is none of our business, even if malformed.
        assert_eq!(watchdog_usec(Some(b"junk"), Some(b"11"), 10).unwrap(), 0);
        assert_eq!(watchdog_usec(Some(b"18446744073709551614"), None, 10).unwrap(), u64::MAX - 1);
        for bad in [&b""[..], b"0", b"-1", b" 5", b"5 ", b"5s", b"0x10", b"18446744073709551615", b"99999999999999999999999"] {
            let (e, m) = errno_of(watchdog_usec(Some(bad), None, 10));
            assert_eq!(e, libc::EINVAL, "{:?}", bad);
            assert!(m.contains("WATCHDOG_USEC"), "{}", m);
        }
        for bad in [&b""[..], b"0", b"-10", b"abc", b"10 ", b"2147483648"] {
            let (e, m) = errno_of(watchdog_usec(Some(b"1"), Some(bad), 10));
            assert_eq!(e, libc::EINVAL, "{:?}", bad);
            assert!(m.contains("WATCHDOG_PID"), "{}", m);
        }
    }

    #[test]
    fn never_panics_on_noise() {
        let seeds: [&[u8]; 5] = [b"READY=1\nSTATUS=x\n", b"@abc", b"/run/x", b"RELOADING=1\nMONOTONIC_USEC=1", b"18446744073709551615"];
        let mut x: u32 = 7;
        for s in seeds {
            for end in 0..=s.len() {
                let p = &s[..end];
                let _ = parse_socket(p);
                let _ = validate_state(p);
                let _ = status(p);
                let _ = fdstore(Some(p));
                let _ = watchdog_usec(Some(p), Some(p), 1);
                if validate_state(p).is_ok() {
                    let m = with_monotonic(p, u64::MAX).unwrap();
                    validate_state(m.as_bytes()).unwrap();
                }
            }
            for _ in 0..3000 {
                let mut v = s.to_vec();
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                let i = (x as usize >> 8) % v.len();
                v[i] = (x >> 16) as u8;
                let _ = parse_socket(&v);
                let _ = watchdog_usec(Some(&v), Some(&v), 1);
                if validate_state(&v).is_ok() {
                    validate_state(with_monotonic(&v, 1).unwrap().as_bytes()).unwrap();
                }
            }
        }
    }
}
