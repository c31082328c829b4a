//! `mistral`: Mistral / Mixtral instruct (v0.1, v0.2, the Llama-2-like `[INST]` format).
//!
//! `<s>[INST] {user} [/INST]{assistant}</s>[INST] {user} [/INST]`. There is no system role: a
//! system prompt is folded into the first user turn as `{system}\n\n{user}`. Roles must alternate
//! user/assistant, as Mistral's own template enforces. The prompt always ends ready for the
//! assistant (after `[/INST]`), so `add-generation-prompt` changes nothing. Not the default for
//! any architecture (Mistral models report `llama`): chosen by name.

use shimmy_plugin_sdk::prompt::{
    check_alternating, check_roles, fold_system_into_first_user, push_stop, reject_tools,
};
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

/// BOS text, written by the template itself.
pub const BOS: &str = "<s>";
/// EOS text: ends each assistant turn, and the stop string.
pub const EOS: &str = "</s>";

/// The template.
pub struct Mistral;

/// Renders `req` (pure).
pub fn render_prompt(req: &RenderRequest) -> Result<Rendered, PluginError> {
    check_roles(&req.messages)?;
    reject_tools("mistral", req)?;
    check_alternating(&req.messages)?;
    let messages = fold_system_into_first_user(&req.messages, "\n\n");
    let mut prompt = String::from(BOS);
    for m in &messages {
        if m.role == "user" {
            prompt.push_str("[INST] ");
            prompt.push_str(&m.content);
            prompt.push_str(" [/INST]");
        } else {
            prompt.push_str(&m.content);
            prompt.push_str(EOS);
        }
    }
    let mut stop = vec![EOS.to_string()];
    if let Some(eos) = &req.model.eos_token {
        push_stop(&mut stop, eos);
    }
    Ok(Rendered {
        prompt,
        stop,
        add_bos: false,
    })
}

impl Template for Mistral {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "mistral".into(),
            description: "Mistral instruct (<s>[INST] ... [/INST] ... </s>)".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        render_prompt(&req)
    }
}

export_template!(Mistral);

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugin_sdk::testing::request;
    use shimmy_plugin_sdk::ChatMessage;

    #[test]
    fn conversation() {
        let r = render_prompt(&request("llama")).unwrap();
        assert_eq!(
            r.prompt,
            "<s>[INST] You are a helpful assistant.\n\nWhat is 2+2? [/INST]2+2 equals 4.</s>[INST] And 3+3? [/INST]"
        );
        assert_eq!(r.stop, vec!["</s>"]);
        assert!(!r.add_bos, "the template writes <s> itself");
    }

    #[test]
    fn roles_must_alternate() {
        let mut req = request("llama");
        req.messages.push(ChatMessage::user("again"));
        assert_eq!(render_prompt(&req).unwrap_err().kind(), "invalid-input");
    }
}
