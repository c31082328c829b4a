//! gpt-oss "harmony": the answer is a run of messages, each
//! `[<|start|>assistant][ to=RECIPIENT]<|channel|>CHANNEL[ to=RECIPIENT][ <|constrain|>json]<|message|>BODY`
//! ended by `<|end|>`, `<|call|>` or `<|return|>` (the first `<|start|>assistant` is the
//! prompt's). `analysis` messages are reasoning, `final` (and a `commentary` preamble) the
//! answer, and a message to `functions.NAME` a call of `NAME` with the body as its JSON
//! arguments.

use super::json::{call, object_text};
use crate::{Parsed, ToolCall};

/// Opening of a message after the first.
pub const START: &str = "<|start|>";
/// Channel marker in a message header.
pub const CHANNEL: &str = "<|channel|>";
/// End of a message header.
pub const MESSAGE: &str = "<|message|>";
/// End of an analysis or commentary message.
pub const END: &str = "<|end|>";
/// End of a tool call (a stop token).
pub const CALL: &str = "<|call|>";
/// End of the final answer (a stop token).
pub const RETURN: &str = "<|return|>";
/// Prefix of a tool recipient.
pub const FUNCTIONS: &str = "to=functions.";

/// Where call markup starts: a message header addressed to a recipient.
pub(crate) const MARKERS: &[&str] = &[" to="];

/// Every marker the stream view holds back when it is cut off at the end.
const TAGS: &[&str] = &[START, CHANNEL, MESSAGE, END, CALL, RETURN, " to="];

/// One message of the output.
struct Message<'a> {
    /// Everything before `<|message|>` (after `<|start|>assistant`).
    header: &'a str,
    /// The body (without its end token); `None` while the header is incomplete.
    body: Option<&'a str>,
    /// Whether an end token (or the next message) follows the body.
    complete: bool,
    /// Where the message starts in the output.
    start: usize,
}

impl Message<'_> {
    fn channel(&self) -> &str {
        match self.header.find(CHANNEL) {
            Some(i) => word(&self.header[i + CHANNEL.len()..]),
            None => "",
        }
    }

    fn recipient(&self) -> Option<&str> {
        let i = self.header.find("to=")?;
        Some(word(&self.header[i + "to=".len()..]))
    }
}

/// The leading run of `s` up to whitespace or a `<`.
fn word(s: &str) -> &str {
    let end = s
        .find(|c: char| c.is_whitespace() || c == '<')
        .unwrap_or(s.len());
    &s[..end]
}

fn messages(output: &str) -> Vec<Message<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < output.len() {
        let start = pos;
        let mut rest = &output[pos..];
        rest = rest.strip_prefix(START).unwrap_or(rest);
        rest = rest.strip_prefix("assistant").unwrap_or(rest);
        let header_at = output.len() - rest.len();
        let Some(h) = rest.find(MESSAGE) else {
            out.push(Message {
                header: rest,
                body: None,
                complete: false,
                start,
            });
            break;
        };
        let body_at = header_at + h + MESSAGE.len();
        let body_all = &output[body_at..];
        let end = [END, CALL, RETURN, START]
            .iter()
            .filter_map(|t| body_all.find(t).map(|i| (i, *t)))
            .min();
        let (body, complete) = match end {
            Some((i, t)) => {
                pos = body_at + i + if t == START { 0 } else { t.len() };
                (&body_all[..i], true)
            }
            None => {
                pos = output.len();
                (body_all, false)
            }
        };
        out.push(Message {
            header: &rest[..h],
            body: Some(body),
            complete,
            start,
        });
    }
    out
}

/// Whether `output` is written in harmony at all (a channel header, or a first message
/// addressed to a recipient; a header still being written counts, so no part of it is shown
/// as text).
pub(crate) fn looks_like_harmony(output: &str) -> bool {
    output.contains(CHANNEL) || output.trim_start().starts_with("to=")
}

/// Reasoning, answer and calls (calls only when `tools_offered`; a message to a recipient
/// that is not a function, or any call when no tools were offered, stays in the text as
/// written).
pub(crate) fn parse(output: &str, tools_offered: bool) -> Parsed {
    if !looks_like_harmony(output) {
        let (reasoning, content) = crate::reasoning::split_reasoning(output);
        return Parsed {
            content,
            reasoning,
            tool_calls: Vec::new(),
        };
    }
    let mut reasoning = Vec::new();
    let mut content = Vec::new();
    let mut calls: Vec<ToolCall> = Vec::new();
    for m in messages(output) {
        let Some(body) = m.body else { continue };
        match (m.recipient(), m.channel()) {
            (Some(r), _) if tools_offered && r.starts_with("functions.") => {
                let name = &r["functions.".len()..];
                let arguments = match object_text(body) {
                    Some((args, _)) => args,
                    None => body.trim().to_string(),
                };
                calls.push(call(calls.len(), name, arguments));
            }
            (Some(_), _) => content.push(format!("{}{MESSAGE}{body}", m.header)),
            (None, "analysis") => reasoning.push(body.trim()),
            (None, _) => content.push(body.trim().to_string()),
        }
    }
    let reasoning = reasoning.join("\n");
    Parsed {
        content: content.join("\n").trim().to_string(),
        reasoning: (!reasoning.trim().is_empty()).then(|| reasoning.trim().to_string()),
        tool_calls: calls,
    }
}

/// Where a message addressed to a recipient (a call) starts, if one has.
pub(crate) fn markup_start(output: &str) -> Option<usize> {
    messages(output)
        .iter()
        .find(|m| m.recipient().is_some())
        .map(|m| m.start)
}

/// `text` without a trailing cut-off prefix of a harmony tag.
fn hold_partial(text: &str) -> &str {
    for (i, _) in text.char_indices().rev().take(16) {
        let tail = &text[i..];
        if TAGS
            .iter()
            .any(|t| t.len() > tail.len() && t.starts_with(tail))
        {
            return &text[..i];
        }
    }
    text
}

/// Reasoning and answer of a prefix of the output, as far as they are certain, and whether
/// call markup has started.
pub(crate) fn stream_view(output: &str) -> super::StreamView {
    let mut view = super::StreamView::default();
    let mut reasoning = Vec::new();
    let mut content = Vec::new();
    for m in messages(output) {
        if m.recipient().is_some() {
            view.markup_started = true;
            break;
        }
        let Some(body) = m.body else { break };
        let body = if m.complete {
            body.trim()
        } else {
            hold_partial(body).trim()
        };
        match m.channel() {
            "analysis" => reasoning.push(body),
            _ => content.push(body),
        }
    }
    view.reasoning = reasoning.join("\n").trim().to_string();
    view.content = content.join("\n").trim().to_string();
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::call as c;

    #[test]
    fn analysis_then_final() {
        let p = parse(
            "<|channel|>analysis<|message|>I'm\nthinking<|end|><|start|>assistant<|channel|>final<|message|>Hello, world!",
            false,
        );
        assert_eq!(p.reasoning.as_deref(), Some("I'm\nthinking"));
        assert_eq!(p.content, "Hello, world!");
        assert!(p.tool_calls.is_empty());
    }

    #[test]
    fn commentary_preamble_is_content() {
        let p = parse("<|channel|>commentary<|message|>Hello<|end|>", false);
        assert_eq!(p.content, "Hello");
    }

    #[test]
    fn call_with_recipient_in_role_or_channel_header() {
        for out in [
            "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>",
            "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}",
        ] {
            let p = parse(out, true);
            assert_eq!(p.reasoning.as_deref(), Some("Need weather."), "{out}");
            assert_eq!(p.content, "", "{out}");
            assert_eq!(p.tool_calls, vec![c(0, "get_weather", r#"{"city":"Paris"}"#)], "{out}");
        }
    }

    #[test]
    fn a_header_being_written_is_not_text() {
        for prefix in [
            "<|channel|>analy",
            "<|channel|>analysis",
            " to=functions.get_w",
        ] {
            let p = parse(prefix, true);
            assert_eq!(
                (p.content.as_str(), p.reasoning.as_deref()),
                ("", None),
                "{prefix}"
            );
        }
    }

    #[test]
    fn calls_stay_text_without_tools_and_plain_text_is_content() {
        let out = "<|channel|>commentary to=functions.f<|message|>{}<|call|>";
        let p = parse(out, false);
        assert!(p.tool_calls.is_empty());
        assert_eq!(
            p.content,
            "<|channel|>commentary to=functions.f<|message|>{}"
        );
        assert_eq!(parse("just text", true).content, "just text");
    }

    #[test]
    fn streaming_views_grow_and_stop_at_calls() {
        let full = "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Hi there";
        let mut last = super::super::StreamView::default();
        for end in (0..=full.len()).filter(|i| full.is_char_boundary(*i)) {
            let v = stream_view(&full[..end]);
            assert!(
                v.reasoning.starts_with(&last.reasoning),
                "{end}: {v:?} after {last:?}"
            );
            assert!(
                v.content.starts_with(&last.content),
                "{end}: {v:?} after {last:?}"
            );
            assert!(!v.markup_started);
            last = v;
        }
        assert_eq!(
            (last.reasoning.as_str(), last.content.as_str()),
            ("Think.", "Hi there")
        );
        let v = stream_view("<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions.f<|channel|>comm");
        assert!(v.markup_started);
        assert_eq!(v.reasoning, "x");
        let out = "<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions.f";
        assert_eq!(markup_start(out), out.find(START));
    }
}
