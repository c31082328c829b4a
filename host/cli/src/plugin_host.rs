//! The CLI's side of the plugin runtime: building the registry from the flags and config
//! file; choosing a model's template (the engine's choice) and rendering chats through it.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use shimmy_core::backend::LoadedModel;
use shimmy_core::template_choice::TemplateChoice;
use shimmy_engine::templates::{model_context, Templates};
use shimmy_plugins::{
    ChatMessage, Grants, PluginRegistry, PluginRuntime, PluginSource, RenderRequest, Rendered,
    RuntimeConfig, Settings, ToolDefinition,
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

    /// The template plugin per model name from the operator's configuration file.
    pub fn operator_templates(&self) -> BTreeMap<String, String> {
        self.config.templates()
    }

    /// Picks the template for `model` (request > operator > embedded > family > chatml), as
    /// the engine picks it for the server.
    pub fn choose_template(
        &self,
        model_name: &str,
        model: &dyn LoadedModel,
        requested: Option<&str>,
    ) -> TemplateChoice {
        Templates::new(&self.registry, self.operator_templates())
            .choose(model_name, model, requested)
    }

    /// Renders `messages` for `model` with the template `choice`, `tools` offered.
    pub fn render(
        &self,
        choice: &TemplateChoice,
        model: &dyn LoadedModel,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
    ) -> Result<Rendered> {
        let request = RenderRequest {
            messages,
            tools,
            add_generation_prompt: true,
            model: model_context(model.info()),
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
