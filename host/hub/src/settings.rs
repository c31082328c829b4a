//! Where the hub is and where its files go, from the environment as `huggingface_hub` reads
//! it: `HF_ENDPOINT`, `HF_TOKEN` (or the token file `huggingface-cli login` writes),
//! `HF_HUB_CACHE` / `HF_HOME` / `XDG_CACHE_HOME`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use shimmy_core::discovery::{env_value, hf_home, hf_hub_cache};

/// The public hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What a pull needs to know besides the model.
#[derive(Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The hub's base URL, without a trailing `/` (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The access token sent as `Authorization: Bearer` to the hub (never to a redirect
    /// target on another host).
    pub token: Option<String>,
    /// The hub cache (`HF_HUB_CACHE`).
    pub cache: PathBuf,
}

impl std::fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSettings")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("cache", &self.cache)
            .finish()
    }
}

impl HubSettings {
    /// Reads the process environment; `None` when no cache folder can be found (no `HOME`
    /// and none of the variables set).
    pub fn from_env() -> Option<HubSettings> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        HubSettings::from_lookup(&cwd, home.as_deref(), |k| std::env::var_os(k))
    }

    /// Like [`HubSettings::from_env`] with the variables read through `lookup`.
    pub fn from_lookup(
        cwd: &Path,
        home: Option<&Path>,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Option<HubSettings> {
        let var = |key: &str| env_value(&lookup, key);
        let cache = hf_hub_cache(cwd, home, &lookup)?;
        let endpoint = var("HF_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string();
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .or_else(|| hf_home(cwd, home, &lookup).map(|h| h.join("token")))?;
                let text = std::fs::read_to_string(path).ok()?;
                let token = text.trim().to_string();
                (!token.is_empty()).then_some(token)
            });
        Some(HubSettings {
            endpoint,
            token,
            cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_huggingface_hub_reads() {
        let dir = tempfile::tempdir().unwrap();
        let hf = dir.path().join("hf");
        std::fs::create_dir_all(&hf).unwrap();
        std::fs::write(hf.join("token"), "hf_file\n").unwrap();
        let hf_s = hf.to_str().unwrap().to_string();
        let s = HubSettings::from_lookup(dir.path(), None, |k| match k {
            "HF_HOME" => Some(hf_s.clone().into()),
            "HF_ENDPOINT" => Some("http://127.0.0.1:9/".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert_eq!(s.token.as_deref(), Some("hf_file"));
        assert_eq!(s.cache, hf.join("hub"));
        assert!(
            !format!("{s:?}").contains("hf_file"),
            "the token is not printed"
        );

        let s = HubSettings::from_lookup(dir.path(), Some(dir.path()), |k| match k {
            "HF_HOME" => Some(hf_s.clone().into()),
            "HF_TOKEN" => Some("hf_env".into()),
            "HF_HUB_CACHE" => Some("/c".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.token.as_deref(), s.cache.as_path()),
            (DEFAULT_ENDPOINT, Some("hf_env"), Path::new("/c"))
        );
        assert!(HubSettings::from_lookup(dir.path(), None, |_| None).is_none());
    }
}
