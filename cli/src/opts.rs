//! The options of `gracefd run` (and of `start_server`, which is `run` with
//! start_server's spelling and defaults), parsed into [`RunOptions`]: text
//! to numbers, durations and paths here; every rule on the values is the
//! core's (its checked setters), whose refusal becomes a usage error.

use std::path::{Path, PathBuf};

use crate::args::{self, shown, Parsed, Spec, UsageError};
use crate::usage;
pub use gracefd::__cli::supervise::options::{ListenSpec, LogTarget, ReadyRule, RunOptions};
// The defaults and bounds are the supervisor's (declared once, there).
pub use gracefd::__cli::supervise::options::{DEFAULT_AUTO_RESTART_MS, DEFAULT_READY, DEFAULT_RESPAWN_DELAY_MS};

const fn o(name: &'static str) -> Spec {
    Spec { name, value: true }
}
const fn f(name: &'static str) -> Spec {
    Spec { name, value: false }
}


/// Short options of `gracefd run` (`-n 4` is `--workers 4`).
pub const RUN_SHORTS: [(&str, &str); 1] = [("-n", "workers")];

/// Options of `gracefd run`.
pub const RUN_SPECS: [Spec; 33] = [
    o("listen"),
    o("port"),
    o("path"),
    o("backlog"),
    o("ready"),
    o("ready-timeout"),
    o("interval"),
    o("signal-on-hup"),
    o("signal-on-term"),
    o("kill-old-delay"),
    o("stop-timeout"),
    o("respawn-delay"),
    o("respawn-delay-max"),
    f("enable-auto-restart"),
    o("auto-restart-interval"),
    o("pid-file"),
    o("status-file"),
    o("log-file"),
    f("daemonize"),
    o("dir"),
    o("env"),
    o("envdir"),
    o("control-socket"),
    f("verbose"),
    o("workers"),
    f("rolling"),
    o("settle"),
    f("init"),
    o("nofile"),
    o("user"),
    o("group"),
    f("help"),
    f("version"),
];

/// Which face parsed the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    /// `gracefd run`.
    Run,
    /// `start_server` (argv[0]).
    StartServer,
}

/// Make `p` absolute against the current directory (not canonicalized: a
/// symbolic link such as `/srv/app/current` is followed anew at each use).
pub fn absolute(p: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let path = Path::new(std::ffi::OsStr::from_bytes(p));
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    }
}

fn path_opt(p: &Parsed, name: &str) -> Result<Option<PathBuf>, UsageError> {
    match p.last(name) {
        None => Ok(None),
        Some([]) => Err(usage!("--{} \"\": the path is empty", name)),
        Some(v) if v.contains(&0) => Err(usage!("--{} {}: contains NUL", name, shown(v))),
        Some(v) => Ok(Some(absolute(v))),
    }
}

/// `--listen [NAME=]ADDR`: the part before the first `=` is a name when it
/// has no `:` or `/` (which addresses have).
pub fn listen_spec(v: &[u8]) -> Result<ListenSpec, UsageError> {
    let (name, addr) = match v.iter().position(|&b| b == b'=') {
        Some(eq) => {
            let head = v.get(..eq).unwrap_or(&[]);
            if !head.is_empty() && !head.contains(&b':') && !head.contains(&b'/') && !head.contains(&b'[') {
                (Some(head.to_vec()), v.get(eq + 1..).unwrap_or(&[]).to_vec())
            } else {
                (None, v.to_vec())
            }
        }
        None => (None, v.to_vec()),
    };
    if let Some(n) = &name {
        gracefd::__cli::registry::validate_name(n).map_err(|e| usage!("--listen {}: {}", shown(v), e))?;
    }
    gracefd::__cli::proto::addr::parse(&addr).map_err(|e| usage!("--listen {}: {}", shown(v), e))?;
    Ok(ListenSpec { opt: "listen", given: v.to_vec(), name, addr, starter_key: None, unix_mode: None })
}

/// start_server's `--port`: `PORT`, `HOST:PORT`, `[V6]:PORT`, with `u` before
/// the port for UDP. A bare port binds IPv4 `0.0.0.0` (start_server's rule);
/// an IPv6 one is IPv6-only (as start_server sets `IPV6_V6ONLY`). The
/// `SERVER_STARTER_PORT` key is what start_server would write.
pub fn port_spec(v: &[u8]) -> Result<ListenSpec, UsageError> {
    let text = String::from_utf8_lossy(v).trim().to_string();
    let bad = |why: &str| usage!("--port {}: {}", shown(v), why);
    if let Some((_, fd)) = text.rsplit_once('=') {
        if !fd.is_empty() && fd.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!(
                "placing the socket at a chosen fd (={}) is not supported: gracefd passes sockets at fds 3, 4, ... in order (LISTEN_FDS) and names each fd in SERVER_STARTER_PORT",
                fd
            )));
        }
    }
    let (host, port_part) = if text.bytes().all(|b| b.is_ascii_digit()) || (text.starts_with('u') && text.len() > 1 && text[1..].bytes().all(|b| b.is_ascii_digit())) {
        (None, text.as_str())
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (Some(h), p),
            None => return Err(bad("expected PORT, HOST:PORT or [IPV6]:PORT (u before the port for UDP)")),
        }
    };
    let (udp, port) = match port_part.strip_prefix('u') {
        Some(p) => (true, p),
        None => (false, port_part),
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the port is not a number"));
    }
    let (key, addr) = match host {
        None => (port.to_string(), format!("{}://0.0.0.0:{}", if udp { "udp4" } else { "tcp4" }, port)),
        Some(h) if h.starts_with('[') => (format!("{}:{}", h, port), format!("{}://{}:{}", if udp { "udp6" } else { "tcp6" }, h, port)),
        Some(h) if h.contains(':') => return Err(bad("an IPv6 address needs brackets, as in [::1]:8080")),
        Some(h) => (format!("{}:{}", h, port), format!("{}://{}:{}", if udp { "udp" } else { "tcp" }, h, port)),
    };
    gracefd::__cli::proto::addr::parse(addr.as_bytes()).map_err(|e| usage!("--port {}: {}", shown(v), e))?;
    Ok(ListenSpec { opt: "port", given: v.to_vec(), name: None, addr: addr.into_bytes(), starter_key: Some(key.into_bytes()), unix_mode: None })
}

/// start_server's `--path`: a unix socket, mode 0777 as start_server creates it.
pub fn path_spec(v: &[u8]) -> Result<ListenSpec, UsageError> {
    if v.is_empty() || v.first() == Some(&b'@') {
        return Err(usage!("--path {}: expected a filesystem path", shown(v)));
    }
    let mut addr = b"unix:".to_vec();
    addr.extend_from_slice(v);
    gracefd::__cli::proto::addr::parse(&addr).map_err(|e| usage!("--path {}: {}", shown(v), e))?;
    Ok(ListenSpec { opt: "path", given: v.to_vec(), name: None, addr, starter_key: Some(v.to_vec()), unix_mode: Some(0o777) })
}

/// `--nofile SOFT[:HARD]`: the numbers (their bounds are the core's).
pub fn nofile_spec(v: &[u8]) -> Result<(u64, Option<u64>), UsageError> {
    let text = String::from_utf8_lossy(v);
    let (soft, hard) = match text.split_once(':') {
        Some((s, h)) => (s, Some(h)),
        None => (text.as_ref(), None),
    };
    let bad = |_| usage!("--nofile {}: expected SOFT or SOFT:HARD (numbers of open files)", shown(v));
    let soft = args::number("nofile", soft.as_bytes()).map_err(bad)?;
    let hard = hard.map(|h| args::number("nofile", h.as_bytes())).transpose().map_err(bad)?;
    Ok((soft, hard))
}

fn log_target(v: &[u8]) -> Result<LogTarget, UsageError> {
    let text = String::from_utf8_lossy(v);
    let t = text.trim_start();
    if let Some(cmd) = t.strip_prefix('|') {
        let cmd = cmd.trim_start();
        if cmd.is_empty() {
            return Err(usage!("--log-file {}: no command after '|'", shown(v)));
        }
        return Ok(LogTarget::Pipe(cmd.as_bytes().to_vec()));
    }
    if v.is_empty() {
        return Err(usage!("--log-file \"\": the path is empty"));
    }
    Ok(LogTarget::File(absolute(v)))
}

/// An environment variable as start_server reads it (`ENVDIR`, …), when the
/// option is not given.
fn env_fallback(face: Face, key: &[u8]) -> Option<Vec<u8>> {
    if face != Face::StartServer {
        return None;
    }
    gracefd::__cli::startup::get().var(key).filter(|v| !v.is_empty()).map(<[u8]>::to_vec)
}

/// The core's refusal of a value, as a usage error (its message already
/// names the option and the value).
pub fn refused(e: gracefd::Error) -> UsageError {
    usage!("{}", e)
}

/// Build [`RunOptions`] from parsed arguments: text to typed values here,
/// every value and combination rule in the core's setters.
pub fn run_options(p: &Parsed, face: Face) -> Result<RunOptions, UsageError> {
    let mut o = RunOptions::default();
    for (name, v) in &p.opts {
        match *name {
            "listen" => o.listen.push(listen_spec(v)?),
            "port" => o.listen.push(port_spec(v)?),
            "path" => o.listen.push(path_spec(v)?),
            _ => {}
        }
    }
    if let Some(v) = p.last("backlog") {
        o.set_backlog(args::number("backlog", v)?).map_err(refused)?;
    }
    let interval = p.last("interval").map(|v| args::secs("interval", v)).transpose()?;
    o.ready = match p.last("ready") {
        Some(v) => ReadyRule::parse("ready", v).map_err(refused)?,
        None => interval.map(ReadyRule::Interval).unwrap_or(DEFAULT_READY),
    };
    if let Some(v) = p.last("ready-timeout") {
        o.set_ready_timeout_ms(args::secs("ready-timeout", v)?).map_err(refused)?;
    }
    if let Some(v) = p.last("signal-on-hup") {
        o.set_signal_on_hup(args::signal_number("signal-on-hup", v)?).map_err(refused)?;
    }
    if let Some(v) = p.last("signal-on-term") {
        o.set_signal_on_term(args::signal_number("signal-on-term", v)?).map_err(refused)?;
    }

    let auto_enabled = p.has("enable-auto-restart")
        || env_fallback(face, b"ENABLE_AUTO_RESTART").is_some_and(|v| v != b"0");
    let auto_interval = match p.last("auto-restart-interval") {
        Some(v) => Some(args::secs("auto-restart-interval", v)?),
        None => match env_fallback(face, b"AUTO_RESTART_INTERVAL") {
            Some(v) => Some(args::secs("auto-restart-interval (from AUTO_RESTART_INTERVAL)", &v)?),
            None => None,
        },
    };
    // Two spellings of one setting (the flag and its interval): the command line's rule.
    if auto_interval.is_some() && !auto_enabled {
        return Err(usage!("--auto-restart-interval needs --enable-auto-restart"));
    }
    o.set_auto_restart_ms(auto_enabled.then(|| auto_interval.unwrap_or(DEFAULT_AUTO_RESTART_MS))).map_err(refused)?;
    o.kill_old_delay_ms = match p.last("kill-old-delay") {
        Some(v) => args::secs("kill-old-delay", v)?,
        None => match env_fallback(face, b"KILL_OLD_DELAY") {
            Some(v) => args::secs("kill-old-delay (from KILL_OLD_DELAY)", &v)?,
            None if auto_enabled => 5_000,
            None => 0,
        },
    };
    if let Some(v) = p.last("stop-timeout") {
        o.stop_timeout_ms = args::secs("stop-timeout", v)?;
    }
    let first = match p.last("respawn-delay") {
        Some(v) => args::secs("respawn-delay", v)?,
        None => interval.unwrap_or(DEFAULT_RESPAWN_DELAY_MS),
    };
    let max = p.last("respawn-delay-max").map(|v| args::secs("respawn-delay-max", v)).transpose()?;
    o.set_respawn_delays(first, max).map_err(refused)?;

    o.log_file = p.last("log-file").map(log_target).transpose()?;
    o.daemonize = p.has("daemonize");
    if face == Face::StartServer {
        o.check_start_server().map_err(refused)?;
    }
    for v in p.all("env") {
        o.add_env(v).map_err(refused)?;
    }
    o.envdir = match path_opt(p, "envdir")? {
        Some(d) => Some(d),
        None => env_fallback(face, b"ENVDIR").map(|v| absolute(&v)),
    };
    o.set_command(p.rest.clone()).map_err(|e| {
        if p.rest.is_empty() || p.rest.first().is_some_and(|c| c.is_empty()) {
            usage!("{}: {} [options] -- COMMAND [ARGS...]", e, if face == Face::Run { "gracefd run" } else { "start_server" })
        } else {
            refused(e)
        }
    })?;
    if let Some(v) = p.last("workers") {
        o.set_workers(args::number("workers", v)?).map_err(refused)?;
    }
    o.settle_ms = p.last("settle").map(|v| args::secs("settle", v)).transpose()?.unwrap_or(0);
    o.set_nofile(p.last("nofile").map(nofile_spec).transpose()?).map_err(refused)?;
    o.set_user(p.last("user")).map_err(refused)?;
    o.set_group(p.last("group")).map_err(refused)?;
    // PID 1 has duties whether asked or not (a container's first process).
    o.init = p.has("init") || gracefd::__cli::sys::process::getpid() == 1;
    o.pid_file = path_opt(p, "pid-file")?;
    o.status_file = path_opt(p, "status-file")?;
    o.dir = path_opt(p, "dir")?;
    o.control_socket = path_opt(p, "control-socket")?;
    o.verbose = p.has("verbose");
    o.rolling = p.has("rolling");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{parse, Style};
    use gracefd::__cli::supervise::options::MIN_RESPAWN_DELAY_MS;

    fn run(args: &[&str]) -> Result<RunOptions, UsageError> {
        let a: Vec<Vec<u8>> = args.iter().map(|s| s.as_bytes().to_vec()).collect();
        run_options(&parse(&a, &RUN_SPECS, Style::default())?, Face::Run)
    }

    #[test]
    fn defaults() {
        let o = run(&["--", "srv"]).unwrap();
        assert_eq!(o.ready, ReadyRule::Interval(1000));
        assert_eq!(o.ready_timeout_ms, 60_000);
        assert_eq!(o.signal_on_hup, libc::SIGTERM);
        assert_eq!(o.kill_old_delay_ms, 0);
        assert_eq!(o.respawn_delay_ms, 1000);
        assert_eq!(o.command, vec![b"srv".to_vec()]);
    }

    #[test]
    fn listen_forms() {
        let l = listen_spec(b"web=127.0.0.1:80").unwrap();
        assert_eq!((l.name.as_deref(), l.addr.as_slice()), (Some(&b"web"[..]), &b"127.0.0.1:80"[..]));
        let l = listen_spec(b"unix:/tmp/a=b").unwrap();
        assert_eq!((l.name, l.addr.as_slice()), (None, &b"unix:/tmp/a=b"[..]));
        let l = listen_spec(b"[::1]:80").unwrap();
        assert!(l.name.is_none());
        let e = listen_spec(b"web=127.0.0.1:99999").unwrap_err();
        assert!(e.0.starts_with("--listen \"web=127.0.0.1:99999\": ") && e.0.contains("99999"), "{}", e);
    }

    #[test]
    fn start_server_ports() {
        let p = port_spec(b"8080").unwrap();
        assert_eq!((p.addr.as_slice(), p.starter_key.as_deref()), (&b"tcp4://0.0.0.0:8080"[..], Some(&b"8080"[..])));
        let p = port_spec(b"127.0.0.1:80").unwrap();
        assert_eq!((p.addr.as_slice(), p.starter_key.as_deref()), (&b"tcp://127.0.0.1:80"[..], Some(&b"127.0.0.1:80"[..])));
        let p = port_spec(b"[::1]:80").unwrap();
        assert_eq!(p.addr.as_slice(), &b"tcp6://[::1]:80"[..]);
        let p = port_spec(b"u53").unwrap();
        assert_eq!((p.addr.as_slice(), p.starter_key.as_deref()), (&b"udp4://0.0.0.0:53"[..], Some(&b"53"[..])));
        let p = port_spec(b"localhost:u53").unwrap();
        assert_eq!(p.addr.as_slice(), &b"udp://localhost:53"[..]);
        for bad in ["80=5", "x", "a.b:c", "::1:80", "99999", "example.com:80"] {
            let e = port_spec(bad.as_bytes()).unwrap_err();
            assert!(e.0.starts_with("--port "), "{}", e);
        }
        let p = path_spec(b"/tmp/x.sock").unwrap();
        assert_eq!((p.addr.as_slice(), p.unix_mode), (&b"unix:/tmp/x.sock"[..], Some(0o777)));
    }

    #[test]
    fn interval_sets_ready_and_respawn() {
        let o = run(&["--interval", "2", "--", "x"]).unwrap();
        assert_eq!((o.ready, o.respawn_delay_ms), (ReadyRule::Interval(2000), 2000));
        let o = run(&["--interval", "2", "--ready", "notify", "--", "x"]).unwrap();
        assert_eq!(o.ready, ReadyRule::Notify);
        let o = run(&["--interval", "0", "--", "x"]).unwrap();
        assert_eq!((o.ready, o.respawn_delay_ms), (ReadyRule::Interval(0), MIN_RESPAWN_DELAY_MS));
    }

    #[test]
    fn errors_name_option_and_value() {
        let cases: [(&[&str], &str); 9] = [
            (&["--ready", "soon", "--", "x"], "--ready \"soon\""),
            (&["--ready", "interval:x", "--", "x"], "--ready \"interval:x\""),
            (&["--ready-timeout", "-1", "--", "x"], "--ready-timeout \"-1\""),
            (&["--signal-on-hup", "NOPE", "--", "x"], "--signal-on-hup \"NOPE\""),
            (&["--backlog", "0", "--", "x"], "--backlog \"0\""),
            (&["--env", "FOO", "--", "x"], "--env \"FOO\""),
            (&["--respawn-delay", "5", "--respawn-delay-max", "1", "--", "x"], "--respawn-delay-max \"1\""),
            (&["--auto-restart-interval", "5", "--", "x"], "--auto-restart-interval"),
            (&[], "no command given"),
        ];
        for (a, want) in cases {
            let e = run(a).unwrap_err();
            assert!(e.0.contains(want), "{:?}: {}", a, e);
        }
    }

    #[test]
    fn auto_restart_defaults() {
        let o = run(&["--enable-auto-restart", "--", "x"]).unwrap();
        assert_eq!((o.auto_restart_ms, o.kill_old_delay_ms), (Some(360_000), 5000));
    }
}
