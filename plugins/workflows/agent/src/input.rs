//! The agent's input, parsed and checked.

use serde_json::{Map, Value};
use shimmy_plugin_sdk::tool_calls::call_from_value;
use shimmy_plugin_sdk::{ChatMessage, PluginError, SamplingOptions, ToolCall};

/// Default `max_steps`.
pub const DEFAULT_MAX_STEPS: u32 = 8;
/// Largest `max_steps`.
pub const MAX_MAX_STEPS: u32 = 64;

/// A parsed input.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentInput {
    /// The conversation to start from (system prompt first when given).
    pub messages: Vec<ChatMessage>,
    /// Tool names to offer; `None`: every tool of the host.
    pub tools: Option<Vec<String>>,
    /// Most model calls.
    pub max_steps: u32,
    /// Tokens per model call.
    pub max_tokens: Option<u32>,
    /// Temperature.
    pub temperature: Option<f32>,
}

fn bad(msg: impl Into<String>) -> PluginError {
    PluginError::invalid_input(format!("agent: {}", msg.into()))
}

fn opt_u32(o: &Map<String, Value>, key: &str) -> Result<Option<u32>, PluginError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(format!("\"{key}\" must be a non-negative integer"))),
    }
}

fn message(i: usize, v: &Value) -> Result<ChatMessage, PluginError> {
    let o = v
        .as_object()
        .ok_or_else(|| bad(format!("messages[{i}] must be an object")))?;
    let role = o
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("messages[{i}] needs a string \"role\"")))?;
    let content = match o.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad(format!("messages[{i}].content must be a string"))),
    };
    let mut m = ChatMessage::new(role, content);
    if let Some(calls) = o.get("tool_calls").and_then(Value::as_array) {
        for (j, c) in calls.iter().enumerate() {
            let mut call: ToolCall = call_from_value(c, j)
                .ok_or_else(|| bad(format!("messages[{i}].tool_calls[{j}] is not a tool call")))?;
            if let Some(id) = c.get("id").and_then(Value::as_str) {
                call.id = id.to_string();
            }
            m.tool_calls.push(call);
        }
    }
    m.tool_call_id = o
        .get("tool_call_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    m.name = o.get("name").and_then(Value::as_str).map(str::to_string);
    Ok(m)
}

impl AgentInput {
    /// Parses the workflow input (see the crate documentation).
    pub fn parse(text: &str) -> Result<AgentInput, PluginError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("the input is not JSON: {e}")))?;
        let o = v
            .as_object()
            .ok_or_else(|| bad("the input must be a JSON object"))?;
        let mut messages = Vec::new();
        if let Some(system) = o.get("system") {
            let s = system
                .as_str()
                .ok_or_else(|| bad("\"system\" must be a string"))?;
            messages.push(ChatMessage::system(s));
        }
        match (o.get("prompt"), o.get("messages")) {
            (Some(Value::String(p)), None) => messages.push(ChatMessage::user(p.clone())),
            (None, Some(Value::Array(list))) if !list.is_empty() => {
                for (i, m) in list.iter().enumerate() {
                    messages.push(message(i, m)?);
                }
            }
            (Some(_), Some(_)) => return Err(bad("give \"prompt\" or \"messages\", not both")),
            _ => {
                return Err(bad(
                    "the input needs \"prompt\" (a string) or \"messages\" (a non-empty array)",
                ))
            }
        }
        let tools = match o.get("tools") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|t| {
                        t.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad("\"tools\" must be an array of tool names"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(bad("\"tools\" must be an array of tool names")),
        };
        let max_steps = opt_u32(o, "max_steps")?.unwrap_or(DEFAULT_MAX_STEPS);
        if max_steps == 0 || max_steps > MAX_MAX_STEPS {
            return Err(bad(format!("\"max_steps\" must be 1 to {MAX_MAX_STEPS}")));
        }
        let temperature = match o.get("temperature") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .ok_or_else(|| bad("\"temperature\" must be a number"))? as f32,
            ),
        };
        Ok(AgentInput {
            messages,
            tools,
            max_steps,
            max_tokens: opt_u32(o, "max_tokens")?,
            temperature,
        })
    }

    /// Sampling options of each model call.
    pub fn options(&self) -> SamplingOptions {
        SamplingOptions {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            ..SamplingOptions::default()
        }
    }
}
