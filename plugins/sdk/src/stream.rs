//! Parsing output while it streams: the `output-parser` resource of contract 0.1.1.
//!
//! The host creates one parser per streamed chat answer and calls [`OutputParser::push`] with
//! every piece of text the model produces, then [`OutputParser::finish`] once. A template gets
//! a parser from [`crate::Template::parser`]; the default is a [`WholeTextParser`] over the
//! template's own [`crate::Template::parse`], so a template that only implements `parse` streams
//! correctly. A template with a faster incremental parse implements [`OutputParser`] itself.
//!
//! What a push returns ([`ParseDelta`]): the growth of the visible content and reasoning since
//! the previous push, and whether tool-call markup has started. Until the end is known, text
//! that may still be markup is held back: a trailing `<...` without `>` (a tag in the making,
//! like `<thi`), and, when tools were offered, everything from the first tool-call marker on
//! (see [`ToolMarkup`]).

use crate::tool_calls::{HERMES_OPEN, MISTRAL_TOOL_CALLS, PYTHON_TAG};
use crate::{ParseDelta, Parsed, PluginError, ToolDefinition};

/// A parser of one generation's output (the guest side of `output-parser`).
pub trait OutputParser {
    /// Takes the next piece of output; returns what became visible.
    fn push(&mut self, text: &str) -> Result<ParseDelta, PluginError>;
    /// The final parse of everything pushed, tool calls included.
    fn finish(&mut self) -> Result<Parsed, PluginError>;
}

/// Where tool-call markup starts in an output: a list of opening markers, and whether a bare
/// JSON answer (`{`, `[` or a code fence first) counts as a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolMarkup {
    /// Texts that open tool-call markup, e.g. `<tool_call>`.
    pub markers: Vec<String>,
    /// Whether an answer that opens with `{`, `[` or ```` ``` ```` is a call.
    pub bare_json: bool,
}

/// The opening of DeepSeek V3 / R1 tool calls.
pub const DEEPSEEK_TOOL_CALLS: &str = "<｜tool▁calls▁begin｜>";
/// The opening of a Llama 3.x / Functionary-style `<function=name>` call.
pub const FUNCTION_TAG: &str = "<function=";

impl Default for ToolMarkup {
    /// Every format the SDK's tool-call parsers know, and bare JSON.
    fn default() -> Self {
        ToolMarkup::new(
            &[
                HERMES_OPEN,
                PYTHON_TAG,
                MISTRAL_TOOL_CALLS,
                DEEPSEEK_TOOL_CALLS,
                FUNCTION_TAG,
            ],
            true,
        )
    }
}

/// Where markup begins in an output so far: at a complete marker, or possibly later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkupStart {
    /// Text before this byte offset is not markup (it may stream).
    pub visible: usize,
    /// A complete marker (or a bare JSON opening) was found at `visible`.
    pub started: bool,
}

impl ToolMarkup {
    /// Markup opened by any of `markers` (and by bare JSON when `bare_json`).
    pub fn new(markers: &[&str], bare_json: bool) -> Self {
        ToolMarkup {
            markers: markers.iter().map(|m| m.to_string()).collect(),
            bare_json,
        }
    }

    /// Where markup begins in `output`: the first complete marker, or a trailing prefix of
    /// one (held back, not started), or 0 when the answer opens like bare JSON.
    pub fn find(&self, output: &str) -> MarkupStart {
        let trimmed = output.trim_start();
        if self.bare_json
            && (trimmed.starts_with('{') || trimmed.starts_with('[') || trimmed.starts_with("```"))
        {
            return MarkupStart {
                visible: 0,
                started: true,
            };
        }
        let mut found = None;
        for marker in &self.markers {
            if let Some(i) = output.find(marker.as_str()) {
                found = Some(found.map_or(i, |f: usize| f.min(i)));
            }
        }
        let mut visible = found.unwrap_or(output.len());
        for marker in &self.markers {
            // A marker cut off at the end of what has arrived so far.
            for (i, _) in marker.char_indices().skip(1) {
                if output.ends_with(&marker[..i]) {
                    visible = visible.min(output.len() - i);
                }
            }
        }
        MarkupStart {
            visible,
            started: found.is_some_and(|f| f <= visible),
        }
    }
}

/// The whole-text parse a [`WholeTextParser`] runs (a template's `parse`).
pub type ParseFn = fn(String, Vec<ToolDefinition>) -> Result<Parsed, PluginError>;

/// The default parser: keeps the output so far and re-runs the template's whole-text parse on
/// it at every push (without tools, on the text before any tool-call markup), sending the
/// growth of content and reasoning. `finish` is the parse of the whole output with the tools.
pub struct WholeTextParser {
    parse: ParseFn,
    tools: Vec<ToolDefinition>,
    markup: ToolMarkup,
    output: String,
    sent_content: String,
    sent_reasoning: String,
    markup_started: bool,
}

impl WholeTextParser {
    /// A parser over `parse` for an answer that was offered `tools`, with the default markers.
    pub fn new(tools: Vec<ToolDefinition>, parse: ParseFn) -> Self {
        WholeTextParser {
            parse,
            tools,
            markup: ToolMarkup::default(),
            output: String::new(),
            sent_content: String::new(),
            sent_reasoning: String::new(),
            markup_started: false,
        }
    }

    /// The same parser, with the tool-call markers of the template's own format.
    pub fn with_markup(mut self, markup: ToolMarkup) -> Self {
        self.markup = markup;
        self
    }

    /// Everything pushed so far.
    pub fn output(&self) -> &str {
        &self.output
    }
}

impl OutputParser for WholeTextParser {
    fn push(&mut self, text: &str) -> Result<ParseDelta, PluginError> {
        self.output.push_str(text);
        if self.markup_started {
            return Ok(empty_delta(true));
        }
        let visible = if self.tools.is_empty() {
            self.output.len()
        } else {
            let start = self.markup.find(&self.output);
            self.markup_started = start.started;
            start.visible
        };
        let parsed = (self.parse)(self.output[..visible].to_string(), Vec::new())?;
        let content = growth(&self.sent_content, &parsed.content, true);
        let reasoning = growth(
            &self.sent_reasoning,
            parsed.reasoning.as_deref().unwrap_or_default(),
            true,
        );
        self.sent_content.push_str(&content);
        self.sent_reasoning.push_str(&reasoning);
        Ok(ParseDelta {
            content,
            reasoning,
            tool_markup: self.markup_started,
        })
    }

    fn finish(&mut self) -> Result<Parsed, PluginError> {
        (self.parse)(self.output.clone(), self.tools.clone())
    }
}

fn empty_delta(tool_markup: bool) -> ParseDelta {
    ParseDelta {
        content: String::new(),
        reasoning: String::new(),
        tool_markup,
    }
}

/// The part of `now` not yet sent, when `now` extends `sent` (nothing otherwise). With `hold`,
/// a trailing `<...` without `>` (short, no whitespace) is kept back: it may be the start of a
/// tag the parse takes out once it is complete.
pub fn growth(sent: &str, now: &str, hold: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasoning;

    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        let mut p = reasoning::parse_default(&output);
        if !tools.is_empty() {
            let (text, calls) = crate::tool_calls::extract_offered(
                &p.content,
                crate::tool_calls::ToolCallFormat::Hermes,
                &tools,
            );
            p.content = text;
            p.tool_calls = calls;
        }
        Ok(p)
    }

    fn push_all(p: &mut WholeTextParser, pieces: &[&str]) -> (String, String, bool) {
        let (mut c, mut r, mut m) = (String::new(), String::new(), false);
        for piece in pieces {
            let d = p.push(piece).unwrap();
            c.push_str(&d.content);
            r.push_str(&d.reasoning);
            m |= d.tool_markup;
        }
        (c, r, m)
    }

    #[test]
    fn reasoning_and_content_stream_apart() {
        let mut p = WholeTextParser::new(Vec::new(), parse);
        let (c, r, m) = push_all(
            &mut p,
            &[
                "<thi",
                "nk>Let me",
                " see.</th",
                "ink>\n\nThe answer",
                " is 4.",
            ],
        );
        assert_eq!(r, "Let me see.");
        assert_eq!(c, "The answer is 4.");
        assert!(!m);
        let done = p.finish().unwrap();
        assert_eq!(done.content, "The answer is 4.");
        assert_eq!(done.reasoning.as_deref(), Some("Let me see."));
    }

    #[test]
    fn tool_markup_stops_the_stream() {
        let tools = vec![ToolDefinition::new("get_weather", "", "{}")];
        let mut p = WholeTextParser::new(tools, parse);
        let (c, _, m) = push_all(
            &mut p,
            &[
                "Sure.",
                " <tool_",
                "call>\n{\"name\": \"get_weather\",",
                " \"arguments\": {}}\n</tool_call>",
            ],
        );
        assert_eq!(c, "Sure.");
        assert!(m);
        let done = p.finish().unwrap();
        assert_eq!(done.content, "Sure.");
        assert_eq!(done.tool_calls.len(), 1);
    }

    #[test]
    fn markup_positions() {
        let m = ToolMarkup::default();
        let at = |s: &str| m.find(s);
        assert_eq!(
            at("Hello there"),
            MarkupStart {
                visible: 11,
                started: false
            }
        );
        assert_eq!(
            at("Sure.\n<tool_call>{"),
            MarkupStart {
                visible: 6,
                started: true
            }
        );
        assert_eq!(
            at("Sure <tool_"),
            MarkupStart {
                visible: 5,
                started: false
            }
        );
        assert_eq!(
            at("ok [TOOL"),
            MarkupStart {
                visible: 3,
                started: false
            }
        );
        assert_eq!(
            at("  {\"name\""),
            MarkupStart {
                visible: 0,
                started: true
            }
        );
        assert_eq!(
            at("<|python_tag|>{"),
            MarkupStart {
                visible: 0,
                started: true
            }
        );
        let hermes = ToolMarkup::new(&[HERMES_OPEN], false);
        assert!(!hermes.find("[1, 2]").started);
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
}
