//! `shimmy-host serve` on real llama.cpp: the OpenAI Responses API (`/v1/responses`)
//! through the official `openai` Python SDK on a test-kit model and on
//! SmolLM2-135M-Instruct, and bad input over plain HTTP.

mod common;

use common::real_model::smollm2_path;
use common::schema::{assert_valid, weather_schema};
use common::{http, run_python, s, Sandbox, ServerProc};
use serde_json::{json, Value};

fn serve(sb: &Sandbox, model: &str) -> ServerProc {
    sb.serve(&["--model", model, "--ctx-size", "1024", "--parallel", "2"])
}

/// The name the server lists its one model under.
fn model_name(server: &ServerProc) -> String {
    let v: Value = http(30)
        .get(format!("{}/v1/models", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["data"][0]["id"].as_str().unwrap().to_string()
}

/// The script's last line, whose forced call went through the tool's schema as a grammar.
fn check(out: &str) -> Value {
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_valid(&weather_schema(), &v["arguments"]);
    v
}

#[test]
fn openai_sdk_responses_on_a_test_kit_model() {
    let sb = Sandbox::new();
    let server = serve(&sb, s(&common::models().dense));
    let model = model_name(&server);
    let v = check(&run_python(
        "openai_responses.py",
        &server.base,
        &[&model, "testkit"],
    ));
    // So did the structured answer through its schema.
    assert_valid(&v["schema"], &v["person"]);
}

#[test]
fn openai_sdk_responses_on_smollm2() {
    let sb = Sandbox::new();
    let path = smollm2_path();
    let server = serve(&sb, s(&path));
    let model = model_name(&server);
    check(&run_python(
        "openai_responses.py",
        &server.base,
        &[&model, "smollm2"],
    ));
}

#[test]
fn bad_responses_requests_get_openai_errors() {
    let sb = Sandbox::new();
    let server = serve(&sb, s(&common::models().dense));
    let model = model_name(&server);
    let req = |extra: Value| {
        let mut b = json!({"model": model, "input": "hi", "max_output_tokens": 4});
        for (k, x) in extra.as_object().unwrap() {
            b[k] = x.clone();
        }
        b
    };
    let cases = [
        (req(json!({"input": 7})), 400, "input"),
        (
            req(json!({"input": [{"type": "hologram"}]})),
            400,
            "input[0].type",
        ),
        (
            req(
                json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
            ),
            400,
            "input[0].content[0]",
        ),
        (
            req(json!({"previous_response_id": "resp_x"})),
            400,
            "previous_response_id",
        ),
        (
            req(json!({"tools": [{"type": "file_search"}]})),
            400,
            "tools[0].type",
        ),
        (
            req(json!({"text": {"format": {"type": "xml"}}})),
            400,
            "text.format.type",
        ),
        (
            req(json!({"max_output_tokens": -1})),
            400,
            "max_output_tokens",
        ),
        (req(json!({"tool_choice": "required"})), 400, "tool_choice"),
        (req(json!({"model": "gpt-4o"})), 404, "model"),
    ];
    for (body, status, param) in cases {
        let (got, text) = server.post_text("/v1/responses", &body);
        assert_eq!(got, status, "{body}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["param"], param, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
    // `store: true` is answered, unstored, and says so.
    let (got, text) = server.post_text("/v1/responses", &req(json!({"store": true})));
    assert_eq!(got, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["store"], false, "{v}");
    assert_eq!(v["status"], "incomplete", "{v}");
    assert_eq!(v["usage"]["output_tokens"], 4, "{v}");
}
