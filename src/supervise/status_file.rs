//! `--status-file`: start_server's format, one `GENERATION:PID` line per
//! worker that serves or drains (the ready worker and the old ones not yet
//! exited; a worker still starting is not listed), sorted by generation.
//! Written to an unpredictable temporary name created `O_EXCL|O_NOFOLLOW`
//! beside PATH and renamed over it (`crate::safe_path::write_replace`), so
//! a reader never sees a partial file and a link planted in the directory is
//! never followed; removed when gracefd exits. `start_server --restart`
//! (Perl's and gracefd's) waits until the file names only the new generation.

use std::path::Path;

use crate::sys::process::Pid;

/// The file's text for `(generation, pid)` pairs.
pub(crate) fn format(entries: &[(u32, Pid)]) -> String {
    let mut v = entries.to_vec();
    v.sort();
    v.iter().map(|(g, p)| format!("{}:{}\n", g, p)).collect()
}

/// Parse the file's text: the generations listed (lines that are not
/// `N:...` are ignored, as start_server does).
pub(crate) fn generations(text: &str) -> Vec<u32> {
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
pub(crate) fn write(path: &Path, entries: &[(u32, Pid)]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    crate::safe_path::write_replace(path.as_os_str().as_bytes(), format(entries).as_bytes())
        .map_err(|e| std::io::Error::new(std::io::Error::from_raw_os_error(e.errno.0).kind(), e.to_string()))
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

    /// Audit defect 2: the file was written through `PATH.<pid>.tmp`
    /// (predictable, truncating, following links), so a link planted there
    /// had its target overwritten.
    #[test]
    fn planted_links_are_not_followed() {
        let d = std::env::temp_dir().join(format!("gracefd-status-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        let victim = d.join("victim");
        std::fs::write(&victim, "secret").unwrap();
        let p = d.join("status");
        std::os::unix::fs::symlink(&victim, d.join(format!("status.{}.tmp", std::process::id()))).unwrap();
        write(&p, &[(1, 42)]).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret", "the planted link was followed");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1:42\n");
        // A link at the final name is replaced, not written through.
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        write(&p, &[(2, 43)]).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
