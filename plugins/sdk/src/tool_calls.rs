//! Finding tool calls in raw model output.
//!
//! Only the Hermes / Qwen format is handled for now; other model families' formats (Llama 3.1
//! `<|python_tag|>` / bare JSON, Mistral `[TOOL_CALLS]`, DeepSeek `<｜tool▁calls▁begin｜>` ...)
//! come with the tools work and will be added as new [`ToolCallFormat`] cases.

use crate::ToolCall;
use serde_json::Value;

/// A way models write tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolCallFormat {
    /// Hermes 2 Pro / Qwen 2.5 / Qwen 3: one JSON object per call,
    /// `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`.
    Hermes,
}

/// Opening tag of a Hermes tool call.
pub const HERMES_OPEN: &str = "<tool_call>";
/// Closing tag of a Hermes tool call.
pub const HERMES_CLOSE: &str = "</tool_call>";

/// Splits `output` into the remaining text (trimmed) and the tool calls found in it, in order.
///
/// For [`ToolCallFormat::Hermes`]: every `<tool_call>…</tool_call>` block whose body is a JSON
/// object with a string `name` becomes a [`ToolCall`]: `arguments` (or `parameters`) serialized
/// compactly, kept verbatim if it is already a string, `{}` if missing; ids are `call_0`,
/// `call_1`, … in order of appearance. A final block without its closing tag (generation stopped
/// at `</tool_call>`) is accepted too. A block that is not such JSON stays in the text untouched,
/// so nothing the model wrote is lost.
pub fn extract_tool_calls(output: &str, format: ToolCallFormat) -> (String, Vec<ToolCall>) {
    match format {
        ToolCallFormat::Hermes => extract_hermes(output),
    }
}

fn extract_hermes(output: &str) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut rest = output;
    while let Some(open) = rest.find(HERMES_OPEN) {
        let body_start = open + HERMES_OPEN.len();
        let (body, block_end) = match rest[body_start..].find(HERMES_CLOSE) {
            Some(close) => (
                &rest[body_start..body_start + close],
                body_start + close + HERMES_CLOSE.len(),
            ),
            None => (&rest[body_start..], rest.len()),
        };
        match parse_call_object(body, calls.len()) {
            Some(call) => {
                text.push_str(&rest[..open]);
                calls.push(call);
            }
            None => text.push_str(&rest[..block_end]),
        }
        rest = &rest[block_end..];
    }
    text.push_str(rest);
    (text.trim().to_string(), calls)
}

/// Parses `{"name": ..., "arguments": ...}` into a [`ToolCall`] with id `call_{index}`.
pub fn parse_call_object(body: &str, index: usize) -> Option<ToolCall> {
    let value: Value = serde_json::from_str(body.trim()).ok()?;
    let obj = value.as_object()?;
    let name = obj.get("name")?.as_str()?.to_string();
    let arguments = match obj.get("arguments").or_else(|| obj.get("parameters")) {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    Some(ToolCall {
        id: format!("call_{index}"),
        name,
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermes_two_calls_and_text() {
        let out = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
        let (text, calls) = extract_tool_calls(out, ToolCallFormat::Hermes);
        assert_eq!(text, "Let me check.");
        assert_eq!(
            calls,
            vec![
                ToolCall::new("call_0", "get_weather", r#"{"city":"Paris"}"#),
                ToolCall::new("call_1", "now", "{}"),
            ]
        );
    }

    #[test]
    fn hermes_unclosed_and_string_arguments() {
        let out = "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}\n";
        let (text, calls) = extract_tool_calls(out, ToolCallFormat::Hermes);
        assert_eq!(text, "");
        assert_eq!(calls, vec![ToolCall::new("call_0", "f", r#"{"x": 1}"#)]);
    }

    #[test]
    fn hermes_garbage_stays_in_text() {
        let out = "a <tool_call>not json</tool_call> b";
        let (text, calls) = extract_tool_calls(out, ToolCallFormat::Hermes);
        assert_eq!(text, out);
        assert!(calls.is_empty());
    }

    #[test]
    fn no_calls() {
        assert_eq!(
            extract_tool_calls(" hi ", ToolCallFormat::Hermes),
            ("hi".to_string(), vec![])
        );
    }
}
