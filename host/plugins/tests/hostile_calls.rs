//! Guests that block in host calls, tools that return huge errors and hostile `files`
//! arguments, through the real runtime: each call fails alone, with a clear error, within
//! about its deadline, and the next call works.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use shimmy_core::backend::ModelInfo;
use shimmy_plugins::*;

/// The deadline of every call here.
const TIMEOUT_MS: u64 = 500;
/// The output limit here (results and, now, errors).
const MAX_OUTPUT: usize = 1 << 20;

/// The directory granted to `files`: a text file and a FIFO.
fn granted_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::write(dir.join("a.txt"), "hello").unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("pipe"))
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo failed");
        dir
    })
}

fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let grant = format!("files:dirs={}", granted_dir().display());
        let rt = PluginRuntime::new(RuntimeConfig {
            timeout_ms: TIMEOUT_MS,
            cache_dir: Some(shared_cache()),
            grants: Grants::parse([grant.as_str()]).unwrap(),
            max_output_bytes: MAX_OUTPUT,
            ..RuntimeConfig::default()
        })
        .unwrap();
        registry(
            &rt,
            &[
                "bad-sleep",
                "bad-tool",
                "bad-sleep-workflow",
                "files",
                "chatml",
            ],
        )
    })
}

/// Answers `generate` after `delay` (time the deadline must not count).
struct SlowHost {
    delay: Duration,
}

#[async_trait::async_trait]
impl WorkflowHost for SlowHost {
    async fn generate(
        &self,
        prompt: String,
        _o: GenerationOptions,
    ) -> Result<GenerationResult, GuestError> {
        tokio::time::sleep(self.delay).await;
        Ok(GenerationResult {
            text: format!("gen({prompt})"),
            usage: Usage::default(),
            finish_reason: "stop".into(),
        })
    }
    async fn chat(
        &self,
        _m: Vec<ChatMessage>,
        _t: Vec<ToolDefinition>,
        _o: GenerationOptions,
    ) -> Result<ChatResult, GuestError> {
        Err(GuestError::Unsupported("no chat here".into()))
    }
    async fn tokenize(&self, _text: String) -> Result<Vec<u32>, GuestError> {
        Err(GuestError::Unsupported("no tokenizer here".into()))
    }
    async fn model_info(&self) -> Result<(String, ModelInfo), GuestError> {
        Err(GuestError::Unsupported("no model here".into()))
    }
    async fn list_tools(&self) -> Vec<ToolDefinition> {
        Vec::new()
    }
    async fn invoke_tool(&self, _n: String, _a: String) -> Result<String, GuestError> {
        Err(GuestError::Unsupported("no tools here".into()))
    }
}

/// Asserts `r` timed out at the deadline, well before the guest's 30 s sleep would end.
fn assert_cut(plugin: &str, r: Result<String>, took: Duration) {
    let e = r.expect_err("a 30 s sleep must not succeed");
    assert!(
        matches!(
            e,
            PluginError::Timeout {
                timeout_ms: TIMEOUT_MS,
                ..
            }
        ),
        "{plugin}: {e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("plugin \"{plugin}\": timed out after {TIMEOUT_MS} ms")
    );
    assert!(
        took < Duration::from_millis(3 * TIMEOUT_MS),
        "{plugin}: the sleep ran {took:?}, the deadline is {TIMEOUT_MS} ms"
    );
}

/// `std::thread::sleep(30 s)` (a WASI clock subscription and a blocking poll) in a template,
/// a tool and a workflow: cut at the deadline, not after 30 s; the next call works.
#[tokio::test]
async fn blocking_sleeps_are_cut_at_the_deadline() {
    let reg = reg();
    for _ in 0..2 {
        let t = Instant::now();
        let r = reg
            .render_template("bad-sleep", chat(2))
            .await
            .map(|r| r.prompt);
        assert_cut("bad-sleep", r, t.elapsed());
        let prompt = reg.render_template("chatml", chat(2)).await.unwrap().prompt;
        assert!(prompt.contains("<|im_start|>"), "{prompt}");

        let t = Instant::now();
        let r = reg
            .invoke_tool("bad-tool", "bad", r#"{"do": "sleep"}"#)
            .await;
        assert_cut("bad-tool", r, t.elapsed());
        let ok = reg.invoke_tool("bad-tool", "bad", r#"{"do": "ok"}"#).await;
        assert_eq!(ok.unwrap(), r#"{"ok":true}"#);

        let host = Arc::new(SlowHost {
            delay: Duration::ZERO,
        });
        let t = Instant::now();
        let r = reg
            .run_workflow("bad-sleep-workflow", r#"{"sleep_ms": 30000}"#, host)
            .await;
        assert_cut("bad-sleep-workflow", r, t.elapsed());
    }
}

/// Time in the workflow host (inference) still does not count: a generation twice as long as
/// the deadline, then a short sleep, succeeds.
#[tokio::test]
async fn host_time_still_does_not_count_against_a_workflow() {
    let reg = reg();
    let host = Arc::new(SlowHost {
        delay: Duration::from_millis(2 * TIMEOUT_MS),
    });
    let out = reg
        .run_workflow(
            "bad-sleep-workflow",
            r#"{"generate": true, "sleep_ms": 100}"#,
            host,
        )
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"slept_ms": 100, "generated": "gen(hello)"}));
}

/// A tool's error message is capped like its results, with a note.
#[tokio::test]
async fn huge_tool_errors_are_truncated_to_the_output_limit() {
    let reg = reg();
    let e = reg
        .invoke_tool(
            "bad-tool",
            "bad",
            r#"{"do": "big-error", "bytes": 3000000}"#,
        )
        .await
        .unwrap_err();
    let PluginError::Guest {
        error: GuestError::Failed(message),
        ..
    } = &e
    else {
        panic!("expected the plugin's own failed error, got {e:?}");
    };
    assert!(message.len() <= MAX_OUTPUT + 200, "{} bytes", message.len());
    assert!(message.starts_with("EEEE"), "{}", &message[..20]);
    assert!(
        message.ends_with(
            "... (truncated: the plugin's error message was 3000000 bytes, more than the \
             1048576-byte output limit)"
        ),
        "{}",
        &message[message.len() - 150..]
    );
    // A small error goes through whole.
    let e = reg
        .invoke_tool("bad-tool", "bad", r#"{"do": "error"}"#)
        .await
        .unwrap_err();
    assert!(e.to_string().ends_with("bad-tool: asked to fail"), "{e}");
}

/// `files` refuses a FIFO (opening it would block until a writer comes), NUL bytes,
/// over-long paths and a `max_bytes` above its cap, each as the caller's mistake, quickly.
#[tokio::test]
async fn files_refuses_hostile_arguments() {
    let reg = reg();
    let invalid = |e: PluginError, needle: &str| {
        let message = match &e {
            PluginError::Guest {
                error: GuestError::InvalidInput(m),
                ..
            } => m.clone(),
            PluginError::InvalidArguments { reason, .. } => reason.clone(),
            other => panic!("expected invalid input, got {other:?}"),
        };
        assert!(message.contains(needle), "want {needle:?} in {message}");
    };
    let t = Instant::now();
    let e = reg
        .invoke_tool("files", "read_file", r#"{"path": "pipe"}"#)
        .await
        .unwrap_err();
    invalid(e, "not a regular file");
    assert!(
        t.elapsed() < Duration::from_millis(TIMEOUT_MS),
        "{:?}",
        t.elapsed()
    );
    let long = "d/".repeat(3000);
    for (args, needle) in [
        (json!({"path": "a\0.txt"}), "NUL"),
        (json!({"path": long}), "at most 4096 bytes"),
        (json!({"path": "n".repeat(300)}), "at most 255 bytes"),
    ] {
        let e = reg
            .invoke_tool("files", "read_file", &args.to_string())
            .await
            .unwrap_err();
        invalid(e, needle);
    }
    let e = reg
        .invoke_tool(
            "files",
            "read_file",
            r#"{"path": "a.txt", "max_bytes": 1000000000000}"#,
        )
        .await
        .unwrap_err();
    invalid(e, "1048576");
    let ok = reg
        .invoke_tool(
            "files",
            "read_file",
            r#"{"path": "a.txt", "max_bytes": 1048576}"#,
        )
        .await
        .unwrap();
    assert!(ok.contains("\"content\":\"hello\""), "{ok}");
}
