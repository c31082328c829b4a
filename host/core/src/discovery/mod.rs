//! Where models are looked for and how they are named.
//!
//! [`discover`] searches, in this order: `SHIMMY_BASE_GGUF`, the model directories
//! (`--model-dirs`, `SHIMMY_MODEL_PATHS`), `<cwd>/models`, the Hugging Face hub cache
//! (`HF_HUB_CACHE`, `HF_HOME`... found as `huggingface_hub` finds them), Ollama's store and
//! LM Studio's models directory. It never fails: missing and unreadable places end up in
//! [`DiscoveryReport::locations`], files that are not usable models in
//! [`DiscoveryReport::skipped`] with the reason. Each model is named after its lower-cased file
//! stem (Ollama models after their `model:tag`); a later model whose name is taken gets `-2`,
//! `-3`... [`DiscoveryReport::resolve`] turns a name or path into a file.
//!
//! The logic reads no environment variables: [`DiscoveryConfig`] carries every input.

mod collect;
mod config;
mod huggingface;
mod ollama;
mod resolve;
mod walk;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use config::{env_value, hf_home, hf_hub_cache, split_path_list, DiscoveryConfig};
pub use walk::{model_size, parse_shard, Shard};

/// How deep below a search root directories are walked.
pub const MAX_DEPTH: usize = 4;

/// Where a model was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `SHIMMY_BASE_GGUF`.
    BaseGguf,
    /// `--model-dirs` or `SHIMMY_MODEL_PATHS`.
    ModelDirs,
    /// `<cwd>/models`.
    ModelsDir,
    /// The Hugging Face hub cache (`HF_HUB_CACHE`, default `~/.cache/huggingface/hub`).
    HuggingFace,
    /// Ollama's store (`OLLAMA_MODELS` or `~/.ollama/models`).
    Ollama,
    /// LM Studio (`~/.lmstudio/models`).
    LmStudio,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::BaseGguf => "SHIMMY_BASE_GGUF",
            Source::ModelDirs => "model dirs",
            Source::ModelsDir => "./models",
            Source::HuggingFace => "Hugging Face cache",
            Source::Ollama => "Ollama",
            Source::LmStudio => "LM Studio",
        })
    }
}

/// A model file found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveredModel {
    /// The unique name to ask for it by.
    pub name: String,
    /// The file to load (for split models, the first shard).
    pub path: PathBuf,
    /// Size in bytes (for split models, all shards present).
    pub size_bytes: u64,
    /// Where it was found.
    pub source: Source,
    /// The name it would have had, when another model already had it.
    pub renamed_from: Option<String>,
}

/// What searching one place gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationOutcome {
    /// The place exists; this many model files were found there (including files already
    /// listed from an earlier place).
    Found(usize),
    /// The place does not exist.
    Missing,
    /// The place could not be read; the OS error.
    Unreadable(String),
}

impl fmt::Display for LocationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationOutcome::Found(1) => f.write_str("1 model"),
            LocationOutcome::Found(n) => write!(f, "{n} models"),
            LocationOutcome::Missing => f.write_str("missing"),
            LocationOutcome::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// One place searched (a search root, or a directory inside one that could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchedLocation {
    /// The directory or file.
    pub path: PathBuf,
    /// Which source it belongs to.
    pub source: Source,
    /// What was found.
    pub outcome: LocationOutcome,
}

/// A file that looked like a model but is not usable, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why, in words (with the fix where there is one).
    pub reason: String,
}

/// Everything [`discover`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DiscoveryReport {
    /// Places searched, in search order.
    pub locations: Vec<SearchedLocation>,
    /// Models, in search order, with unique names.
    pub models: Vec<DiscoveredModel>,
    /// Files passed over.
    pub skipped: Vec<Skipped>,
}

/// Searches every configured place for GGUF models. Never fails.
pub fn discover(cfg: &DiscoveryConfig) -> DiscoveryReport {
    let mut c = collect::Collector::default();
    if let Some(base) = &cfg.base_gguf {
        walk::scan_root(&mut c, base, Source::BaseGguf);
    }
    for dir in &cfg.model_dirs {
        walk::scan_root(&mut c, dir, Source::ModelDirs);
    }
    walk::scan_root(&mut c, &cfg.cwd.join("models"), Source::ModelsDir);
    if let Some(hub) = cfg.hub_cache() {
        huggingface::scan(&mut c, &hub);
    }
    let ollama_root = cfg
        .ollama_models
        .clone()
        .or_else(|| cfg.home.as_ref().map(|h| h.join(".ollama").join("models")));
    if let Some(root) = ollama_root {
        ollama::scan(&mut c, &root);
    }
    if let Some(home) = &cfg.home {
        walk::scan_root(
            &mut c,
            &home.join(".lmstudio").join("models"),
            Source::LmStudio,
        );
    }
    c.into_report()
}
