//! export-exec: listen on NAME=ADDRESS pairs through the registry, then run a
//! program with every registry entry passed the way an upgrade passes them:
//! fds 3, 4, … with `LISTEN_FDS`, `LISTEN_PID` (the child's own pid, written
//! after fork) and `LISTEN_FDNAMES` — systemd's protocol.
//!
//! ```text
//! export-exec web=127.0.0.1:8080 -=unix:/tmp/x.sock -- program args...
//! ```
//!
//! A NAME of `-` is unnamed (`unknown` in `LISTEN_FDNAMES`). Prints one line
//! per exported fd (`export INDEX NAME ino=INODE`) on stdout before it runs
//! the program, and exits with the program's status.
//!
//! This is a test tool for the listener registry (`make check` uses it to
//! show a libsystemd child receives from gracefd exactly what systemd would
//! give it); the upgrade code does the same with its own fork/exec plan.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use gracefd::listeners::{listen, ListenOptions};
use gracefd::registry;
use gracefd::sys::{fd, process};

fn die(msg: &str) -> ! {
    eprintln!("export-exec: {}", msg);
    std::process::exit(2)
}

fn main() {
    let args: Vec<Vec<u8>> = std::env::args_os().skip(1).map(|a| a.as_bytes().to_vec()).collect();
    let split = args.iter().position(|a| a == b"--").unwrap_or_else(|| die("usage: export-exec NAME=ADDRESS... -- PROGRAM ARGS..."));
    let (pairs, rest) = args.split_at(split);
    let program = &rest[1..];
    if program.is_empty() {
        die("no program after --");
    }
    for p in pairs {
        let eq = p.iter().position(|&b| b == b'=').unwrap_or_else(|| die("expected NAME=ADDRESS"));
        let (name, addr) = (&p[..eq], &p[eq + 1..]);
        let name = if name == b"-" { None } else { Some(name) };
        // The caller's duplicate is dropped at once: the registry keeps the socket.
        if let Err(e) = listen(name, addr, &ListenOptions::default()) {
            die(&format!("{}: {}", String::from_utf8_lossy(&p[..eq]), e));
        }
    }
    let exported = registry::export_for_child().unwrap_or_else(|e| die(&e.to_string()));
    let mut out = std::io::stdout();
    for (i, x) in exported.iter().enumerate() {
        let ino = fd::fstat(x.fd.raw()).map(|s| s.st_ino).unwrap_or(0);
        writeln!(out, "export {} {} ino={}", i, String::from_utf8_lossy(&x.name), ino).unwrap();
    }
    out.flush().unwrap();

    // Everything the child needs is built before fork.
    let cstr = |b: &[u8]| CString::new(b.to_vec()).unwrap_or_else(|_| die("NUL in an argument"));
    let argv_c: Vec<CString> = program.iter().map(|a| cstr(a)).collect();
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let names: Vec<&[u8]> = exported.iter().map(|x| x.name.as_slice()).collect();
    let mut env_c: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !k.as_bytes().starts_with(b"LISTEN_"))
        .map(|(k, v)| cstr(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    env_c.push(cstr(format!("LISTEN_FDS={}", exported.len()).as_bytes()));
    env_c.push(cstr(&[&b"LISTEN_FDNAMES="[..], &names.join(&b':')].concat()));
    // LISTEN_PID=<digits>: room for 20 digits and the NUL, filled in the child.
    let mut pid_var = [0u8; 11 + 21];
    pid_var[..11].copy_from_slice(b"LISTEN_PID=");
    let pid_ptr = pid_var.as_mut_ptr();
    let mut envp: Vec<*const libc::c_char> = env_c.iter().map(|c| c.as_ptr()).collect();
    envp.push(pid_ptr as *const libc::c_char);
    envp.push(std::ptr::null());
    let srcs: Vec<fd::RawFd> = exported.iter().map(|x| x.fd.raw()).collect();
    let mut scratch = vec![0; srcs.len()];

    // SAFETY: the child only makes async-signal-safe calls until execve.
    let pid = unsafe { process::fork() }.unwrap_or_else(|e| die(&format!("fork: {}", e)));
    if pid == 0 {
        let mut digits = [0u8; 20];
        let d = gracefd::proto::num::fmt_u64(process::getpid() as u64, &mut digits);
        for (i, b) in d.iter().enumerate() {
            // SAFETY: at most 20 digits into the 21 bytes after "LISTEN_PID=" (the last stays NUL).
            unsafe { *pid_ptr.add(11 + i) = *b };
        }
        if fd::dup_into_slots(&srcs, 3, &mut scratch).is_err() {
            process::exit_now(126);
        }
        // SAFETY: NUL-terminated strings and NULL-terminated arrays, built before fork.
        unsafe { process::execve(argv_c[0].as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        process::exit_now(127);
    }
    drop(exported);
    match process::wait(pid) {
        Ok(process::Exit::Code(c)) => std::process::exit(c),
        Ok(process::Exit::Signal(s)) => std::process::exit(128 + s),
        Err(e) => die(&format!("waitpid: {}", e)),
    }
}
