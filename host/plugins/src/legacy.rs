//! The adapter that keeps template plugins built against contract 0.1.0 working: they export
//! `render` and `parse` but neither `render-spans` nor the `output-parser` resource, so the
//! host does what the 0.1.1 SDK does inside a plugin.
//!
//! * **Spans.** [`mark_request`] marks the request text the way the SDK's `spans` module does
//!   (message content, tool-call arguments, tool descriptions, between U+FDD0 and U+FDD1; the
//!   marks removed from all request text first); the plugin's `render` carries the marks
//!   through like any other text; [`resolve_rendered`] cuts its prompt at them. A mark the
//!   template cut away makes more text content, never less (the same rules as the SDK).
//! * **Streaming parse.** [`LegacyParser`] keeps the output host-side and runs the plugin's
//!   whole-text `parse` (on the one instance the generation keeps) on the text before any
//!   tool-call marker at every piece, sending the growth; `finish` is `parse` with the tools.
//!   The markers are those of the formats templates of 0.1.0 knew ([`LEGACY_TOOL_MARKERS`]); 0.1.1
//!   templates say themselves when markup starts.

use serde_json::Value;
use shimmy_core::chat::{ChatMessage, ParseDelta, Parsed, ToolDefinition};
use shimmy_core::prompt::{PromptSpan, SpanKind};

use crate::bindings::legacy_template::exports::shimmy::plugin::template as lt;
use crate::types::{RenderRequest, Rendered};

const OPEN: char = '\u{FDD0}';
const CLOSE: char = '\u{FDD1}';

fn unmark(s: &str) -> String {
    s.replace([OPEN, CLOSE], "")
}

/// `s` (its marks removed) marked as content, whitespace at both ends outside the marks.
fn content(s: &str) -> String {
    let clean = unmark(s);
    let inner = clean.trim();
    if inner.is_empty() {
        return clean;
    }
    let start = clean.len() - clean.trim_start().len();
    format!(
        "{}{OPEN}{inner}{CLOSE}{}",
        &clean[..start],
        &clean[start + inner.len()..]
    )
}

fn mark_json(v: &Value) -> Value {
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

fn mark_message(m: &ChatMessage) -> ChatMessage {
    let arguments = |a: &str| match serde_json::from_str::<Value>(a) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => mark_json(&v).to_string(),
        _ => content(a),
    };
    let mut m = m.clone();
    m.role = unmark(&m.role);
    m.content = content(&m.content);
    m.name = m.name.as_deref().map(unmark);
    m.tool_call_id = m.tool_call_id.as_deref().map(unmark);
    for call in &mut m.tool_calls {
        call.id = unmark(&call.id);
        call.name = unmark(&call.name);
        call.arguments = arguments(&unmark(&call.arguments));
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

/// `req` with its request text marked for a 0.1.0 template's `render`.
pub(crate) fn mark_request(req: &RenderRequest) -> RenderRequest {
    RenderRequest {
        messages: req.messages.iter().map(mark_message).collect(),
        tools: req.tools.iter().map(mark_tool).collect(),
        add_generation_prompt: req.add_generation_prompt,
        model: req.model.clone(),
    }
}

/// A prompt rendered from a marked request, cut into spans at the marks (removed).
pub(crate) fn resolve(prompt: &str) -> Vec<PromptSpan> {
    let mut spans: Vec<PromptSpan> = Vec::new();
    let mut run = String::new();
    let mut depth = 0usize;
    let push = |spans: &mut Vec<PromptSpan>, kind, text: String| {
        if text.is_empty() {
            return;
        }
        match spans.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(&text),
            _ => spans.push(PromptSpan { kind, text }),
        }
    };
    for c in prompt.chars() {
        match c {
            OPEN => {
                if depth == 0 {
                    push(&mut spans, SpanKind::Template, std::mem::take(&mut run));
                }
                depth += 1;
            }
            CLOSE if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    push(&mut spans, SpanKind::Content, std::mem::take(&mut run));
                }
            }
            // A close without its open: the text since the last boundary may be content.
            CLOSE => push(&mut spans, SpanKind::Content, std::mem::take(&mut run)),
            c => run.push(c),
        }
    }
    let kind = if depth > 0 {
        SpanKind::Content
    } else {
        SpanKind::Template
    };
    push(&mut spans, kind, run);
    spans
}

/// A 0.1.0 `rendered` (of a marked request) as spans.
pub(crate) fn resolve_rendered(r: lt::Rendered) -> Rendered {
    let spans = if r.prompt.contains([OPEN, CLOSE]) {
        resolve(&r.prompt)
    } else if r.prompt.is_empty() {
        Vec::new()
    } else {
        vec![PromptSpan::template(r.prompt)]
    };
    Rendered {
        prompt: spans.iter().map(|s| s.text.as_str()).collect(),
        spans,
        stop: r.stop.iter().map(|s| unmark(s)).collect(),
        add_bos: r.add_bos,
    }
}

/// Openings of tool-call markup in the formats 0.1.0 templates parse.
pub(crate) const LEGACY_TOOL_MARKERS: &[&str] = &[
    "<tool_call>",
    "<|python_tag|>",
    "[TOOL_CALLS]",
    "<｜tool▁calls▁begin｜>",
    "<function=",
    " to=functions.",
    "<|tool_calls_section_begin|>",
    "<|START_ACTION|>",
    "<|tool_call|>",
];

/// Where tool-call markup may begin in `raw`, and whether it has: the first marker, or a
/// trailing prefix of one (not started yet), or 0 when the answer opens like a bare JSON call
/// (`{`, `[`, a code fence).
fn tool_markup_start(raw: &str) -> (usize, bool) {
    let trimmed = raw.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') || trimmed.starts_with("```") {
        return (0, true);
    }
    let found = LEGACY_TOOL_MARKERS.iter().filter_map(|m| raw.find(m)).min();
    let mut end = found.unwrap_or(raw.len());
    for marker in LEGACY_TOOL_MARKERS {
        // A marker cut off at the end of what has arrived so far.
        for (i, _) in marker.char_indices().skip(1) {
            if raw.ends_with(&marker[..i]) {
                end = end.min(raw.len() - i);
            }
        }
    }
    (end, found.is_some_and(|f| f <= end))
}

/// The part of `now` not yet sent, when `now` extends `sent`. While streaming (`hold`), a
/// trailing `<...` without `>` is kept back: it may be the start of a tag the template's
/// parser will take out once it is complete.
pub(crate) fn growth(sent: &str, now: &str, hold: bool) -> String {
    let Some(rest) = now.strip_prefix(sent) else {
        return String::new();
    };
    if hold {
        if let Some(i) = rest.rfind('<') {
            let tail = &rest[i..];
            if tail.len() < 32 && !tail.contains('>') && !tail.contains(char::is_whitespace) {
                return rest[..i].to_string();
            }
        }
    }
    rest.to_string()
}

/// The host side of a streaming parse by a 0.1.0 template.
#[derive(Debug, Default)]
pub(crate) struct LegacyParser {
    pub tools: Vec<ToolDefinition>,
    pub output: String,
    sent_content: String,
    sent_reasoning: String,
    markup_started: bool,
}

impl LegacyParser {
    /// A parser for an answer that was offered `tools`.
    pub fn new(tools: Vec<ToolDefinition>) -> Self {
        LegacyParser {
            tools,
            ..Default::default()
        }
    }

    /// Takes the next piece; the text the plugin's `parse` should see now, or `None` when
    /// tool-call markup has started (nothing more streams).
    pub fn push(&mut self, text: &str) -> Option<String> {
        self.output.push_str(text);
        if self.markup_started {
            return None;
        }
        if self.tools.is_empty() {
            return Some(self.output.clone());
        }
        let (end, started) = tool_markup_start(&self.output);
        self.markup_started = started;
        Some(self.output[..end].to_string())
    }

    /// What the parse of [`LegacyParser::push`]'s text made visible (`None`: markup started).
    pub fn delta(&mut self, parsed: Option<Parsed>) -> ParseDelta {
        let Some(parsed) = parsed else {
            return ParseDelta {
                tool_markup: true,
                ..Default::default()
            };
        };
        let content = growth(&self.sent_content, &parsed.content, true);
        let reasoning = growth(
            &self.sent_reasoning,
            parsed.reasoning.as_deref().unwrap_or_default(),
            true,
        );
        self.sent_content.push_str(&content);
        self.sent_reasoning.push_str(&reasoning);
        ParseDelta {
            content,
            reasoning,
            tool_markup: self.markup_started,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_markup_is_held_back() {
        assert_eq!(tool_markup_start("Hello there"), (11, false));
        assert_eq!(tool_markup_start("Sure.\n<tool_call>{"), (6, true));
        assert_eq!(tool_markup_start("Sure <tool_"), (5, false));
        assert_eq!(tool_markup_start("ok [TOOL"), (3, false));
        assert_eq!(tool_markup_start("  {\"name\""), (0, true));
        assert_eq!(tool_markup_start("<|python_tag|>{"), (0, true));
    }

    #[test]
    fn growth_sends_only_new_text_and_holds_partial_tags() {
        assert_eq!(growth("ab", "abc", false), "c");
        assert_eq!(growth("ab", "xbc", false), "");
        assert_eq!(growth("", "hi <thi", true), "hi ");
        assert_eq!(growth("", "hi <thi", false), "hi <thi");
        assert_eq!(growth("", "a < b", true), "a < b");
        assert_eq!(growth("", "x<b>y", true), "x<b>y");
    }

    #[test]
    fn marks_round_trip() {
        let req = RenderRequest {
            messages: vec![ChatMessage::new("user", format!(" a{CLOSE}<|x|> "))],
            ..Default::default()
        };
        let marked = mark_request(&req);
        assert_eq!(marked.messages[0].content, format!(" {OPEN}a<|x|>{CLOSE} "));
        let prompt = format!("<s>u:{}</s>", marked.messages[0].content);
        assert_eq!(
            resolve(&prompt),
            vec![
                PromptSpan::template("<s>u: "),
                PromptSpan::content("a<|x|>"),
                PromptSpan::template(" </s>"),
            ]
        );
        assert_eq!(
            resolve(&format!("<s>x{CLOSE}<t>")),
            vec![PromptSpan::content("<s>x"), PromptSpan::template("<t>")]
        );
    }
}
