//! Plugin sources, manifests, overrides, inspection and lookup errors.

mod common;

use std::path::Path;

use common::*;
use shimmy_plugins::{
    builtin::BUILTINS, ErrorKind, Grants, PluginError, PluginKind, PluginRegistry, PluginSource,
};

fn copy_wasm(name: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(built(name).0, to).unwrap();
}

fn rt() -> shimmy_plugins::PluginRuntime {
    init_log();
    runtime_in(&shared_cache(), 2000, Grants::none())
}

#[test]
fn builtins_load_and_are_the_product_templates() {
    let rt = rt();
    let names: Vec<&str> = BUILTINS.iter().map(|b| b.0).collect();
    for want in ["chatml", "llama3", "jinja"] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(names.iter().all(|n| !n.starts_with("bad-")), "{names:?}");
    let reg = PluginRegistry::load(&rt, &[PluginSource::Builtin(BUILTINS)]).unwrap();
    assert!(reg.failures().is_empty(), "{:?}", reg.failures());
    let list = reg.list();
    assert_eq!(list.len(), BUILTINS.len());
    for s in &list {
        assert_eq!(s.source, "builtin");
        let kind = match s.name.as_str() {
            "calculator" | "files" => PluginKind::Tool,
            "agent" | "pipeline" => PluginKind::Workflow,
            _ => PluginKind::Template,
        };
        assert_eq!(s.kind, kind, "{}", s.name);
        assert!(s.warnings.is_empty(), "{}: {:?}", s.name, s.warnings);
    }
    for want in ["calculator", "files", "agent", "pipeline"] {
        assert!(names.contains(&want), "{names:?}");
    }
}

#[test]
fn plugin_dir_layouts_and_overrides() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A subdirectory with a .wasm and a plugin.toml.
    copy_wasm("chatml", &d.join("chatml/chatml.wasm"));
    std::fs::copy(built("chatml").1, d.join("chatml/plugin.toml")).unwrap();
    // A file pair X.wasm + X.toml; its name comes from the file.
    copy_wasm("hello-template", &d.join("hello.wasm"));
    std::fs::write(d.join("hello.toml"), "version = \"2.0\"\n").unwrap();
    // Not plugins: skipped.
    std::fs::create_dir_all(d.join("empty")).unwrap();
    std::fs::write(d.join("README.md"), "hi").unwrap();

    let sources = [
        PluginSource::Builtin(BUILTINS),
        PluginSource::Dir(d.to_path_buf()),
    ];
    let reg = PluginRegistry::load(&rt, &sources).unwrap();
    assert!(reg.failures().is_empty(), "{:?}", reg.failures());
    let chatml = reg.get("chatml").unwrap();
    assert_eq!(
        chatml.source,
        d.join("chatml/chatml.wasm").display().to_string()
    );
    assert!(
        chatml
            .warnings
            .contains(&"overrides plugin \"chatml\" from builtin".to_string()),
        "{:?}",
        chatml.warnings
    );
    let hello = reg.get("hello").unwrap();
    assert_eq!(hello.version, "2.0");
    assert!(reg.get("llama3").is_some_and(|s| s.source == "builtin"));
}

#[test]
fn missing_dir_is_an_error_but_optional_dir_is_not() {
    let rt = rt();
    let e =
        PluginRegistry::load(&rt, &[PluginSource::Dir("/nonexistent/plugins".into())]).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/plugins: "), "{e}");
    let reg = PluginRegistry::load(
        &rt,
        &[PluginSource::OptionalDir("/nonexistent/plugins".into())],
    )
    .unwrap();
    assert!(reg.list().is_empty() && reg.failures().is_empty());
}

#[test]
fn malformed_manifest_names_the_file() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_wasm("chatml", &d.join("broken/chatml.wasm"));
    std::fs::write(
        d.join("broken/plugin.toml"),
        "name = \"chatml\"\n[capabilities\n",
    )
    .unwrap();
    let reg = PluginRegistry::load(&rt, &[PluginSource::Dir(d.to_path_buf())]).unwrap();
    let [f] = reg.failures() else {
        panic!("{:?}", reg.failures())
    };
    let manifest = d.join("broken/plugin.toml");
    assert!(
        matches!(&f.error, PluginError::Manifest { path, .. } if *path == manifest),
        "{:?}",
        f.error
    );
    let msg = f.error.to_string();
    assert!(
        msg.starts_with(&format!("{}: invalid plugin manifest", manifest.display())),
        "{msg}"
    );
    assert!(reg
        .ensure_all_loaded()
        .unwrap_err()
        .to_string()
        .contains("plugin.toml"));
}

#[test]
fn bad_manifest_values_name_the_file() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_wasm("chatml", &d.join("a.wasm"));
    std::fs::write(d.join("a.toml"), "[capabilities]\nmemory_mb = \"lots\"\n").unwrap();
    let reg = PluginRegistry::load(&rt, &[PluginSource::Dir(d.to_path_buf())]).unwrap();
    let msg = reg.failures()[0].error.to_string();
    assert!(
        msg.starts_with(&d.join("a.toml").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("memory_mb"), "{msg}");
}

#[test]
fn missing_manifest_names_the_expected_file() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_wasm("chatml", &d.join("lonely.wasm"));
    let reg = PluginRegistry::load(&rt, &[PluginSource::Dir(d.to_path_buf())]).unwrap();
    let msg = reg.failures()[0].error.to_string();
    assert_eq!(
        msg,
        format!(
            "{}: invalid plugin manifest: file not found (every plugin needs a manifest)",
            d.join("lonely.toml").display()
        )
    );
}

#[test]
fn kind_mismatch_and_non_components_are_refused() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_wasm("chatml", &d.join("x.wasm"));
    std::fs::write(d.join("x.toml"), "kind = \"tool\"\n").unwrap();
    std::fs::write(d.join("y.wasm"), b"\0asm\x01\0\0\0garbage").unwrap();
    std::fs::write(d.join("y.toml"), "").unwrap();
    let reg = PluginRegistry::load(&rt, &[PluginSource::Dir(d.to_path_buf())]).unwrap();
    let msgs: Vec<String> = reg.failures().iter().map(|f| f.error.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].starts_with("plugin \"x\": its plugin.toml says kind = \"tool\""),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("plugin \"y\": cannot compile "),
        "{msgs:?}"
    );
}

#[test]
fn inspect_by_name_and_by_path() {
    let rt = rt();
    let reg = registry(&rt, &["chatml", "test-tool"]);
    let i = reg.inspect("chatml").unwrap();
    assert_eq!(i.world, "shimmy:plugin/template-plugin@0.1.2");
    assert_eq!(i.contract_version, "0.1.2");
    let t = i
        .exports
        .iter()
        .find(|e| e.name == "shimmy:plugin/template@0.1.2")
        .unwrap();
    for f in [
        "describe",
        "render",
        "parse",
        "render-spans",
        "output-parser",
    ] {
        assert!(t.functions.iter().any(|n| n == f), "{f}: {:?}", t.functions);
    }
    assert!(i
        .imports
        .iter()
        .all(|i| i.name.starts_with("wasi:") || i.name.starts_with("shimmy:plugin/")));
    assert_eq!(i.manifest.name.as_deref(), Some("chatml"));
    // JSON for `plugin inspect --json`.
    let j = serde_json::to_value(&i).unwrap();
    assert_eq!(j["summary"]["kind"], "template");

    let t = reg.inspect("test-tool").unwrap();
    assert_eq!(t.world, "shimmy:plugin/tool-plugin@0.1.0");
    assert!(t
        .imports
        .iter()
        .any(|i| i.name == "shimmy:plugin/config@0.1.0" && i.functions == ["get", "all"]));

    // A path that is not loaded: loaded just to be described.
    let tmp = tempfile::tempdir().unwrap();
    copy_wasm("hello-template", &tmp.path().join("hello/plugin.wasm"));
    std::fs::write(tmp.path().join("hello/plugin.toml"), "description = \"d\"").unwrap();
    let i = reg
        .inspect(tmp.path().join("hello").to_str().unwrap())
        .unwrap();
    assert_eq!(i.summary.name, "hello");
    assert_eq!(i.summary.description, "d");
    assert!(reg.get("hello").is_none());

    // bad-version: refused, naming both versions.
    let (wasm, _) = built("bad-version");
    let p = tmp.path().join("bv.wasm");
    std::fs::copy(wasm, &p).unwrap();
    std::fs::write(tmp.path().join("bv.toml"), "").unwrap();
    let e = reg.inspect(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("@9.0.0") && e.contains("shimmy:plugin@0.1.0"),
        "{e}"
    );
}

#[tokio::test]
async fn lookup_errors() {
    let rt = rt();
    let reg = registry(&rt, &["chatml", "test-tool"]);
    let e = reg.render_template("nope", chat(1)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"nope\" not found; loaded plugins: chatml, test-tool"
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = reg.invoke_tool("chatml", "x", "{}").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"chatml\" is a template plugin, not a tool plugin"
    );
    let e = reg.describe_template("test-tool").await.unwrap_err();
    assert!(matches!(e, PluginError::WrongKind { .. }), "{e:?}");
    assert_eq!(reg.names(PluginKind::Tool), ["test-tool"]);
}
