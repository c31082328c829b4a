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

/// Environment variable naming CPU variants never to load, comma separated (e.g.
/// `sapphirerapids`: on some VMs ggml picks `libggml-cpu-sapphirerapids.so` and the first CPU
/// computation dies with SIGILL; see docs/gpu.md).
pub const CPU_EXCLUDE_ENV: &str = "SHIMMY_CPU_VARIANT_EXCLUDE";

/// The CPU variants [`CPU_EXCLUDE_ENV`] excludes (`sapphirerapids`, or the file name
/// `libggml-cpu-sapphirerapids.so`), lower case.
pub fn excluded_cpu_variants() -> Vec<String> {
    std::env::var(CPU_EXCLUDE_ENV)
        .unwrap_or_default()
        .split(',')
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v.strip_prefix("libggml-cpu-")
                .and_then(|v| v.strip_suffix(".so"))
                .map(str::to_string)
                .unwrap_or(v)
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// The directory to hand to ggml: `dir` itself, or, when `excluded` names variants present in
/// it, a fresh folder under the temp dir with links to every other module of `dir`.
pub fn staged_dir(dir: &Path, excluded: &[String]) -> Result<PathBuf> {
    let modules = modules_in(dir);
    let is_excluded = |path: &Path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("libggml-cpu-"))
            .and_then(|n| n.strip_suffix(".so"))
            .is_some_and(|v| excluded.iter().any(|e| e == v))
    };
    if !modules.iter().any(|m| is_excluded(m)) {
        return Ok(dir.to_path_buf());
    }
    let kept: Vec<&PathBuf> = modules.iter().filter(|m| !is_excluded(m)).collect();
    if !kept.iter().any(|m| {
        m.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("libggml-cpu"))
    }) {
        return Err(Error::BackendInit(format!(
            "{CPU_EXCLUDE_ENV} excludes every CPU backend in {}; leave at least one \
             libggml-cpu-*.so",
            dir.display()
        )));
    }
    let staged = std::env::temp_dir().join(format!("shimmy-backends-{}", std::process::id()));
    let stage = || -> std::io::Result<()> {
        if staged.exists() {
            std::fs::remove_dir_all(&staged)?;
        }
        std::fs::create_dir_all(&staged)?;
        for module in &kept {
            if let Some(name) = module.file_name() {
                std::os::unix::fs::symlink(module, staged.join(name))?;
            }
        }
        Ok(())
    };
    stage().map_err(|e| {
        Error::BackendInit(format!(
            "preparing {} without the excluded CPU variants ({CPU_EXCLUDE_ENV}): {e}",
            staged.display()
        ))
    })?;
    Ok(staged)
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
    fn excluded_variants_are_left_out_of_a_staged_dir() {
        let dir = std::env::temp_dir().join(format!("shimmy-stage-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "libggml-cpu-x64.so",
            "libggml-cpu-sapphirerapids.so",
            "libggml-cuda.so",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        // Nothing excluded that is there: the directory itself.
        assert_eq!(staged_dir(&dir, &["zen4".into()]).unwrap(), dir);
        let staged = staged_dir(&dir, &["sapphirerapids".into()]).unwrap();
        assert_ne!(staged, dir);
        let names: Vec<String> = modules_in(&staged)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["libggml-cpu-x64.so", "libggml-cuda.so"]);
        let err = staged_dir(&dir, &["x64".into(), "sapphirerapids".into()]).unwrap_err();
        assert!(err.to_string().contains("leave at least one"), "{err}");
        std::fs::remove_dir_all(&staged).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn explicit_dir_without_cpu_module_is_refused() {
        let dir = std::env::temp_dir();
        let err = resolve_dir(Some(&dir.join("definitely-missing-dir"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
