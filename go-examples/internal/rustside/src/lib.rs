//! One extern "C" function that really uses std (allocation, formatting,
//! a thread, a panic caught across it), so the archive carries std, its
//! allocator, its panic runtime and `rust_eh_personality`.

use std::ffi::{c_char, CStr};
use std::panic;

/// Write "<greeting> from std Rust: <sum of 1..=n, computed on a thread>"
/// into `out` (at most `len` bytes with the NUL) and return its length, or
/// -1 if `greeting` is NULL or the text does not fit.
///
/// # Safety
/// `greeting` is NULL or a NUL-terminated string; `out` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rustside_hello(greeting: *const c_char, n: u64, out: *mut c_char, len: usize) -> i64 {
    if greeting.is_null() || out.is_null() {
        return -1;
    }
    // SAFETY: the caller's promise.
    let g = unsafe { CStr::from_ptr(greeting) }.to_string_lossy().into_owned();
    let sum = std::thread::spawn(move || (1..=n).sum::<u64>()).join().unwrap_or(0);
    // Unwinding works inside this library, whatever the other one does.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {})); // quietly
    let caught = panic::catch_unwind(|| panic!("caught")).is_err();
    panic::set_hook(hook);
    let text = format!("{g} from std Rust: {sum} (panic caught: {caught})");
    if text.len() + 1 > len {
        return -1;
    }
    // SAFETY: out holds len >= text.len() + 1 bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out as *mut u8, text.len());
        *out.add(text.len()) = 0;
    }
    text.len() as i64
}
