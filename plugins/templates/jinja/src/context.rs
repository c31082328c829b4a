//! The variables a chat template sees, shaped as transformers' `apply_chat_template` passes
//! them: `messages` (OpenAI-shaped), `tools` (`None` when the request has none, as
//! transformers passes it), `documents` (`None`), `add_generation_prompt`, `bos_token`,
//! `eos_token`; and, when the request sets them, `enable_thinking` and `reasoning_effort`
//! (the thinking switch of Qwen3-style templates and the effort of gpt-oss-style ones).

use crate::pyvalues::{json_to_value, py_none};
use minijinja::Value;
use serde_json::Value as Json;
use shimmy_plugin_sdk::prompt::openai_tool;
use shimmy_plugin_sdk::{ChatMessage, PluginError, RenderRequest};

/// The render context of `req`, with `enable_thinking` and `reasoning_effort` defined when
/// given (templates test `enable_thinking is defined`, so unset stays undefined).
pub fn context_with(
    req: &RenderRequest,
    enable_thinking: Option<bool>,
    reasoning_effort: Option<&str>,
) -> Result<Value, PluginError> {
    let tools = if req.tools.is_empty() {
        py_none()
    } else {
        let list: Result<Vec<Value>, PluginError> = req
            .tools
            .iter()
            .map(|t| openai_tool(t).map(|v| json_to_value(&v)))
            .collect();
        Value::from(list?)
    };
    let messages: Vec<Value> = req.messages.iter().map(message_value).collect();
    let token = |t: &Option<String>| Value::from(t.clone().unwrap_or_default());
    let mut pairs = vec![
        ("messages", Value::from(messages)),
        ("tools", tools),
        ("documents", py_none()),
        (
            "add_generation_prompt",
            Value::from(req.add_generation_prompt),
        ),
        ("bos_token", token(&req.model.bos_token)),
        ("eos_token", token(&req.model.eos_token)),
    ];
    if let Some(on) = enable_thinking {
        pairs.push(("enable_thinking", Value::from(on)));
    }
    if let Some(effort) = reasoning_effort {
        pairs.push(("reasoning_effort", Value::from(effort)));
    }
    Ok(Value::from_pairs(pairs))
}

/// A message in the OpenAI shape real templates expect: `role`, `content`, and when present
/// `tool_calls` (`[{id, type: "function", function: {name, arguments}}]`, `arguments` an
/// object when it is a JSON object, as transformers asks callers to pass it), `tool_call_id`,
/// `name`, `reasoning_content` (an earlier assistant turn's reasoning, as transformers passes it).
pub fn message_value(m: &ChatMessage) -> Value {
    let mut pairs: Vec<(&str, Value)> = vec![
        ("role", Value::from(m.role.clone())),
        ("content", Value::from(m.content.clone())),
    ];
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                let arguments = match serde_json::from_str::<Json>(&c.arguments) {
                    Ok(v @ Json::Object(_)) => json_to_value(&v),
                    _ => Value::from(c.arguments.clone()),
                };
                let function = Value::from_pairs([
                    ("name", Value::from(c.name.clone())),
                    ("arguments", arguments),
                ]);
                Value::from_pairs([
                    ("id", Value::from(c.id.clone())),
                    ("type", Value::from("function")),
                    ("function", function),
                ])
            })
            .collect();
        pairs.push(("tool_calls", Value::from(calls)));
    }
    if let Some(id) = &m.tool_call_id {
        pairs.push(("tool_call_id", Value::from(id.clone())));
    }
    if let Some(name) = &m.name {
        pairs.push(("name", Value::from(name.clone())));
    }
    if let Some(reasoning) = &m.reasoning_content {
        pairs.push(("reasoning_content", Value::from(reasoning.clone())));
    }
    Value::from_pairs(pairs)
}
