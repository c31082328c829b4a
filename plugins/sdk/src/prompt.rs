//! Small conversation helpers shared by hand-written templates.

use crate::{ChatMessage, PluginError, ToolDefinition};
use serde_json::Value;

/// The leading `system` message's content (if the conversation starts with one) and the rest.
pub fn split_system(messages: &[ChatMessage]) -> (Option<&str>, &[ChatMessage]) {
    match messages.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first.content.as_str()), rest),
        _ => (None, messages),
    }
}

/// `messages` with a leading system prompt folded into the first user message as
/// `"{system}{separator}{user}"` (for formats without a system role: Mistral, Gemma). A system
/// prompt with no user message after it becomes a user message of its own.
pub fn fold_system_into_first_user(messages: &[ChatMessage], separator: &str) -> Vec<ChatMessage> {
    let (system, rest) = split_system(messages);
    let mut out: Vec<ChatMessage> = rest.to_vec();
    if let Some(system) = system {
        match out.iter_mut().find(|m| m.role == "user") {
            Some(first_user) => {
                first_user.content = format!("{system}{separator}{}", first_user.content);
            }
            None => out.insert(0, ChatMessage::user(system)),
        }
    }
    out
}

/// Checks that every message has a known role (`system`, `user`, `assistant`, `tool`).
pub fn check_roles(messages: &[ChatMessage]) -> Result<(), PluginError> {
    for (i, m) in messages.iter().enumerate() {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "tool") {
            return Err(PluginError::invalid_input(format!(
                "message {i} has role `{}`; expected system, user, assistant or tool",
                m.role
            )));
        }
    }
    Ok(())
}

/// For templates that do not support tools yet: `unsupported` (naming `template`) when the
/// request carries tool definitions, tool calls or `tool` messages.
pub fn reject_tools(template: &str, req: &crate::RenderRequest) -> Result<(), PluginError> {
    let uses_tools = !req.tools.is_empty()
        || req
            .messages
            .iter()
            .any(|m| m.role == "tool" || !m.tool_calls.is_empty());
    if uses_tools {
        return Err(PluginError::unsupported(format!(
            "the `{template}` template does not support tools yet; use `chatml` or `jinja`"
        )));
    }
    Ok(())
}

/// Checks that after an optional leading system message the roles alternate user / assistant,
/// starting with user (what Mistral's and Gemma's own templates enforce with raise_exception).
pub fn check_alternating(messages: &[ChatMessage]) -> Result<(), PluginError> {
    let (_, rest) = split_system(messages);
    for (i, m) in rest.iter().enumerate() {
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if m.role != expected {
            return Err(PluginError::invalid_input(format!(
                "conversation roles must alternate user/assistant/user/...; message {} is `{}`",
                i + messages.len() - rest.len(),
                m.role
            )));
        }
    }
    Ok(())
}

/// Parses a tool's `parameters-schema` (a JSON object), naming the tool when it is not one.
pub fn tool_parameters(tool: &ToolDefinition) -> Result<Value, PluginError> {
    let v: Value = serde_json::from_str(&tool.parameters_schema).map_err(|e| {
        PluginError::invalid_input(format!(
            "tool `{}`: parameters-schema is not JSON: {e}",
            tool.name
        ))
    })?;
    if !v.is_object() {
        return Err(PluginError::invalid_input(format!(
            "tool `{}`: parameters-schema must be a JSON object",
            tool.name
        )));
    }
    Ok(v)
}

/// A tool in the OpenAI shape chat templates expect:
/// `{"type": "function", "function": {"name", "description", "parameters"}}`.
pub fn openai_tool(tool: &ToolDefinition) -> Result<Value, PluginError> {
    let mut function = serde_json::Map::new();
    function.insert("name".into(), Value::String(tool.name.clone()));
    function.insert(
        "description".into(),
        Value::String(tool.description.clone()),
    );
    function.insert("parameters".into(), tool_parameters(tool)?);
    let mut obj = serde_json::Map::new();
    obj.insert("type".into(), Value::String("function".into()));
    obj.insert("function".into(), Value::Object(function));
    Ok(Value::Object(obj))
}

/// Pushes `s` onto `stop` unless it is empty or already there.
pub fn push_stop(stop: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !stop.iter().any(|x| x == s) {
        stop.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold() {
        let msgs = vec![
            ChatMessage::system("S"),
            ChatMessage::user("U"),
            ChatMessage::assistant("A"),
        ];
        let folded = fold_system_into_first_user(&msgs, "\n\n");
        assert_eq!(
            folded,
            vec![ChatMessage::user("S\n\nU"), ChatMessage::assistant("A")]
        );
        let only = fold_system_into_first_user(&[ChatMessage::system("S")], "\n\n");
        assert_eq!(only, vec![ChatMessage::user("S")]);
    }

    #[test]
    fn roles() {
        assert!(check_roles(&[ChatMessage::user("x")]).is_ok());
        let err = check_roles(&[ChatMessage::new("robot", "x")]).unwrap_err();
        assert_eq!(err.kind(), "invalid-input");
    }

    #[test]
    fn tool_shape() {
        let t = ToolDefinition::new("f", "does f", r#"{"type": "object", "properties": {}}"#);
        assert_eq!(
            crate::pyjson::dumps(&openai_tool(&t).unwrap()),
            r#"{"type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {}}}}"#
        );
        assert!(openai_tool(&ToolDefinition::new("g", "", "[1")).is_err());
    }
}
