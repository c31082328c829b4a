//! Kimi K2 (Instruct and Thinking):
//! `<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{...}<|tool_call_end|><|tool_calls_section_end|>`;
//! K2 Thinking reasons in `<think>…</think>` first.

use super::json::{call, object_text};
use crate::ToolCall;

/// Opening of the calls section.
pub const SECTION_BEGIN: &str = "<|tool_calls_section_begin|>";
/// Closing of the calls section.
pub const SECTION_END: &str = "<|tool_calls_section_end|>";
/// Opening of one call (its id follows: `functions.NAME:INDEX`).
pub const CALL_BEGIN: &str = "<|tool_call_begin|>";
/// Between the id and the arguments.
pub const ARGUMENT_BEGIN: &str = "<|tool_call_argument_begin|>";
/// Closing of one call.
pub const CALL_END: &str = "<|tool_call_end|>";

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[SECTION_BEGIN, CALL_BEGIN];

/// The function name in an id `functions.NAME:INDEX` (or `NAME:INDEX`, or `NAME`).
fn name_of(id: &str) -> &str {
    let id = id.trim();
    let id = id.strip_prefix("functions.").unwrap_or(id);
    match id.rfind(':') {
        Some(i) if id[i + 1..].chars().all(|c| c.is_ascii_digit()) => &id[..i],
        _ => id,
    }
}

/// Text and calls.
pub(crate) fn extract(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let begin = output
        .find(SECTION_BEGIN)
        .or_else(|| output.find(CALL_BEGIN))?;
    let text = output[..begin].trim().to_string();
    let mut rest = &output[begin..];
    let mut calls = Vec::new();
    while let Some(at) = rest.find(CALL_BEGIN) {
        let body = &rest[at + CALL_BEGIN.len()..];
        let (id, args) = body.split_once(ARGUMENT_BEGIN)?;
        let (arguments, used) = object_text(args)?;
        let name = name_of(id);
        if name.is_empty() {
            return None;
        }
        calls.push(call(calls.len(), name, arguments));
        let after = args[used..].trim_start();
        rest = after.strip_prefix(CALL_END).unwrap_or(after);
    }
    if calls.is_empty() {
        return None;
    }
    let after = rest.trim_start();
    let after = after.strip_prefix(SECTION_END).unwrap_or(after);
    Some((super::text::join(&text, after), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn one_call() {
        let out = "<|tool_calls_section_begin|><|tool_call_begin|>functions.special_function:0<|tool_call_argument_begin|>{\"arg1\": 1}<|tool_call_end|><|tool_calls_section_end|>";
        assert_eq!(
            extract(out),
            Some((
                String::new(),
                vec![c(0, "special_function", r#"{"arg1":1}"#)]
            ))
        );
    }

    #[test]
    fn two_calls_after_text() {
        let out = "Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.a:0<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_call_begin|>functions.b:1<|tool_call_argument_begin|>{\"x\": [1]}<|tool_call_end|><|tool_calls_section_end|>";
        assert_eq!(
            extract(out),
            Some((
                "Checking.".to_string(),
                vec![c(0, "a", "{}"), c(1, "b", r#"{"x":[1]}"#)]
            ))
        );
    }

    #[test]
    fn names_and_broken_calls() {
        assert_eq!(name_of("functions.get_weather:12"), "get_weather");
        assert_eq!(name_of("get_weather"), "get_weather");
        assert_eq!(
            extract("<|tool_call_begin|>functions.a:0<|tool_call_argument_begin|>nope"),
            None
        );
    }
}
