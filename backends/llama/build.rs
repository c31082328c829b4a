//! Makes the ggml backend libraries that llama-cpp-sys-2 built findable at run time.
//!
//! With the `dynamic-backends` feature, ggml's CPU variants (and any GPU backend) are separate
//! `libggml-*.so` modules that the host loads from a directory. This script
//! * exposes the directory they were built into as `SHIMMY_BUILD_BACKENDS_DIR` (a fallback for
//!   development builds),
//! * compiles the ggml RPC backend module (`libggml-rpc.so`, which llama-cpp-sys-2 has no
//!   feature for) from the very ggml source llama-cpp-sys-2 vendors, against the
//!   `libggml-base.so` it built (see [`build_rpc_module`] and docs/scale-out.md), and
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
    if let Some(lib_dir) = dir.parent().map(|out| out.join("lib")) {
        match build_rpc_module(&lib_dir) {
            Ok(module) => {
                let out = module.parent().map(Path::to_path_buf).unwrap_or_default();
                copy_matching(&out, &profile_dir, is_backend_module);
            }
            Err(err) => println!("cargo:warning=libggml-rpc.so not built ({err}); rpc-worker and --rpc will not work"),
        }
    }
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

/// The ggml RPC backend sources, relative to the ggml folder.
const RPC_SOURCES: [&str; 2] = ["src/ggml-rpc/ggml-rpc.cpp", "src/ggml-rpc/transport.cpp"];

/// Compiles `libggml-rpc.so` into OUT_DIR/rpc (unless it is newer than its sources) and
/// returns its path.
///
/// The module is what ggml's `ggml_add_backend_library(ggml-rpc ...)` makes with
/// `GGML_BACKEND_DL=ON BUILD_SHARED_LIBS=ON` (RDMA off): the two sources, compiled with the
/// backend-module defines and linked against the `libggml-base.so` in `lib_dir`. Compiling
/// them directly takes seconds, where a cmake build of ggml would rebuild ggml-base too.
fn build_rpc_module(lib_dir: &Path) -> Result<PathBuf, String> {
    let ggml = ggml_source()?;
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?).join("rpc");
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let module = out.join("libggml-rpc.so");
    let sources: Vec<PathBuf> = RPC_SOURCES.iter().map(|s| ggml.join(s)).collect();
    for source in &sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    let newest_source = sources
        .iter()
        .chain(
            [
                ggml.join("include/ggml-rpc.h"),
                lib_dir.join("libggml-base.so.0"),
            ]
            .iter(),
        )
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max();
    let built = std::fs::metadata(&module).and_then(|m| m.modified()).ok();
    if built.is_some() && built >= newest_source {
        return Ok(module);
    }
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    let tmp = out.join("libggml-rpc.so.tmp");
    let status = std::process::Command::new(&compiler)
        .args(["-std=c++17", "-O2", "-fPIC", "-shared", "-pthread"])
        .args([
            "-DGGML_BACKEND_DL",
            "-DGGML_BACKEND_BUILD",
            "-DGGML_BACKEND_SHARED",
            "-DGGML_SHARED",
            "-DGGML_BUILD",
            "-DNDEBUG",
        ])
        .arg(format!("-I{}", ggml.join("include").display()))
        .arg(format!("-I{}", ggml.join("src").display()))
        .args(&sources)
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lggml-base")
        .arg("-Wl,-soname,libggml-rpc.so")
        .arg("-o")
        .arg(&tmp)
        .status()
        .map_err(|e| format!("running {compiler}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "{compiler} failed ({status}) compiling {}",
            ggml.join("src/ggml-rpc").display()
        ));
    }
    std::fs::rename(&tmp, &module).map_err(|e| format!("moving {}: {e}", tmp.display()))?;
    Ok(module)
}

/// The ggml folder llama-cpp-sys-2 builds: `SHIMMY_GGML_SRC`, else
/// `llama-cpp-sys-2-<version in Cargo.lock>/llama.cpp/ggml` in the cargo registry.
fn ggml_source() -> Result<PathBuf, String> {
    println!("cargo:rerun-if-env-changed=SHIMMY_GGML_SRC");
    if let Some(dir) = std::env::var_os("SHIMMY_GGML_SRC") {
        return Ok(PathBuf::from(dir));
    }
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let lock = manifest
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.is_file())
        .ok_or("no Cargo.lock above the crate; set SHIMMY_GGML_SRC")?;
    let text = std::fs::read_to_string(&lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    let version = text
        .split("[[package]]")
        .find(|p| p.contains("name = \"llama-cpp-sys-2\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or("llama-cpp-sys-2 is not in Cargo.lock; set SHIMMY_GGML_SRC")?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set; set SHIMMY_GGML_SRC")?;
    let registry = cargo_home.join("registry").join("src");
    let candidates =
        std::fs::read_dir(&registry).map_err(|e| format!("{}: {e}", registry.display()))?;
    for index in candidates.flatten() {
        let ggml = index
            .path()
            .join(format!("llama-cpp-sys-2-{version}"))
            .join("llama.cpp")
            .join("ggml");
        if ggml.join(RPC_SOURCES[0]).is_file() {
            return Ok(ggml);
        }
    }
    Err(format!(
        "the ggml source of llama-cpp-sys-2 {version} is not under {}; set SHIMMY_GGML_SRC to its llama.cpp/ggml folder",
        registry.display()
    ))
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
