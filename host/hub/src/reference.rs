//! Model references: `ORG/NAME`, `ORG/NAME:QUANT`, `ORG/NAME/PATH/FILE.gguf`, with an
//! optional `hf.co/` (or `huggingface.co/`, `https://huggingface.co/`) in front as Ollama
//! writes them, and an optional `@REVISION` after the repository.

use std::fmt;

use crate::error::{HubError, Result};

/// Which file(s) of a repository a reference means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Nothing said: the only GGUF model of the repository, else its `Q4_K_M`.
    Default,
    /// A quantization such as `Q4_K_M` (matched case-insensitively against file names).
    Quant(String),
    /// A path inside the repository, e.g. `Qwen3-0.6B-Q8_0.gguf`.
    File(String),
}

/// A parsed model reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// `org/name`.
    pub repo: String,
    /// Branch, tag or commit (default `main`).
    pub revision: String,
    /// Which file(s).
    pub selector: Selector,
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repo)?;
        if self.revision != crate::DEFAULT_REVISION {
            write!(f, "@{}", self.revision)?;
        }
        match &self.selector {
            Selector::Default => Ok(()),
            Selector::Quant(q) => write!(f, ":{q}"),
            Selector::File(p) => write!(f, "/{p}"),
        }
    }
}

impl ModelRef {
    /// Parses a reference (see the module documentation).
    pub fn parse(reference: &str) -> Result<ModelRef> {
        let bad = |reason: &str| HubError::BadReference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let mut rest = reference.trim();
        for prefix in HUB_PREFIXES {
            if rest.len() >= prefix.len()
                && rest.is_char_boundary(prefix.len())
                && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
            {
                rest = &rest[prefix.len()..];
                break;
            }
        }
        if rest.is_empty() {
            return Err(bad("give ORG/NAME, ORG/NAME:QUANT or ORG/NAME/FILE.gguf"));
        }
        let mut parts = rest.splitn(3, '/');
        let org = parts.next().unwrap_or_default();
        let Some(name_part) = parts.next() else {
            return Err(bad(
                "shimmy-host pulls GGUF files from Hugging Face: give ORG/NAME[:QUANT] \
                 (e.g. bartowski/Qwen_Qwen3-0.6B-GGUF:Q4_K_M), not an Ollama library name",
            ));
        };
        let path = parts.next();
        // `name@rev:quant`, `name:quant`, `name@rev`
        let (name_rev, quant) = match (path, name_part.split_once(':')) {
            (None, Some((n, q))) => (n, Some(q)),
            _ => (name_part, None),
        };
        let (name, revision) = match name_rev.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (name_rev, None),
        };
        for (what, part) in [("organisation", org), ("name", name)] {
            if !valid_segment(part) {
                return Err(bad(&format!(
                    "the {what} \"{part}\" may hold only letters, digits, '-', '_' and '.' \
                     (not starting with '-' or '.', no \"--\" or \"..\")"
                )));
            }
        }
        let revision = match revision {
            None => crate::DEFAULT_REVISION.to_string(),
            Some(r) if valid_revision(r) => r.to_string(),
            Some(r) => return Err(bad(&format!("\"{r}\" is not a branch, tag or commit"))),
        };
        let selector = match (path, quant) {
            (Some(p), _) => {
                if !valid_path(p) {
                    return Err(bad(&format!(
                        "\"{p}\" is not a file path inside a repository"
                    )));
                }
                Selector::File(p.to_string())
            }
            (None, Some(q)) if q.is_empty() || q.eq_ignore_ascii_case("latest") => {
                Selector::Default
            }
            (None, Some(q)) => {
                if !q
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
                {
                    return Err(bad(&format!("\"{q}\" is not a quantization (e.g. Q4_K_M)")));
                }
                Selector::Quant(q.to_string())
            }
            (None, None) => Selector::Default,
        };
        Ok(ModelRef {
            repo: format!("{org}/{name}"),
            revision,
            selector,
        })
    }

    /// Whether `text` looks like a hub reference (has an `org/name` part and is not a path
    /// on disk); names of local models never contain a `/`.
    pub fn looks_like(text: &str) -> bool {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let explicit = HUB_PREFIXES.iter().any(|p| lower.starts_with(p));
        let plain = !t.starts_with(['/', '.', '~']) && !lower.ends_with(".gguf") && t.contains('/');
        (explicit || plain) && ModelRef::parse(t).is_ok()
    }
}

/// What may stand before `org/name` (compared ignoring case).
const HUB_PREFIXES: [&str; 4] = [
    "https://huggingface.co/",
    "http://huggingface.co/",
    "huggingface.co/",
    "hf.co/",
];

/// The hub's rule for repository name parts.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 96
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with(['-', '.'])
        && !s.ends_with('.')
        && !s.contains("--")
        && !s.contains("..")
}

fn valid_revision(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 128
        && !r.contains("..")
        && !r.starts_with('/')
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// A relative path with no `..`, `.` or empty components (it becomes a path in the cache).
pub(crate) fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('\\')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ModelRef {
        ModelRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn forms() {
        let r = parse("bartowski/Qwen_Qwen3-0.6B-GGUF:Q4_K_M");
        assert_eq!(r.repo, "bartowski/Qwen_Qwen3-0.6B-GGUF");
        assert_eq!(r.revision, "main");
        assert_eq!(r.selector, Selector::Quant("Q4_K_M".into()));
        assert_eq!(r.to_string(), "bartowski/Qwen_Qwen3-0.6B-GGUF:Q4_K_M");

        let r = parse("hf.co/Qwen/Qwen3-0.6B-GGUF");
        assert_eq!(
            (r.repo.as_str(), &r.selector),
            ("Qwen/Qwen3-0.6B-GGUF", &Selector::Default)
        );
        assert_eq!(parse("HF.CO/a/b:latest").selector, Selector::Default);
        assert_eq!(
            parse("https://huggingface.co/a/b/sub/x-Q8_0.gguf").selector,
            Selector::File("sub/x-Q8_0.gguf".into())
        );
        let r = parse("a/b@v1.0:Q8_0");
        assert_eq!(
            (r.revision.as_str(), &r.selector),
            ("v1.0", &Selector::Quant("Q8_0".into()))
        );
        assert_eq!(r.to_string(), "a/b@v1.0:Q8_0");
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "",
            "llama3.2",
            "a/",
            "/b",
            "a/b/../x.gguf",
            "a/b/",
            "a/b:Q4 K",
            "a--x/b",
            "../etc/passwd",
            "a/b@..:Q4",
            "a/.b",
        ] {
            let e = ModelRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("is not a Hugging Face model"), "{bad}: {e}");
        }
        let e = ModelRef::parse("llama3.2").unwrap_err().to_string();
        assert!(e.contains("ORG/NAME"), "{e}");
    }

    #[test]
    fn what_looks_like_a_reference() {
        assert!(ModelRef::looks_like("org/name:Q4_K_M"));
        assert!(ModelRef::looks_like("hf.co/org/name"));
        assert!(ModelRef::looks_like("hf.co/org/name/f.gguf"));
        assert!(!ModelRef::looks_like("dense"));
        assert!(!ModelRef::looks_like("/models/x.gguf"));
        assert!(!ModelRef::looks_like("./x.gguf"));
        assert!(!ModelRef::looks_like("models/x.gguf"));
        assert!(!ModelRef::looks_like("llama3:latest"));
    }
}
