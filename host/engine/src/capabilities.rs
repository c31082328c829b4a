//! What a model can do through this server, in the words of Ollama's `/api/show`
//! `capabilities` (Open WebUI and the ollama CLI turn features on by them). Each is checked
//! the way requests use it: the model's template plugin renders a probe chat.

use std::sync::Arc;

use shimmy_core::template_choice::TemplateChoice;
use shimmy_plugins::{ChatMessage, ModelContext, PluginRegistry, ToolDefinition};

use crate::catalog::CatalogEntry;
use crate::templates::{render_chat, ToolPrompt};
use crate::thinking::{Effort, Thinking};

/// Markers of reasoning in a chat template that has no switch for it (the model always
/// thinks, e.g. DeepSeek-R1): the template parsers split them off as reasoning.
const REASONING_MARKERS: [&str; 3] = ["<think>", "reasoning_content", "<|channel|>"];

/// The capabilities of `entry` with `template`: `completion` when the model generates;
/// `tools` when the template renders tools (its own way or through the Hermes fallback);
/// `thinking` when it has a thinking switch (the prompt changes with it) or writes reasoning
/// markup; `embedding` for an embedding model (its file names a pooling type), which then
/// lists nothing else, as Ollama does.
pub async fn capabilities(
    plugins: &Arc<PluginRegistry>,
    entry: &CatalogEntry,
    template: &TemplateChoice,
) -> Vec<&'static str> {
    if !entry.purpose.generates {
        return if entry.purpose.embedding_model {
            vec!["embedding"]
        } else {
            Vec::new()
        };
    }
    let model = ModelContext {
        architecture: entry.architecture.clone(),
        chat_template: entry.chat_template.clone(),
        bos_token: None,
        eos_token: None,
    };
    let chat = [ChatMessage::new("user", "What time is it?")];
    let chat = &chat;
    let render = |tools: Vec<ToolDefinition>, thinking: Option<Thinking>| {
        let model = model.clone();
        async move {
            let settings = thinking.map(Thinking::settings).unwrap_or_default();
            render_chat(plugins, &template.name, model, chat, &tools, settings)
                .await
                .ok()
        }
    };
    let mut caps = vec!["completion"];
    let probe = ToolDefinition {
        name: "get_time".into(),
        description: "The current time".into(),
        parameters_schema: r#"{"type": "object", "properties": {}}"#.into(),
    };
    if let Some((_, how)) = render(vec![probe], None).await {
        if matches!(how, ToolPrompt::Template | ToolPrompt::HermesFallback) {
            caps.push("tools");
        }
    }
    let off = render(Vec::new(), Some(Thinking::Off)).await;
    let on = render(Vec::new(), Some(Thinking::Effort(Effort::High))).await;
    let switch = matches!((&off, &on), (Some((a, _)), Some((b, _))) if a.spans != b.spans);
    let markers = entry
        .chat_template
        .as_deref()
        .is_some_and(|t| REASONING_MARKERS.iter().any(|m| t.contains(m)));
    if switch || markers {
        caps.push("thinking");
    }
    if entry.purpose.embedding_model {
        caps.push("embedding");
    }
    caps
}
