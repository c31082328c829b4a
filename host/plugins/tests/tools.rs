//! The built-in tool plugins (`calculator`, `files`), the `hello-tool` example and the
//! `bad-tool` testing plugin, through the real runtime.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use common::*;
use serde_json::{json, Value};
use shimmy_plugins::*;

fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let rt = runtime_in(&shared_cache(), 500, Grants::none());
        registry(&rt, &["calculator", "files", "bad-tool"])
    })
}

fn guest_error(e: &PluginError) -> &GuestError {
    match e {
        PluginError::Guest { error, .. } => error,
        other => panic!("expected a plugin-error, got {other:?}"),
    }
}

#[tokio::test]
async fn calculator_results() {
    let reg = reg();
    let tools = reg.describe_tools("calculator").await.unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "calculator");
    let schema: Value = serde_json::from_str(&tools[0].parameters_schema).unwrap();
    assert_eq!(schema["required"], json!(["expression"]));
    assert_eq!(schema["additionalProperties"], false);
    for (expr, result) in [
        ("2 * (3 + 4) ^ 2", json!(98)),
        ("2 ^ 3 ^ 2", json!(512)),
        ("-2 ^ 2", json!(-4)),
        ("1.5e3 / 4", json!(375)),
        ("max(1, 7, 3) % 4", json!(3)),
        ("sqrt(2)", json!(std::f64::consts::SQRT_2)),
        ("round(e * 100) / 100", json!(2.72)),
    ] {
        let out = reg
            .invoke_tool(
                "calculator",
                "calculator",
                &json!({ "expression": expr }).to_string(),
            )
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"expression": expr, "result": result}), "{expr}");
    }
}

#[tokio::test]
async fn calculator_errors_name_what_and_where() {
    let reg = reg();
    for (expr, message) in [
        ("1 / 0", "calculator: division by zero at column 3"),
        ("7 % (1 - 1)", "calculator: remainder by zero at column 3"),
        (
            "2 + x",
            "calculator: unknown name `x` (constants: pi, e, tau) at column 5",
        ),
        (
            "(1 + 2",
            "calculator: expected `)` (for the `(` at column 1) but found the end of the expression at column 7",
        ),
        (
            "3 +",
            "calculator: expected a number, a name or `(` but found the end of the expression at column 4",
        ),
    ] {
        let e = reg
            .invoke_tool(
                "calculator",
                "calculator",
                &json!({ "expression": expr }).to_string(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            guest_error(&e),
            &GuestError::InvalidInput(message.into()),
            "{expr}"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
    let e = reg
        .invoke_tool("calculator", "calculator", r#"{"expr": "1"}"#)
        .await
        .unwrap_err();
    assert!(matches!(guest_error(&e), GuestError::InvalidInput(_)));
    let e = reg
        .invoke_tool("calculator", "nope", "{}")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn files_without_grant_is_denied_naming_the_flag() {
    let reg = reg();
    let names: Vec<String> = reg
        .describe_tools("files")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["list_files", "read_file"]);
    for (tool, args) in [("list_files", "{}"), ("read_file", r#"{"path": "a.txt"}"#)] {
        let e = reg.invoke_tool("files", tool, args).await.unwrap_err();
        let GuestError::Denied(m) = guest_error(&e) else {
            panic!("{e}")
        };
        assert!(m.contains("--plugin-grant files:dirs=/"), "{m}");
        assert_eq!(e.kind(), ErrorKind::Denied);
    }
}

#[tokio::test]
async fn granted_dirs_setting_cannot_be_spoofed_by_config() {
    init_log();
    let mut settings = Settings::default();
    settings.set("files", GRANTED_DIRS_KEY, "/tmp");
    let rt = PluginRuntime::new(RuntimeConfig {
        timeout_ms: 500,
        cache_dir: Some(shared_cache()),
        settings,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let reg = registry(&rt, &["files"]);
    let e = reg
        .invoke_tool("files", "list_files", "{}")
        .await
        .unwrap_err();
    assert!(matches!(guest_error(&e), GuestError::Denied(_)), "{e}");
}

fn temp_tree() -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("files-tool-root");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("docs")).unwrap();
    std::fs::write(d.join("hello.txt"), "hello from the host").unwrap();
    std::fs::write(d.join("docs/readme.md"), "# Readme\n").unwrap();
    d
}

#[tokio::test]
async fn files_with_grant_lists_and_reads_inside_only() {
    init_log();
    let root = temp_tree();
    let grants = Grants::parse([format!("files:dirs={}", root.display())]).unwrap();
    let rt = runtime_in(&shared_cache(), 500, grants);
    let reg = registry(&rt, &["files"]);
    let summary = reg.get("files").unwrap();
    assert_eq!(
        summary.capabilities_granted,
        [format!("dirs={}", root.display())]
    );

    let out = reg.invoke_tool("files", "list_files", "{}").await.unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"path": ".", "entries": [
            {"name": "docs", "type": "dir", "size": 0},
            {"name": "hello.txt", "type": "file", "size": 19}
        ], "truncated": false})
    );
    let out = reg
        .invoke_tool("files", "read_file", r#"{"path": "docs/readme.md"}"#)
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["content"], "# Readme\n");
    assert_eq!(v["truncated"], false);
    let out = reg
        .invoke_tool(
            "files",
            "read_file",
            r#"{"path": "hello.txt", "max_bytes": 5}"#,
        )
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"path": "hello.txt", "size": 19, "content": "hello", "truncated": true})
    );

    let outside = root.parent().unwrap().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    for path in ["../outside.txt", "docs/../../outside.txt"] {
        let e = reg
            .invoke_tool("files", "read_file", &json!({ "path": path }).to_string())
            .await
            .unwrap_err();
        assert!(matches!(guest_error(&e), GuestError::Denied(_)), "{e}");
    }
    let e = reg
        .invoke_tool(
            "files",
            "read_file",
            &json!({ "path": outside.display().to_string() }).to_string(),
        )
        .await
        .unwrap_err();
    assert!(matches!(guest_error(&e), GuestError::Denied(_)), "{e}");
    let e = reg
        .invoke_tool("files", "read_file", r#"{"path": "missing.txt"}"#)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn bad_tool_fails_only_that_call() {
    let reg = reg();
    let ok = r#"{"do": "ok"}"#;
    assert_eq!(
        reg.invoke_tool("bad-tool", "bad", ok).await.unwrap(),
        r#"{"ok":true}"#
    );
    let e = reg
        .invoke_tool("bad-tool", "bad", r#"{"do": "trap"}"#)
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Trap { .. }), "{e:?}");
    assert!(e.to_string().contains("deliberate panic"), "{e}");
    assert_eq!(
        reg.invoke_tool("bad-tool", "bad", ok).await.unwrap(),
        r#"{"ok":true}"#
    );
    let e = reg
        .invoke_tool("bad-tool", "bad", r#"{"do": "loop"}"#)
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Timeout { .. }), "{e:?}");
    let e = reg
        .invoke_tool("bad-tool", "bad", r#"{"do": "memory"}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::MemoryLimit { .. } | PluginError::Trap { .. }
        ),
        "{e:?}"
    );
    let e = reg
        .invoke_tool("bad-tool", "bad", r#"{"do": "error"}"#)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Failed);
    assert_eq!(
        reg.invoke_tool("bad-tool", "bad", ok).await.unwrap(),
        r#"{"ok":true}"#
    );
}

#[tokio::test]
async fn hello_tool_example_loads_and_reads_its_config() {
    init_log();
    let mut settings = Settings::default();
    settings.set("hello-tool", "greeting", "Bonjour");
    let rt = PluginRuntime::new(RuntimeConfig {
        timeout_ms: 500,
        cache_dir: Some(shared_cache()),
        settings,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let reg = registry(&rt, &["hello-tool"]);
    assert!(
        !reg.get("hello-tool").unwrap().source.contains("builtin"),
        "examples are not built in"
    );
    assert_eq!(
        reg.invoke_tool("hello-tool", "greet", r#"{"name": "Ada"}"#)
            .await
            .unwrap(),
        r#"{"greeting":"Bonjour, Ada!"}"#
    );
    let e = reg
        .invoke_tool("hello-tool", "greet", "{}")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn tools_and_workflows_are_built_in_examples_are_not() {
    let builtin: Vec<&str> = builtin::BUILTINS.iter().map(|b| b.0).collect();
    for name in ["calculator", "files", "agent", "pipeline"] {
        assert!(builtin.contains(&name), "{name} not built in: {builtin:?}");
    }
    for name in ["hello-tool", "hello-workflow", "bad-tool"] {
        assert!(!builtin.contains(&name), "{name} is built in");
        assert!(
            builtin::BUILT_PLUGINS.iter().any(|p| p.0 == name),
            "{name} not built"
        );
    }
}
