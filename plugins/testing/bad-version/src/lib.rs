//! Sandbox test plugin: a perfectly ordinary ChatML template, except that it is built against
//! `shimmy:plugin@9.0.0` (test-data copy of the contract in `wit/`). Its component exports
//! `shimmy:plugin/template@9.0.0` and imports `shimmy:plugin/log@9.0.0`; the host must refuse it
//! with a message naming both 9.0.0 and the 0.1.0 it supports.

wit_bindgen::generate!({
    path: "wit",
    world: "shimmy:plugin/template-plugin@9.0.0",
});

use exports::shimmy::plugin::template::{Guest, Parsed, RenderRequest, Rendered, TemplateInfo};
use shimmy::plugin::types::{PluginError, ToolDefinition};

struct BadVersion;

impl Guest for BadVersion {
    fn describe() -> TemplateInfo {
        // Calls the 9.0.0 log import so the component imports it too.
        shimmy::plugin::log::log(shimmy::plugin::log::Level::Info, "bad-version describe");
        TemplateInfo {
            name: "bad-version".into(),
            description: "built against shimmy:plugin@9.0.0".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        let mut prompt = String::new();
        for m in &req.messages {
            prompt.push_str(&format!(
                "<|im_start|>{}\n{}<|im_end|>\n",
                m.role, m.content
            ));
        }
        prompt.push_str("<|im_start|>assistant\n");
        Ok(Rendered {
            prompt,
            stop: vec!["<|im_end|>".into()],
            add_bos: true,
        })
    }

    fn parse(output: String, _tools: Vec<ToolDefinition>) -> Result<Parsed, PluginError> {
        Ok(Parsed {
            content: output.trim().to_string(),
            reasoning: None,
            tool_calls: Vec::new(),
        })
    }
}

export!(BadVersion);
