//! DeepSeek R1 and V3.x: calls in a `<｜tool▁calls▁begin｜>` section, one
//! `<｜tool▁call▁begin｜>…<｜tool▁call▁end｜>` per call, written
//!
//! * R1: `function<｜tool▁sep｜>NAME\n```json\n{...}\n```` (the type first, the arguments in a
//!   fence);
//! * V3.1+: `NAME<｜tool▁sep｜>{...}`.
//!
//! Reasoning is `<think>…</think>`; R1's template opens it in the prompt, so the output may
//! hold only the closing tag.

use super::json::{call, object_text, strip_fence};
use crate::ToolCall;

/// Opening of the calls section.
pub const CALLS_BEGIN: &str = "<｜tool▁calls▁begin｜>";
/// Closing of the calls section.
pub const CALLS_END: &str = "<｜tool▁calls▁end｜>";
/// Opening of one call.
pub const CALL_BEGIN: &str = "<｜tool▁call▁begin｜>";
/// Closing of one call.
pub const CALL_END: &str = "<｜tool▁call▁end｜>";
/// Separator between the name (or type) and the rest of a call.
pub const SEP: &str = "<｜tool▁sep｜>";

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[CALLS_BEGIN, CALL_BEGIN];

/// One call's body (between `<｜tool▁call▁begin｜>` and `<｜tool▁call▁end｜>`).
fn parse_call(body: &str, index: usize) -> Option<ToolCall> {
    let (head, rest) = body.split_once(SEP)?;
    let head = head.trim();
    if head == "function" {
        // R1: NAME\n```json\n{...}\n```
        let (name, args) = rest.split_once('\n').unwrap_or((rest, ""));
        let (arguments, _) = object_text(strip_fence(args))?;
        return Some(call(index, name.trim(), arguments));
    }
    let (arguments, _) = object_text(strip_fence(rest))?;
    (!head.is_empty()).then(|| call(index, head, arguments))
}

/// Text and calls.
pub(crate) fn extract(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let begin = output
        .find(CALLS_BEGIN)
        .or_else(|| output.find(CALL_BEGIN))?;
    let text = output[..begin].trim().to_string();
    let section = &output[begin..];
    let section = section.strip_prefix(CALLS_BEGIN).unwrap_or(section);
    let (section, after) = match section.find(CALLS_END) {
        Some(i) => (&section[..i], section[i + CALLS_END.len()..].trim()),
        None => (section, ""),
    };
    let mut calls = Vec::new();
    let mut rest = section;
    while let Some(at) = rest.find(CALL_BEGIN) {
        let body = &rest[at + CALL_BEGIN.len()..];
        let (body, next) = match body.find(CALL_END) {
            Some(i) => (&body[..i], &body[i + CALL_END.len()..]),
            None => (body, ""),
        };
        calls.push(parse_call(body, calls.len())?);
        rest = next;
    }
    if calls.is_empty() {
        return None;
    }
    Some((super::text::join(&text, after), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn v3_1_calls() {
        let out = "CONTENT<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        assert_eq!(
            extract(out),
            Some((
                "CONTENT".to_string(),
                vec![
                    c(0, "get_time", r#"{"city":"Paris"}"#),
                    c(1, "get_weather", r#"{"city":"Paris"}"#)
                ]
            ))
        );
    }

    #[test]
    fn r1_call_with_fenced_arguments() {
        let out = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>special_function\n```json\n{\"arg1\": 1}```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        assert_eq!(
            extract(out),
            Some((
                String::new(),
                vec![c(0, "special_function", r#"{"arg1":1}"#)]
            ))
        );
    }

    #[test]
    fn cut_off_and_broken_calls() {
        // Cut off after the arguments (a stop token ended the section).
        let out = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\": 1}";
        assert_eq!(
            extract(out),
            Some((String::new(), vec![c(0, "f", r#"{"a":1}"#)]))
        );
        assert_eq!(
            extract("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{broken"),
            None
        );
        assert_eq!(extract("no calls"), None);
    }
}
