//! Wire-format tests: the real router and the real template plugins over the fake backend,
//! through real HTTP on a loopback port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use shimmy_core::template_choice::{ChoiceReason, TemplateChoice};
use shimmy_plugins::{PluginRegistry, PluginRuntime, PluginSource, RuntimeConfig};

use shimmy_engine::{Catalog, CatalogEntry, Engine, EngineConfig, KeepAlive};

use crate::fake::FakeBackend;
use crate::{router, Server, ServerConfig, SharedState};

// The Anthropic Messages and OpenAI Responses APIs.
mod anthropic_api;
mod responses_api;

fn registry() -> Arc<PluginRegistry> {
    static R: OnceLock<Arc<PluginRegistry>> = OnceLock::new();
    R.get_or_init(|| {
        let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("plugin runtime");
        let sources = [PluginSource::Builtin(shimmy_plugins::builtin::BUILTINS)];
        Arc::new(PluginRegistry::load(&runtime, &sources).expect("plugins"))
    })
    .clone()
}

fn entry(name: &str) -> CatalogEntry {
    CatalogEntry {
        name: name.into(),
        path: PathBuf::from(format!("/models/{name}.gguf")),
        size_bytes: 1000,
        modified: None,
        architecture: "llama".into(),
        parameters: 1000,
        quantization: "F32".into(),
        context_length: Some(4096),
        n_expert: 0,
        n_expert_used: 0,
        chat_template: None,
        template: TemplateChoice {
            name: "chatml".into(),
            reason: ChoiceReason::Family,
        },
        digest: "0123456789abcdef".into(),
        purpose: Default::default(),
    }
}

struct Harness {
    base: String,
    state: SharedState,
    backend: Arc<FakeBackend>,
    http: reqwest::Client,
}

impl Harness {
    async fn start(models: &[&str], config: EngineConfig, step: Duration) -> Harness {
        Self::with_backend(models, config, FakeBackend::new(step)).await
    }

    async fn with_backend(
        models: &[&str],
        config: EngineConfig,
        backend: Arc<FakeBackend>,
    ) -> Harness {
        let catalog = Catalog {
            models: models.iter().map(|m| entry(m)).collect(),
            skipped: Vec::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let engine = Engine::new(backend.clone(), registry(), catalog, config);
        let server = Server::with_listener(listener, engine, ServerConfig::default()).unwrap();
        let addr: SocketAddr = server.local_addr();
        let state = server.state().clone();
        tokio::spawn(server.run(std::future::pending()));
        Harness {
            base: format!("http://{addr}"),
            state,
            backend,
            http: reqwest::Client::new(),
        }
    }

    async fn one() -> Harness {
        Self::start(&["tiny"], config(), Duration::from_millis(1)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// The body of a streaming request, as text.
    async fn stream(&self, path: &str, body: Value) -> (u16, String, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, r.text().await.unwrap())
    }

    fn busy_slots(&self) -> u32 {
        self.state
            .engine
            .models()
            .status()
            .iter()
            .filter_map(|m| m.scheduler.as_ref())
            .map(|s| s.busy_slots)
            .sum()
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        parallel: 2,
        ctx_per_sequence: Some(2048),
        max_queue: 16,
        ..EngineConfig::default()
    }
}

fn sse_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data: prefix").to_string())
        .collect()
}

fn chat(content: &str, extra: Value) -> Value {
    let mut v = json!({"model": "tiny", "messages": [{"role": "user", "content": content}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completion_counts_usage_and_reuses_the_prompt_cache() {
    let h = Harness::one().await;
    let body = chat("hello", json!({"max_tokens": 3, "temperature": 0}));
    let (status, v) = h.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "tok0 tok1 tok2");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let prompt_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt_tokens > 10);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], prompt_tokens + 3);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let (_, v2) = h.post("/v1/chat/completions", body).await;
    let cached = v2["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(cached > 0 && cached < prompt_tokens, "{v2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_sends_role_deltas_finish_usage_and_done() {
    let h = Harness::one().await;
    let (status, ctype, text) = h
        .stream(
            "/v1/chat/completions",
            chat(
                "hi",
                json!({"max_tokens": 4, "stream": true, "stream_options": {"include_usage": true}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "tok0 tok1 tok2 tok3");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    // Every chunk before carries "usage": null.
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c.get("usage") == Some(&Value::Null)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_is_split_by_the_template_plugin() {
    let h = Harness::one().await;
    let (_, v) = h
        .post("/v1/chat/completions", chat("THINK please", json!({})))
        .await;
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], "The answer", "{v}");
    assert_eq!(m["reasoning_content"], "pondering", "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let (_, _, text) = h
        .stream(
            "/v1/chat/completions",
            chat("THINK please", json!({"stream": true})),
        )
        .await;
    let chunks: Vec<Value> = sse_events(&text)
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let field = |name: &str| -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"][name].as_str())
            .collect()
    };
    assert_eq!(field("content"), "The answer", "{text}");
    assert_eq!(field("reasoning_content"), "pondering", "{text}");

    // Ollama: `thinking`; `think: false` drops it.
    let (_, v) = h
        .post(
            "/api/chat",
            json!({"model": "tiny", "stream": false, "messages": [{"role": "user", "content": "THINK"}]}),
        )
        .await;
    assert_eq!(v["message"]["thinking"], "pondering", "{v}");
    assert_eq!(v["message"]["content"], "The answer");
    let (_, v) = h
        .post(
            "/api/chat",
            json!({"model": "tiny", "stream": false, "think": false, "messages": [{"role": "user", "content": "THINK"}]}),
        )
        .await;
    assert!(v["message"].get("thinking").is_none(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_parsed_by_the_template() {
    let h = Harness::one().await;
    let tools = json!([{"type": "function", "function": {"name": "add", "description": "adds", "parameters": {"type": "object"}}}]);
    let (status, v) = h
        .post(
            "/v1/chat/completions",
            chat("TOOL", json!({"tools": tools})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "add");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"a": 1})
    );
    let (_, v) = h
        .post(
            "/api/chat",
            json!({"model": "tiny", "stream": false, "tools": tools, "messages": [{"role": "user", "content": "TOOL"}]}),
        )
        .await;
    assert_eq!(
        v["message"]["tool_calls"][0]["function"]["arguments"],
        json!({"a": 1}),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_stream_and_logprobs() {
    let h = Harness::one().await;
    let (status, v) = h
        .post(
            "/v1/completions",
            json!({"model": "tiny", "prompt": "Once", "max_tokens": 2, "logprobs": 2}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], " tok0 tok1");
    assert_eq!(
        v["choices"][0]["logprobs"]["tokens"],
        json!([" tok0", " tok1"])
    );
    assert_eq!(v["choices"][0]["logprobs"]["text_offset"], json!([0, 5]));
    assert_eq!(v["usage"]["prompt_tokens"], 5); // BOS + 4 bytes

    let (_, _, text) = h
        .stream(
            "/v1/completions",
            json!({"model": "tiny", "prompt": "Once", "max_tokens": 3, "stream": true}),
        )
        .await;
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(joined, " tok0 tok1 tok2");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );

    let (_, v) = h
        .post(
            "/v1/chat/completions",
            chat(
                "x",
                json!({"max_tokens": 1, "logprobs": true, "top_logprobs": 2}),
            ),
        )
        .await;
    let lp = &v["choices"][0]["logprobs"]["content"][0];
    assert_eq!(lp["token"], " tok0", "{v}");
    assert_eq!(lp["top_logprobs"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_generate_and_chat_stream_ndjson_with_counts() {
    let h = Harness::one().await;
    let (status, ctype, text) = h
        .stream(
            "/api/generate",
            json!({"model": "tiny", "prompt": "Why?", "options": {"num_predict": 3}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/x-ndjson");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let joined: String = lines
        .iter()
        .filter_map(|l| l["response"].as_str())
        .collect();
    assert_eq!(joined, "tok0 tok1 tok2");
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "length");
    assert_eq!(last["eval_count"], 3);
    assert!(last["prompt_eval_count"].as_u64().unwrap() > 0);
    for key in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[key].is_u64(), "{key} in {last}");
    }
    assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));

    // The same prompt again: only the uncached part is counted as evaluated.
    let body =
        json!({"model": "tiny", "prompt": "Why?", "stream": false, "options": {"num_predict": 3}});
    let (_, v) = h.post("/api/generate", body).await;
    assert_eq!(v["response"], "tok0 tok1 tok2");
    assert_eq!(v["prompt_eval_count"], 1, "{v}");

    // shimmy's body: messages + max_tokens at the top level.
    let (_, v) = h
        .post(
            "/api/generate",
            json!({"model": "tiny", "stream": false, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(v["response"], "tok0 tok1", "{v}");

    let (_, _, text) = h
        .stream(
            "/api/chat",
            json!({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 2}}),
        )
        .await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let joined: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(joined, "tok0 tok1");
    assert_eq!(lines.last().unwrap()["done_reason"], "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_4xx_with_a_message_in_each_shape() {
    let h = Harness::one().await;
    let openai_cases: Vec<(&str, &str, u16)> = vec![
        ("/v1/chat/completions", "{not json", 400),
        ("/v1/chat/completions", "", 400),
        ("/v1/chat/completions", "[1,2]", 400),
        ("/v1/chat/completions", r#"{"messages": []}"#, 400),
        (
            "/v1/chat/completions",
            r#"{"messages": [{"role": "king", "content": "x"}]}"#,
            400,
        ),
        (
            "/v1/chat/completions",
            r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}"#,
            400,
        ),
        (
            "/v1/chat/completions",
            r#"{"model": "nope", "messages": [{"role": "user", "content": "x"}]}"#,
            404,
        ),
        (
            "/v1/chat/completions",
            r#"{"messages": [{"role": "user", "content": "x"}], "n": 3}"#,
            400,
        ),
        ("/v1/completions", r#"{"prompt": 5}"#, 400),
        ("/tokenize", r#"{"content": 5}"#, 400),
        ("/detokenize", r#"{"tokens": [-1]}"#, 400),
        ("/detokenize", r#"{"tokens": [99999]}"#, 400),
        (
            "/api/template/render",
            r#"{"messages": [{"role": "user", "content": "x"}], "template": "nope"}"#,
            400,
        ),
    ];
    for (path, body, want) in openai_cases {
        let (status, v) = h.post_raw(path, body).await;
        assert_eq!(status, want, "{path} {body}: {v}");
        let e = &v["error"];
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path} {body}: {v}"
        );
        assert!(e["type"].is_string() && e["code"].is_string(), "{v}");
        assert!(e.get("param").is_some(), "{v}");
    }
    let ollama_cases: Vec<(&str, &str, u16)> = vec![
        ("/api/generate", "{oops", 400),
        ("/api/generate", r#"{"model": "nope", "prompt": "x"}"#, 404),
        (
            "/api/generate",
            r#"{"prompt": "x", "images": ["aGk="]}"#,
            400,
        ),
        (
            "/api/generate",
            r#"{"prompt": "x", "options": {"temperature": "warm"}}"#,
            400,
        ),
        ("/api/generate", r#"{"prompt": 7}"#, 400),
        ("/api/chat", r#"{"messages": []}"#, 400),
        (
            "/api/chat",
            r#"{"messages": [{"role": "robot", "content": "x"}]}"#,
            400,
        ),
        ("/api/show", r#"{"model": "nope"}"#, 404),
    ];
    for (path, body, want) in ollama_cases {
        let (status, v) = h.post_raw(path, body).await;
        assert_eq!(status, want, "{path} {body}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{path} {body}: {v}"
        );
    }
    let (status, body) = h.get("/v1/nothing").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = h.get("/v1/chat/completions").await;
    assert_eq!(status, 405, "{body}");
    let (status, body) = h.get("/api/nothing").await;
    assert_eq!(status, 404);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_overflow_names_the_numbers() {
    let cfg = EngineConfig {
        ctx_per_sequence: Some(64),
        ..config()
    };
    let h = Harness::start(&["tiny"], cfg, Duration::from_millis(1)).await;
    let (status, v) = h
        .post(
            "/v1/completions",
            json!({"prompt": "0123456789", "max_tokens": 60}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("11") && m.contains("60") && m.contains("64"),
        "{m}"
    );
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    // Without max_tokens a chat fits the context instead of failing.
    let (status, v) = h.post("/v1/chat/completions", chat("x", json!({}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_503_with_retry_after() {
    let cfg = EngineConfig {
        parallel: 1,
        max_queue: 1,
        ..config()
    };
    let h = Harness::start(&["tiny"], cfg, Duration::from_millis(20)).await;
    let long = chat("x", json!({"max_tokens": 100, "stream": true}));
    let a = h
        .http
        .post(format!("{}/v1/chat/completions", h.base))
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    let base = h.base.clone();
    let client = h.http.clone();
    let queued = tokio::spawn(async move {
        client
            .post(format!("{base}/v1/chat/completions"))
            .json(&long)
            .send()
            .await
    });
    // Wait until the second one is queued.
    for _ in 0..100 {
        let queued: usize = h
            .state
            .engine
            .models()
            .status()
            .iter()
            .filter_map(|m| m.scheduler.as_ref())
            .map(|s| s.queued)
            .sum();
        if queued == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.base))
        .json(&chat("x", json!({"max_tokens": 5})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "queue_full", "{v}");
    drop(a);
    queued.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_frees_its_slot() {
    let h = Harness::start(&["tiny"], config(), Duration::from_millis(10)).await;
    // Streaming: drop the response after the first bytes.
    let mut r = h
        .http
        .post(format!("{}/v1/chat/completions", h.base))
        .json(&chat("x", json!({"max_tokens": 500, "stream": true})))
        .send()
        .await
        .unwrap();
    let _ = r.chunk().await.unwrap();
    wait_until(|| h.busy_slots() == 1).await;
    drop(r);
    wait_until(|| h.busy_slots() == 0).await;

    // Non-streaming: the handler is dropped with the connection.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}/api/generate", h.base))
        .json(&json!({"prompt": "x", "stream": false, "options": {"num_predict": 500}}))
        .send()
        .await;
    assert!(err.is_err());
    wait_until(|| h.busy_slots() == 0).await;
    // Others still work.
    let (status, _) = h
        .post("/v1/chat/completions", chat("x", json!({"max_tokens": 2})))
        .await;
    assert_eq!(status, 200);
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_load_lazily_are_kept_and_evicted() {
    let cfg = EngineConfig {
        max_loaded_models: 1,
        ..config()
    };
    let h = Harness::start(&["a", "b"], cfg, Duration::from_millis(1)).await;
    // Several models: the name is required.
    let (status, v) = h
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "model_required", "{v}");
    assert_eq!(*h.backend.loads.lock().unwrap(), 0);
    let ask = |m: &str| json!({"model": m, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1});
    assert_eq!(h.post("/v1/chat/completions", ask("a")).await.0, 200);
    assert_eq!(h.post("/v1/chat/completions", ask("a")).await.0, 200);
    assert_eq!(*h.backend.loads.lock().unwrap(), 1, "loaded once and kept");
    assert_eq!(h.post("/v1/chat/completions", ask("b")).await.0, 200);
    let loaded: Vec<String> = h
        .state
        .engine
        .models()
        .loaded_models()
        .iter()
        .map(|l| l.name.clone())
        .collect();
    assert_eq!(loaded, vec!["b"], "a was evicted for b");
    let (_, ps) = h.get("/api/ps").await;
    let ps: Value = serde_json::from_str(&ps).unwrap();
    assert_eq!(ps["models"][0]["name"], "b");
    // keep_alive 0 unloads right after the request.
    let (_, v) = h
        .post(
            "/api/generate",
            json!({"model": "b", "prompt": "x", "stream": false, "keep_alive": 0, "options": {"num_predict": 1}}),
        )
        .await;
    assert_eq!(v["done"], true);
    wait_until(|| h.state.engine.models().loaded_models().is_empty()).await;
    // An empty prompt loads; keep_alive 0 with it unloads.
    let (_, v) = h.post("/api/generate", json!({"model": "a"})).await;
    assert_eq!(v["done_reason"], "load", "{v}");
    assert_eq!(h.state.engine.models().loaded_models().len(), 1);
    let (_, v) = h
        .post("/api/generate", json!({"model": "a", "keep_alive": 0}))
        .await;
    assert_eq!(v["done_reason"], "unload", "{v}");
    wait_until(|| h.state.engine.models().loaded_models().is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_models_are_unloaded_after_keep_alive() {
    let cfg = EngineConfig {
        keep_alive: KeepAlive::For(Duration::from_millis(300)),
        ..config()
    };
    let h = Harness::start(&["tiny"], cfg, Duration::from_millis(1)).await;
    assert_eq!(
        h.post("/v1/completions", json!({"prompt": "x", "max_tokens": 1}))
            .await
            .0,
        200
    );
    assert_eq!(h.state.engine.models().loaded_models().len(), 1);
    wait_until(|| h.state.engine.models().loaded_models().is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_routes_health_metrics_and_tokens() {
    let h = Harness::one().await;
    let (status, body) = h.get("/health").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["models"][0]["name"], "tiny");

    let (_, body) = h.get("/v1/models").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"][0]["id"], "tiny");
    let (_, body) = h.get("/api/tags").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["models"][0]["details"]["format"], "gguf");
    let (_, body) = h.get("/api/version").await;
    assert!(body.contains("version"));
    let (status, v) = h.post("/api/show", json!({"model": "tiny"})).await;
    assert_eq!(status, 200);
    assert_eq!(v["model_info"]["general.architecture"], "llama");

    let (status, v) = h.post("/tokenize", json!({"content": "hi"})).await;
    assert_eq!(status, 200, "{v}");
    let tokens = v["tokens"].clone();
    assert_eq!(tokens, json!([114, 115]));
    let (_, v) = h.post("/detokenize", json!({"tokens": tokens})).await;
    assert_eq!(v["content"], "hi");
    let (_, v) = h
        .post(
            "/tokenize",
            json!({"content": "hi", "with_pieces": true, "add_special": true}),
        )
        .await;
    assert_eq!(v["tokens"][1]["piece"], "h", "{v}");

    let (status, v) = h
        .post(
            "/api/template/render",
            json!({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["prompt"],
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(v["template"], "chatml");
    assert!(v["stop"].as_array().unwrap().contains(&json!("<|im_end|>")));

    h.post("/v1/chat/completions", chat("x", json!({"max_tokens": 2})))
        .await;
    let (status, text) = h.get("/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        "shimmy_requests_total{route=\"/v1/chat/completions\",status=\"200\"}",
        "shimmy_generated_tokens_total{model=\"tiny\"} 2",
        "shimmy_time_to_first_token_seconds_bucket",
        "shimmy_time_per_output_token_seconds_bucket",
        "shimmy_busy_slots{model=\"tiny\"} 0",
        "shimmy_queue_depth{model=\"tiny\"} 0",
        "shimmy_loaded_models 1",
        "shimmy_device_memory_total_bytes{device=\"CPU\",kind=\"cpu\"}",
        "shimmy_generated_tokens_per_second",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_all_complete_with_the_same_text() {
    let h = Harness::start(&["tiny"], config(), Duration::from_millis(2)).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = h.http.clone();
        let url = format!("{}/v1/chat/completions", h.base);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&chat(
                    &format!("q{i}"),
                    json!({"max_tokens": 5, "stream": true}),
                ))
                .send()
                .await
                .unwrap();
            r.text().await.unwrap()
        }));
    }
    for t in tasks {
        let text = t.await.unwrap();
        let content: String = sse_events(&text)
            .iter()
            .filter(|e| *e != "[DONE]")
            .filter_map(|e| {
                serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(content, "tok0 tok1 tok2 tok3 tok4");
    }
}

#[tokio::test]
async fn router_builds_without_a_runtime_listener() {
    // The router is a plain value over the state: no socket is bound, requests go straight
    // into it. Every route the banner and /health list is served (no 404/405 from routing).
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let engine = Engine::new(
        FakeBackend::new(Duration::ZERO),
        registry(),
        Catalog::default(),
        config(),
    );
    let app = router(crate::AppState::new(engine, ServerConfig::default()));
    for (method, path, _) in crate::routes::ROUTES {
        let uri = path.replace("{name}", "x");
        let request = Request::builder()
            .method(*method)
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let status = app
            .clone()
            .oneshot(request)
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status != 404 && status != 405, "{method} {path}: {status}");
    }
    let request = Request::builder()
        .uri("/v1/nowhere")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "route_not_found", "{v}");
}

#[tokio::test]
async fn a_busy_port_is_a_clear_error() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = crate::bind(&addr).await.unwrap_err().to_string();
    assert!(
        err.contains("already in use") && err.contains(&addr),
        "{err}"
    );
    let auto = crate::bind("auto").await.unwrap();
    assert!(auto.local_addr().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_while_a_model_loads() {
    let backend = Arc::new(FakeBackend {
        step: Duration::from_millis(1),
        load_delay: Duration::from_millis(500),
        loads: std::sync::Mutex::new(0),
    });
    let h = Harness::with_backend(&["tiny"], config(), backend).await;
    let client = h.http.clone();
    let url = format!("{}/v1/completions", h.base);
    let request = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"prompt": "x", "max_tokens": 1}))
            .send()
            .await
            .unwrap()
            .status()
    });
    wait_until(|| h.state.engine.models().is_loading()).await;
    let r = h
        .http
        .get(format!("{}/health", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "loading");
    assert_eq!(request.await.unwrap(), 200);
    assert_eq!(h.get("/health").await.0, 200);
}
