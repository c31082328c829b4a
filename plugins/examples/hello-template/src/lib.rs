//! The authoring guide's example: a complete template plugin using only the SDK.
use shimmy_plugin_sdk::{
    export_template, PluginError, RenderRequest, Rendered, Template, TemplateInfo,
};

struct Hello;

impl Template for Hello {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "hello-template".into(),
            description: "### User: / ### Assistant: prompts".into(),
        }
    }

    fn render(req: RenderRequest) -> Result<Rendered, PluginError> {
        let mut prompt = String::new();
        for m in &req.messages {
            let role = match m.role.as_str() {
                "system" => "System",
                "assistant" => "Assistant",
                "tool" => "Tool",
                _ => "User",
            };
            prompt += &format!("### {role}:\n{}\n\n", m.content);
        }
        if req.add_generation_prompt {
            prompt += "### Assistant:\n";
        }
        Ok(Rendered::new(prompt, &["### User:", "### System:"], true))
    }
    // `parse` keeps the SDK default: <think> reasoning split off, content trimmed.
}

export_template!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugin_sdk::{ChatMessage, ModelContext};

    #[test]
    fn renders() {
        let req = RenderRequest::new(
            vec![
                ChatMessage::system("Be brief."),
                ChatMessage::user("Hi"),
                ChatMessage::assistant("Hello!"),
                ChatMessage::user("Bye"),
            ],
            ModelContext::new("llama"),
        );
        let r = Hello::render(req).unwrap();
        assert_eq!(
            r.prompt,
            "### System:\nBe brief.\n\n### User:\nHi\n\n### Assistant:\nHello!\n\n### User:\nBye\n\n### Assistant:\n"
        );
        assert_eq!(r.stop, vec!["### User:", "### System:"]);
        assert!(r.add_bos);
    }
}
