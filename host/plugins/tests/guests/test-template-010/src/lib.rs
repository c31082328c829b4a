//! Test template plugin of contract **0.1.0**: the host serves it through its adapter.
//! * `render`: `<|im_start|>{role}\n{content, trimmed}<|im_end|>\n` per message, then
//!   `<|im_start|>assistant\n`; stop `<|im_end|>`.
//! * `parse`: `<think>R</think>C` splits into reasoning R and content C (both trimmed; an
//!   unclosed `<think>R` is all reasoning); with
//!   tools offered, `<tool_call>{"name": N, "arguments": A}</tool_call>` becomes a call.
wit_bindgen::generate!({ world: "template-plugin", path: "../../../../../wit/0.1.0" });

use exports::shimmy::plugin::template::{Guest, Parsed, RenderRequest, Rendered, TemplateInfo};
use shimmy::plugin::types::{PluginError, ToolCall, ToolDefinition};

struct Template;

impl Guest for Template {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "test-template-010".into(),
            description: "ChatML, contract 0.1.0".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        let mut prompt = String::new();
        for m in &req.messages {
            prompt.push_str(&format!("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content.trim()));
        }
        if req.add_generation_prompt {
            prompt.push_str("<|im_start|>assistant\n");
        }
        Ok(Rendered {
            prompt,
            stop: vec!["<|im_end|>".into()],
            add_bos: false,
        })
    }

    fn parse(output: String, tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        let (reasoning, rest) = match output.split_once("</think>") {
            Some((r, c)) => (Some(r.replace("<think>", "").trim().to_string()), c.to_string()),
            // Cut off while thinking: all of it is reasoning so far.
            None => match output.split_once("<think>") {
                Some((_, r)) => (Some(r.trim().to_string()), String::new()),
                None => (None, output.clone()),
            },
        };
        let mut content = rest.trim().to_string();
        let mut tool_calls = Vec::new();
        if !tools.is_empty() {
            if let Some((before, call)) = content.split_once("<tool_call>") {
                let body = call.split("</tool_call>").next().unwrap_or("").trim();
                if let Some(name) = body
                    .split("\"name\": \"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                {
                    tool_calls.push(ToolCall {
                        id: "call_0".into(),
                        name: name.into(),
                        arguments: "{}".into(),
                    });
                    content = before.trim().to_string();
                }
            }
        }
        Ok(Parsed {
            content,
            reasoning,
            tool_calls,
        })
    }
}

export!(Template);
