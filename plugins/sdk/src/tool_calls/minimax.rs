//! MiniMax M2 and M3.
//!
//! * **M2**: `<minimax:tool_call>` blocks of `<invoke name="NAME">` calls whose
//!   `<parameter name="KEY">` values are text typed by the tool's schema (see
//!   [`invoke`](super::invoke)); reasoning in `<think>…</think>`.
//! * **M3**: every tag carries the namespace token `]<]minimax[>[`, and parameters are
//!   elements named after the key; a value holding an object or an array is written as nested
//!   elements (an array's entries are `<item>`s); reasoning in `<mm:think>…</mm:think>`:
//!
//! ```text
//! ]<]minimax[>[<tool_call>
//! ]<]minimax[>[<invoke name="get_weather">]<]minimax[>[<city>Paris]<]minimax[>[</city>]<]minimax[>[</invoke>
//! ]<]minimax[>[</tool_call>
//! ```

use super::invoke::{self, Syntax};
use super::json::{call, parameter_schema, typed_value};
use crate::{ToolCall, ToolDefinition};
use serde_json::{Map, Value};

/// Opening of an M2 calls block.
pub const M2_OPEN: &str = "<minimax:tool_call>";
/// Closing of an M2 calls block.
pub const M2_CLOSE: &str = "</minimax:tool_call>";

/// M2's tags.
pub(crate) const M2: Syntax = Syntax {
    blocks: &[(M2_OPEN, M2_CLOSE)],
    invoke_open: "<invoke name=\"",
    invoke_close: "</invoke>",
    parameter_open: "<parameter name=\"",
    parameter_close: "</parameter>",
};

/// Where M2's call markup starts.
pub(crate) const M2_MARKERS: &[&str] = &[M2_OPEN];

/// M3's namespace token, in front of every tag of its markup.
pub const NS: &str = "]<]minimax[>[";
/// Opening of an M3 calls block.
pub const M3_OPEN: &str = "]<]minimax[>[<tool_call>";
/// Closing of an M3 calls block.
pub const M3_CLOSE: &str = "]<]minimax[>[</tool_call>";
/// Opening of M3's reasoning.
pub const M3_THINK_OPEN: &str = "<mm:think>";
/// Closing of M3's reasoning.
pub const M3_THINK_CLOSE: &str = "</mm:think>";
const M3_INVOKE_OPEN: &str = "]<]minimax[>[<invoke name=\"";
const M3_INVOKE_CLOSE: &str = "]<]minimax[>[</invoke>";

/// Where M3's call markup starts.
pub(crate) const M3_MARKERS: &[&str] = &[M3_OPEN];

/// M2: text and calls.
pub(crate) fn extract_m2(
    output: &str,
    tools: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    invoke::extract(output, &M2, tools)
}

/// An M3 element's content: text, or child elements.
enum Node<'a> {
    Text(&'a str),
    Children(Vec<(&'a str, Node<'a>)>),
}

/// The elements at the start of `s` up to the first text that is not an opening tag; returns
/// them and the rest. `None` when an element is not closed.
fn elements(mut s: &str) -> Option<(Vec<(&str, Node<'_>)>, &str)> {
    let mut out = Vec::new();
    loop {
        let t = s.trim_start();
        let Some(after) = t.strip_prefix(NS).and_then(|a| a.strip_prefix('<')) else {
            return Some((out, s));
        };
        if after.starts_with('/') {
            return Some((out, s));
        }
        let (tag, body) = after.split_once('>')?;
        let close = format!("{NS}</{tag}>");
        let (node, rest) = if body.trim_start().starts_with(NS)
            && !body.trim_start()[NS.len()..].starts_with("</")
        {
            let (children, rest) = elements(body)?;
            let rest = rest.trim_start().strip_prefix(close.as_str())?;
            (Node::Children(children), rest)
        } else {
            let end = body.find(close.as_str())?;
            (Node::Text(&body[..end]), &body[end + close.len()..])
        };
        out.push((tag, node));
        s = rest;
    }
}

/// A nested value as JSON: `<item>` children make an array, other children an object.
fn nested(node: &Node, schema: Option<&Value>) -> Value {
    match node {
        Node::Text(t) => typed_value(t, schema),
        Node::Children(children)
            if !children.is_empty() && children.iter().all(|(t, _)| *t == "item") =>
        {
            let items = schema.and_then(|s| s.get("items"));
            Value::Array(children.iter().map(|(_, n)| nested(n, items)).collect())
        }
        Node::Children(children) => {
            let props = schema.and_then(|s| s.get("properties"));
            Value::Object(
                children
                    .iter()
                    .map(|(k, n)| (k.to_string(), nested(n, props.and_then(|p| p.get(*k)))))
                    .collect(),
            )
        }
    }
}

/// The calls in one M3 block's body.
fn m3_invokes(body: &str, first: usize, tools: Option<&[ToolDefinition]>) -> Option<Vec<ToolCall>> {
    let mut calls = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(M3_INVOKE_OPEN) {
        let (name, after) = rest[at + M3_INVOKE_OPEN.len()..].split_once("\">")?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        let (params, after) = elements(after)?;
        let mut args = Map::new();
        for (key, node) in &params {
            let schema = parameter_schema(tools, name, key);
            args.insert(key.to_string(), nested(node, schema.as_ref()));
        }
        calls.push(call(
            first + calls.len(),
            name,
            Value::Object(args).to_string(),
        ));
        let after = after.trim_start();
        rest = after.strip_prefix(M3_INVOKE_CLOSE).unwrap_or(after);
    }
    Some(calls)
}

/// M3: text and calls.
pub(crate) fn extract_m3(
    output: &str,
    tools: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    invoke::in_blocks(output, &[(M3_OPEN, M3_CLOSE)], |body, first| {
        m3_invokes(body, first, tools)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    fn weather() -> Vec<ToolDefinition> {
        vec![ToolDefinition::new(
            "get_weather",
            "",
            r#"{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "spots": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}"#,
        )]
    }

    #[test]
    fn m2_calls_typed_by_the_schema() {
        // As MiniMax-M2's template writes an assistant's calls.
        let out = "Checking.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"city\">10</parameter>\n<parameter name=\"days\">3</parameter>\n</invoke>\n<invoke name=\"now\">\n</invoke>\n</minimax:tool_call>";
        assert_eq!(
            extract_m2(out, Some(&weather())),
            Some((
                "Checking.".to_string(),
                vec![
                    c(0, "get_weather", r#"{"city":"10","days":3}"#),
                    c(1, "now", "{}")
                ]
            ))
        );
        assert_eq!(extract_m2("No call <invoke name=\"x\">", None), None);
    }

    #[test]
    fn m3_nested_objects_and_arrays() {
        let out = "]<]minimax[>[<tool_call>\n]<]minimax[>[<invoke name=\"get_weather\">]<]minimax[>[<city>Paris]<]minimax[>[</city>]<]minimax[>[<days>2]<]minimax[>[</days>]<]minimax[>[<spots>]<]minimax[>[<item>]<]minimax[>[<name>Louvre]<]minimax[>[</name>]<]minimax[>[</item>]<]minimax[>[<item>]<]minimax[>[<name>7]<]minimax[>[</name>]<]minimax[>[</item>]<]minimax[>[</spots>]<]minimax[>[</invoke>\n]<]minimax[>[</tool_call> done";
        assert_eq!(
            extract_m3(out, Some(&weather())),
            Some((
                "done".to_string(),
                vec![c(
                    0,
                    "get_weather",
                    r#"{"city":"Paris","days":2,"spots":[{"name":"Louvre"},{"name":"7"}]}"#
                )]
            ))
        );
    }

    #[test]
    fn m3_unclosed_element_stays_text() {
        let out = "]<]minimax[>[<tool_call>\n]<]minimax[>[<invoke name=\"f\">]<]minimax[>[<a>1";
        assert_eq!(extract_m3(out, None), None);
    }
}
