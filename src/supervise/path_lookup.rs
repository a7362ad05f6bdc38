//! Finding the program to run, as `execvp` would (the library's `Spawn`
//! execs a path and searches nothing): a name with a `/` is used as it is
//! (relative to the working directory the worker starts in); a bare name is
//! looked up in the worker's `PATH`, a relative entry of it in that
//! directory too. Looked up again for every worker, so a
//! deployment that replaces the binary (or switches `--dir`'s symbolic link)
//! takes effect at the next reload.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The default search path when the environment has none (as glibc's execvp).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The executable for `name`, given the worker's `PATH` (None: unset) and
/// the directory it starts in (None: ours). A relative result stays
/// relative: the worker execs it from that directory. The error says what
/// was searched.
pub fn resolve(name: &[u8], path_var: Option<&[u8]>, start_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    if name.is_empty() {
        return Err("the command is empty".into());
    }
    if name.contains(&b'/') {
        return Ok(name.to_vec());
    }
    let search = path_var.unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in search.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut cand = dir.to_vec();
        cand.push(b'/');
        cand.extend_from_slice(name);
        let p = Path::new(std::ffi::OsStr::from_bytes(&cand));
        let p = match start_dir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p.to_path_buf(),
        };
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(cand),
            Ok(m) if m.is_file() => denied = Some(cand),
            _ => {}
        }
    }
    match denied {
        Some(d) => Err(format!("{} is not executable", String::from_utf8_lossy(&d))),
        None => Err(format!("{} not found in PATH={}", String::from_utf8_lossy(name), String::from_utf8_lossy(search))),
    }
}

/// The value of `PATH` a worker gets: the last `PATH=` of `extra` (envdir,
/// `--env`), else gracefd's own.
pub fn worker_path(extra: &[Vec<u8>]) -> Option<&[u8]> {
    extra
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .or_else(|| crate::startup::get().var(b"PATH"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn searches_path() {
        assert_eq!(super::resolve(b"sh", Some(b"/nonexistent:/bin:/usr/bin"), None).unwrap(), b"/bin/sh".to_vec());
        assert_eq!(super::resolve(b"./x", Some(b""), None).unwrap(), b"./x".to_vec());
        let e = super::resolve(b"no-such-program-here", Some(b"/bin"), None).unwrap_err();
        assert!(e.contains("no-such-program-here not found in PATH=/bin"), "{}", e);
        // A relative PATH entry is looked for in the directory the worker starts in.
        assert_eq!(super::resolve(b"sh", Some(b"bin"), Some(std::path::Path::new("/"))).unwrap(), b"bin/sh".to_vec());
        assert!(super::resolve(b"sh", Some(b"bin"), Some(std::path::Path::new("/nonexistent"))).is_err());
        let e = super::resolve(b"passwd", Some(b"/etc"), None).unwrap_err();
        assert!(e.contains("/etc/passwd is not executable"), "{}", e);
    }
}
