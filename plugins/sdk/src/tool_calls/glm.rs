//! GLM 4.5 / 4.6 / 4.7: `<tool_call>NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>\n</tool_call>`
//! (4.7 without the newlines), values written as text (strings) or JSON (everything else)
//! and read back by the tool's schema; reasoning in `<think>…</think>` (4.7 opens it in the
//! prompt).

use super::hermes::{self, blocks};
use super::json::{call, parameter_schema, typed_value};
use crate::{ToolCall, ToolDefinition};
use serde_json::{Map, Value};

/// Opening of a parameter name.
pub const KEY_OPEN: &str = "<arg_key>";
/// Closing of a parameter name.
pub const KEY_CLOSE: &str = "</arg_key>";
/// Opening of a parameter value.
pub const VALUE_OPEN: &str = "<arg_value>";
/// Closing of a parameter value.
pub const VALUE_CLOSE: &str = "</arg_value>";

/// Where call markup starts.
pub(crate) const MARKERS: &[&str] = &[hermes::OPEN];

fn parse_call(body: &str, index: usize, tools: Option<&[ToolDefinition]>) -> Option<ToolCall> {
    let name_end = body.find(KEY_OPEN).unwrap_or(body.len());
    let name = body[..name_end].trim();
    if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('{') {
        return None;
    }
    let mut args = Map::new();
    let mut rest = &body[name_end..];
    while let Some(k) = rest.find(KEY_OPEN) {
        let after = &rest[k + KEY_OPEN.len()..];
        let key_end = after.find(KEY_CLOSE)?;
        let key = after[..key_end].trim();
        let after = &after[key_end + KEY_CLOSE.len()..];
        let v = after.find(VALUE_OPEN)?;
        let value = &after[v + VALUE_OPEN.len()..];
        let value_end = value.find(VALUE_CLOSE).unwrap_or(value.len());
        let schema = parameter_schema(tools, name, key);
        args.insert(
            key.to_string(),
            typed_value(&value[..value_end], schema.as_ref()),
        );
        rest = &value[(value_end + VALUE_CLOSE.len()).min(value.len())..];
    }
    Some(call(index, name, Value::Object(args).to_string()))
}

/// Text and calls.
pub(crate) fn extract(
    output: &str,
    tools: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    let (text, calls) = blocks(output, hermes::OPEN, hermes::CLOSE, |body, i| {
        parse_call(body, i, tools)
    });
    (!calls.is_empty()).then_some((text, calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn glm_4_6_with_newlines() {
        let out = "<tool_call>special_function\n<arg_key>arg1</arg_key>\n<arg_value>1</arg_value>\n</tool_call>";
        assert_eq!(
            extract(out, None),
            Some((
                String::new(),
                vec![c(0, "special_function", r#"{"arg1":1}"#)]
            ))
        );
    }

    #[test]
    fn glm_4_7_compact_two_calls_typed_by_schema() {
        let tools = vec![ToolDefinition::new(
            "get_weather",
            "",
            r#"{"type": "object", "properties": {"city": {"type": "string"}}}"#,
        )];
        let out = "Let me look.<tool_call>get_weather<arg_key>city</arg_key><arg_value>1984</arg_value></tool_call><tool_call>now</tool_call>";
        assert_eq!(
            extract(out, Some(&tools)),
            Some((
                "Let me look.".to_string(),
                vec![c(0, "get_weather", r#"{"city":"1984"}"#), c(1, "now", "{}")]
            ))
        );
    }

    #[test]
    fn hermes_json_is_not_glm() {
        assert_eq!(
            extract("<tool_call>{\"name\": \"f\"}</tool_call>", None),
            None
        );
    }
}
