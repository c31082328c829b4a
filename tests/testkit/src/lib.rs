//! # shimmy-testkit
//!
//! Writes small, deterministic GGUF v3 model files with random weights that
//! real llama.cpp loads and generates from. No model can be downloaded in the
//! test environment, so every test of shimmy-host uses these files.
//!
//! * Three layouts ([`Arch`]): dense llama, Mixtral-style MoE (arch `llama`
//!   with `llama.expert_count`) and Qwen3-MoE (arch `qwen3moe`); and a small
//!   BERT-style embedding model (arch `bert`, a WordPiece vocabulary, mean or CLS
//!   pooling) in [`bert`].
//! * Three weight types ([`WeightType`]) for the big matrices: f32, f16, q8_0;
//!   norms and the MoE router (`ffn_gate_inp`) stay f32 as in real models.
//! * A fixed SentencePiece ("llama") vocabulary with byte fallback and ChatML
//!   control tokens ([`vocabulary`]). `tokenizer.ggml.add_space_prefix` is
//!   `false`, so llama.cpp inserts no `▁` before the first word or after a
//!   special token and `detokenize(tokenize(text)) == text` (BOS aside).
//!   Non-ASCII characters (`é`, `€`) become one byte token per UTF-8 byte.
//! * Same [`ModelSpec`] (including `seed`) gives a byte-identical file. The
//!   weights are uniform on the q8_0 grid (`scale * q`, `q` in -127..=127, one
//!   f16 scale per tensor) in ±1/sqrt(row length), token embeddings in ±1,
//!   norms 1.0; so the f32, f16 and q8_0 files of one spec hold the same model
//!   up to f16 rounding (f32 and f16 give the same greedy tokens; q8_0 may
//!   drift after a few tokens because llama.cpp quantizes activations too).
//! * The rows of the output matrix for control/unknown/unused tokens and for
//!   the byte tokens of ASCII control characters are zero
//!   ([`Vocab::is_suppressed`]), so greedy decoding never emits
//!   `</s>`/`<|im_end|>` (or NUL) by itself: generation runs until the token
//!   limit or a stop string. Greedy output is varied text that includes lone
//!   byte tokens (partial UTF-8), e.g. `" lazy# skwoul sun...Ssu thin"`.
//!
//! ```no_run
//! use shimmy_testkit::{write_model, ModelSpec, WeightType};
//! let dir = std::env::temp_dir();
//! let summary = write_model(
//!     &ModelSpec::qwen3_moe().with_weight_type(WeightType::Q8_0),
//!     &dir.join("qwen3moe-q8.gguf"),
//! )?;
//! assert_eq!(summary.expert_tensors().count(), 12);
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]

pub mod bert;
pub mod gguf;
pub mod shapes;
pub mod split;
mod vocab;
mod vocab_file;
mod wordpiece;

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use half::f16;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use gguf::{read_header, GgmlType, GgufHeader, GgufTensorInfo, GgufValue};
pub use shapes::{write_shape, write_shape_header_only, ShapeSpec};
pub use split::split_model;
pub use vocab::{
    vocabulary, TokenType, Vocab, BOS_ID, EOS_ID, FIRST_BYTE_ID, IM_END_ID, IM_START_ID, SPACE_ID,
    SPM_SPACE, UNK_ID, VOCAB_PAD_MULTIPLE,
};
pub use vocab_file::{vocab_dir, TokenizerFile, VocabFamily, VOCAB_DIR_ENV};
pub use wordpiece::{wordpiece_vocabulary, CLS_ID, MASK_ID, PAD_ID, SEP_ID, WPM_UNK_ID};

/// Version of the generator; part of [`ModelSpec::file_name`] so cached files
/// are regenerated when the output of this crate changes.
pub const GENERATOR_VERSION: u32 = 5;

/// Data alignment of the written files (the GGUF default; no
/// `general.alignment` key is written).
pub const ALIGNMENT: u64 = gguf::GGUF_DEFAULT_ALIGNMENT;

/// A standard ChatML Jinja template (Qwen style) honouring
/// `add_generation_prompt`. llama.cpp's built-in template detection also
/// recognises it as `chatml`.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Model layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Dense llama layout (`general.architecture = "llama"`).
    Llama,
    /// Mixtral-style MoE: arch `llama` with `llama.expert_count`; each expert
    /// is `n_ff` wide (llama.cpp's llama loader uses `feed_forward_length`
    /// for the expert tensors).
    LlamaMoe,
    /// Qwen3-MoE (`general.architecture = "qwen3moe"`): Q/K RMS norms, experts
    /// `n_ff_exp` wide, every layer MoE.
    Qwen3Moe,
}

impl Arch {
    /// The `general.architecture` string (also the metadata key prefix).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Arch::Llama | Arch::LlamaMoe => "llama",
            Arch::Qwen3Moe => "qwen3moe",
        }
    }

    /// `true` for the mixture-of-experts layouts.
    pub fn is_moe(self) -> bool {
        !matches!(self, Arch::Llama)
    }
}

/// Type of the big 2-D/3-D weight matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightType {
    /// 32-bit floats (`general.file_type` 0, "all F32").
    F32,
    /// Half floats (`general.file_type` 1, "mostly F16").
    F16,
    /// 8-bit blocks (`general.file_type` 7, "mostly Q8_0"); every matrix row
    /// length must be a multiple of 32.
    Q8_0,
}

impl WeightType {
    /// The tensor type used for the big matrices.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            WeightType::F32 => GgmlType::F32,
            WeightType::F16 => GgmlType::F16,
            WeightType::Q8_0 => GgmlType::Q8_0,
        }
    }

    /// The `general.file_type` value (`llama_ftype`).
    pub fn file_type(self) -> u32 {
        match self {
            WeightType::F32 => 0,
            WeightType::F16 => 1,
            WeightType::Q8_0 => 7,
        }
    }

    /// Lower-case name: "f32", "f16" or "q8_0".
    pub fn name(self) -> &'static str {
        self.ggml_type().name()
    }

    /// All weight types, for tests that loop over them.
    pub const ALL: [WeightType; 3] = [WeightType::F32, WeightType::F16, WeightType::Q8_0];
}

/// Everything that determines a generated model file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// Layout.
    pub arch: Arch,
    /// Type of the big matrices.
    pub weight_type: WeightType,
    /// Number of transformer blocks.
    pub n_layer: u32,
    /// Hidden size; must be divisible by `n_head` (head size = `n_embd / n_head`).
    pub n_embd: u32,
    /// Dense FFN width (`feed_forward_length`); for [`Arch::LlamaMoe`] also the
    /// width of each expert.
    pub n_ff: u32,
    /// Number of query heads.
    pub n_head: u32,
    /// Number of key/value heads (GQA); must divide `n_head`.
    pub n_head_kv: u32,
    /// Number of experts (0 for dense).
    pub n_expert: u32,
    /// Experts used per token (0 for dense).
    pub n_expert_used: u32,
    /// Expert FFN width for [`Arch::Qwen3Moe`] (`expert_feed_forward_length`);
    /// for [`Arch::LlamaMoe`] it must be 0 or equal to `n_ff`; 0 for dense.
    pub n_ff_exp: u32,
    /// Training context length (`context_length`).
    pub context_length: u32,
    /// Seed of the weight generator.
    pub seed: u64,
    /// `general.name`.
    pub name: String,
    /// `tokenizer.chat_template`; `None` writes no such key.
    pub chat_template: Option<String>,
    /// A real tokenizer from a `ggml-vocab-*.gguf` file instead of the built-in vocabulary.
    pub tokenizer: Option<TokenizerFile>,
}

impl ModelSpec {
    /// Dense llama: 4 layers, n_embd 128, n_ff 256, 4 heads (2 KV heads,
    /// head size 32), f32, ChatML template, context 4096.
    pub fn dense() -> Self {
        ModelSpec {
            arch: Arch::Llama,
            weight_type: WeightType::F32,
            n_layer: 4,
            n_embd: 128,
            n_ff: 256,
            n_head: 4,
            n_head_kv: 2,
            n_expert: 0,
            n_expert_used: 0,
            n_ff_exp: 0,
            context_length: 4096,
            seed: 0x5EED_0001,
            name: "shimmy-test-dense".into(),
            chat_template: Some(CHATML_TEMPLATE.into()),
            tokenizer: None,
        }
    }

    /// Mixtral-style MoE (arch `llama`): 4 layers, n_embd 128, 4 experts of
    /// width 128, 2 used, 4 heads (2 KV heads), f32, ChatML, context 4096.
    pub fn mixtral_moe() -> Self {
        ModelSpec {
            arch: Arch::LlamaMoe,
            n_ff: 128,
            n_expert: 4,
            n_expert_used: 2,
            n_ff_exp: 128,
            seed: 0x5EED_0002,
            name: "shimmy-test-mixtral-moe".into(),
            ..Self::dense()
        }
    }

    /// Qwen3-MoE: 4 layers, n_embd 128, 8 experts of width 64, 2 used,
    /// 4 heads (2 KV heads, head size 32), f32, ChatML, context 4096.
    pub fn qwen3_moe() -> Self {
        ModelSpec {
            arch: Arch::Qwen3Moe,
            n_ff: 256,
            n_expert: 8,
            n_expert_used: 2,
            n_ff_exp: 64,
            seed: 0x5EED_0003,
            name: "shimmy-test-qwen3-moe".into(),
            ..Self::dense()
        }
    }

    /// A big Qwen3-MoE for offload/throughput tests, about 2.8 GB in q8_0:
    /// 16 layers, n_embd 2048, 16 heads (4 KV heads, head size 128),
    /// 32 experts of width 768, 4 used, q8_0.
    pub fn qwen3_moe_large() -> Self {
        ModelSpec {
            arch: Arch::Qwen3Moe,
            weight_type: WeightType::Q8_0,
            n_layer: 16,
            n_embd: 2048,
            n_ff: 6144,
            n_head: 16,
            n_head_kv: 4,
            n_expert: 32,
            n_expert_used: 4,
            n_ff_exp: 768,
            context_length: 4096,
            seed: 0x5EED_0004,
            name: "shimmy-test-qwen3-moe-large".into(),
            chat_template: Some(CHATML_TEMPLATE.into()),
            tokenizer: None,
        }
    }

    /// Sets the type of the big matrices.
    pub fn with_weight_type(mut self, t: WeightType) -> Self {
        self.weight_type = t;
        self
    }

    /// Sets the weight seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets `general.name`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the number of layers.
    pub fn with_layers(mut self, n_layer: u32) -> Self {
        self.n_layer = n_layer;
        self
    }

    /// Sets the training context length.
    pub fn with_context_length(mut self, n: u32) -> Self {
        self.context_length = n;
        self
    }

    /// Sets the number of experts and experts used per token.
    pub fn with_experts(mut self, n_expert: u32, n_expert_used: u32) -> Self {
        self.n_expert = n_expert;
        self.n_expert_used = n_expert_used;
        self
    }

    /// Uses the tokenizer of a `ggml-vocab-*.gguf` file instead of the built-in one.
    pub fn with_tokenizer(mut self, tokenizer: TokenizerFile) -> Self {
        self.tokenizer = Some(tokenizer);
        self
    }

    /// The vocabulary written into the model: the tokenizer file's, else the built-in one.
    pub fn vocab(&self) -> io::Result<Vocab> {
        match &self.tokenizer {
            Some(t) => t.load(),
            None => Ok(vocabulary()),
        }
    }

    /// Sets (or with `None` removes) the `tokenizer.chat_template` key.
    pub fn with_chat_template(mut self, template: Option<String>) -> Self {
        self.chat_template = template;
        self
    }

    /// Head size (`n_embd / n_head`), also the RoPE dimension count.
    pub fn head_dim(&self) -> u32 {
        self.n_embd.checked_div(self.n_head).unwrap_or(0)
    }

    /// Width of each expert: `n_ff` for [`Arch::LlamaMoe`], `n_ff_exp` for
    /// [`Arch::Qwen3Moe`] (`n_ff / n_expert_used` when 0, as llama.cpp does),
    /// 0 for dense.
    pub fn expert_ff(&self) -> u32 {
        match self.arch {
            Arch::Llama => 0,
            Arch::LlamaMoe => self.n_ff,
            Arch::Qwen3Moe => {
                if self.n_ff_exp != 0 {
                    self.n_ff_exp
                } else {
                    self.n_ff.checked_div(self.n_expert_used).unwrap_or(0)
                }
            }
        }
    }

    /// Checks the spec against what llama.cpp and the writer accept.
    pub fn validate(&self) -> io::Result<()> {
        let err = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.n_layer == 0 || self.n_layer > 512 {
            return err(format!("n_layer must be in 1..=512, got {}", self.n_layer));
        }
        if self.n_embd == 0 || self.n_head == 0 || self.n_head_kv == 0 {
            return err("n_embd, n_head and n_head_kv must be > 0".into());
        }
        if self.n_embd % self.n_head != 0 {
            return err(format!(
                "n_embd {} not divisible by n_head {}",
                self.n_embd, self.n_head
            ));
        }
        if self.head_dim() % 2 != 0 {
            return err(format!(
                "head size {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.n_head % self.n_head_kv != 0 {
            return err(format!(
                "n_head {} not divisible by n_head_kv {}",
                self.n_head, self.n_head_kv
            ));
        }
        if self.context_length == 0 {
            return err("context_length must be > 0".into());
        }
        match self.arch {
            Arch::Llama => {
                if self.n_expert != 0 || self.n_expert_used != 0 || self.n_ff_exp != 0 {
                    return err("dense llama needs n_expert = n_expert_used = n_ff_exp = 0".into());
                }
                if self.n_ff == 0 {
                    return err("n_ff must be > 0".into());
                }
            }
            Arch::LlamaMoe | Arch::Qwen3Moe => {
                if self.n_expert < 2 || self.n_expert > 512 {
                    return err(format!(
                        "n_expert must be in 2..=512, got {}",
                        self.n_expert
                    ));
                }
                if self.n_expert_used == 0 || self.n_expert_used > self.n_expert {
                    return err(format!(
                        "n_expert_used must be in 1..=n_expert, got {}",
                        self.n_expert_used
                    ));
                }
                if self.arch == Arch::LlamaMoe && self.n_ff_exp != 0 && self.n_ff_exp != self.n_ff {
                    return err(
                        "for LlamaMoe the expert width is n_ff; set n_ff_exp to 0 or n_ff".into(),
                    );
                }
                if self.expert_ff() == 0 {
                    return err("expert width must be > 0".into());
                }
            }
        }
        if self.weight_type == WeightType::Q8_0 {
            for (what, v) in [
                ("n_embd", self.n_embd),
                ("n_ff", self.n_ff),
                ("expert width", self.expert_ff()),
            ] {
                if v % 32 != 0 {
                    return err(format!("q8_0 needs {what} to be a multiple of 32, got {v}"));
                }
            }
        }
        Ok(())
    }

    /// File name that identifies this spec (and [`GENERATOR_VERSION`]):
    /// `{name}-{arch}-{weight type}-{hash}.gguf`, used by [`ensure_model`].
    pub fn file_name(&self) -> String {
        let mut h = Fnv::new();
        h.write(format!("v{GENERATOR_VERSION}:{self:?}").as_bytes());
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "{safe}-{}-{}-{:016x}.gguf",
            self.arch.gguf_name(),
            self.weight_type.name(),
            h.finish()
        )
    }

    /// The tensors this spec produces, in file order, without writing anything.
    pub fn tensor_plan(&self) -> io::Result<Vec<TensorSummary>> {
        self.validate()?;
        let n_vocab = self.vocab()?.len() as u64;
        plan(self, n_vocab)
            .into_iter()
            .map(|p| p.summary())
            .collect()
    }

    /// The exact size of the file [`write_model`] produces for this spec.
    pub fn expected_file_size(&self) -> io::Result<u64> {
        self.validate()?;
        let vocab = self.vocab()?;
        let plan = plan(self, vocab.len() as u64);
        let mut counter = gguf::GgufWriter::new(io::sink());
        write_header(&mut counter, self, &vocab, &plan)?;
        let mut size = counter.written();
        for p in &plan {
            size += p.n_bytes()?.div_ceil(ALIGNMENT) * ALIGNMENT;
        }
        Ok(size)
    }
}

/// One tensor of a written model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorSummary {
    /// Tensor name, e.g. `blk.0.ffn_down_exps.weight`.
    pub name: String,
    /// `"f32"`, `"f16"` or `"q8_0"`.
    pub ggml_type: &'static str,
    /// Dimensions, innermost first (`ne[0]` is the row length).
    pub dims: Vec<u64>,
    /// Size of the tensor data in bytes (without alignment padding).
    pub n_bytes: u64,
}

impl TensorSummary {
    /// `true` if the name is one of the stacked expert tensors
    /// (`ffn_(up|down|gate|gate_up)_(ch|)exps`).
    pub fn is_expert(&self) -> bool {
        is_expert_tensor_name(&self.name)
    }
}

/// `true` if `name` contains `ffn_(up|down|gate|gate_up)_(ch|)exps` (the
/// stacked per-expert weight tensors that MoE CPU offload moves).
pub fn is_expert_tensor_name(name: &str) -> bool {
    ["ffn_up_", "ffn_down_", "ffn_gate_", "ffn_gate_up_"]
        .iter()
        .any(|stem| {
            ["exps", "chexps"].iter().any(|suffix| {
                let pat = format!("{stem}{suffix}");
                name.match_indices(&pat).any(|(i, _)| {
                    // Must be a whole name component: preceded by '.' or start,
                    // followed by '.' or end.
                    let before_ok = i == 0 || name.as_bytes()[i - 1] == b'.';
                    let end = i + pat.len();
                    let after_ok = end == name.len() || name.as_bytes()[end] == b'.';
                    before_ok && after_ok
                })
            })
        })
}

/// What was written (or found) at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    /// The model file.
    pub path: PathBuf,
    /// `general.architecture` ("llama" or "qwen3moe").
    pub arch_name: String,
    /// Number of tokens in the vocabulary.
    pub n_vocab: u32,
    /// Every tensor, in file order.
    pub tensors: Vec<TensorSummary>,
    /// Size of the file in bytes.
    pub file_size: u64,
}

impl ModelSummary {
    /// The stacked expert tensors (`ffn_(up|down|gate|gate_up)_(ch|)exps`).
    pub fn expert_tensors(&self) -> impl Iterator<Item = &TensorSummary> {
        self.tensors.iter().filter(|t| t.is_expert())
    }

    /// Total bytes of the expert tensors.
    pub fn expert_bytes(&self) -> u64 {
        self.expert_tensors().map(|t| t.n_bytes).sum()
    }

    /// Total bytes of all tensors (without alignment padding).
    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }

    /// Looks a tensor up by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorSummary> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Reads the summary of an existing GGUF file (header only). Tensors of
/// types other than f32/f16/q8_0 are reported with type "unknown" and
/// `n_bytes` 0.
pub fn read_summary(path: &Path) -> io::Result<ModelSummary> {
    let header = read_header(path)?;
    let file_size = fs::metadata(path)?.len();
    let arch_name = header
        .get("general.architecture")
        .and_then(GgufValue::as_str)
        .unwrap_or_default()
        .to_string();
    let n_vocab = header
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::array_len)
        .unwrap_or(0) as u32;
    let tensors = header
        .tensors
        .iter()
        .map(|t| TensorSummary {
            name: t.name.clone(),
            ggml_type: match GgmlType::from_id(t.ggml_type) {
                Some(ty) => ty.name(),
                None => gguf::ggml_type_name(t.ggml_type),
            },
            dims: t.dims.clone(),
            n_bytes: t.n_bytes().unwrap_or(0),
        })
        .collect();
    Ok(ModelSummary {
        path: path.to_path_buf(),
        arch_name,
        n_vocab,
        tensors,
        file_size,
    })
}

/// Writes the model for `spec` to `dir/`[`ModelSpec::file_name`] unless a
/// file with the expected size is already there, and returns its summary.
/// Safe to call concurrently from several tests/processes (the file is
/// written under a temporary name and renamed into place).
pub fn ensure_model(spec: &ModelSpec, dir: &Path) -> io::Result<ModelSummary> {
    let path = dir.join(spec.file_name());
    if let Ok(meta) = fs::metadata(&path) {
        if meta.len() == spec.expected_file_size()? {
            if let Ok(summary) = read_summary(&path) {
                return Ok(summary);
            }
        }
    }
    fs::create_dir_all(dir)?;
    write_model(spec, &path)
}

/// Environment variable that overrides [`default_cache_dir`].
pub const CACHE_DIR_ENV: &str = "SHIMMY_TESTKIT_DIR";

/// Directory where [`cached_model`] keeps generated models:
/// `$SHIMMY_TESTKIT_DIR` if set, else `<system temp dir>/shimmy-testkit`.
pub fn default_cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir().join("shimmy-testkit"),
    }
}

/// [`ensure_model`] in [`default_cache_dir`]: the usual way for tests to get
/// a model file (generated once, then reused by every test and process).
pub fn cached_model(spec: &ModelSpec) -> io::Result<ModelSummary> {
    ensure_model(spec, &default_cache_dir())
}

// ---------------------------------------------------------------------------
// Tensor plan

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fill {
    /// All 1.0 (norm weights).
    Ones,
    /// Uniform on the q8_0 grid in ±1/sqrt(ne[0]).
    Random,
    /// Uniform on the q8_0 grid in ±1 (token embeddings: large enough that
    /// the current token matters, which keeps greedy output from collapsing
    /// into one repeated token).
    RandomUnit,
    /// Like `Random`, but the rows of suppressed tokens are zero (output matrix).
    RandomSuppressRows,
}

#[derive(Debug, Clone)]
struct Planned {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    fill: Fill,
}

impl Planned {
    fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    fn n_bytes(&self) -> io::Result<u64> {
        self.ty.bytes_for(self.n_elements()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor {} ({:?}) is not a whole number of {} blocks",
                    self.name,
                    self.dims,
                    self.ty.name()
                ),
            )
        })
    }
    fn summary(&self) -> io::Result<TensorSummary> {
        Ok(TensorSummary {
            name: self.name.clone(),
            ggml_type: self.ty.name(),
            dims: self.dims.clone(),
            n_bytes: self.n_bytes()?,
        })
    }
}

fn plan(spec: &ModelSpec, n_vocab: u64) -> Vec<Planned> {
    let wt = spec.weight_type.ggml_type();
    let embd = u64::from(spec.n_embd);
    let hd = u64::from(spec.head_dim());
    let q_dim = hd * u64::from(spec.n_head);
    let kv_dim = hd * u64::from(spec.n_head_kv);
    let ff = u64::from(spec.n_ff);
    let ff_exp = u64::from(spec.expert_ff());
    let n_exp = u64::from(spec.n_expert);

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
    for i in 0..spec.n_layer {
        let b = |s: &str| format!("blk.{i}.{s}.weight");
        t(b("attn_norm"), vec![embd], GgmlType::F32, Fill::Ones);
        t(b("attn_q"), vec![embd, q_dim], wt, Fill::Random);
        t(b("attn_k"), vec![embd, kv_dim], wt, Fill::Random);
        t(b("attn_v"), vec![embd, kv_dim], wt, Fill::Random);
        t(b("attn_output"), vec![q_dim, embd], wt, Fill::Random);
        if spec.arch == Arch::Qwen3Moe {
            t(b("attn_q_norm"), vec![hd], GgmlType::F32, Fill::Ones);
            t(b("attn_k_norm"), vec![hd], GgmlType::F32, Fill::Ones);
        }
        t(b("ffn_norm"), vec![embd], GgmlType::F32, Fill::Ones);
        if spec.arch.is_moe() {
            t(
                b("ffn_gate_inp"),
                vec![embd, n_exp],
                GgmlType::F32,
                Fill::Random,
            );
            t(
                b("ffn_gate_exps"),
                vec![embd, ff_exp, n_exp],
                wt,
                Fill::Random,
            );
            t(
                b("ffn_up_exps"),
                vec![embd, ff_exp, n_exp],
                wt,
                Fill::Random,
            );
            t(
                b("ffn_down_exps"),
                vec![ff_exp, embd, n_exp],
                wt,
                Fill::Random,
            );
        } else {
            t(b("ffn_gate"), vec![embd, ff], wt, Fill::Random);
            t(b("ffn_up"), vec![embd, ff], wt, Fill::Random);
            t(b("ffn_down"), vec![ff, embd], wt, Fill::Random);
        }
    }
    t(
        "output_norm.weight".into(),
        vec![embd],
        GgmlType::F32,
        Fill::Ones,
    );
    t(
        "output.weight".into(),
        vec![embd, n_vocab],
        wt,
        Fill::RandomSuppressRows,
    );
    out
}

// ---------------------------------------------------------------------------
// Writing

fn metadata(spec: &ModelSpec, vocab: &Vocab) -> Vec<(String, GgufValue)> {
    use GgufValue as V;
    let a = spec.arch.gguf_name();
    let k = |s: &str| format!("{a}.{s}");
    let qwen = spec.arch == Arch::Qwen3Moe;
    let mut m: Vec<(String, GgufValue)> = vec![
        ("general.architecture".into(), V::String(a.into())),
        ("general.name".into(), V::String(spec.name.clone())),
        (
            "general.file_type".into(),
            V::U32(spec.weight_type.file_type()),
        ),
        ("general.quantization_version".into(), V::U32(2)),
        (k("vocab_size"), V::U32(vocab.len() as u32)),
        (k("context_length"), V::U32(spec.context_length)),
        (k("embedding_length"), V::U32(spec.n_embd)),
        (k("block_count"), V::U32(spec.n_layer)),
        (k("feed_forward_length"), V::U32(spec.n_ff)),
        (k("attention.head_count"), V::U32(spec.n_head)),
        (k("attention.head_count_kv"), V::U32(spec.n_head_kv)),
        (
            k("attention.layer_norm_rms_epsilon"),
            V::F32(if qwen { 1e-6 } else { 1e-5 }),
        ),
        (
            k("rope.freq_base"),
            V::F32(if qwen { 1_000_000.0 } else { 10_000.0 }),
        ),
        (k("rope.dimension_count"), V::U32(spec.head_dim())),
    ];
    if spec.arch.is_moe() {
        m.push((k("expert_count"), V::U32(spec.n_expert)));
        m.push((k("expert_used_count"), V::U32(spec.n_expert_used)));
    }
    if qwen {
        m.push((k("expert_feed_forward_length"), V::U32(spec.expert_ff())));
        m.push((k("attention.key_length"), V::U32(spec.head_dim())));
        m.push((k("attention.value_length"), V::U32(spec.head_dim())));
    }
    m.extend(tokenizer_metadata(vocab, spec.chat_template.as_deref()));
    m
}

/// The tokenizer keys of every written model: the vocabulary's own keys when it came from a
/// real tokenizer file, else the SentencePiece vocabulary `vocab` with the test kit's special
/// token ids; then the chat template if any.
pub(crate) fn tokenizer_metadata(
    vocab: &Vocab,
    chat_template: Option<&str>,
) -> Vec<(String, GgufValue)> {
    use GgufValue as V;
    if let Some(meta) = &vocab.tokenizer_metadata {
        let mut m = meta.clone();
        if let Some(tpl) = chat_template {
            m.push(("tokenizer.chat_template".into(), V::String(tpl.to_string())));
        }
        return m;
    }
    let mut m: Vec<(String, GgufValue)> = vec![
        ("tokenizer.ggml.model".into(), V::String("llama".into())),
        (
            "tokenizer.ggml.tokens".into(),
            V::StringArray(vocab.tokens.clone()),
        ),
        (
            "tokenizer.ggml.scores".into(),
            V::F32Array(vocab.scores.clone()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            V::I32Array(vocab.types.iter().map(|t| *t as i32).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), V::U32(BOS_ID)),
        ("tokenizer.ggml.eos_token_id".into(), V::U32(EOS_ID)),
        ("tokenizer.ggml.unknown_token_id".into(), V::U32(UNK_ID)),
        ("tokenizer.ggml.eot_token_id".into(), V::U32(IM_END_ID)),
        ("tokenizer.ggml.add_bos_token".into(), V::Bool(true)),
        ("tokenizer.ggml.add_eos_token".into(), V::Bool(false)),
        ("tokenizer.ggml.add_space_prefix".into(), V::Bool(false)),
    ];
    if let Some(tpl) = chat_template {
        m.push(("tokenizer.chat_template".into(), V::String(tpl.to_string())));
    }
    m
}

fn write_header<W: Write>(
    w: &mut gguf::GgufWriter<W>,
    spec: &ModelSpec,
    vocab: &Vocab,
    plan: &[Planned],
) -> io::Result<()> {
    write_gguf_header(w, &metadata(spec, vocab), plan)
}

/// The GGUF header: `meta`, the tensor table of `plan`, padding.
fn write_gguf_header<W: Write>(
    w: &mut gguf::GgufWriter<W>,
    meta: &[(String, GgufValue)],
    plan: &[Planned],
) -> io::Result<()> {
    w.header(plan.len() as u64, meta.len() as u64)?;
    for (key, value) in meta {
        w.kv(key, value)?;
    }
    let mut offset = 0u64;
    for p in plan {
        w.tensor_info(&p.name, &p.dims, p.ty.id(), offset)?;
        offset += p.n_bytes()?.div_ceil(ALIGNMENT) * ALIGNMENT;
    }
    w.pad(ALIGNMENT)
}

/// 64-bit FNV-1a, used for stable stream ids and file names.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Values generated per chunk while streaming a tensor.
const CHUNK_VALUES: usize = 1 << 20;

/// Streams the data of one tensor. The RNG stream depends only on the seed
/// and the tensor name, so a tensor's values do not depend on the weight
/// type, the number of layers or the tensor order.
fn write_tensor_data<W: Write>(
    w: &mut gguf::GgufWriter<W>,
    p: &Planned,
    seed: u64,
    vocab: &Vocab,
    q: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let ne0 = p.dims.first().copied().unwrap_or(1) as usize;
    let n_rows = (p.n_elements() / ne0.max(1) as u64) as usize;
    let expected = p.n_bytes()?;
    let start = w.written();

    // The f16 scale of the q8_0 grid: values are `scale * q`, |q| <= 127.
    let amplitude = if p.fill == Fill::RandomUnit {
        1.0
    } else {
        1.0 / (ne0 as f32).sqrt()
    };
    let scale = f16::from_f32(amplitude / 127.0);
    let scale_f32 = scale.to_f32();
    let scale_bytes = scale.to_le_bytes();

    let mut stream = ByteStream::new(seed, &p.name);

    let rows_per_chunk = (CHUNK_VALUES / ne0.max(1)).max(1);
    let mut row = 0usize;
    while row < n_rows {
        let rows = rows_per_chunk.min(n_rows - row);
        let n = rows * ne0;
        out.clear();
        match p.fill {
            Fill::Ones => {
                for _ in 0..n {
                    match p.ty {
                        GgmlType::F32 => out.extend_from_slice(&1.0f32.to_le_bytes()),
                        GgmlType::F16 => out.extend_from_slice(&f16::ONE.to_le_bytes()),
                        GgmlType::Q8_0 => {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidInput,
                                "norm tensors are written as f32/f16",
                            ))
                        }
                    }
                }
            }
            Fill::Random | Fill::RandomUnit | Fill::RandomSuppressRows => {
                q.resize(n, 0);
                stream.fill(q);
                if p.fill == Fill::RandomSuppressRows {
                    for r in 0..rows {
                        if vocab.is_suppressed((row + r) as u32) {
                            q[r * ne0..(r + 1) * ne0].fill(0);
                        }
                    }
                }
                match p.ty {
                    GgmlType::Q8_0 => {
                        out.resize(n / 32 * 34, 0);
                        for (o, block) in out.chunks_exact_mut(34).zip(q.chunks_exact(32)) {
                            o[..2].copy_from_slice(&scale_bytes);
                            o[2..].copy_from_slice(block);
                        }
                    }
                    GgmlType::F32 => {
                        // Lookup table: i8 grid value -> f32 bytes.
                        let lut: Vec<[u8; 4]> = (0..=255u8)
                            .map(|b| (scale_f32 * f32::from(b as i8)).to_le_bytes())
                            .collect();
                        out.resize(n * 4, 0);
                        for (o, &b) in out.chunks_exact_mut(4).zip(q.iter()) {
                            o.copy_from_slice(&lut[usize::from(b)]);
                        }
                    }
                    GgmlType::F16 => {
                        let lut: Vec<[u8; 2]> = (0..=255u8)
                            .map(|b| f16::from_f32(scale_f32 * f32::from(b as i8)).to_le_bytes())
                            .collect();
                        out.resize(n * 2, 0);
                        for (o, &b) in out.chunks_exact_mut(2).zip(q.iter()) {
                            o.copy_from_slice(&lut[usize::from(b)]);
                        }
                    }
                }
            }
        }
        w.bytes(out)?;
        row += rows;
    }
    if w.written() - start != expected {
        return Err(io::Error::other(format!(
            "internal error: tensor {} wrote {} bytes, expected {expected}",
            p.name,
            w.written() - start
        )));
    }
    w.pad(ALIGNMENT)
}

/// Deterministic stream of random bytes for one tensor, uniform over
/// `i8` values -127..=127 (0x80 never occurs).
///
/// The 64-bit key comes from ChaCha8 seeded with the spec seed on the stream
/// given by a hash of the tensor name; the bytes are SplitMix64 outputs of a
/// counter from that key. SplitMix64 is used for the bulk because it stays
/// fast in unoptimised (debug) test builds, where ChaCha runs ~50x slower.
struct ByteStream {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl ByteStream {
    fn new(seed: u64, tensor_name: &str) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut h = Fnv::new();
        h.write(tensor_name.as_bytes());
        rng.set_stream(h.finish());
        ByteStream {
            state: rng.next_u64(),
            word: [0; 8],
            used: 8,
        }
    }

    #[inline(always)]
    fn next_word(&mut self) -> [u8; 8] {
        const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
        const HI: u64 = 0x8080_8080_8080_8080;
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Turn every 0x80 byte (-128) into 0x81 (-127): `m` has the high bit
        // set exactly in the bytes of `z` that equal 0x80.
        let t = z ^ HI;
        let m = !(((t & LO7).wrapping_add(LO7)) | t | LO7);
        (z | (m >> 7)).to_le_bytes()
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut i = 0;
        // Drain the bytes left over from the previous call.
        while self.used < 8 && i < buf.len() {
            buf[i] = self.word[self.used];
            self.used += 1;
            i += 1;
        }
        let mut chunks = buf[i..].chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_word());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            self.word = self.next_word();
            let k = rest.len();
            rest.copy_from_slice(&self.word[..k]);
            self.used = k;
        }
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes the model described by `spec` to `path` and returns its summary.
///
/// The file is streamed (one tensor at a time through a buffered writer)
/// into a temporary file next to `path` that is renamed into place when
/// complete, so readers never see a partial file. Same spec => byte-identical
/// file.
pub fn write_model(spec: &ModelSpec, path: &Path) -> io::Result<ModelSummary> {
    spec.validate()?;
    let vocab = spec.vocab()?;
    let plan = plan(spec, vocab.len() as u64);
    let file_size = write_file(path, &plan, spec.seed, &vocab, |w| {
        write_header(w, spec, &vocab, &plan)
    })?;
    Ok(ModelSummary {
        path: path.to_path_buf(),
        arch_name: spec.arch.gguf_name().to_string(),
        n_vocab: vocab.len() as u32,
        tensors: plan
            .iter()
            .map(Planned::summary)
            .collect::<io::Result<_>>()?,
        file_size,
    })
}

/// Streams a model file: `header`, then the data of every tensor of `plan` (weights drawn
/// from `seed`), into a temporary file renamed to `path` when complete. Returns the size.
fn write_file(
    path: &Path,
    plan: &[Planned],
    seed: u64,
    vocab: &Vocab,
    header: impl FnOnce(&mut gguf::GgufWriter<BufWriter<File>>) -> io::Result<()>,
) -> io::Result<u64> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "model path has no file name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = (|| -> io::Result<u64> {
        let file = File::create(&tmp)?;
        let mut w = gguf::GgufWriter::new(BufWriter::with_capacity(8 << 20, file));
        header(&mut w)?;
        let mut q = Vec::new();
        let mut out = Vec::new();
        for p in plan {
            write_tensor_data(&mut w, p, seed, vocab, &mut q, &mut out)?;
        }
        let size = w.written();
        w.into_inner().flush()?;
        Ok(size)
    })();

    let file_size = match result {
        Ok(size) => size,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(file_size)
}

#[cfg(test)]
mod tests;
