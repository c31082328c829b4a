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
        (u64::from(self.ctx_per_seq) * u64::from(self.parallel.max(1))).div_ceil(CTX_PAD) * CTX_PAD
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

/// Values (f32) per micro-batch token that llama.cpp's graph keeps alive at its widest point
/// without host-resident weights: the larger of the FFN's two peaks (gate, up and their
/// product live together; then the product, the experts' down projections and their weighted
/// copies) and attention.
///
/// Calibrated on an H200 with llama.cpp's metadata-only dry run (`llama-fit-params
/// --fit-print`) at micro-batches 512, 2048 and 4096, contexts 4096 and 32768: exact for the
/// Qwen3-30B-A3B and Mixtral-8x7B shapes (docs/gpu.md).
fn peak_values_per_token(shape: &ModelShape, flash_attn: bool, n_kv: u64) -> u64 {
    let embd = u64::from(shape.n_embd);
    let (width, used) = if shape.n_expert > 0 {
        (
            u64::from(shape.n_ff_exp),
            u64::from(shape.n_expert_used.max(1)),
        )
    } else {
        (u64::from(shape.n_ff), 1)
    };
    let gate_up = 3 * width * used + 4 * embd;
    let down = width * used + 2 * embd * used + 2 * embd;
    let q = u64::from(shape.n_head) * u64::from(shape.head_dim_k);
    let kv =
        u64::from(shape.n_head_kv) * (u64::from(shape.head_dim_k) + u64::from(shape.head_dim_v));
    let mut attention = 2 * embd + q + kv + u64::from(shape.n_head) * u64::from(shape.head_dim_v);
    if !flash_attn {
        // The score matrix and its softmax.
        attention += 2 * n_kv * u64::from(shape.n_head);
    }
    gate_up.max(down).max(attention)
}

/// llama.cpp's compute buffer on the GPU for `shape` under `ctx`, in bytes.
///
/// `host_expert` is the largest host-resident expert tensor (0 when every expert is on the
/// GPU): for a micro-batch of [`OP_OFFLOAD_MIN_BATCH`] tokens or more llama.cpp copies such
/// a tensor to the GPU to run its matrix product there, and the copy lives in the compute
/// buffer next to the activations of that product.
pub fn compute_bytes(shape: &ModelShape, ctx: &ContextShape, host_expert: u64) -> u64 {
    let u = ctx.reserve_tokens();
    let f32b = 4u64;
    let embd = u64::from(shape.n_embd);
    // The attention mask, an input of the whole graph: f16, rows padded to 64 tokens.
    let mask = ctx.kv_cells() * u.div_ceil(64) * 64 * 2;
    let mut act = u * peak_values_per_token(shape, ctx.flash_attn, ctx.kv_cells()) * f32b;
    if host_expert > 0 && u >= OP_OFFLOAD_MIN_BATCH {
        let (width, used) = if shape.n_expert > 0 {
            (
                u64::from(shape.n_ff_exp),
                u64::from(shape.n_expert_used.max(1)),
            )
        } else {
            (u64::from(shape.n_ff), 1)
        };
        act = if u >= u64::from(super::HOST_EXPERT_UBATCH) {
            // Seen at 4096: the copy on top of the widest point, plus two hidden states.
            act + host_expert + u * 2 * embd * f32b
        } else {
            // Seen at 512-2048 with whole host layers: the copy next to two expert-wide and
            // two hidden-wide activations; a layer split between the devices keeps one more
            // expert-wide activation alive (Mixtral at 1024: 661 against 549 MiB).
            act.max(host_expert + u * (3 * width * used + 2 * embd * used) * f32b)
        };
    }
    // The output layer: the logits of one row per sequence.
    let output = ctx.outputs() * (u64::from(shape.n_vocab) + embd) * f32b;
    mask + act + output + COMPUTE_SLACK
}

/// The smallest micro-batch for which llama.cpp runs the matrix products of host-resident
/// weights on the GPU (copying the weights over): ggml-cuda's `min_batch_size` for op offload.
pub const OP_OFFLOAD_MIN_BATCH: u64 = 32;

/// Small buffers of the graph not modelled one by one (positions, ids, the sampling graph).
const COMPUTE_SLACK: u64 = 8 * MIB;

/// What a GPU backend holds of a process's device memory beyond llama.cpp's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeviceProfile {
    /// The ggml backend (`CUDA`).
    pub backend: &'static str,
    /// The backend's context: the CUDA context with its loaded kernels, cuBLAS's handle and
    /// workspace, as `nvidia-smi` shows it for a process beyond llama.cpp's buffers.
    pub context_bytes: u64,
    /// The backend's scratch pool (ggml-cuda's pool for the quantized activations of matrix
    /// products, which grows to its largest use on the first prompt), in eighths of a byte per
    /// micro-batch token and value of the widest activation row.
    pub pool_eighths_per_value: u64,
    /// Whether llama.cpp copies host-resident weights to this device to multiply a large
    /// micro-batch there (op offload; the first such device of a split takes them all).
    pub op_offload: bool,
}

impl DeviceProfile {
    /// An NVIDIA GPU through `libggml-cuda.so`. Measured on an H200 (CUDA 13, driver 580)
    /// after loading and a 4096-token prompt: nvidia-smi's figure for the process minus
    /// llama.cpp's buffers was 698-714 MiB at micro-batch 512 and 758-813 MiB at 4096 for the
    /// two shapes of docs/gpu.md; this profile gives 729-736 and 792-846 MiB.
    pub const CUDA: DeviceProfile = DeviceProfile {
        backend: "CUDA",
        context_bytes: 720 * MIB,
        pool_eighths_per_value: 9,
        op_offload: true,
    };

    /// A device of a `shimmy-host rpc-worker` (ggml's RPC backend serving a CPU): llama.cpp's
    /// buffers only, no backend context or pool on the worker's budget, and no op offload.
    pub const RPC_CPU: DeviceProfile = DeviceProfile {
        backend: "RPC",
        context_bytes: 0,
        pool_eighths_per_value: 0,
        op_offload: false,
    };

    /// The backend's part for `shape` under `ctx`.
    pub fn overhead_bytes(&self, shape: &ModelShape, ctx: &ContextShape) -> u64 {
        let used = u64::from(shape.n_expert_used.max(1));
        let row = (u64::from(shape.n_embd) * used)
            .max(u64::from(shape.n_ff_exp) * used)
            .max(u64::from(shape.n_ff));
        self.context_bytes + (ctx.reserve_tokens() * row * self.pool_eighths_per_value).div_ceil(8)
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
