//! `/v1/messages` over the real router and template plugins on the fake backend (which
//! answers `THINK` with reasoning, `TOOL` with a tool call, anything else with `tok0 tok1...`).

use serde_json::{json, Value};

use super::Harness;

fn body(content: &str, extra: Value) -> Value {
    let mut v = json!({"model": "tiny", "max_tokens": 50,
        "messages": [{"role": "user", "content": content}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// `(event name, data)` of each named server-sent event; the name must be the data's type.
pub(super) fn named_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (name, data) = e
                .strip_prefix("event: ")
                .and_then(|e| e.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not a named event: {e:?}"));
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "{e}");
            (name.to_string(), data)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_carry_thinking_text_tool_use_and_stop_reasons() {
    let h = Harness::one().await;
    let (status, v) = h
        .post("/v1/messages", body("THINK please", json!({})))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
    assert_eq!(
        v["content"],
        json!([{"type": "thinking", "thinking": "pondering", "signature": ""},
               {"type": "text", "text": "The answer"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 5, "{v}");
    assert_eq!(v["usage"]["output_tokens"], 6);

    // `thinking: disabled` leaves the blocks out.
    let (_, v) = h
        .post(
            "/v1/messages",
            body("THINK please", json!({"thinking": {"type": "disabled"}})),
        )
        .await;
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "The answer"}])
    );

    let (_, v) = h
        .post("/v1/messages", body("go", json!({"max_tokens": 3})))
        .await;
    assert_eq!(v["stop_reason"], "max_tokens", "{v}");
    assert_eq!(v["usage"]["output_tokens"], 3);
    let (_, v) = h
        .post(
            "/v1/messages",
            body("go", json!({"stop_sequences": ["tok2"]})),
        )
        .await;
    assert_eq!(v["stop_reason"], "stop_sequence", "{v}");
    assert_eq!(v["stop_sequence"], "tok2");
    assert!(!v["content"][0]["text"].as_str().unwrap().contains("tok2"));

    let tools = json!([{"name": "add", "description": "adds", "input_schema": {"type": "object"}}]);
    let (_, v) = h
        .post("/v1/messages", body("TOOL", json!({"tools": tools})))
        .await;
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let call = v["content"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "add");
    assert_eq!(call["input"], json!({"a": 1}));

    // count_tokens counts the prompt the message was answered from.
    let (status, count) = h
        .post(
            "/v1/messages/count_tokens",
            json!({"model": "tiny", "messages": [{"role": "user", "content": "TOOL"}], "tools": tools}),
        )
        .await;
    assert_eq!(status, 200, "{count}");
    let prompt = v["usage"]["input_tokens"].as_u64().unwrap()
        + v["usage"]["cache_read_input_tokens"].as_u64().unwrap();
    assert_eq!(count, json!({"input_tokens": prompt}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_streams_are_anthropic_events_in_order() {
    let h = Harness::one().await;
    let (status, ctype, text) = h
        .stream(
            "/v1/messages",
            body("THINK please", json!({"stream": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let events = named_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let mut shape: Vec<&str> = names.clone();
    shape.dedup();
    assert_eq!(
        shape,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ],
        "{text}"
    );
    let start = &events[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert!(start["usage"]["input_tokens"].as_u64().unwrap() > 5);
    let joined = |kind: &str, field: &str| -> String {
        events
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == kind)
            .map(|(_, d)| d["delta"][field].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(joined("thinking_delta", "thinking"), "pondering");
    assert_eq!(joined("text_delta", "text"), "The answer");
    let blocks: Vec<(u64, &str)> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| {
            (
                d["index"].as_u64().unwrap(),
                d["content_block"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(blocks, [(0, "thinking"), (1, "text")]);
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 6);

    // A tool call comes last as a whole tool_use block.
    let tools = json!([{"name": "add", "input_schema": {"type": "object"}}]);
    let (_, _, text) = h
        .stream(
            "/v1/messages",
            body("TOOL", json!({"stream": true, "tools": tools})),
        )
        .await;
    let events = named_events(&text);
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(start.1["content_block"]["name"], "add");
    assert_eq!(start.1["content_block"]["input"], json!({}));
    let json_text = joined_of(&events, "input_json_delta", "partial_json");
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).unwrap(),
        json!({"a": 1})
    );
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use", "{text}");
}

fn joined_of(events: &[(String, Value)], kind: &str, field: &str) -> String {
    events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == kind)
        .map(|(_, d)| d["delta"][field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_anthropic_errors() {
    let h = Harness::one().await;
    let no_max = json!({"model": "tiny", "messages": [{"role": "user", "content": "x"}]});
    let cases = [
        (
            "/v1/messages",
            no_max,
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            "/v1/messages",
            body("x", json!({"model": "claude-opus"})),
            404,
            "not_found_error",
            "claude-opus",
        ),
        (
            "/v1/messages",
            body(
                "x",
                json!({"messages": [{"role": "user", "content": [{"type": "image"}]}]}),
            ),
            400,
            "invalid_request_error",
            "image",
        ),
        (
            "/v1/messages/count_tokens",
            json!({"messages": "hi"}),
            400,
            "invalid_request_error",
            "messages",
        ),
    ];
    for (path, b, status, kind, needle) in cases {
        let (got, v) = h.post(path, b.clone()).await;
        assert_eq!(got, status, "{b}: {v}");
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
    }
    let r = h
        .http
        .post(format!("{}/v1/messages", h.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let r = h
        .http
        .get(format!("{}/v1/messages", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_preflights_may_send_the_anthropic_headers() {
    let h = Harness::one().await;
    let r = h
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/messages", h.base))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "anthropic-version,anthropic-beta,anthropic-dangerous-direct-browser-access,x-api-key",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in [
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "x-api-key",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
}
