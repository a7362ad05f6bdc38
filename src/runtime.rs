//! What a `#![no_std]` staticlib must bring itself: an allocator (libc's
//! malloc, bound here directly: the one exception to "libc only in src/sys")
//! and a panic handler (abort: no panic may unwind across the C ABI, and clippy
//! denies panicking calls in this crate, so this is a last line of defence).

use core::alloc::{GlobalAlloc, Layout};

struct Malloc;

// malloc guarantees alignment for any fundamental type (16 on x86_64/aarch64).
const MALLOC_ALIGN: usize = 16;

// SAFETY: forwards to the C allocator, honouring alignment requests.
unsafe impl GlobalAlloc for Malloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() <= MALLOC_ALIGN && l.align() <= l.size() {
            // SAFETY: plain malloc.
            unsafe { libc::malloc(l.size()) as *mut u8 }
        } else {
            let mut p: *mut libc::c_void = core::ptr::null_mut();
            let align = l.align().max(core::mem::size_of::<usize>());
            // SAFETY: align is a power of two multiple of sizeof(void*).
            if unsafe { libc::posix_memalign(&mut p, align, l.size()) } != 0 {
                return core::ptr::null_mut();
            }
            p as *mut u8
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, _l: Layout) {
        // SAFETY: p came from malloc/posix_memalign.
        unsafe { libc::free(p as *mut libc::c_void) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if l.align() <= MALLOC_ALIGN && l.align() <= new_size {
            // SAFETY: p came from malloc.
            unsafe { libc::realloc(p as *mut libc::c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: fall back to alloc+copy+free with the same contract.
            unsafe {
                let n = self.alloc(Layout::from_size_align_unchecked(new_size, l.align()));
                if !n.is_null() {
                    core::ptr::copy_nonoverlapping(p, n, l.size().min(new_size));
                    self.dealloc(p, l);
                }
                n
            }
        }
    }
}

#[cfg(not(any(test, feature = "std")))]
#[global_allocator]
static ALLOC: Malloc = Malloc;

#[cfg(not(any(test, feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    crate::sys::process::abort()
}
