//! Ollama's model store: `manifests/<registry>/<namespace>/<model>/<tag>` JSON manifests whose
//! model layer names a GGUF blob in `blobs/sha256-<hex>`.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::collect::Collector;
use super::walk::{read_dir_sorted, sniff_reason};
use super::{LocationOutcome, Source};
use crate::gguf;

/// The media type of the layer that holds the GGUF weights.
pub const MODEL_MEDIA_TYPE: &str = "application/vnd.ollama.image.model";
/// Ollama's default registry.
const DEFAULT_REGISTRY: &str = "registry.ollama.ai";
/// Ollama's namespace of official models.
const LIBRARY_NAMESPACE: &str = "library";
/// Manifests are a few hundred bytes; anything much bigger is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

#[derive(Deserialize)]
struct Manifest {
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
}

/// Searches the Ollama store at `root`.
pub(super) fn scan(c: &mut Collector, root: &Path) {
    let index = c.begin_location(root, Source::Ollama);
    let outcome = match fs::metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => LocationOutcome::Missing,
        Err(e) => LocationOutcome::Unreadable(e.to_string()),
        Ok(_) => match read_dir_sorted(&root.join("manifests")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => LocationOutcome::Found(0),
            Err(e) => LocationOutcome::Unreadable(e.to_string()),
            Ok(registries) => {
                let mut found = 0;
                for manifest in manifests(c, registries) {
                    found += usize::from(add_manifest(c, root, &manifest));
                }
                LocationOutcome::Found(found)
            }
        },
    };
    c.finish_location(index, outcome);
}

/// The manifest files three directory levels below the registries (registry / namespace /
/// model / tag); unreadable directories are recorded and passed over.
fn manifests(c: &mut Collector, registries: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut level = registries;
    for _ in 0..3 {
        let mut next = Vec::new();
        for dir in level.into_iter().filter(|p| is_visible_dir(p)) {
            match read_dir_sorted(&dir) {
                Ok(children) => next.extend(children),
                Err(e) => c.unreadable(&dir, Source::Ollama, &e),
            }
        }
        level = next;
    }
    level
        .into_iter()
        .filter(|p| p.is_file() && !is_hidden(p))
        .collect()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn is_visible_dir(path: &Path) -> bool {
    path.is_dir() && !is_hidden(path)
}

/// The name Ollama shows for the manifest at `registry/namespace/model/tag`.
pub(super) fn model_name(registry: &str, namespace: &str, model: &str, tag: &str) -> String {
    if registry == DEFAULT_REGISTRY && namespace == LIBRARY_NAMESPACE {
        format!("{model}:{tag}")
    } else if registry == DEFAULT_REGISTRY {
        format!("{namespace}/{model}:{tag}")
    } else {
        format!("{registry}/{namespace}/{model}:{tag}")
    }
}

/// The last four components of `manifest` (registry, namespace, model, tag).
fn name_parts(manifest: &Path) -> Option<[String; 4]> {
    let mut parts = manifest
        .components()
        .rev()
        .take(4)
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let tag = parts.next()?;
    let model = parts.next()?;
    let namespace = parts.next()?;
    let registry = parts.next()?;
    Some([registry, namespace, model, tag])
}

/// The blob file of a `sha256:<hex>` digest, or why the digest is unusable.
fn blob_path(root: &Path, digest: &str) -> Result<PathBuf, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            format!("broken manifest: the model layer's digest {digest:?} is not sha256:<hex>")
        })?;
    Ok(root.join("blobs").join(format!("sha256-{hex}")))
}

fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot read the manifest: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the manifest: {e}"))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err("broken manifest: larger than 1 MiB, not an Ollama manifest".into());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("broken manifest: {e}"))
}

/// Lists the model of one manifest, or records why not. Returns whether it is a model.
fn add_manifest(c: &mut Collector, root: &Path, manifest_path: &Path) -> bool {
    let outcome = read_manifest(manifest_path).and_then(|manifest| {
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == MODEL_MEDIA_TYPE)
            .ok_or_else(|| {
                format!("manifest has no model layer (media type {MODEL_MEDIA_TYPE})")
            })?;
        blob_path(root, &layer.digest)
    });
    let blob = match outcome {
        Ok(blob) => blob,
        Err(reason) => {
            c.skip(manifest_path, reason);
            return false;
        }
    };
    let Some([registry, namespace, model, tag]) = name_parts(manifest_path) else {
        return false;
    };
    let name = model_name(&registry, &namespace, &model, &tag);
    let size = match fs::metadata(&blob) {
        Ok(meta) => meta.len(),
        Err(e) => {
            let reason = if e.kind() == io::ErrorKind::NotFound {
                format!(
                    "the model blob {} of {name} is missing; run `ollama pull {name}` again",
                    blob.display()
                )
            } else {
                format!(
                    "cannot read the model blob {} of {name}: {e}",
                    blob.display()
                )
            };
            c.skip(manifest_path, reason);
            return false;
        }
    };
    if let Err(e) = gguf::sniff(&blob) {
        c.skip(
            &blob,
            format!("{} (the model blob of {name})", sniff_reason(&e)),
        );
        return false;
    }
    c.add_model(&name, &blob, size, Source::Ollama);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            model_name("registry.ollama.ai", "library", "llama3.2", "latest"),
            "llama3.2:latest"
        );
        assert_eq!(
            model_name("registry.ollama.ai", "jane", "tiny", "q4"),
            "jane/tiny:q4"
        );
        assert_eq!(
            model_name("hf.co", "bartowski", "Qwen3-GGUF", "Q4_K_M"),
            "hf.co/bartowski/Qwen3-GGUF:Q4_K_M"
        );
    }

    #[test]
    fn digests() {
        let root = Path::new("/o");
        assert_eq!(
            blob_path(root, "sha256:abc123").unwrap(),
            PathBuf::from("/o/blobs/sha256-abc123")
        );
        assert!(blob_path(root, "sha256:../../etc/passwd").is_err());
        assert!(blob_path(root, "md5:abc").is_err());
        assert!(blob_path(root, "sha256:").is_err());
    }
}
