//! Capabilities from `plugin.toml` take effect only when granted; operator settings reach the
//! plugin's `config` import.

mod common;

use std::path::Path;

use common::*;
use shimmy_plugins::{Grants, GuestError, PluginError, PluginRegistry, PluginSource, Settings};

/// Writes `bad-fs` (or another built plugin) with a custom manifest into `dir`.
fn with_manifest(dir: &Path, name: &str, manifest: &str) -> PluginSource {
    let (wasm, _) = built(name);
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(&wasm, d.join(format!("{name}.wasm"))).unwrap();
    std::fs::write(d.join("plugin.toml"), manifest).unwrap();
    PluginSource::Path(d)
}

const FS_MANIFEST: &str = r#"
name = "bad-fs"
kind = "template"
[capabilities]
dirs = ["/etc"]
"#;

#[tokio::test]
async fn granted_dir_is_readable_read_only() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let src = with_manifest(tmp.path(), "bad-fs", FS_MANIFEST);
    let rt = runtime_in(
        &shared_cache(),
        2000,
        Grants::parse(["bad-fs:dirs"]).unwrap(),
    );
    let reg = PluginRegistry::load(&rt, &[src]).unwrap();
    let s = reg.get("bad-fs").unwrap();
    assert_eq!(s.capabilities_requested, ["dirs=/etc"]);
    assert_eq!(s.capabilities_granted, ["dirs=/etc"]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // With the grant the plugin reads /etc/passwd (its content becomes the prompt).
    let r = reg.render_template("bad-fs", chat(1)).await.unwrap();
    assert!(r.prompt.contains("root:"), "{}", r.prompt);
}

#[tokio::test]
async fn ungranted_dir_is_reported_and_denied() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let src = with_manifest(tmp.path(), "bad-fs", FS_MANIFEST);
    // A grant for another plugin does not count.
    let rt = runtime_in(&shared_cache(), 2000, Grants::parse(["other:*"]).unwrap());
    let reg = PluginRegistry::load(&rt, &[src]).unwrap();
    let s = reg.get("bad-fs").unwrap();
    assert_eq!(s.capabilities_requested, ["dirs=/etc"]);
    assert!(s.capabilities_granted.is_empty());
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0].contains("--plugin-grant bad-fs:dirs"),
        "{:?}",
        s.warnings
    );
    let e = reg.render_template("bad-fs", chat(1)).await.unwrap_err();
    assert!(
        matches!(&e, PluginError::Guest { error: GuestError::Failed(m), .. } if m.contains("failed")),
        "{e:?}"
    );
}

#[tokio::test]
async fn memory_capability_needs_a_grant() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = "name = \"bad-memory\"\n[capabilities]\nmemory_mb = 96\n";
    let src = with_manifest(tmp.path(), "bad-memory", manifest);

    let rt = runtime_in(&shared_cache(), 2000, Grants::none());
    let reg = PluginRegistry::load(&rt, std::slice::from_ref(&src)).unwrap();
    let s = reg.get("bad-memory").unwrap();
    assert_eq!(s.memory_limit_mb, 64);
    assert!(
        s.warnings[0].contains("memory_mb = 96 not granted"),
        "{:?}",
        s.warnings
    );
    let e = reg
        .render_template("bad-memory", chat(1))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"bad-memory\": exceeded its 64 MiB memory limit"
    );

    let rt = runtime_in(
        &shared_cache(),
        2000,
        Grants::parse(["bad-memory:memory"]).unwrap(),
    );
    let reg = PluginRegistry::load(&rt, &[src]).unwrap();
    let s = reg.get("bad-memory").unwrap();
    assert_eq!(s.memory_limit_mb, 96);
    assert_eq!(s.capabilities_granted, ["memory_mb=96"]);
    let e = reg
        .render_template("bad-memory", chat(1))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"bad-memory\": exceeded its 96 MiB memory limit"
    );
}

#[tokio::test]
async fn smaller_memory_needs_no_grant() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = "name = \"bad-memory\"\n[capabilities]\nmemory_mb = 16\n";
    let src = with_manifest(tmp.path(), "bad-memory", manifest);
    let rt = runtime_in(&shared_cache(), 2000, Grants::none());
    let reg = PluginRegistry::load(&rt, &[src]).unwrap();
    assert_eq!(reg.get("bad-memory").unwrap().memory_limit_mb, 16);
    let e = reg
        .render_template("bad-memory", chat(1))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"bad-memory\": exceeded its 16 MiB memory limit"
    );
}

#[test]
fn hosts_are_recorded_only() {
    init_log();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = "name = \"bad-net\"\n[capabilities]\nhosts = [\"example.com\"]\n";
    let src = with_manifest(tmp.path(), "bad-net", manifest);
    let rt = runtime_in(
        &shared_cache(),
        2000,
        Grants::parse(["bad-net:hosts"]).unwrap(),
    );
    let reg = PluginRegistry::load(&rt, std::slice::from_ref(&src)).unwrap();
    let s = reg.get("bad-net").unwrap();
    assert_eq!(s.capabilities_granted, ["hosts=example.com"]);
    assert!(
        s.warnings.iter().any(|w| w.contains("recorded only")),
        "{:?}",
        s.warnings
    );
    // Still no network: sockets stay off whatever is granted.
    let e = reg
        .blocking()
        .unwrap()
        .render_template("bad-net", chat(1))
        .unwrap_err();
    assert!(matches!(e, PluginError::Guest { .. }), "{e:?}");

    let rt = runtime_in(&shared_cache(), 2000, Grants::none());
    let reg = PluginRegistry::load(&rt, &[src]).unwrap();
    let s = reg.get("bad-net").unwrap();
    assert!(s.capabilities_granted.is_empty());
    assert!(
        s.warnings[0].contains("--plugin-grant bad-net:hosts"),
        "{:?}",
        s.warnings
    );
}

#[tokio::test]
async fn config_merges_manifest_and_operator_settings() {
    init_log();
    let rt = shimmy_plugins::PluginRuntime::new(shimmy_plugins::RuntimeConfig {
        cache_dir: Some(shared_cache()),
        settings: Settings::parse(["test-tool:greeting=bonjour", "test-tool:extra=1"]).unwrap(),
        ..Default::default()
    })
    .unwrap();
    let reg = registry(&rt, &["test-tool"]);
    let out = reg.invoke_tool("test-tool", "config", "{}").await.unwrap();
    assert_eq!(out, "count=3;extra=1;greeting=bonjour;greeting:bonjour");
    let i = reg.inspect("test-tool").unwrap();
    assert_eq!(i.effective_config["greeting"], "bonjour");
    assert_eq!(i.manifest.config["greeting"], "hello");
}
