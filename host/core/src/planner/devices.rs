//! Planning for several GPUs in one host: which layers each device holds (llama.cpp's layer
//! split, handed over as `tensor_split`) and, per device, which of its layers' experts stay in
//! host memory so that every device ends within its own budget.
//!
//! Layers are contiguous per device, in device order, as llama.cpp assigns them. Without
//! `--tensor-split` they are split in proportion to what each budget has left once the
//! device's fixed costs (backend context, compute buffer, and on the last device the output
//! layer) are paid: when the model does not fit, every device then runs out of room for
//! experts at the same time, which keeps the most expert bytes on the GPUs in all; a device
//! with no room for a layer gets none and is left out of the load. Each device then fills its
//! budget with its own layers' experts exactly as the one-device planner does (the last layer
//! first, then one layer in part).
//!
//! llama.cpp's scheduler runs the matrix products of host-resident experts on the first GPU
//! (the first backend that takes the op offload), so only the first device with layers counts
//! the copy of the largest host expert in its compute buffer, and only when its backend takes
//! op offloads (a CUDA GPU; not an rpc worker). The devices may be of different kinds: each
//! has its own [`DeviceProfile`].

use std::ops::Range;

use serde::Serialize;

use super::memory::{self, ContextShape, DeviceProfile};
use super::DEFAULT_UBATCH;
use super::{fill, gpu_order, host_patterns, largest, planned_context, Expert, ModelShape};
use super::{HOST_EXPERT_UBATCH, UBATCH_STEPS};
use crate::gguf::GgufFile;
use crate::placement::{format_bytes, is_input_tensor, DeviceEstimate, MoeOffload, EXPERT_PATTERN};
use crate::{Error, Result};

/// One GPU the model may use.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSlot {
    /// ggml's name (`CUDA0`).
    pub name: String,
    /// Bytes the model may hold on it: its `--vram-budget-mb` entry, else free memory minus
    /// the margin.
    pub budget: u64,
    /// What its backend holds beyond llama.cpp's buffers.
    pub profile: DeviceProfile,
}

/// What to plan for on several devices.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicesRequest {
    /// The MoE mode; the fixed modes are estimated per device as they are.
    pub mode: MoeOffload,
    /// The GPUs, in llama.cpp's device order.
    pub devices: Vec<DeviceSlot>,
    /// `--tensor-split`: the share of layers of each device (any scale), if given.
    pub tensor_split: Option<Vec<f32>>,
    /// Tokens per slot.
    pub ctx_per_seq: u32,
    /// Slots (server `--parallel`).
    pub parallel: u32,
    /// `--ubatch-size`, when given.
    pub ubatch: Option<u32>,
}

/// What one device holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevicePart {
    /// The layers on it (the output layer counts as layer `n_layer`).
    pub layers: Range<u32>,
    /// Expert tensors of those layers kept in host memory.
    pub expert_tensors_host: usize,
    /// Expert tensors of those layers.
    pub expert_tensors: usize,
    /// The device memory it leads to, against the device's budget.
    pub estimate: DeviceEstimate,
}

/// The plan for several devices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevicesPlan {
    /// The override patterns (expert tensors to keep in host memory).
    pub patterns: Vec<String>,
    /// The micro-batch.
    pub ubatch: u32,
    /// Per device of the request, in its order (a device with no layers has an empty range).
    pub parts: Vec<DevicePart>,
    /// Expert tensors in host memory / in the model.
    pub expert_tensors_host: usize,
    /// Expert tensors in the model.
    pub expert_tensors_total: usize,
}

impl DevicesPlan {
    /// llama.cpp's `tensor_split` for this plan: the layers of each device (the output layer
    /// included), so its proportional split gives exactly these ranges.
    pub fn tensor_split(&self) -> Vec<f32> {
        self.parts.iter().map(|p| p.layers.len() as f32).collect()
    }

    /// The devices that hold layers, as indexes into the request's list.
    pub fn used_devices(&self) -> Vec<usize> {
        (0..self.parts.len())
            .filter(|&i| !self.parts[i].layers.is_empty())
            .collect()
    }
}

/// The model's tensors by where llama.cpp may put them.
struct Layout<'a> {
    /// Expert tensors, the last layer's first.
    experts: Vec<Expert<'a>>,
    /// Device bytes of each layer's tensors that are not experts.
    fixed_per_layer: Vec<u64>,
    /// Device bytes of the output layer (with a tied embedding's copy).
    output: u64,
}

impl<'a> Layout<'a> {
    fn of(gguf: &'a GgufFile, n_layer: u32) -> Layout<'a> {
        let expert = regex::Regex::new(EXPERT_PATTERN).ok();
        let mut fixed_per_layer = vec![0u64; n_layer as usize];
        let mut output = 0;
        for t in &gguf.tensors {
            if expert.as_ref().is_some_and(|re| re.is_match(&t.name)) || is_input_tensor(&t.name) {
                continue;
            }
            let bytes = memory::device_tensor_bytes(t);
            match t.layer() {
                Some(il) if il < n_layer => fixed_per_layer[il as usize] += bytes,
                _ => output += bytes,
            }
        }
        if gguf.tensor("output.weight").is_none() {
            if let Some(embd) = gguf.tensor("token_embd.weight") {
                output += memory::device_tensor_bytes(embd);
            }
        }
        Layout {
            experts: gpu_order(gguf),
            fixed_per_layer,
            output,
        }
    }
}

/// Plans `gguf` over the devices of `request`.
///
/// A single device plans as [`super::plan`] does. Errors: no device, a `--tensor-split` whose
/// length is not the number of devices or that has no positive entry, and budgets that cannot
/// hold the layers given to a device even with all their experts in host memory (naming the
/// device and what it would need).
pub fn plan_devices(gguf: &GgufFile, request: &DevicesRequest) -> Result<DevicesPlan> {
    super::check_ubatch(request.ubatch, request.ctx_per_seq)?;
    if request.devices.is_empty() {
        return Err(Error::InvalidOption("no GPU device to plan for".into()));
    }
    if request.parallel == 0 || request.ctx_per_seq == 0 {
        return Err(Error::InvalidOption(
            "the planner needs at least one slot of at least one token".into(),
        ));
    }
    if let Some(split) = &request.tensor_split {
        if split.len() != request.devices.len() {
            return Err(Error::InvalidOption(format!(
                "--tensor-split has {} entries for {} devices ({}); give one weight per device",
                split.len(),
                request.devices.len(),
                names(request)
            )));
        }
        if split.iter().any(|w| !w.is_finite() || *w < 0.0) || !split.iter().any(|w| *w > 0.0) {
            return Err(Error::InvalidOption(
                "--tensor-split takes non-negative weights, at least one above 0 (e.g. 3,1)".into(),
            ));
        }
    }
    let shape = ModelShape::from_gguf(gguf)?;
    let n_layer = shape.n_layer;
    let layout = Layout::of(gguf, n_layer);
    let ctx_for = |ubatch| planned_context(request.ctx_per_seq, request.parallel, ubatch);
    let default_ubatch = DEFAULT_UBATCH.min(request.ctx_per_seq);
    let small = ctx_for(request.ubatch.unwrap_or(default_ubatch));
    let planner = Planner {
        request,
        shape: &shape,
        layout: &layout,
        kv_per_layer: memory::kv_cache_bytes(&shape, &small) / u64::from(n_layer.max(1)),
    };
    match request.mode {
        MoeOffload::None => planner.fixed(small, |_| true),
        MoeOffload::All if layout.experts.is_empty() => planner.fixed(small, |_| true),
        MoeOffload::All => planner.fixed(
            ctx_for(
                request
                    .ubatch
                    .unwrap_or(HOST_EXPERT_UBATCH.min(request.ctx_per_seq)),
            ),
            |_| false,
        ),
        MoeOffload::FirstLayers(n) => {
            let ctx = if n == 0 {
                small
            } else {
                ctx_for(
                    request
                        .ubatch
                        .unwrap_or(HOST_EXPERT_UBATCH.min(request.ctx_per_seq)),
                )
            };
            planner.fixed(ctx, |layer| layer >= n)
        }
        MoeOffload::Auto => {
            let base = planner.auto(small)?;
            if request.ubatch.is_some() || base.expert_tensors_host == 0 {
                return Ok(base);
            }
            // Decoding first, as on one device: a larger micro-batch only where no device
            // moves an expert to the host for it.
            for ubatch in UBATCH_STEPS
                .into_iter()
                .filter(|&u| u > small.ubatch && u <= request.ctx_per_seq)
            {
                if let Ok(p) = planner.auto(ctx_for(ubatch)) {
                    if p.expert_tensors_host <= base.expert_tensors_host {
                        return Ok(p);
                    }
                }
            }
            Ok(base)
        }
    }
}

fn names(request: &DevicesRequest) -> String {
    request
        .devices
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

struct Planner<'r, 'g> {
    request: &'r DevicesRequest,
    shape: &'r ModelShape,
    layout: &'r Layout<'g>,
    kv_per_layer: u64,
}

impl Planner<'_, '_> {
    /// The device's costs that do not depend on its layers: the backend's context and pool,
    /// the compute buffer (with the host expert's copy on the first device), and on the last
    /// device the output layer.
    fn fixed_cost(
        &self,
        i: usize,
        ctx: &ContextShape,
        first: bool,
        last: bool,
        host_expert: u64,
    ) -> u64 {
        let profile = &self.request.devices[i].profile;
        memory::compute_bytes(self.shape, ctx, self.copy(i, first, host_expert))
            + profile.overhead_bytes(self.shape, ctx)
            + if last { self.layout.output } else { 0 }
    }

    /// The host expert copy device `i` holds: on the first device with layers, when its
    /// backend takes op offloads.
    fn copy(&self, i: usize, first: bool, host_expert: u64) -> u64 {
        if first && self.request.devices[i].profile.op_offload {
            host_expert
        } else {
            0
        }
    }

    /// Layers per device (contiguous, in device order; the output layer is the last one).
    ///
    /// Without `--tensor-split`: in proportion to each device's room, and never more layers
    /// than the room holds with their experts in host memory (the excess goes to the devices
    /// after it, then before it, that still have room). Fewer than all layers when the rooms
    /// cannot hold them all.
    fn split(&self, ctx: &ContextShape, host_expert: u64) -> Vec<u32> {
        let n = self.shape.n_layer + 1;
        if let Some(split) = &self.request.tensor_split {
            let weights: Vec<f64> = split.iter().map(|&w| f64::from(w)).collect();
            return apportion(n, &weights);
        }
        let k = self.request.devices.len();
        // The most a layer costs a device with its experts on the host.
        let per_layer = (self
            .layout
            .fixed_per_layer
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            + self.kv_per_layer)
            .max(1);
        let rooms: Vec<u64> = (0..k)
            .map(|i| {
                let d = &self.request.devices[i];
                d.budget
                    .saturating_sub(self.fixed_cost(i, ctx, i == 0, i + 1 == k, host_expert))
            })
            .collect();
        let caps: Vec<u32> = rooms
            .iter()
            .map(|&r| u32::try_from(r / per_layer).unwrap_or(u32::MAX))
            .collect();
        let weights: Vec<f64> = rooms
            .iter()
            .zip(&caps)
            .map(|(&r, &c)| if c == 0 { 0.0 } else { r as f64 })
            .collect();
        let mut counts = apportion(n, &weights);
        let mut excess = 0;
        for (c, cap) in counts.iter_mut().zip(&caps) {
            if *c > *cap {
                excess += *c - *cap;
                *c = *cap;
            }
        }
        for i in (0..k).chain((0..k).rev()) {
            let take = excess.min(caps[i] - counts[i]);
            counts[i] += take;
            excess -= take;
        }
        counts
    }

    /// `auto`: the split, then each device's experts within its budget.
    fn auto(&self, ctx: ContextShape) -> Result<DevicesPlan> {
        let host_expert = largest(&self.layout.experts);
        let counts = self.split(&ctx, host_expert);
        // Every layer needs a device with room for it.
        if counts.iter().sum::<u32>() < self.shape.n_layer + 1 {
            return Err(self.too_small(&ctx, host_expert));
        }
        // The output layer (the last index) goes with the last device that holds layers.
        let ranges = ranges(&counts);
        let first_used = counts.iter().position(|&c| c > 0);
        let last_used = counts.iter().rposition(|&c| c > 0);
        let mut on_gpu = vec![false; self.layout.experts.len()];
        for (i, range) in ranges.iter().enumerate() {
            if range.is_empty() {
                continue;
            }
            let cost = self.fixed_cost(
                i,
                &ctx,
                Some(i) == first_used,
                Some(i) == last_used,
                host_expert,
            ) + self.layers_cost(range);
            let budget = self.request.devices[i].budget;
            if cost > budget {
                return Err(self.device_too_small(i, range, cost));
            }
            let mine: Vec<usize> = (0..self.layout.experts.len())
                .filter(|&j| range.contains(&self.layout.experts[j].layer))
                .collect();
            let theirs: Vec<Expert<'_>> = mine.iter().map(|&j| self.layout.experts[j]).collect();
            for k in fill(&theirs, budget - cost) {
                on_gpu[mine[k]] = true;
            }
        }
        Ok(self.finish(ctx, &ranges, &on_gpu, host_expert))
    }

    /// A fixed mode: experts on the GPU where `keep(layer)`, layers split as `auto` would.
    fn fixed(&self, ctx: ContextShape, keep: impl Fn(u32) -> bool) -> Result<DevicesPlan> {
        let on_gpu: Vec<bool> = self.layout.experts.iter().map(|e| keep(e.layer)).collect();
        let host_expert = self
            .layout
            .experts
            .iter()
            .zip(&on_gpu)
            .filter(|(_, g)| !**g)
            .map(|(e, _)| e.device_bytes)
            .max()
            .unwrap_or(0);
        let mut counts = self.split(&ctx, host_expert);
        if counts.iter().sum::<u32>() < self.shape.n_layer + 1 {
            // Estimates only: spread by budget regardless of room.
            let w: Vec<f64> = self
                .request
                .devices
                .iter()
                .map(|d| d.budget.max(1) as f64)
                .collect();
            counts = apportion(self.shape.n_layer + 1, &w);
        }
        Ok(self.finish(ctx, &ranges(&counts), &on_gpu, host_expert))
    }

    /// Bytes of `range`'s layers with every expert on the host: their fixed tensors and KV.
    fn layers_cost(&self, range: &Range<u32>) -> u64 {
        range
            .clone()
            .filter(|&il| il < self.shape.n_layer)
            .map(|il| self.layout.fixed_per_layer[il as usize] + self.kv_per_layer)
            .sum()
    }

    fn finish(
        &self,
        ctx: ContextShape,
        ranges: &[Range<u32>],
        on_gpu: &[bool],
        host_expert: u64,
    ) -> DevicesPlan {
        let experts = &self.layout.experts;
        let host: Vec<Expert<'_>> = experts
            .iter()
            .zip(on_gpu)
            .filter(|(_, g)| !**g)
            .map(|(e, _)| *e)
            .collect();
        let (patterns, _, _) = host_patterns(experts, &host);
        let first_used = ranges.iter().position(|r| !r.is_empty());
        let last_used = ranges.iter().rposition(|r| !r.is_empty());
        let any_host = !host.is_empty();
        let parts = ranges
            .iter()
            .enumerate()
            .map(|(i, range)| {
                let mine = |e: &&Expert<'_>| range.contains(&e.layer);
                let on: u64 = experts
                    .iter()
                    .zip(on_gpu)
                    .filter(|(e, g)| **g && mine(e))
                    .map(|(e, _)| e.device_bytes)
                    .sum();
                let used = !range.is_empty();
                let fixed: u64 = range
                    .clone()
                    .filter(|&il| il < self.shape.n_layer)
                    .map(|il| self.layout.fixed_per_layer[il as usize])
                    .sum::<u64>()
                    + if Some(i) == last_used {
                        self.layout.output
                    } else {
                        0
                    };
                let copy = self.copy(i, Some(i) == first_used && any_host, host_expert);
                let device = &self.request.devices[i];
                DevicePart {
                    layers: range.clone(),
                    expert_tensors_host: host.iter().filter(mine).count(),
                    expert_tensors: experts.iter().filter(mine).count(),
                    estimate: DeviceEstimate {
                        device: device.name.clone(),
                        weights: if used { fixed + on } else { 0 },
                        kv_cache: range.clone().filter(|&il| il < self.shape.n_layer).count()
                            as u64
                            * self.kv_per_layer,
                        compute: if used {
                            memory::compute_bytes(self.shape, &ctx, copy)
                        } else {
                            0
                        },
                        context: if used {
                            device.profile.overhead_bytes(self.shape, &ctx)
                        } else {
                            0
                        },
                        budget: Some(device.budget),
                    },
                }
            })
            .collect();
        DevicesPlan {
            patterns,
            ubatch: ctx.ubatch,
            parts,
            expert_tensors_host: host.len(),
            expert_tensors_total: experts.len(),
        }
    }

    fn too_small(&self, ctx: &ContextShape, host_expert: u64) -> Error {
        let k = self.request.devices.len();
        let need: Vec<String> = self
            .request
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let one = self.fixed_cost(i, ctx, i == 0, i + 1 == k, host_expert)
                    + self.layers_cost(&(0..1));
                format!(
                    "{} has {} of the {} it needs for one layer",
                    d.name,
                    format_bytes(d.budget),
                    format_bytes(one)
                )
            })
            .collect();
        Error::InvalidOption(format!(
            "the device budgets are too small for this {} model even with every MoE expert in \
             host memory: {}; raise --vram-budget-mb (or a worker's --mem), lower \
             --ctx-size/--parallel, or run on the CPU (--gpu-backend cpu)",
            self.shape.architecture,
            need.join("; ")
        ))
    }

    fn device_too_small(&self, i: usize, range: &Range<u32>, cost: u64) -> Error {
        let d = &self.request.devices[i];
        Error::InvalidOption(format!(
            "{} cannot hold layers {}..{} of this {} model within its budget of {} MiB: with \
             their experts in host memory they still need {} MiB; give {} a larger share of \
             --vram-budget-mb, or a smaller share of --tensor-split",
            d.name,
            range.start,
            range.end,
            self.shape.architecture,
            d.budget / memory::MIB,
            cost.div_ceil(memory::MIB),
            d.name
        ))
    }
}

/// `n` items apportioned to `weights` (largest remainders), contiguous in order: every
/// positive weight's share rounded, a zero weight gets none.
fn apportion(n: u32, weights: &[f64]) -> Vec<u32> {
    let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| w.max(0.0) / total * f64::from(n))
        .collect();
    let mut counts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let mut left = n - counts.iter().sum::<u32>();
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

/// Contiguous layer ranges from counts.
fn ranges(counts: &[u32]) -> Vec<Range<u32>> {
    let mut start = 0;
    counts
        .iter()
        .map(|&c| {
            let r = start..start + c;
            start += c;
            r
        })
        .collect()
}

#[cfg(test)]
mod tests;
