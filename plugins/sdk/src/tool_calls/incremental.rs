//! [`Incremental`]: one generation's output parsed while it streams, in one format, on top of
//! [`stream_view`] and [`parse`]: what a streaming parser (the contract's `output-parser`)
//! needs from a template, in three calls.

use super::{parse, stream_view, StreamOptions, StreamView, ToolCallFormat};
use crate::{Parsed, ToolDefinition};

/// What one [`Incremental::push`] made visible.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// New answer text, to append to what earlier pushes returned.
    pub content: String,
    /// New reasoning text, to append likewise.
    pub reasoning: String,
    /// Tool-call markup has started (only when tools were offered).
    pub markup_started: bool,
}

/// The output of one generation so far, parsed in one format.
#[derive(Clone, Debug)]
pub struct Incremental {
    format: ToolCallFormat,
    tools: Vec<ToolDefinition>,
    options: StreamOptions,
    output: String,
    shown: StreamView,
}

impl Incremental {
    /// A parser of an answer in `format` to a chat that offered `tools`; `reasoning_open`
    /// when the rendered prompt opened the reasoning block ([`super::prompt_opens_reasoning`]).
    pub fn new(format: ToolCallFormat, tools: Vec<ToolDefinition>, reasoning_open: bool) -> Self {
        let options = StreamOptions {
            tools_offered: !tools.is_empty(),
            reasoning_open,
        };
        Incremental {
            format,
            tools,
            options,
            output: String::new(),
            shown: StreamView::default(),
        }
    }

    /// Takes the next piece of output; returns what became visible (text that may still be
    /// markup is held back until it is known).
    pub fn push(&mut self, text: &str) -> Delta {
        self.output.push_str(text);
        let view = stream_view(self.format, &self.output, self.options);
        let grow = |now: &str, before: &str| now.strip_prefix(before).unwrap_or("").to_string();
        let delta = Delta {
            content: grow(&view.content, &self.shown.content),
            reasoning: grow(&view.reasoning, &self.shown.reasoning),
            markup_started: view.markup_started,
        };
        // Views only grow; keep what was shown if one ever did not.
        if view.content.starts_with(&self.shown.content) {
            self.shown.content = view.content;
        }
        if view.reasoning.starts_with(&self.shown.reasoning) {
            self.shown.reasoning = view.reasoning;
        }
        self.shown.markup_started = view.markup_started;
        delta
    }

    /// The whole output parsed, tool calls included (when the prompt opened the reasoning,
    /// with its opening tag in front, so an answer cut off while reasoning is all reasoning).
    pub fn finish(&self) -> Parsed {
        let (open, _) = self.format.reasoning_tags();
        if self.options.reasoning_open && !self.output.trim_start().starts_with(open) {
            return parse(self.format, &format!("{open}{}", self.output), &self.tools);
        }
        parse(self.format, &self.output, &self.tools)
    }

    /// Everything pushed so far.
    pub fn output(&self) -> &str {
        &self.output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::tests::{call, tools};

    #[test]
    fn pieces_give_the_growth_and_the_final_parse_the_calls() {
        let out = "<think>Weigh it.</think>Let me check.<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>";
        let mut p = Incremental::new(ToolCallFormat::Hermes, tools(&["f"]), false);
        let (mut content, mut reasoning, mut started) = (String::new(), String::new(), false);
        let chars: Vec<char> = out.chars().collect();
        for piece in chars.chunks(3) {
            let d = p.push(&piece.iter().collect::<String>());
            content.push_str(&d.content);
            reasoning.push_str(&d.reasoning);
            started |= d.markup_started;
        }
        assert_eq!(
            (reasoning.as_str(), content.as_str(), started),
            ("Weigh it.", "Let me check.", true)
        );
        let parsed = p.finish();
        assert_eq!(parsed.content, "Let me check.");
        assert_eq!(parsed.tool_calls, vec![call(0, "f", r#"{"a":1}"#)]);
    }

    #[test]
    fn an_opened_reasoning_block_streams_as_reasoning() {
        let mut p = Incremental::new(ToolCallFormat::DeepSeek, Vec::new(), true);
        assert_eq!(p.push("Thinking").reasoning, "Thinking");
        assert_eq!(p.push(" more</think>").reasoning, " more");
        assert_eq!(p.push("Answer").content, "Answer");
        assert_eq!(p.finish().reasoning.as_deref(), Some("Thinking more"));
    }
}
