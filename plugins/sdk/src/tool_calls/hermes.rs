//! Hermes 2 Pro / Qwen 2.5 / Qwen 3 / QwQ / Granite 4 / MiMo: one JSON object per call,
//! `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`, repeated.

use super::json::parse_call_object;
use crate::ToolCall;

/// Opening tag of a Hermes tool call.
pub const OPEN: &str = "<tool_call>";
/// Closing tag of a Hermes tool call.
pub const CLOSE: &str = "</tool_call>";

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[OPEN];

/// The text without its `<tool_call>` blocks, and their calls. A block that does not hold
/// a JSON call stays in the text; an unclosed last block runs to the end.
pub(crate) fn extract(output: &str) -> (String, Vec<ToolCall>) {
    blocks(output, OPEN, CLOSE, |body, index| {
        parse_call_object(body, index)
    })
}

/// Splits `output` into text and calls found between `open` and `close` (the last block may
/// be unclosed); `parse` turns a block's body into a call, or `None` to keep it as text.
pub(crate) fn blocks(
    output: &str,
    open: &str,
    close: &str,
    parse: impl Fn(&str, usize) -> Option<ToolCall>,
) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut rest = output;
    while let Some(at) = rest.find(open) {
        let body_start = at + open.len();
        let (body, block_end) = match rest[body_start..].find(close) {
            Some(end) => (
                &rest[body_start..body_start + end],
                body_start + end + close.len(),
            ),
            None => (&rest[body_start..], rest.len()),
        };
        match parse(body, calls.len()) {
            Some(call) => {
                text.push_str(&rest[..at]);
                calls.push(call);
            }
            None => text.push_str(&rest[..block_end]),
        }
        rest = &rest[block_end..];
    }
    text.push_str(rest);
    (text.trim().to_string(), calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call;

    #[test]
    fn two_calls_and_text() {
        let out = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
        let (text, calls) = extract(out);
        assert_eq!(text, "Let me check.");
        assert_eq!(
            calls,
            vec![
                call(0, "get_weather", r#"{"city":"Paris"}"#),
                call(1, "now", "{}")
            ]
        );
    }

    #[test]
    fn unclosed_and_string_arguments() {
        let out = "<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}\n";
        assert_eq!(
            extract(out),
            (String::new(), vec![call(0, "f", r#"{"x": 1}"#)])
        );
    }

    #[test]
    fn garbage_stays_in_text() {
        let out = "a <tool_call>not json</tool_call> b";
        assert_eq!(extract(out), (out.to_string(), vec![]));
    }

    #[test]
    fn no_calls() {
        assert_eq!(extract(" hi "), ("hi".to_string(), vec![]));
    }
}
