//! The one address parser, used by every face (C, Rust, CLI).
//!
//! Forms (docs/architecture.md, "Addresses"):
//!
//! | form | meaning |
//! |---|---|
//! | `host:port` | TCP; host is an IPv4 literal, `localhost` (127.0.0.1) or `*` |
//! | `:port` | TCP on every interface: `[::]` dual-stack (IPv4 too) |
//! | `[v6]:port`, `[v6%scope]:port` | TCP over IPv6; `[::]` is dual-stack |
//! | `tcp://A`, `udp://A` | A as above, TCP or UDP |
//! | `tcp4://A`, `udp4://A` | IPv4 only (`:port` binds 0.0.0.0) |
//! | `tcp6://A`, `udp6://A` | IPv6 only (`IPV6_V6ONLY` set) |
//! | `unix:/path`, `/path` | unix stream socket at a filesystem path |
//! | `unix:@name` | unix stream socket in Linux's abstract namespace |
//!
//! Host names other than `localhost` are not resolved: resolution depends on
//! configuration and the network, and a listener address should not.

use crate::err;
use crate::error::{Error, Result};
use crate::msg::Plain;

/// `::1`.
const LOCALHOST_V6: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Room in `sockaddr_un.sun_path` on Linux.
pub const SUN_PATH_LEN: usize = 108;

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Stream.
    Tcp,
    /// Datagram.
    Udp,
}

/// Which IP family an address allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    /// An IPv4 address.
    V4([u8; 4]),
    /// An IPv6 address with its scope id (0 if none).
    V6([u8; 16], u32),
}

/// A parsed address. Paths borrow from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Address<'a> {
    /// An IP socket.
    Inet {
        /// TCP or UDP.
        transport: Transport,
        /// Address to bind.
        ip: Ip,
        /// Port (0 = the kernel picks one).
        port: u16,
        /// Set `IPV6_V6ONLY` (only meaningful for IPv6).
        v6only: bool,
    },
    /// A unix stream socket at a filesystem path.
    Unix(&'a [u8]),
    /// A unix stream socket in the abstract namespace (name without the `@`).
    UnixAbstract(&'a [u8]),
}

impl Address<'_> {
    /// The socket family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    pub fn family(&self) -> i32 {
        match self {
            Address::Inet { ip: Ip::V4(_), .. } => libc::AF_INET,
            Address::Inet { ip: Ip::V6(..), .. } => libc::AF_INET6,
            _ => libc::AF_UNIX,
        }
    }

    /// The socket type (`SOCK_STREAM` or `SOCK_DGRAM`).
    pub fn sock_type(&self) -> i32 {
        match self {
            Address::Inet { transport: Transport::Udp, .. } => libc::SOCK_DGRAM,
            _ => libc::SOCK_STREAM,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FamilyRule {
    Any,
    Only4,
    Only6,
}

/// Parse an address in any documented form.
///
/// Errors (all `EINVAL` except where noted), each naming the input and what is
/// wrong: empty; embedded NUL; unknown scheme; missing, empty, non-numeric or
/// out-of-range port; unbalanced or empty IPv6 brackets; a host that is not
/// an IP literal (or `localhost`/`*`); a family that contradicts the scheme;
/// an empty unix path; a unix path or abstract name longer than `sun_path`
/// allows (`ENAMETOOLONG`).
pub fn parse(input: &[u8]) -> Result<Address<'_>> {
    parse_or_bad(input).map_err(|b| b.error(input))
}

/// What is wrong with an address, before the message is made: the parser's
/// steps return this small value and [`Bad::error`] makes the message once,
/// instead of one `format_args!` and one 248-byte error at each of twenty sites.
#[derive(Clone, Copy)]
enum Bad<'a> {
    /// `address is empty`.
    Empty,
    /// `address "…" contains a NUL byte`.
    Nul,
    /// `address "…": <text>`.
    Says(&'static str),
    /// `address "…": <before>"<part>"<after>`.
    Part(&'static str, &'a [u8], &'static str),
    /// `ENAMETOOLONG`: `address "…": <what> is <n> bytes, at most 107 fit in sun_path`.
    TooLong(&'static str, usize),
}

impl Bad<'_> {
    #[cold]
    #[inline(never)]
    fn error(self, input: &[u8]) -> Error {
        let shown = Shown(input);
        match self {
            Bad::Empty => err!(EINVAL, "address is empty"),
            Bad::Nul => err!(EINVAL, "address {} contains a NUL byte", shown),
            Bad::Says(text) => err!(EINVAL, "address {}: {}", shown, Plain(text)),
            Bad::Part(before, part, after) => err!(EINVAL, "address {}: {}{}{}", shown, Plain(before), Shown(part), Plain(after)),
            Bad::TooLong(what, n) => err!(
                ENAMETOOLONG,
                "address {}: {} is {} bytes, at most {} fit in sun_path",
                shown,
                Plain(what),
                n,
                SUN_PATH_LEN - 1
            ),
        }
    }
}

type Parsed<'a, T> = core::result::Result<T, Bad<'a>>;

fn parse_or_bad(input: &[u8]) -> Parsed<'_, Address<'_>> {
    if input.is_empty() {
        return Err(Bad::Empty);
    }
    if input.contains(&0) {
        return Err(Bad::Nul);
    }
    if let Some(rest) = input.strip_prefix(b"unix:") {
        let rest = rest.strip_prefix(b"//").unwrap_or(rest);
        return parse_unix(rest);
    }
    if input.first() == Some(&b'/') {
        return parse_unix(input);
    }
    let (transport, rule, rest) = match split_scheme(input) {
        Some((scheme, rest)) => {
            let (t, r) = match scheme {
                b"tcp" => (Transport::Tcp, FamilyRule::Any),
                b"tcp4" => (Transport::Tcp, FamilyRule::Only4),
                b"tcp6" => (Transport::Tcp, FamilyRule::Only6),
                b"udp" => (Transport::Udp, FamilyRule::Any),
                b"udp4" => (Transport::Udp, FamilyRule::Only4),
                b"udp6" => (Transport::Udp, FamilyRule::Only6),
                _ => return Err(Bad::Part("unknown scheme ", scheme, " (known: tcp, tcp4, tcp6, udp, udp4, udp6, unix)")),
            };
            (t, r, rest)
        }
        None => (Transport::Tcp, FamilyRule::Any, input),
    };
    parse_inet(rest, transport, rule)
}

fn split_scheme(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let pos = input.windows(3).position(|w| w == b"://")?;
    let scheme = input.get(..pos)?;
    if scheme.is_empty() || !scheme.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'-' || *b == b'.') {
        return None;
    }
    Some((scheme, input.get(pos + 3..)?))
}

fn parse_unix(path: &[u8]) -> Parsed<'_, Address<'_>> {
    if let Some(name) = path.strip_prefix(b"@") {
        if name.is_empty() {
            return Err(Bad::Says("abstract unix socket name is empty"));
        }
        if name.len() > SUN_PATH_LEN - 1 {
            return Err(Bad::TooLong("abstract name", name.len()));
        }
        return Ok(Address::UnixAbstract(name));
    }
    if path.is_empty() {
        return Err(Bad::Says("unix socket path is empty"));
    }
    if path.len() > SUN_PATH_LEN - 1 {
        return Err(Bad::TooLong("unix socket path", path.len()));
    }
    Ok(Address::Unix(path))
}

fn parse_inet(s: &[u8], transport: Transport, rule: FamilyRule) -> Parsed<'_, Address<'_>> {
    let (host, port) = if let Some(after) = s.strip_prefix(b"[") {
        let close = after.iter().position(|&b| b == b']').ok_or(Bad::Says("'[' without a closing ']'"))?;
        let host = after.get(..close).unwrap_or(&[]);
        let tail = after.get(close + 1..).unwrap_or(&[]);
        if host.is_empty() {
            return Err(Bad::Says("empty IPv6 address between brackets"));
        }
        let port = tail.strip_prefix(b":").ok_or(Bad::Says("missing ':port' after ']'"))?;
        (HostPart::Bracketed(host), port)
    } else {
        if s.contains(&b']') {
            return Err(Bad::Says("']' without an opening '['"));
        }
        let colon = s.iter().rposition(|&b| b == b':').ok_or(Bad::Says("missing ':port'"))?;
        let host = s.get(..colon).unwrap_or(&[]);
        if host.contains(&b':') {
            return Err(Bad::Says("an IPv6 address needs brackets, as in [::1]:8080"));
        }
        (HostPart::Plain(host), s.get(colon + 1..).unwrap_or(&[]))
    };
    let port = parse_port(port)?;
    let ip = match host {
        HostPart::Plain(h) if h.is_empty() || h == b"*" => match rule {
            FamilyRule::Only4 => Ip::V4([0; 4]),
            _ => Ip::V6([0; 16], 0),
        },
        HostPart::Plain(b"localhost") => match rule {
            FamilyRule::Only6 => Ip::V6(LOCALHOST_V6, 0),
            _ => Ip::V4([127, 0, 0, 1]),
        },
        HostPart::Plain(h) => {
            let v4 = crate::proto::ip::parse_v4(h).ok_or(Bad::Part("host ", h, " is not an IP address (host names are not resolved)"))?;
            Ip::V4(v4)
        }
        HostPart::Bracketed(h) => {
            let (addr, scope) = match h.iter().position(|&b| b == b'%') {
                Some(at) => {
                    let sc = h.get(at + 1..).unwrap_or(&[]);
                    let id = crate::proto::num::parse_u32(sc).ok_or(Bad::Part("IPv6 scope ", sc, " must be a numeric interface index"))?;
                    (h.get(..at).unwrap_or(&[]), id)
                }
                None => (h, 0),
            };
            let v6 = crate::proto::ip::parse_v6(addr).ok_or(Bad::Part("", addr, " is not an IPv6 address"))?;
            Ip::V6(v6, scope)
        }
    };
    let ip = match (rule, ip) {
        (FamilyRule::Only4, Ip::V6(..)) => return Err(Bad::Says("an IPv6 address with an IPv4-only scheme")),
        (FamilyRule::Only6, Ip::V4(_)) => return Err(Bad::Says("an IPv4 address with an IPv6-only scheme")),
        (_, ip) => ip,
    };
    Ok(Address::Inet { transport, ip, port, v6only: rule == FamilyRule::Only6 })
}

enum HostPart<'a> {
    Plain(&'a [u8]),
    Bracketed(&'a [u8]),
}

fn parse_port(p: &[u8]) -> Parsed<'_, u16> {
    if p.is_empty() {
        return Err(Bad::Says("port is empty"));
    }
    if !p.iter().all(u8::is_ascii_digit) {
        return Err(Bad::Part("port ", p, " is not a number"));
    }
    match crate::proto::num::parse_u32(p) {
        Some(v) if v <= 65535 => Ok(v as u16),
        _ => Err(Bad::Part("port ", p, " is above 65535")),
    }
}

/// Shows untrusted bytes quoted and escaped, cut at 64 bytes.
#[derive(Clone, Copy)]
pub struct Shown<'a>(pub &'a [u8]);

impl core::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("\"")?;
        for &b in self.0.iter().take(64) {
            // Each byte as itself, `\"`, `\\` or `\xNN` (by hand: `{:02x}`
            // links u8's LowerHex and the padding code), written at one site.
            let hex = |d: u8| b"0123456789abcdef".get(usize::from(d)).copied().unwrap_or(b'?');
            let (n, out) = match b {
                b'"' | b'\\' => (2, [b'\\', b, 0, 0]),
                0x20..=0x7e => (1, [b, 0, 0, 0]),
                _ => (4, [b'\\', b'x', hex(b >> 4), hex(b & 15)]),
            };
            f.write_str(super::utf8::as_str(out.get(..n).unwrap_or(&[])).unwrap_or("?"))?;
        }
        if self.0.len() > 64 {
            f.write_str("...")?;
        }
        f.write_str("\"")
    }
}

impl core::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Address<'_> {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{:?} rejected: {}", s, e))
    }

    fn bad(s: &[u8], needle: &str) {
        let e = parse(s).expect_err("accepted");
        assert!(e.message().contains(needle), "{:?}: message {:?} lacks {:?}", s, e.message(), needle);
    }

    #[test]
    fn shown_escapes_every_unprintable_byte_in_lowercase_hex() {
        let unprintable: Vec<u8> = (0..=255u8).filter(|b| !(0x20..=0x7e).contains(b)).collect();
        for part in unprintable.chunks(64) {
            let want: String = part.iter().map(|b| format!("\\x{:02x}", b)).collect();
            assert_eq!(Shown(part).to_string(), format!("\"{}\"", want));
        }
        assert_eq!(Shown(b"a\"\\\x7f\xff\x1b~").to_string(), r#""a\"\\\x7f\xff\x1b~""#);
    }

    #[test]
    fn accepts_every_documented_form() {
        let tcp = |ip, port, v6only| Address::Inet { transport: Transport::Tcp, ip, port, v6only };
        let udp = |ip, port, v6only| Address::Inet { transport: Transport::Udp, ip, port, v6only };
        assert_eq!(ok("127.0.0.1:8080"), tcp(Ip::V4([127, 0, 0, 1]), 8080, false));
        assert_eq!(ok("localhost:80"), tcp(Ip::V4([127, 0, 0, 1]), 80, false));
        assert_eq!(ok(":8080"), tcp(Ip::V6([0; 16], 0), 8080, false));
        assert_eq!(ok("*:8080"), tcp(Ip::V6([0; 16], 0), 8080, false));
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(ok("[::1]:0"), tcp(Ip::V6(one, 0), 0, false));
        assert_eq!(ok("[fe80::1%2]:9"), tcp(Ip::V6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 2), 9, false));
        assert_eq!(ok("tcp://127.0.0.1:1"), tcp(Ip::V4([127, 0, 0, 1]), 1, false));
        assert_eq!(ok("tcp4://:65535"), tcp(Ip::V4([0; 4]), 65535, false));
        assert_eq!(ok("tcp6://[::]:80"), tcp(Ip::V6([0; 16], 0), 80, true));
        assert_eq!(ok("tcp6://:80"), tcp(Ip::V6([0; 16], 0), 80, true));
        assert_eq!(ok("udp://127.0.0.1:53"), udp(Ip::V4([127, 0, 0, 1]), 53, false));
        assert_eq!(ok("udp6://[::1]:53"), udp(Ip::V6(one, 0), 53, true));
        assert_eq!(ok("unix:/run/x.sock"), Address::Unix(b"/run/x.sock"));
        assert_eq!(ok("unix:///run/x.sock"), Address::Unix(b"/run/x.sock"));
        assert_eq!(ok("/run/x.sock"), Address::Unix(b"/run/x.sock"));
        assert_eq!(ok("unix:relative.sock"), Address::Unix(b"relative.sock"));
        assert_eq!(ok("unix:@gracefd-test"), Address::UnixAbstract(b"gracefd-test"));
        let max = format!("unix:/{}", "a".repeat(SUN_PATH_LEN - 2));
        assert!(matches!(ok(&max), Address::Unix(_)));
    }

    #[test]
    fn rejects_with_a_reason() {
        bad(b"", "empty");
        bad(b"127.0.0.1", "missing ':port'");
        bad(b"127.0.0.1:", "port is empty");
        bad(b"127.0.0.1:http", "not a number");
        bad(b"127.0.0.1:-1", "not a number");
        bad(b"127.0.0.1:65536", "above 65535");
        bad(b"127.0.0.1:99999999999999999999999", "above 65535");
        bad(b"[::1:80", "without a closing ']'");
        bad(b"::1]:80", "without an opening '['");
        bad(b"[]:80", "empty IPv6");
        bad(b"[::1]80", "missing ':port'");
        bad(b"::1:80", "needs brackets");
        bad(b"[zz]:80", "not an IPv6 address");
        bad(b"[fe80::1%eth0]:80", "numeric interface index");
        bad(b"example.com:80", "not an IP address");
        bad(b"300.1.1.1:80", "not an IP address");
        bad(b"http://127.0.0.1:80", "unknown scheme");
        bad(b"tcp4://[::1]:80", "IPv6 address with an IPv4-only scheme");
        bad(b"tcp6://127.0.0.1:80", "IPv4 address with an IPv6-only scheme");
        bad(b"unix:", "path is empty");
        bad(b"unix:@", "name is empty");
        bad(b"127.0.0.1\x00:80", "NUL");
        let long = format!("unix:/{}", "a".repeat(SUN_PATH_LEN));
        bad(long.as_bytes(), "fit in sun_path");
        let long = format!("unix:@{}", "a".repeat(SUN_PATH_LEN));
        bad(long.as_bytes(), "fit in sun_path");
        assert_eq!(parse(long.as_bytes()).unwrap_err().errno.0, libc::ENAMETOOLONG);
    }

    #[test]
    fn every_message_reads_exactly_as_documented() {
        // The whole text of each message (the messages are made at one
        // site from a small failure value: this pins what that makes).
        let cases: &[(&[u8], i32, &str)] = &[
            (b"", libc::EINVAL, "address is empty"),
            (b"1\x002:80", libc::EINVAL, r#"address "1\x002:80" contains a NUL byte"#),
            (b"http://1:2", libc::EINVAL, r#"address "http://1:2": unknown scheme "http" (known: tcp, tcp4, tcp6, udp, udp4, udp6, unix)"#),
            (b"unix:@", libc::EINVAL, r#"address "unix:@": abstract unix socket name is empty"#),
            (b"unix:", libc::EINVAL, r#"address "unix:": unix socket path is empty"#),
            (b"[::1:80", libc::EINVAL, r#"address "[::1:80": '[' without a closing ']'"#),
            (b"[]:80", libc::EINVAL, r#"address "[]:80": empty IPv6 address between brackets"#),
            (b"[::1]80", libc::EINVAL, r#"address "[::1]80": missing ':port' after ']'"#),
            (b"::1]:80", libc::EINVAL, r#"address "::1]:80": ']' without an opening '['"#),
            (b"1.2.3.4", libc::EINVAL, r#"address "1.2.3.4": missing ':port'"#),
            (b"::1:80", libc::EINVAL, r#"address "::1:80": an IPv6 address needs brackets, as in [::1]:8080"#),
            (b"a.b:80", libc::EINVAL, r#"address "a.b:80": host "a.b" is not an IP address (host names are not resolved)"#),
            (b"[::1%x]:80", libc::EINVAL, r#"address "[::1%x]:80": IPv6 scope "x" must be a numeric interface index"#),
            (b"[zz]:80", libc::EINVAL, r#"address "[zz]:80": "zz" is not an IPv6 address"#),
            (b"tcp4://[::1]:80", libc::EINVAL, r#"address "tcp4://[::1]:80": an IPv6 address with an IPv4-only scheme"#),
            (b"udp6://1.2.3.4:80", libc::EINVAL, r#"address "udp6://1.2.3.4:80": an IPv4 address with an IPv6-only scheme"#),
            (b"1.2.3.4:", libc::EINVAL, r#"address "1.2.3.4:": port is empty"#),
            (b"1.2.3.4:x", libc::EINVAL, r#"address "1.2.3.4:x": port "x" is not a number"#),
            (b"1.2.3.4:65536", libc::EINVAL, r#"address "1.2.3.4:65536": port "65536" is above 65535"#),
        ];
        for (input, errno, want) in cases {
            let e = parse(input).expect_err("accepted");
            assert_eq!((e.errno.0, e.message()), (*errno, *want), "{:?}", Shown(input).to_string());
        }
        let path = "a".repeat(SUN_PATH_LEN);
        let e = parse(format!("unix:/{}", path).as_bytes()).expect_err("accepted");
        assert_eq!(e.errno.0, libc::ENAMETOOLONG);
        assert!(e.message().ends_with(": unix socket path is 109 bytes, at most 107 fit in sun_path"), "{}", e.message());
        let e = parse(format!("unix:@{}", path).as_bytes()).expect_err("accepted");
        assert_eq!(e.errno.0, libc::ENAMETOOLONG);
        assert!(e.message().ends_with(": abstract name is 108 bytes, at most 107 fit in sun_path"), "{}", e.message());
    }

    #[test]
    fn never_panics_on_noise() {
        // A cheap in-tree fuzz: every prefix and many mutations of tricky inputs.
        let seeds: [&[u8]; 6] = [b"tcp6://[fe80::1%3]:65535", b"unix:@x", b"[::]:0", b"udp4://*:1", b"::::", b"[[]]:]:"];
        let mut x: u32 = 1;
        for s in seeds {
            for end in 0..=s.len() {
                let _ = parse(&s[..end]);
            }
            for _ in 0..2000 {
                let mut v = s.to_vec();
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                let i = (x as usize >> 8) % v.len();
                v[i] = (x >> 16) as u8;
                let _ = parse(&v);
            }
        }
    }
}
