//! `--status-file`: start_server's format, one `GENERATION:PID` line per
//! worker that serves or drains (the ready worker and the old ones not yet
//! exited; a worker still starting is not listed), sorted by generation.
//! Written to `PATH.<pid>.tmp` and renamed over PATH, so a reader never sees
//! a partial file; removed when gracefd exits. `start_server --restart`
//! (Perl's and gracefd's) waits until the file names only the new generation.

use std::io::Write;
use std::path::{Path, PathBuf};

use gracefd::sys::process::Pid;

/// The file's text for `(generation, pid)` pairs.
pub fn format(entries: &[(u32, Pid)]) -> String {
    let mut v = entries.to_vec();
    v.sort();
    v.iter().map(|(g, p)| format!("{}:{}\n", g, p)).collect()
}

/// Parse the file's text: the generations listed (lines that are not
/// `N:...` are ignored, as start_server does).
pub fn generations(text: &str) -> Vec<u32> {
    let mut g: Vec<u32> = text
        .lines()
        .filter_map(|l| {
            let (n, _) = l.split_once(':')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            n.parse().ok()
        })
        .collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// Write the status file atomically.
pub fn write(path: &Path, entries: &[(u32, Pid)]) -> std::io::Result<()> {
    let mut tmp: PathBuf = path.to_path_buf();
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{}.tmp", gracefd::sys::process::getpid()));
    tmp.set_file_name(name);
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format(entries).as_bytes())?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        let text = format(&[(3, 300), (2, 200)]);
        assert_eq!(text, "2:200\n3:300\n");
        assert_eq!(generations(&text), vec![2, 3]);
        assert_eq!(generations("# note\n7:1\nx:2\n:3\n"), vec![7]);
    }

    #[test]
    fn written_atomically() {
        let d = std::env::temp_dir().join(format!("gracefd-status-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        let p = d.join("status");
        write(&p, &[(1, 42)]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1:42\n");
        write(&p, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
