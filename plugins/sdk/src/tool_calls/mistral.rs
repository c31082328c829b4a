//! Mistral: `[TOOL_CALLS]` followed by a JSON array of `{"name", "arguments"}` (v0.3, Nemo),
//! or `[TOOL_CALLS]name[ARGS]{json}` repeated (Devstral, Mistral Small 3.2 with
//! `[CALL_ID]id`, Ministral 3 / Magistral, whose reasoning is `[THINK]...[/THINK]`).

use super::json::{calls_from_value, first_json_value, object_text};
use crate::ToolCall;

/// Mistral's marker in front of tool calls.
pub const TOOL_CALLS: &str = "[TOOL_CALLS]";
/// Separator between a function name and its arguments (newer tokenizers).
pub const ARGS: &str = "[ARGS]";
/// Optional call id marker between name and `[ARGS]`.
pub const CALL_ID: &str = "[CALL_ID]";
/// Opening of Ministral 3 / Magistral reasoning.
pub const THINK_OPEN: &str = "[THINK]";
/// Closing of Ministral 3 / Magistral reasoning.
pub const THINK_CLOSE: &str = "[/THINK]";

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[TOOL_CALLS];

/// Text and calls; text after the calls that is not a call stays text.
pub(crate) fn extract(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let s = output.trim_end();
    let s = s.strip_suffix("</s>").unwrap_or(s);
    let pos = s.find(TOOL_CALLS)?;
    let mut text = s[..pos].trim().to_string();
    let mut calls: Vec<ToolCall> = Vec::new();
    let mut rest = &s[pos + TOOL_CALLS.len()..];
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix(TOOL_CALLS) {
            rest = r;
            continue;
        }
        match segment(rest, calls.len()) {
            Some((found, used)) => {
                calls.extend(found);
                rest = &rest[used..];
            }
            None => {
                if calls.is_empty() {
                    return None;
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(rest.trim());
                break;
            }
        }
    }
    (!calls.is_empty()).then_some((text, calls))
}

/// One segment after `[TOOL_CALLS]`: a JSON array / object of calls, or `name[ARGS]{json}`
/// (optionally `name[CALL_ID]id[ARGS]{json}`). Returns the calls and the bytes used.
fn segment(rest: &str, first_index: usize) -> Option<(Vec<ToolCall>, usize)> {
    if rest.starts_with('[') || rest.starts_with('{') {
        let (value, used) = first_json_value(rest)?;
        return Some((calls_from_value(&value, first_index)?, used));
    }
    let args_at = rest.find(ARGS)?;
    let name = rest[..args_at].split(CALL_ID).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().any(char::is_whitespace) || name.contains('[') {
        return None;
    }
    let json_start = args_at + ARGS.len();
    let (arguments, used) = object_text(&rest[json_start..])?;
    Some((
        vec![super::json::call(first_index, name, arguments)],
        json_start + used,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call;

    #[test]
    fn json_array() {
        let out = "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"now\", \"arguments\": {}, \"id\": \"abcdefghi\"}]</s>";
        assert_eq!(
            extract(out),
            Some((
                String::new(),
                vec![
                    call(0, "get_weather", r#"{"city":"Paris"}"#),
                    call(1, "now", "{}")
                ]
            ))
        );
    }

    #[test]
    fn name_args_form_repeated_with_call_id() {
        let out = "Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]now[CALL_ID]a1b2c3d4e[ARGS]{}";
        assert_eq!(
            extract(out),
            Some((
                "Sure.".to_string(),
                vec![
                    call(0, "get_weather", r#"{"city":"Paris"}"#),
                    call(1, "now", "{}")
                ]
            ))
        );
    }

    #[test]
    fn garbage_is_not_a_call_and_trailing_text_is_kept() {
        assert_eq!(extract("[TOOL_CALLS] not a call"), None);
        let (text, calls) = extract("[TOOL_CALLS]f[ARGS]{\"a\": 1} and then some words").unwrap();
        assert_eq!(text, "and then some words");
        assert_eq!(calls, vec![call(0, "f", r#"{"a":1}"#)]);
    }
}
