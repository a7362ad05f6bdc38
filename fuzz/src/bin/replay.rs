//! Replay the committed corpus through every target (a plain build, no
//! AFL++): `replay [CORPUS_DIR]` (default `corpus`, next to Cargo.toml).
//! Each target must have a non-empty `CORPUS_DIR/<target>/`; a crash aborts
//! with the target's name and the file printed first, so it can be replayed alone:
//! `replay --target NAME FILE...`.

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name, files @ ..] = args.as_slice() {
        if flag == "--target" {
            let Some(f) = gracefd_fuzz::by_name(name) else {
                eprintln!("replay: no target {:?}", name);
                std::process::exit(2);
            };
            let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
            match gracefd_fuzz::replay_paths(f, &paths) {
                Ok(n) => println!("replay: {} {} inputs, no crash", name, n),
                Err(e) => {
                    eprintln!("replay: {}", e);
                    std::process::exit(2);
                }
            }
            return;
        }
    }
    let root = args.first().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let mut total = 0;
    for (name, f) in gracefd_fuzz::TARGETS {
        let dir = root.join(name);
        eprintln!("replay: {} ({})", name, dir.display());
        match gracefd_fuzz::replay_paths(*f, std::slice::from_ref(&dir)) {
            Ok(0) => {
                eprintln!("replay: {} has no corpus in {}", name, dir.display());
                std::process::exit(1);
            }
            Ok(n) => {
                println!("replay: {:<16} {:>6} inputs, no crash", name, n);
                total += n;
            }
            Err(e) => {
                eprintln!("replay: {}: {}", name, e);
                std::process::exit(2);
            }
        }
    }
    println!("replay: {} inputs in all, no crash", total);
}
