//! Qwen3-Coder (also Qwen3.5, Nemotron 3 Nano, StepFun 3.5): XML calls whose parameter values
//! are raw text, typed by the tool's schema (a `string` parameter stays text, others are
//! read as JSON):
//!
//! ```text
//! <tool_call>
//! <function=get_weather>
//! <parameter=city>
//! Paris
//! </parameter>
//! </function>
//! </tool_call>
//! ```
//!
//! The opening `<tool_call>` is sometimes left out by the model; it is optional. ByteDance
//! Seed-OSS writes the same calls inside `<seed:tool_call>` … `</seed:tool_call>`.

use super::hermes;
use super::json::{call, parameter_schema, typed_value};
use crate::{ToolCall, ToolDefinition};
use serde_json::{Map, Value};

/// Opening of a function block.
pub const FUNCTION_OPEN: &str = "<function=";
/// Closing of a function block.
pub const FUNCTION_CLOSE: &str = "</function>";
/// Opening of a parameter.
pub const PARAMETER_OPEN: &str = "<parameter=";
/// Closing of a parameter.
pub const PARAMETER_CLOSE: &str = "</parameter>";

/// Seed-OSS's wrapper of a call.
pub const SEED_OPEN: &str = "<seed:tool_call>";
/// Seed-OSS's wrapper end.
pub const SEED_CLOSE: &str = "</seed:tool_call>";

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[hermes::OPEN, SEED_OPEN, FUNCTION_OPEN];

/// The parameters of a function block's body as a JSON object (values typed by `tools`).
fn arguments(name: &str, body: &str, tools: Option<&[ToolDefinition]>) -> Option<String> {
    let mut args = Map::new();
    let mut rest = body;
    while let Some(at) = rest.find(PARAMETER_OPEN) {
        let after = &rest[at + PARAMETER_OPEN.len()..];
        let close = after.find('>')?;
        let key = after[..close].trim();
        let value_start = &after[close + 1..];
        let end = value_start
            .find(PARAMETER_CLOSE)
            .unwrap_or(value_start.len());
        let raw = &value_start[..end];
        let raw = raw.strip_prefix('\n').unwrap_or(raw);
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        let schema = parameter_schema(tools, name, key);
        args.insert(key.to_string(), typed_value(raw, schema.as_ref()));
        rest = &value_start[(end + PARAMETER_CLOSE.len()).min(value_start.len())..];
    }
    Some(Value::Object(args).to_string())
}

/// Text and calls.
pub(crate) fn extract(
    output: &str,
    tools: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut rest = output;
    while let Some(at) = rest.find(FUNCTION_OPEN) {
        let head = &rest[..at];
        let after = &rest[at + FUNCTION_OPEN.len()..];
        let Some(name_end) = after.find('>') else {
            break;
        };
        let name = after[..name_end].trim();
        let body_and_rest = &after[name_end + 1..];
        let body_end = body_and_rest
            .find(FUNCTION_CLOSE)
            .unwrap_or(body_and_rest.len());
        let Some(arguments) = arguments(name, &body_and_rest[..body_end], tools) else {
            break;
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            break;
        }
        // Text before the block, without the block's optional `<tool_call>`.
        let head = head.trim_end();
        let head = head.strip_suffix(hermes::OPEN).unwrap_or(head);
        text.push_str(head.strip_suffix(SEED_OPEN).unwrap_or(head));
        calls.push(call(calls.len(), name, arguments));
        let mut tail = &body_and_rest[(body_end + FUNCTION_CLOSE.len()).min(body_and_rest.len())..];
        let trimmed = tail.trim_start();
        if let Some(t) = trimmed
            .strip_prefix(hermes::CLOSE)
            .or_else(|| trimmed.strip_prefix(SEED_CLOSE))
        {
            tail = t;
        }
        rest = tail;
    }
    if calls.is_empty() {
        return None;
    }
    text.push_str(rest.trim());
    Some((text.trim().to_string(), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    fn weather() -> Vec<ToolDefinition> {
        vec![ToolDefinition::new(
            "get_weather",
            "",
            r#"{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}"#,
        )]
    }

    #[test]
    fn one_call_with_typed_parameters() {
        let out = "<tool_call>\n<function=get_weather>\n<parameter=city>\n10\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
        assert_eq!(
            extract(out, Some(&weather())),
            Some((
                String::new(),
                vec![c(0, "get_weather", r#"{"city":"10","days":3}"#)]
            ))
        );
    }

    #[test]
    fn text_first_and_missing_tool_call_open() {
        let out = "Let me call it.\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>";
        assert_eq!(
            extract(out, Some(&weather())),
            Some((
                "Let me call it.".to_string(),
                vec![c(0, "get_weather", r#"{"city":"Paris"}"#)]
            ))
        );
    }

    #[test]
    fn two_calls_and_multiline_values() {
        let out = "<tool_call>\n<function=write>\n<parameter=text>\nline 1\nline 2\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=now>\n</function>\n</tool_call>";
        assert_eq!(
            extract(out, None),
            Some((
                String::new(),
                vec![
                    c(0, "write", r#"{"text":"line 1\nline 2"}"#),
                    c(1, "now", "{}")
                ]
            ))
        );
    }

    #[test]
    fn seed_oss_wrappers() {
        let out = "<seed:tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n</function>\n</seed:tool_call>";
        assert_eq!(
            extract(out, Some(&weather())),
            Some((
                String::new(),
                vec![c(0, "get_weather", r#"{"city":"Paris"}"#)]
            ))
        );
    }

    #[test]
    fn plain_text_is_not_a_call() {
        assert_eq!(extract("No tools needed.", None), None);
    }
}
