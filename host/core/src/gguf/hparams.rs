//! The hyper-parameters (and tensor types) llama.cpp asserts on, checked before a file is
//! handed to it.
//!
//! llama.cpp reads the model's hyper-parameters in `llama_model_base::load_hparams`
//! (`src/llama-model.cpp` of the vendored tree) and checks several of them with `GGML_ASSERT`,
//! which aborts the whole process (a server, with every other request in it) instead of
//! failing the load. Others are not checked there but abort later, in a ggml kernel at the
//! first request (the RoPE width, for one), or overflow the `int32` that `llama-cpp-2` turns
//! into a panic (the context length). [`check`] refuses all of them with an error that names
//! the key, its value and the range llama.cpp accepts. Problems llama.cpp reports as errors
//! by itself (a tensor of the wrong shape, a missing key) are left to it.
//!
//! The keys are read as llama.cpp reads them: scalars it reads as `uint32` must be stored as
//! `uint32` (it refuses other integer types), per-layer values may be one `uint32` or an
//! array with one `uint32`/`int32` per layer, and a missing key takes llama.cpp's default.

use super::graph_asserts::{KEY_HEAD_IS_VALUE_HEAD, ROPE_IS_HEAD_SIZE};
use super::{GgmlType, GgufFile, GgufValue, GgufValueType};
use crate::{Error, Result};

/// Most layers llama.cpp supports (`LLAMA_MAX_LAYERS`).
pub const MAX_LAYERS: u64 = 512;
/// Most experts per layer llama.cpp supports (`LLAMA_MAX_EXPERTS`).
pub const MAX_EXPERTS: u64 = 1024;
/// Largest value of a count that llama.cpp and `llama-cpp-2` pass around as an `int32`
/// (context length, embedding width, head counts).
pub const MAX_I32: u64 = i32::MAX as u64;
/// The values of `{arch}.rope.scaling.type` llama.cpp knows (`LLAMA_ROPE_SCALING_TYPES`).
pub const ROPE_SCALING_TYPES: &[&str] = &["none", "linear", "yarn", "longrope"];
/// Highest `{arch}.pooling_type` (`LLAMA_POOLING_TYPE_RANK`).
const MAX_POOLING_TYPE: u64 = 4;
/// Highest `{arch}.expert_gating_func` (`LLAMA_EXPERT_GATING_FUNC_TYPE_SQRT_SOFTPLUS`).
const MAX_EXPERT_GATING_FUNC: u64 = 4;
/// Architectures that turn a single expert into a dense model (`n_expert <= 1` → 0).
const SINGLE_EXPERT_IS_DENSE: &[&str] = &["hunyuan_vl", "hunyuan-dense"];
/// `tokenizer.ggml.model` values that mean "no tokenizer" (`LLAMA_VOCAB_TYPE_NONE`).
const NO_TOKENIZER: &[&str] = &["no_vocab", "none"];

/// Checks every hyper-parameter of `g` that llama.cpp would assert on (or crash on later),
/// and the types of its tensors.
pub(super) fn check(g: &GgufFile) -> Result<()> {
    let arch = g.architecture();
    let hp = Hparams { g, arch };
    hp.check_vocabulary()?;
    check_tensor_types(g)?;

    let n_ctx = hp.scalar("context_length")?;
    if let Some(n) = n_ctx {
        hp.in_range("context_length", n, 1, MAX_I32, "tokens")?;
    }
    let n_embd = hp.scalar("embedding_length")?;
    if let Some(n) = n_embd {
        hp.in_range("embedding_length", n, 1, MAX_I32, "values per token")?;
    }
    if let Some(n) = hp.scalar("embedding_length_out")? {
        hp.in_range("embedding_length_out", n, 0, MAX_I32, "values per token")?;
    }
    let Some(n_layer) = hp.scalar("block_count")? else {
        // llama.cpp refuses a file without it (a clear "key not found" error); nothing below
        // can be checked per layer without it.
        return Ok(());
    };
    hp.in_range("block_count", n_layer, 1, MAX_LAYERS, "layers")?;
    if let Some(n) = hp.scalar("nextn_predict_layers")? {
        hp.in_range("nextn_predict_layers", n, 0, n_layer, "at most block_count")?;
    }
    let layers = n_layer as usize;
    hp.check_experts(layers)?;

    let n_ff = hp.per_layer("feed_forward_length", layers)?;
    if let Some(v) = &n_ff {
        hp.each_in_range("feed_forward_length", v, 0, MAX_I32)?;
    }
    let n_head = hp
        .per_layer("attention.head_count", layers)?
        .unwrap_or_else(|| vec![0; layers]);
    hp.each_in_range("attention.head_count", &n_head, 0, MAX_I32)?;
    let n_head_kv = hp
        .per_layer("attention.head_count_kv", layers)?
        .unwrap_or_else(|| n_head.clone());
    hp.each_in_range("attention.head_count_kv", &n_head_kv, 0, MAX_I32)?;
    for (il, (&h, &kv)) in n_head.iter().zip(&n_head_kv).enumerate() {
        if kv > 0 && (h == 0 || h % kv != 0) {
            return Err(hp.invalid(format!(
                "layer {il} has {h} attention heads ({}) and {kv} key/value heads ({}): the query \
                 heads must be a non-zero multiple of the key/value heads (grouped-query \
                 attention), which llama.cpp's attention kernels assume",
                hp.key("attention.head_count"),
                hp.key("attention.head_count_kv"),
            )));
        }
    }
    // Without embedding_length llama.cpp refuses the file by itself.
    if let Some(n_embd) = n_embd.filter(|_| n_head[0] > 0) {
        hp.check_head_sizes(n_embd, n_head[0])?;
    }
    if let Some(t) = g
        .tensors
        .iter()
        .find(|t| t.layer().is_some_and(|l| u64::from(l) >= n_layer))
    {
        return Err(hp.invalid(format!(
            "tensor '{}' belongs to layer {}, but the model has {n_layer} layers ({}); the file is \
             corrupt or was converted incorrectly",
            t.name,
            t.layer().unwrap_or(0),
            hp.key("block_count")
        )));
    }

    if let Some(v) = hp.get("rope.scaling.type") {
        let key = hp.key("rope.scaling.type");
        match v {
            GgufValue::String(s) if ROPE_SCALING_TYPES.contains(&s.as_str()) => {}
            GgufValue::String(s) => {
                return Err(hp.invalid(format!(
                    "metadata key '{key}' is {s:?}; llama.cpp knows {} (anything else aborts it)",
                    ROPE_SCALING_TYPES.join(", ")
                )))
            }
            other => return Err(hp.wrong_type(&key, other, GgufValueType::String)),
        }
    }
    if let Some(n) = hp.scalar("pooling_type")? {
        hp.in_range(
            "pooling_type",
            n,
            0,
            MAX_POOLING_TYPE,
            "a llama_pooling_type",
        )?;
    }
    if let Some(n) = hp.scalar("expert_gating_func")? {
        hp.in_range(
            "expert_gating_func",
            n,
            0,
            MAX_EXPERT_GATING_FUNC,
            "a llama_expert_gating_func_type",
        )?;
    }
    hp.check_floats()
}

/// The metadata of one file, read the way llama.cpp reads it.
struct Hparams<'a> {
    g: &'a GgufFile,
    arch: &'a str,
}

impl Hparams<'_> {
    /// `{arch}.{suffix}`.
    fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }

    fn get(&self, suffix: &str) -> Option<&GgufValue> {
        self.g.get(&self.key(suffix))
    }

    fn invalid(&self, reason: String) -> Error {
        Error::invalid_gguf(&self.g.path, reason)
    }

    fn wrong_type(&self, key: &str, value: &GgufValue, wanted: GgufValueType) -> Error {
        self.invalid(format!(
            "metadata key '{key}' is stored as {}, but llama.cpp reads it only as {wanted} and \
             refuses the file; the file is corrupt or was converted incorrectly",
            type_name(value)
        ))
    }

    /// Fails unless `lo <= value <= hi`.
    fn in_range(&self, suffix: &str, value: u64, lo: u64, hi: u64, unit: &str) -> Result<()> {
        if (lo..=hi).contains(&value) {
            return Ok(());
        }
        Err(self.invalid(format!(
            "metadata key '{}' is {value}, outside the range llama.cpp accepts ({lo} to {hi}, {unit}); \
             the file is corrupt or was converted incorrectly",
            self.key(suffix)
        )))
    }

    /// Fails unless every per-layer value is in `lo..=hi`.
    fn each_in_range(&self, suffix: &str, values: &[u64], lo: u64, hi: u64) -> Result<()> {
        match values.iter().position(|v| !(lo..=hi).contains(v)) {
            None => Ok(()),
            Some(il) => Err(self.invalid(format!(
                "metadata key '{}' is {} for layer {il}, outside the range llama.cpp accepts \
                 ({lo} to {hi}); the file is corrupt or was converted incorrectly",
                self.key(suffix),
                values[il]
            ))),
        }
    }

    /// A scalar llama.cpp reads as `uint32`: `None` when absent.
    fn scalar(&self, suffix: &str) -> Result<Option<u64>> {
        match self.get(suffix) {
            None => Ok(None),
            Some(GgufValue::U32(v)) => Ok(Some(u64::from(*v))),
            Some(other) => Err(self.wrong_type(&self.key(suffix), other, GgufValueType::U32)),
        }
    }

    /// A per-layer value (`get_key_or_arr`): one `uint32` for every layer, or an array of
    /// exactly `n_layer` `uint32`/`int32`/`bool` values. `None` when absent.
    fn per_layer(&self, suffix: &str, n_layer: usize) -> Result<Option<Vec<u64>>> {
        let key = self.key(suffix);
        let Some(value) = self.g.get(&key) else {
            return Ok(None);
        };
        let array = match value {
            GgufValue::U32(v) => return Ok(Some(vec![u64::from(*v); n_layer])),
            GgufValue::Array(a) => a,
            other => return Err(self.wrong_type(&key, other, GgufValueType::U32)),
        };
        if array.len != n_layer as u64 {
            return Err(self.invalid(format!(
                "metadata key '{key}' has {} values but the model has {n_layer} layers \
                 (block_count); llama.cpp needs one per layer",
                array.len
            )));
        }
        // At most MAX_LAYERS values, so they were kept.
        let values = array.values.as_deref().unwrap_or_default();
        values
            .iter()
            .enumerate()
            .map(|(il, v)| match v {
                GgufValue::U32(x) => Ok(u64::from(*x)),
                GgufValue::Bool(b) => Ok(u64::from(*b)),
                // llama.cpp copies the bits into a uint32: a negative count is enormous.
                GgufValue::I32(x) => u64::try_from(*x).map_err(|_| {
                    self.invalid(format!(
                        "metadata key '{key}' is {x} for layer {il}; a count cannot be negative"
                    ))
                }),
                other => Err(self.invalid(format!(
                    "metadata key '{key}' is an array of {}, but llama.cpp reads only uint32, \
                     int32 or bool arrays there and refuses the file",
                    type_name(other)
                ))),
            })
            .collect::<Result<Vec<u64>>>()
            .map(Some)
    }

    /// Expert counts: the asserts after `LLM_KV_EXPERT_GROUP_USED_COUNT` in `load_hparams`.
    fn check_experts(&self, n_layer: usize) -> Result<()> {
        let mut n_expert = self.scalar("expert_count")?.unwrap_or(0);
        self.in_range(
            "expert_count",
            n_expert,
            0,
            MAX_EXPERTS,
            "experts per layer",
        )?;
        let mut used = self
            .per_layer("expert_used_count", n_layer)?
            .unwrap_or_else(|| vec![0; n_layer]);
        if SINGLE_EXPERT_IS_DENSE.contains(&self.arch) && n_expert <= 1 {
            n_expert = 0;
            used.iter_mut().for_each(|u| *u = 0);
        }
        let used_max = used.iter().copied().max().unwrap_or(0);
        let groups = self.scalar("expert_group_count")?.unwrap_or(0);
        let group_used = self.scalar("expert_group_used_count")?.unwrap_or(0);
        let (count_key, used_key, groups_key) = (
            self.key("expert_count"),
            self.key("expert_used_count"),
            self.key("expert_group_count"),
        );
        let fail = |why: String| Err(self.invalid(why));
        if n_expert == 0 {
            if used_max > 0 {
                return fail(format!(
                    "metadata key '{used_key}' is {used_max} but '{count_key}' is 0 (or missing): \
                     a dense model uses no experts; llama.cpp aborts on this"
                ));
            }
            if groups > 0 {
                return fail(format!(
                    "metadata key '{groups_key}' is {groups} but the model has no experts \
                     ('{count_key}' is 0 or missing); llama.cpp aborts on this"
                ));
            }
            return Ok(());
        }
        if used_max == 0 || used_max > n_expert {
            return fail(format!(
                "metadata key '{used_key}' is {used_max}; a model with {n_expert} experts per layer \
                 ('{count_key}') must use 1 to {n_expert} of them per token"
            ));
        }
        if groups >= n_expert {
            return fail(format!(
                "metadata key '{groups_key}' is {groups}; it must be less than the {n_expert} \
                 experts per layer ('{count_key}')"
            ));
        }
        if groups > 1 {
            let group_used_key = self.key("expert_group_used_count");
            if n_expert % groups != 0 {
                return fail(format!(
                    "'{count_key}' ({n_expert}) is not a multiple of '{groups_key}' ({groups}); \
                     the experts must split into equal groups"
                ));
            }
            if group_used == 0 || group_used >= groups {
                return fail(format!(
                    "metadata key '{group_used_key}' is {group_used}; with {groups} expert groups \
                     it must be 1 to {}",
                    groups - 1
                ));
            }
        }
        Ok(())
    }

    /// Head sizes and RoPE widths of a transformer (`n_head > 0`): the defaults llama.cpp
    /// derives from `n_embd / n_head`, and the RoPE kernel's `n_dims <= head size`, `n_dims`
    /// even (ggml-cpu `GGML_ASSERT`s at the first request).
    fn check_head_sizes(&self, n_embd: u64, n_head: u64) -> Result<()> {
        let default = n_embd / n_head;
        let head_k = self.scalar("attention.key_length")?.unwrap_or(default);
        let head_v = self.scalar("attention.value_length")?.unwrap_or(default);
        for (suffix, size) in [
            ("attention.key_length", head_k),
            ("attention.value_length", head_v),
        ] {
            if size == 0 || size > MAX_I32 {
                return Err(self.invalid(format!(
                    "the attention head size is {size} ('{}', or embedding_length {n_embd} / \
                     head_count {n_head} when it is absent); llama.cpp needs 1 to {MAX_I32}",
                    self.key(suffix),
                )));
            }
        }
        if KEY_HEAD_IS_VALUE_HEAD.contains(&self.arch) && head_k != head_v {
            return Err(self.invalid(format!(
                "the key head size is {head_k} ('{}') and the value head size {head_v} ('{}'), but \
                 llama.cpp's {} graph needs them equal and aborts otherwise",
                self.key("attention.key_length"),
                self.key("attention.value_length"),
                self.arch
            )));
        }
        let n_rot = self.scalar("rope.dimension_count")?.unwrap_or(head_k);
        self.check_rope(
            "rope.dimension_count",
            n_rot,
            head_k,
            "attention.key_length",
        )?;
        if ROPE_IS_HEAD_SIZE.contains(&self.arch) && n_rot != head_k {
            return Err(self.invalid(format!(
                "metadata key '{}' is {n_rot}, but llama.cpp's {} graph rotates the whole head \
                 (it aborts otherwise): it must equal the head size {head_k}",
                self.key("rope.dimension_count"),
                self.arch
            )));
        }
        let head_k_swa = self.scalar("attention.key_length_swa")?.unwrap_or(head_k);
        self.scalar("attention.value_length_swa")?;
        let n_rot_swa = self.scalar("rope.dimension_count_swa")?.unwrap_or(n_rot);
        self.check_rope(
            "rope.dimension_count_swa",
            n_rot_swa,
            head_k_swa,
            "attention.key_length_swa",
        )
    }

    fn check_rope(&self, suffix: &str, n_rot: u64, head: u64, head_key: &str) -> Result<()> {
        if n_rot <= head && n_rot & 1 == 0 {
            return Ok(());
        }
        Err(self.invalid(format!(
            "the RoPE width is {n_rot} ('{}'), but it must be even and at most the head size {head} \
             ('{}' or its default); llama.cpp's RoPE kernel aborts otherwise",
            self.key(suffix),
            self.key(head_key)
        )))
    }

    /// The model's float hyper-parameters (norm epsilons, RoPE bases and factors, softcaps)
    /// must be finite: NaN or infinity turns every answer into NaN logits.
    fn check_floats(&self) -> Result<()> {
        let prefix = format!("{}.", self.arch);
        for (key, value) in self.g.metadata.range(prefix.clone()..) {
            if !key.starts_with(&prefix) {
                break;
            }
            if let Some(x) = value.as_f64().filter(|x| !x.is_finite()) {
                return Err(self.invalid(format!(
                    "metadata key '{key}' is {x}; a hyper-parameter must be a finite number"
                )));
            }
        }
        Ok(())
    }

    /// The tokenizer must exist (`LLAMA_VOCAB_TYPE_NONE` models abort on their first token).
    fn check_vocabulary(&self) -> Result<()> {
        let key = "tokenizer.ggml.model";
        match self.g.get(key) {
            Some(GgufValue::String(m)) if NO_TOKENIZER.contains(&m.as_str()) => {
                return Err(self.invalid(format!(
                    "metadata key '{key}' is {m:?}: the model has no tokenizer, and shimmy-host \
                     needs one to turn text into tokens; use a model file with its vocabulary"
                )))
            }
            Some(GgufValue::String(_)) | None => {}
            Some(other) => return Err(self.wrong_type(key, other, GgufValueType::String)),
        }
        let Some(n_tokens) = self.g.token_count() else {
            return Ok(());
        };
        for list in ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"] {
            if let Some(n) = self.g.array_len(list).filter(|n| *n < n_tokens) {
                return Err(self.invalid(format!(
                    "metadata key '{list}' has {n} values for the {n_tokens} tokens of \
                     'tokenizer.ggml.tokens'; it needs one per token"
                )));
            }
        }
        Ok(())
    }
}

/// Tensor types llama.cpp can compute with. It loads a tensor of any type, but its kernels
/// abort at the first request on weights of an integer type or `f64` (no matrix product,
/// no row lookup), and on a vector (a norm weight, a bias: one dimension) that is not `f32`
/// (the CPU's element-wise product of `f32` activations takes only `f32`). Converters and
/// `llama-quantize` never write either.
fn check_tensor_types(g: &GgufFile) -> Result<()> {
    for t in &g.tensors {
        let ty = t.ggml_type;
        if matches!(
            ty,
            GgmlType::I8 | GgmlType::I16 | GgmlType::I32 | GgmlType::I64 | GgmlType::F64
        ) {
            return Err(Error::invalid_gguf(
                &g.path,
                format!(
                    "tensor '{}' has type {ty}, which llama.cpp cannot compute with (model weights \
                     are float or quantized); the file is corrupt or was converted incorrectly",
                    t.name
                ),
            ));
        }
        // ggml counts dimensions up to the last one that is not 1.
        let n_dims = t.dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
        if n_dims == 1 && ty != GgmlType::F32 {
            return Err(Error::invalid_gguf(
                &g.path,
                format!(
                    "tensor '{}' is a vector of {} values stored as {ty}; llama.cpp needs vectors \
                     (norm weights, biases) in f32 and aborts on others; the file is corrupt or \
                     was converted incorrectly",
                    t.name,
                    t.n_elements()
                ),
            ));
        }
    }
    Ok(())
}

/// The GGUF type of a value, for messages (`array of uint32` for arrays).
fn type_name(value: &GgufValue) -> String {
    match value {
        GgufValue::Array(a) => format!("an array of {}", a.elem_type),
        other => format!("{}", other.value_type()),
    }
}
