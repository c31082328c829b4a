//! Embeddings: what a model's file says about them ([`ModelPurpose`]) and the contract between
//! the engine and a backend's embedder ([`Embedder`]).
//!
//! An embedding is one vector per input: the model runs over the input's tokens (with the
//! attention it was trained with, causal or not) and its last hidden states are pooled into
//! one vector ([`Pooling`]: their mean, the first token's, the last token's), then scaled to
//! unit length ([`normalize`]). The pooling comes from the file (`<arch>.pooling_type`, as
//! llama.cpp reads it); decoder models, whose files name none, are pooled by their mean.
//!
//! [`crate::backend::LoadedModel::embedder`] starts an [`Embedder`] for a loaded model: its
//! own inference context with embeddings on, beside the generation scheduler, driven by its
//! own thread. [`Embedder::submit`] checks and queues token sequences and returns at once;
//! the vectors go to the request's [`EmbeddingSink`], called on the embedder's thread.

use serde::Serialize;

use crate::gguf::{GgufFile, GgufValue};
use crate::{Error, Result};

/// Architectures llama.cpp runs as encoders only (no causal decoding, no language-model head):
/// they embed and never generate, whatever else their file says.
pub const ENCODER_ARCHITECTURES: &[&str] = &[
    "bert",
    "nomic-bert",
    "nomic-bert-moe",
    "jina-bert-v2",
    "jina-bert-v3",
    "modern-bert",
    "neo-bert",
    "eurobert",
    "t5encoder",
];

/// How the hidden states of an input's tokens become one vector (llama.cpp's
/// `llama_pooling_type`, without `none` and `rank`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The mean over every token (`LLAMA_POOLING_TYPE_MEAN`, 1).
    Mean,
    /// The first token's (`[CLS]`; `LLAMA_POOLING_TYPE_CLS`, 2).
    Cls,
    /// The last token's (`LLAMA_POOLING_TYPE_LAST`, 3).
    Last,
}

impl Pooling {
    /// `mean`, `cls` or `last`.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        }
    }
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `<arch>.pooling_type` of llama.cpp's rerankers (`LLAMA_POOLING_TYPE_RANK`): a score per
/// pair of texts, not an embedding.
const POOLING_RANK: u64 = 4;

/// What a model is for, as its GGUF header says (Ollama's `capabilities` `completion` and
/// `embedding` come from the same keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModelPurpose {
    /// It generates text: a causal decoder whose file names no pooling type (a file that
    /// names one is a dedicated embedding or reranking model, as Ollama reads it).
    pub generates: bool,
    /// It is a dedicated embedding model: its file names a pooling type
    /// (`<arch>.pooling_type` other than `none`) that gives embeddings.
    pub embedding_model: bool,
    /// How its embeddings are pooled: the file's pooling type, mean when it names none;
    /// `None` when it cannot embed (a reranker, whose `rank` pooling gives a score).
    pub pooling: Option<Pooling>,
}

impl Default for ModelPurpose {
    /// A decoder that generates and embeds by mean pooling.
    fn default() -> Self {
        ModelPurpose {
            generates: true,
            embedding_model: false,
            pooling: Some(Pooling::Mean),
        }
    }
}

impl ModelPurpose {
    /// Reads `<arch>.pooling_type`, `<arch>.attention.causal` and the architecture of `gguf`.
    pub fn of(gguf: &GgufFile) -> Self {
        let arch = gguf.architecture();
        let declared = gguf.arch_u64("pooling_type").filter(|&p| p != 0);
        let causal = !matches!(
            gguf.get(&format!("{arch}.attention.causal")),
            Some(GgufValue::Bool(false))
        );
        let encoder = ENCODER_ARCHITECTURES.contains(&arch);
        let pooling = match declared {
            None | Some(1) => Some(Pooling::Mean),
            Some(2) => Some(Pooling::Cls),
            Some(3) => Some(Pooling::Last),
            // Rank, or a value the GGUF checks refuse before a load.
            Some(_) => None,
        };
        ModelPurpose {
            generates: declared.is_none() && causal && !encoder,
            embedding_model: declared.is_some_and(|p| p != POOLING_RANK) && pooling.is_some(),
            pooling,
        }
    }
}

/// Sequences of token ids to embed, one vector each. Every sequence is non-empty and within
/// [`EmbedderInfo::max_tokens`] (the engine tokenizes, truncates and checks).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmbedRequest {
    /// The token ids of each input, special tokens (BOS, `[CLS]`/`[SEP]`) included.
    pub inputs: Vec<Vec<u32>>,
}

impl EmbedRequest {
    /// The tokens of all inputs together.
    pub fn total_tokens(&self) -> usize {
        self.inputs.iter().map(Vec::len).sum()
    }
}

/// What a running embedder produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbedderInfo {
    /// Values per vector (the model's output width).
    pub dimensions: usize,
    /// Most tokens one input may have (the embedding context).
    pub max_tokens: usize,
    /// How vectors are pooled.
    pub pooling: Pooling,
}

/// How an embedder is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedOptions {
    /// A name for logs and errors (the model name).
    pub name: String,
    /// Requests allowed to wait; one more is refused with [`Error::QueueFull`].
    pub max_queue: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            name: "model".into(),
            max_queue: 64,
        }
    }
}

/// Where a request's vectors go. Called only from the embedder's thread.
pub trait EmbeddingSink: Send {
    /// `true` when nobody waits for the vectors any more (the client went away); the request
    /// is then dropped before its next batch.
    fn is_cancelled(&self) -> bool;
    /// Called exactly once, last: one unit vector per input, in input order, or the error.
    fn finish(&mut self, outcome: Result<Vec<Vec<f32>>>);
}

/// A running embedder for one model.
pub trait Embedder: Send + Sync {
    /// What it produces.
    fn info(&self) -> EmbedderInfo;
    /// Checks and queues `request`. Errors returned here (it never ran): an empty request or
    /// input, an input longer than [`EmbedderInfo::max_tokens`] (both
    /// [`Error::InvalidOption`]), [`Error::QueueFull`], [`Error::Unloaded`]. Otherwise the
    /// sink gets exactly one `finish`.
    fn submit(&self, request: EmbedRequest, sink: Box<dyn EmbeddingSink>) -> Result<()>;
    /// Stops the thread after failing queued requests with [`Error::Unloaded`]; later
    /// submits fail the same way. Idempotent.
    fn shutdown(&self);
}

/// Scales `v` to unit (L2) length in place. A vector of zeros stays zero; a vector with a NaN
/// or an infinity is an error (the model's weights or input broke the computation).
pub fn normalize(v: &mut [f32]) -> Result<()> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(Error::Inference(
            "the embedding has NaN or infinite values".into(),
        ));
    }
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufFile;

    /// A GGUF header with `kv` and no tensors.
    fn gguf(arch: &str, kv: &[(&str, GgufValue)]) -> GgufFile {
        let mut bytes = Vec::new();
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        bytes.extend(b"GGUF");
        bytes.extend(3u32.to_le_bytes());
        bytes.extend(0u64.to_le_bytes());
        bytes.extend(((kv.len() + 1) as u64).to_le_bytes());
        put_str(&mut bytes, "general.architecture");
        bytes.extend(8u32.to_le_bytes());
        put_str(&mut bytes, arch);
        for (key, value) in kv {
            put_str(&mut bytes, &format!("{arch}.{key}"));
            match value {
                GgufValue::U32(n) => {
                    bytes.extend(4u32.to_le_bytes());
                    bytes.extend(n.to_le_bytes());
                }
                GgufValue::Bool(b) => {
                    bytes.extend(7u32.to_le_bytes());
                    bytes.push(u8::from(*b));
                }
                other => panic!("not used here: {other:?}"),
            }
        }
        GgufFile::from_bytes(&bytes, "test.gguf").expect("a valid header")
    }

    #[test]
    fn purpose_follows_the_pooling_type_and_the_attention() {
        let decoder = ModelPurpose::of(&gguf("llama", &[]));
        assert_eq!(decoder, ModelPurpose::default());
        let none = ModelPurpose::of(&gguf("llama", &[("pooling_type", GgufValue::U32(0))]));
        assert_eq!(none, ModelPurpose::default(), "none is not a declaration");
        let bert = ModelPurpose::of(&gguf(
            "bert",
            &[
                ("pooling_type", GgufValue::U32(2)),
                ("attention.causal", GgufValue::Bool(false)),
            ],
        ));
        assert_eq!(
            bert,
            ModelPurpose {
                generates: false,
                embedding_model: true,
                pooling: Some(Pooling::Cls)
            }
        );
        let last = ModelPurpose::of(&gguf("qwen3", &[("pooling_type", GgufValue::U32(3))]));
        assert!(!last.generates && last.embedding_model);
        assert_eq!(last.pooling, Some(Pooling::Last));
        let rank = ModelPurpose::of(&gguf("bert", &[("pooling_type", GgufValue::U32(4))]));
        assert_eq!(
            (rank.generates, rank.embedding_model, rank.pooling),
            (false, false, None)
        );
        let encoder = ModelPurpose::of(&gguf("bert", &[]));
        assert!(!encoder.generates && !encoder.embedding_model);
        assert_eq!(encoder.pooling, Some(Pooling::Mean));
        let non_causal = ModelPurpose::of(&gguf(
            "llama",
            &[("attention.causal", GgufValue::Bool(false))],
        ));
        assert!(!non_causal.generates);
    }

    #[test]
    fn normalize_gives_unit_length_and_refuses_nan() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v).unwrap();
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero).unwrap();
        assert_eq!(zero, vec![0.0; 3]);
        let err = normalize(&mut [1.0, f32::NAN]).unwrap_err().to_string();
        assert!(err.contains("NaN"), "{err}");
    }
}
