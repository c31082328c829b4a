//! `agent`: the classic tool-using loop.
//!
//! Input (JSON):
//!
//! ```json
//! {"prompt": "What is 17 * 23?",          // or "messages": [{"role", "content", ...}]
//!  "system": "You are terse.",            // optional, put first
//!  "tools": ["calculator"],               // optional: names; default every tool of the host
//!  "max_steps": 8,                        // optional: most model calls (default 8, 1..=64)
//!  "max_tokens": 512,                     // optional: per model call
//!  "temperature": 0.2}                    // optional
//! ```
//!
//! Loop: `inference.chat(messages, tools)`; when the answer has tool calls, each is run with
//! `tools.invoke` (a call of a tool that was not offered is answered with an error without
//! running anything), the assistant message (with its calls) and one `tool` message per call
//! (the tool's JSON result, or `{"error": "...", "kind": "..."}`) are appended, and the model is
//! asked again. Output when the model answers without calls:
//!
//! ```json
//! {"answer": "391", "finish_reason": "stop",
//!  "steps": [{"kind": "llm", "content": "", "tool_calls": [{"id", "name", "arguments"}], "finish_reason": "tool_calls", "usage": {..}},
//!            {"kind": "tool", "id": "call_0", "name": "calculator", "arguments": {..}, "result": {..}},   // or "error"
//!            {"kind": "llm", "content": "391", "tool_calls": [], "finish_reason": "stop", "usage": {..}}],
//!  "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
//! ```
//!
//! Errors: malformed input and unknown tool names are `invalid-input`; more than `max_steps`
//! model calls is `limit-exceeded` (naming `max_steps`); errors of `inference.chat` are
//! returned as they are (e.g. the host's own `limit-exceeded`).

pub mod input;

use input::AgentInput;
use serde_json::{json, Value};
use shimmy_plugin_sdk::{
    export_workflow, inference, tools, ChatMessage, PluginError, ToolCall, ToolDefinition,
    Workflow, WorkflowInfo,
};

/// What the loop needs from the host (real imports in the plugin, a script in tests).
pub trait Host {
    /// Every tool the host offers.
    fn list_tools(&mut self) -> Vec<ToolDefinition>;
    /// One model turn: content, tool calls, finish reason, (prompt, completion) tokens.
    fn chat(
        &mut self,
        messages: &[ChatMessage],
        tools: &[ToolDefinition],
        input: &AgentInput,
    ) -> Result<Turn, PluginError>;
    /// Runs a tool.
    fn invoke(&mut self, name: &str, arguments: &str) -> Result<String, PluginError>;
}

/// One answer of the model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turn {
    /// Visible text.
    pub content: String,
    /// Reasoning, if any.
    pub reasoning: Option<String>,
    /// Tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`, `tool_calls`, ...
    pub finish_reason: String,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
}

/// The host's real imports.
pub struct RealHost;

impl Host for RealHost {
    fn list_tools(&mut self) -> Vec<ToolDefinition> {
        tools::list()
    }

    fn chat(
        &mut self,
        messages: &[ChatMessage],
        tools: &[ToolDefinition],
        input: &AgentInput,
    ) -> Result<Turn, PluginError> {
        let r = inference::chat(messages, tools, &input.options())?;
        Ok(Turn {
            content: r.content,
            reasoning: r.reasoning,
            tool_calls: r.tool_calls,
            finish_reason: r.finish_reason,
            prompt_tokens: r.usage.prompt_tokens,
            completion_tokens: r.usage.completion_tokens,
        })
    }

    fn invoke(&mut self, name: &str, arguments: &str) -> Result<String, PluginError> {
        tools::invoke(name, arguments)
    }
}

/// A JSON value of a tool's text (a JSON document, else the text as a string).
fn json_or_string(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// Runs the agent loop on a parsed input.
pub fn run_agent(host: &mut dyn Host, input: &AgentInput) -> Result<Value, PluginError> {
    let all = host.list_tools();
    let offered: Vec<ToolDefinition> = match &input.tools {
        None => all,
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                match all.iter().find(|t| &t.name == n) {
                    Some(t) => v.push(t.clone()),
                    None => {
                        let have: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
                        return Err(PluginError::invalid_input(format!(
                            "agent: unknown tool \"{n}\" in \"tools\"; the host offers: {}",
                            if have.is_empty() {
                                "none".to_string()
                            } else {
                                have.join(", ")
                            }
                        )));
                    }
                }
            }
            v
        }
    };
    let mut messages = input.messages.clone();
    let mut steps: Vec<Value> = Vec::new();
    let (mut prompt_tokens, mut completion_tokens) = (0u64, 0u64);
    for _ in 0..input.max_steps {
        let turn = host.chat(&messages, &offered, input)?;
        prompt_tokens += u64::from(turn.prompt_tokens);
        completion_tokens += u64::from(turn.completion_tokens);
        let calls: Vec<Value> = turn
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "name": c.name, "arguments": json_or_string(&c.arguments)}))
            .collect();
        let mut step = json!({
            "kind": "llm",
            "content": turn.content,
            "tool_calls": calls,
            "finish_reason": turn.finish_reason,
            "usage": {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens},
        });
        if let Some(r) = &turn.reasoning {
            step["reasoning"] = Value::String(r.clone());
        }
        steps.push(step);
        if turn.tool_calls.is_empty() {
            return Ok(json!({
                "answer": turn.content,
                "finish_reason": turn.finish_reason,
                "steps": steps,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }));
        }
        let mut assistant = ChatMessage::assistant(turn.content.clone());
        assistant.tool_calls = turn.tool_calls.clone();
        messages.push(assistant);
        for call in &turn.tool_calls {
            let result = if offered.iter().any(|t| t.name == call.name) {
                host.invoke(&call.name, &call.arguments)
            } else {
                Err(PluginError::not_found(format!(
                    "no tool named \"{}\" was offered",
                    call.name
                )))
            };
            let mut step = json!({
                "kind": "tool",
                "id": call.id,
                "name": call.name,
                "arguments": json_or_string(&call.arguments),
            });
            let content = match result {
                Ok(text) => {
                    step["result"] = json_or_string(&text);
                    text
                }
                Err(e) => {
                    let err = json!({"error": e.message(), "kind": e.kind()});
                    step["error"] = err.clone();
                    err.to_string()
                }
            };
            steps.push(step);
            let mut msg = ChatMessage::tool(call.id.clone(), content);
            msg.name = Some(call.name.clone());
            messages.push(msg);
        }
    }
    Err(PluginError::limit_exceeded(format!(
        "agent: max_steps = {} reached before the model answered without tool calls (raise \
         \"max_steps\" in the input); steps so far: {}",
        input.max_steps,
        Value::Array(steps)
    )))
}

/// The input schema.
pub const INPUT_SCHEMA: &str = r#"{"type":"object","properties":{"prompt":{"type":"string"},"messages":{"type":"array","items":{"type":"object","properties":{"role":{"type":"string"},"content":{"type":"string"},"tool_calls":{"type":"array"},"tool_call_id":{"type":"string"},"name":{"type":"string"}},"required":["role"]}},"system":{"type":"string"},"tools":{"type":"array","items":{"type":"string"}},"max_steps":{"type":"integer","minimum":1,"maximum":64},"max_tokens":{"type":"integer","minimum":1},"temperature":{"type":"number"}}}"#;

/// The plugin.
pub struct Agent;

impl Workflow for Agent {
    fn describe() -> WorkflowInfo {
        WorkflowInfo {
            name: "agent".into(),
            description: "Chat with the model, run the tools it calls, repeat until it answers"
                .into(),
            input_schema: INPUT_SCHEMA.into(),
        }
    }

    fn run(input: String) -> Result<String, PluginError> {
        let input = AgentInput::parse(&input)?;
        Ok(run_agent(&mut RealHost, &input)?.to_string())
    }
}

export_workflow!(Agent);

#[cfg(test)]
mod tests;
