//! ServiceNow Apriel 1.5 / 1.6: calls as a JSON list in `<tool_calls>[…]</tool_calls>`;
//! reasoning first, ended by `[BEGIN FINAL RESPONSE]` (1.6's generation prompt opens it with
//! `Here are my reasoning steps:`), or in 1.5's `<thinking>…</thinking>`; the answer after
//! it, ended by `[END FINAL RESPONSE]` or `<|end|>`.

use super::hermes;
use super::json::{calls_from_value, first_json_value};
use super::text::{join, remove_tags};
use crate::ToolCall;

/// Opening of the calls list.
pub const CALLS_OPEN: &str = "<tool_calls>";
/// Closing of the calls list.
pub const CALLS_CLOSE: &str = "</tool_calls>";
/// What 1.6's generation prompt ends with: the output starts inside the reasoning.
pub const REASONING_OPEN: &str = "Here are my reasoning steps:";
/// The end of the reasoning.
pub const REASONING_CLOSE: &str = "[BEGIN FINAL RESPONSE]";
/// The end of the answer.
pub const RESPONSE_END: &str = "[END FINAL RESPONSE]";
/// Apriel's end of turn.
pub const END: &str = "<|end|>";
/// Opening of 1.5's reasoning before tool calls.
pub const THINKING_OPEN: &str = "<thinking>";
/// Closing of 1.5's reasoning.
pub const THINKING_CLOSE: &str = "</thinking>";

/// Answer wrappers taken off the content.
pub(crate) const RESPONSE_TAGS: &[&str] = &[REASONING_CLOSE, RESPONSE_END, END];

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[CALLS_OPEN, hermes::OPEN];

/// Text and calls (also Hermes' `<tool_call>{..}</tool_call>`, which 1.5's instructions name).
pub(crate) fn extract(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let Some(at) = output.find(CALLS_OPEN) else {
        let (text, calls) = hermes::extract(output);
        return (!calls.is_empty()).then_some((text, calls));
    };
    let body = &output[at + CALLS_OPEN.len()..];
    let (value, used) = first_json_value(body)?;
    let calls = calls_from_value(&value, 0)?;
    let after = body[used..].trim_start();
    let after = after.strip_prefix(CALLS_CLOSE).unwrap_or(after);
    (!calls.is_empty()).then(|| (join(&output[..at], after), calls))
}

/// The answer without its wrappers.
pub(crate) fn clean(text: &str) -> String {
    remove_tags(text, RESPONSE_TAGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn calls_list() {
        // As Apriel 1.6's template writes an assistant's calls.
        let out = "Checking.\n<tool_calls>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"call12345\"}, {\"name\": \"now\", \"arguments\": {}}]</tool_calls>\n<|end|>";
        assert_eq!(
            extract(out),
            Some((
                "Checking.\n<|end|>".to_string(),
                vec![
                    c(0, "get_weather", r#"{"city":"Paris"}"#),
                    c(1, "now", "{}")
                ]
            ))
        );
        assert_eq!(extract("<tool_calls>not json</tool_calls>"), None);
        assert_eq!(
            extract("<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>"),
            Some((String::new(), vec![c(0, "now", "{}")]))
        );
        assert_eq!(clean("Hi [END FINAL RESPONSE]\n<|end|>"), "Hi");
    }

    #[test]
    fn apriel_15_thinking_and_final_response() {
        use crate::tool_calls::{parse, ToolCallFormat};
        let t = crate::tool_calls::tests::tools(&["f"]);
        let out = "<thinking>Need f.</thinking>\n<tool_calls>[{\"name\": \"f\", \"arguments\": {\"a\": 1}}]</tool_calls>";
        let p = parse(ToolCallFormat::Apriel, out, &t);
        assert_eq!(p.reasoning.as_deref(), Some("Need f."));
        assert_eq!(p.tool_calls, vec![c(0, "f", r#"{"a":1}"#)]);
        let p = parse(
            ToolCallFormat::Apriel,
            "Two and two.\n[BEGIN FINAL RESPONSE]\n4\n[END FINAL RESPONSE]<|end|>",
            &[],
        );
        assert_eq!(
            (p.reasoning.as_deref(), p.content.as_str()),
            (Some("Two and two."), "4")
        );
    }
}
