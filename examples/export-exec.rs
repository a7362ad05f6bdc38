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
//! This is a test tool (`make check` uses it to show a libsystemd child
//! receives from gracefd's upgrade exactly what systemd would give it); it
//! starts the child with the library's own upgrade code.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use gracefd::__cli::listeners::{listen, ListenOptions};
use gracefd::__cli::{registry, upgrade};
use gracefd::__cli::sys::{fd, process};

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

    drop(exported);
    // The real upgrade path starts the child: fds at 3.., LISTEN_* and the
    // library's own GRACEFD_* variables (the readiness fd sits after the range).
    let opts = upgrade::UpgradeOptions { exe: Some(program[0].clone()), argv: Some(program.to_vec()), ..Default::default() };
    upgrade::start(&opts).unwrap_or_else(|e| die(&format!("upgrade: {}", e)));
    let pid = upgrade::in_flight_pid().unwrap_or_else(|| die("no child"));
    match process::wait(pid) {
        Ok(process::Exit::Code(c)) => std::process::exit(c),
        Ok(process::Exit::Signal(s)) => std::process::exit(128 + s),
        Err(e) => die(&format!("waitpid: {}", e)),
    }
}
