//! Tool and workflow plugins through the real binary: `/api/tools`, `/api/workflows`, the
//! `tool` and `workflow` commands, capability grants, limits, and a trapping tool that fails
//! only its own call.

mod common;

use common::{install, models, s, Sandbox, ServerProc};
use serde_json::{json, Value};

fn post(server: &ServerProc, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = server.post_text(path, body);
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, v)
}

fn get(server: &ServerProc, path: &str) -> Value {
    let r = common::http(60)
        .get(format!("{}{path}", server.base))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    r.json().unwrap()
}

fn invoke(server: &ServerProc, tool: &str, arguments: Value) -> (u16, Value) {
    post(
        server,
        &format!("/api/tools/{tool}/invoke"),
        &json!({ "arguments": arguments }),
    )
}

fn serve(sb: &Sandbox, extra: &[&str]) -> ServerProc {
    let mut args = vec!["--model", s(&models().dense), "--ctx-size", "1024"];
    args.extend_from_slice(extra);
    sb.serve(&args)
}

#[test]
fn tools_are_listed_validated_and_invoked_over_http() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[]);
    let tools = get(&server, "/api/tools");
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in ["calculator", "list_files", "read_file"] {
        assert!(names.contains(&name), "{name} missing: {tools}");
    }
    let calc = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "calculator")
        .unwrap();
    assert_eq!(calc["plugin"], "calculator");
    assert_eq!(calc["parameters"]["required"], json!(["expression"]));

    let (status, v) = invoke(
        &server,
        "calculator",
        json!({"expression": "2 * (3 + 4) ^ 2"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["result"], 98);
    // Arguments as an OpenAI-style JSON string work too.
    let (status, v) = invoke(
        &server,
        "calculator",
        json!("{\"expression\": \"-2 ^ 2 + 10 % 4\"}"),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["result"], -2.0);

    // The schema is checked before the plugin runs: the failing field is named.
    let (status, v) = invoke(&server, "calculator", json!({"expression": 3}));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "/expression");
    assert_eq!(v["error"]["code"], "invalid_tool_arguments");
    let (status, v) = invoke(&server, "calculator", json!({}));
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expression"),
        "{v}"
    );
    let (status, v) = post(&server, "/api/tools/calculator/invoke", &json!({}));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "arguments");
    // The tool's own errors.
    let (status, v) = invoke(&server, "calculator", json!({"expression": "1 / (2 - 2)"}));
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("division by zero"),
        "{v}"
    );
    let (status, v) = invoke(&server, "calculator", json!({"expression": "2 +* 3"}));
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("column"),
        "{v}"
    );
    // Unknown tool: 404 listing the tools.
    let (status, v) = invoke(&server, "nope", json!({}));
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "tool_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("calculator"),
        "{v}"
    );
    // The files tool without a grant: denied, naming the fix.
    let (status, v) = invoke(&server, "list_files", json!({}));
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--plugin-grant files:dirs="),
        "{v}"
    );
}

#[test]
fn files_tool_reads_only_the_granted_directory() {
    let sb = Sandbox::new();
    let dir = sb.path().join("shared-docs");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("notes.txt"), "hello from the grant").unwrap();
    std::fs::write(sb.path().join("secret.txt"), "outside").unwrap();
    let grant = format!("files:dirs={}", s(&dir));
    let server = serve(&sb, &["--plugin-grant", &grant]);
    let (status, v) = invoke(&server, "list_files", json!({}));
    assert_eq!(status, 200, "{v}");
    let entries: Vec<&str> = v["result"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        entries.contains(&"notes.txt") && entries.contains(&"sub"),
        "{v}"
    );
    let (status, v) = invoke(&server, "read_file", json!({"path": "notes.txt"}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["content"], "hello from the grant");
    for path in ["../secret.txt", s(&sb.path().join("secret.txt"))] {
        let (status, v) = invoke(&server, "read_file", json!({ "path": path }));
        assert_eq!(status, 403, "{path}: {v}");
    }
    let (status, v) = invoke(&server, "read_file", json!({"path": "missing.txt"}));
    assert_eq!(status, 404, "{v}");
}

#[test]
fn a_trapping_tool_fails_only_its_call() {
    let sb = Sandbox::new();
    let dir = sb.path().join("plugins");
    install("bad-tool", &dir);
    let server = serve(
        &sb,
        &["--plugin-dir", s(&dir), "--plugin-timeout-ms", "500"],
    );
    for (what, status) in [("trap", 502), ("loop", 504), ("error", 500)] {
        let (got, v) = invoke(&server, "bad", json!({ "do": what }));
        assert_eq!(got, status, "{what}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("bad-tool"),
            "{v}"
        );
        let (got, v) = invoke(&server, "bad", json!({"do": "ok"}));
        assert_eq!(got, 200, "after {what}: {v}");
    }
    // Inference is untouched.
    let (status, v) = post(
        &server,
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}),
    );
    assert_eq!(status, 200, "{v}");
}

fn pipeline_input() -> Value {
    json!({
        "input": {"a": 6, "b": 7},
        "steps": [
            {"id": "calc", "kind": "tool", "tool": "calculator",
             "arguments": {"expression": "{{input.a}} * {{input.b}}"}},
            {"id": "is42", "kind": "branch",
             "condition": {"value": "{{calc.output}}", "matches_json": {"result": 42}},
             "then": ["yes"], "else": ["no"]},
            {"id": "yes", "kind": "transform", "op": "template",
             "template": "{{input.a}} * {{input.b}} = {{calc.output.result}}"},
            {"id": "no", "kind": "transform", "op": "template", "template": "not 42"},
            {"id": "say", "kind": "llm", "prompt": "Announce: {{yes.output}}", "max_tokens": 6,
             "temperature": 0},
            {"id": "shout", "kind": "transform", "op": "upper", "value": "{{yes.output}}"}
        ]
    })
}

fn generated_tokens(server: &ServerProc) -> f64 {
    let text = common::http(30)
        .get(format!("{}/metrics", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("shimmy_generated_tokens_total"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn pipeline_workflow_runs_tool_llm_transform_and_branch_steps() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[]);
    let listed = get(&server, "/api/workflows");
    let names: Vec<&str> = listed["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"agent") && names.contains(&"pipeline"),
        "{listed}"
    );

    let before = generated_tokens(&server);
    let (status, v) = post(
        &server,
        "/api/workflows/pipeline/run",
        &json!({ "input": pipeline_input() }),
    );
    assert_eq!(status, 200, "{v}");
    let out = &v["output"];
    assert_eq!(out["outputs"]["yes"], "6 * 7 = 42", "{v}");
    assert_eq!(out["outputs"]["shout"], "6 * 7 = 42");
    assert_eq!(out["outputs"]["is42"], true);
    let statuses: Vec<(String, String)> = out["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("no".into(), "skipped".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("say".into(), "ok".into())),
        "{statuses:?}"
    );
    // The host's trace: one tool step and one generation, with their token counts.
    let host_trace = v["trace"].as_array().unwrap();
    let kinds: Vec<&str> = host_trace
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["tool", "chat"], "{v}");
    assert_eq!(host_trace[0]["tool"], "calculator");
    assert_eq!(host_trace[1]["usage"]["completion_tokens"], 6);
    assert_eq!(v["usage"]["completion_tokens"], 6);
    assert_eq!(v["usage"]["steps"], 2);
    // The generation went through the scheduler: it counts in the metrics.
    assert_eq!(generated_tokens(&server) - before, 6.0);

    // A cycle is refused before anything runs.
    let (status, v) = post(
        &server,
        "/api/workflows/pipeline/run",
        &json!({"input": {"steps": [
            {"id": "a", "kind": "transform", "op": "trim", "value": "{{b.output}}"},
            {"id": "b", "kind": "transform", "op": "trim", "value": "{{a.output}}"}
        ]}}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("cycle"),
        "{v}"
    );
    // Unknown workflow.
    let (status, v) = post(&server, "/api/workflows/nope/run", &json!({"input": {}}));
    assert_eq!(status, 404, "{v}");
}

#[test]
fn workflow_limits_end_the_run_with_the_partial_trace() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[]);
    let run = |limits: Value| {
        post(
            &server,
            "/api/workflows/pipeline/run",
            &json!({ "input": pipeline_input(), "limits": limits }),
        )
    };
    let (status, v) = run(json!({"max_steps": 1}));
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "workflow_limit_exceeded");
    assert_eq!(v["error"]["param"], "max_steps");
    assert_eq!(v["trace"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["trace"][0]["tool"], "calculator");

    let (status, v) = run(json!({"max_tokens": 5}));
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["param"], "max_tokens");
    assert!(!v["trace"].as_array().unwrap().is_empty(), "{v}");

    let (status, v) = run(json!({"timeout_ms": 1}));
    assert_eq!(status, 504, "{v}");
    assert_eq!(v["error"]["param"], "timeout");

    let (status, v) = run(json!({"max_steps": "many"}));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "limits.max_steps");
    // Limits are per run: the next run is fine.
    let (status, v) = run(json!({}));
    assert_eq!(status, 200, "{v}");
}

#[test]
fn workflow_progress_streams_as_server_sent_events() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[]);
    let (status, text) = server.post_text(
        "/api/workflows/pipeline/run",
        &json!({"input": pipeline_input(), "stream": true}),
    );
    assert_eq!(status, 200, "{text}");
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let event = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (event, serde_json::from_str(data).unwrap())
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(e, _)| *e).collect();
    assert_eq!(names, ["started", "step", "step", "done"], "{text}");
    assert_eq!(events[1].1["tool"], "calculator");
    assert_eq!(events[3].1["output"]["outputs"]["yes"], "6 * 7 = 42");
}

#[test]
fn agent_workflow_answers_through_the_scheduler() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[]);
    let (status, v) = post(
        &server,
        "/api/workflows/agent/run",
        &json!({"input": {"prompt": "What is 17 * 23?", "tools": ["calculator"], "max_tokens": 8, "temperature": 0}}),
    );
    assert_eq!(status, 200, "{v}");
    // A random-weight model answers (it does not call the tool); the chat was offered it.
    assert!(v["output"]["answer"].is_string(), "{v}");
    assert_eq!(v["trace"][0]["kind"], "chat");
    assert_eq!(v["trace"][0]["tools"], json!(["calculator"]));
    let (status, v) = post(
        &server,
        "/api/workflows/agent/run",
        &json!({"input": {"prompt": "x", "tools": ["no_such_tool"]}}),
    );
    assert_eq!(status, 400, "{v}");
}

#[test]
fn tool_and_workflow_commands() {
    let sb = Sandbox::new();
    let list = sb.run(&["tool", "list"]).ok();
    assert!(list.stdout.contains("calculator"), "{}", list.stdout);
    assert!(list.stdout.contains("expression"), "{}", list.stdout);
    let run = sb
        .run(&[
            "tool",
            "invoke",
            "calculator",
            "--args",
            r#"{"expression": "sqrt(16) + max(1, 5)"}"#,
        ])
        .ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["result"], 9.0);
    let run = sb
        .run(&["tool", "invoke", "calculator", "--args", r#"{"expr": "1"}"#])
        .fails();
    assert!(run.stderr.contains("expression"), "{}", run.stderr);
    let run = sb
        .run(&["tool", "invoke", "read_file", "--args", r#"{"path": "x"}"#])
        .fails();
    assert!(run.stderr.contains("--plugin-grant"), "{}", run.stderr);

    let list = sb.run(&["workflow", "list"]).ok();
    assert!(list.stdout.contains("pipeline"), "{}", list.stdout);
    let input = pipeline_input().to_string();
    let run = sb
        .run(&[
            "workflow",
            "run",
            "pipeline",
            "--model",
            s(&models().dense),
            "--ctx-size",
            "512",
            "--input",
            &input,
        ])
        .ok();
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["output"]["outputs"]["yes"], "6 * 7 = 42", "{v}");
    assert!(
        run.stderr.contains("step 1 tool calculator ok"),
        "{}",
        run.stderr
    );
    let run = sb
        .run(&[
            "workflow",
            "run",
            "pipeline",
            "--model",
            s(&models().dense),
            "--workflow-max-steps",
            "1",
            "--input",
            &input,
        ])
        .fails();
    assert!(run.stderr.contains("step limit"), "{}", run.stderr);
    assert!(
        run.stderr.contains("partial trace (1 steps)"),
        "{}",
        run.stderr
    );
    let run = sb
        .run(&[
            "workflow",
            "run",
            "pipeline",
            "--model",
            s(&models().dense),
            "--input",
            "{nope",
        ])
        .fails();
    assert!(run.stderr.contains("--input is not JSON"), "{}", run.stderr);
}

#[test]
fn workflow_generations_honour_a_json_schema() {
    let sb = Sandbox::new();
    let server = serve(&sb, &[]);
    let schema = json!({
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}, "ok": {"type": "boolean"}},
        "required": ["n", "ok"],
        "additionalProperties": false
    });
    let (status, v) = post(
        &server,
        "/api/workflows/pipeline/run",
        &json!({"input": {"steps": [
            {"id": "card", "kind": "llm", "prompt": "Pick a digit.", "max_tokens": 80,
             "temperature": 0.9, "json_schema": schema}
        ]}}),
    );
    assert_eq!(status, 200, "{v}");
    let card = &v["output"]["outputs"]["card"];
    assert!((0..=9).contains(&card["n"].as_i64().unwrap()), "{v}");
    assert!(card["ok"].is_boolean(), "{v}");
    assert_eq!(card.as_object().unwrap().len(), 2, "{v}");
}
