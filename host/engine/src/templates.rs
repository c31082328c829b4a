//! Which template plugin a model's chats go through, and the calls into it.
//!
//! The one place the choice is made for the server and the CLI alike
//! ([`shimmy_core::template_choice::choose`]: request > operator > embedded GGUF template >
//! vocabulary / architecture family > `chatml`); rendering and output parsing are always
//! done by the plugin, never by a format written here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use shimmy_core::backend::{LoadedModel, ModelInfo};
use shimmy_core::gguf::{GgufFile, GgufValue};
use shimmy_core::template_choice::{self, ModelTraits, TemplateChoice, TELLTALE_TOKENS};
use shimmy_plugins::{
    request_keys, ChatMessage, ModelContext, Parsed, PluginKind, PluginRegistry, RenderRequest,
    Rendered, RequestSettings, ToolDefinition,
};

use crate::error::EngineError;

/// The template plugins and the operator's per-model settings.
#[derive(Debug, Clone)]
pub struct Templates {
    names: Vec<String>,
    families: Vec<(String, Vec<String>)>,
    operator: BTreeMap<String, String>,
}

impl Templates {
    /// Reads the template plugins of `registry` (names and declared families).
    pub fn new(registry: &PluginRegistry, operator: BTreeMap<String, String>) -> Self {
        let names = registry.names(PluginKind::Template);
        let families = names
            .iter()
            .filter_map(|name| {
                let families = registry.inspect(name).ok()?.manifest.families;
                Some((name.clone(), families))
            })
            .collect();
        Templates {
            names,
            families,
            operator,
        }
    }

    /// The template plugin names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a template plugin of that name is loaded.
    pub fn exists(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    fn operator_for(&self, model_name: &str) -> Option<&str> {
        self.operator
            .get(model_name)
            .or_else(|| {
                self.operator
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(model_name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    /// The choice for a loaded model (special tokens are those the tokenizer turns into one
    /// token).
    pub fn choose(
        &self,
        model_name: &str,
        model: &dyn LoadedModel,
        requested: Option<&str>,
    ) -> TemplateChoice {
        let info = model.info();
        let special_tokens = TELLTALE_TOKENS
            .iter()
            .map(|(token, _)| *token)
            .filter(|token| {
                model
                    .tokenize(token, false, true)
                    .is_ok_and(|ids| ids.len() == 1)
            })
            .collect();
        self.choose_with(
            model_name,
            &info.architecture,
            info.chat_template.is_some(),
            special_tokens,
            requested,
        )
    }

    /// The expected choice for a model that is not loaded, from its GGUF header (the
    /// vocabulary is only checked when the header kept it; see
    /// [`shimmy_core::gguf::MAX_ARRAY_VALUES_KEPT`]).
    pub fn predict(&self, model_name: &str, gguf: &GgufFile) -> TemplateChoice {
        let tokens: Vec<&str> = match gguf.get("tokenizer.ggml.tokens") {
            Some(GgufValue::Array(array)) => {
                let values = array.values.as_deref().unwrap_or_default();
                TELLTALE_TOKENS
                    .iter()
                    .map(|(token, _)| *token)
                    .filter(|token| {
                        values
                            .iter()
                            .any(|v| matches!(v, GgufValue::String(s) if s == token))
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        self.choose_with(
            model_name,
            gguf.architecture(),
            gguf.chat_template().is_some(),
            tokens,
            None,
        )
    }

    fn choose_with(
        &self,
        model_name: &str,
        architecture: &str,
        has_embedded_template: bool,
        special_tokens: Vec<&str>,
        requested: Option<&str>,
    ) -> TemplateChoice {
        let traits = ModelTraits {
            architecture,
            has_embedded_template,
            special_tokens,
        };
        template_choice::choose(
            requested,
            self.operator_for(model_name),
            &traits,
            &self.families,
            |name| self.exists(name),
        )
    }
}

/// What a template sees of the model.
pub fn model_context(info: &ModelInfo) -> ModelContext {
    ModelContext {
        architecture: info.architecture.clone(),
        chat_template: info.chat_template.clone(),
        bos_token: info.bos_token.clone(),
        eos_token: info.eos_token.clone(),
    }
}

/// How a chat's tools reached the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolPrompt {
    /// The chat offers no tools (or none may be called).
    None,
    /// The template renders them.
    Template,
    /// The template drops them, so they are offered as the Hermes `<tools>` block in the
    /// system message (calls in `<tool_call>` markup, which the template's parser reads).
    HermesFallback,
    /// The template drops them and does not take the Hermes block either: the model is not
    /// told about them.
    Dropped,
}

impl ToolPrompt {
    /// A sentence for people (`/api/template/render`).
    pub fn describe(self) -> &'static str {
        match self {
            ToolPrompt::None => "no tools offered",
            ToolPrompt::Template => "the template renders the tools",
            ToolPrompt::HermesFallback => {
                "the template drops tools; they are offered as a Hermes <tools> block in the system message"
            }
            ToolPrompt::Dropped => "the template drops tools and takes no tool prompt; the model is not told about them",
        }
    }
}

/// Renders a chat with template `name` for `model`, with the request's `settings` (the
/// thinking switch: [`shimmy_plugins::request_keys`]), offering `tools`. A template that
/// drops the tools (it renders the same prompt without them) is asked for the Hermes tool
/// prompt instead ([`ToolPrompt::HermesFallback`]).
pub async fn render_chat(
    registry: &Arc<PluginRegistry>,
    name: &str,
    model: ModelContext,
    messages: &[ChatMessage],
    tools: &[ToolDefinition],
    settings: RequestSettings,
) -> Result<(Rendered, ToolPrompt), EngineError> {
    let render = |tools: &[ToolDefinition], settings: RequestSettings| {
        let request = RenderRequest {
            messages: messages.to_vec(),
            tools: tools.to_vec(),
            add_generation_prompt: true,
            model: model.clone(),
        };
        registry.render_template_with(name, request, settings)
    };
    let rendered = render(tools, settings.clone()).await?;
    if tools.is_empty() {
        return Ok((rendered, ToolPrompt::None));
    }
    let without = render(&[], settings.clone()).await?;
    if without.spans != rendered.spans {
        return Ok((rendered, ToolPrompt::Template));
    }
    let mut hermes = settings;
    hermes.insert(request_keys::TOOL_PROMPT.into(), "hermes".into());
    let fallback = render(tools, hermes).await?;
    if fallback.spans == without.spans {
        return Ok((rendered, ToolPrompt::Dropped));
    }
    Ok((fallback, ToolPrompt::HermesFallback))
}

/// Splits model output with template `name`'s parser.
pub async fn parse(
    registry: &Arc<PluginRegistry>,
    name: &str,
    output: &str,
    tools: &[ToolDefinition],
) -> Result<Parsed, EngineError> {
    Ok(registry.parse_output(name, output, tools).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_choice_matches_names_ignoring_case() {
        let templates = Templates {
            names: vec!["chatml".into(), "llama3".into()],
            families: Vec::new(),
            operator: BTreeMap::from([("tiny".to_string(), "llama3".to_string())]),
        };
        assert_eq!(templates.operator_for("tiny"), Some("llama3"));
        assert_eq!(templates.operator_for("TINY"), Some("llama3"));
        assert_eq!(templates.operator_for("other"), None);
        let choice = templates.choose_with("Tiny", "llama", true, Vec::new(), None);
        assert_eq!(choice.name, "llama3");
        let asked = templates.choose_with("Tiny", "llama", true, Vec::new(), Some("chatml"));
        assert_eq!(asked.name, "chatml");
    }
}
