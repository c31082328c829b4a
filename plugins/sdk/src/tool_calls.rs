//! Finding tool calls in raw model output.
//!
//! Every model family writes tool calls its own way; [`ToolCallFormat`] names the ways this
//! module understands and [`extract_offered`] (what templates call) splits an output into the
//! remaining text and the calls:
//!
//! | format | what the model writes |
//! |---|---|
//! | [`Hermes`](ToolCallFormat::Hermes) | `<tool_call>{"name": .., "arguments": {..}}</tool_call>`, repeated (Qwen 2.5/3, Hermes) |
//! | [`Llama3`](ToolCallFormat::Llama3) | `<\|python_tag\|>{"name": .., "parameters": {..}}` (several separated by `;`), or a bare `{"name": .., "parameters"\|"arguments": ..}` as the whole output; `<\|eom_id\|>` / `<\|eot_id\|>` tails are dropped |
//! | [`Mistral`](ToolCallFormat::Mistral) | `[TOOL_CALLS] [{"name": .., "arguments": {..}}, ..]` or `[TOOL_CALLS]name[ARGS]{..}`, repeated |
//! | [`Json`](ToolCallFormat::Json) | the whole output (maybe in a `` ```json `` fence) is `{"name", "arguments"}`, an array of them, or `{"tool_calls": [..]}` with flat or OpenAI-shaped entries |
//! | [`Auto`](ToolCallFormat::Auto) | the first of Hermes, Mistral, Llama 3, JSON that finds a call |
//!
//! Rules shared by all formats: ids are `call_0`, `call_1`, … in order (the host makes them
//! unique); `arguments` is the JSON object serialized compactly (kept verbatim when the model
//! wrote it as a string, `{}` when missing); text that is not a call is never dropped: a block
//! that does not parse stays in the text untouched. Formats without markers (bare JSON) only
//! count as calls when every name is one of the offered tools, so a JSON answer is not mistaken
//! for a call.

use crate::{ToolCall, ToolDefinition};
use serde_json::Value;

/// A way models write tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolCallFormat {
    /// Hermes 2 Pro / Qwen 2.5 / Qwen 3: one JSON object per call,
    /// `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`.
    Hermes,
    /// Llama 3.1 / 3.2 / 3.3: `<|python_tag|>` followed by `{"name": .., "parameters": ..}`
    /// objects separated by `;`, or one bare JSON object as the whole output.
    Llama3,
    /// Mistral: `[TOOL_CALLS]` followed by a JSON array of `{"name", "arguments"}` (v0.3), or
    /// `[TOOL_CALLS]name[ARGS]{json}` repeated (newer tokenizers).
    Mistral,
    /// The whole output is JSON: a call, an array of calls or `{"tool_calls": [...]}`.
    Json,
    /// Tries Hermes, Mistral, Llama 3 and JSON in that order; the first that finds a call wins.
    Auto,
}

/// Opening tag of a Hermes tool call.
pub const HERMES_OPEN: &str = "<tool_call>";
/// Closing tag of a Hermes tool call.
pub const HERMES_CLOSE: &str = "</tool_call>";
/// Llama 3.1's marker in front of a tool call.
pub const PYTHON_TAG: &str = "<|python_tag|>";
/// Mistral's marker in front of tool calls.
pub const MISTRAL_TOOL_CALLS: &str = "[TOOL_CALLS]";
/// Mistral's separator between a function name and its arguments (newer tokenizers).
pub const MISTRAL_ARGS: &str = "[ARGS]";
/// Mistral's optional call id marker between name and `[ARGS]`.
pub const MISTRAL_CALL_ID: &str = "[CALL_ID]";

impl ToolCallFormat {
    /// The format's name: `hermes`, `llama3`, `mistral`, `json` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            ToolCallFormat::Hermes => "hermes",
            ToolCallFormat::Llama3 => "llama3",
            ToolCallFormat::Mistral => "mistral",
            ToolCallFormat::Json => "json",
            ToolCallFormat::Auto => "auto",
        }
    }

    /// The format named `name` (as [`ToolCallFormat::name`]; `qwen` and `chatml` mean Hermes,
    /// `llama` Llama 3), case-insensitive.
    pub fn from_name(name: &str) -> Option<ToolCallFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "hermes" | "qwen" | "chatml" => Some(ToolCallFormat::Hermes),
            "llama3" | "llama" => Some(ToolCallFormat::Llama3),
            "mistral" => Some(ToolCallFormat::Mistral),
            "json" => Some(ToolCallFormat::Json),
            "auto" => Some(ToolCallFormat::Auto),
            _ => None,
        }
    }

    /// The format a model's own (Jinja) chat template teaches: `<tool_call>` → Hermes,
    /// `<|python_tag|>` or an `ipython` role → Llama 3, `[TOOL_CALLS]` → Mistral, else Auto.
    pub fn detect(chat_template: &str) -> ToolCallFormat {
        if chat_template.contains(HERMES_OPEN) {
            ToolCallFormat::Hermes
        } else if chat_template.contains(PYTHON_TAG) || chat_template.contains("ipython") {
            ToolCallFormat::Llama3
        } else if chat_template.contains(MISTRAL_TOOL_CALLS) {
            ToolCallFormat::Mistral
        } else {
            ToolCallFormat::Auto
        }
    }
}

/// Splits `output` into the remaining text (trimmed) and the tool calls found in it, in order,
/// accepting any function name (see the module documentation for the formats).
pub fn extract_tool_calls(output: &str, format: ToolCallFormat) -> (String, Vec<ToolCall>) {
    extract(output, format, None)
}

/// What a template's `parse` wants: like [`extract_tool_calls`], but no calls at all when
/// `tools` is empty (the text is only trimmed), and calls written without any marker (bare
/// JSON) only when every name is one of `tools`.
pub fn extract_offered(
    output: &str,
    format: ToolCallFormat,
    tools: &[ToolDefinition],
) -> (String, Vec<ToolCall>) {
    if tools.is_empty() {
        return (output.trim().to_string(), Vec::new());
    }
    extract(output, format, Some(tools))
}

fn extract(
    output: &str,
    format: ToolCallFormat,
    known: Option<&[ToolDefinition]>,
) -> (String, Vec<ToolCall>) {
    let found = match format {
        ToolCallFormat::Hermes => Some(extract_hermes(output)),
        ToolCallFormat::Llama3 => extract_llama3(output, known),
        ToolCallFormat::Mistral => extract_mistral(output),
        ToolCallFormat::Json => extract_json(output, known),
        ToolCallFormat::Auto => extract_auto(output, known),
    };
    found.unwrap_or_else(|| (output.trim().to_string(), Vec::new()))
}

fn extract_auto(output: &str, known: Option<&[ToolDefinition]>) -> Option<(String, Vec<ToolCall>)> {
    if output.contains(HERMES_OPEN) {
        let (text, calls) = extract_hermes(output);
        if !calls.is_empty() {
            return Some((text, calls));
        }
    }
    if output.contains(MISTRAL_TOOL_CALLS) {
        if let Some(found) = extract_mistral(output) {
            return Some(found);
        }
    }
    if let Some(found) = extract_llama3(output, known) {
        return Some(found);
    }
    extract_json(output, known)
}

// ---- Hermes --------------------------------------------------------------------------------

fn extract_hermes(output: &str) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut rest = output;
    while let Some(open) = rest.find(HERMES_OPEN) {
        let body_start = open + HERMES_OPEN.len();
        let (body, block_end) = match rest[body_start..].find(HERMES_CLOSE) {
            Some(close) => (
                &rest[body_start..body_start + close],
                body_start + close + HERMES_CLOSE.len(),
            ),
            None => (&rest[body_start..], rest.len()),
        };
        match parse_call_object(body, calls.len()) {
            Some(call) => {
                text.push_str(&rest[..open]);
                calls.push(call);
            }
            None => text.push_str(&rest[..block_end]),
        }
        rest = &rest[block_end..];
    }
    text.push_str(rest);
    (text.trim().to_string(), calls)
}

// ---- Llama 3 -------------------------------------------------------------------------------

/// `output` without trailing whitespace and `<|eom_id|>` / `<|eot_id|>` tails.
fn strip_llama_tails(output: &str) -> &str {
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

fn extract_llama3(
    output: &str,
    known: Option<&[ToolDefinition]>,
) -> Option<(String, Vec<ToolCall>)> {
    let s = strip_llama_tails(output);
    if let Some(pos) = s.find(PYTHON_TAG) {
        let before = &s[..pos];
        let body = &s[pos + PYTHON_TAG.len()..];
        let mut calls = Vec::new();
        let mut rest = body.trim_start();
        while !rest.is_empty() {
            let (value, used) = first_json_value(rest)?;
            calls.push(call_from_value(&value, calls.len())?);
            rest = rest[used..].trim_start();
            rest = rest.strip_prefix(';').unwrap_or(rest).trim_start();
        }
        if calls.is_empty() {
            return None;
        }
        return Some((before.trim().to_string(), calls));
    }
    // A bare JSON object (or several separated by `;`) as the whole output.
    let body = s.trim();
    if !body.starts_with('{') {
        return None;
    }
    let mut calls = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (value, used) = first_json_value(rest)?;
        calls.push(call_from_value(&value, calls.len())?);
        rest = rest[used..].trim_start();
        rest = rest.strip_prefix(';').unwrap_or(rest).trim_start();
    }
    names_known(&calls, known).then_some((String::new(), calls))
}

// ---- Mistral -------------------------------------------------------------------------------

fn extract_mistral(output: &str) -> Option<(String, Vec<ToolCall>)> {
    let s = output.trim_end();
    let s = s.strip_suffix("</s>").unwrap_or(s);
    let pos = s.find(MISTRAL_TOOL_CALLS)?;
    let mut text = s[..pos].trim().to_string();
    let mut calls: Vec<ToolCall> = Vec::new();
    let mut rest = &s[pos + MISTRAL_TOOL_CALLS.len()..];
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix(MISTRAL_TOOL_CALLS) {
            rest = r;
            continue;
        }
        match mistral_segment(rest, calls.len()) {
            Some((found, used)) => {
                calls.extend(found);
                rest = &rest[used..];
            }
            None => {
                if calls.is_empty() {
                    return None;
                }
                // Text after the calls that is not a call stays text.
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(rest.trim());
                break;
            }
        }
    }
    if calls.is_empty() {
        return None;
    }
    Some((text, calls))
}

/// One segment after `[TOOL_CALLS]`: a JSON array / object of calls, or `name[ARGS]{json}`
/// (optionally `name[CALL_ID]id[ARGS]{json}`). Returns the calls and the bytes used.
fn mistral_segment(rest: &str, first_index: usize) -> Option<(Vec<ToolCall>, usize)> {
    if rest.starts_with('[') || rest.starts_with('{') {
        let (value, used) = first_json_value(rest)?;
        return Some((calls_from_value(&value, first_index)?, used));
    }
    let args_at = rest.find(MISTRAL_ARGS)?;
    let head = &rest[..args_at];
    let name = head.split(MISTRAL_CALL_ID).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().any(char::is_whitespace) || name.contains('[') {
        return None;
    }
    let json_start = args_at + MISTRAL_ARGS.len();
    let after = &rest[json_start..];
    let skipped = after.len() - after.trim_start().len();
    let (value, used) = first_json_value(after.trim_start())?;
    let arguments = arguments_string(Some(&value))?;
    Some((
        vec![ToolCall {
            id: format!("call_{first_index}"),
            name: name.to_string(),
            arguments,
        }],
        json_start + skipped + used,
    ))
}

// ---- plain JSON ----------------------------------------------------------------------------

/// `s` without a surrounding Markdown code fence (```` ```json ... ``` ````).
fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let Some(inner) = inner.strip_suffix("```") else {
        return t;
    };
    // Drop the info string (`json`) up to the first newline.
    match inner.find('\n') {
        Some(nl)
            if inner[..nl]
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric()) =>
        {
            inner[nl + 1..].trim()
        }
        _ => inner.trim(),
    }
}

fn extract_json(output: &str, known: Option<&[ToolDefinition]>) -> Option<(String, Vec<ToolCall>)> {
    let body = strip_fence(strip_llama_tails(output));
    if !(body.starts_with('{') || body.starts_with('[')) {
        return None;
    }
    let value: Value = serde_json::from_str(body).ok()?;
    let calls = calls_from_value(&value, 0)?;
    names_known(&calls, known).then_some((String::new(), calls))
}

// ---- shared --------------------------------------------------------------------------------

/// Parses `{"name": ..., "arguments": ...}` into a [`ToolCall`] with id `call_{index}`.
pub fn parse_call_object(body: &str, index: usize) -> Option<ToolCall> {
    let value: Value = serde_json::from_str(body.trim()).ok()?;
    call_from_value(&value, index)
}

/// One call from a JSON value: flat `{"name", "arguments"|"parameters"}` or OpenAI-shaped
/// `{"type": "function", "function": {"name", "arguments"}}`; id `call_{index}`.
pub fn call_from_value(value: &Value, index: usize) -> Option<ToolCall> {
    let obj = value.as_object()?;
    let obj = match obj.get("function").and_then(Value::as_object) {
        Some(f) if !obj.contains_key("name") => f,
        _ => obj,
    };
    let name = obj.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let arguments = arguments_string(obj.get("arguments").or_else(|| obj.get("parameters")))?;
    Some(ToolCall {
        id: format!("call_{index}"),
        name: name.to_string(),
        arguments,
    })
}

/// Arguments as the contract carries them: an object serialized compactly, a string kept
/// verbatim, `{}` when missing; anything else is not a call.
fn arguments_string(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => Some("{}".to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => None,
    }
}

/// Calls from a JSON value: one call, a non-empty array of calls, or `{"tool_calls": [...]}`.
fn calls_from_value(value: &Value, first_index: usize) -> Option<Vec<ToolCall>> {
    let list = match value {
        Value::Object(o) => match o.get("tool_calls") {
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return None,
            None => std::slice::from_ref(value),
        },
        Value::Array(a) => a.as_slice(),
        _ => return None,
    };
    if list.is_empty() {
        return None;
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| call_from_value(v, first_index + i))
        .collect()
}

/// The first JSON value of `s` (which starts with it) and how many bytes it took.
fn first_json_value(s: &str) -> Option<(Value, usize)> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    let value = stream.next()?.ok()?;
    Some((value, stream.byte_offset()))
}

fn names_known(calls: &[ToolCall], known: Option<&[ToolDefinition]>) -> bool {
    match known {
        None => true,
        Some(tools) => calls.iter().all(|c| tools.iter().any(|t| t.name == c.name)),
    }
}

#[cfg(test)]
mod tests;
