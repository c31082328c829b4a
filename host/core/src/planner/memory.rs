//! What a loaded model holds on a GPU besides its weights: the KV cache, llama.cpp's compute
//! buffers and the backend's own context, estimated from the model's shape and the context
//! settings, plus the size a weight tensor takes in a CUDA buffer.
//!
//! The compute-buffer formula follows the tensors llama.cpp's graph keeps alive at its widest
//! point (attention, the MoE FFN, the output layer) and was calibrated against llama.cpp's own
//! measurement (its metadata-only dry run, and the buffer sizes it logs) on an NVIDIA H200 for
//! the two shapes of issue 11 (docs/gpu.md, "How the planner sizes memory").

use serde::Serialize;

use super::shape::ModelShape;
use crate::gguf::TensorInfo;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// llama.cpp pads the context (KV cells) to a multiple of this.
pub const CTX_PAD: u64 = 256;

/// CUDA's tensor alignment inside a buffer.
const CUDA_ALIGN: u64 = 128;
/// ggml-cuda pads quantized rows to a multiple of this many values (`MATRIX_ROW_PADDING`).
const CUDA_ROW_PADDING: u64 = 512;

/// The context a model is planned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContextShape {
    /// Tokens each sequence (slot) may hold.
    pub ctx_per_seq: u32,
    /// Sequences (server slots) sharing the KV cache.
    pub parallel: u32,
    /// Tokens per micro-batch (llama.cpp's `n_ubatch`).
    pub ubatch: u32,
    /// Bytes per KV value: 2 for f16 (the default cache type).
    pub kv_value_bytes: u32,
    /// Flash attention (llama.cpp's default on CUDA).
    pub flash_attn: bool,
}

impl ContextShape {
    /// KV cells: every slot's context, padded as llama.cpp pads it.
    pub fn kv_cells(&self) -> u64 {
        (u64::from(self.ctx_per_seq) * u64::from(self.parallel.max(1))).div_ceil(CTX_PAD)
            * CTX_PAD
    }

    /// Tokens of llama.cpp's worst-case (reserve) graph: `min(n_ctx, n_ubatch)`.
    pub fn reserve_tokens(&self) -> u64 {
        u64::from(self.ubatch).min(self.kv_cells()).max(1)
    }

    /// Outputs (logit rows) per micro-batch: one per sequence, as the host asks llama.cpp for
    /// (`n_outputs_max`).
    pub fn outputs(&self) -> u64 {
        u64::from(self.parallel.max(1)).min(self.reserve_tokens())
    }
}

/// The KV cache of `shape` under `ctx`, in bytes (all layers on the device).
pub fn kv_cache_bytes(shape: &ModelShape, ctx: &ContextShape) -> u64 {
    let per_cell = u64::from(shape.n_head_kv)
        * (u64::from(shape.head_dim_k) + u64::from(shape.head_dim_v))
        * u64::from(ctx.kv_value_bytes);
    u64::from(shape.n_layer) * ctx.kv_cells() * per_cell
}

/// The KV cache of one slot of `ctx.ctx_per_seq` tokens.
pub fn kv_cache_bytes_one_slot(shape: &ModelShape, ctx: &ContextShape) -> u64 {
    kv_cache_bytes(
        shape,
        &ContextShape {
            parallel: 1,
            ..*ctx
        },
    )
}

/// llama.cpp's compute buffer on the GPU for `shape` under `ctx`, in bytes.
///
/// `host_expert_group` is the largest set of host-resident expert tensors llama.cpp copies to
/// the GPU at once to run a micro-batch of 32 tokens or more there (op offload): the bytes of
/// the expert tensors of the widest host layer; 0 when every expert stays on the GPU.
pub fn compute_bytes(shape: &ModelShape, ctx: &ContextShape, host_expert_group: u64) -> u64 {
    let u = ctx.reserve_tokens();
    let f32b = 4u64;
    let embd = u64::from(shape.n_embd);
    let q = u64::from(shape.n_head) * u64::from(shape.head_dim_k);
    let kv = u64::from(shape.n_head_kv) * (u64::from(shape.head_dim_k) + u64::from(shape.head_dim_v));
    let out_v = u64::from(shape.n_head) * u64::from(shape.head_dim_v);
    // Inputs of the whole graph: the embeddings of the micro-batch and the attention mask
    // (f16, rows padded to 64 tokens).
    let mask = ctx.kv_cells() * u.div_ceil(64) * 64 * 2;
    let inputs = u * embd * f32b + mask;
    // Attention: residual + normed input, Q, new K/V, the attention output; without flash
    // attention also the score matrix and its softmax.
    let mut attention = u * (2 * embd + q + kv + out_v) * f32b;
    if !ctx.flash_attn {
        attention += 2 * ctx.kv_cells() * u * u64::from(shape.n_head) * f32b;
    }
    // FFN: residual + normed input, and for MoE the router logits/probabilities, the gate, up
    // and activation outputs of the used experts and their down projections.
    let ffn = if shape.n_expert > 0 {
        let used = u64::from(shape.n_expert_used.max(1));
        let ff = u64::from(shape.n_ff_exp);
        u * (2 * embd
            + 3 * u64::from(shape.n_expert)
            + 3 * used * ff
            + 2 * used * embd)
            * f32b
    } else {
        u * (2 * embd + 3 * u64::from(shape.n_ff)) * f32b
    };
    // Output layer: the normed hidden state and the logits of the requested rows.
    let output = ctx.outputs() * (embd + u64::from(shape.n_vocab)) * f32b + u * embd * f32b;
    let copies = if u >= OP_OFFLOAD_MIN_BATCH {
        host_expert_group
    } else {
        0
    };
    inputs + attention.max(ffn).max(output) + copies + COMPUTE_SLACK
}

/// The smallest micro-batch for which llama.cpp runs the matrix products of host-resident
/// weights on the GPU (copying the weights over): ggml-cuda's `min_batch_size` for op offload.
pub const OP_OFFLOAD_MIN_BATCH: u64 = 32;

/// Small buffers of the graph not modelled one by one (positions, ids, norms' scratch).
const COMPUTE_SLACK: u64 = 16 * MIB;

/// What a GPU backend holds of a process's device memory beyond llama.cpp's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeviceProfile {
    /// The ggml backend (`CUDA`).
    pub backend: &'static str,
    /// The backend's context: the CUDA context with its loaded kernels, cuBLAS's handle and
    /// workspace, as `nvidia-smi` shows a process that has allocated nothing else.
    pub context_bytes: u64,
    /// The backend's scratch pool (ggml-cuda's memory pool for dequantized or quantized
    /// operands) per micro-batch token, which grows to its largest use on the first request.
    pub pool_bytes_per_token: u64,
}

impl DeviceProfile {
    /// An NVIDIA GPU through `libggml-cuda.so` (measured on an H200 with CUDA 13: see
    /// docs/gpu.md).
    pub const CUDA: DeviceProfile = DeviceProfile {
        backend: "CUDA",
        context_bytes: 600 * MIB,
        pool_bytes_per_token: 64 * 1024,
    };

    /// The backend's part for a context of `ctx`.
    pub fn overhead_bytes(&self, ctx: &ContextShape) -> u64 {
        self.context_bytes + self.pool_bytes_per_token * ctx.reserve_tokens()
    }
}

/// The bytes `tensor` takes in a CUDA buffer: quantized rows padded to
/// `MATRIX_ROW_PADDING` values (once per tensor, as ggml-cuda's `get_alloc_size` does), then
/// aligned.
pub fn device_tensor_bytes(tensor: &TensorInfo) -> u64 {
    let mut size = tensor.n_bytes;
    let ne0 = tensor.dims.first().copied().unwrap_or(1);
    if tensor.ggml_type.is_quantized() && ne0 % CUDA_ROW_PADDING != 0 {
        let pad_values = CUDA_ROW_PADDING - ne0 % CUDA_ROW_PADDING;
        size += tensor
            .ggml_type
            .bytes_for(pad_values)
            .unwrap_or(pad_values * 2);
    }
    size.div_ceil(CUDA_ALIGN) * CUDA_ALIGN
}
