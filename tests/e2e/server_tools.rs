//! Tool calling and structured output on real llama.cpp with random-weight test-kit models:
//! forced tool calls and JSON schemas are enforced by a sampling grammar, so even a model
//! that writes noise answers with a call (or JSON) that validates.

mod common;

use common::schema::assert_valid;
use common::{run_python, Sandbox, ServerProc};
use serde_json::{json, Value};

fn post(server: &ServerProc, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = server.post_text(path, body);
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, v)
}

fn serve(sb: &Sandbox) -> ServerProc {
    sb.serve(&[
        "--model",
        common::s(&common::models().dense),
        // The Hermes tool prompt (the test model's template drops tools) and up to 8 calls.
        "--ctx-size",
        "2048",
        "--parallel",
        "2",
    ])
}

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 12},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                    "unit": {"enum": ["celsius", "fahrenheit"]}
                },
                "required": ["city", "days", "unit"]
            }
        }
    })
}

fn clock_tool() -> Value {
    json!({"type": "function", "function": {"name": "now", "description": "The time", "parameters": {"type": "object", "properties": {}}}})
}

fn chat(extra: Value) -> Value {
    let mut v = json!({
        "model": "dense",
        "messages": [{"role": "user", "content": "What is the weather in Paris for 3 days?"}],
        "max_tokens": 200,
        "temperature": 0.8,
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn named_and_required_tool_choice_return_schema_valid_calls() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let schema = weather_tool()["function"]["parameters"].clone();
    for seed in [1, 2, 3] {
        let (status, v) = post(
            &server,
            "/v1/chat/completions",
            &chat(json!({
                "tools": [weather_tool(), clock_tool()],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "seed": seed,
            })),
        );
        assert_eq!(status, 200, "{v}");
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
        assert!(choice["message"]["content"].is_null(), "{v}");
        let calls = choice["message"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "parallel calls of one named tool: {v}");
        assert_eq!(calls[0]["type"], "function");
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
        let args: Value =
            serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_valid(&schema, &args);
    }
    // Parallel calls when asked for: 1 to 8 calls, each valid.
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &chat(json!({
            "tools": [weather_tool()],
            "tool_choice": "required",
            "parallel_tool_calls": true,
            "max_tokens": 900,
            "seed": 5,
        })),
    );
    assert_eq!(status, 200, "{v}");
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert!((1..=8).contains(&calls.len()), "{v}");
    for call in calls {
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_valid(&schema, &args);
    }
    // `required` with parallel calls off: exactly one call, to one of the tools.
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &chat(json!({
            "tools": [weather_tool(), clock_tool()],
            "tool_choice": "required",
            "parallel_tool_calls": false,
            "seed": 7,
        })),
    );
    assert_eq!(status, 200, "{v}");
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{v}");
    let name = calls[0]["function"]["name"].as_str().unwrap();
    assert!(name == "get_weather" || name == "now", "{v}");
    // Unique ids across answers.
    let (_, again) = post(
        &server,
        "/v1/chat/completions",
        &chat(json!({"tools": [clock_tool()], "tool_choice": "required", "seed": 7})),
    );
    assert_ne!(
        again["choices"][0]["message"]["tool_calls"][0]["id"],
        calls[0]["id"]
    );
}

#[test]
fn forced_calls_stream_as_tool_call_deltas() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let (status, text) = server.post_text(
        "/v1/chat/completions",
        &chat(json!({
            "tools": [weather_tool()],
            "tool_choice": "required",
            "stream": true,
            "seed": 4,
        })),
    );
    assert_eq!(status, 200, "{text}");
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert_eq!(calls.len(), 1, "{text}");
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    // No call markup leaks into content deltas.
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.is_empty(), "content streamed: {content:?}");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("tool_calls")]);
}

#[test]
fn json_schema_output_parses_and_validates_on_openai_and_ollama_routes() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let schema = json!({
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 16},
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "good": {"type": "boolean"}
        },
        "required": ["title", "rating", "good"],
        "additionalProperties": false
    });
    for seed in [1, 2] {
        let (status, v) = post(
            &server,
            "/v1/chat/completions",
            &chat(json!({
                "response_format": {"type": "json_schema", "json_schema": {"name": "review", "schema": schema, "strict": true}},
                "seed": seed,
            })),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
        let content: Value =
            serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert_valid(&schema, &content);
    }
    // Ollama's `format` with a schema, on /api/chat and /api/generate.
    let (status, v) = post(
        &server,
        "/api/chat",
        &json!({
            "model": "dense", "stream": false, "format": schema,
            "messages": [{"role": "user", "content": "Review a film"}],
            "options": {"num_predict": 200, "seed": 3, "temperature": 0.8}
        }),
    );
    assert_eq!(status, 200, "{v}");
    let content: Value = serde_json::from_str(v["message"]["content"].as_str().unwrap()).unwrap();
    assert_valid(&schema, &content);
    let (status, v) = post(
        &server,
        "/api/generate",
        &json!({
            "model": "dense", "stream": false, "format": schema, "prompt": "Review:",
            "options": {"num_predict": 200, "seed": 4}
        }),
    );
    assert_eq!(status, 200, "{v}");
    let content: Value = serde_json::from_str(v["response"].as_str().unwrap()).unwrap();
    assert_valid(&schema, &content);
}

#[test]
fn tool_and_schema_mistakes_are_400s_naming_the_field() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let cases = [
        (
            json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
            "nope",
        ),
        (
            json!({"tool_choice": "required"}),
            "tool_choice",
            "at least one tool",
        ),
        (
            json!({"tools": [weather_tool()], "tool_choice": "sometimes"}),
            "tool_choice",
            "required",
        ),
        (
            json!({"tools": [weather_tool()], "parallel_tool_calls": "yes"}),
            "parallel_tool_calls",
            "true or false",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}),
            "tools[0].function.parameters",
            "JSON schema",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}}),
            "response_format",
            "not a valid JSON schema",
        ),
        (
            json!({"response_format": {"type": "json_schema"}}),
            "response_format.json_schema",
            "required",
        ),
        (
            json!({"tools": [weather_tool()], "tool_choice": "required", "response_format": {"type": "json_object"}}),
            "tool_choice",
            "cannot be combined",
        ),
    ];
    for (extra, param, needle) in cases {
        let (status, v) = post(&server, "/v1/chat/completions", &chat(extra.clone()));
        assert_eq!(status, 400, "{extra} -> {v}");
        assert_eq!(v["error"]["param"], param, "{extra} -> {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{extra} -> {message}");
    }
    let (status, v) = post(
        &server,
        "/api/chat",
        &json!({"model": "dense", "stream": false, "format": 7, "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("format"), "{v}");
    // The server is still fine.
    let (status, _) = post(
        &server,
        "/v1/chat/completions",
        &chat(json!({"max_tokens": 2})),
    );
    assert_eq!(status, 200);
}

#[test]
fn tool_results_round_trip_through_the_template() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let messages = json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":1,\"unit\":\"celsius\"}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "{\"forecast\":\"sunny\"}"}
    ]);
    // The test model's own template shows tool results only; ChatML (Hermes tools) shows all.
    let (status, rendered) = post(
        &server,
        "/api/template/render",
        &json!({"model": "dense", "messages": messages, "tools": [weather_tool()]}),
    );
    assert_eq!(status, 200, "{rendered}");
    assert!(
        rendered["prompt"].as_str().unwrap().contains("sunny"),
        "{rendered}"
    );
    let (status, rendered) = post(
        &server,
        "/api/template/render",
        &json!({"model": "dense", "messages": messages, "tools": [weather_tool()], "template": "chatml"}),
    );
    assert_eq!(status, 200, "{rendered}");
    let prompt = rendered["prompt"].as_str().unwrap();
    assert!(
        prompt.contains("<tools>") && prompt.contains("get_weather"),
        "{prompt}"
    );
    assert!(
        prompt.contains("<tool_call>") && prompt.contains("\"Paris\""),
        "the call is in the prompt: {prompt}"
    );
    assert!(
        prompt.contains("<tool_response>") && prompt.contains("sunny"),
        "the tool result is in the prompt: {prompt}"
    );
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "dense", "messages": messages, "tools": [weather_tool()], "max_tokens": 4, "temperature": 0}),
    );
    assert_eq!(status, 200, "{v}");
}

#[test]
fn openai_python_sdk_tool_calling_and_structured_output() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let out = run_python("openai_tools.py", &server.base, &["dense"]);
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_valid(
        &weather_tool()["function"]["parameters"]
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("required");
                Value::Object(o)
            })
            .unwrap(),
        &v["arguments"],
    );
    assert!(v["arguments"]["city"].is_string(), "{v}");
    assert_valid(&v["schema"], &v["person"]);
}

#[test]
fn with_tools_offered_a_plain_answer_still_streams_and_matches() {
    let sb = Sandbox::new();
    let server = serve(&sb);
    let body = chat(json!({"tools": [weather_tool()], "temperature": 0, "max_tokens": 24}));
    let (status, plain) = post(&server, "/v1/chat/completions", &body);
    assert_eq!(status, 200, "{plain}");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, text) = server.post_text("/v1/chat/completions", &streamed);
    assert_eq!(status, 200, "{text}");
    let deltas: Vec<String> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| {
            let v: Value = serde_json::from_str(d).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string)
        })
        .collect();
    let message = &plain["choices"][0]["message"];
    if message["tool_calls"].is_null() {
        // Greedy output of the test model is plain text: it streams in pieces, not at the end.
        assert!(deltas.len() > 1, "{text}");
        assert_eq!(deltas.concat(), message["content"].as_str().unwrap());
    }
}
