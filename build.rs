//! With feature `header`: regenerate include/gracefd.h with cbindgen from the
//! `src/ffi` module tree. Without it (the normal case): nothing at all, so
//! Rust users of the crate never compile cbindgen.
//!
//! `GRACEFD_HEADER_OUT` redirects the output (the drift check writes to a
//! scratch file and diffs it against the committed header).

fn main() {
    #[cfg(feature = "header")]
    header::generate();
}

#[cfg(feature = "header")]
mod header {
    use std::env;
    use std::path::PathBuf;

    pub fn generate() {
        let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
        let out = env::var_os("GRACEFD_HEADER_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("include/gracefd.h"));
        println!("cargo:rerun-if-env-changed=GRACEFD_HEADER_OUT");
        // The drift check deletes its scratch output first: regenerate when
        // the output is missing, not only when src/ffi changed.
        println!("cargo:rerun-if-changed={}", out.display());
        println!("cargo:rerun-if-changed=src/ffi");
        println!("cargo:rerun-if-changed=cbindgen.toml");

        let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
        let v = |k: &str| env::var(k).expect("version from Cargo.toml");
        let (major, minor, patch) = (v("CARGO_PKG_VERSION_MAJOR"), v("CARGO_PKG_VERSION_MINOR"), v("CARGO_PKG_VERSION_PATCH"));
        let number = major.parse::<u32>().unwrap() * 10000 + minor.parse::<u32>().unwrap() * 100 + patch.parse::<u32>().unwrap();
        config.after_includes = Some(format!(
            "\n/* The version this header describes (Cargo.toml); compare with gracefd_version_number(). */\n\
             #define GRACEFD_VERSION_MAJOR {major}\n\
             #define GRACEFD_VERSION_MINOR {minor}\n\
             #define GRACEFD_VERSION_PATCH {patch}\n\
             #define GRACEFD_VERSION_NUMBER {number}\n\
             #define GRACEFD_VERSION_STRING \"{major}.{minor}.{patch}\"\n"
        ));
        cbindgen::Builder::new()
            .with_config(config)
            .with_src(dir.join("src/ffi/mod.rs"))
            .generate()
            .expect("cbindgen could not generate the header")
            .write_to_file(out);
    }
}
