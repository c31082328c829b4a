//! Where discovery looks, from the command line and the environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The inputs of [`super::discover`]. Build it with [`DiscoveryConfig::from_env`] in the host,
/// or by hand in tests (nothing else reads the environment).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveryConfig {
    /// The working directory; `<cwd>/models` is searched.
    pub cwd: PathBuf,
    /// The home directory (Hugging Face cache, Ollama and LM Studio live under it).
    pub home: Option<PathBuf>,
    /// Extra directories (or files): `--model-dirs "a;b"` then `SHIMMY_MODEL_PATHS`.
    pub model_dirs: Vec<PathBuf>,
    /// One model file searched first (`SHIMMY_BASE_GGUF`).
    pub base_gguf: Option<PathBuf>,
    /// Ollama's model store (`OLLAMA_MODELS`); `~/.ollama/models` when unset.
    pub ollama_models: Option<PathBuf>,
    /// The Hugging Face hub cache, found as `huggingface_hub` finds it ([`hf_hub_cache`]);
    /// `None`: `~/.cache/huggingface/hub`.
    pub hf_hub_cache: Option<PathBuf>,
}

impl DiscoveryConfig {
    /// Reads the current directory and `HOME` (or `USERPROFILE`), `SHIMMY_MODEL_PATHS`,
    /// `SHIMMY_BASE_GGUF`, `OLLAMA_MODELS` and the Hugging Face cache variables
    /// ([`hf_hub_cache`]); `cli_model_dirs` is the `--model-dirs` value.
    pub fn from_env(cli_model_dirs: Option<&str>) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self::from_lookup(cwd, cli_model_dirs, |key| std::env::var_os(key))
    }

    /// Like [`DiscoveryConfig::from_env`] with the variables read through `lookup`.
    ///
    /// Lists split on `;` and `,`; blank entries are dropped; a leading `~` means the home
    /// directory; relative paths are taken from `cwd`.
    pub fn from_lookup(
        cwd: PathBuf,
        cli_model_dirs: Option<&str>,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Self {
        let var = |key: &str| env_value(&lookup, key);
        let home = var("HOME")
            .or_else(|| var("USERPROFILE"))
            .map(PathBuf::from);
        let fix = |p: &str| absolute(&cwd, home.as_deref(), p);
        let mut model_dirs: Vec<PathBuf> = Vec::new();
        for list in [
            cli_model_dirs.map(str::to_string),
            var("SHIMMY_MODEL_PATHS"),
        ]
        .into_iter()
        .flatten()
        {
            for entry in split_path_list(&list) {
                let path = fix(&entry);
                if !model_dirs.contains(&path) {
                    model_dirs.push(path);
                }
            }
        }
        let base_gguf = var("SHIMMY_BASE_GGUF").map(|p| fix(&p));
        let ollama_models = var("OLLAMA_MODELS").map(|p| fix(&p));
        let hf_hub_cache = hf_hub_cache(&cwd, home.as_deref(), &lookup);
        DiscoveryConfig {
            cwd: cwd.clone(),
            home,
            model_dirs,
            base_gguf,
            ollama_models,
            hf_hub_cache,
        }
    }

    /// The Hugging Face hub cache this configuration searches.
    pub fn hub_cache(&self) -> Option<PathBuf> {
        self.hf_hub_cache.clone().or_else(|| {
            self.home
                .as_ref()
                .map(|h| h.join(".cache").join("huggingface").join("hub"))
        })
    }
}

/// `HF_HOME` as `huggingface_hub` computes it: `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`,
/// else `~/.cache/huggingface` (`None` without a home directory).
pub fn hf_home(
    cwd: &Path,
    home: Option<&Path>,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Option<PathBuf> {
    let var = |key: &str| env_value(&lookup, key);
    if let Some(h) = var("HF_HOME") {
        return Some(absolute(cwd, home, &h));
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        return Some(absolute(cwd, home, &x).join("huggingface"));
    }
    home.map(|h| h.join(".cache").join("huggingface"))
}

/// The hub cache as `huggingface_hub` computes it: `$HF_HUB_CACHE`, else the legacy
/// `$HUGGINGFACE_HUB_CACHE`, else [`hf_home`]`/hub`.
pub fn hf_hub_cache(
    cwd: &Path,
    home: Option<&Path>,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Option<PathBuf> {
    for key in ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"] {
        if let Some(v) = env_value(&lookup, key) {
            return Some(absolute(cwd, home, &v));
        }
    }
    hf_home(cwd, home, lookup).map(|h| h.join("hub"))
}

/// The variable `key` through `lookup`, trimmed; `None` when unset or blank.
pub fn env_value(lookup: impl Fn(&str) -> Option<OsString>, key: &str) -> Option<String> {
    lookup(key)
        .map(|v| v.to_string_lossy().trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Splits a path list on `;` and `,`, trimming entries and dropping blank ones.
pub fn split_path_list(list: &str) -> Vec<String> {
    list.split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Expands a leading `~` and makes `p` absolute against `cwd`.
fn absolute(cwd: &Path, home: Option<&Path>, p: &str) -> PathBuf {
    let expanded = match (home, p.strip_prefix('~')) {
        (Some(home), Some("")) => home.to_path_buf(),
        (Some(home), Some(rest)) if rest.starts_with(['/', '\\']) => home.join(&rest[1..]),
        _ => PathBuf::from(p),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        cwd.join(expanded)
    }
}
