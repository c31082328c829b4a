//! Turning a model name or path into a file.

use std::path::{Path, PathBuf};

use super::{DiscoveredModel, DiscoveryReport};
use crate::{Error, Result};

/// Most names a "did you mean" hint lists.
const MAX_HINTS: usize = 5;

impl DiscoveryReport {
    /// The model called `name`: exact match first, then ignoring case, then (for a name
    /// without a tag) the Ollama model `name:latest`.
    pub fn find(&self, name: &str) -> Option<&DiscoveredModel> {
        let exact = |n: &str| self.models.iter().find(|m| m.name == n);
        let folded = |n: &str| {
            let n = n.to_lowercase();
            self.models.iter().find(|m| m.name.to_lowercase() == n)
        };
        exact(name).or_else(|| folded(name)).or_else(|| {
            if name.contains(':') {
                return None;
            }
            let latest = format!("{name}:latest");
            exact(&latest).or_else(|| folded(&latest))
        })
    }

    /// The file for `name_or_path`: an existing file path wins, then a model name (see
    /// [`DiscoveryReport::find`]). Otherwise [`Error::ModelNotFound`] with close names, or with
    /// the places searched when there are no models at all.
    pub fn resolve(&self, name_or_path: &str) -> Result<PathBuf> {
        let as_path = Path::new(name_or_path);
        if as_path.is_file() {
            return Ok(as_path.to_path_buf());
        }
        if let Some(model) = self.find(name_or_path) {
            return Ok(model.path.clone());
        }
        Err(Error::ModelNotFound {
            name: name_or_path.to_string(),
            hint: self.not_found_hint(name_or_path),
        })
    }

    fn not_found_hint(&self, wanted: &str) -> String {
        let mut hint = String::new();
        let as_path = Path::new(wanted);
        if as_path.is_dir() {
            hint.push_str(
                "; that path is a directory, pass a .gguf file inside it or a model name",
            );
        } else if looks_like_path(wanted) {
            hint.push_str("; no file exists at that path");
        }
        if self.models.is_empty() {
            let searched: Vec<String> = self
                .locations
                .iter()
                .map(|l| format!("{} ({})", l.path.display(), l.outcome))
                .collect();
            hint.push_str("; no models found; searched: ");
            hint.push_str(&searched.join(", "));
            hint.push_str("; put .gguf files in ./models or name directories with --model-dirs");
            return hint;
        }
        let close = close_names(self, wanted);
        if close.is_empty() {
            let names: Vec<&str> = self
                .models
                .iter()
                .take(MAX_HINTS)
                .map(|m| m.name.as_str())
                .collect();
            hint.push_str(&format!("; available: {}", names.join(", ")));
            if self.models.len() > MAX_HINTS {
                hint.push_str(&format!(" and {} more", self.models.len() - MAX_HINTS));
            }
        } else {
            hint.push_str(&format!("; did you mean: {}?", close.join(", ")));
        }
        hint
    }
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\') || s.to_ascii_lowercase().ends_with(".gguf")
}

/// Up to [`MAX_HINTS`] model names that contain `wanted`, are contained in it or share a
/// prefix of three or more characters with it, best first.
fn close_names<'a>(report: &'a DiscoveryReport, wanted: &str) -> Vec<&'a str> {
    let wanted = wanted.to_lowercase();
    let wanted = wanted.strip_suffix(".gguf").unwrap_or(&wanted);
    let mut scored: Vec<(usize, &str)> = report
        .models
        .iter()
        .filter_map(|m| {
            let name = m.name.to_lowercase();
            let prefix = name
                .chars()
                .zip(wanted.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let contains =
                !wanted.is_empty() && (name.contains(wanted) || wanted.contains(name.as_str()));
            if contains {
                Some((1000 + prefix, m.name.as_str()))
            } else if prefix >= 3 {
                Some((prefix, m.name.as_str()))
            } else {
                None
            }
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(MAX_HINTS).map(|(_, n)| n).collect()
}
