//! Sandbox test plugin: a workflow that sleeps. Input `{"generate"?: bool, "sleep_ms": n}`:
//! when `generate` is true it first calls `inference::generate` (time the host spends there
//! does not count against the deadline), then sleeps `sleep_ms` in a blocking WASI call
//! (`std::thread::sleep`: a monotonic-clock subscription and `poll`, which does count).
//! Output `{"slept_ms": n, "generated": text-or-null}`.
use serde_json::{json, Value};
use shimmy_plugin_sdk::{
    export_workflow, inference, PluginError, SamplingOptions, Workflow, WorkflowInfo,
};

struct BadSleepWorkflow;

impl Workflow for BadSleepWorkflow {
    fn describe() -> WorkflowInfo {
        WorkflowInfo {
            name: "bad-sleep-workflow".into(),
            description: "sleeps in a blocking WASI call".into(),
            input_schema: r#"{"type":"object","properties":{"generate":{"type":"boolean"},"sleep_ms":{"type":"integer","minimum":0}},"required":["sleep_ms"]}"#.into(),
        }
    }

    fn run(input: String) -> Result<String, PluginError> {
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| PluginError::invalid_input(format!("input is not JSON: {e}")))?;
        let sleep_ms = input
            .get("sleep_ms")
            .and_then(Value::as_u64)
            .ok_or_else(|| PluginError::invalid_input("input needs an integer `sleep_ms`"))?;
        let generated = if input.get("generate").and_then(Value::as_bool) == Some(true) {
            let r = inference::generate("hello", &SamplingOptions::default())?;
            Value::String(r.text)
        } else {
            Value::Null
        };
        std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
        Ok(json!({"slept_ms": sleep_ms, "generated": generated}).to_string())
    }
}

export_workflow!(BadSleepWorkflow);
