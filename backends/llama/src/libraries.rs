//! Finding the ggml backend libraries (`libggml-cpu-*.so`, `libggml-cuda.so`, ...).
//!
//! Order: an explicit directory (`--backends-dir` / `SHIMMY_BACKENDS_DIR`), then the directory
//! of the running binary, then the directory the build produced them in (development builds).

use std::path::{Path, PathBuf};

use shimmy_core::{Error, Result};

/// The directory llama-cpp-sys-2 built the modules into, recorded by build.rs.
const BUILD_DIR: Option<&str> = option_env!("SHIMMY_BUILD_BACKENDS_DIR");

/// Picks the directory to load backend modules from.
pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if !dir.is_dir() {
            return Err(Error::BackendInit(format!(
                "backends directory {} does not exist; pass the folder holding libggml-cpu-*.so \
                 to --backends-dir (or SHIMMY_BACKENDS_DIR)",
                dir.display()
            )));
        }
        if !has_cpu_module(dir) {
            return Err(Error::BackendInit(format!(
                "no ggml CPU backend (libggml-cpu-*.so) in {}; point --backends-dir \
                 (or SHIMMY_BACKENDS_DIR) at the folder shipped next to shimmy-host",
                dir.display()
            )));
        }
        return Ok(dir.to_path_buf());
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let mut tried = Vec::new();
    for dir in exe_dir.into_iter().chain(BUILD_DIR.map(PathBuf::from)) {
        if has_cpu_module(&dir) {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    }
    Err(Error::BackendInit(format!(
        "no ggml CPU backend (libggml-cpu-*.so) found (looked in: {}); keep the libggml-*.so \
         files next to shimmy-host or pass --backends-dir DIR (or SHIMMY_BACKENDS_DIR)",
        tried.join(", ")
    )))
}

/// The backend modules (`libggml-<name>.so`) present in `dir`, sorted.
pub fn modules_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_backend_module)
        })
        .collect();
    found.sort();
    found
}

fn has_cpu_module(dir: &Path) -> bool {
    modules_in(dir).iter().any(|path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("libggml-cpu"))
    })
}

/// `libggml-cpu-haswell.so`, `libggml-cuda.so`: yes; `libggml-base.so.0`: no (a dependency).
fn is_backend_module(name: &str) -> bool {
    name.starts_with("libggml-") && name.ends_with(".so") && !name.starts_with("libggml-base")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert!(is_backend_module("libggml-cpu-haswell.so"));
        assert!(is_backend_module("libggml-cuda.so"));
        assert!(!is_backend_module("libggml-base.so"));
        assert!(!is_backend_module("libggml.so.0"));
        assert!(!is_backend_module("libllama.so.0"));
    }

    #[test]
    fn explicit_dir_without_cpu_module_is_refused() {
        let dir = std::env::temp_dir();
        let err = resolve_dir(Some(&dir.join("definitely-missing-dir"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
