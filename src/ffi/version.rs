//! The library version (C only: Cargo tells a Rust program which version it built).

use core::ffi::{c_char, c_uint};

/// The library version as `MAJOR * 10000 + MINOR * 100 + PATCH`, which equals
/// `GRACEFD_VERSION_NUMBER` when the header and the archive match.
///
/// Never fails. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_version_number() -> c_uint {
    crate::version::NUMBER
}

/// The library version as a static NUL-terminated `"MAJOR.MINOR.PATCH"` string.
///
/// Never fails; never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_version_string() -> *const c_char {
    crate::version::STRING_NUL.as_ptr() as *const c_char
}
