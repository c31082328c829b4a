//! Which files of a repository a reference means: GGUF models (a split model is one model:
//! all its `-0000k-of-0000n` shards), picked by file name or quantization.

use std::collections::BTreeMap;

use shimmy_core::discovery::parse_shard;

use crate::error::{HubError, Result};
use crate::reference::Selector;

/// The quantization llama.cpp and Ollama pick when none is named.
pub const DEFAULT_QUANT: &str = "Q4_K_M";

/// One model in a repository: a file, or the shards of a split model in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufModel {
    /// Repository paths; the first is the file llama.cpp loads.
    pub files: Vec<String>,
}

impl GgufModel {
    /// The file llama.cpp loads.
    pub fn first(&self) -> &str {
        &self.files[0]
    }

    /// The file name of the first file (without folders), shard suffix removed.
    fn display_name(&self) -> String {
        let name = file_name(self.first());
        match parse_shard(name) {
            Some(s) => format!("{}-*-of-{:05}.gguf", s.prefix, s.total),
            None => name.to_string(),
        }
    }

    /// The stem to match quantizations against: the file name without `.gguf` and shard
    /// suffix, lower-cased.
    fn stem(&self) -> String {
        let name = file_name(self.first());
        let stem = match parse_shard(name) {
            Some(s) => s.prefix.to_string(),
            None => name[..name.len() - ".gguf".len()].to_string(),
        };
        stem.to_ascii_lowercase()
    }

    /// Whether this model is the quantization `quant` (e.g. `q4_k_m` in
    /// `Llama-3.2-1B-Instruct-Q4_K_M.gguf`, not in `...-IQ4_K_M` or `...-Q4_K_M_L`).
    pub fn is_quant(&self, quant: &str) -> bool {
        let q = quant.to_ascii_lowercase();
        let folder_match = self
            .first()
            .split('/')
            .rev()
            .skip(1)
            .any(|d| d.eq_ignore_ascii_case(&q));
        folder_match || contains_token(&self.stem(), &q)
    }

    /// The quantization named in the file, if one is recognisable (for listings).
    pub fn quant(&self) -> Option<String> {
        let stem = self.stem();
        KNOWN_QUANTS
            .iter()
            .filter(|q| contains_token(&stem, &q.to_ascii_lowercase()))
            .max_by_key(|q| q.len())
            .map(|q| q.to_string())
    }
}

/// Quantization names llama.cpp writes (longest match wins: `Q4_K_M` over `Q4_K`).
const KNOWN_QUANTS: &[&str] = &[
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_K", "Q5_1", "Q5_0", "Q4_K_M",
    "Q4_K_S", "Q4_K", "Q4_1", "Q4_0", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q3_K_XL", "Q3_K_L",
    "Q3_K_M", "Q3_K_S", "Q2_K", "Q2_K_L", "Q2_K_S", "IQ4_NL", "IQ4_XS", "IQ3_M", "IQ3_S", "IQ3_XS",
    "IQ3_XXS", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S", "TQ1_0", "TQ2_0", "MXFP4",
];

/// `needle` in `hay` with a non-alphanumeric character (or the edge) before it and `-`, `.`
/// or the end after it.
fn contains_token(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let before_ok = hay[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        let after_ok = hay[end..]
            .chars()
            .next()
            .is_none_or(|c| c == '-' || c == '.');
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
    }
    false
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_gguf(path: &str) -> bool {
    let name = file_name(path).to_ascii_lowercase();
    name.ends_with(".gguf") && !name.contains("mmproj")
}

/// The GGUF models among `files` (repository paths), split shards grouped. A split model
/// with shards missing from the listing is reported, not returned.
pub fn models(repo: &str, files: &[String]) -> Result<Vec<GgufModel>> {
    let mut singles = Vec::new();
    // (folder, prefix, total) -> index -> path
    let mut splits: BTreeMap<(String, String, u32), BTreeMap<u32, String>> = BTreeMap::new();
    for path in files.iter().filter(|p| is_gguf(p)) {
        let name = file_name(path);
        let folder = path[..path.len() - name.len()].to_string();
        match parse_shard(name) {
            Some(s) if s.index >= 1 && s.index <= s.total => {
                splits
                    .entry((folder, s.prefix.to_string(), s.total))
                    .or_default()
                    .insert(s.index, path.clone());
            }
            _ => singles.push(GgufModel {
                files: vec![path.clone()],
            }),
        }
    }
    let mut out = singles;
    for ((folder, prefix, total), shards) in splits {
        if shards.len() as u32 != total {
            let missing: Vec<String> = (1..=total)
                .filter(|k| !shards.contains_key(k))
                .map(|k| format!("{folder}{prefix}-{k:05}-of-{total:05}.gguf"))
                .collect();
            if !shards.contains_key(&1) {
                continue; // stray later shards: nothing to load
            }
            return Err(HubError::IncompleteSplit {
                repo: repo.to_string(),
                first: shards[&1].clone(),
                missing: missing.join(", "),
            });
        }
        out.push(GgufModel {
            files: shards.into_values().collect(),
        });
    }
    out.sort_by(|a, b| a.first().cmp(b.first()));
    Ok(out)
}

/// Picks the model `selector` means among `files`.
pub fn select(repo: &str, files: &[String], selector: &Selector) -> Result<GgufModel> {
    let all = models(repo, files)?;
    let listing = |models: &[GgufModel]| {
        models
            .iter()
            .map(|m| match m.quant() {
                Some(q) => format!("{q} ({})", m.display_name()),
                None => m.display_name(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if all.is_empty() {
        return Err(HubError::NoGguf {
            repo: repo.to_string(),
        });
    }
    match selector {
        Selector::File(path) => {
            if let Some(m) = all.iter().find(|m| m.files.iter().any(|f| f == path)) {
                return Ok(m.clone());
            }
            Err(HubError::FileNotFound {
                repo: repo.to_string(),
                file: path.clone(),
                available: all
                    .iter()
                    .map(|m| m.first().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
        Selector::Quant(q) => {
            let matching: Vec<GgufModel> = all.iter().filter(|m| m.is_quant(q)).cloned().collect();
            match matching.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(HubError::QuantNotFound {
                    repo: repo.to_string(),
                    quant: q.clone(),
                    available: listing(&all),
                }),
                many => Err(HubError::Ambiguous {
                    repo: repo.to_string(),
                    what: format!(" for {q}"),
                    candidates: many
                        .iter()
                        .map(|m| m.first().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
        Selector::Default => {
            if let [one] = all.as_slice() {
                return Ok(one.clone());
            }
            let preferred: Vec<&GgufModel> =
                all.iter().filter(|m| m.is_quant(DEFAULT_QUANT)).collect();
            if let [one] = preferred.as_slice() {
                return Ok((*one).clone());
            }
            Err(HubError::Ambiguous {
                repo: repo.to_string(),
                what: String::new(),
                candidates: listing(&all),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    const REPO: &[&str] = &[
        "README.md",
        "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        "Llama-3.2-1B-Instruct-Q4_K_S.gguf",
        "Llama-3.2-1B-Instruct-IQ4_XS.gguf",
        "Llama-3.2-1B-Instruct-Q8_0.gguf",
        "mmproj-f16.gguf",
        "big/Llama-Q6_K-00001-of-00002.gguf",
        "big/Llama-Q6_K-00002-of-00002.gguf",
    ];

    #[test]
    fn picks_by_quant_file_or_default() {
        let f = files(REPO);
        let pick = |s: Selector| select("o/r", &f, &s).map(|m| m.files);
        assert_eq!(
            pick(Selector::Quant("q4_k_m".into())).unwrap(),
            ["Llama-3.2-1B-Instruct-Q4_K_M.gguf"]
        );
        assert_eq!(
            pick(Selector::Quant("IQ4_XS".into())).unwrap(),
            ["Llama-3.2-1B-Instruct-IQ4_XS.gguf"]
        );
        assert_eq!(
            pick(Selector::Quant("Q6_K".into())).unwrap(),
            [
                "big/Llama-Q6_K-00001-of-00002.gguf",
                "big/Llama-Q6_K-00002-of-00002.gguf"
            ]
        );
        assert_eq!(
            pick(Selector::Default).unwrap(),
            ["Llama-3.2-1B-Instruct-Q4_K_M.gguf"]
        );
        assert_eq!(
            pick(Selector::File("big/Llama-Q6_K-00002-of-00002.gguf".into()))
                .unwrap()
                .len(),
            2,
            "a shard named means its whole model"
        );
    }

    #[test]
    fn unknown_quant_lists_what_exists() {
        let e = select("o/r", &files(REPO), &Selector::Quant("Q3_K_M".into()))
            .unwrap_err()
            .to_string();
        for want in [
            "Q3_K_M",
            "Q4_K_M (Llama-3.2-1B-Instruct-Q4_K_M.gguf)",
            "IQ4_XS",
            "Q8_0",
            "Q6_K (Llama-Q6_K-*-of-00002.gguf)",
        ] {
            assert!(e.contains(want), "{want} missing: {e}");
        }
        assert!(!e.contains("mmproj"), "{e}");
        let e = select("o/r", &files(REPO), &Selector::File("x.gguf".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no file x.gguf"), "{e}");
    }

    #[test]
    fn ambiguity_and_absence_are_errors() {
        let two = files(&["a-Q8_0.gguf", "b-Q8_0.gguf"]);
        let e = select("o/r", &two, &Selector::Quant("Q8_0".into())).unwrap_err();
        assert!(matches!(e, HubError::Ambiguous { .. }), "{e}");
        let e = select("o/r", &two, &Selector::Default).unwrap_err();
        assert!(matches!(e, HubError::Ambiguous { .. }), "{e}");
        let e = select("o/r", &files(&["model.safetensors"]), &Selector::Default).unwrap_err();
        assert!(matches!(e, HubError::NoGguf { .. }), "{e}");
        let e = select(
            "o/r",
            &files(&["m-00001-of-00003.gguf", "m-00003-of-00003.gguf"]),
            &Selector::Default,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("m-00002-of-00003.gguf missing"), "{e}");
    }

    #[test]
    fn quant_tokens_need_boundaries() {
        assert!(contains_token("llama-q4_k_m", "q4_k_m"));
        assert!(contains_token("llama.q4_k_m", "q4_k_m"));
        assert!(!contains_token("llama-iq4_k_m", "q4_k_m"));
        assert!(!contains_token("llama-q4_k_m", "q4_k"));
        assert!(contains_token("q8_0-llama", "q8_0"));
    }
}
