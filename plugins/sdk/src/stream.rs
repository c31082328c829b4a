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
//! (see [`markup_boundary`]). A template whose `parse` is [`crate::tool_calls::parse`] in one
//! format returns the SDK's [`Incremental`] parser of that format instead (it implements
//! [`OutputParser`]).

use crate::tool_calls::incremental::Incremental;
use crate::tool_calls::{markup_start, partial_marker, ToolCallFormat};
use crate::{ParseDelta, Parsed, PluginError, ToolDefinition};

/// A parser of one generation's output (the guest side of `output-parser`).
pub trait OutputParser {
    /// Takes the next piece of output; returns what became visible.
    fn push(&mut self, text: &str) -> Result<ParseDelta, PluginError>;
    /// The final parse of everything pushed, tool calls included.
    fn finish(&mut self) -> Result<Parsed, PluginError>;
}

/// The SDK's incremental parser of one format ([`Incremental`], built on
/// [`crate::tool_calls::stream_view`] and [`crate::tool_calls::parse`]) is an output parser:
/// what a template whose `parse` is `tool_calls::parse(format, ..)` returns from
/// [`crate::Template::parser`].
impl OutputParser for Incremental {
    fn push(&mut self, text: &str) -> Result<ParseDelta, PluginError> {
        let d = Incremental::push(self, text);
        Ok(ParseDelta {
            content: d.content,
            reasoning: d.reasoning,
            tool_markup: d.markup_started,
        })
    }

    fn finish(&mut self) -> Result<Parsed, PluginError> {
        Ok(Incremental::finish(self))
    }
}

/// Where tool-call markup begins in `output` in `format`: text before the returned offset
/// may stream; `true` when markup has started there (a complete marker, or an answer that
/// opens like a bare JSON call), `false` when only a cut-off marker (or nothing) is held back.
pub fn markup_boundary(format: ToolCallFormat, output: &str) -> (usize, bool) {
    let started = markup_start(format, output);
    let partial = partial_marker(format, output);
    let visible = started
        .unwrap_or(output.len())
        .min(partial.unwrap_or(output.len()));
    (visible, started.is_some_and(|s| s <= visible))
}

/// The whole-text parse a [`WholeTextParser`] runs (a template's `parse`).
pub type ParseFn = fn(String, Vec<ToolDefinition>) -> Result<Parsed, PluginError>;

/// The default parser: keeps the output so far and re-runs the template's whole-text parse on
/// it at every push (without tools, on the text before any tool-call markup of its format,
/// see [`markup_boundary`]), sending the growth of content and reasoning. `finish` is the
/// parse of the whole output with the tools.
pub struct WholeTextParser {
    parse: ParseFn,
    tools: Vec<ToolDefinition>,
    format: ToolCallFormat,
    output: String,
    sent_content: String,
    sent_reasoning: String,
    markup_started: bool,
}

impl WholeTextParser {
    /// A parser over `parse` for an answer that was offered `tools`; call markup is looked
    /// for in every format the SDK knows ([`ToolCallFormat::Auto`]).
    pub fn new(tools: Vec<ToolDefinition>, parse: ParseFn) -> Self {
        WholeTextParser {
            parse,
            tools,
            format: ToolCallFormat::Auto,
            output: String::new(),
            sent_content: String::new(),
            sent_reasoning: String::new(),
            markup_started: false,
        }
    }

    /// The same parser, looking only for the call markup of the template's own format.
    pub fn with_format(mut self, format: ToolCallFormat) -> Self {
        self.format = format;
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
            let (visible, started) = markup_boundary(self.format, &self.output);
            self.markup_started = started;
            visible
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
        let at = |s: &str| markup_boundary(ToolCallFormat::Auto, s);
        assert_eq!(at("Hello there"), (11, false));
        assert_eq!(at("Sure.\n<tool_call>{"), (6, true));
        assert_eq!(at("Sure <tool_"), (5, false));
        assert_eq!(at("ok [TOOL"), (3, false));
        assert_eq!(at("  {\"name\""), (0, true));
        assert_eq!(at("<|python_tag|>{"), (0, true));
        assert!(!markup_boundary(ToolCallFormat::Hermes, "[1, 2]").1);
    }

    #[test]
    fn incremental_is_an_output_parser() {
        let tools = vec![ToolDefinition::new("f", "", "{}")];
        let mut p: Box<dyn OutputParser> =
            Box::new(Incremental::new(ToolCallFormat::Hermes, tools, false));
        let d = p
            .push("Let me check.<tool_call>\n{\"name\": \"f\"")
            .unwrap();
        assert_eq!((d.content.as_str(), d.tool_markup), ("Let me check.", true));
        p.push(", \"arguments\": {}}\n</tool_call>").unwrap();
        let done = p.finish().unwrap();
        assert_eq!(done.content, "Let me check.");
        assert_eq!(done.tool_calls.len(), 1);
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
