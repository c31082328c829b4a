//! The hyper-parameters of a model that decide its memory, read from the GGUF metadata.

use serde::Serialize;

use crate::gguf::{GgufFile, GgufValue};
use crate::{Error, Result};

/// What the planner needs to know of a model besides its tensor table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelShape {
    /// `general.architecture`.
    pub architecture: String,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Hidden size.
    pub n_embd: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads (the largest over the layers where it varies).
    pub n_head_kv: u32,
    /// Size of one key head.
    pub head_dim_k: u32,
    /// Size of one value head.
    pub head_dim_v: u32,
    /// Vocabulary size (rows of the output matrix).
    pub n_vocab: u32,
    /// Experts per MoE layer (0 for dense models).
    pub n_expert: u32,
    /// Experts used per token.
    pub n_expert_used: u32,
    /// Width of the dense FFN (`feed_forward_length`).
    pub n_ff: u32,
    /// Width of each expert: `expert_feed_forward_length`, else `feed_forward_length`
    /// (Mixtral-style models).
    pub n_ff_exp: u32,
}

/// `key` as an integer, or the largest element when it is an array (per-layer values).
fn int_or_max(gguf: &GgufFile, key: &str) -> Option<u64> {
    match gguf.get(key)? {
        GgufValue::Array(a) => a
            .values
            .as_ref()?
            .iter()
            .filter_map(GgufValue::as_u64)
            .max(),
        v => v.as_u64(),
    }
}

impl ModelShape {
    /// Reads the shape of `gguf`; an error names the missing key.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let arch = gguf.architecture().to_string();
        let key = |suffix: &str| format!("{arch}.{suffix}");
        let need = |suffix: &str| -> Result<u32> {
            int_or_max(gguf, &key(suffix))
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| Error::InvalidGguf {
                    path: gguf.path.clone(),
                    reason: format!(
                        "metadata key {} is missing or not a positive integer; the MoE \
                         planner needs it to size the KV cache and compute buffers",
                        key(suffix)
                    ),
                })
        };
        let opt = |suffix: &str| {
            int_or_max(gguf, &key(suffix))
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        let n_embd = need("embedding_length")?;
        let n_head = need("attention.head_count")?;
        let n_head_kv = match opt("attention.head_count_kv") {
            0 => n_head,
            v => v,
        };
        let default_head = n_embd / n_head;
        let head_dim_k = match opt("attention.key_length") {
            0 => default_head,
            v => v,
        };
        let head_dim_v = match opt("attention.value_length") {
            0 => default_head,
            v => v,
        };
        let n_vocab = match opt("vocab_size") {
            0 => gguf
                .token_count()
                .and_then(|v| u32::try_from(v).ok())
                .or_else(|| {
                    gguf.tensor("output.weight")
                        .or_else(|| gguf.tensor("token_embd.weight"))
                        .and_then(|t| t.dims.get(1).copied())
                        .and_then(|v| u32::try_from(v).ok())
                })
                .unwrap_or(0),
            v => v,
        };
        let n_ff = opt("feed_forward_length");
        let n_ff_exp = match opt("expert_feed_forward_length") {
            0 => n_ff,
            v => v,
        };
        Ok(ModelShape {
            architecture: arch.clone(),
            n_layer: need("block_count")?,
            n_embd,
            n_head,
            n_head_kv,
            head_dim_k,
            head_dim_v,
            n_vocab,
            n_expert: gguf.expert_count(),
            n_expert_used: gguf.expert_used_count(),
            n_ff,
            n_ff_exp,
        })
    }
}
