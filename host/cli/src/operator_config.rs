//! The operator's configuration file (`--config FILE` / `SHIMMY_CONFIG`), TOML:
//!
//! ```toml
//! [models.qwen3-30b-a3b]
//! template = "chatml"          # template plugin for this model (beats its embedded template)
//!
//! [plugins]
//! grants = ["files:dirs"]      # same as --plugin-grant
//!
//! [plugins.config.files]       # same as --plugin-config files:root=/srv/data
//! root = "/srv/data"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;

/// The parsed file (every section optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Per-model settings, by model name.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSettings>,
    /// Plugin grants and settings.
    #[serde(default)]
    pub plugins: PluginSettings,
}

/// Settings of one model.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Template plugin to render this model's chats with.
    pub template: Option<String>,
}

/// The `[plugins]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    /// `NAME:CAPABILITY` grants.
    #[serde(default)]
    pub grants: Vec<String>,
    /// Per-plugin `[config]` overrides.
    #[serde(default)]
    pub config: BTreeMap<String, BTreeMap<String, String>>,
}

impl OperatorConfig {
    /// Reads the file, or returns the empty configuration when there is none.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: invalid config", path.display()))
    }

    /// The template configured per model name (the engine matches names ignoring case).
    pub fn templates(&self) -> BTreeMap<String, String> {
        self.models
            .iter()
            .filter_map(|(name, m)| Some((name.clone(), m.template.clone()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_models_and_plugins() {
        let cfg: OperatorConfig = toml::from_str(
            "[models.tiny]\ntemplate = \"llama3\"\n[plugins]\ngrants = [\"files:dirs\"]\n\
             [plugins.config.files]\nroot = \"/srv\"\n",
        )
        .unwrap();
        assert_eq!(cfg.templates()["tiny"], "llama3");
        assert_eq!(cfg.plugins.grants, vec!["files:dirs"]);
        assert_eq!(cfg.plugins.config["files"]["root"], "/srv");
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<OperatorConfig>("[modelz]\n").is_err());
    }
}
