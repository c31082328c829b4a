//! `phi3`: Microsoft Phi-3 / Phi-3.5.
//!
//! `<|{role}|>\n{content}<|end|>\n` per message, `<|assistant|>\n` as the generation prompt.
//! The template writes no BOS text.

use shimmy_plugin_sdk::prompt::{check_roles, push_stop, reject_tools};
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

/// End of a turn.
pub const END: &str = "<|end|>";
/// End of text.
pub const ENDOFTEXT: &str = "<|endoftext|>";

/// The template.
pub struct Phi3;

/// Renders `req` (pure).
pub fn render_prompt(req: &RenderRequest) -> Result<Rendered, PluginError> {
    check_roles(&req.messages)?;
    reject_tools("phi3", req)?;
    let mut prompt = String::new();
    for m in &req.messages {
        if m.role == "system" && m.content.is_empty() {
            continue; // Phi-3.5's template skips an empty system prompt
        }
        prompt.push_str(&format!("<|{}|>\n{}{END}\n", m.role, m.content));
    }
    if req.add_generation_prompt {
        prompt.push_str("<|assistant|>\n");
    }
    let mut stop = vec![END.to_string(), ENDOFTEXT.to_string()];
    if let Some(eos) = &req.model.eos_token {
        push_stop(&mut stop, eos);
    }
    Ok(Rendered {
        prompt,
        stop,
        add_bos: true,
    })
}

impl Template for Phi3 {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "phi3".into(),
            description: "Phi-3 / Phi-3.5 (<|user|> ... <|end|> <|assistant|>)".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        render_prompt(&req)
    }
}

export_template!(Phi3);

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugin_sdk::testing::request;

    #[test]
    fn conversation() {
        let r = render_prompt(&request("phi3")).unwrap();
        assert_eq!(
            r.prompt,
            "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n\
             <|assistant|>\n2+2 equals 4.<|end|>\n<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n"
        );
        assert_eq!(r.stop, vec!["<|end|>", "<|endoftext|>"]);
        assert!(r.add_bos);
    }
}
