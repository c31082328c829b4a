//! Cohere Command R7B (and Command A / North "Cohere2"): reasoning in
//! `<|START_THINKING|>…<|END_THINKING|>`, the answer in `<|START_RESPONSE|>…<|END_RESPONSE|>`
//! (`<|START_TEXT|>…<|END_TEXT|>` in the newer template), calls as a JSON list in
//! `<|START_ACTION|>[{"tool_call_id": "0", "tool_name": NAME, "parameters": {...}}]<|END_ACTION|>`.

use super::json::{arguments_string, call, first_json_value};
use crate::ToolCall;
use serde_json::Value;

/// Opening of the reasoning.
pub const THINKING_OPEN: &str = "<|START_THINKING|>";
/// Closing of the reasoning.
pub const THINKING_CLOSE: &str = "<|END_THINKING|>";
/// Opening of the calls.
pub const ACTION_OPEN: &str = "<|START_ACTION|>";
/// Closing of the calls.
pub const ACTION_CLOSE: &str = "<|END_ACTION|>";
/// Answer wrappers (R7B, then Cohere2).
pub const RESPONSE_TAGS: &[&str] = &[
    "<|START_RESPONSE|>",
    "<|END_RESPONSE|>",
    "<|START_TEXT|>",
    "<|END_TEXT|>",
];

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[ACTION_OPEN];

/// The answer without its wrappers.
pub(crate) fn clean(text: &str) -> String {
    super::text::remove_tags(text, RESPONSE_TAGS)
}

/// Text and calls.
pub(crate) fn extract(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let at = output.find(ACTION_OPEN)?;
    let body = output[at + ACTION_OPEN.len()..].trim_start();
    let (value, used) = first_json_value(body)?;
    let items = match value {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        _ => return None,
    };
    let mut calls = Vec::new();
    for item in &items {
        let name = item
            .get("tool_name")
            .or_else(|| item.get("name"))?
            .as_str()?;
        let arguments = arguments_string(item.get("parameters").or_else(|| item.get("arguments")))?;
        calls.push(call(calls.len(), name, arguments));
    }
    if calls.is_empty() {
        return None;
    }
    let after = body[used..].trim_start();
    let after = after.strip_prefix(ACTION_CLOSE).unwrap_or(after);
    Some((clean(&super::text::join(&output[..at], after)), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn action_list() {
        let out = "<|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"special_function\", \"parameters\": {\"arg1\": 1}}\n]<|END_ACTION|>";
        assert_eq!(
            extract(out),
            Some((
                String::new(),
                vec![c(0, "special_function", r#"{"arg1":1}"#)]
            ))
        );
    }

    #[test]
    fn answer_wrappers_are_removed() {
        assert_eq!(
            clean("<|START_RESPONSE|>Hello, world!<|END_RESPONSE|>"),
            "Hello, world!"
        );
        assert_eq!(clean("<|START_TEXT|>Hi<|END_TEXT|>"), "Hi");
        assert_eq!(extract("<|START_RESPONSE|>Hi<|END_RESPONSE|>"), None);
    }
}
