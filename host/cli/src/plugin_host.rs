//! The CLI's side of the plugin runtime: building the registry from the flags and config
//! file, choosing a model's template and rendering chats through it.

use anyhow::{Context as _, Result};
use shimmy_core::backend::LoadedModel;
use shimmy_core::template_choice::{self, ModelTraits, TemplateChoice, TELLTALE_TOKENS};
use shimmy_plugins::{
    ChatMessage, Grants, ModelContext, PluginKind, PluginRegistry, PluginRuntime, PluginSource,
    RenderRequest, Rendered, RuntimeConfig, Settings, ToolDefinition,
};

use crate::cli::PluginOptions;
use crate::operator_config::OperatorConfig;

/// The loaded plugins plus the operator's configuration.
pub struct Plugins {
    /// Every plugin that loaded.
    pub registry: PluginRegistry,
    /// The operator's configuration file.
    pub config: OperatorConfig,
}

impl Plugins {
    /// Starts the runtime and loads built-ins, the user folder and `--plugin-dir` folders.
    /// Plugins that fail to load are reported on stderr; the others stay usable.
    pub fn load(options: &PluginOptions) -> Result<Self> {
        Self::load_from(options, None)
    }

    /// Like [`Plugins::load`], with `extra` (a single plugin path) loaded last.
    pub fn load_from(options: &PluginOptions, extra: Option<PluginSource>) -> Result<Self> {
        let config = OperatorConfig::load(options.config.as_deref())?;
        let grants = Grants::parse(config.plugins.grants.iter().chain(&options.plugin_grants))?;
        let mut settings = Settings::parse(options.plugin_settings.iter())?;
        for (plugin, values) in &config.plugins.config {
            for (key, value) in values {
                if settings
                    .for_plugin(plugin)
                    .is_none_or(|s| !s.contains_key(key))
                {
                    settings.set(plugin, key, value);
                }
            }
        }
        let runtime = PluginRuntime::new(RuntimeConfig {
            timeout_ms: options.plugin_timeout_ms,
            memory_mb: options.plugin_memory_mb,
            grants,
            settings,
            ..RuntimeConfig::default()
        })?;
        let mut sources =
            PluginSource::standard(shimmy_plugins::builtin::BUILTINS, &options.plugin_dirs);
        sources.extend(extra);
        let registry = PluginRegistry::load(&runtime, &sources)?;
        for failure in registry.failures() {
            eprintln!(
                "warning: plugin {} not loaded: {}",
                failure.source, failure.error
            );
        }
        Ok(Plugins { registry, config })
    }

    /// `(template name, architectures it declares)` for every template plugin.
    fn families(&self) -> Vec<(String, Vec<String>)> {
        self.registry
            .names(PluginKind::Template)
            .into_iter()
            .filter_map(|name| {
                let families = self.registry.inspect(&name).ok()?.manifest.families;
                Some((name, families))
            })
            .collect()
    }

    /// Picks the template for `model` (request > operator > embedded > family > chatml).
    pub fn choose_template(
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
        let traits = ModelTraits {
            architecture: &info.architecture,
            has_embedded_template: info.chat_template.is_some(),
            special_tokens,
        };
        let templates = self.registry.names(PluginKind::Template);
        template_choice::choose(
            requested,
            self.config.template_for(model_name),
            &traits,
            &self.families(),
            |name| templates.iter().any(|t| t == name),
        )
    }

    /// Renders `messages` for `model` with the template `choice`.
    pub fn render(
        &self,
        choice: &TemplateChoice,
        model: &dyn LoadedModel,
        messages: Vec<ChatMessage>,
    ) -> Result<Rendered> {
        self.render_with_tools(choice, model, messages, Vec::new())
    }

    /// [`Plugins::render`] with `tools` offered.
    pub fn render_with_tools(
        &self,
        choice: &TemplateChoice,
        model: &dyn LoadedModel,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
    ) -> Result<Rendered> {
        let info = model.info();
        let request = RenderRequest {
            messages,
            tools,
            add_generation_prompt: true,
            model: ModelContext {
                architecture: info.architecture.clone(),
                chat_template: info.chat_template.clone(),
                bos_token: info.bos_token.clone(),
                eos_token: info.eos_token.clone(),
            },
        };
        self.registry
            .blocking()?
            .render_template(&choice.name, request)
            .with_context(|| format!("rendering the chat with template \"{}\"", choice.name))
    }
}

/// The name a model is known by: the name it was asked for by, or for a path its lower-cased
/// file stem (as discovery names it).
pub fn model_name(asked: &str) -> String {
    let path = std::path::Path::new(asked);
    if path.exists() {
        path.file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    } else {
        asked.to_string()
    }
}
