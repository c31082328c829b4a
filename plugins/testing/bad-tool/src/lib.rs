//! Sandbox test plugin for tool calls (not built in). One tool, `bad`, with arguments
//! `{"do": "ok" | "trap" | "loop" | "memory" | "error" | "sleep" | "big-error", "bytes"?: n}`:
//!
//! * `ok` → `{"ok": true}`;
//! * `trap` → panics (a `wasm unreachable` trap);
//! * `loop` → spins forever (the host's deadline must stop it);
//! * `memory` → allocates until the memory limit (a trap);
//! * `error` → `failed("bad-tool: asked to fail")`;
//! * `sleep` → sleeps 30 s in a blocking WASI call (`std::thread::sleep`: a monotonic-clock
//!   subscription and `poll`), which the host's deadline must cut too;
//! * `big-error` → `failed` with a message of `bytes` bytes (default 30 MB), which the host
//!   must cap like a result.
//!
//! The host must fail only that call; the next call must work.

use shimmy_plugin_sdk::{export_tool, PluginError, Tool, ToolDefinition};

struct BadTool;

impl Tool for BadTool {
    fn describe() -> Vec<ToolDefinition> {
        vec![ToolDefinition::new(
            "bad",
            "Misbehaves on demand (tests only).",
            r#"{"type":"object","properties":{"do":{"enum":["ok","trap","loop","memory","error","sleep","big-error"]},"bytes":{"type":"integer","minimum":0}},"required":["do"]}"#,
        )]
    }

    fn invoke(name: String, arguments: String) -> Result<String, PluginError> {
        if name != "bad" {
            return Err(PluginError::not_found(format!("no tool named {name}")));
        }
        let args: serde_json::Value = serde_json::from_str(&arguments)
            .map_err(|e| PluginError::invalid_input(format!("arguments are not JSON: {e}")))?;
        match args.get("do").and_then(|v| v.as_str()).unwrap_or("") {
            "ok" => Ok(r#"{"ok":true}"#.into()),
            "trap" => {
                if std::hint::black_box(true) {
                    panic!("bad-tool: deliberate panic");
                }
                Err(PluginError::failed("unreachable"))
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "error" => Err(PluginError::failed("bad-tool: asked to fail")),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(30));
                Ok(r#"{"slept":true}"#.into())
            }
            "big-error" => {
                let bytes = args
                    .get("bytes")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(30_000_000);
                Err(PluginError::failed("E".repeat(bytes as usize)))
            }
            other => Err(PluginError::invalid_input(format!(
                "`do` must be ok, trap, loop, memory, error, sleep or big-error, not \"{other}\""
            ))),
        }
    }
}

export_tool!(BadTool);
