//! Reading chats given as JSON (OpenAI-style messages) into the plugin contract's messages,
//! checked by the engine's message validator.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use shimmy_engine::messages;
use shimmy_plugins::{ChatMessage, ToolCall, ToolDefinition};

/// Reads `path`: a JSON list of messages, or an object with a `messages` list.
pub fn read(path: &Path) -> Result<Vec<ChatMessage>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the chat file {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    parse(&value).with_context(|| format!("{}: invalid chat", path.display()))
}

/// Parses OpenAI-style messages: `content` may be a string, null or a list of text parts;
/// `tool_calls` use `{id, type: "function", function: {name, arguments}}` with arguments as a
/// JSON string or object.
pub fn parse(value: &Value) -> Result<Vec<ChatMessage>> {
    let list = match value {
        Value::Array(items) => items,
        Value::Object(obj) => match obj.get("messages") {
            Some(Value::Array(items)) => items,
            _ => bail!("expected a list of messages or an object with a \"messages\" list"),
        },
        _ => bail!("expected a list of messages or an object with a \"messages\" list"),
    };
    if list.is_empty() {
        bail!("the chat has no messages");
    }
    let chat = list
        .iter()
        .enumerate()
        .map(|(i, m)| message(m).with_context(|| format!("message {i}")))
        .collect::<Result<Vec<_>>>()?;
    messages::validate(&chat)?;
    Ok(chat)
}

fn message(value: &Value) -> Result<ChatMessage> {
    let obj = value
        .as_object()
        .context("a message must be a JSON object")?;
    let role = obj
        .get("role")
        .and_then(Value::as_str)
        .context("\"role\" is missing or not a string")?;
    let content = match obj.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(
                |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                    (other, _) => bail!(
                        "content part of type {:?} is not supported (only \"text\")",
                        other.unwrap_or("?")
                    ),
                },
            )
            .collect::<Result<Vec<_>>>()?
            .concat(),
        Some(_) => bail!("\"content\" must be a string, null or a list of text parts"),
    };
    let tool_calls = match obj.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(i, c)| tool_call(c, i))
            .collect::<Result<_>>()?,
        Some(_) => bail!("\"tool_calls\" must be a list"),
    };
    let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(ChatMessage {
        role: role.to_string(),
        content,
        tool_calls,
        tool_call_id: text("tool_call_id"),
        name: text("name"),
        reasoning_content: text("reasoning_content"),
    })
}

fn tool_call(value: &Value, index: usize) -> Result<ToolCall> {
    let function = value
        .get("function")
        .context("a tool call needs a \"function\" object")?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .context("a tool call's function needs a \"name\"")?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok(ToolCall {
        id: value
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("call_{index}")),
        name: name.to_string(),
        arguments,
    })
}

/// Reads the tools file `path`: a JSON list of OpenAI-style tools
/// (`{"type": "function", "function": {"name", "description", "parameters"}}`, or the bare
/// function objects), or an object with a `tools` list. The schemas keep their key order.
pub fn read_tools(path: &Path) -> Result<Vec<ToolDefinition>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the tools file {}", path.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    parse_tools(&value).with_context(|| format!("{}: invalid tools", path.display()))
}

/// Parses OpenAI-style tool definitions (see [`read_tools`]).
pub fn parse_tools(value: &Value) -> Result<Vec<ToolDefinition>> {
    let list = match value {
        Value::Array(items) => items,
        Value::Object(obj) => match obj.get("tools") {
            Some(Value::Array(items)) => items,
            _ => bail!("expected a list of tools or an object with a \"tools\" list"),
        },
        _ => bail!("expected a list of tools or an object with a \"tools\" list"),
    };
    list.iter()
        .enumerate()
        .map(|(i, t)| tool(t).with_context(|| format!("tool {i}")))
        .collect()
}

fn tool(value: &Value) -> Result<ToolDefinition> {
    match value.get("type").and_then(Value::as_str) {
        None | Some("function") => {}
        Some(other) => bail!("tool type \"{other}\" is not supported (only \"function\")"),
    }
    let function = value.get("function").unwrap_or(value);
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .context("a tool needs a function \"name\"")?;
    let parameters = match function.get("parameters") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(p @ Value::Object(_)) => p.to_string(),
        Some(_) => bail!("\"parameters\" of tool \"{name}\" must be a JSON schema object"),
    };
    Ok(ToolDefinition {
        name: name.to_string(),
        description: function
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        parameters_schema: parameters,
    })
}

/// A one-turn chat from `--system` / `--user`.
pub fn one_turn(system: Option<&str>, user: &str) -> Vec<ChatMessage> {
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(simple("system", system));
    }
    messages.push(simple("user", user));
    messages
}

fn simple(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.to_string(),
        content: content.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_shapes_are_accepted() {
        let chat = parse(&json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": {"x": 1}}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "2"}
        ]}))
        .unwrap();
        assert_eq!(chat.len(), 4);
        assert_eq!(chat[1].content, "hi there");
        assert_eq!(chat[2].tool_calls[0].arguments, "{\"x\":1}");
        assert_eq!(chat[3].tool_call_id.as_deref(), Some("c1"));
    }

    #[test]
    fn tools_keep_their_key_order() {
        let text = r#"[{"type": "function", "function": {"name": "get_weather", "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
            {"name": "now"}]"#;
        let tools = parse_tools(&serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(tools[0].name, "get_weather");
        assert_eq!(
            tools[0].parameters_schema,
            r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
        );
        assert_eq!(
            (tools[1].name.as_str(), tools[1].parameters_schema.as_str()),
            ("now", "{}")
        );
        let err = format!("{:#}", parse_tools(&json!([{"type": "code"}])).unwrap_err());
        assert!(err.contains("\"code\""), "{err}");
    }

    #[test]
    fn bad_chats_are_explained() {
        let err = parse(&json!([])).unwrap_err().to_string();
        assert!(err.contains("no messages"), "{err}");
        let err = format!(
            "{:#}",
            parse(&json!([{"role": "wizard", "content": "x"}])).unwrap_err()
        );
        assert!(err.contains("role \"wizard\""), "{err}");
        let err = format!("{:#}", parse(&json!([{"content": "x"}])).unwrap_err());
        assert!(err.contains("\"role\""), "{err}");
    }
}
