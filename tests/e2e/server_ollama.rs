//! `shimmy-host serve` on real llama.cpp: the Ollama-compatible routes through the official
//! `ollama` Python client and plain HTTP (NDJSON), shimmy's own `/api/generate` body, and bad
//! input in Ollama's error shape.

mod common;

use common::{http, run_python, s, Sandbox, ServerProc};
use serde_json::{json, Value};

fn post(server: &ServerProc, path: &str, body: &Value) -> (u16, String) {
    server.post_text(path, body)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(json_of).collect()
}

#[test]
fn ollama_python_client_drives_every_ollama_route() {
    let sb = Sandbox::new();
    let server = sb.serve_dense();
    let out = run_python("ollama_client.py", &server.base, &["dense"]);
    let v: Value = json_of(out.lines().last().unwrap());
    assert!(!v["generate"].as_str().unwrap().is_empty());
}

#[test]
fn generate_streams_ndjson_with_ollama_counts_and_accepts_shimmy_bodies() {
    let sb = Sandbox::new();
    let server = sb.serve_dense();
    let body = json!({"model": "dense", "prompt": "Why is the sea salty?", "options": {"num_predict": 8, "temperature": 0}});
    let r = http(60)
        .post(format!("{}/api/generate", server.base))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let parts = lines(&r.text().unwrap());
    let last = parts.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "length");
    assert_eq!(last["eval_count"], 8);
    assert_eq!(last["model"], "dense");
    let first_eval = last["prompt_eval_count"].as_u64().unwrap();
    assert!(first_eval > 5, "{last}");
    for key in [
        "created_at",
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(!last[key].is_null(), "{key} missing in {last}");
    }
    assert!(parts[..parts.len() - 1].iter().all(|p| p["done"] == false));
    let streamed: String = parts
        .iter()
        .filter_map(|p| p["response"].as_str())
        .collect();

    // Not streamed: same text; the prompt is in the cache now, so only the rest is evaluated.
    let mut once = body.clone();
    once["stream"] = json!(false);
    let (status, text) = post(&server, "/api/generate", &once);
    assert_eq!(status, 200, "{text}");
    let v = json_of(&text);
    assert_eq!(v["response"].as_str().unwrap(), streamed);
    let cached_eval = v["prompt_eval_count"].as_u64().unwrap();
    assert!(cached_eval < first_eval, "{cached_eval} vs {first_eval}");

    // shimmy's body: messages, max_tokens and sampling at the top level, and system.
    let (status, text) = post(
        &server,
        "/api/generate",
        &json!({"model": "dense", "stream": false, "system": "Be brief.", "max_tokens": 5, "temperature": 0, "top_k": 1, "top_p": 1.0,
                "messages": [{"role": "user", "content": "Hi"}]}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(json_of(&text)["eval_count"], 5);
    // model omitted: the only model is used.
    let (status, text) = post(
        &server,
        "/api/generate",
        &json!({"prompt": "Hi", "stream": false, "max_tokens": 3}),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(json_of(&text)["eval_count"], 3);
    // raw: the prompt as it is.
    let (status, text) = post(
        &server,
        "/api/generate",
        &json!({"model": "dense", "prompt": "Once upon", "raw": true, "stream": false, "options": {"num_predict": 4, "stop": ["zzz"]}}),
    );
    assert_eq!(status, 200, "{text}");
    let v = json_of(&text);
    assert_eq!(v["eval_count"], 4, "{text}");
    let (_, tokens) = post(
        &server,
        "/tokenize",
        &json!({"content": "Once upon", "add_special": true}),
    );
    let n = json_of(&tokens)["tokens"].as_array().unwrap().len() as u64;
    let evaluated = v["prompt_eval_count"].as_u64().unwrap();
    assert!(
        evaluated >= 1 && evaluated <= n,
        "{evaluated} of {n} raw prompt tokens"
    );
    // format json constrains the output to JSON.
    let (status, text) = post(
        &server,
        "/api/generate",
        &json!({"model": "dense", "prompt": "Give me JSON", "format": "json", "stream": false, "options": {"num_predict": 24, "temperature": 0}}),
    );
    assert_eq!(status, 200, "{text}");
    let out = json_of(&text)["response"]
        .as_str()
        .unwrap()
        .trim_start()
        .to_string();
    assert!(out.starts_with('{'), "{out:?}");
}

#[test]
fn chat_streams_and_info_routes_answer_like_ollama() {
    let sb = Sandbox::new();
    let server = sb.serve_dense();
    let body = json!({"model": "dense", "messages": [{"role": "user", "content": "Hello"}], "options": {"num_predict": 6, "temperature": 0}});
    let (status, text) = post(&server, "/api/chat", &body);
    assert_eq!(status, 200, "{text}");
    let parts = lines(&text);
    assert!(parts.iter().all(|p| p["message"]["role"] == "assistant"));
    let last = parts.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["eval_count"], 6);

    let tags = json_of(
        &http(60)
            .get(format!("{}/api/tags", server.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    let m = &tags["models"][0];
    assert_eq!(m["name"], "dense");
    assert_eq!(m["details"]["format"], "gguf");
    assert_eq!(m["details"]["family"], "llama");
    assert!(m["size"].as_u64().unwrap() > 0);
    let ps = json_of(
        &http(60)
            .get(format!("{}/api/ps", server.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert_eq!(ps["models"][0]["name"], "dense", "{ps}");
    assert!(ps["models"][0]["expires_at"].is_string());
    let (status, text) = post(&server, "/api/show", &json!({"model": "dense"}));
    assert_eq!(status, 200);
    let show = json_of(&text);
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert!(show["template"].as_str().unwrap().contains("im_start"));
    let version = json_of(
        &http(60)
            .get(format!("{}/api/version", server.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert!(version["version"].is_string());

    // keep_alive 0 unloads; the next request loads it again.
    let (_, text) = post(
        &server,
        "/api/generate",
        &json!({"model": "dense", "keep_alive": 0}),
    );
    assert_eq!(json_of(&text)["done_reason"], "unload", "{text}");
    let ps = json_of(
        &http(60)
            .get(format!("{}/api/ps", server.base))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert_eq!(ps["models"], json!([]));
    let (_, text) = post(&server, "/api/generate", &json!({"model": "dense"}));
    assert_eq!(json_of(&text)["done_reason"], "load", "{text}");
}

#[test]
fn bad_input_gets_4xx_with_an_ollama_error_body() {
    let sb = Sandbox::new();
    let server = sb.serve_dense();
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        ("/api/generate", "{\"model\": ", 400, "not valid JSON"),
        (
            "/api/generate",
            r#"{"model": "llama3", "prompt": "x"}"#,
            404,
            "llama3",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": ["x"]}"#,
            400,
            "prompt",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "images": ["iVBORw0KGgo="]}"#,
            400,
            "images",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "options": {"num_predict": "ten"}}"#,
            400,
            "num_predict",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "options": {"tfs_z": 0.5}}"#,
            400,
            "tfs_z",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "format": {"type": "nonsense"}}"#,
            400,
            "`format` is not a valid JSON schema",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "keep_alive": "soon"}"#,
            400,
            "keep_alive",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "template": "{{ .Prompt }}"}"#,
            400,
            "template",
        ),
        (
            "/api/generate",
            r#"{"model": "dense", "prompt": "x", "stream": "yes"}"#,
            400,
            "stream",
        ),
        (
            "/api/chat",
            r#"{"model": "dense", "messages": []}"#,
            400,
            "empty",
        ),
        (
            "/api/chat",
            r#"{"model": "dense", "messages": [{"role": "narrator", "content": "x"}]}"#,
            400,
            "narrator",
        ),
        (
            "/api/chat",
            r#"{"model": "dense", "messages": [{"role": "user", "content": 3}]}"#,
            400,
            "content",
        ),
        ("/api/show", r#"{}"#, 400, "model"),
        ("/api/show", r#"{"model": "nope"}"#, 404, "nope"),
    ];
    for (path, body, want, mention) in cases {
        let r = http(60)
            .post(format!("{}{path}", server.base))
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let v = json_of(&r.text().unwrap());
        assert_eq!(status, want, "{path} {body}: {v}");
        let message = v["error"].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(
            message.contains(mention),
            "{path} {body}: {message:?} should mention {mention:?}"
        );
    }
}

#[test]
fn chat_truncation_drops_whole_old_messages_and_keeps_system_and_last() {
    let sb = Sandbox::new();
    let n_ctx = 256;
    let ctx = n_ctx.to_string();
    let server = sb.serve(&[
        "--model",
        s(&common::models().dense),
        "--ctx-size",
        &ctx,
        "--parallel",
        "1",
    ]);
    let filler = |tag: &str, words: usize| {
        let mut t = format!("{tag}:");
        for i in 0..words {
            t.push_str([" the sea", " is", " salty", " water"][i % 4]);
        }
        t
    };
    let msg = |role: &str, content: String| json!({"role": role, "content": content});
    let messages = vec![
        msg("system", "You are a terse assistant.".into()),
        msg("user", filler("OLDEST", 150)),
        msg("assistant", filler("older", 60)),
        msg("user", filler("old", 60)),
        msg("assistant", filler("recent", 40)),
        msg("user", "Why is the sea salty?".into()),
    ];
    let tokens = |messages: &[Value]| {
        let (status, text) = post(
            &server,
            "/api/template/render",
            &json!({"model": "dense", "messages": messages}),
        );
        assert_eq!(status, 200, "{text}");
        json_of(&text)["prompt_tokens"].as_u64().unwrap()
    };
    // What Ollama keeps: the system message, then the shortest tail that fits the context.
    assert!(tokens(&messages) >= n_ctx, "the whole chat must not fit");
    let (start, expected) = (2..messages.len())
        .map(|k| {
            let mut kept = vec![messages[0].clone()];
            kept.extend_from_slice(&messages[k..]);
            (k, tokens(&kept))
        })
        .find(|&(_, n)| n < n_ctx)
        .expect("the last message fits alone");
    assert!(start < messages.len() - 1, "some history fits: {start}");
    let token_cut = 4 + (n_ctx - 4) / 2;
    assert_ne!(
        expected, token_cut,
        "the two ways must give different counts"
    );

    let body = json!({"model": "dense", "messages": messages, "stream": false,
        "options": {"num_predict": 2, "temperature": 0}});
    let (status, text) = post(&server, "/api/chat", &body);
    assert_eq!(status, 200, "{text}");
    let v = json_of(&text);
    // Exactly the kept messages' prompt, from a fresh cache; a token cut would leave
    // num_keep + half the rest of the context (130) and a cut system message.
    assert_eq!(v["prompt_eval_count"].as_u64(), Some(expected), "{v}");
    assert_eq!(v["eval_count"], 2, "{v}");

    // truncate: false refuses the chat instead, in Ollama's shape.
    let mut strict = body.clone();
    strict["truncate"] = json!(false);
    let (status, text) = post(&server, "/api/chat", &strict);
    assert_eq!(status, 400, "{text}");
    let e = json_of(&text);
    assert!(e["error"].as_str().unwrap().contains("context"), "{e}");
}
