//! The library's one ELF constructor (`.init_array`), and the only caller of
//! the modules' load-time functions.
//!
//! It runs before `main` and before any thread exists (Go's runtime
//! included), in every process that links the library: each generation an
//! upgrade starts, every daemon, every program that only sends `READY=1`. So
//! it does only what cannot wait for `main`, in this order:
//!
//! 1. the start-up snapshot (`startup`): the environment, argv and the path
//!    of the executable, read once, while nothing can change them;
//! 2. the fds our starter announced are checked and made CLOEXEC, so that no
//!    child the program starts before it asks the library for them inherits
//!    them: the lineage's own fds (`lineage`: readiness channel, pid file),
//!    a re-exec daemonize launcher's fds (`daemon`), then the inherited
//!    sockets (`registry`, which builds no entry yet: it only protects the
//!    fds it will adopt).
//!
//! The registry's entries, and its messages about rejected fds, wait for
//! the first use.
//!
//! Every program that links the library carries what this file reaches, so
//! that stays small: the snapshot (copies of environ and argv, the exe
//! path), digit scanners, `fcntl`/`fstat`/`getsockopt`, and the initialisers
//! and locks without the log bookkeeping (`sync::Once::call_leaf`,
//! `Mutex::with_leaf`). No `core::fmt`, no log, no error messages: the
//! parsers with their messages, and every warning, run on first use.
//! Check with `nm --size-sort -S` on a program that calls only
//! `gracefd_version_number`, linked with `--gc-sections`.
//!
//! Every function called here also runs on first use, so the
//! library works where the constructor did not run (an unusual loader) or ran
//! after another one (the Go package's), and a module never calls up into
//! this file.

// glibc passes (argc, argv, envp) to .init_array functions; other libcs pass
// nothing, so the arguments are trusted on glibc only.
#[cfg(target_env = "gnu")]
extern "C" fn on_load(argc: libc::c_int, argv: *const *const libc::c_char, _envp: *const *const libc::c_char) {
    let n = usize::try_from(argc).unwrap_or(0);
    crate::startup::capture_at_load(Some((argv, n)));
    adopt_announced_fds();
}

#[cfg(not(target_env = "gnu"))]
extern "C" fn on_load() {
    crate::startup::capture_at_load(None);
    adopt_announced_fds();
}

/// Step 2: the lineage first (the daemon's side asks it whether `LISTEN_PID`
/// names us), then the daemonize launcher's fds, then the inherited sockets.
fn adopt_announced_fds() {
    crate::lineage::init();
    crate::daemon::protect_at_load();
    crate::registry::protect_at_load();
}

#[cfg(target_env = "gnu")]
type Ctor = extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char);
#[cfg(not(target_env = "gnu"))]
type Ctor = extern "C" fn();

#[used]
#[link_section = ".init_array"]
static ON_LOAD: Ctor = on_load;
