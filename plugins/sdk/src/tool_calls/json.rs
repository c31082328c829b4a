//! JSON pieces every format shares, and the plain-JSON format: the whole output (maybe in a
//! `` ```json `` fence) is `{"name", "arguments"}`, an array of them, or `{"tool_calls": [..]}`
//! with flat or OpenAI-shaped entries.

use crate::{ToolCall, ToolDefinition};
use serde_json::Value;

/// Parses `{"name": ..., "arguments": ...}` into a [`ToolCall`] with id `call_{index}`.
pub fn parse_call_object(body: &str, index: usize) -> Option<ToolCall> {
    let value: Value = serde_json::from_str(body.trim()).ok()?;
    call_from_value(&value, index)
}

/// One call from a JSON value: flat `{"name", "arguments"|"parameters"}` or OpenAI-shaped
/// `{"type": "function", "function": {"name", "arguments"}}`; id `call_{index}`.
pub fn call_from_value(value: &Value, index: usize) -> Option<ToolCall> {
    let obj = value.as_object()?;
    let obj = match obj.get("function").and_then(Value::as_object) {
        Some(f) if !obj.contains_key("name") => f,
        _ => obj,
    };
    let name = obj.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let arguments = arguments_string(obj.get("arguments").or_else(|| obj.get("parameters")))?;
    Some(call(index, name, arguments))
}

/// A call with id `call_{index}`.
pub(crate) fn call(index: usize, name: &str, arguments: String) -> ToolCall {
    ToolCall {
        id: format!("call_{index}"),
        name: name.to_string(),
        arguments,
    }
}

/// Arguments as the contract carries them: an object serialized compactly, a string kept
/// verbatim, `{}` when missing; anything else is not a call.
pub(crate) fn arguments_string(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => Some("{}".to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => None,
    }
}

/// Calls from a JSON value: one call, a non-empty array of calls, or `{"tool_calls": [...]}`.
pub(crate) fn calls_from_value(value: &Value, first_index: usize) -> Option<Vec<ToolCall>> {
    let list = match value {
        Value::Object(o) => match o.get("tool_calls") {
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return None,
            None => std::slice::from_ref(value),
        },
        Value::Array(a) => a.as_slice(),
        _ => return None,
    };
    if list.is_empty() {
        return None;
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| call_from_value(v, first_index + i))
        .collect()
}

/// The first JSON value of `s` (which starts with it) and how many bytes it took.
pub(crate) fn first_json_value(s: &str) -> Option<(Value, usize)> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    let value = stream.next()?.ok()?;
    Some((value, stream.byte_offset()))
}

/// A JSON object's text as the contract carries it (compact), or `None` when `s` does not
/// start with one.
pub(crate) fn object_text(s: &str) -> Option<(String, usize)> {
    let skipped = s.len() - s.trim_start().len();
    let (value, used) = first_json_value(s.trim_start())?;
    value
        .is_object()
        .then(|| (value.to_string(), skipped + used))
}

/// Whether every call names one of `known` (always true when `known` is `None`).
pub(crate) fn names_known(calls: &[ToolCall], known: Option<&[ToolDefinition]>) -> bool {
    match known {
        None => true,
        Some(tools) => calls.iter().all(|c| tools.iter().any(|t| t.name == c.name)),
    }
}

/// `s` without a surrounding Markdown code fence (```` ```json ... ``` ````).
pub(crate) fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let Some(inner) = inner.strip_suffix("```") else {
        return t;
    };
    // Drop the info string (`json`) up to the first newline.
    match inner.find('\n') {
        Some(nl)
            if inner[..nl]
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric()) =>
        {
            inner[nl + 1..].trim()
        }
        _ => inner.trim(),
    }
}

/// Whether `s` opens like a bare JSON call (`{`, `[` or a code fence), after whitespace.
pub(crate) fn opens_like_json(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with('{') || t.starts_with('[') || t.starts_with("```")
}

/// The plain-JSON format (see the module documentation); calls only when every name is
/// known.
pub(crate) fn extract(
    output: &str,
    known: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    let body = strip_fence(super::llama3::strip_tails(output));
    if !(body.starts_with('{') || body.starts_with('[')) {
        return None;
    }
    let value: Value = serde_json::from_str(body).ok()?;
    let calls = calls_from_value(&value, 0)?;
    names_known(&calls, known).then_some((String::new(), calls))
}

/// The schema of the parameter `param` of the tool `name` among `tools`, if known.
pub(crate) fn parameter_schema(
    tools: Option<&[ToolDefinition]>,
    name: &str,
    param: &str,
) -> Option<Value> {
    let tool = tools?.iter().find(|t| t.name == name)?;
    let schema: Value = serde_json::from_str(&tool.parameters_schema).ok()?;
    schema.get("properties")?.get(param).cloned()
}

/// A parameter value written as text (Qwen3-Coder's and GLM's XML forms) as JSON: a string
/// when the schema says `string` (or the text is not JSON), else the JSON the text holds.
pub(crate) fn typed_value(text: &str, schema: Option<&Value>) -> Value {
    let is_string = schema.and_then(|s| s.get("type")).is_some_and(|t| {
        t == "string"
            || t.as_array()
                .is_some_and(|a| a.len() == 1 && a[0] == "string")
    });
    if is_string {
        return Value::String(text.to_string());
    }
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(v) if schema.is_some() || !v.is_string() => v,
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_follow_the_schema() {
        let int = serde_json::json!({"type": "integer"});
        let string = serde_json::json!({"type": "string"});
        assert_eq!(typed_value("1", Some(&int)), serde_json::json!(1));
        assert_eq!(typed_value("1", Some(&string)), serde_json::json!("1"));
        assert_eq!(typed_value("Paris", None), serde_json::json!("Paris"));
        assert_eq!(typed_value("[1, 2]", None), serde_json::json!([1, 2]));
        assert_eq!(typed_value("\"q\"", None), serde_json::json!("\"q\""));
    }

    #[test]
    fn fences_and_objects() {
        assert_eq!(strip_fence("```json\n{}\n```"), "{}");
        assert_eq!(
            object_text(" {\"a\": 1} tail"),
            Some(("{\"a\":1}".into(), 9))
        );
        assert_eq!(object_text("[1]"), None);
    }
}
