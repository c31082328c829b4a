//! Test template plugin of contract **0.1.1** (chat messages without reasoning): the host
//! serves it through its adapter.
//! * `render-spans` (and `render`): `<|im_start|>{role}\n` (template) `{content}` (content)
//!   `<|im_end|>\n` (template) per message, then `<|im_start|>assistant\n`; stop `<|im_end|>`.
//! * `output-parser`: every piece is content; `finish` gives the whole output as content.
wit_bindgen::generate!({ world: "template-plugin", path: "../../../../../wit/0.1.1" });

use std::cell::RefCell;

use exports::shimmy::plugin::template::{
    Guest, GuestOutputParser, ParseDelta, Parsed, PromptSpan, RenderRequest, Rendered,
    RenderedSpans, SpanKind, TemplateInfo,
};
use shimmy::plugin::types::{PluginError, ToolDefinition};

struct Template;

fn spans(req: &RenderRequest) -> Vec<PromptSpan> {
    let t = |text: String| PromptSpan {
        kind: SpanKind::Template,
        text,
    };
    let mut out = Vec::new();
    for m in &req.messages {
        out.push(t(format!("<|im_start|>{}\n", m.role)));
        out.push(PromptSpan {
            kind: SpanKind::Content,
            text: m.content.clone(),
        });
        out.push(t("<|im_end|>\n".into()));
    }
    if req.add_generation_prompt {
        out.push(t("<|im_start|>assistant\n".into()));
    }
    out
}

impl Guest for Template {
    type OutputParser = Parser;

    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "test-template-011".into(),
            description: "ChatML, contract 0.1.1".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        Ok(Rendered {
            prompt: spans(&req).into_iter().map(|s| s.text).collect(),
            stop: vec!["<|im_end|>".into()],
            add_bos: false,
        })
    }

    fn parse(output: String, _tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        Ok(Parsed {
            content: output.trim().to_string(),
            reasoning: None,
            tool_calls: Vec::new(),
        })
    }

    fn render_spans(req: RenderRequest) -> Result<RenderedSpans, PluginError> {
        Ok(RenderedSpans {
            spans: spans(&req),
            stop: vec!["<|im_end|>".into()],
            add_bos: false,
        })
    }
}

struct Parser(RefCell<String>);

impl GuestOutputParser for Parser {
    fn new(_tools: Vec<ToolDefinition>) -> Self {
        Parser(RefCell::new(String::new()))
    }

    fn push(&self, text: String) -> Result<ParseDelta, PluginError> {
        self.0.borrow_mut().push_str(&text);
        Ok(ParseDelta {
            content: text,
            reasoning: String::new(),
            tool_markup: false,
        })
    }

    fn finish(&self) -> Result<Parsed, PluginError> {
        Template::parse(self.0.borrow().clone(), Vec::new())
    }
}

export!(Template);
