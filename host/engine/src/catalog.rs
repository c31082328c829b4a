//! The models a server offers: names, files and what their GGUF headers say, read once at
//! startup (no model is loaded for this).

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;
use shimmy_core::backend::embedding::ModelPurpose;
use shimmy_core::gguf::GgufFile;
use shimmy_core::template_choice::TemplateChoice;
use shimmy_plugins::PluginRegistry;

use crate::templates::Templates;

/// A model the server can load.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogEntry {
    /// The name clients ask for it by.
    pub name: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Size on disk in bytes.
    pub size_bytes: u64,
    /// Last modification time of the file.
    #[serde(skip)]
    pub modified: Option<SystemTime>,
    /// `general.architecture`.
    pub architecture: String,
    /// Parameter count.
    pub parameters: u64,
    /// Quantization, e.g. `Q8_0`.
    pub quantization: String,
    /// Training context length.
    pub context_length: Option<u32>,
    /// Experts per MoE layer (0 for dense models).
    pub n_expert: u32,
    /// Experts used per token.
    pub n_expert_used: u32,
    /// The embedded Jinja chat template, if any.
    #[serde(skip)]
    pub chat_template: Option<String>,
    /// The template plugin the model is expected to get (confirmed when it loads).
    pub template: TemplateChoice,
    /// Whether it generates text and whether it is an embedding model (Ollama's
    /// `capabilities`), from its header.
    pub purpose: ModelPurpose,
    /// A short stable identifier of the file (path, size and modification time hashed).
    pub digest: String,
}

/// A model file that could not be offered, and why.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogSkip {
    /// The name it would have had.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// The models offered, in the order given.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    /// Usable models.
    pub models: Vec<CatalogEntry>,
    /// Files passed over.
    pub skipped: Vec<CatalogSkip>,
}

impl Catalog {
    /// Reads the GGUF header of every `(name, path)` and predicts its template. Blocking (file
    /// reads): call at startup or from `spawn_blocking`. Files that fail the GGUF checks are
    /// listed in [`Catalog::skipped`] with the reason.
    pub fn build(
        models: impl IntoIterator<Item = (String, PathBuf)>,
        registry: &PluginRegistry,
        operator_templates: &std::collections::BTreeMap<String, String>,
    ) -> Catalog {
        let templates = Templates::new(registry, operator_templates.clone());
        let mut catalog = Catalog::default();
        for (name, path) in models {
            if catalog.models.iter().any(|m| m.name == name) {
                continue;
            }
            match GgufFile::open(&path) {
                Ok(gguf) => {
                    let meta = std::fs::metadata(&path).ok();
                    // A split model's size is that of all its shards.
                    let size_bytes = shimmy_core::discovery::model_size(&path)
                        .unwrap_or_else(|_| meta.as_ref().map_or(gguf.file_size, |m| m.len()));
                    let modified = meta.and_then(|m| m.modified().ok());
                    let template = templates.predict(&name, &gguf);
                    catalog.models.push(CatalogEntry {
                        digest: digest(&path, size_bytes, modified),
                        architecture: gguf.architecture().to_string(),
                        parameters: gguf.parameter_count(),
                        quantization: gguf.file_type_name(),
                        context_length: gguf.context_length(),
                        n_expert: gguf.expert_count(),
                        n_expert_used: gguf.expert_used_count(),
                        chat_template: gguf.chat_template().map(str::to_string),
                        purpose: ModelPurpose::of(&gguf),
                        name,
                        path,
                        size_bytes,
                        modified,
                        template,
                    });
                }
                Err(e) => catalog.skipped.push(CatalogSkip {
                    name,
                    path,
                    reason: e.to_string(),
                }),
            }
        }
        catalog
    }

    /// The entry called `name` (exact, then ignoring case, then `name:latest`).
    pub fn find(&self, name: &str) -> Option<&CatalogEntry> {
        let folded = name.to_lowercase();
        self.models
            .iter()
            .find(|m| m.name == name)
            .or_else(|| self.models.iter().find(|m| m.name.to_lowercase() == folded))
            .or_else(|| {
                let latest = format!("{folded}:latest");
                self.models.iter().find(|m| m.name.to_lowercase() == latest)
            })
            .or_else(|| {
                // Ollama clients often add ":latest" to names that have no tag.
                let bare = folded.strip_suffix(":latest")?;
                self.models.iter().find(|m| m.name.to_lowercase() == bare)
            })
    }

    /// The model names, comma separated (for messages).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

/// FNV-1a over the path, size and modification time: stable while the file is unchanged.
fn digest(path: &std::path::Path, size: u64, modified: Option<SystemTime>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(path.to_string_lossy().as_bytes());
    feed(&size.to_le_bytes());
    let nanos = modified
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    feed(&nanos.to_le_bytes());
    format!("{h:016x}")
}

/// Parameters in the style Ollama shows them: `7.6B`, `135M`, `12K`.
pub fn parameter_size(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1}B", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.0}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.0}K", n / 1e3)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_sizes_read_like_ollamas() {
        assert_eq!(parameter_size(7_615_616_512), "7.6B");
        assert_eq!(parameter_size(135_000_000), "135M");
        assert_eq!(parameter_size(1_234), "1K");
        assert_eq!(parameter_size(12), "12");
    }

    #[test]
    fn digest_is_stable() {
        let p = std::path::Path::new("/x/y.gguf");
        assert_eq!(digest(p, 1, None), digest(p, 1, None));
        assert_ne!(digest(p, 1, None), digest(p, 2, None));
    }
}
