//! `/v1/responses` over the real router and template plugins on the fake backend (which
//! answers `THINK` with reasoning, `TOOL` with a tool call, anything else with `tok0 tok1...`).

use serde_json::{json, Value};

use super::anthropic_api::named_events;
use super::Harness;

fn body(input: Value, extra: Value) -> Value {
    let mut v = json!({"model": "tiny", "input": input});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_have_reasoning_message_and_function_call_items() {
    let h = Harness::one().await;
    let (status, v) = h
        .post(
            "/v1/responses",
            body(json!("THINK please"), json!({"instructions": "be brief"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["store"], false);
    assert_eq!(v["instructions"], "be brief");
    let output = v["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "reasoning", "{v}");
    assert_eq!(output[0]["content"][0]["text"], "pondering");
    assert_eq!(output[1]["type"], "message");
    assert_eq!(output[1]["content"][0]["type"], "output_text");
    assert_eq!(output[1]["content"][0]["text"], "The answer");
    let usage = &v["usage"];
    assert_eq!(usage["output_tokens"], 6);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + 6
    );

    let (_, v) = h
        .post(
            "/v1/responses",
            body(json!("go"), json!({"max_output_tokens": 3})),
        )
        .await;
    assert_eq!(v["status"], "incomplete", "{v}");
    assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(v["output"][0]["status"], "incomplete");

    let tools = json!([{"type": "function", "name": "add", "parameters": {"type": "object"}}]);
    let (_, v) = h
        .post(
            "/v1/responses",
            body(json!("TOOL"), json!({"tools": tools})),
        )
        .await;
    let call = v["output"].as_array().unwrap().last().unwrap();
    assert_eq!(call["type"], "function_call", "{v}");
    assert_eq!(call["name"], "add");
    assert!(call["call_id"].as_str().unwrap().starts_with("call_"));
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(v["tools"][0]["name"], "add");

    // The call's output goes back as a function_call_output item.
    let round = json!([
        {"role": "user", "content": "TOOL"},
        call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "2"}
    ]);
    let (status, v) = h.post("/v1/responses", body(round, json!({}))).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_streams_are_numbered_events_in_order() {
    let h = Harness::one().await;
    let (status, _, text) = h
        .stream(
            "/v1/responses",
            body(json!("THINK please"), json!({"stream": true})),
        )
        .await;
    assert_eq!(status, 200);
    let events = named_events(&text);
    for (i, (_, d)) in events.iter().enumerate() {
        assert_eq!(d["sequence_number"], i as u64, "{text}");
    }
    let mut names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ],
        "{text}"
    );
    let text_deltas: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text_deltas, "The answer");
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "pondering");
    assert_eq!(done["output"][1]["content"][0]["text"], "The answer");
    let added_id = &events[2].1["item"]["id"];
    assert_eq!(&done["output"][0]["id"], added_id);

    let tools = json!([{"type": "function", "name": "add"}]);
    let (_, _, text) = h
        .stream(
            "/v1/responses",
            body(json!("TOOL"), json!({"stream": true, "tools": tools})),
        )
        .await;
    let events = named_events(&text);
    let args = events
        .iter()
        .find(|(n, _)| n == "response.function_call_arguments.done")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(args.1["name"], "add");
    let done = &events.last().unwrap().1;
    assert_eq!(done["type"], "response.completed");
    assert_eq!(done["response"]["output"][0]["type"], "function_call");

    let (_, _, text) = h
        .stream(
            "/v1/responses",
            body(json!("go"), json!({"stream": true, "max_output_tokens": 2})),
        )
        .await;
    let events = named_events(&text);
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "response.incomplete", "{text}");
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_and_bad_requests_get_openai_errors() {
    let h = Harness::one().await;
    let cases = [
        (
            body(json!("x"), json!({"previous_response_id": "resp_1"})),
            400,
            "previous_response_id",
        ),
        (
            body(json!([{"type": "computer_call_output"}]), json!({})),
            400,
            "input[0].type",
        ),
        (body(json!("x"), json!({"model": "gpt-5"})), 404, "model"),
    ];
    for (b, status, param) in cases {
        let (got, v) = h.post("/v1/responses", b.clone()).await;
        assert_eq!(got, status, "{b}: {v}");
        assert_eq!(v["error"]["param"], param, "{v}");
        assert!(v["error"]["message"].is_string());
    }
}
