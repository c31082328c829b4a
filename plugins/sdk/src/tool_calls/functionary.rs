//! MeetKai Functionary.
//!
//! * v3.1 (Llama 3.1 based): `<function=NAME>{...}</function>`, repeated; code for the
//!   built-in interpreter after `<|python_tag|>` (a `python` call with `{"code": ...}`).
//! * v3.2: the prompt ends with `>>>`; the model writes a recipient line and then the
//!   message: `all\ntext` is the answer, `NAME\n{...}` a call; more follow after `>>>`.

use super::json::{call, object_text};
use super::llama3::PYTHON_TAG;
use crate::ToolCall;
use serde_json::json;

/// Opening of a v3.1 call.
pub const V31_OPEN: &str = "<function=";
/// Closing of a v3.1 call.
pub const V31_CLOSE: &str = "</function>";
/// v3.2's separator before every message after the first.
pub const V32_RECIPIENT: &str = ">>>";
/// v3.2's recipient of the answer.
pub const V32_ALL: &str = "all";

/// Where v3.1 call markup starts.
pub(crate) const V31_MARKERS: &[&str] = &[V31_OPEN, PYTHON_TAG];
/// Where v3.2 call markup may start (a recipient other than `all`).
pub(crate) const V32_MARKERS: &[&str] = &[V32_RECIPIENT];

/// v3.1: text and calls.
pub(crate) fn extract_v31(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let output = super::llama3::strip_tails(output);
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut rest = output;
    loop {
        let open = rest.find(V31_OPEN);
        let tag = rest.find(PYTHON_TAG);
        match (open, tag) {
            (Some(o), t) if t.is_none_or(|t| o < t) => {
                let after = &rest[o + V31_OPEN.len()..];
                let name_end = after.find('>')?;
                let name = after[..name_end].trim();
                let (arguments, used) = object_text(&after[name_end + 1..])?;
                text.push_str(&rest[..o]);
                calls.push(call(calls.len(), name, arguments));
                let tail = after[name_end + 1 + used..].trim_start();
                rest = tail.strip_prefix(V31_CLOSE).unwrap_or(tail);
            }
            (_, Some(t)) => {
                text.push_str(&rest[..t]);
                let code = rest[t + PYTHON_TAG.len()..].trim();
                calls.push(call(
                    calls.len(),
                    "python",
                    json!({ "code": code }).to_string(),
                ));
                rest = "";
            }
            _ => break,
        }
    }
    text.push_str(rest);
    (!calls.is_empty()).then(|| (text.trim().to_string(), calls))
}

/// v3.2: the output's messages as `(recipient, body)`.
fn v32_messages(output: &str) -> Vec<(&str, &str)> {
    output
        .split(V32_RECIPIENT)
        .filter(|m| !m.trim().is_empty())
        .map(|m| match m.split_once('\n') {
            Some((recipient, body)) => (recipient.trim(), body),
            None => (m.trim(), ""),
        })
        .collect()
}

/// v3.2: text and calls; a message whose body is not a JSON object stays text.
pub(crate) fn extract_v32(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for (recipient, body) in v32_messages(output) {
        if recipient == V32_ALL {
            text.push(body.trim());
            continue;
        }
        match object_text(body) {
            Some((arguments, _)) if !recipient.contains(char::is_whitespace) => {
                calls.push(call(calls.len(), recipient, arguments))
            }
            _ => return None,
        }
    }
    (!calls.is_empty()).then(|| (text.join("\n").trim().to_string(), calls))
}

/// v3.2 text without its `all` recipient lines (the answer as the user sees it).
pub(crate) fn v32_answer(output: &str) -> String {
    let messages = v32_messages(output);
    if messages.is_empty() {
        return String::new();
    }
    messages
        .iter()
        .map(|(r, b)| if *r == V32_ALL { b.trim() } else { "" })
        .filter(|b| !b.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn v31_calls_and_text() {
        assert_eq!(
            extract_v31("<function=special_function>{\"arg1\": 1}</function>"),
            Some((
                String::new(),
                vec![c(0, "special_function", r#"{"arg1":1}"#)]
            ))
        );
        assert_eq!(
            extract_v31(
                "Sure.<function=a>{}</function><function=b>{\"x\": 2}</function><|eom_id|>"
            ),
            Some((
                "Sure.".to_string(),
                vec![c(0, "a", "{}"), c(1, "b", r#"{"x":2}"#)]
            ))
        );
    }

    #[test]
    fn v31_python_tag_is_the_code_interpreter() {
        assert_eq!(
            extract_v31("<|python_tag|>print(1)"),
            Some((
                String::new(),
                vec![c(0, "python", r#"{"code":"print(1)"}"#)]
            ))
        );
        assert_eq!(extract_v31("plain"), None);
    }

    #[test]
    fn v32_answer_and_calls() {
        assert_eq!(extract_v32("all\nHello, world!"), None);
        assert_eq!(
            v32_answer("all\nHello, world!\nWhat's up?"),
            "Hello, world!\nWhat's up?"
        );
        assert_eq!(
            extract_v32("special_function\n{\"arg1\": 1}"),
            Some((
                String::new(),
                vec![c(0, "special_function", r#"{"arg1":1}"#)]
            ))
        );
        assert_eq!(
            extract_v32("all\nLet me check.>>>get_weather\n{\"city\": \"Paris\"}"),
            Some((
                "Let me check.".to_string(),
                vec![c(0, "get_weather", r#"{"city":"Paris"}"#)]
            ))
        );
    }
}
