//! `shimmy-host serve` on real llama.cpp: the Anthropic Messages API (`/v1/messages`,
//! `/v1/messages/count_tokens`) through the official `anthropic` Python SDK on a test-kit
//! model and on SmolLM2-135M-Instruct, and bad input over plain HTTP; and reasoning on real
//! llama.cpp through the `anthropic` and `openai` SDKs and the Ollama route.

mod common;

use common::real_model::smollm2_path;
use common::schema::{assert_valid, weather_schema};
use common::{http, run_python, s, Sandbox, ServerProc};
use serde_json::{json, Value};
use shimmy_testkit::{write_model, ModelSpec, CHATML_TEMPLATE};

const KEY: &str = "sk-anthropic-test";

fn serve(sb: &Sandbox, model: &str) -> ServerProc {
    sb.serve(&[
        "--model",
        model,
        "--ctx-size",
        "1024",
        "--parallel",
        "2",
        "--api-key",
        KEY,
    ])
}

/// The name the server lists its one model under.
fn model_name(server: &ServerProc) -> String {
    let v: Value = http(30)
        .get(format!("{}/v1/models", server.base))
        .header("x-api-key", KEY)
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["data"][0]["id"].as_str().unwrap().to_string()
}

fn post(server: &ServerProc, path: &str, body: &Value, key: Option<&str>) -> (u16, String) {
    let mut r = http(120)
        .post(format!("{}{path}", server.base))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "tools-2024-04-04")
        .json(body);
    if let Some(key) = key {
        r = r.header("x-api-key", key);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn anthropic_sdk_on_a_test_kit_model() {
    let sb = Sandbox::new();
    let server = serve(&sb, s(&common::models().dense));
    let model = model_name(&server);
    let out = run_python(
        "anthropic_client.py",
        &server.base,
        &[&model, "testkit", KEY],
    );
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    // The forced call's input went through the tool's schema as a grammar.
    assert_valid(&weather_schema(), &v["input"]);
}

#[test]
fn anthropic_sdk_on_smollm2() {
    let sb = Sandbox::new();
    let path = smollm2_path();
    let server = serve(&sb, s(&path));
    let model = model_name(&server);
    let out = run_python(
        "anthropic_client.py",
        &server.base,
        &[&model, "smollm2", KEY],
    );
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_valid(&weather_schema(), &v["input"]);
    assert!(v["text"].as_str().unwrap().contains("Paris"), "{v}");
}

#[test]
fn messages_stream_events_and_bad_input_in_anthropic_shape() {
    let sb = Sandbox::new();
    let server = serve(&sb, s(&common::models().dense));
    let model = model_name(&server);
    let user = json!([{"role": "user", "content": "Tell me about ships"}]);

    // The raw stream: named events whose name is the data's type, no [DONE].
    let body = json!({"model": model, "max_tokens": 8, "messages": user, "stream": true,
        "temperature": 0});
    let (status, text) = post(&server, "/v1/messages", &body, Some(KEY));
    assert_eq!(status, 200, "{text}");
    let mut names = Vec::new();
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let (name, data) = event
            .strip_prefix("event: ")
            .and_then(|e| e.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("not a named event: {event:?}"));
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], name, "{event}");
        if name == "message_delta" {
            assert_eq!(data["delta"]["stop_reason"], "max_tokens", "{data}");
            assert_eq!(data["usage"]["output_tokens"], 8, "{data}");
        }
        names.push(name.to_string());
    }
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    assert!(!text.contains("[DONE]"));

    // Bad input: a 4xx in Anthropic's shape that names the problem.
    let msg = |extra: Value| {
        let mut b = json!({"model": model, "max_tokens": 8, "messages": user});
        for (k, x) in extra.as_object().unwrap() {
            b[k] = x.clone();
        }
        b
    };
    let cases = [
        (
            "/v1/messages",
            json!({"model": model, "messages": user}),
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            "/v1/messages",
            msg(json!({"max_tokens": "eight"})),
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            "/v1/messages",
            msg(json!({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]})),
            400,
            "invalid_request_error",
            "hologram",
        ),
        (
            "/v1/messages",
            msg(json!({"tools": [{"type": "bash_20250124", "name": "bash"}]})),
            400,
            "invalid_request_error",
            "server tool",
        ),
        (
            "/v1/messages",
            msg(json!({"model": "claude-sonnet-4-5"})),
            404,
            "not_found_error",
            "claude-sonnet-4-5",
        ),
        (
            "/v1/messages",
            msg(json!({"tool_choice": {"type": "any"}})),
            400,
            "invalid_request_error",
            "tool_choice",
        ),
        (
            "/v1/messages/count_tokens",
            json!({"model": model, "messages": [{"role": "user"}]}),
            400,
            "invalid_request_error",
            "messages[0].content",
        ),
    ];
    for (path, body, status, kind, needle) in cases {
        let (got, text) = post(&server, path, &body, Some(KEY));
        assert_eq!(got, status, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // No key: 401 in Anthropic's shape on both routes.
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let (got, text) = post(&server, path, &msg(json!({})), None);
        assert_eq!(got, 401, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], "authentication_error", "{v}");
    }
    // The server still answers after all that.
    let (got, text) = post(&server, "/v1/messages", &msg(json!({})), Some(KEY));
    assert_eq!(got, 200, "{text}");
}

/// ChatML whose generation prompt opens a reasoning block, as DeepSeek R1's and Qwen3's
/// thinking templates do: what the model writes is reasoning until `</think>`. It prints an
/// assistant message's `reasoning_content` in a `<think>` block before its content, in every
/// turn (Qwen3's prints it after the last user message only).
fn reasoning_template() -> String {
    CHATML_TEMPLATE
        .replace(
            "{{ '<|im_start|>assistant\\n' }}",
            "{{ '<|im_start|>assistant\\n<think>\\n' }}",
        )
        .replace(
            "message['content'] +",
            "((('<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n') \
             if message.reasoning_content else '') + message['content']) +",
        )
}

/// A model with [`reasoning_template`], served with one slot.
fn serve_reasoner(sb: &Sandbox) -> ServerProc {
    let path = sb.path().join("reasoner.gguf");
    write_model(
        &ModelSpec::dense().with_chat_template(Some(reasoning_template())),
        &path,
    )
    .expect("write reasoner");
    sb.serve(&["--model", s(&path), "--ctx-size", "1024", "--parallel", "1"])
}

#[test]
fn reasoning_of_a_prompt_opened_think_block_through_the_sdks() {
    let sb = Sandbox::new();
    let server = serve_reasoner(&sb);
    let model = model_name(&server);
    let out = run_python("reasoning_clients.py", &server.base, &[&model]);
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let thought = v["thought"].as_str().unwrap();

    // Ollama's `think`: the same reasoning in `message.thinking`, no content.
    let (status, text) = server.post_text(
        "/api/chat",
        &json!({"model": model, "messages": [{"role": "user", "content": "Why is the sea salty?"}],
                "think": true, "stream": false, "options": {"num_predict": 8, "temperature": 0}}),
    );
    assert_eq!(status, 200, "{text}");
    let chat: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(chat["message"]["thinking"], thought, "{chat}");
    assert_eq!(chat["message"]["content"], "", "{chat}");

    // A budget that leaves no room for the answer is refused in Anthropic's shape.
    let (status, text) = post(
        &server,
        "/v1/messages",
        &json!({"model": model, "max_tokens": 8, "thinking": {"type": "enabled", "budget_tokens": 8},
                "messages": [{"role": "user", "content": "Hi"}]}),
        None,
    );
    assert_eq!(status, 400, "{text}");
    let e: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(e["type"], "error", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget_tokens"),
        "{e}"
    );
}

/// An earlier assistant turn's reasoning reaches the template from each API's own shape (Ollama
/// `thinking`, Anthropic `thinking` blocks, Responses `reasoning` items with reasoning text or
/// only a summary, Chat Completions `reasoning_content`): every route's prompt has exactly as
/// many tokens as the template's render of the conversation with that reasoning, more than
/// without it.
#[test]
fn earlier_reasoning_reaches_the_template_from_every_api() {
    let sb = Sandbox::new();
    let server = serve_reasoner(&sb);
    let model = model_name(&server);
    let (question, thought, answer, follow_up) = (
        "Why is the sea salty?",
        "Rain wears salt out of rocks and rivers carry it down.",
        "Rivers bring it.",
        "And why is the sky blue?",
    );
    let chat = |assistant: Value| {
        json!([{"role": "user", "content": question}, assistant,
               {"role": "user", "content": follow_up}])
    };
    // Ollama first: nothing is cached yet, so `prompt_eval_count` is the whole prompt.
    let (status, text) = server.post_text(
        "/api/chat",
        &json!({"model": model, "stream": false, "options": {"num_predict": 1},
                "messages": chat(json!({"role": "assistant", "content": answer, "thinking": thought}))}),
    );
    assert_eq!(status, 200, "{text}");
    let ollama: Value = serde_json::from_str(&text).unwrap();

    let render = |reasoning: Option<&str>| {
        let messages =
            chat(json!({"role": "assistant", "content": answer, "reasoning_content": reasoning}));
        let (status, text) = server.post_text(
            "/api/template/render",
            &json!({"model": model, "messages": messages}),
        );
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        (
            v["prompt"].as_str().unwrap().to_string(),
            v["prompt_tokens"].as_u64().unwrap(),
        )
    };
    let (prompt, with) = render(Some(thought));
    assert!(
        prompt.contains(&format!(
            "<|im_start|>assistant\n<think>\n{thought}\n</think>\n\n{answer}<|im_end|>"
        )),
        "{prompt}"
    );
    let (_, without) = render(None);
    assert!(
        with > without,
        "{with} tokens with the reasoning, {without} without"
    );
    assert_eq!(
        ollama["prompt_eval_count"], with,
        "Ollama `thinking`: {ollama}"
    );

    let out = run_python(
        "earlier_reasoning.py",
        &server.base,
        &[&model, question, thought, answer, follow_up],
    );
    let counts: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let expected = [
        ("anthropic_count", with),
        ("anthropic_messages", with),
        ("responses", with),
        ("responses_summary", with),
        ("chat", with),
        ("anthropic_count_without", without),
        ("responses_without", without),
    ];
    let wrong: Vec<&str> = expected
        .iter()
        .filter(|(key, n)| counts[key] != *n)
        .map(|(key, _)| *key)
        .collect();
    assert!(
        wrong.is_empty(),
        "{wrong:?} differ from the render ({with} tokens with the reasoning, {without} \
         without): {counts}"
    );
}
