//! fuzz-parsers: an in-tree mutation fuzzer for every parser of outside input
//! (cargo-fuzz needs a nightly toolchain, which this project's machines cannot
//! fetch). Each target starts from seeds of valid and tricky inputs and applies
//! random mutations (bit flips, byte edits, splices of protocol tokens,
//! truncation, duplication), deterministic per seed.
//!
//! It fails (exit 1) on:
//! - a crash: the crate denies panicking code, and panic=abort turns any panic
//!   into an abort the harness's parent sees;
//! - a hang: one input taking more than 1 s (a watchdog thread aborts);
//! - unbounded allocation: one allocation above 1 MiB, or more than 64 MiB live
//!   (a counting global allocator aborts).
//!
//! ```text
//! fuzz-parsers [--seconds S | --iterations N] [--seed X] [TARGET...]
//! ```
//! Prints one line per target with the executions run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gracefd::proto::{addr, listen_env, notify, num, ready};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
const MAX_ONE: usize = 1 << 20;
const MAX_LIVE: usize = 64 << 20;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > MAX_ONE || LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size() > MAX_LIVE {
            eprintln!("fuzz: allocation of {} bytes (live {}): unbounded allocation", l.size(), LIVE.load(Ordering::Relaxed));
            std::process::abort();
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Progress stamp for the hang watchdog: nanoseconds since start of the current input.
static STARTED_NS: AtomicU64 = AtomicU64::new(0);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const TOKENS: &[&[u8]] = &[
    b":", b"[", b"]", b"=", b";", b"@", b"%", b"/", b"\n", b"\0", b"0", b"65535", b"65536", b"4294967296",
    b"-1", b"unix:", b"tcp6://", b"udp://", b"::", b"127.0.0.1", b"GFD1", b"unknown", b"READY=1", b"MAINPID=",
    b"99999999999999999999999",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(v.len() + 1);
                v.splice(i..i, t.iter().copied());
            }
            5 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            _ if !v.is_empty() && v.len() < 4096 => {
                let a = rng.below(v.len());
                let b = a + rng.below(v.len() - a);
                let piece = v[a..=b.min(v.len() - 1)].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, piece);
            }
            _ => {}
        }
    }
    v
}

type Target = (&'static str, &'static [&'static [u8]], fn(&[u8]));

fn split2(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b'|') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, b""),
    }
}

fn targets() -> Vec<Target> {
    vec![
        ("address", &[b"127.0.0.1:8080", b"[fe80::1%2]:80", b"tcp6://[::]:1", b"unix:@x", b"unix:/run/a.sock", b":0", b"udp4://*:53"], |b| {
            if let Ok(a) = addr::parse(b) {
                let _ = (a.family(), a.sock_type());
            }
        }),
        ("listen_fds", &[b"123|3|web:admin:unknown", b"1|1|", b"7|2147483647|a", b"5|0|::"], |b| {
            // LISTEN_PID|LISTEN_FDS|LISTEN_FDNAMES, our pid 123.
            let (pid, rest) = split2(b);
            let (fds, names) = split2(rest);
            if let Ok(s) = listen_env::parse_systemd(Some(pid), Some(fds), Some(names), 123, 65536) {
                for i in 0..4 {
                    let _ = s.name_of(i);
                }
            }
            let _ = listen_env::fdname_problem(names);
        }),
        ("server_starter_port", &[b"127.0.0.1:80=3;/tmp/x.sock=4", b"[::1]:8080=5", b"8000=3;8000=4", b"/a=b=6"], |b| {
            let _ = listen_env::parse_server_starter_port(b);
            let _ = listen_env::parse_server_starter_generation(b);
        }),
        ("notify_socket", &[b"/run/systemd/notify", b"@abstract", b"relative", b"@"], |b| {
            let _ = notify::parse_socket(b);
        }),
        ("notify_state", &[b"READY=1\nSTATUS=ok", b"RELOADING=1", b"FDSTORE=1\nFDNAME=x", b"=\n"], |b| {
            let _ = notify::validate_state(b);
            let _ = notify::needs_monotonic(b);
            let _ = notify::with_monotonic(b, 42);
            let _ = notify::status(b);
            let _ = notify::validate_fdname(b);
        }),
        ("watchdog", &[b"30000000|123", b"1|", b"0|123", b"18446744073709551615|x"], |b| {
            let (usec, pid) = split2(b);
            let _ = notify::watchdog_usec(Some(usec), if pid.is_empty() { None } else { Some(pid) }, 123);
        }),
        ("gracefd_vars", &[b"5", b"0", b"2147483647", b"-3", b"12x"], |b| {
            let _ = num::parse_u32(b);
            let _ = num::parse_pid(b);
            let _ = num::parse_u64(b);
        }),
        ("ready_frame", &[b"GFD1\x01\0\0\0\0", b"GFD1\x02\x03\0\0\0cannot bind", b"GFD1\x03\x02\0\0\0"], |b| {
            let _ = ready::decode(b);
        }),
        (
            "conns_frame",
            &[
                b"GFDC\x01\x01\0\0\x16\0\0\0\x01\0\0\0\x01\0\0\0\x05\0\0\0\0\0\0\0\x02\0\0\0ab",
                b"GFDC\x01\x02\0\0\x04\0\0\0\x07\0\0\0",
                b"GFDC\x01\x03\0\0\x0a\0\0\0\x01\0\0\0\x4a\0\0\0no",
            ],
            |b| {
                // Every state a decoded batch points at lies inside the frame.
                if let Ok(gracefd::proto::conns::Frame::Batch { entries, .. }) = gracefd::proto::conns::decode(b) {
                    for e in entries {
                        assert!(b.get(e.at..e.at + e.len).is_some(), "state outside the frame");
                    }
                }
                let _ = gracefd::proto::conns::plan(b.iter().map(|&x| usize::from(x) << 9));
            },
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 2.0f64;
    let mut iterations: Option<u64> = None;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut only: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => { i += 1; seconds = args[i].parse().expect("--seconds S"); }
            "--iterations" => { i += 1; iterations = Some(args[i].parse().expect("--iterations N")); }
            "--seed" => { i += 1; seed = args[i].parse().expect("--seed X"); }
            t => only.push(t.to_string()),
        }
        i += 1;
    }
    let start = Instant::now();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        let began = STARTED_NS.load(Ordering::Relaxed);
        let now = start.elapsed().as_nanos() as u64;
        if began != 0 && now.saturating_sub(began) > 1_000_000_000 {
            eprintln!("fuzz: one input ran for more than 1 s: hang");
            std::process::abort();
        }
    });
    let mut total = 0u64;
    for (name, seeds, f) in targets() {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let mut rng = Rng(seed ^ name.len() as u64 ^ 0x5555);
        let t0 = Instant::now();
        let mut n = 0u64;
        for s in seeds.iter() {
            f(s);
        }
        loop {
            if let Some(max) = iterations {
                if n >= max { break; }
            } else if n % 256 == 0 && t0.elapsed().as_secs_f64() >= seconds {
                break;
            }
            let s = seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, s);
            STARTED_NS.store(start.elapsed().as_nanos() as u64 | 1, Ordering::Relaxed);
            f(&input);
            STARTED_NS.store(0, Ordering::Relaxed);
            n += 1;
        }
        total += n;
        println!("fuzz: {:<20} {:>10} executions, no crash, hang or unbounded allocation", name, n);
    }
    println!("fuzz: {} executions in all, {:.1} s", total, start.elapsed().as_secs_f64());
}
