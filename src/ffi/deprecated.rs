//! The C names kept for programs written against an earlier header. Each
//! is the same function or type under its new name; new code uses the new
//! one. They stay exported (and declared in the header) so that existing C
//! and Go programs build and link unchanged; docs/c-api.md lists them.

use core::ffi::{c_char, c_int};

use super::daemon::*;

/// Deprecated name of `gracefd_daemon_opts` (options for gracefd_daemonize()),
/// from before every options handle was called `gracefd_<capability>_opts`.
pub type gracefd_daemon = gracefd_daemon_opts;

/// Deprecated name of gracefd_daemon_opts_new(); the same function.
#[no_mangle]
pub extern "C" fn gracefd_daemon_new() -> *mut gracefd_daemon {
    gracefd_daemon_opts_new()
}

/// Deprecated name of gracefd_daemon_opts_free(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_free().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_free(opts: *mut gracefd_daemon) {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_free(opts) }
}

/// Deprecated name of gracefd_daemon_opts_set_pid_file(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_pid_file().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_pid_file(opts: *mut gracefd_daemon, path: *const c_char) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_pid_file(opts, path) }
}

/// Deprecated name of gracefd_daemon_opts_set_workdir(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_workdir().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_workdir(opts: *mut gracefd_daemon, path: *const c_char) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_workdir(opts, path) }
}

/// Deprecated name of gracefd_daemon_opts_set_umask(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_umask().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_umask(opts: *mut gracefd_daemon, mask: u32) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_umask(opts, mask) }
}

/// Deprecated name of gracefd_daemon_opts_set_log_file(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_log_file().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_log_file(opts: *mut gracefd_daemon, path: *const c_char) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_log_file(opts, path) }
}

/// Deprecated name of gracefd_daemon_opts_set_user(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_user().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_user(opts: *mut gracefd_daemon, user: *const c_char) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_user(opts, user) }
}

/// Deprecated name of gracefd_daemon_opts_set_group(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_group().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_group(opts: *mut gracefd_daemon, group: *const c_char) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_group(opts, group) }
}

/// Deprecated name of gracefd_daemon_opts_set_nofile(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_nofile().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_nofile(opts: *mut gracefd_daemon, soft: u64, hard: u64) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_nofile(opts, soft, hard) }
}

/// Deprecated name of gracefd_daemon_opts_set_timeout_ms(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_timeout_ms().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_timeout_ms(opts: *mut gracefd_daemon, timeout_ms: i64) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_timeout_ms(opts, timeout_ms) }
}

/// Deprecated name of gracefd_daemon_opts_set_mode(); the same function.
///
/// # Safety
/// As gracefd_daemon_opts_set_mode().
#[no_mangle]
pub unsafe extern "C" fn gracefd_daemon_set_mode(opts: *mut gracefd_daemon, mode: c_int) -> c_int {
    // SAFETY: forwarded as received; the same function's contract.
    unsafe { gracefd_daemon_opts_set_mode(opts, mode) }
}
