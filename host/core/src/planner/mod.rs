//! The MoE placement planner: which expert tensors stay in host memory so that everything the
//! model holds on the GPU fits a budget, and the micro-batch to run with.
//!
//! Pure code over the GGUF tensor table (no GPU, no llama.cpp): so `probe --plan-only` can
//! plan for a card the machine does not have, and the unit tests below check the rules.
//!
//! * [`shape`]: the hyper-parameters that size the KV cache and compute buffers.
//! * [`memory`]: the estimates of the KV cache, the compute buffers and the backend's own
//!   context, and the size of a tensor in a CUDA buffer.
//!
//! The device total is the weights on the GPU (every tensor but the token embeddings and the
//! host-resident experts, each as the CUDA buffer stores it), the KV cache of all slots, the
//! compute buffer of the chosen micro-batch (with the host expert llama.cpp copies over to run
//! a large micro-batch on the GPU) and the backend's context. With `--moe-offload auto` the
//! planner first tries every expert on the GPU; when that does not fit it fills what is left of
//! the budget at micro-batch [`DEFAULT_UBATCH`] with the experts of whole layers, the last
//! layer first (so the host keeps whole leading layers, as `--n-cpu-moe N` does), and then of
//! one more layer in part: its down projection alone when one tensor fits, its gate and up
//! projections when two do. Every step adds tensors, so more budget never puts fewer tensors
//! on the GPU. On an H200 the first or last layers on the host and a split layer decoded alike
//! within the noise; gate+up on the GPU beat down alone (docs/gpu.md).
//!
//! Decoding comes first: that plan fixes the experts on the GPU, and `auto` then takes the
//! largest micro-batch of 4096, 2048 and 1024 whose larger compute buffer fits in what the plan
//! leaves of the budget, so a faster prompt never costs an expert tensor on the GPU (decoding
//! time grows with the expert bytes in host memory; `--ubatch-size` trades them explicitly).

pub mod devices;
pub mod memory;
pub mod shape;

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::Serialize;

use crate::gguf::{GgufFile, TensorInfo};
pub use crate::placement::DeviceEstimate;
use crate::placement::{format_bytes, layer_expert_pattern, MoeOffload, EXPERT_PATTERN};
use crate::{Error, Result};
pub use memory::{ContextShape, DeviceProfile, MIB};
pub use shape::ModelShape;

/// The micro-batch when every expert is on the GPU (llama.cpp's default).
pub const DEFAULT_UBATCH: u32 = 512;

/// The micro-batch with experts in host memory (`--cpu-moe`, `--n-cpu-moe N`): llama.cpp copies
/// every host-resident expert tensor to the GPU once per micro-batch of a prompt, so larger
/// micro-batches make prompts several times faster (pp4096 on an H200 with `--n-cpu-moe 48`:
/// 437 tok/s at 512, 1424 at 2048, 2183 at 4096), at the price of a larger compute buffer.
pub const HOST_EXPERT_UBATCH: u32 = 4096;

/// The micro-batches `auto` tries, largest first, when experts stay in host memory.
const UBATCH_STEPS: [u32; 4] = [4096, 2048, 1024, 512];

/// What to plan for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    /// The MoE mode: [`MoeOffload::Auto`] lets the planner choose; the fixed modes are
    /// estimated as they are.
    pub mode: MoeOffload,
    /// Device memory the model may hold, in bytes; `None`: no limit.
    pub budget: Option<u64>,
    /// Tokens per slot.
    pub ctx_per_seq: u32,
    /// Slots (server `--parallel`).
    pub parallel: u32,
    /// `--ubatch-size`, when given.
    pub ubatch: Option<u32>,
    /// The GPU backend.
    pub device: DeviceProfile,
    /// The device's name in reports (`CUDA0`).
    pub device_name: String,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The GPU backend (`CUDA`).
    pub backend: &'static str,
    /// The override patterns (tensors to keep in host memory) to hand to llama.cpp.
    pub patterns: Vec<String>,
    /// The micro-batch.
    pub ubatch: u32,
    /// The context planned for (with that micro-batch).
    pub context: ContextShape,
    /// The device memory it leads to.
    pub estimate: DeviceEstimate,
    /// Expert tensors in host memory / in the model.
    pub expert_tensors_host: usize,
    /// Expert tensors in the model.
    pub expert_tensors_total: usize,
    /// Layers whose experts are all in host memory.
    pub expert_layers_host: u32,
    /// The layer split between the devices (some experts on each), if any.
    pub split_layer: Option<u32>,
    /// Layers with experts.
    pub expert_layers: u32,
}

impl fmt::Display for Plan {
    /// One line, e.g. `plan for CUDA0: experts of 12 of 48 layers in host memory (+1 tensor of
    /// layer 12), micro-batch 4096; weights 9.1 GiB + KV 384.0 MiB + compute 800.0 MiB + CUDA
    /// context 700.0 MiB = 10.9 GiB of 11.0 GiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.estimate;
        write!(f, "plan for {}: ", e.device)?;
        if self.expert_tensors_total == 0 {
            f.write_str("dense model, every weight on the device")?;
        } else if self.expert_tensors_host == 0 {
            write!(
                f,
                "every expert tensor ({}) on the device",
                self.expert_tensors_total
            )?;
        } else {
            write!(
                f,
                "experts of {} of {} layers in host memory",
                self.expert_layers_host, self.expert_layers
            )?;
            if let Some(il) = self.split_layer {
                let whole = self.expert_layers_host as usize;
                let per_layer = self.expert_tensors_total / self.expert_layers.max(1) as usize;
                let extra = self.expert_tensors_host.saturating_sub(whole * per_layer);
                write!(
                    f,
                    " (+{extra} tensor{} of layer {il})",
                    if extra == 1 { "" } else { "s" }
                )?;
            }
        }
        write!(
            f,
            ", micro-batch {}; weights {} + KV {} + compute {} + {} context {} = {}",
            self.ubatch,
            format_bytes(e.weights),
            format_bytes(e.kv_cache),
            format_bytes(e.compute),
            self.backend,
            format_bytes(e.context),
            format_bytes(e.total())
        )?;
        if let Some(b) = e.budget {
            write!(f, " of {}", format_bytes(b))?;
        }
        Ok(())
    }
}

/// One expert tensor of the model.
#[derive(Debug, Clone, Copy)]
struct Expert<'a> {
    layer: u32,
    tensor: &'a TensorInfo,
    device_bytes: u64,
}

/// Whether `name` is the expert tensor of kind `kind` (`gate`, `up`, `down`).
fn is_kind(name: &str, kind: &str) -> bool {
    name.contains(&format!(".ffn_{kind}_exps")) || name.contains(&format!(".ffn_{kind}_chexps"))
}

/// The expert tensors of `gguf`, the last layer's first (the order in which whole layers go
/// to the GPU as the budget grows).
fn gpu_order(gguf: &GgufFile) -> Vec<Expert<'_>> {
    let Ok(expert) = Regex::new(EXPERT_PATTERN) else {
        return Vec::new();
    };
    let mut experts: Vec<Expert<'_>> = gguf
        .tensors
        .iter()
        .filter(|t| expert.is_match(&t.name))
        .filter_map(|t| {
            Some(Expert {
                layer: t.layer()?,
                tensor: t,
                device_bytes: memory::device_tensor_bytes(t),
            })
        })
        .collect();
    experts.sort_by(|a, b| {
        b.layer
            .cmp(&a.layer)
            .then(a.tensor.name.cmp(&b.tensor.name))
    });
    experts
}

/// Device bytes of every tensor that is not an expert and not an input embedding (those stay
/// in host memory), with the tied-embedding duplicate llama.cpp makes for the output layer.
fn fixed_device_bytes(gguf: &GgufFile) -> u64 {
    let expert = Regex::new(EXPERT_PATTERN).ok();
    let mut total = 0;
    for t in &gguf.tensors {
        let is_expert = expert.as_ref().is_some_and(|re| re.is_match(&t.name));
        if is_expert || crate::placement::is_input_tensor(&t.name) {
            continue;
        }
        total += memory::device_tensor_bytes(t);
    }
    if gguf.tensor("output.weight").is_none() {
        if let Some(embd) = gguf.tensor("token_embd.weight") {
            total += memory::device_tensor_bytes(embd);
        }
    }
    total
}

/// The override patterns that keep `host` (expert tensors) in host memory: one pattern per
/// whole layer, the exact names of a split layer's tensors.
fn host_patterns(all: &[Expert<'_>], host: &[Expert<'_>]) -> (Vec<String>, u32, Option<u32>) {
    let mut per_layer: BTreeMap<u32, (usize, Vec<&str>)> = BTreeMap::new();
    for e in all {
        per_layer.entry(e.layer).or_default().0 += 1;
    }
    for e in host {
        per_layer.entry(e.layer).or_default().1.push(&e.tensor.name);
    }
    let mut patterns = Vec::new();
    let (mut whole, mut split) = (0, None);
    for (layer, (count, names)) in per_layer {
        if names.is_empty() {
            continue;
        }
        if names.len() == count {
            patterns.push(layer_expert_pattern(layer));
            whole += 1;
        } else {
            split = Some(layer);
            let mut names = names;
            names.sort_unstable();
            patterns.extend(names.into_iter().map(|n| format!("^{}$", regex::escape(n))));
        }
    }
    (patterns, whole, split)
}

/// The largest host-resident expert tensor (what llama.cpp copies to the GPU for a large
/// micro-batch).
fn largest(host: &[Expert<'_>]) -> u64 {
    host.iter().map(|e| e.device_bytes).max().unwrap_or(0)
}

/// Which expert tensors go to the GPU within `room` bytes: whole layers in `all`'s order, then
/// of the next layer the gate and up projections if both fit, else its down projection if it
/// fits (else any one tensor that fits, for other layouts). Returns indexes into `all`.
fn fill(all: &[Expert<'_>], mut room: u64) -> Vec<usize> {
    let mut chosen = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let layer = all[i].layer;
        let end = (i..all.len())
            .find(|&j| all[j].layer != layer)
            .unwrap_or(all.len());
        let whole: u64 = all[i..end].iter().map(|e| e.device_bytes).sum();
        if whole <= room {
            room -= whole;
            chosen.extend(i..end);
            i = end;
            continue;
        }
        let of = |kind: &str| (i..end).find(|&j| is_kind(&all[j].tensor.name, kind));
        let bytes = |js: &[usize]| js.iter().map(|&j| all[j].device_bytes).sum::<u64>();
        let pair: Vec<usize> = [of("gate"), of("up")].into_iter().flatten().collect();
        let part = if pair.len() == 2 && bytes(&pair) <= room {
            pair
        } else if let Some(down) = of("down").filter(|&j| all[j].device_bytes <= room) {
            vec![down]
        } else {
            (i..end)
                .find(|&j| all[j].device_bytes <= room)
                .into_iter()
                .collect()
        };
        chosen.extend(part);
        break;
    }
    chosen
}

/// The context planned for: `parallel` slots of `ctx_per_seq` tokens at micro-batch `ubatch`,
/// with llama.cpp's defaults on CUDA (an f16 KV cache, flash attention).
fn planned_context(ctx_per_seq: u32, parallel: u32, ubatch: u32) -> ContextShape {
    ContextShape {
        ctx_per_seq,
        parallel,
        ubatch,
        kv_value_bytes: 2,
        flash_attn: true,
    }
}

/// Checks `--ubatch-size` against the context.
pub fn check_ubatch(ubatch: Option<u32>, ctx_per_seq: u32) -> Result<()> {
    match ubatch {
        Some(0) => Err(Error::InvalidOption(
            "--ubatch-size must be at least 1 token".into(),
        )),
        Some(u) if u > ctx_per_seq => Err(Error::InvalidOption(format!(
            "--ubatch-size {u} is larger than the context of {ctx_per_seq} tokens; a \
             micro-batch never holds more than one context: use at most --ubatch-size \
             {ctx_per_seq}, or raise --ctx-size"
        ))),
        _ => Ok(()),
    }
}

/// Plans `gguf` for `request`.
///
/// [`MoeOffload::Auto`] chooses the host-resident experts (see the module docs); the other
/// modes are estimated as they are. The micro-batch is `--ubatch-size` when given, else
/// [`DEFAULT_UBATCH`] with every expert on the GPU, the largest step that moves no expert to
/// the host (module docs) when `auto` keeps experts in host memory, and [`HOST_EXPERT_UBATCH`]
/// (at most the context) for `--cpu-moe` and `--n-cpu-moe N`. A budget that cannot hold the
/// tensors that always stay on the GPU, the KV cache, the compute buffer and the backend's context is an
/// [`Error::InvalidOption`] that names the smallest budget that works.
pub fn plan(gguf: &GgufFile, request: &PlanRequest) -> Result<Plan> {
    check_ubatch(request.ubatch, request.ctx_per_seq)?;
    if request.parallel == 0 || request.ctx_per_seq == 0 {
        return Err(Error::InvalidOption(
            "the planner needs at least one slot of at least one token".into(),
        ));
    }
    let shape = ModelShape::from_gguf(gguf)?;
    let all = gpu_order(gguf);
    let fixed = fixed_device_bytes(gguf);
    let ctx_for = |ubatch| planned_context(request.ctx_per_seq, request.parallel, ubatch);
    let small = ctx_for(
        request
            .ubatch
            .unwrap_or(DEFAULT_UBATCH.min(request.ctx_per_seq)),
    );
    let big = ctx_for(
        request
            .ubatch
            .unwrap_or(HOST_EXPERT_UBATCH.min(request.ctx_per_seq)),
    );
    let kv = memory::kv_cache_bytes(&shape, &small);
    let estimate =
        |ctx: &ContextShape, on_gpu: &[Expert<'_>], host: &[Expert<'_>]| DeviceEstimate {
            device: request.device_name.clone(),
            weights: fixed + on_gpu.iter().map(|e| e.device_bytes).sum::<u64>(),
            kv_cache: kv,
            compute: memory::compute_bytes(&shape, ctx, largest(host)),
            context: request.device.overhead_bytes(&shape, ctx),
            budget: request.budget,
        };
    // `on_gpu[i]`: whether expert `all[i]` goes to the GPU.
    let finish = |ctx: ContextShape, on_gpu: &[bool]| -> Plan {
        let (gpu, host): (Vec<Expert<'_>>, Vec<Expert<'_>>) = {
            let (g, h): (Vec<_>, Vec<_>) = all.iter().zip(on_gpu).partition(|(_, &g)| g);
            (
                g.into_iter().map(|(e, _)| *e).collect(),
                h.into_iter().map(|(e, _)| *e).collect(),
            )
        };
        let (patterns, whole, split) = host_patterns(&all, &host);
        let layers: std::collections::BTreeSet<u32> = all.iter().map(|e| e.layer).collect();
        Plan {
            backend: request.device.backend,
            patterns,
            ubatch: ctx.ubatch,
            context: ctx,
            estimate: estimate(&ctx, &gpu, &host),
            expert_tensors_host: host.len(),
            expert_tensors_total: all.len(),
            expert_layers_host: whole,
            split_layer: split,
            expert_layers: layers.len() as u32,
        }
    };
    let every = vec![true; all.len()];
    let none = vec![false; all.len()];
    match request.mode {
        MoeOffload::None => Ok(finish(small, &every)),
        MoeOffload::All if all.is_empty() => Ok(finish(small, &every)),
        MoeOffload::All => Ok(finish(big, &none)),
        MoeOffload::FirstLayers(n) => {
            let on_gpu: Vec<bool> = all.iter().map(|e| e.layer >= n).collect();
            let ctx = if on_gpu.iter().all(|&g| g) {
                small
            } else {
                big
            };
            Ok(finish(ctx, &on_gpu))
        }
        MoeOffload::Auto => {
            let everything = finish(small, &every);
            let Some(budget) = request.budget else {
                return Ok(everything);
            };
            if everything.estimate.total() <= budget || all.is_empty() {
                return too_small(&everything, budget, &shape, request).map(|()| everything);
            }
            // Experts go to host memory: the copy of the largest expert is counted from the
            // start (so the base does not depend on the budget).
            let fit_with = |ctx: ContextShape| -> Result<Plan> {
                let base = estimate(&ctx, &[], &all);
                too_small_estimate(&base, budget, &shape, request, &ctx)?;
                let mut on_gpu = none.clone();
                for i in fill(&all, budget - base.total()) {
                    on_gpu[i] = true;
                }
                let mut plan = finish(ctx, &on_gpu);
                // The copy term stays that of the largest expert, as in the base.
                plan.estimate.compute = base.compute;
                Ok(plan)
            };
            if let Some(ubatch) = request.ubatch {
                return fit_with(ctx_for(ubatch));
            }
            // Decoding first: the plan of the default micro-batch sets which experts go to
            // the GPU; a larger micro-batch is taken only where its compute buffer fits in
            // what that plan leaves of the budget, so it never moves an expert to the host.
            let base = fit_with(small)?;
            for ubatch in UBATCH_STEPS
                .into_iter()
                .filter(|&u| u > small.ubatch && u <= request.ctx_per_seq)
            {
                if let Ok(p) = fit_with(ctx_for(ubatch)) {
                    if p.expert_tensors_host <= base.expert_tensors_host {
                        return Ok(p);
                    }
                }
            }
            Ok(base)
        }
    }
}

/// `Ok` when `plan` fits `budget`, else the error naming the smallest budget that works.
fn too_small(plan: &Plan, budget: u64, shape: &ModelShape, request: &PlanRequest) -> Result<()> {
    too_small_estimate(&plan.estimate, budget, shape, request, &plan.context)
}

fn too_small_estimate(
    e: &DeviceEstimate,
    budget: u64,
    shape: &ModelShape,
    request: &PlanRequest,
    ctx: &ContextShape,
) -> Result<()> {
    if e.total() <= budget {
        return Ok(());
    }
    let one_slot = memory::kv_cache_bytes_one_slot(shape, ctx);
    let slots = if request.parallel > 1 {
        format!(
            " for {} slots of {} tokens ({} per slot)",
            request.parallel,
            request.ctx_per_seq,
            format_bytes(one_slot)
        )
    } else {
        format!(" for one slot of {} tokens", request.ctx_per_seq)
    };
    Err(Error::InvalidOption(format!(
        "a GPU budget of {} MiB is too small for this {} model: with every MoE expert in host memory it \
         still needs the tensors that always stay on the GPU ({}), the KV cache{slots} ({}), \
         the compute buffer of micro-batch {} ({}) and the {} context ({}), {} MiB in all; \
         give --vram-budget-mb {} or more, or lower --ctx-size/--parallel{}, or run on the \
         CPU (--gpu-backend cpu)",
        budget / MIB,
        shape.architecture,
        format_bytes(e.weights),
        format_bytes(e.kv_cache),
        ctx.ubatch,
        format_bytes(e.compute),
        request.device.backend,
        format_bytes(e.context),
        e.total().div_ceil(MIB),
        e.total().div_ceil(MIB),
        if ctx.ubatch > DEFAULT_UBATCH {
            format!(" or --ubatch-size {DEFAULT_UBATCH}")
        } else {
            String::new()
        }
    )))
}

#[cfg(test)]
mod tests;
