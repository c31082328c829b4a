//! `llama3`: Meta Llama 3 / 3.1 / 3.2 / 3.3 instruct.
//!
//! `<|begin_of_text|>` then per message
//! `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>`, and
//! `<|start_header_id|>assistant<|end_header_id|>\n\n` as the generation prompt (the format of
//! Meta's own template, which trims each message). Tools are not supported yet (use `jinja`).

use shimmy_plugin_sdk::prompt::{check_roles, push_stop, reject_tools};
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

/// BOS text, written by the template itself.
pub const BEGIN_OF_TEXT: &str = "<|begin_of_text|>";
/// End of a turn.
pub const EOT: &str = "<|eot_id|>";
/// End of a message that expects a tool result (Llama 3.1).
pub const EOM: &str = "<|eom_id|>";
/// End of text.
pub const END_OF_TEXT: &str = "<|end_of_text|>";

/// The template.
pub struct Llama3;

fn header(out: &mut String, role: &str) {
    out.push_str("<|start_header_id|>");
    out.push_str(role);
    out.push_str("<|end_header_id|>\n\n");
}

/// Renders `req` (pure).
pub fn render_prompt(req: &RenderRequest) -> Result<Rendered, PluginError> {
    check_roles(&req.messages)?;
    reject_tools("llama3", req)?;
    let mut prompt = String::from(BEGIN_OF_TEXT);
    for m in &req.messages {
        header(&mut prompt, &m.role);
        prompt.push_str(m.content.trim());
        prompt.push_str(EOT);
    }
    if req.add_generation_prompt {
        header(&mut prompt, "assistant");
    }
    let mut stop = vec![EOT.to_string(), EOM.to_string(), END_OF_TEXT.to_string()];
    if let Some(eos) = &req.model.eos_token {
        push_stop(&mut stop, eos);
    }
    Ok(Rendered {
        prompt,
        stop,
        add_bos: false,
    })
}

impl Template for Llama3 {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "llama3".into(),
            description:
                "Llama 3.x instruct (<|start_header_id|>role<|end_header_id|> ... <|eot_id|>)"
                    .into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        render_prompt(&req)
    }
}

export_template!(Llama3);

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugin_sdk::testing::request;
    use shimmy_plugin_sdk::ToolDefinition;

    #[test]
    fn conversation() {
        let r = render_prompt(&request("llama")).unwrap();
        assert_eq!(
            r.prompt,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n2+2 equals 4.<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(r.stop, vec!["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]);
        assert!(!r.add_bos, "the template writes <|begin_of_text|> itself");
    }

    #[test]
    fn content_is_trimmed() {
        let mut req = request("llama");
        req.messages[1].content = "  What is 2+2?\n".into();
        assert!(render_prompt(&req)
            .unwrap()
            .prompt
            .contains("\n\nWhat is 2+2?<|eot_id|>"));
    }

    #[test]
    fn tools_unsupported() {
        let mut req = request("llama");
        req.tools.push(ToolDefinition::new("f", "", "{}"));
        assert_eq!(render_prompt(&req).unwrap_err().kind(), "unsupported");
    }
}
