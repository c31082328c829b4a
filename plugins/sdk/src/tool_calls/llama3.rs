//! Llama 3.1 / 3.2 / 3.3: `<|python_tag|>` followed by `{"name": .., "parameters": ..}`
//! objects separated by `;`, or one bare JSON call (`"parameters"` or `"arguments"`) as the
//! whole output; `<|eom_id|>` / `<|eot_id|>` tails are dropped.

use super::json::{call_from_value, first_json_value, names_known};
use crate::{ToolCall, ToolDefinition};

/// Llama 3.1's marker in front of a tool call.
pub const PYTHON_TAG: &str = "<|python_tag|>";

/// Where call markup starts (a bare JSON call starts at the first `{`).
pub(crate) const MARKERS: &[&str] = &[PYTHON_TAG];

/// `output` without trailing whitespace and `<|eom_id|>` / `<|eot_id|>` tails.
pub(crate) fn strip_tails(output: &str) -> &str {
    let mut s = output.trim_end();
    loop {
        let before = s.len();
        for tail in ["<|eom_id|>", "<|eot_id|>"] {
            s = s.strip_suffix(tail).unwrap_or(s).trim_end();
        }
        if s.len() == before {
            return s;
        }
    }
}

/// Calls written as JSON objects separated by `;` that make up all of `body`.
fn call_list(body: &str) -> Option<Vec<ToolCall>> {
    let mut calls = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (value, used) = first_json_value(rest)?;
        calls.push(call_from_value(&value, calls.len())?);
        rest = rest[used..].trim_start();
        rest = rest.strip_prefix(';').unwrap_or(rest).trim_start();
    }
    (!calls.is_empty()).then_some(calls)
}

/// Text and calls; a bare JSON call counts only when its names are `known` (or `known` is
/// `None`).
pub(crate) fn extract(
    output: &str,
    known: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    let s = strip_tails(output);
    if let Some(pos) = s.find(PYTHON_TAG) {
        let calls = call_list(&s[pos + PYTHON_TAG.len()..])?;
        return Some((s[..pos].trim().to_string(), calls));
    }
    let body = s.trim();
    if !body.starts_with('{') {
        return None;
    }
    let calls = call_list(body)?;
    names_known(&calls, known).then_some((String::new(), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::{call, tools};

    #[test]
    fn python_tag_single() {
        let out = "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eom_id|>";
        assert_eq!(
            extract(out, None),
            Some((
                String::new(),
                vec![call(0, "get_weather", r#"{"city":"Paris"}"#)]
            ))
        );
    }

    #[test]
    fn python_tag_several_with_semicolons_and_text() {
        let out = "Checking both.<|python_tag|>{\"name\": \"a\", \"parameters\": {\"s\": \"x;y\"}}; {\"name\": \"b\", \"arguments\": {}};\n<|eot_id|>";
        assert_eq!(
            extract(out, None),
            Some((
                "Checking both.".to_string(),
                vec![call(0, "a", r#"{"s":"x;y"}"#), call(1, "b", "{}")]
            ))
        );
    }

    #[test]
    fn bare_json_needs_a_known_name() {
        let t = tools(&["calculator"]);
        let out = "{\"name\": \"calculator\", \"parameters\": {\"expression\": \"2+2\"}}<|eot_id|>";
        assert_eq!(
            extract(out, Some(&t)),
            Some((
                String::new(),
                vec![call(0, "calculator", r#"{"expression":"2+2"}"#)]
            ))
        );
        let answer = "{\"name\": \"Bob\", \"parameters\": {\"age\": 3}}";
        assert_eq!(extract(answer, Some(&t)), None);
    }

    #[test]
    fn builtin_tool_syntax_and_text_are_not_calls() {
        assert_eq!(
            extract(
                "<|python_tag|>brave_search.call(query=\"x\")<|eom_id|>",
                None
            ),
            None
        );
        assert_eq!(extract("The answer is 4.<|eot_id|>", None), None);
    }
}
