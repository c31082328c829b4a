//! Helpers shared by the integration tests: the real plugins built from `plugins/` by
//! `build.rs`, the test-only guests of `tests/guests/` (built here on first use), and
//! registries over them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use shimmy_plugins::{
    builtin::BUILT_PLUGINS, ChatMessage, Grants, PluginRegistry, PluginRuntime, PluginSource,
    RenderRequest, RuntimeConfig,
};

/// `(wasm, plugin.toml)` of a plugin built from `plugins/` (built-in or test plugin).
pub fn built(name: &str) -> (PathBuf, PathBuf) {
    if let Some((_, w, m, _)) = BUILT_PLUGINS.iter().find(|p| p.0 == name) {
        return (PathBuf::from(w), PathBuf::from(m));
    }
    if let Some(p) = test_guest(name) {
        return p;
    }
    let names: Vec<&str> = BUILT_PLUGINS.iter().map(|p| p.0).collect();
    panic!(
        "plugin \"{name}\" was not built: is its crate a member of plugins/Cargo.toml? built: {names:?}"
    );
}

/// A source for one built plugin.
pub fn source(name: &str) -> PluginSource {
    let (wasm, manifest) = built(name);
    PluginSource::Files { wasm, manifest }
}

/// Builds `tests/guests` once per test binary and returns `(wasm, plugin.toml)` of `name`.
fn test_guest(name: &str) -> Option<(PathBuf, PathBuf)> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let guests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests");
    let crate_dir = guests.join(name);
    if !crate_dir.join("plugin.toml").exists() {
        return None;
    }
    let release = BUILT.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("wasm-test-guests");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&guests)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
            .env("CARGO_TARGET_DIR", &target);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if (k.starts_with("CARGO_") && k != "CARGO_HOME" && !k.starts_with("CARGO_NET"))
                || k == "RUSTFLAGS"
                || k == "RUSTC_WORKSPACE_WRAPPER"
            {
                cmd.env_remove(&k);
            }
        }
        cmd.env("CARGO_TARGET_DIR", &target);
        let out = cmd.output().expect("run cargo for tests/guests");
        assert!(
            out.status.success(),
            "building tests/guests failed (rustup target add wasm32-wasip2?):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-wasip2/release")
    });
    Some((
        release.join(format!("{}.wasm", name.replace('-', "_"))),
        crate_dir.join("plugin.toml"),
    ))
}

/// A runtime with its own cache directory and a short timeout (fast tests).
pub fn runtime_in(cache: &Path, timeout_ms: u64, grants: Grants) -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        timeout_ms,
        cache_dir: Some(cache.to_path_buf()),
        grants,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// A registry of the named plugins (each must load).
pub fn registry(runtime: &PluginRuntime, names: &[&str]) -> PluginRegistry {
    let sources: Vec<PluginSource> = names.iter().map(|n| source(n)).collect();
    let reg = PluginRegistry::load(runtime, &sources).unwrap();
    if let Some(f) = reg.failures().first() {
        panic!("{}: {}", f.source, f.error);
    }
    reg
}

/// A shared cache directory for tests that do not look at caching (compiles each plugin
/// once per test binary instead of once per test).
pub fn shared_cache() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shimmy-plugin-cache");
        std::fs::create_dir_all(&d).unwrap();
        d
    })
    .clone()
}

/// A conversation of `n` messages (system first, then user/assistant turns).
pub fn chat(n: usize) -> RenderRequest {
    let mut messages = vec![ChatMessage::new("system", "You are a helpful assistant.")];
    for i in 1..n {
        let role = if i % 2 == 1 { "user" } else { "assistant" };
        messages.push(ChatMessage::new(
            role,
            format!("message number {i}: some text here"),
        ));
    }
    RenderRequest {
        messages,
        ..Default::default()
    }
}

/// Installs a test log subscriber once (RUST_LOG controls it).
pub fn init_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Shares a registry between tests of one binary.
pub fn shared<T: Send + Sync + 'static>(
    cell: &'static OnceLock<Arc<T>>,
    f: impl FnOnce() -> T,
) -> Arc<T> {
    cell.get_or_init(|| Arc::new(f())).clone()
}
