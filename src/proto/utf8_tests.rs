//! Tests of `proto::utf8`; its parent module includes this file under #[cfg(test)].

use super::*;

fn same_as_core(b: &[u8]) {
    assert_eq!(valid(b), core::str::from_utf8(b).is_ok(), "{:02x?}", b);
    assert_eq!(as_str(b), core::str::from_utf8(b).ok(), "{:02x?}", b);
}

#[test]
fn agrees_with_core_on_every_sequence_of_up_to_three_bytes() {
    same_as_core(b"");
    for a in 0..=255u8 {
        same_as_core(&[a]);
        for b in 0..=255u8 {
            same_as_core(&[a, b]);
            // Every third byte only where the first two could start a valid
            // sequence; the rest is covered by the two-byte prefix failing.
            if !(0x80..0xc0).contains(&a) {
                for c in [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff] {
                    same_as_core(&[a, b, c]);
                }
            }
        }
    }
}

#[test]
fn agrees_with_core_on_four_byte_edges_and_mixed_text() {
    let edges = [0x00u8, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    for a in [0xf0u8, 0xf1, 0xf3, 0xf4, 0xf5, 0xe0, 0xed, 0xee] {
        for b in edges {
            for c in edges {
                for d in edges {
                    same_as_core(&[a, b, c, d]);
                    same_as_core(&[b'x', a, b, c, d, b'y']);
                }
            }
        }
    }
    for s in ["", "plain", "é", "日本語", "🦀 ok", "a\u{10ffff}b", "\u{d7ff}\u{e000}"] {
        same_as_core(s.as_bytes());
        for n in 0..=s.len() {
            assert_eq!(is_char_boundary(s.as_bytes(), n), s.is_char_boundary(n), "{:?} at {}", s, n);
        }
    }
    // A pseudo-random walk over longer inputs, reproducible.
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..20_000 {
        let mut v = Vec::new();
        for _ in 0..(x % 12) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            v.push([b'a', 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0xa6, 0x80, 0xed, 0xa0][(x % 12) as usize]);
        }
        same_as_core(&v);
    }
}
