//! Rendered prompts in spans: which text is the template's own (special tokens allowed) and
//! which came from the request (always plain text), for `render-spans` (contract 0.1.1).
//!
//! A template writes message content into its prompt after transforming it (trimmed, split
//! at `</think>`, folded into another message, printed as JSON...), so the prompt text alone
//! cannot say where content is. This module follows the content through the template
//! instead: before rendering, every piece of request text is **marked** with two Unicode
//! noncharacters, [`OPEN`] (U+FDD0) before and [`CLOSE`] (U+FDD1) after; the template renders
//! the marked request like any other; [`resolve`] then cuts the output at the marks into
//! [`PromptSpan`]s and removes them. What [`mark_request`] marks:
//!
//! * every message's `content` (leading and trailing whitespace stays outside the marks, so
//!   `trim()` / `| trim` work unchanged; empty and whitespace-only content is left alone);
//! * tool-call `arguments`: inside the JSON, every key and string value (the JSON stays valid
//!   and templates parse it as before); arguments that are not JSON as a whole;
//! * tool `description`s, and every `"description"` value inside a `parameters-schema`.
//!
//! The marks themselves are removed from all request text first, so no request can fake one.
//!
//! **Safe by default.** A template that cuts content apart can lose a mark (a `split` that
//! keeps only the end loses the [`OPEN`]). [`resolve`] never lets such text become template
//! text: a [`CLOSE`] without its [`OPEN`] makes everything since the previous span boundary
//! content, an [`OPEN`] without its [`CLOSE`] makes everything after it content. The prompt
//! may then lose a control token of its own (the model sees it as text), never gain one.
//! Text that keeps neither mark (a middle piece of a `split`) cannot be told apart from the
//! template's; templates that cut content use the mark-aware helpers ([`map_content`]) or, in
//! the `jinja` plugin, string methods that keep the marks.
//!
//! JSON a template prints from request data (tool lists, tool results) should be content as a
//! whole: [`content`] marks any text so.

use crate::{
    ChatMessage, PluginError, PromptSpan, RenderRequest, Rendered, RenderedSpans, SpanKind,
    ToolDefinition,
};
use serde_json::Value;

/// Put in front of request text (U+FDD0, a noncharacter).
pub const OPEN: char = '\u{FDD0}';
/// Put after request text (U+FDD1, a noncharacter).
pub const CLOSE: char = '\u{FDD1}';

/// Whether `s` contains either mark.
pub fn has_marks(s: &str) -> bool {
    // Both marks start with the byte 0xEF: most prompts have none, found by one fast byte scan.
    s.as_bytes().contains(&0xEF) && (s.contains(OPEN_STR) || s.contains(CLOSE_STR))
}

const OPEN_STR: &str = "\u{FDD0}";
const CLOSE_STR: &str = "\u{FDD1}";

/// The next mark in `s` at or after `from`: its byte offset and which one.
fn next_mark(s: &str, from: usize) -> Option<(usize, char)> {
    let open = s[from..].find(OPEN_STR).map(|i| (from + i, OPEN));
    let close = s[from..].find(CLOSE_STR).map(|i| (from + i, CLOSE));
    match (open, close) {
        (Some(o), Some(c)) => Some(if o.0 < c.0 { o } else { c }),
        (o, c) => o.or(c),
    }
}

/// `s` without any mark.
pub fn unmark(s: &str) -> String {
    if has_marks(s) {
        s.replace(OPEN_STR, "").replace(CLOSE_STR, "")
    } else {
        s.to_string()
    }
}

/// `s` (its marks removed) marked as content; leading and trailing whitespace stays outside
/// the marks. Empty or whitespace-only text is returned as it is.
pub fn content(s: &str) -> String {
    let clean = unmark(s);
    let inner = clean.trim();
    if inner.is_empty() {
        return clean;
    }
    let start = clean.len() - clean.trim_start().len();
    let end = start + inner.len();
    let mut out = String::with_capacity(clean.len() + 6);
    out.push_str(&clean[..start]);
    out.push(OPEN);
    out.push_str(inner);
    out.push(CLOSE);
    out.push_str(&clean[end..]);
    out
}

/// Applies a transformation to the text of `s` and marks the result as content again when
/// `s` carried marks (for helpers that cut content: `strip_reasoning`, splits...).
pub fn map_content(s: &str, f: impl FnOnce(&str) -> String) -> String {
    if has_marks(s) {
        content(&f(&unmark(s)))
    } else {
        f(s)
    }
}

/// `text` marked as content as a whole when `source` (what it was made from) carried marks,
/// else `text` as it is: for JSON a template prints from request data, so the plain `render`
/// stays free of marks.
pub fn mark_like(source_marked: bool, text: &str) -> String {
    if source_marked {
        content(text)
    } else {
        text.to_string()
    }
}

/// Whether any key or string of a JSON value carries marks.
pub fn json_has_marks(v: &Value) -> bool {
    match v {
        Value::String(s) => has_marks(s),
        Value::Array(items) => items.iter().any(json_has_marks),
        Value::Object(map) => map.iter().any(|(k, v)| has_marks(k) || json_has_marks(v)),
        _ => false,
    }
}

/// A JSON value printed by a template (`print` gets it without marks): content as a whole
/// when the value carried marks (it came from a marked request), else the plain text. An
/// object, array or string keeps its outer `{}` / `[]` / `""` outside the marks, so a template
/// that slices them off (Mistral's `tojson[:-1]`, `tojson[1:-1]`) cuts the delimiter, not a
/// mark.
pub fn print_json(v: &Value, print: impl FnOnce(&Value) -> String) -> String {
    if !json_has_marks(v) {
        return print(v);
    }
    let text = print(&unmark_json(v));
    let delimited = matches!(
        (text.chars().next(), text.chars().last()),
        (Some('{'), Some('}')) | (Some('['), Some(']')) | (Some('"'), Some('"'))
    );
    if delimited && text.len() >= 2 {
        let (open, rest) = text.split_at(1);
        let (inner, close) = rest.split_at(rest.len() - 1);
        format!("{open}{}{close}", content(inner))
    } else {
        content(&text)
    }
}

/// Every key and string value of a JSON value, marked.
pub fn mark_json(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(content(s)),
        Value::Array(items) => Value::Array(items.iter().map(mark_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (content(k), mark_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every key and string value of a JSON value with its marks removed.
pub fn unmark_json(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(unmark(s)),
        Value::Array(items) => Value::Array(items.iter().map(unmark_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (unmark(k), unmark_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Marks the `"description"` values of a JSON schema (the free text in it), at any depth.
fn mark_descriptions(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if k == "description" => *s = content(s),
                    other => mark_descriptions(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_descriptions),
        _ => {}
    }
}

/// A JSON text with its keys and string values marked (re-serialized), or the whole text
/// marked when it is not JSON.
fn mark_json_text(s: &str) -> String {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => mark_json(&v).to_string(),
        _ => content(s),
    }
}

fn mark_message(m: &ChatMessage) -> ChatMessage {
    let mut m = m.clone();
    m.role = unmark(&m.role);
    m.content = content(&m.content);
    m.name = m.name.as_deref().map(unmark);
    m.tool_call_id = m.tool_call_id.as_deref().map(unmark);
    m.reasoning_content = m.reasoning_content.as_deref().map(content);
    for call in &mut m.tool_calls {
        call.id = unmark(&call.id);
        call.name = unmark(&call.name);
        call.arguments = mark_json_text(&unmark(&call.arguments));
    }
    m
}

fn mark_tool(t: &ToolDefinition) -> ToolDefinition {
    let schema = unmark(&t.parameters_schema);
    let parameters_schema = match serde_json::from_str::<Value>(&schema) {
        Ok(mut v) => {
            mark_descriptions(&mut v);
            v.to_string()
        }
        Err(_) => schema,
    };
    ToolDefinition {
        name: unmark(&t.name),
        description: content(&t.description),
        parameters_schema,
    }
}

/// `req` with its request text marked (see the module documentation); the model context
/// (the model's own template and special tokens) is the template's and stays as it is.
pub fn mark_request(req: &RenderRequest) -> RenderRequest {
    RenderRequest {
        messages: req.messages.iter().map(mark_message).collect(),
        tools: req.tools.iter().map(mark_tool).collect(),
        add_generation_prompt: req.add_generation_prompt,
        model: req.model.clone(),
    }
}

/// Cuts a prompt rendered from a marked request into spans (marks removed; adjacent spans of
/// one kind merged; no empty spans). See the module documentation for unmatched marks.
pub fn resolve(prompt: &str) -> Vec<PromptSpan> {
    let mut spans: Vec<PromptSpan> = Vec::new();
    let mut run = String::new();
    let mut depth = 0usize;
    let mut pos = 0;
    while let Some((at, mark)) = next_mark(prompt, pos) {
        run.push_str(&prompt[pos..at]);
        pos = at + mark.len_utf8();
        match mark {
            OPEN => {
                if depth == 0 {
                    push_span(&mut spans, SpanKind::Template, std::mem::take(&mut run));
                }
                depth += 1;
            }
            _ if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    push_span(&mut spans, SpanKind::Content, std::mem::take(&mut run));
                }
            }
            // A close without its open: the text since the last boundary may be content.
            _ => push_span(&mut spans, SpanKind::Content, std::mem::take(&mut run)),
        }
    }
    run.push_str(&prompt[pos..]);
    let kind = if depth > 0 {
        SpanKind::Content
    } else {
        SpanKind::Template
    };
    push_span(&mut spans, kind, run);
    spans
}

fn push_span(spans: &mut Vec<PromptSpan>, kind: SpanKind, text: String) {
    if text.is_empty() {
        return;
    }
    match spans.last_mut() {
        Some(last) if last.kind == kind => last.text.push_str(&text),
        _ => spans.push(PromptSpan { kind, text }),
    }
}

/// The prompt text of `spans` (their texts concatenated).
pub fn join(spans: &[PromptSpan]) -> String {
    spans.iter().map(|s| s.text.as_str()).collect()
}

/// What [`crate::Template::render_spans`] does by default: `render` on the marked request,
/// its prompt resolved into spans.
pub fn render_marked(
    req: &RenderRequest,
    render: impl FnOnce(RenderRequest) -> Result<Rendered, PluginError>,
) -> Result<RenderedSpans, PluginError> {
    let rendered = render(mark_request(req))?;
    // A prompt without marks is one template span: moved, not copied (prompts can be large).
    let spans = if has_marks(&rendered.prompt) {
        resolve(&rendered.prompt)
    } else if rendered.prompt.is_empty() {
        Vec::new()
    } else {
        vec![PromptSpan {
            kind: SpanKind::Template,
            text: rendered.prompt,
        }]
    };
    Ok(RenderedSpans {
        spans,
        stop: rendered.stop.iter().map(|s| unmark(s)).collect(),
        add_bos: rendered.add_bos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{ModelContext, ToolCall};

    #[test]
    fn printed_json_keeps_its_delimiters_outside_the_marks() {
        let v = mark_json(&serde_json::json!({"a": "x"}));
        let printed = print_json(&v, |v| v.to_string());
        assert_eq!(printed, format!("{{{OPEN}\"a\":\"x\"{CLOSE}}}"));
        // Slicing off the closing brace (as Mistral's template does) leaves the marks whole.
        let sliced = &printed[..printed.len() - 1];
        assert_eq!(unmark(sliced), "{\"a\":\"x\"");
        assert_eq!(
            resolve(sliced).last().map(|s| s.kind),
            Some(SpanKind::Content)
        );
    }

    fn span(kind: SpanKind, text: &str) -> PromptSpan {
        PromptSpan {
            kind,
            text: text.into(),
        }
    }

    #[test]
    fn content_keeps_whitespace_outside() {
        assert_eq!(content("  hi \n"), format!("  {OPEN}hi{CLOSE} \n"));
        assert_eq!(content("   "), "   ");
        assert_eq!(content(""), "");
        // A request cannot bring its own marks.
        assert_eq!(content(&format!("a{CLOSE}b")), format!("{OPEN}ab{CLOSE}"));
        assert_eq!(content("  hi ").trim(), format!("{OPEN}hi{CLOSE}"));
    }

    #[test]
    fn resolve_cuts_at_marks() {
        let p = format!(
            "<|im_start|>user\n{}<|im_end|>\n",
            content("Hi <|im_start|>")
        );
        assert_eq!(
            resolve(&p),
            vec![
                span(SpanKind::Template, "<|im_start|>user\n"),
                span(SpanKind::Content, "Hi <|im_start|>"),
                span(SpanKind::Template, "<|im_end|>\n"),
            ]
        );
        assert_eq!(
            join(&resolve(&p)),
            "<|im_start|>user\nHi <|im_start|><|im_end|>\n"
        );
    }

    #[test]
    fn unmatched_marks_fail_safe() {
        // The open mark was cut away: everything since the last boundary is content.
        let p = format!("<s>a{OPEN}x{CLOSE}<b>y{CLOSE}<c>");
        assert_eq!(
            resolve(&p),
            vec![
                span(SpanKind::Template, "<s>a"),
                span(SpanKind::Content, "x<b>y"),
                span(SpanKind::Template, "<c>"),
            ]
        );
        // The close mark was cut away: everything after the open is content.
        assert_eq!(
            resolve(&format!("<s>{OPEN}x<e>")),
            vec![
                span(SpanKind::Template, "<s>"),
                span(SpanKind::Content, "x<e>")
            ]
        );
    }

    #[test]
    fn request_marking() {
        let mut call = ChatMessage::assistant("");
        call.tool_calls = vec![ToolCall::new("c", "f", r#"{"q":"<|x|>","n":1}"#)];
        let req = RenderRequest {
            messages: vec![ChatMessage::user(" hi "), call],
            tools: vec![ToolDefinition::new(
                "f",
                "does f",
                r#"{"type":"object","properties":{"q":{"type":"string","description":"what"}}}"#,
            )],
            add_generation_prompt: true,
            model: ModelContext::new("llama"),
        };
        let m = mark_request(&req);
        assert_eq!(m.messages[0].content, format!(" {OPEN}hi{CLOSE} "));
        assert_eq!(m.messages[1].content, "");
        let args: Value = serde_json::from_str(&m.messages[1].tool_calls[0].arguments).unwrap();
        assert_eq!(
            args[format!("{OPEN}q{CLOSE}")],
            format!("{OPEN}<|x|>{CLOSE}")
        );
        assert_eq!(args[format!("{OPEN}n{CLOSE}")], 1);
        assert_eq!(m.tools[0].description, format!("{OPEN}does f{CLOSE}"));
        let schema: Value = serde_json::from_str(&m.tools[0].parameters_schema).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["properties"]["q"]["description"],
            format!("{OPEN}what{CLOSE}")
        );
        assert_eq!(
            unmark_json(&args),
            serde_json::json!({"q": "<|x|>", "n": 1})
        );
    }

    #[test]
    fn map_content_keeps_marks() {
        let marked = content("<think>x</think> answer");
        let cut = map_content(&marked, |s| {
            s.rsplit("</think>").next().unwrap().to_string()
        });
        assert_eq!(cut, format!(" {OPEN}answer{CLOSE}"));
        assert_eq!(map_content("plain", |s| s.to_uppercase()), "PLAIN");
    }
}
