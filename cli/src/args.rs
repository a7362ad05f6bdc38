//! Command-line parsing shared by every subcommand: long options
//! (`--name VALUE`, `--name=VALUE`), `--` or the first non-option argument
//! ends the options (the rest is the command), and value parsers whose
//! errors name the option and the value.

use std::fmt;

// How values, signals and durations are written in messages: the supervisor's words.
pub use gracefd::__cli::supervise::names::{fmt_secs, shown, signal_by_name, signal_name, signal_names};

/// A usage error: the message names the option and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Build a [`UsageError`]: `usage!("--ready {}: ...", shown(v))`.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)+) => { $crate::args::UsageError(format!($($arg)+)) };
}

/// One accepted option.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Its name without the dashes.
    pub name: &'static str,
    /// Whether it takes a value.
    pub value: bool,
}

/// How permissive the parser is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Accept unique prefixes (`--pid` for `--pid-file`) and a single dash
    /// (`-port=80`), as Perl's Getopt::Long does for start_server.
    pub getopt_long: bool,
    /// Short spellings: `("-n", "workers")` makes `-n 4` and `-n4` mean `--workers 4`.
    pub shorts: &'static [(&'static str, &'static str)],
}

/// What was parsed: options in order, and the command after them.
#[derive(Debug, Default)]
pub struct Parsed {
    /// `(name, value)`; flags have an empty value.
    pub opts: Vec<(&'static str, Vec<u8>)>,
    /// Everything after the options (the command and its arguments).
    pub rest: Vec<Vec<u8>>,
}

impl Parsed {
    /// Whether the flag or option `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| *n == name)
    }

    /// The last value of `name`.
    pub fn last(&self, name: &str) -> Option<&[u8]> {
        self.opts.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v.as_slice())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.opts.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v.as_slice())
    }
}

fn find<'a>(specs: &'a [Spec], name: &str, style: Style) -> Result<&'a Spec, UsageError> {
    if let Some(s) = specs.iter().find(|s| s.name == name) {
        return Ok(s);
    }
    if style.getopt_long && !name.is_empty() {
        let matches: Vec<&Spec> = specs.iter().filter(|s| s.name.starts_with(name)).collect();
        match matches.as_slice() {
            [one] => return Ok(one),
            [] => {}
            many => {
                let names: Vec<String> = many.iter().map(|s| format!("--{}", s.name)).collect();
                return Err(usage!("option --{} is ambiguous ({})", name, names.join(", ")));
            }
        }
    }
    match nearest(specs, name) {
        Some(n) => Err(usage!("unknown option --{} (did you mean --{}? see --help)", name, n)),
        None => Err(usage!("unknown option --{} (see --help)", name)),
    }
}

/// Levenshtein distance (names are short: the quadratic table is fine).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(r0) = row.first_mut() {
            *r0 = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let del = row.get(j + 1).copied().unwrap_or(usize::MAX).saturating_add(1);
            let ins = row.get(j).copied().unwrap_or(usize::MAX).saturating_add(1);
            let sub = prev + usize::from(ca != *cb);
            prev = row.get(j + 1).copied().unwrap_or(0);
            if let Some(r) = row.get_mut(j + 1) {
                *r = del.min(ins).min(sub);
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

/// The known option closest to a misspelt one: within 2 edits (1 for names
/// of up to 3 letters), or one the typed name is a prefix of.
pub fn nearest(specs: &[Spec], name: &str) -> Option<&'static str> {
    let limit = if name.len() <= 3 { 1 } else { 2 };
    let best = specs.iter().map(|s| (distance(name, s.name), s.name)).min_by_key(|(d, _)| *d);
    match best {
        Some((d, n)) if d <= limit => Some(n),
        _ if name.len() >= 3 => specs.iter().find(|s| s.name.starts_with(name)).map(|s| s.name),
        _ => None,
    }
}

/// Parse `args` (without the program name and subcommand).
pub fn parse(args: &[Vec<u8>], specs: &[Spec], style: Style) -> Result<Parsed, UsageError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a.as_slice() == b"--" {
            out.rest = args.get(i + 1..).unwrap_or(&[]).to_vec();
            return Ok(out);
        }
        if let Some((short, long)) = style.shorts.iter().find(|(sh, _)| a.starts_with(sh.as_bytes())) {
            let spec = find(specs, long, style)?;
            let glued = a.get(short.len()..).unwrap_or(&[]);
            let value = if !glued.is_empty() {
                glued.to_vec()
            } else {
                i += 1;
                args.get(i).cloned().ok_or_else(|| usage!("option {} needs a value", short))?
            };
            out.opts.push((spec.name, value));
            i += 1;
            continue;
        }
        let body = if let Some(b) = a.strip_prefix(b"--") {
            b
        } else if style.getopt_long && a.len() > 1 && a.first() == Some(&b'-') {
            a.get(1..).unwrap_or(&[])
        } else {
            // The command starts here (a lone "-" too).
            out.rest = args.get(i..).unwrap_or(&[]).to_vec();
            return Ok(out);
        };
        let (name, inline) = match body.iter().position(|&b| b == b'=') {
            Some(eq) => (body.get(..eq).unwrap_or(&[]), Some(body.get(eq + 1..).unwrap_or(&[]))),
            None => (body, None),
        };
        let name = std::str::from_utf8(name).map_err(|_| usage!("unknown option {}", shown(a)))?;
        let spec = find(specs, name, style)?;
        let value = if spec.value {
            match inline {
                Some(v) => v.to_vec(),
                None => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| usage!("option --{} needs a value", spec.name))?
                }
            }
        } else {
            if inline.is_some() {
                return Err(usage!("option --{} takes no value (got {})", spec.name, shown(a)));
            }
            Vec::new()
        };
        out.opts.push((spec.name, value));
        i += 1;
    }
    Ok(out)
}

/// Seconds, maybe fractional (`1`, `0.25`), to milliseconds: the core's
/// reading (`supervise::names::parse_secs`), its refusal as a usage error.
pub fn secs(opt: &str, v: &[u8]) -> Result<u64, UsageError> {
    gracefd::__cli::supervise::names::parse_secs(opt, v).map_err(|e| usage!("{}", e))
}

/// A plain decimal number from `min` to `max`.
pub fn uint(opt: &str, v: &[u8], min: u64, max: u64) -> Result<u64, UsageError> {
    let n: Option<u64> = if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(v).ok().and_then(|s| s.parse().ok())
    } else {
        None
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(usage!("--{} {}: must be from {} to {}", opt, shown(v), min, max)),
        None => Err(usage!("--{} {}: not a number", opt, shown(v))),
    }
}

/// A plain decimal number (its bounds are for the core's setters to check).
pub fn number(opt: &str, v: &[u8]) -> Result<u64, UsageError> {
    uint(opt, v, 0, u64::MAX)
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number (`15`), not yet
/// range-checked (the core's `check_signal` does that).
pub fn signal_number(opt: &str, v: &[u8]) -> Result<u64, UsageError> {
    let text = String::from_utf8_lossy(v).to_ascii_uppercase();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return number(opt, v);
    }
    signal_by_name(&text)
        .map(|s| s.unsigned_abs().into())
        .ok_or_else(|| usage!("--{} {}: not a signal name (like TERM, QUIT, USR1) or number", opt, shown(v)))
}

/// A signal by name or number, checked by the core (1 to 64).
pub fn signal(opt: &str, v: &[u8]) -> Result<i32, UsageError> {
    gracefd::__cli::supervise::options::check_signal(opt, signal_number(opt, v)?).map_err(|e| usage!("{}", e))
}

/// `KEY=VALUE` for the worker's environment, checked by the core (the
/// variables gracefd sets itself are refused).
pub fn env_entry(opt: &str, v: &[u8]) -> Result<Vec<u8>, UsageError> {
    gracefd::__cli::supervise::options::check_env_entry(opt, v).map_err(|e| usage!("{}", e))?;
    Ok(v.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [Spec; 4] = [
        Spec { name: "port", value: true },
        Spec { name: "pid-file", value: true },
        Spec { name: "daemonize", value: false },
        Spec { name: "path", value: true },
    ];

    fn v(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn options_then_command() {
        let p = parse(&v(&["--port", "80", "--pid-file=/x", "--daemonize", "--", "prog", "--port"]), &SPECS, Style::default()).unwrap();
        assert_eq!(p.last("port"), Some(&b"80"[..]));
        assert_eq!(p.last("pid-file"), Some(&b"/x"[..]));
        assert!(p.has("daemonize"));
        assert_eq!(p.rest, v(&["prog", "--port"]));
        // The first non-option starts the command.
        let p = parse(&v(&["--port=1", "prog", "-x"]), &SPECS, Style::default()).unwrap();
        assert_eq!(p.rest, v(&["prog", "-x"]));
    }

    #[test]
    fn errors_name_the_option() {
        let e = parse(&v(&["--nope"]), &SPECS, Style::default()).unwrap_err();
        assert!(e.0.contains("--nope"), "{}", e);
        let e = parse(&v(&["--port"]), &SPECS, Style::default()).unwrap_err();
        assert!(e.0.contains("--port needs a value"), "{}", e);
        let e = parse(&v(&["--daemonize=1"]), &SPECS, Style::default()).unwrap_err();
        assert!(e.0.contains("takes no value"), "{}", e);
        // No abbreviations or single dash unless getopt_long.
        assert!(parse(&v(&["--pid", "x"]), &SPECS, Style::default()).is_err());
        let p = parse(&v(&["-port=80", "x"]), &SPECS, Style::default()).unwrap();
        assert_eq!(p.rest, v(&["-port=80", "x"]));
    }

    #[test]
    fn getopt_long_style() {
        let g = Style { getopt_long: true, ..Style::default() };
        let p = parse(&v(&["-port=80", "--pid=/x", "--d", "--", "c"]), &SPECS, g).unwrap();
        assert_eq!(p.last("port"), Some(&b"80"[..]));
        assert_eq!(p.last("pid-file"), Some(&b"/x"[..]));
        assert!(p.has("daemonize"));
        let e = parse(&v(&["--p", "1"]), &SPECS, g).unwrap_err();
        assert!(e.0.contains("ambiguous"), "{}", e);
    }

    #[test]
    fn did_you_mean() {
        let e = parse(&v(&["--prot", "1"]), &SPECS, Style::default()).unwrap_err();
        assert!(e.0.contains("did you mean --port?"), "{}", e);
        let e = parse(&v(&["--pidfile", "x"]), &SPECS, Style::default()).unwrap_err();
        assert!(e.0.contains("did you mean --pid-file?"), "{}", e);
        let e = parse(&v(&["--zzzzzz"]), &SPECS, Style::default()).unwrap_err();
        assert!(!e.0.contains("did you mean"), "{}", e);
        assert_eq!(distance("listn", "listen"), 1);
    }

    #[test]
    fn short_options() {
        const SHORTS: [(&str, &str); 1] = [("-p", "port")];
        let st = Style { shorts: &SHORTS, ..Style::default() };
        let p = parse(&v(&["-p", "80", "-p81", "--", "x"]), &SPECS, st).unwrap();
        assert_eq!(p.all("port").collect::<Vec<_>>(), vec![&b"80"[..], &b"81"[..]]);
        assert!(parse(&v(&["-p"]), &SPECS, st).unwrap_err().0.contains("needs a value"));
    }

    #[test]
    fn seconds() {
        assert_eq!(secs("x", b"1"), Ok(1000));
        assert_eq!(secs("x", b"0.25"), Ok(250));
        assert_eq!(secs("x", b"2.5"), Ok(2500));
        assert_eq!(secs("x", b"0.0001"), Ok(1));
        assert_eq!(secs("x", b"0.0010"), Ok(1));
        assert_eq!(secs("x", b"1.2340001"), Ok(1235));
        assert_eq!(secs("x", b"0"), Ok(0));
        for bad in ["", "-1", "1.", ".5", "1e3", "1s", " 1", "0x10", "99999999999"] {
            let e = secs("ready-timeout", bad.as_bytes()).unwrap_err();
            assert!(e.0.starts_with("--ready-timeout "), "{}", e);
        }
        assert_eq!(fmt_secs(1500), "1.5 s");
        assert_eq!(fmt_secs(50), "0.05 s");
        assert_eq!(fmt_secs(3000), "3 s");
    }

    #[test]
    fn signals() {
        assert_eq!(signal("s", b"TERM"), Ok(libc::SIGTERM));
        assert_eq!(signal("s", b"sigusr1"), Ok(libc::SIGUSR1));
        assert_eq!(signal("s", b"3"), Ok(3));
        // The library's table has SIGSYS too.
        assert_eq!(signal("s", b"sys"), Ok(libc::SIGSYS));
        assert!(signal("s", b"65").unwrap_err().0.contains("--s \"65\": must be from 1 to 64"));
        assert!(signal("s", b"0").is_err());
        assert!(signal("s", b"SIGNOPE").unwrap_err().0.contains("SIGNOPE"));
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
    }

    #[test]
    fn env_entries() {
        assert_eq!(env_entry("env", b"A=b=c").unwrap(), b"A=b=c".to_vec());
        assert_eq!(env_entry("env", b"A=").unwrap(), b"A=".to_vec());
        for bad in ["A", "=x", "LISTEN_FDS=3", "SERVER_STARTER_PORT=1=3", "GRACEFD_READY_FD=4", "NOTIFY_SOCKET=/x"] {
            assert!(env_entry("env", bad.as_bytes()).is_err(), "{}", bad);
        }
    }
}
