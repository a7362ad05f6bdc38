//! The one place raw pointers from C are turned into Rust values.
//!
//! Every check fails with `-EINVAL` and a last-error message naming the
//! argument; nothing here can panic.

use core::ffi::c_char;

use crate::err;
use crate::error::{set_last, Result};

/// Run the body of an ABI function: `Ok(v)` returns `v` (>= 0), `Err(e)` records
/// the message as this thread's last error and returns `-errno`.
pub fn run(f: impl FnOnce() -> Result<i32>) -> i32 {
    match f() {
        Ok(v) => v,
        Err(e) => {
            set_last(&e);
            e.neg()
        }
    }
}

/// A NUL-terminated C string argument, as bytes (without the NUL).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn cstr<'a>(p: *const c_char, what: &str) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(err!(EINVAL, "{} is NULL", crate::msg::Plain(what)));
    }
    // SAFETY: caller promises a NUL-terminated string.
    Ok(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// Like [`cstr`], but NULL is allowed and means "none".
///
/// # Safety
/// As [`cstr`].
pub unsafe fn opt_cstr<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: caller promises a NUL-terminated string.
        Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
    }
}

/// An out-parameter, checked before any work is done so that it can be written
/// only on success.
///
/// # Safety
/// `p` is NULL or valid for writes of `T` for `'a`.
pub unsafe fn out<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    if p.is_null() {
        return Err(err!(EINVAL, "{} is NULL", crate::msg::Plain(what)));
    }
    // SAFETY: non-null and valid by the caller's promise.
    Ok(unsafe { &mut *p })
}

/// An optional out-parameter: NULL means the caller does not want it.
///
/// # Safety
/// `p` is NULL or valid for writes of `T` for `'a`.
pub unsafe fn opt_out<'a, T>(p: *mut T) -> Option<&'a mut T> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null and valid by the caller's promise.
        Some(unsafe { &mut *p })
    }
}

/// A caller's output buffer of `n` bytes (`p` may be NULL only when `n` is 0).
///
/// # Safety
/// `p` is valid for writes of `n` bytes for `'a`.
pub unsafe fn buf_mut<'a>(p: *mut c_char, n: usize, what: &str) -> Result<&'a mut [u8]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(err!(EINVAL, "{} is NULL but its length is {}", what, n));
    }
    // SAFETY: caller promises n writable bytes.
    Ok(unsafe { core::slice::from_raw_parts_mut(p as *mut u8, n) })
}

/// An array argument of `n` elements (`p` may be NULL only when `n` is 0).
///
/// # Safety
/// `p` is valid for reads of `n` elements for `'a`.
pub unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(err!(EINVAL, "{} is NULL but its count is {}", what, n));
    }
    // SAFETY: caller promises n readable elements.
    Ok(unsafe { core::slice::from_raw_parts(p, n) })
}

/// An output array of `n` elements (`p` may be NULL only when `n` is 0),
/// checked before any work is done so that it can be written only on success.
///
/// # Safety
/// `p` is valid for writes of `n` elements for `'a`, and not aliased.
pub unsafe fn slice_mut<'a, T>(p: *mut T, n: usize, what: &str) -> Result<&'a mut [T]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(err!(EINVAL, "{} is NULL but its count is {}", what, n));
    }
    // SAFETY: caller promises n writable elements.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, n) })
}

/// A handle created by [`into_handle`], borrowed.
///
/// # Safety
/// `p` is NULL or a live pointer returned by [`into_handle`] for the same `T`.
pub unsafe fn handle<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    if p.is_null() {
        return Err(err!(EINVAL, "{} is NULL", crate::msg::Plain(what)));
    }
    // SAFETY: caller promises a live handle.
    Ok(unsafe { &mut *p })
}

/// Box a value into an opaque handle for C: NULL if allocation fails (where
/// `Box::new` would abort the host program). Freed by [`free_handle`].
pub fn into_handle<T>(v: T) -> *mut T {
    let layout = core::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        return alloc::boxed::Box::into_raw(alloc::boxed::Box::new(v));
    }
    // SAFETY: a non-zero-size layout for T.
    let p = unsafe { alloc::alloc::alloc(layout) } as *mut T;
    if !p.is_null() {
        // SAFETY: p is fresh, aligned and large enough for a T; Box::from_raw in
        // free_handle frees it with the same layout through the same allocator.
        unsafe { p.write(v) };
    }
    p
}

/// Free a handle; NULL is a no-op.
///
/// # Safety
/// `p` is NULL or a pointer from [`into_handle`] not yet freed.
pub unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: from into_handle, freed once.
        drop(unsafe { alloc::boxed::Box::from_raw(p) });
    }
}

/// A C flag: 0 or 1, `EINVAL` naming `what` otherwise.
pub fn flag(v: core::ffi::c_int, what: &str) -> Result<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(err!(EINVAL, "{} is {}, not 0 or 1", crate::msg::Plain(what), v)),
    }
}

/// Convert a length or count to the C return type, failing with EOVERFLOW.
pub fn count(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| err!(EOVERFLOW, "count {} does not fit in an int", n))
}
