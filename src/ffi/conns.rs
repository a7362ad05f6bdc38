//! Connection pass (zero-drain upgrades): the old generation hands its live
//! connections to the new one.

use alloc::vec::Vec;
use core::ffi::c_int;

use super::boundary::{self, run};
use crate::conns;
use crate::err;

/// Connections passed by the older generation wait to be taken with
/// gracefd_conns_next() (posted on the event fd, see gracefd_event_fd()).
pub const GRACEFD_EVENT_CONNS: c_int = 4;
/// Longest state of one passed connection, in bytes.
pub const GRACEFD_CONNS_STATE_MAX: usize = 65536;
/// Most connections per message between the generations (a pass of more is
/// cut into batches of at most this many).
pub const GRACEFD_CONNS_BATCH_MAX: usize = 252;

const _: () = assert!(
    GRACEFD_EVENT_CONNS == crate::events::CONNS
        && GRACEFD_CONNS_STATE_MAX == conns::STATE_MAX
        && GRACEFD_CONNS_BATCH_MAX == conns::BATCH_MAX
);

/// New side: take the connections the older generation passes. Call it
/// before gracefd_ready(): the ready report then tells the old generation
/// that this process takes connections, and a library thread (all signals
/// blocked, no callbacks) receives them after it. Each time connections
/// arrive, `GRACEFD_EVENT_CONNS` is posted on the event fd; take them with
/// gracefd_conns_next(). Without this call the old generation cannot pass
/// anything and drains as before.
///
/// The same holds for a process that took its fds from another one with
/// gracefd_handoff_take(): call this after the take and before
/// gracefd_ready(); the ready report then offers the serving process a
/// channel for its connections (docs/zero-drain.md).
///
/// Returns 1 if this process was started by an upgrade, or took its fds by
/// hand-off and has not reported ready yet (an older generation may pass
/// connections), 0 if not (nothing will arrive; not an error).
/// Never fails. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_conns_enable() -> c_int {
    run(|| Ok(i32::from(conns::enable()?)))
}

/// New side: take the next connection the older generation passed.
///
/// Returns the connection's fd (CLOEXEC, owned by the caller; in the blocking
/// mode the old generation had it in) and writes its tag to `*tag_out` and its
/// state to `state[0..*state_len_out]`. A `state_cap` of
/// `GRACEFD_CONNS_STATE_MAX` always suffices.
///
/// Errors: `-EAGAIN` if none is waiting; `-EMSGSIZE` if the state is longer
/// than `state_cap` (the connection stays queued; the last-error text gives
/// the length); `-EINVAL` if `tag_out` or `state_len_out` is NULL, or `state`
/// is NULL with a non-zero `state_cap`. Out-params are written only on
/// success. Thread-safe.
///
/// # Safety
/// `state` is valid for `state_cap` bytes of writes; the out-params are valid.
#[no_mangle]
pub unsafe extern "C" fn gracefd_conns_next(tag_out: *mut u64, state: *mut u8, state_cap: usize, state_len_out: *mut usize) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let tag_out = unsafe { boundary::out(tag_out, "tag_out") }?;
        // SAFETY: caller's promise.
        let len_out = unsafe { boundary::out(state_len_out, "state_len_out") }?;
        // SAFETY: caller's promise.
        let buf = unsafe { boundary::slice_mut(state, state_cap, "state") }?;
        let Some(p) = conns::next(buf.len())? else {
            return Err(err!(EAGAIN, "no passed connection is waiting"));
        };
        if let Some(dst) = buf.get_mut(..p.state.len()) {
            dst.copy_from_slice(&p.state);
        }
        *tag_out = p.tag;
        *len_out = p.state.len();
        Ok(p.fd.into_raw())
    })
}

/// New side: how many passed connections wait to be taken. Never fails.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_conns_pending() -> c_int {
    run(|| boundary::count(conns::pending()))
}

/// Old side: the pid of the new generation that takes connections (an
/// upgrade finished and the new generation called gracefd_conns_enable(),
/// or gracefd_handoff_process() returned `GRACEFD_HANDOFF_DONE` for a taker
/// that did), else `-ENOTCONN` (or `-EBUSY` while a pass runs). Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_conns_can_pass() -> c_int {
    run(conns::can_pass)
}

/// Old side: pass `n` connections to the new generation, in order, in
/// batches of at most `GRACEFD_CONNS_BATCH_MAX`, waiting at most `timeout_ms`
/// in all (negative: no limit) for it to take them. Connection `i` is
/// `fds[i]`, with tag `tags[i]` (NULL: all 0) and state
/// `state_lens[i]` bytes long (NULL: no state), the states back to back in
/// `states`. Each state is at most `GRACEFD_CONNS_STATE_MAX` bytes. Only a
/// connected stream socket (TCP or unix) can be passed; pass one only when
/// nothing of it is in flight (between requests).
///
/// Ownership: the fds are borrowed. `*passed_out` is ALWAYS written (on
/// success and on failure): the first `*passed_out` connections belong to
/// the new generation now — stop serving them and close your fds (the
/// connection lives on in the new generation). The rest were not passed and
/// are untouched: go on serving them (drain them).
///
/// Returns 0 when all were passed. Errors: `-EINVAL` (nothing passed) for a
/// NULL array with `n > 0`, an fd that is not a connected stream socket, a
/// connection given twice (the same fd, or two fds of one socket), or a
/// state too long; `-ENOTCONN` if no new generation
/// takes connections; `-EBUSY` if another pass runs; `-ETIMEDOUT` if the new
/// generation stalled; `-EPIPE` if it is gone; the errno of a batch it
/// refused (for example `-EBADMSG`, `-ENOBUFS`); `-EBADMSG` if it answered
/// nonsense. After `-ETIMEDOUT`, `-EPIPE` and `-EBADMSG` the channel is
/// closed and further calls return `-ENOTCONN`. Blocks up to `timeout_ms`.
/// Thread-safe (one pass at a time).
///
/// # Safety
/// The arrays are valid for `n` elements (states for the sum of
/// `state_lens`); `passed_out` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn gracefd_conns_pass(
    fds: *const c_int,
    tags: *const u64,
    states: *const u8,
    state_lens: *const u32,
    n: usize,
    timeout_ms: c_int,
    passed_out: *mut usize,
) -> c_int {
    // SAFETY: caller's promise.
    let passed_out = unsafe { boundary::opt_out(passed_out) };
    let mut passed = 0usize;
    let r = run(|| {
        // SAFETY: caller's promise.
        let fds = unsafe { boundary::slice(fds, n, "fds") }?;
        // SAFETY: caller's promise.
        let tags = if tags.is_null() { None } else { Some(unsafe { boundary::slice(tags, n, "tags") }?) };
        // SAFETY: caller's promise.
        let lens = if state_lens.is_null() { None } else { Some(unsafe { boundary::slice(state_lens, n, "state_lens") }?) };
        let total = lens
            .map(|l| l.iter().try_fold(0usize, |acc, &x| acc.checked_add(x as usize)))
            .unwrap_or(Some(0))
            .ok_or_else(|| err!(EINVAL, "state_lens add up to more than memory holds"))?;
        // SAFETY: caller's promise (states holds the sum of state_lens).
        let states = unsafe { boundary::slice(states, total, "states") }?;
        let mut items = Vec::with_capacity(n);
        let mut at = 0usize;
        for (i, &fd) in fds.iter().enumerate() {
            let len = lens.and_then(|l| l.get(i)).map(|&x| x as usize).unwrap_or(0);
            // In bounds: `total` is the sum of the lengths (checked above).
            let state = states.get(at..at.saturating_add(len)).ok_or_else(|| err!(EINVAL, "state {} lies outside states", i))?;
            at = at.saturating_add(len);
            items.push(conns::Item { fd, tag: tags.and_then(|t| t.get(i)).copied().unwrap_or(0), state });
        }
        let (k, res) = conns::pass(&items, i64::from(timeout_ms));
        passed = k;
        res.map(|()| 0)
    });
    if let Some(p) = passed_out {
        *p = passed;
    }
    r
}

/// Old side: pass one connection (see gracefd_conns_pass(); `state` may be
/// NULL when `state_len` is 0). Returns 0 when it was passed — close your fd
/// and stop serving it — or a negative errno as gracefd_conns_pass() (the
/// connection is still yours). Thread-safe.
///
/// # Safety
/// `state` is valid for `state_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn gracefd_conns_pass_one(fd: c_int, tag: u64, state: *const u8, state_len: usize, timeout_ms: c_int) -> c_int {
    run(|| {
        // SAFETY: caller's promise.
        let state = unsafe { boundary::slice(state, state_len, "state") }?;
        let (_, res) = conns::pass(&[conns::Item { fd, tag, state }], i64::from(timeout_ms));
        res.map(|()| 0)
    })
}

/// Old side: close the channel to the new generation once nothing more will
/// be passed (its receiving thread ends). Exiting does the same. Called
/// while a pass runs on another thread, it closes the channel when that pass
/// ends. Returns 0. Thread-safe.
#[no_mangle]
pub extern "C" fn gracefd_conns_release() -> c_int {
    conns::release();
    0
}
