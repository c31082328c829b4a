//! A small BERT-style embedding model (llama.cpp architecture `bert`): an encoder with
//! learned position embeddings, non-causal attention, post-layer-norm blocks, a WordPiece
//! vocabulary ([`crate::wordpiece_vocabulary`]) and a pooling type (mean or CLS) in its
//! header, so llama.cpp loads it as it loads `all-MiniLM` or `bge-small`.
//!
//! The tensors are those llama.cpp's BERT loader (`src/models/bert.cpp`) creates: token,
//! token-type and position embeddings with their layer norm, and per layer the Q/K/V and
//! output projections with biases, the attention output norm, the GELU feed-forward pair with
//! biases and the layer output norm. No output head: the model embeds and never generates.
//! Weights are random as in the rest of the test kit (norm weights 1, everything else on the
//! q8_0 grid), deterministic for a given [`BertSpec`].
//!
//! ```no_run
//! use shimmy_testkit::bert::{write_bert_model, BertSpec, BertPooling};
//! let spec = BertSpec::small().with_pooling(BertPooling::Cls);
//! let summary = write_bert_model(&spec, &std::env::temp_dir().join("bert.gguf"))?;
//! assert_eq!(summary.arch_name, "bert");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::path::Path;

use super::{
    read_summary, write_file, write_gguf_header, Fill, Fnv, GgmlType, GgufValue, ModelSummary,
    Planned, TensorSummary, WeightType, GENERATOR_VERSION,
};
use crate::wordpiece::wordpiece_vocabulary;

/// How the model pools its token vectors (`bert.pooling_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BertPooling {
    /// The mean over the tokens (`LLAMA_POOLING_TYPE_MEAN`, 1), as sentence-transformers'
    /// MiniLM models.
    Mean,
    /// The `[CLS]` token's vector (`LLAMA_POOLING_TYPE_CLS`, 2), as the BGE models.
    Cls,
}

impl BertPooling {
    /// The `pooling_type` value.
    pub fn gguf_value(self) -> u32 {
        match self {
            BertPooling::Mean => 1,
            BertPooling::Cls => 2,
        }
    }
}

/// Everything that determines a generated BERT-style model file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BertSpec {
    /// Type of the big matrices (position and token-type embeddings, norms and biases stay
    /// f32).
    pub weight_type: WeightType,
    /// Encoder blocks.
    pub n_layer: u32,
    /// Hidden size (the embedding width); divisible by `n_head`.
    pub n_embd: u32,
    /// Feed-forward width.
    pub n_ff: u32,
    /// Attention heads.
    pub n_head: u32,
    /// Positions the model has embeddings for (`context_length`): the longest input.
    pub context_length: u32,
    /// The pooling type written into the header.
    pub pooling: BertPooling,
    /// Seed of the weight generator.
    pub seed: u64,
    /// `general.name`.
    pub name: String,
}

impl BertSpec {
    /// 2 layers, n_embd 64 (the embedding width), n_ff 128, 4 heads, 128 positions, mean
    /// pooling, f32.
    pub fn small() -> Self {
        BertSpec {
            weight_type: WeightType::F32,
            n_layer: 2,
            n_embd: 64,
            n_ff: 128,
            n_head: 4,
            context_length: 128,
            pooling: BertPooling::Mean,
            seed: 0x5EED_00BE,
            name: "shimmy-test-bert".into(),
        }
    }

    /// Sets the pooling type.
    pub fn with_pooling(mut self, pooling: BertPooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Sets the type of the big matrices.
    pub fn with_weight_type(mut self, t: WeightType) -> Self {
        self.weight_type = t;
        self
    }

    /// Sets the number of layers.
    pub fn with_layers(mut self, n_layer: u32) -> Self {
        self.n_layer = n_layer;
        self
    }

    /// Sets the number of positions (the longest input).
    pub fn with_context_length(mut self, n: u32) -> Self {
        self.context_length = n;
        self
    }

    /// Sets the weight seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the spec against what llama.cpp and the writer accept.
    pub fn validate(&self) -> io::Result<()> {
        let err = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.n_layer == 0 || self.n_layer > 512 {
            return err(format!("n_layer must be in 1..=512, got {}", self.n_layer));
        }
        if self.n_embd == 0 || self.n_head == 0 || self.n_ff == 0 || self.context_length == 0 {
            return err("n_embd, n_head, n_ff and context_length must be > 0".into());
        }
        if self.n_embd % self.n_head != 0 {
            return err(format!(
                "n_embd {} not divisible by n_head {}",
                self.n_embd, self.n_head
            ));
        }
        if self.weight_type == WeightType::Q8_0 && (self.n_embd % 32 != 0 || self.n_ff % 32 != 0) {
            return err("q8_0 needs n_embd and n_ff to be multiples of 32".into());
        }
        Ok(())
    }

    /// File name that identifies this spec: `{name}-bert-{weight type}-{hash}.gguf`.
    pub fn file_name(&self) -> String {
        let mut h = Fnv::new();
        h.write(format!("v{GENERATOR_VERSION}:{self:?}").as_bytes());
        format!(
            "{}-bert-{}-{:016x}.gguf",
            self.name,
            self.weight_type.name(),
            h.finish()
        )
    }

    /// The tensors this spec produces, in file order.
    pub fn tensor_plan(&self) -> io::Result<Vec<TensorSummary>> {
        self.validate()?;
        plan(self, wordpiece_vocabulary().len() as u64)
            .iter()
            .map(Planned::summary)
            .collect()
    }
}

fn plan(spec: &BertSpec, n_vocab: u64) -> Vec<Planned> {
    let wt = spec.weight_type.ggml_type();
    let embd = u64::from(spec.n_embd);
    let ff = u64::from(spec.n_ff);
    let mut out = Vec::new();
    let mut t = |name: String, dims: Vec<u64>, ty: GgmlType, fill: Fill| {
        out.push(Planned {
            name,
            dims,
            ty,
            fill,
        })
    };
    t(
        "token_embd.weight".into(),
        vec![embd, n_vocab],
        wt,
        Fill::RandomUnit,
    );
    t(
        "token_types.weight".into(),
        vec![embd, 2],
        GgmlType::F32,
        Fill::Random,
    );
    t(
        "position_embd.weight".into(),
        vec![embd, u64::from(spec.context_length)],
        GgmlType::F32,
        Fill::Random,
    );
    t(
        "token_embd_norm.weight".into(),
        vec![embd],
        GgmlType::F32,
        Fill::Ones,
    );
    t(
        "token_embd_norm.bias".into(),
        vec![embd],
        GgmlType::F32,
        Fill::Random,
    );
    for i in 0..spec.n_layer {
        let w = |s: &str| format!("blk.{i}.{s}.weight");
        let b = |s: &str| format!("blk.{i}.{s}.bias");
        for proj in ["attn_q", "attn_k", "attn_v", "attn_output"] {
            t(w(proj), vec![embd, embd], wt, Fill::Random);
            t(b(proj), vec![embd], GgmlType::F32, Fill::Random);
        }
        t(w("attn_output_norm"), vec![embd], GgmlType::F32, Fill::Ones);
        t(
            b("attn_output_norm"),
            vec![embd],
            GgmlType::F32,
            Fill::Random,
        );
        t(w("ffn_up"), vec![embd, ff], wt, Fill::Random);
        t(b("ffn_up"), vec![ff], GgmlType::F32, Fill::Random);
        t(w("ffn_down"), vec![ff, embd], wt, Fill::Random);
        t(b("ffn_down"), vec![embd], GgmlType::F32, Fill::Random);
        t(
            w("layer_output_norm"),
            vec![embd],
            GgmlType::F32,
            Fill::Ones,
        );
        t(
            b("layer_output_norm"),
            vec![embd],
            GgmlType::F32,
            Fill::Random,
        );
    }
    out
}

fn metadata(spec: &BertSpec, tokenizer: Vec<(String, GgufValue)>) -> Vec<(String, GgufValue)> {
    use GgufValue as V;
    let k = |s: &str| format!("bert.{s}");
    let mut m: Vec<(String, GgufValue)> = vec![
        ("general.architecture".into(), V::String("bert".into())),
        ("general.name".into(), V::String(spec.name.clone())),
        (
            "general.file_type".into(),
            V::U32(spec.weight_type.file_type()),
        ),
        ("general.quantization_version".into(), V::U32(2)),
        (k("context_length"), V::U32(spec.context_length)),
        (k("embedding_length"), V::U32(spec.n_embd)),
        (k("block_count"), V::U32(spec.n_layer)),
        (k("feed_forward_length"), V::U32(spec.n_ff)),
        (k("attention.head_count"), V::U32(spec.n_head)),
        (k("attention.layer_norm_epsilon"), V::F32(1e-12)),
        (k("attention.causal"), V::Bool(false)),
        (k("pooling_type"), V::U32(spec.pooling.gguf_value())),
    ];
    m.extend(tokenizer);
    m
}

/// Writes the model described by `spec` to `path` (through a temporary file renamed into
/// place) and returns its summary. Same spec, byte-identical file.
pub fn write_bert_model(spec: &BertSpec, path: &Path) -> io::Result<ModelSummary> {
    spec.validate()?;
    let vocab = wordpiece_vocabulary();
    let plan = plan(spec, vocab.len() as u64);
    let meta = metadata(spec, vocab.tokenizer_metadata.clone().unwrap_or_default());
    let file_size = write_file(path, &plan, spec.seed, &vocab, |w| {
        write_gguf_header(w, &meta, &plan)
    })?;
    Ok(ModelSummary {
        path: path.to_path_buf(),
        arch_name: "bert".into(),
        n_vocab: vocab.len() as u32,
        tensors: plan
            .iter()
            .map(Planned::summary)
            .collect::<io::Result<_>>()?,
        file_size,
    })
}

/// [`write_bert_model`] into `dir/`[`BertSpec::file_name`] unless that file is already
/// there (files appear whole, by rename; the name changes with the spec and the generator
/// version). Safe to call from several tests and processes at once.
pub fn ensure_bert_model(spec: &BertSpec, dir: &Path) -> io::Result<ModelSummary> {
    let path = dir.join(spec.file_name());
    if let Ok(summary) = read_summary(&path) {
        return Ok(summary);
    }
    std::fs::create_dir_all(dir)?;
    write_bert_model(spec, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_every_tensor_the_bert_loader_creates() {
        let spec = BertSpec::small();
        let plan = spec.tensor_plan().unwrap();
        // 5 embedding tensors, then 16 per layer (8 projection weights and biases, 3 norms
        // of 2, 2 feed-forward weights and biases).
        assert_eq!(plan.len(), 5 + 16 * spec.n_layer as usize);
        let names: Vec<&str> = plan.iter().map(|t| t.name.as_str()).collect();
        for name in [
            "token_types.weight",
            "position_embd.weight",
            "blk.1.attn_output_norm.bias",
            "blk.1.layer_output_norm.weight",
        ] {
            assert!(names.contains(&name), "{name} missing");
        }
        assert!(!names.iter().any(|n| n.starts_with("output")), "no head");
    }

    #[test]
    fn writes_a_file_with_the_embedding_keys() {
        let dir = tempfile::tempdir().unwrap();
        let spec = BertSpec::small().with_pooling(BertPooling::Cls);
        let summary = write_bert_model(&spec, &dir.path().join("b.gguf")).unwrap();
        let header = crate::read_header(&summary.path).unwrap();
        assert_eq!(
            header.get("bert.pooling_type").and_then(GgufValue::as_u32),
            Some(2)
        );
        assert_eq!(
            header
                .get("bert.attention.causal")
                .and_then(GgufValue::as_bool),
            Some(false)
        );
        assert_eq!(
            header
                .get("tokenizer.ggml.model")
                .and_then(GgufValue::as_str),
            Some("bert")
        );
        let again = ensure_bert_model(&spec, dir.path()).unwrap();
        assert_eq!(
            again.file_size,
            std::fs::metadata(&again.path).unwrap().len()
        );
    }
}
