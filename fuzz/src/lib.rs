//! Fuzz targets: one function per parser or frame decoder of outside input.
//!
//! Each target takes arbitrary bytes, feeds them to a parser of `gracefd::__cli::proto`
//! and, where the format has an encoder, checks that what decodes re-encodes
//! to something that decodes to the same value. A broken check panics;
//! `panic = "abort"` makes that a crash for AFL++ and for the replay.
//!
//! Targets whose parser takes several values (`LISTEN_PID`, `LISTEN_FDS`,
//! `LISTEN_FDNAMES`) split the input at `|` (see [`fields`]), so one corpus
//! file is one set of variables.
//!
//! The same functions run under `cargo afl fuzz` (feature `afl`, one binary
//! per target in `src/bin/`) and in the replay of the committed corpus
//! (`src/bin/replay.rs`, plain build), so `make check` needs no AFL++.

use gracefd::__cli::proto::handoff::{self, HandoffMsg};
use gracefd::__cli::proto::{addr, control, daemon, listen_env, notify, num, ready};

/// A target: its name (the corpus directory) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order reports list them.
pub const TARGETS: &[Target] = &[
    ("address", address),
    ("listen_fds", listen_fds),
    ("fdname", fdname),
    ("server_starter", server_starter),
    ("notify_socket", notify_socket),
    ("notify_state", notify_state),
    ("watchdog", watchdog),
    ("numbers", numbers),
    ("ready_frame", ready_frame),
    ("handoff_head", handoff_head),
    ("handoff_header", handoff_header),
    ("handoff_chunk", handoff_chunk),
    ("handoff_refuse", handoff_refuse),
    ("control_frame", control_frame),
    ("reply_frame", reply_frame),
    ("daemon_marker", daemon_marker),
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Split `input` at its first `N - 1` bytes `|` into `N` fields (missing
/// fields are `None`, so "unset" is reachable too).
pub fn fields<const N: usize>(input: &[u8]) -> [Option<&[u8]>; N] {
    let mut out = [None; N];
    let mut rest = Some(input);
    for (i, slot) in out.iter_mut().enumerate() {
        let Some(r) = rest else { break };
        if i + 1 == N {
            *slot = Some(r);
            break;
        }
        match r.iter().position(|&b| b == b'|') {
            Some(p) => {
                *slot = r.get(..p);
                rest = r.get(p + 1..);
            }
            None => {
                *slot = Some(r);
                rest = None;
            }
        }
    }
    out
}

/// `--listen` addresses: whatever parses has a family and a socket type.
pub fn address(input: &[u8]) {
    if let Ok(a) = addr::parse(input) {
        let fam = a.family();
        assert!(fam == libc::AF_INET || fam == libc::AF_INET6 || fam == libc::AF_UNIX, "family {}", fam);
        let ty = a.sock_type();
        assert!(ty == libc::SOCK_STREAM || ty == libc::SOCK_DGRAM, "socket type {}", ty);
    }
}

/// `LISTEN_PID|LISTEN_FDS|LISTEN_FDNAMES`, our pid being 4242.
pub fn listen_fds(input: &[u8]) {
    let [pid, fds, names] = fields::<3>(input);
    if let Ok(listen_env::Systemd::Fds { count, names: got, missing_names }) =
        listen_env::parse_systemd(pid, fds, names, 4242, 65536)
    {
        assert!(count <= 65536);
        assert!(got.len() <= count as usize);
        assert!(got.len() + missing_names <= count as usize);
        for n in &got {
            assert!(listen_env::fdname_is_valid(n), "a name that the parser accepted is invalid");
        }
    }
}

/// One fd name (`LISTEN_FDNAMES` entries, `FDNAME=`, hand-off names).
pub fn fdname(input: &[u8]) {
    let valid = listen_env::fdname_is_valid(input);
    assert_eq!(valid, listen_env::fdname_problem(input).is_none());
    assert_eq!(valid, listen_env::validate_fdname(input).is_ok());
    assert_eq!(valid, notify::validate_fdname(input).is_ok());
}

/// `SERVER_STARTER_PORT` and `SERVER_STARTER_GENERATION`.
pub fn server_starter(input: &[u8]) {
    if let Ok(entries) = listen_env::parse_server_starter_port(input) {
        assert!(entries.len() <= input.len());
    }
    let _ = listen_env::parse_server_starter_generation(input);
}

/// `NOTIFY_SOCKET`.
pub fn notify_socket(input: &[u8]) {
    let _ = notify::parse_socket(input);
}

/// sd_notify states: what validates can be sent, with MONOTONIC_USEC added
/// when needed; STATUS= and FDSTORE messages from arbitrary text.
pub fn notify_state(input: &[u8]) {
    let valid = notify::validate_state(input).is_ok();
    let _ = notify::needs_monotonic(input);
    if valid {
        assert!(input.len() <= notify::MESSAGE_MAX);
        // with_monotonic is documented for validated states only.
        if let Ok(m) = notify::with_monotonic(input, 42) {
            assert!(notify::validate_state(m.as_bytes()).is_ok(), "with_monotonic built an invalid state");
            assert!(!notify::needs_monotonic(m.as_bytes()));
        }
    }
    if let Ok(m) = notify::status(input) {
        assert!(notify::validate_state(m.as_bytes()).is_ok(), "status() built an invalid state");
    }
    if let Ok(m) = notify::fdstore(Some(input)) {
        assert!(notify::validate_state(m.as_bytes()).is_ok(), "fdstore() built an invalid state");
    }
}

/// `WATCHDOG_USEC|WATCHDOG_PID`, our pid being 4242.
pub fn watchdog(input: &[u8]) {
    let [usec, pid] = fields::<2>(input);
    if let Ok(u) = notify::watchdog_usec(usec, pid, 4242) {
        // 0 is "no watchdog"; 2^64 - 1 is systemd's infinity, never an interval.
        assert!(u < u64::MAX);
        if usec.is_none() {
            assert_eq!(u, 0);
        }
    }
}

/// The numbers of the gracefd variables (`GRACEFD_READY_FD`, generation, pids):
/// what parses prints back to the same digits, without leading zeros.
pub fn numbers(input: &[u8]) {
    let mut buf = [0u8; 20];
    if let Some(v) = num::parse_u64(input) {
        let printed = num::fmt_u64(v, &mut buf);
        assert_eq!(num::parse_u64(printed), Some(v));
    }
    if let Some(v) = num::parse_u32(input) {
        assert_eq!(num::parse_u64(input), Some(u64::from(v)));
    }
    if let Some(p) = num::parse_pid(input) {
        assert!(p >= 1);
    }
}

/// Readiness frames (`GRACEFD_READY_FD`): decode, re-encode, decode again.
pub fn ready_frame(input: &[u8]) {
    if let Ok(f) = ready::decode(input) {
        let mut buf = [0u8; ready::FRAME_MAX];
        let n = ready::encode(f.kind, f.status, f.msg.as_str().as_bytes(), &mut buf);
        let again = ready::decode(buf.get(..n).unwrap_or(&[])).expect("a re-encoded frame decodes");
        assert_eq!(again.kind, f.kind);
        assert_eq!(again.status, f.status);
        assert_eq!(again.msg.as_str(), f.msg.as_str());
    }
}

/// Hand-off and control frame heads: the length is within the kind's bounds
/// and the head re-encodes to the same bytes.
pub fn handoff_head(input: &[u8]) {
    if let Ok(h) = handoff::decode_head(input) {
        let (min, max) = h.kind.body_bounds();
        assert!(h.len >= min && h.len <= max);
        assert_eq!(&handoff::encode_head(h.kind, h.len)[..], input);
    }
}

/// HEADER bodies (the names of the fds a hand-off carries).
pub fn handoff_header(input: &[u8]) {
    if let Ok(count) = handoff::check_header(input) {
        let names: Vec<&[u8]> = handoff::header_names(input).collect();
        assert_eq!(names.len(), count);
        let frame = handoff::encode_header(&names).expect("decoded names encode");
        assert_eq!(frame.get(handoff::HEAD_LEN..), Some(input));
        let head = handoff::decode_head(frame.get(..handoff::HEAD_LEN).unwrap_or(&[])).expect("own head decodes");
        assert_eq!(head.kind, HandoffMsg::Header);
    }
}

/// CHUNK bodies: `received|total` as two u16 in the first 4 bytes, then the body.
pub fn handoff_chunk(input: &[u8]) {
    let (Some(r), Some(t), Some(body)) = (input.get(..2), input.get(2..4), input.get(4..)) else { return };
    let received = usize::from(u16::from_le_bytes([r[0], r[1]]));
    let total = usize::from(u16::from_le_bytes([t[0], t[1]]));
    if let Ok(c) = handoff::decode_chunk(body, received, total) {
        assert_eq!(c.first as usize, received);
        assert!(c.count >= 1 && received + c.count as usize <= total);
        let frame = handoff::encode_chunk(c);
        assert_eq!(frame.get(handoff::HEAD_LEN..), Some(body));
    }
}

/// REFUSE bodies: errno in range, the reason one line that re-encodes.
pub fn handoff_refuse(input: &[u8]) {
    if let Ok((errno, reason)) = handoff::decode_refuse(input) {
        assert!((1..=4095).contains(&errno));
        assert!(!reason.as_str().contains('\n'));
        let frame = handoff::encode_refuse(errno, reason.as_str());
        let body = frame.get(handoff::HEAD_LEN..).unwrap_or(&[]);
        let (e2, r2) = handoff::decode_refuse(body).expect("a re-encoded refusal decodes");
        assert_eq!(e2, errno);
        assert_eq!(r2.as_str(), reason.as_str());
    }
}

/// CONTROL bodies (`gracefd ctl` requests to `gracefd run`), and whole
/// request streams through the server's reader (`proto::control`).
pub fn control_frame(input: &[u8]) {
    if let Ok(c) = control::decode_control(input) {
        let frame = control::encode_control(c);
        assert_eq!(frame.get(handoff::HEAD_LEN..), Some(input));
    }
    let mut reader = control::RequestReader::new();
    if let Some(Ok(c)) = reader.push(input) {
        // A request is taken only from a whole, well-formed frame at the start.
        let frame = control::encode_control(c);
        assert_eq!(input.get(..frame.len()), Some(&frame[..]));
    }
}

/// REPLY bodies (answers of `gracefd run` to `gracefd ctl`).
pub fn reply_frame(input: &[u8]) {
    if let Ok((errno, text)) = control::decode_reply(input) {
        assert!((0..=4095).contains(&errno));
        let frame = control::encode_reply(errno, text);
        let body = frame.get(handoff::HEAD_LEN..).unwrap_or(&[]);
        let (e2, t2) = control::decode_reply(body).expect("a re-encoded reply decodes");
        assert_eq!(e2, errno);
        if errno == 0 {
            assert_eq!(t2, text);
        }
    }
}

/// The `GRACEFD_DAEMON` marker: what decodes re-encodes to the same plan.
pub fn daemon_marker(input: &[u8]) {
    if let Ok(plan) = daemon::decode(input) {
        assert!(plan.umask <= 0o777);
        let again = daemon::decode(&daemon::encode(&plan)).expect("a re-encoded plan decodes");
        assert_eq!(again, plan);
    }
}

/// Run `target` the way the binary was built: under AFL++ (feature `afl`),
/// or over the files and directories named on the command line.
pub fn main_for(target: fn(&[u8])) {
    #[cfg(feature = "afl")]
    {
        afl::fuzz(true, |data: &[u8]| target(data));
    }
    #[cfg(not(feature = "afl"))]
    {
        let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
        match replay_paths(target, &args) {
            Ok(n) => println!("{} inputs replayed", n),
            Err(e) => {
                eprintln!("replay: {}", e);
                std::process::exit(2);
            }
        }
    }
}

/// Feed every file of `paths` (files, or directories read one level deep,
/// in name order) to `target`. Returns how many inputs ran.
pub fn replay_paths(target: fn(&[u8]), paths: &[std::path::PathBuf]) -> std::io::Result<usize> {
    let mut n = 0;
    for p in paths {
        let files = if p.is_dir() {
            let mut v: Vec<std::path::PathBuf> =
                std::fs::read_dir(p)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|f| f.is_file()).collect();
            v.sort();
            v
        } else {
            vec![p.clone()]
        };
        for f in files {
            let data = std::fs::read(&f).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {}", f.display(), e)))?;
            target(&data);
            n += 1;
        }
    }
    Ok(n)
}
