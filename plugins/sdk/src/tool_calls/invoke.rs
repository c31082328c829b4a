//! The `<invoke name="NAME"><parameter name="KEY">VALUE</parameter></invoke>` calls that
//! MiniMax M2 and DeepSeek V3.2 / V4 (DSML) write, in a calls block; the two differ only in
//! the tags' prefix, the block's name and how a value says its type:
//!
//! ```text
//! <minimax:tool_call>
//! <invoke name="get_weather">
//! <parameter name="city">Paris</parameter>
//! </invoke>
//! </minimax:tool_call>
//!
//! <｜DSML｜function_calls>
//! <｜DSML｜invoke name="get_weather">
//! <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
//! </｜DSML｜invoke>
//! </｜DSML｜function_calls>
//! ```
//!
//! MiniMax values are typed by the tool's schema (a `string` parameter stays text, others are
//! read as JSON); DSML says it per value (`string="true"`: text, `string="false"`: JSON).

use super::json::{call, parameter_schema, typed_value};
use super::text::join;
use crate::{ToolCall, ToolDefinition};
use serde_json::{Map, Value};

/// The tags of one dialect.
pub(crate) struct Syntax {
    /// Openings of the calls block (any of them).
    pub blocks: &'static [(&'static str, &'static str)],
    /// `<invoke name="` with the dialect's prefix.
    pub invoke_open: &'static str,
    /// `</invoke>` with the prefix.
    pub invoke_close: &'static str,
    /// `<parameter name="` with the prefix.
    pub parameter_open: &'static str,
    /// `</parameter>` with the prefix.
    pub parameter_close: &'static str,
}

/// The value of one parameter: `attributes` is what follows the name's closing quote up to
/// `>` (DSML's ` string="true"`).
fn value(
    raw: &str,
    attributes: &str,
    tool: &str,
    key: &str,
    tools: Option<&[ToolDefinition]>,
) -> Value {
    if attributes.contains("string=\"true\"") {
        return Value::String(raw.to_string());
    }
    if attributes.contains("string=\"false\"") {
        if let Ok(v) = serde_json::from_str::<Value>(raw.trim()) {
            return v;
        }
    }
    typed_value(raw, parameter_schema(tools, tool, key).as_ref())
}

/// The calls in one block's body; `None` when an invoke does not parse.
fn invokes(
    body: &str,
    syntax: &Syntax,
    first: usize,
    tools: Option<&[ToolDefinition]>,
) -> Option<Vec<ToolCall>> {
    let mut calls = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(syntax.invoke_open) {
        let after = &rest[at + syntax.invoke_open.len()..];
        let (name, after) = after.split_once("\">")?;
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        let end = after.find(syntax.invoke_close).unwrap_or(after.len());
        let mut args = Map::new();
        let mut params = &after[..end];
        while let Some(p) = params.find(syntax.parameter_open) {
            let head = &params[p + syntax.parameter_open.len()..];
            let (key, head) = head.split_once('"')?;
            let (attributes, head) = head.split_once('>')?;
            let value_end = head.find(syntax.parameter_close).unwrap_or(head.len());
            let raw = &head[..value_end];
            let raw = raw.strip_prefix('\n').unwrap_or(raw);
            let raw = raw.strip_suffix('\n').unwrap_or(raw);
            args.insert(key.to_string(), value(raw, attributes, name, key, tools));
            params = &head[(value_end + syntax.parameter_close.len()).min(head.len())..];
        }
        calls.push(call(
            first + calls.len(),
            name,
            Value::Object(args).to_string(),
        ));
        rest = &after[(end + syntax.invoke_close.len()).min(after.len())..];
    }
    Some(calls)
}

/// Text and calls: every block of `blocks` (opening, closing; an unclosed block runs to the
/// end) read by `body` (its text and the index of its first call); `None` when a block holds
/// no call or does not parse.
pub(crate) fn in_blocks(
    output: &str,
    blocks: &[(&str, &str)],
    mut body: impl FnMut(&str, usize) -> Option<Vec<ToolCall>>,
) -> Option<(String, Vec<ToolCall>)> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut rest = output;
    while let Some((at, (open, close))) = blocks
        .iter()
        .filter_map(|b| rest.find(b.0).map(|i| (i, *b)))
        .min_by_key(|(i, _)| *i)
    {
        let inner = &rest[at + open.len()..];
        let (inner, after) = match inner.find(close) {
            Some(i) => (&inner[..i], &inner[i + close.len()..]),
            None => (inner, ""),
        };
        let found = body(inner, calls.len())?;
        if found.is_empty() {
            return None;
        }
        text = join(&text, &rest[..at]);
        calls.extend(found);
        rest = after;
    }
    if calls.is_empty() {
        return None;
    }
    Some((join(&text, rest), calls))
}

/// Text and calls.
pub(crate) fn extract(
    output: &str,
    syntax: &Syntax,
    tools: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    in_blocks(output, syntax.blocks, |body, first| {
        invokes(body, syntax, first, tools)
    })
}
