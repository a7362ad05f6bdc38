//! The library version, taken from Cargo.toml at compile time.

// Indexing is bounded by the loop condition; const fns cannot use `get`.
#[allow(clippy::indexing_slicing)]
const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n: u32 = 0;
    while i < b.len() {
        let d = b[i];
        if d < b'0' || d > b'9' {
            break;
        }
        n = n * 10 + (d - b'0') as u32;
        i += 1;
    }
    n
}

/// Major version (Cargo.toml).
pub(crate) const MAJOR: u32 = parse(env!("CARGO_PKG_VERSION_MAJOR"));
/// Minor version (Cargo.toml).
pub(crate) const MINOR: u32 = parse(env!("CARGO_PKG_VERSION_MINOR"));
/// Patch version (Cargo.toml).
pub(crate) const PATCH: u32 = parse(env!("CARGO_PKG_VERSION_PATCH"));
/// `MAJOR * 10000 + MINOR * 100 + PATCH`, the same composition as `GRACEFD_VERSION_NUMBER`.
pub(crate) const NUMBER: u32 = MAJOR * 10000 + MINOR * 100 + PATCH;
/// `"MAJOR.MINOR.PATCH"` with a terminating NUL, for the C ABI.
pub(crate) const STRING_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The version as `"MAJOR.MINOR.PATCH"`.
pub fn string() -> &'static str {
    STRING_NUL.trim_end_matches('\0')
}

#[cfg(test)]
mod tests {
    #[test]
    fn number_composes_parts() {
        assert_eq!(super::NUMBER, super::MAJOR * 10000 + super::MINOR * 100 + super::PATCH);
        assert_eq!(super::string(), env!("CARGO_PKG_VERSION"));
    }
}
