//! Typed calls: templates (real plugins), tools and workflows (test guests), the
//! `WorkflowHost` imports, JSON mirrors and the blocking front.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use shimmy_core::backend::ModelInfo;
use shimmy_plugins::*;

fn reg() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    shared(&R, || {
        init_log();
        let rt = runtime_in(&shared_cache(), 300, Grants::none());
        registry(
            &rt,
            &["chatml", "llama3", "jinja", "test-tool", "test-workflow"],
        )
    })
}

#[tokio::test]
async fn chatml_renders_parses_and_describes() {
    let reg = reg();
    let r = reg.render_template("chatml", chat(10)).await.unwrap();
    assert!(
        r.prompt
            .starts_with("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"),
        "{}",
        r.prompt
    );
    assert!(
        r.prompt.ends_with("<|im_start|>assistant\n"),
        "{}",
        r.prompt
    );
    assert_eq!(r.prompt.matches("<|im_start|>").count(), 11);
    assert!(r.stop.iter().any(|s| s == "<|im_end|>"), "{:?}", r.stop);

    let p = reg
        .parse_output("chatml", "<think>hmm</think>The answer.", &[])
        .await
        .unwrap();
    assert_eq!(p.content, "The answer.");
    assert_eq!(p.reasoning.as_deref(), Some("hmm"));

    let d = reg.describe_template("chatml").await.unwrap();
    assert_eq!(d.name, "chatml");
}

#[tokio::test]
async fn llama3_and_jinja_render() {
    let reg = reg();
    let r = reg.render_template("llama3", chat(3)).await.unwrap();
    assert!(
        r.prompt
            .contains("<|start_header_id|>user<|end_header_id|>"),
        "{}",
        r.prompt
    );
    let mut req = chat(3);
    req.model.chat_template = Some(
        "{% for m in messages %}[{{ m.role }}]{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
            .into(),
    );
    let r = reg.render_template("jinja", req).await.unwrap();
    assert!(
        r.prompt
            .starts_with("[system]You are a helpful assistant.\n[user]message number 1"),
        "{}",
        r.prompt
    );
    assert!(r.prompt.ends_with("[assistant]"), "{}", r.prompt);
}

#[tokio::test]
async fn render_request_from_json() {
    let reg = reg();
    let req: RenderRequest = serde_json::from_str(
        r#"{"messages":[{"role":"user","content":"Hi"}],"model":{"architecture":"qwen2"}}"#,
    )
    .unwrap();
    let r = reg.render_template("chatml", req).await.unwrap();
    let j = serde_json::to_value(&r).unwrap();
    assert!(j["prompt"]
        .as_str()
        .unwrap()
        .contains("<|im_start|>user\nHi<|im_end|>"));
    assert!(j["stop"].is_array() && j["add_bos"].is_boolean());
}

#[tokio::test]
async fn tools_describe_invoke_and_fail_cleanly() {
    let reg = reg();
    let tools = reg.describe_tools("test-tool").await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["echo", "config", "log", "spin"]);
    assert_eq!(
        reg.invoke_tool("test-tool", "echo", r#"{"a":1}"#)
            .await
            .unwrap(),
        r#"{"echo":{"a":1}}"#
    );
    // Logging and printing are captured, not inherited.
    assert_eq!(
        reg.invoke_tool("test-tool", "log", "{}").await.unwrap(),
        "\"logged\""
    );
    let e = reg
        .invoke_tool("test-tool", "nope", "{}")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"test-tool\": not found: no tool named nope"
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = reg
        .invoke_tool("test-tool", "spin", "{}")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"test-tool\": timed out after 300 ms"
    );
    assert!(reg.invoke_tool("test-tool", "echo", "1").await.is_ok());
}

/// A fake host: deterministic answers, counts calls, optional delay per generation.
struct FakeHost {
    delay: Duration,
    generations: AtomicU32,
}

#[async_trait::async_trait]
impl WorkflowHost for FakeHost {
    async fn generate(
        &self,
        prompt: String,
        options: GenerationOptions,
    ) -> Result<GenerationResult, GuestError> {
        self.generations.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        assert_eq!(options.max_tokens, Some(8));
        Ok(GenerationResult {
            text: format!("gen({prompt})"),
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 3,
            },
            finish_reason: "stop".into(),
        })
    }
    async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
        _o: GenerationOptions,
    ) -> Result<ChatResult, GuestError> {
        Ok(ChatResult {
            content: format!("chat({}, {} tools)", messages[0].content, tools.len()),
            usage: Usage::default(),
            finish_reason: "length".into(),
            ..ChatResult::default()
        })
    }
    async fn tokenize(&self, text: String) -> Result<Vec<u32>, GuestError> {
        Ok(text.split(' ').map(|w| w.len() as u32).collect())
    }
    async fn model_info(&self) -> Result<(String, ModelInfo), GuestError> {
        let info = ModelInfo {
            architecture: "llama".into(),
            n_ctx: 4096,
            ..Default::default()
        };
        Ok(("fake-model".into(), info))
    }
    async fn list_tools(&self) -> Vec<ToolDefinition> {
        vec![ToolDefinition {
            name: "echo".into(),
            ..Default::default()
        }]
    }
    async fn invoke_tool(&self, name: String, arguments: String) -> Result<String, GuestError> {
        match name.as_str() {
            "echo" => Ok(arguments),
            other => Err(GuestError::NotFound(format!("tool {other}"))),
        }
    }
}

fn host(delay_ms: u64) -> Arc<FakeHost> {
    Arc::new(FakeHost {
        delay: Duration::from_millis(delay_ms),
        generations: AtomicU32::new(0),
    })
}

#[tokio::test]
async fn workflow_reaches_every_host_import() {
    let reg = reg();
    let info = reg.describe_workflow("test-workflow").await.unwrap();
    assert_eq!(info.name, "test-workflow");
    let h = host(0);
    let out = reg
        .run_workflow("test-workflow", "all", h.clone())
        .await
        .unwrap();
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["generate"], "gen(Hello)");
    assert_eq!(j["finish"], "stop");
    assert_eq!(j["chat"], "chat(Hi, 1 tools)");
    assert_eq!(j["tokens"], 3);
    assert_eq!(j["model"], "fake-model");
    assert_eq!(j["ctx"], 4096);
    assert_eq!(j["tools"], 1);
    assert_eq!(j["tool"], serde_json::json!({"x": 1}));
    assert_eq!(j["missing"], "not-found:tool nope");
    // The `generation` resource, buffered over `generate`: one piece, then the end.
    assert_eq!(j["streamed"], "gen(Stream)");
    assert_eq!(j["pieces"], 1);
    assert_eq!(j["completion_tokens"], 3);
    assert_eq!(h.generations.load(Ordering::SeqCst), 2);

    let e = reg
        .run_workflow("test-workflow", "bogus", host(0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::Guest {
                error: GuestError::InvalidInput(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// Time inside host imports does not count against the plugin's limit (300 ms here).
#[tokio::test]
async fn host_time_is_not_guest_time() {
    let reg = reg();
    let t = Instant::now();
    let out = reg
        .run_workflow("test-workflow", "slow", host(250))
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(750));
    assert_eq!(out, "\"gen(slow),gen(slow),gen(slow)\"");
    let e = reg
        .run_workflow("test-workflow", "spin", host(0))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin \"test-workflow\": timed out after 300 ms"
    );
}

#[test]
fn blocking_front() {
    let reg = reg();
    let b = reg.blocking().unwrap();
    assert!(b
        .render_template("chatml", chat(2))
        .unwrap()
        .prompt
        .contains("<|im_start|>"));
    assert_eq!(b.describe_template("chatml").unwrap().name, "chatml");
    assert_eq!(b.describe_tools("test-tool").unwrap().len(), 4);
    assert_eq!(
        b.invoke_tool("test-tool", "echo", "2").unwrap(),
        r#"{"echo":2}"#
    );
    assert!(b.run_workflow("test-workflow", "all", host(0)).is_ok());
    assert!(b.parse_output("chatml", "x", &[]).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls() {
    let reg = reg();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            let r = reg
                .render_template("chatml", chat(1 + i % 5))
                .await
                .unwrap();
            assert_eq!(r.prompt.matches("<|im_start|>").count(), 2 + i % 5);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
