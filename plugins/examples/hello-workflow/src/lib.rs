//! The authoring guide's example workflow plugin.
//!
//! Input `{"name": "Ada"}`. It asks the model for a one-line greeting (`inference::chat`),
//! then, when the host offers a tool named `greet` (e.g. the `hello-tool` example), calls it
//! too. Output `{"model": "<the model's line>", "tool": <greet's result or null>,
//! "tokens": <completion tokens>}`.

use serde_json::{json, Value};
use shimmy_plugin_sdk::{
    export_workflow, inference, tools, ChatMessage, PluginError, SamplingOptions, Workflow,
    WorkflowInfo,
};

struct HelloWorkflow;

impl Workflow for HelloWorkflow {
    fn describe() -> WorkflowInfo {
        WorkflowInfo {
            name: "hello-workflow".into(),
            description: "Greets someone with the model's help".into(),
            input_schema:
                r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#
                    .into(),
        }
    }

    fn run(input: String) -> Result<String, PluginError> {
        let input: Value = serde_json::from_str(&input)
            .map_err(|e| PluginError::invalid_input(format!("input is not JSON: {e}")))?;
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| PluginError::invalid_input("input needs a string `name`"))?;

        // 1. Ask the model (the host renders the chat with the model's template).
        let options = SamplingOptions {
            max_tokens: Some(32),
            ..SamplingOptions::default()
        };
        let messages = [ChatMessage::user(format!(
            "Write a one-line greeting for {name}."
        ))];
        let answer = inference::chat(&messages, &[], &options)?;

        // 2. Call a tool of another plugin, if the host has it.
        let tool = if tools::list().iter().any(|t| t.name == "greet") {
            let result = tools::invoke("greet", &json!({ "name": name }).to_string())?;
            serde_json::from_str(&result).unwrap_or(Value::String(result))
        } else {
            Value::Null
        };

        Ok(json!({
            "model": answer.content,
            "tool": tool,
            "tokens": answer.usage.completion_tokens,
        })
        .to_string())
    }
}

export_workflow!(HelloWorkflow);
