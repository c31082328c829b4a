//! IBM Granite 3.3: `<|tool_call|>[{"name": .., "arguments": {..}}]`, reasoning in
//! `<think>…</think>` and the answer in `<response>…</response>`; Granite 4.x writes Hermes
//! `<tool_call>` blocks, which are read too.

use super::hermes;
use super::json::{calls_from_value, first_json_value};
use crate::ToolCall;

/// Granite 3.3's marker in front of its calls.
pub const TOOL_CALL: &str = "<|tool_call|>";
/// Answer wrappers.
pub const RESPONSE_TAGS: &[&str] = &["<response>", "</response>"];

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[TOOL_CALL, hermes::OPEN];

/// The answer without its wrappers.
pub(crate) fn clean(text: &str) -> String {
    super::text::remove_tags(text, RESPONSE_TAGS)
}

/// Text and calls.
pub(crate) fn extract(output: &str) -> Option<(String, Vec<ToolCall>)> {
    if let Some(at) = output.find(TOOL_CALL) {
        let body = output[at + TOOL_CALL.len()..].trim_start();
        let (value, used) = first_json_value(body)?;
        let calls = calls_from_value(&value, 0)?;
        return Some((
            clean(&super::text::join(&output[..at], &body[used..])),
            calls,
        ));
    }
    let (text, calls) = hermes::extract(output);
    (!calls.is_empty()).then(|| (clean(&text), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn granite_3_3_list() {
        let out = "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"now\", \"arguments\": {}}]";
        assert_eq!(
            extract(out),
            Some((
                String::new(),
                vec![
                    c(0, "get_weather", r#"{"city":"Paris"}"#),
                    c(1, "now", "{}")
                ]
            ))
        );
    }

    #[test]
    fn granite_4_hermes_and_response_wrappers() {
        let out = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>";
        assert_eq!(
            extract(out),
            Some((String::new(), vec![c(0, "f", r#"{"a":1}"#)]))
        );
        assert_eq!(clean("<response>Hi</response>"), "Hi");
        assert_eq!(extract("<response>Hi</response>"), None);
    }
}
