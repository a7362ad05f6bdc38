//! `--envdir DIR` (daemontools' envdir, as start_server reads it): every file
//! whose name does not start with `.` sets the variable of that name to the
//! file's first line (without its newline). An empty file sets nothing
//! (start_server's rule). Read again before each worker starts, so a reload
//! (SIGHUP) picks up changes; the values go to the workers only.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The `KEY=VALUE` entries of `dir`, sorted by key. An error names the
/// directory or the file.
pub fn read(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("--envdir {}: {}", dir.display(), e))?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    for ent in entries {
        let ent = ent.map_err(|e| format!("--envdir {}: {}", dir.display(), e))?;
        let name = ent.file_name();
        let key = name.as_bytes();
        if key.first() == Some(&b'.') || key.contains(&b'=') || key.is_empty() {
            continue;
        }
        let path = ent.path();
        if path.is_dir() {
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| format!("--envdir {}: {}", path.display(), e))?;
        if data.is_empty() {
            continue;
        }
        let first = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
        // A NUL cannot go into the environment; daemontools turns it into a newline.
        let value: Vec<u8> = first.iter().map(|&b| if b == 0 { b'\n' } else { b }).collect();
        let mut e = key.to_vec();
        e.push(b'=');
        e.extend_from_slice(&value);
        if crate::spawn::env_entry_problem(&e, true) == Some(crate::spawn::EnvProblem::Ours) {
            continue;
        }
        out.push(e);
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_first_lines() {
        let d = std::env::temp_dir().join(format!("gracefd-envdir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("FOO"), "bar\nignored\n").unwrap();
        std::fs::write(d.join("EMPTY"), "").unwrap();
        std::fs::write(d.join(".hidden"), "x").unwrap();
        std::fs::write(d.join("NL"), "\n").unwrap();
        std::fs::write(d.join("LISTEN_FDS"), "9").unwrap();
        let got = super::read(&d).unwrap();
        assert_eq!(got, vec![b"FOO=bar".to_vec(), b"NL=".to_vec()]);
        std::fs::remove_dir_all(&d).unwrap();
        let e = super::read(&d).unwrap_err();
        assert!(e.starts_with("--envdir "), "{}", e);
    }
}
