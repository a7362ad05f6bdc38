//! IP address literals: the strict parser and the canonical text, written
//! here rather than taken from core::net, whose parser and Display bring
//! about 6 KB of code into every C program that listens (see the
//! footprint section of docs/performance.md). They accept, reject and print
//! exactly what core::net does (the tests below compare the two).

use core::fmt;

/// Dotted-quad IPv4: four decimal octets 0..=255 without leading zeros
/// (`010` is octal to inet_aton, so it is refused rather than guessed).
pub fn parse_v4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split(|&b| b == b'.');
    for slot in out.iter_mut() {
        *slot = octet(parts.next()?)?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(out),
    }
}

fn octet(p: &[u8]) -> Option<u8> {
    if p.is_empty() || p.len() > 3 || (p.len() > 1 && p.first() == Some(&b'0')) {
        return None;
    }
    u8::try_from(super::num::parse_u32(p)?).ok()
}

/// IPv6 text (RFC 4291 2.2): eight groups of 1 to 4 hex digits, one `::`
/// standing for at least one zero group, an IPv4 dotted quad in the last
/// 32 bits. No scope (`%`): the caller splits it off.
pub fn parse_v6(s: &[u8]) -> Option<[u8; 16]> {
    let mut head = [0u16; 8];
    let mut tail = [0u16; 8];
    let gap = s.windows(2).position(|w| w == b"::");
    let groups = match gap {
        None => {
            if read_groups(s, &mut head, true)? != 8 {
                return None;
            }
            head
        }
        Some(at) => {
            let h = read_groups(s.get(..at)?, &mut head, false)?;
            let t = read_groups(s.get(at + 2..)?, &mut tail, true)?;
            if h + t > 7 {
                return None;
            }
            let mut all = head;
            for (slot, g) in all.iter_mut().skip(8 - t).zip(tail.iter()) {
                *slot = *g;
            }
            all
        }
    };
    let mut out = [0u8; 16];
    for (pair, g) in out.chunks_exact_mut(2).zip(groups.iter()) {
        pair.copy_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// Colon-separated groups into `out` (an empty text is no group); the last
/// may be a dotted quad (two groups) when `v4_last`. The number of groups,
/// or None for anything malformed or more than eight groups.
fn read_groups(s: &[u8], out: &mut [u16; 8], v4_last: bool) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    let mut pieces = s.split(|&b| b == b':').peekable();
    while let Some(p) = pieces.next() {
        if v4_last && pieces.peek().is_none() && p.contains(&b'.') {
            let [a, b, c, d] = parse_v4(p)?;
            *out.get_mut(n)? = u16::from_be_bytes([a, b]);
            *out.get_mut(n + 1)? = u16::from_be_bytes([c, d]);
            return Some(n + 2);
        }
        *out.get_mut(n)? = hex_group(p)?;
        n += 1;
    }
    Some(n)
}

fn hex_group(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 4 {
        return None;
    }
    let mut v: u16 = 0;
    for &b in p {
        let d = (b as char).to_digit(16)?;
        v = (v << 4) | d as u16;
    }
    Some(v)
}

/// An IPv4 address as dotted decimal.
pub struct Ipv4Shown(pub [u8; 4]);

impl fmt::Display for Ipv4Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &o) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let mut buf = [0u8; 20];
            f.write_str(super::utf8::as_str(super::num::fmt_u64(u64::from(o), &mut buf)).unwrap_or("?"))?;
        }
        Ok(())
    }
}

/// An IPv6 address in the canonical form of RFC 5952 (lowercase, the
/// longest run of two or more zero groups as `::`, the first if tied), and
/// an IPv4-mapped address as `::ffff:a.b.c.d`.
pub struct Ipv6Shown(pub [u8; 16]);

impl fmt::Display for Ipv6Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let group = |i: usize| u16::from_be_bytes([b.get(2 * i).copied().unwrap_or(0), b.get(2 * i + 1).copied().unwrap_or(0)]);
        if let [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, p, q, r, s] = *b {
            f.write_str("::ffff:")?;
            return Ipv4Shown([p, q, r, s]).fmt(f);
        }
        // The longest run of zero groups, the first if tied; a run of one
        // is not shortened (best_len starts at 1, best_at past the end).
        let (mut best_at, mut best_len, mut run) = (8, 1, 0);
        for i in 0..8 {
            if group(i) == 0 {
                run += 1;
                if run > best_len {
                    (best_at, best_len) = (i + 1 - run, run);
                }
            } else {
                run = 0;
            }
        }
        let mut i = 0;
        while i < 8 {
            if i == best_at {
                f.write_str("::")?;
                i += best_len;
                continue;
            }
            if i > 0 && i != best_at + best_len {
                f.write_str(":")?;
            }
            write_hex(f, group(i))?;
            i += 1;
        }
        Ok(())
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, v: u16) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 4];
    let mut start = 4;
    let mut x = v;
    loop {
        start -= 1;
        if let (Some(slot), Some(&d)) = (buf.get_mut(start), DIGITS.get(usize::from(x & 0xf))) {
            *slot = d;
        }
        x >>= 4;
        if x == 0 || start == 0 {
            break;
        }
    }
    f.write_str(super::utf8::as_str(buf.get(start..).unwrap_or(&[])).unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    fn std_v4(s: &[u8]) -> Option<[u8; 4]> {
        Ipv4Addr::from_str(std::str::from_utf8(s).ok()?).ok().map(|a| a.octets())
    }

    fn std_v6(s: &[u8]) -> Option<[u8; 16]> {
        Ipv6Addr::from_str(std::str::from_utf8(s).ok()?).ok().map(|a| a.octets())
    }

    const SEEDS: [&str; 16] = [
        "127.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "1::",
        "fe80::1",
        "1:2:3:4:5:6:7:8",
        "::ffff:192.0.2.1",
        "64:ff9b::192.0.2.33",
        "1:2:3:4:5:6:1.2.3.4",
        "2001:DB8:0:0:8:800:200C:417A",
        "1:0:0:2::3",
        "1::2:3:4:5:6:7",
        ":::",
        "1.2.3.4.5",
    ];

    #[test]
    fn parses_exactly_what_core_net_parses() {
        // Every prefix and many one-byte mutations of tricky literals, with
        // bytes drawn from the alphabet that matters.
        const ALPHABET: &[u8] = b"0123456789abcdefABCDEFgG:.%x ";
        let mut x: u32 = 7;
        let mut checked = 0;
        for s in SEEDS {
            let s = s.as_bytes();
            let mut inputs: Vec<Vec<u8>> = (0..=s.len()).map(|e| s[..e].to_vec()).collect();
            for _ in 0..3000 {
                let mut v = s.to_vec();
                for _ in 0..1 + (x as usize >> 3) % 3 {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    let i = (x as usize >> 8) % v.len();
                    let b = ALPHABET[(x as usize >> 16) % ALPHABET.len()];
                    match (x >> 28) % 3 {
                        0 => v[i] = b,
                        1 => v.insert(i, b),
                        _ => {
                            v.remove(i);
                            if v.is_empty() {
                                v.push(b);
                            }
                        }
                    }
                }
                inputs.push(v);
            }
            for v in inputs {
                assert_eq!(parse_v4(&v), std_v4(&v), "IPv4 {:?}", String::from_utf8_lossy(&v));
                assert_eq!(parse_v6(&v), std_v6(&v), "IPv6 {:?}", String::from_utf8_lossy(&v));
                checked += 1;
            }
        }
        assert!(checked > 40_000);
    }

    #[test]
    fn prints_exactly_what_core_net_prints() {
        let mut x: u64 = 3;
        for round in 0..20_000 {
            // Mostly zero groups, so that runs and ties of every length occur.
            let mut a = [0u8; 16];
            for pair in a.chunks_exact_mut(2) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if (x >> 60) < 6 {
                    pair.copy_from_slice(&((x >> 20) as u16 >> ((x >> 40) % 16)).to_be_bytes());
                }
            }
            if round % 7 == 0 {
                a[..10].fill(0);
                a[10] = 0xff;
                a[11] = 0xff;
            }
            assert_eq!(Ipv6Shown(a).to_string(), Ipv6Addr::from(a).to_string(), "{:?}", a);
            let v4 = [a[12], a[13], a[14], a[15]];
            assert_eq!(Ipv4Shown(v4).to_string(), Ipv4Addr::from(v4).to_string());
        }
        assert_eq!(Ipv6Shown([0; 16]).to_string(), "::");
        assert_eq!(Ipv6Shown(Ipv6Addr::LOCALHOST.octets()).to_string(), "::1");
        assert_eq!(Ipv6Shown(std_v6(b"2001:db8:0:0:1:0:0:1").unwrap()).to_string(), "2001:db8::1:0:0:1");
        assert_eq!(Ipv4Shown([10, 0, 255, 7]).to_string(), "10.0.255.7");
    }
}
