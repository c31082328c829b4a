//! Graph logic and execution against a scripted backend.

use super::*;
use serde_json::{json, Value};
use spec::Pipeline;

#[derive(Default)]
struct Script {
    answers: Vec<String>,
    prompts: Vec<(Vec<ChatMessage>, SamplingOptions)>,
    tools: Vec<(String, String)>,
}

impl exec::Backend for Script {
    fn llm(
        &mut self,
        messages: &[ChatMessage],
        options: &SamplingOptions,
    ) -> Result<(String, u32, u32), PluginError> {
        self.prompts.push((messages.to_vec(), options.clone()));
        if self.answers.is_empty() {
            return Err(PluginError::limit_exceeded("token budget spent"));
        }
        Ok((self.answers.remove(0), 3, 2))
    }
    fn tool(&mut self, name: &str, arguments: &str) -> Result<String, PluginError> {
        self.tools.push((name.into(), arguments.into()));
        match name {
            "calculator" => Ok(r#"{"result":2}"#.into()),
            other => Err(PluginError::not_found(format!("no tool named {other}"))),
        }
    }
}

fn run_json(doc: Value, script: &mut Script) -> Result<Value, PluginError> {
    run_pipeline(&doc.to_string(), script).map(|s| serde_json::from_str(&s).unwrap())
}

fn invalid(doc: Value) -> String {
    let e = Pipeline::from_value(doc).unwrap_err();
    assert_eq!(e.kind(), "invalid-input");
    e.message().to_string()
}

fn statuses(out: &Value) -> Vec<(String, String)> {
    out["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().into(),
                t["status"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn example_runs_with_branch_and_skips() {
    let doc = json!({
        "input": {"city": "Paris"},
        "steps": [
            {"id": "ask", "kind": "llm", "system": "Be terse.", "prompt": "Weather in {{input.city}}?", "max_tokens": 8},
            {"id": "norm", "kind": "transform", "op": "lower", "value": "{{ask.output}}"},
            {"id": "sunny", "kind": "branch", "condition": {"value": "{{norm.output}}", "contains": "sun"}, "then": ["yes"], "else": ["no"]},
            {"id": "yes", "kind": "tool", "tool": "calculator", "arguments": {"expression": "{{input.city}} 1+1"}},
            {"id": "no", "kind": "transform", "op": "template", "template": "no sun in {{input.city}}"},
            {"id": "after_no", "kind": "transform", "op": "upper", "value": "{{no.output}}"}
        ]
    });
    let mut s = Script {
        answers: vec!["SUNNY".into()],
        ..Script::default()
    };
    let out = run_json(doc.clone(), &mut s).unwrap();
    assert_eq!(
        statuses(&out),
        [
            ("ask", "ok"),
            ("norm", "ok"),
            ("sunny", "ok"),
            ("yes", "ok"),
            ("no", "skipped"),
            ("after_no", "skipped")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(out["result"], json!({"result": 2}));
    assert_eq!(out["outputs"]["norm"], "sunny");
    assert_eq!(out["outputs"]["sunny"], true);
    assert!(out["outputs"].get("no").is_none());
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 2})
    );
    assert_eq!(
        s.tools,
        [(
            "calculator".to_string(),
            r#"{"expression":"Paris 1+1"}"#.to_string()
        )]
    );
    let (msgs, opts) = &s.prompts[0];
    assert_eq!(msgs[0].content, "Be terse.");
    assert_eq!(msgs[1].content, "Weather in Paris?");
    assert_eq!(opts.max_tokens, Some(8));

    // The other way round.
    let mut s = Script {
        answers: vec!["rain".into()],
        ..Script::default()
    };
    let out = run_json(doc, &mut s).unwrap();
    assert_eq!(out["result"], "NO SUN IN PARIS");
    assert!(s.tools.is_empty());
    assert_eq!(out["trace"][3]["status"], "skipped");
}

#[test]
fn json_schema_llm_json_get_concat_and_whole_references() {
    let doc = json!({
        "input": {"items": ["a", "b"], "n": 2},
        "steps": [
            {"id": "plan", "kind": "llm", "prompt": "List {{input.n}}", "json_schema": {"type": "object"}},
            {"id": "first", "kind": "transform", "op": "json_get", "value": "{{plan.output}}", "pointer": "/names/0"},
            {"id": "second", "kind": "transform", "op": "template", "template": "{{plan.output.names.1}}!"},
            {"id": "all", "kind": "transform", "op": "concat", "values": ["{{first.output}}", "{{second.output}}", "{{input.items}}"], "separator": "|"},
            {"id": "check", "kind": "branch", "depends_on": ["all"], "condition": {"value": "{{plan.output}}", "matches_json": {"ok": true}}, "then": [], "else": ["trimmed"]},
            {"id": "trimmed", "kind": "transform", "op": "trim", "value": "  x  "}
        ]
    });
    let mut s = Script {
        answers: vec![r#"{"names": ["Ann", "Bo"], "ok": true, "extra": 1}"#.into()],
        ..Script::default()
    };
    let out = run_json(doc, &mut s).unwrap();
    assert_eq!(
        s.prompts[0].1.json_schema.as_deref(),
        Some(r#"{"type":"object"}"#)
    );
    assert_eq!(out["outputs"]["first"], "Ann");
    assert_eq!(out["outputs"]["second"], "Bo!");
    assert_eq!(out["outputs"]["all"], r#"Ann|Bo!|["a","b"]"#);
    assert_eq!(out["outputs"]["check"], true);
    assert_eq!(out["result"], true);
}

#[test]
fn validation_errors() {
    let m = invalid(json!({"steps": [
        {"id": "a", "kind": "transform", "op": "trim", "value": "{{c.output}}"},
        {"id": "b", "kind": "transform", "op": "trim", "value": "{{a.output}}", "depends_on": ["c"]},
        {"id": "c", "kind": "transform", "op": "trim", "value": "{{b.output}}"}
    ]}));
    assert!(
        m.contains("the steps form a cycle: a -> c -> b -> a"),
        "{m}"
    );
    let m = invalid(json!({"steps": [
        {"id": "a", "kind": "transform", "op": "trim", "value": "x", "depends_on": ["a"]}
    ]}));
    assert!(m.contains("cycle: a -> a"), "{m}");
    for (doc, needle) in [
        (json!([]), "must be an object"),
        (json!({"steps": []}), "non-empty"),
        (
            json!({"steps": [{"id": "a", "kind": "llm", "prompt": "x"}, {"id": "a", "kind": "llm", "prompt": "y"}]}),
            "duplicate step id \"a\"",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "llm", "prompt": "x", "depends_on": ["zz"]}]}),
            "unknown step \"zz\"",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "llm", "prompt": "{{zz.output}}"}]}),
            "unknown step \"zz\"",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "llm", "prompt": "{{zz}}"}]}),
            "not a reference",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "robot"}]}),
            "kind \"robot\"",
        ),
        (json!({"steps": [{"id": "a", "kind": "llm"}]}), "\"prompt\""),
        (json!({"steps": [{"id": "a", "kind": "tool"}]}), "\"tool\""),
        (
            json!({"steps": [{"id": "a", "kind": "transform", "op": "shout", "value": 1}]}),
            "unknown op \"shout\"",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "branch", "condition": {"value": 1}}]}),
            "exactly one of",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "branch", "condition": {"value": 1, "equals": 1}, "then": ["b"], "else": ["b"]}, {"id": "b", "kind": "llm", "prompt": "x"}]}),
            "both then and else",
        ),
        (
            json!({"steps": [{"id": "a", "kind": "branch", "condition": {"value": 1, "equals": 1}, "then": ["q"]}]}),
            "then names unknown step \"q\"",
        ),
        (
            json!({"steps": [{"id": "in put", "kind": "llm", "prompt": "x"}]}),
            "invalid",
        ),
        (
            json!({"steps": [{"id": "input", "kind": "llm", "prompt": "x"}]}),
            "invalid",
        ),
    ] {
        let m = invalid(doc.clone());
        assert!(m.contains(needle), "{doc}: {m}");
    }
}

#[test]
fn topological_order_respects_dependencies_and_written_order() {
    let p = Pipeline::from_value(json!({"steps": [
        {"id": "d", "kind": "transform", "op": "trim", "value": "{{c.output}} {{b.output}}"},
        {"id": "b", "kind": "transform", "op": "trim", "value": "{{a.output}}"},
        {"id": "a", "kind": "transform", "op": "trim", "value": "x"},
        {"id": "c", "kind": "transform", "op": "trim", "value": "y"}
    ]}))
    .unwrap();
    let ids: Vec<&str> = p.order.iter().map(|&i| p.steps[i].id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
}

#[test]
fn failing_step_reports_partial_trace() {
    let doc = json!({"steps": [
        {"id": "one", "kind": "transform", "op": "template", "template": "hi"},
        {"id": "two", "kind": "tool", "tool": "nope", "arguments": {}, "depends_on": ["one"]},
        {"id": "three", "kind": "transform", "op": "upper", "value": "{{two.output}}"}
    ]});
    let e = run_json(doc, &mut Script::default()).unwrap_err();
    assert_eq!(e.kind(), "not-found");
    let m = e.message();
    assert!(
        m.starts_with("pipeline: step \"two\" (tool) failed: no tool named nope; trace: ["),
        "{m}"
    );
    let trace: Value = serde_json::from_str(m.split("; trace: ").nth(1).unwrap()).unwrap();
    assert_eq!(trace[0]["status"], "ok");
    assert_eq!(trace[1]["status"], "error");
    assert_eq!(trace.as_array().unwrap().len(), 2);

    // Host limits keep their kind; a bad pointer is `failed`.
    let e = run_json(
        json!({"steps": [{"id": "x", "kind": "llm", "prompt": "p"}]}),
        &mut Script::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "limit-exceeded");
    let e = run_json(
        json!({"input": {"a": 1}, "steps": [{"id": "x", "kind": "transform", "op": "json_get", "value": "{{input}}", "pointer": "/b"}]}),
        &mut Script::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), "failed");
    let e = run_json(
        json!({"input": {"a": 1}, "steps": [{"id": "x", "kind": "transform", "op": "template", "template": "{{input.zz}}"}]}),
        &mut Script::default(),
    )
    .unwrap_err();
    assert!(
        e.message().contains("input has no \"zz\""),
        "{}",
        e.message()
    );
}

#[test]
fn matches_json_is_a_recursive_subset() {
    use exec::matches_json;
    assert!(matches_json(
        &json!({"a": {"b": 1, "c": 2}, "d": 3}),
        &json!({"a": {"b": 1}})
    ));
    assert!(!matches_json(
        &json!({"a": {"b": 1}}),
        &json!({"a": {"b": 2}})
    ));
    assert!(matches_json(
        &json!([1, {"x": 1, "y": 2}]),
        &json!([1, {"x": 1}])
    ));
    assert!(!matches_json(&json!("x"), &json!({"a": 1})));
}
