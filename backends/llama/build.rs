//! Makes the ggml backend libraries that llama-cpp-sys-2 built findable at run time.
//!
//! With the `dynamic-backends` feature, ggml's CPU variants (and any GPU backend) are separate
//! `libggml-*.so` modules that the host loads from a directory. This script
//! * exposes the directory they were built into as `SHIMMY_BUILD_BACKENDS_DIR` (a fallback for
//!   development builds), and
//! * copies them next to the binaries in `target/<profile>/`, which is the default backends
//!   directory, so `target/release/shimmy-host` works with nothing set.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_LLAMA_BACKENDS_DIR");
    let Some(dir) = std::env::var_os("DEP_LLAMA_BACKENDS_DIR").map(PathBuf::from) else {
        println!(
            "cargo:warning=DEP_LLAMA_BACKENDS_DIR not set; backends must be given at run time"
        );
        return;
    };
    println!(
        "cargo:rustc-env=SHIMMY_BUILD_BACKENDS_DIR={}",
        dir.display()
    );
    let Some(profile_dir) = profile_dir() else {
        return;
    };
    copy_matching(&dir, &profile_dir, is_backend_module);
    // llama-cpp-sys-2 links only the unversioned `lib*.so` symlinks next to the binaries,
    // which dangle without the `lib*.so.0` files they point to (and the binary needs those).
    if let Some(lib_dir) = dir.parent().map(|out| out.join("lib")) {
        for target in [
            profile_dir.clone(),
            profile_dir.join("deps"),
            profile_dir.join("examples"),
        ] {
            if target.is_dir() {
                copy_matching(&lib_dir, &target, is_soname_library);
            }
        }
    }
}

/// `libggml-cpu-haswell.so`, `libggml-cuda.so`: loadable backend modules.
fn is_backend_module(name: &str) -> bool {
    name.starts_with("libggml-") && name.ends_with(".so")
}

/// `libllama.so.0`, `libggml-base.so.0`: what the binary's dynamic linker asks for.
fn is_soname_library(name: &str) -> bool {
    name.starts_with("lib") && name.ends_with(".so.0")
}

/// `target/<profile>` derived from OUT_DIR (`target/<profile>/build/<pkg>-<hash>/out`).
fn profile_dir() -> Option<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR")?);
    out.ancestors().nth(3).map(Path::to_path_buf)
}

/// Copies (following symlinks) every file of `from` whose name passes `wanted` into `to`,
/// skipping files that are already there and up to date.
fn copy_matching(from: &Path, to: &Path, wanted: fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if !wanted(name_str) {
            continue;
        }
        let dst = to.join(&name);
        let same = std::fs::metadata(&dst)
            .ok()
            .zip(std::fs::metadata(entry.path()).ok())
            .is_some_and(|(a, b)| a.len() == b.len() && a.modified().ok() >= b.modified().ok());
        if !same {
            let _ = std::fs::remove_file(&dst);
            if let Err(err) = std::fs::copy(entry.path(), &dst) {
                println!(
                    "cargo:warning=could not copy {}: {err}",
                    entry.path().display()
                );
            }
        }
    }
}
