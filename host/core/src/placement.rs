//! MoE offload modes, the tensor-override patterns they produce and the placement they lead
//! to, computed from the GGUF tensor table.
//!
//! `--cpu-moe` keeps every expert tensor in host memory and `--n-cpu-moe N` those of the first
//! N layers, exactly as llama.cpp's `common` flags of the same names do: each mode becomes a
//! list of regexes that llama.cpp matches (`std::regex_search`) against tensor names, every
//! match getting the CPU buffer type. [`plan`] replays that with the `regex` crate and
//! llama.cpp's layer split (`llama_model::load_tensors`) to report where the bytes go before
//! anything is loaded.

use std::fmt;

use regex::{Regex, RegexSet};
use serde::Serialize;

use crate::gguf::GgufFile;
use crate::{Error, Result};

/// Matches every MoE expert tensor (llama.cpp's `LLM_FFN_EXPS_REGEX`).
pub const EXPERT_PATTERN: &str = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps";

/// Most layers [`override_patterns`] writes a pattern for (far above any real model; bounds
/// the work a corrupt `block_count` can cause).
pub const MAX_PATTERN_LAYERS: u32 = 1024;

/// The device name of host memory in [`Placement::bytes_per_device`].
pub const HOST_DEVICE: &str = "CPU";

/// Which MoE expert tensors stay in host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoeOffload {
    /// No override: expert tensors go wherever their layer goes.
    #[default]
    None,
    /// Every expert tensor stays in host memory (`--cpu-moe`).
    All,
    /// The expert tensors of layers `0..N` stay in host memory (`--n-cpu-moe N`).
    FirstLayers(u32),
    /// llama.cpp's automatic fit (`--moe-offload auto`, `--fit`): as much as fits on the GPU,
    /// the remaining expert tensors in host memory. The overrides are known only after the fit.
    Auto,
}

impl MoeOffload {
    /// The mode for the `--cpu-moe` and `--n-cpu-moe N` flags. `--n-cpu-moe 0` is
    /// [`MoeOffload::None`]; giving both flags is an error.
    pub fn from_flags(cpu_moe: bool, n_cpu_moe: Option<u32>) -> Result<Self> {
        match (cpu_moe, n_cpu_moe) {
            (true, Some(n)) => Err(Error::InvalidOption(format!(
                "--cpu-moe and --n-cpu-moe {n} both choose which MoE expert weights stay in host memory; \
                 pick one: --cpu-moe for all layers, or --n-cpu-moe N for the first N layers"
            ))),
            (true, None) => Ok(MoeOffload::All),
            (false, None) | (false, Some(0)) => Ok(MoeOffload::None),
            (false, Some(n)) => Ok(MoeOffload::FirstLayers(n)),
        }
    }
}

impl MoeOffload {
    /// The mode for the `--cpu-moe`, `--n-cpu-moe N` and `--moe-offload MODE` flags (at most
    /// one of them).
    pub fn from_all_flags(
        cpu_moe: bool,
        n_cpu_moe: Option<u32>,
        moe_offload: Option<MoeOffload>,
    ) -> Result<Self> {
        match moe_offload {
            None => Self::from_flags(cpu_moe, n_cpu_moe),
            Some(mode) if !cpu_moe && n_cpu_moe.is_none() => Ok(mode),
            Some(mode) => Err(Error::InvalidOption(format!(
                "--moe-offload {} and {} both choose which MoE expert weights stay in host \
                 memory; pick one",
                mode.flag_value(),
                if cpu_moe {
                    "--cpu-moe".to_string()
                } else {
                    format!("--n-cpu-moe {}", n_cpu_moe.unwrap_or(0))
                }
            ))),
        }
    }

    /// The value `--moe-offload` takes for this mode: `none`, `all`, `N` or `auto`.
    pub fn flag_value(&self) -> String {
        match self {
            MoeOffload::None => "none".into(),
            MoeOffload::All => "all".into(),
            MoeOffload::FirstLayers(n) => n.to_string(),
            MoeOffload::Auto => "auto".into(),
        }
    }
}

impl std::str::FromStr for MoeOffload {
    type Err = Error;

    /// `none` (or `off`, `0`), `all` (or `cpu`), a layer count `N`, `auto` (or `fit`).
    fn from_str(s: &str) -> Result<Self> {
        let v = s.trim().to_ascii_lowercase();
        match v.as_str() {
            "none" | "off" | "0" => Ok(MoeOffload::None),
            "all" | "cpu" => Ok(MoeOffload::All),
            "auto" | "fit" => Ok(MoeOffload::Auto),
            _ => v.parse::<u32>().map(MoeOffload::FirstLayers).map_err(|_| {
                Error::InvalidOption(format!(
                    "unknown MoE offload mode {s:?}; use none, all, auto, or a number of layers \
                     N (the experts of the first N layers stay in host memory)"
                ))
            }),
        }
    }
}

impl fmt::Display for MoeOffload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoeOffload::None => f.write_str("off"),
            MoeOffload::All => f.write_str("all expert weights in host memory (--cpu-moe)"),
            MoeOffload::FirstLayers(n) => write!(
                f,
                "expert weights of the first {n} layers in host memory (--n-cpu-moe {n})"
            ),
            MoeOffload::Auto => f.write_str("automatic fit into GPU memory (--moe-offload auto)"),
        }
    }
}

/// The tensor-name regexes that put the chosen expert tensors into host memory, in the form
/// llama.cpp's `tensor_buft_overrides` take (each to be paired with the CPU buffer type).
/// `FirstLayers(n)` yields one pattern per layer below `min(n, n_layer)` (at most
/// [`MAX_PATTERN_LAYERS`]).
pub fn override_patterns(mode: &MoeOffload, n_layer: u32) -> Vec<String> {
    match *mode {
        MoeOffload::None | MoeOffload::Auto => Vec::new(),
        MoeOffload::All => vec![EXPERT_PATTERN.to_string()],
        MoeOffload::FirstLayers(n) => (0..n.min(n_layer).min(MAX_PATTERN_LAYERS))
            .map(layer_expert_pattern)
            .collect(),
    }
}

/// The pattern of the expert tensors of layer `il`.
pub(crate) fn layer_expert_pattern(il: u32) -> String {
    format!(r"blk\.{il}{EXPERT_PATTERN}")
}

/// Where the weights of a model go under a MoE offload mode.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Placement {
    /// The mode asked for.
    pub mode: MoeOffload,
    /// Transformer blocks of the model.
    pub n_layer: u32,
    /// Layers whose experts the mode keeps in host memory, after clamping to `n_layer`.
    pub layers_offloaded_by_moe: u32,
    /// `Some(N)` when `--n-cpu-moe N` asked for more layers than the model has (the caller
    /// should warn).
    pub clamped_from: Option<u32>,
    /// Expert tensors in the model.
    pub expert_tensors_total: usize,
    /// Bytes of all expert tensors.
    pub expert_bytes_total: u64,
    /// Expert tensors the overrides keep in host memory.
    pub expert_tensors_host: usize,
    /// Bytes of those.
    pub expert_bytes_host: u64,
    /// Weight bytes per device: the GPU device first when there is one, then `CPU`.
    pub bytes_per_device: Vec<(String, u64)>,
    /// The override patterns ([`override_patterns`]) to hand to llama.cpp.
    pub patterns: Vec<String>,
    /// Layers put on the GPU (llama.cpp's `n_gpu_layers`, output layer included).
    pub gpu_layers: u32,
    /// Tokens per micro-batch the model runs with (0 until the backend sets it).
    pub ubatch: u32,
    /// What the planner expects the model to hold on the GPU (`None` without a GPU).
    pub estimate: Option<DeviceEstimate>,
}

/// What the model will hold on the device, by kind (the planner's estimate,
/// [`crate::planner`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DeviceEstimate {
    /// The device (`CUDA0`).
    pub device: String,
    /// Weights on the device.
    pub weights: u64,
    /// KV cache of all slots.
    pub kv_cache: u64,
    /// llama.cpp's compute buffers.
    pub compute: u64,
    /// The backend's context and scratch pool.
    pub context: u64,
    /// The budget planned for, if any.
    pub budget: Option<u64>,
}

impl DeviceEstimate {
    /// Everything together.
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.compute + self.context
    }
}

/// Which part of the model a tensor belongs to, for llama.cpp's device assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Token embeddings and the like: always on the CPU.
    Input,
    /// A repeating block.
    Block(u32),
    /// Everything else (output, output_norm...): counted as layer `n_layer`.
    Output,
}

fn part_of(name: &str) -> Part {
    const INPUT: [&str; 4] = [
        "token_embd.",
        "pos_embd.",
        "token_types.",
        "per_layer_token_embd.",
    ];
    if INPUT.iter().any(|p| name.starts_with(p)) {
        return Part::Input;
    }
    if name.starts_with("rope_freqs.") {
        // Created for layer 0 (and duplicated for the others).
        return Part::Block(0);
    }
    let rest = name
        .strip_prefix("enc.")
        .or_else(|| name.strip_prefix("dec."))
        .unwrap_or(name);
    rest.strip_prefix("blk.")
        .and_then(|r| r.split_once('.'))
        .filter(|(index, _)| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(index, _)| index.parse().ok())
        .map_or(Part::Output, Part::Block)
}

/// Whether `name` is an input embedding, which llama.cpp always keeps in host memory.
pub(crate) fn is_input_tensor(name: &str) -> bool {
    part_of(name) == Part::Input
}

/// The model's layer count: `{arch}.block_count`, else one more than the highest `blk.N`.
fn layer_count(gguf: &GgufFile) -> u32 {
    gguf.block_count().unwrap_or_else(|| {
        gguf.tensors
            .iter()
            .filter_map(|t| match part_of(&t.name) {
                Part::Block(i) => Some(i.saturating_add(1)),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    })
}

/// Computes where the weights of `gguf` go under `mode`.
///
/// Replays llama.cpp's assignment: with `n_gpu_layers` layers offloaded to `gpu_device`,
/// blocks `il >= max(n_layer + 1 - n_gpu_layers, 0)` go to the GPU, the output tensors count as
/// layer `n_layer`, token embeddings stay on the CPU, and tensors matched by the override
/// patterns go to host memory. Without a GPU device every byte is host memory. A model with
/// tied embeddings (no `output.weight`) whose output layer is on the GPU also gets a copy of
/// `token_embd.weight` there, as llama.cpp duplicates it.
pub fn plan(
    gguf: &GgufFile,
    mode: &MoeOffload,
    gpu_device: Option<&str>,
    n_gpu_layers: u32,
) -> Placement {
    let patterns = override_patterns(mode, layer_count(gguf));
    plan_with(gguf, mode, patterns, gpu_device, n_gpu_layers)
}

/// Like [`plan`], with the override patterns given (e.g. those llama.cpp's fit chose for
/// [`MoeOffload::Auto`]). For `Auto`, `layers_offloaded_by_moe` counts the layers with at
/// least one expert tensor in host memory.
pub fn plan_with(
    gguf: &GgufFile,
    mode: &MoeOffload,
    patterns: Vec<String>,
    gpu_device: Option<&str>,
    n_gpu_layers: u32,
) -> Placement {
    let n_layer = layer_count(gguf);
    let (layers_offloaded_by_moe, clamped_from) = match *mode {
        MoeOffload::None | MoeOffload::Auto => (0, None),
        MoeOffload::All => (n_layer, None),
        MoeOffload::FirstLayers(n) if n > n_layer => (n_layer, Some(n)),
        MoeOffload::FirstLayers(n) => (n, None),
    };
    let mut auto_layers = std::collections::BTreeSet::new();
    // The patterns are built from a constant and integers, so they always compile.
    // (llama.cpp's fit writes patterns of the same shape.)
    let overrides = RegexSet::new(&patterns).unwrap_or_else(|_| RegexSet::empty());
    let expert = Regex::new(EXPERT_PATTERN).ok();

    let i_gpu_start = n_layer.saturating_add(1).saturating_sub(n_gpu_layers);
    let on_gpu = |part: Part| -> bool {
        if gpu_device.is_none() {
            return false;
        }
        let il = match part {
            Part::Input => return false,
            Part::Block(i) => i.min(n_layer),
            Part::Output => n_layer,
        };
        il >= i_gpu_start
    };

    let mut placement = Placement {
        mode: *mode,
        n_layer,
        layers_offloaded_by_moe,
        clamped_from,
        expert_tensors_total: 0,
        expert_bytes_total: 0,
        expert_tensors_host: 0,
        expert_bytes_host: 0,
        bytes_per_device: Vec::new(),
        patterns: Vec::new(),
        gpu_layers: if gpu_device.is_some() {
            n_gpu_layers
        } else {
            0
        },
        ubatch: 0,
        estimate: None,
    };
    let (mut gpu_bytes, mut host_bytes) = (0u64, 0u64);
    for t in &gguf.tensors {
        let is_expert = expert.as_ref().is_some_and(|re| re.is_match(&t.name));
        let overridden = overrides.is_match(&t.name);
        if is_expert {
            placement.expert_tensors_total += 1;
            placement.expert_bytes_total = placement.expert_bytes_total.saturating_add(t.n_bytes);
            if overridden {
                if let Part::Block(i) = part_of(&t.name) {
                    auto_layers.insert(i);
                }
                placement.expert_tensors_host += 1;
                placement.expert_bytes_host = placement.expert_bytes_host.saturating_add(t.n_bytes);
            }
        }
        if !overridden && on_gpu(part_of(&t.name)) {
            gpu_bytes = gpu_bytes.saturating_add(t.n_bytes);
        } else {
            host_bytes = host_bytes.saturating_add(t.n_bytes);
        }
    }
    let tied_embeddings = gguf.tensor("output.weight").is_none();
    if tied_embeddings && on_gpu(Part::Output) {
        if let Some(embd) = gguf.tensor("token_embd.weight") {
            gpu_bytes = gpu_bytes.saturating_add(embd.n_bytes);
        }
    }
    if let Some(device) = gpu_device {
        placement
            .bytes_per_device
            .push((device.to_string(), gpu_bytes));
    }
    placement
        .bytes_per_device
        .push((HOST_DEVICE.to_string(), host_bytes));
    if *mode == MoeOffload::Auto {
        placement.layers_offloaded_by_moe = auto_layers.len() as u32;
    }
    placement.patterns = patterns;
    placement
}

/// Turns override `patterns` (e.g. llama.cpp's fit) into whole expert layers taken from the
/// first layer on, like `--n-cpu-moe N`: as many layers as the patterns touch (a layer in which
/// they match at least one expert tensor), each with all its experts in host memory, counted
/// over the layers that have experts (leading dense layers are skipped).
///
/// llama.cpp's fit moves the experts of the *last* layers and may split one layer between the
/// devices; the same number of whole *leading* layers needs the same memory on a model whose
/// expert layers are alike, and decoded 12-13 % faster on H100 and H200 (docs/benchmarks.md).
pub fn leading_expert_layers(gguf: &GgufFile, patterns: &[String]) -> Vec<String> {
    let (Ok(overrides), Ok(expert)) = (RegexSet::new(patterns), Regex::new(EXPERT_PATTERN)) else {
        return Vec::new();
    };
    let mut with_experts = std::collections::BTreeSet::new();
    let mut touched = std::collections::BTreeSet::new();
    for t in gguf.tensors.iter().filter(|t| expert.is_match(&t.name)) {
        if let Part::Block(i) = part_of(&t.name) {
            with_experts.insert(i);
            if overrides.is_match(&t.name) {
                touched.insert(i);
            }
        }
    }
    with_experts
        .into_iter()
        .take(touched.len())
        .map(layer_expert_pattern)
        .collect()
}

impl fmt::Display for Placement {
    /// One line, e.g. `MoE offload: 12 expert tensors (12.0 MiB) in host memory; CUDA0 2.5 MiB, CPU 0.8 MiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MoE offload: ")?;
        if self.mode == MoeOffload::Auto {
            f.write_str("auto fit, ")?;
        }
        let total = format_bytes(self.expert_bytes_total);
        match (self.mode, self.expert_tensors_total) {
            (MoeOffload::None, 0) => f.write_str("off (dense model, no expert tensors)")?,
            (_, 0) => f.write_str("nothing to offload (dense model, no expert tensors)")?,
            (MoeOffload::None, n) => write!(
                f,
                "off ({n} expert tensors, {total}, placed with their layers)"
            )?,
            (MoeOffload::Auto, _) if self.gpu_layers == 0 => {
                f.write_str("no GPU layers, every weight in host memory")?
            }
            (MoeOffload::Auto, n) if self.expert_tensors_host == 0 => write!(
                f,
                "every expert tensor ({n}, {total}) with its layer (all fit on the device)"
            )?,
            (MoeOffload::Auto, n) => write!(
                f,
                "{} of {n} expert tensors ({} of {total}) in host memory (experts of {} of {} layers)",
                self.expert_tensors_host,
                format_bytes(self.expert_bytes_host),
                self.layers_offloaded_by_moe,
                self.n_layer
            )?,
            (_, n) if self.expert_tensors_host == n => write!(
                f,
                "{n} expert tensors ({}) in host memory",
                format_bytes(self.expert_bytes_host)
            )?,
            (_, n) => write!(
                f,
                "{} of {n} expert tensors ({} of {total}) in host memory (first {} of {} layers)",
                self.expert_tensors_host,
                format_bytes(self.expert_bytes_host),
                self.layers_offloaded_by_moe,
                self.n_layer
            )?,
        }
        let devices: Vec<String> = self
            .bytes_per_device
            .iter()
            .map(|(name, bytes)| format!("{name} {}", format_bytes(*bytes)))
            .collect();
        if !devices.is_empty() {
            write!(f, "; {}", devices.join(", "))?;
        }
        if let Some(e) = &self.estimate {
            write!(
                f,
                "; planned {} {} in all",
                e.device,
                format_bytes(e.total())
            )?;
            if let Some(budget) = e.budget {
                write!(f, " of {}", format_bytes(budget))?;
            }
            write!(f, ", micro-batch {}", self.ubatch)?;
        }
        Ok(())
    }
}

/// Formats a byte count with binary units and one decimal: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Move up while the rounded value would print as 1024.0 or more.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"EiB"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::gguf::{GgmlType, GgufValue, TensorInfo};

    const ATTN: u64 = 64 * 64 * 4; // 16 KiB, F32
    const GATE_INP: u64 = 64 * 4 * 4; // 1 KiB, F32
    const EXPERT: u64 = 64 * 64 * 4 * 2; // 32 KiB, F16
    const EMBD: u64 = 64 * 16 * 4; // 4 KiB
    const OUT_NORM: u64 = 64 * 4;

    fn tensor(name: &str, dims: &[u64], ty: GgmlType) -> TensorInfo {
        let n: u64 = dims.iter().product();
        TensorInfo {
            name: name.into(),
            dims: dims.to_vec(),
            ggml_type: ty,
            offset: 0,
            n_bytes: ty.bytes_for(n).unwrap(),
        }
    }

    fn file(n_layer: u32, tensors: Vec<TensorInfo>) -> GgufFile {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "general.architecture".to_string(),
            GgufValue::String("qwen3moe".into()),
        );
        metadata.insert("qwen3moe.block_count".to_string(), GgufValue::U32(n_layer));
        GgufFile {
            path: "test.gguf".into(),
            version: 3,
            file_size: 0,
            alignment: 32,
            data_offset: 0,
            metadata,
            tensors,
        }
    }

    /// A model with `n_layer` blocks; MoE blocks have three expert tensors each.
    fn model(n_layer: u32, moe: bool, tied: bool) -> GgufFile {
        let mut t = vec![tensor("token_embd.weight", &[64, 16], GgmlType::F32)];
        for i in 0..n_layer {
            t.push(tensor(
                &format!("blk.{i}.attn_q.weight"),
                &[64, 64],
                GgmlType::F32,
            ));
            if moe {
                t.push(tensor(
                    &format!("blk.{i}.ffn_gate_inp.weight"),
                    &[64, 4],
                    GgmlType::F32,
                ));
                for kind in ["up", "down", "gate"] {
                    t.push(tensor(
                        &format!("blk.{i}.ffn_{kind}_exps.weight"),
                        &[64, 64, 4],
                        GgmlType::F16,
                    ));
                }
            } else {
                t.push(tensor(
                    &format!("blk.{i}.ffn_up.weight"),
                    &[64, 64],
                    GgmlType::F32,
                ));
            }
        }
        t.push(tensor("output_norm.weight", &[64], GgmlType::F32));
        if !tied {
            t.push(tensor("output.weight", &[64, 16], GgmlType::F32));
        }
        file(n_layer, t)
    }

    fn bytes(p: &Placement, device: &str) -> u64 {
        p.bytes_per_device
            .iter()
            .find(|(d, _)| d == device)
            .map(|(_, b)| *b)
            .unwrap_or_else(|| panic!("no {device} in {:?}", p.bytes_per_device))
    }

    /// The names that `patterns` send to host memory, with llama.cpp's search semantics.
    fn matched<'a>(patterns: &[String], names: &[&'a str]) -> Vec<&'a str> {
        let res: Vec<Regex> = patterns.iter().map(|p| Regex::new(p).unwrap()).collect();
        names
            .iter()
            .copied()
            .filter(|n| res.iter().any(|re| re.is_match(n)))
            .collect()
    }

    #[test]
    fn flags() {
        assert_eq!(
            MoeOffload::from_flags(false, None).unwrap(),
            MoeOffload::None
        );
        assert_eq!(MoeOffload::from_flags(true, None).unwrap(), MoeOffload::All);
        assert_eq!(
            MoeOffload::from_flags(false, Some(3)).unwrap(),
            MoeOffload::FirstLayers(3)
        );
        assert_eq!(
            MoeOffload::from_flags(false, Some(0)).unwrap(),
            MoeOffload::None
        );
        let err = MoeOffload::from_flags(true, Some(3)).unwrap_err();
        assert!(matches!(err, Error::InvalidOption(_)));
        assert!(err.to_string().contains("pick one"), "{err}");
    }

    #[test]
    fn patterns_are_llama_cpps() {
        assert!(override_patterns(&MoeOffload::None, 4).is_empty());
        assert_eq!(
            override_patterns(&MoeOffload::All, 4),
            vec![r"\.ffn_(up|down|gate|gate_up)_(ch|)exps".to_string()]
        );
        assert_eq!(
            override_patterns(&MoeOffload::FirstLayers(2), 4),
            vec![
                r"blk\.0\.ffn_(up|down|gate|gate_up)_(ch|)exps".to_string(),
                r"blk\.1\.ffn_(up|down|gate|gate_up)_(ch|)exps".to_string(),
            ]
        );
        assert_eq!(override_patterns(&MoeOffload::FirstLayers(9), 4).len(), 4);
    }

    #[test]
    fn expert_name_variants() {
        let names = [
            "blk.0.ffn_up_exps.weight",
            "blk.0.ffn_down_exps.weight",
            "blk.0.ffn_gate_exps.weight",
            "blk.0.ffn_gate_up_exps.weight",
            "blk.0.ffn_up_chexps.weight",
            "blk.0.ffn_down_exps.bias",
            "blk.0.ffn_up_shexp.weight",
            "blk.0.ffn_gate_inp.weight",
            "blk.0.ffn_up.weight",
            "blk.0.ffn_exps.weight",
        ];
        let all = matched(&override_patterns(&MoeOffload::All, 1), &names);
        assert_eq!(all, names[..6].to_vec());
    }

    #[test]
    fn first_layers_does_not_catch_later_layers() {
        let names: Vec<String> = (0..12)
            .map(|i| format!("blk.{i}.ffn_up_exps.weight"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let hit = matched(&override_patterns(&MoeOffload::FirstLayers(2), 12), &refs);
        assert_eq!(
            hit,
            vec!["blk.0.ffn_up_exps.weight", "blk.1.ffn_up_exps.weight"]
        );
    }

    #[test]
    fn all_experts_to_host() {
        let g = model(4, true, false);
        let p = plan(&g, &MoeOffload::All, Some("CUDA0"), 5);
        assert_eq!(p.n_layer, 4);
        assert_eq!(p.layers_offloaded_by_moe, 4);
        assert_eq!(p.clamped_from, None);
        assert_eq!((p.expert_tensors_total, p.expert_tensors_host), (12, 12));
        assert_eq!(p.expert_bytes_total, 12 * EXPERT);
        assert_eq!(p.expert_bytes_host, 12 * EXPERT);
        assert_eq!(bytes(&p, "CUDA0"), 4 * (ATTN + GATE_INP) + OUT_NORM + EMBD);
        assert_eq!(bytes(&p, "CPU"), EMBD + 12 * EXPERT);
        assert_eq!(p.bytes_per_device[0].0, "CUDA0");
        assert_eq!(p.patterns, override_patterns(&MoeOffload::All, 4));
        assert_eq!(
            p.to_string(),
            "MoE offload: 12 expert tensors (384.0 KiB) in host memory; CUDA0 72.2 KiB, CPU 388.0 KiB"
        );
    }

    #[test]
    fn first_two_of_four_layers() {
        let g = model(4, true, false);
        let p = plan(&g, &MoeOffload::FirstLayers(2), Some("CUDA0"), 5);
        assert_eq!(p.layers_offloaded_by_moe, 2);
        assert_eq!((p.expert_tensors_total, p.expert_tensors_host), (12, 6));
        assert_eq!(p.expert_bytes_host, 6 * EXPERT);
        let names: Vec<&str> = g.tensors.iter().map(|t| t.name.as_str()).collect();
        let hit = matched(&p.patterns, &names);
        let expected: Vec<String> = (0..2)
            .flat_map(|i| ["up", "down", "gate"].map(|k| format!("blk.{i}.ffn_{k}_exps.weight")))
            .collect();
        assert_eq!(hit, expected.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(bytes(&p, "CPU"), EMBD + 6 * EXPERT);
        let line = p.to_string();
        assert!(line.starts_with("MoE offload: 6 of 12 expert tensors (192.0 KiB of 384.0 KiB) in host memory (first 2 of 4 layers); CUDA0 "), "{line}");
    }

    #[test]
    fn clamping() {
        let g = model(4, true, false);
        let p = plan(&g, &MoeOffload::FirstLayers(10), Some("CUDA0"), 5);
        assert_eq!(p.layers_offloaded_by_moe, 4);
        assert_eq!(p.clamped_from, Some(10));
        assert_eq!(p.patterns.len(), 4);
        assert_eq!(p.expert_tensors_host, 12);
    }

    #[test]
    fn off_on_a_moe_model() {
        let g = model(4, true, false);
        let p = plan(&g, &MoeOffload::None, None, 0);
        assert!(p.patterns.is_empty());
        assert_eq!(p.expert_tensors_host, 0);
        assert_eq!(
            p.bytes_per_device,
            vec![("CPU".to_string(), g.tensor_bytes())]
        );
        assert_eq!(
            p.to_string(),
            format!(
                "MoE offload: off (12 expert tensors, 384.0 KiB, placed with their layers); CPU {}",
                format_bytes(g.tensor_bytes())
            )
        );
    }

    #[test]
    fn dense_model() {
        let g = model(4, false, false);
        let p = plan(&g, &MoeOffload::All, None, 0);
        assert_eq!(p.expert_tensors_total, 0);
        assert_eq!(p.expert_bytes_host, 0);
        assert_eq!(
            p.to_string(),
            format!(
                "MoE offload: nothing to offload (dense model, no expert tensors); CPU {}",
                format_bytes(g.tensor_bytes())
            )
        );
        let off = plan(&g, &MoeOffload::None, None, 0).to_string();
        assert!(off.starts_with("MoE offload: off (dense model"), "{off}");
    }

    #[test]
    fn gpu_layer_split() {
        let g = model(4, false, false);
        let layer = 2 * ATTN;
        // 2 GPU layers of 4 (+ output): i_gpu_start = 3, so blk.3 and the output layer.
        let p = plan(&g, &MoeOffload::None, Some("CUDA0"), 2);
        assert_eq!(bytes(&p, "CUDA0"), layer + OUT_NORM + EMBD);
        assert_eq!(bytes(&p, "CPU"), EMBD + 3 * layer);
        // All layers: everything but the token embeddings.
        let p = plan(&g, &MoeOffload::None, Some("CUDA0"), 99);
        assert_eq!(bytes(&p, "CPU"), EMBD);
        // None: the GPU is listed with nothing on it.
        let p = plan(&g, &MoeOffload::None, Some("CUDA0"), 0);
        assert_eq!(bytes(&p, "CUDA0"), 0);
        assert_eq!(bytes(&p, "CPU"), g.tensor_bytes());
        // Only the output layer.
        let p = plan(&g, &MoeOffload::None, Some("CUDA0"), 1);
        assert_eq!(bytes(&p, "CUDA0"), OUT_NORM + EMBD);
        // Without a device everything is host memory, whatever n_gpu_layers says.
        let p = plan(&g, &MoeOffload::None, None, 99);
        assert_eq!(
            p.bytes_per_device,
            vec![("CPU".to_string(), g.tensor_bytes())]
        );
    }

    #[test]
    fn moe_overrides_beat_gpu_layers() {
        let g = model(4, true, false);
        let p = plan(&g, &MoeOffload::FirstLayers(1), Some("CUDA0"), 2);
        // GPU: blk.3 (attn, gate_inp, experts) + output. CPU: embd, blk.0-2 whole.
        assert_eq!(
            bytes(&p, "CUDA0"),
            ATTN + GATE_INP + 3 * EXPERT + OUT_NORM + EMBD
        );
        assert_eq!(bytes(&p, "CPU"), EMBD + 3 * (ATTN + GATE_INP + 3 * EXPERT));
    }

    #[test]
    fn tied_embeddings_are_duplicated_on_the_gpu() {
        let g = model(2, false, true);
        let p = plan(&g, &MoeOffload::None, Some("CUDA0"), 3);
        assert_eq!(bytes(&p, "CUDA0"), 2 * 2 * ATTN + OUT_NORM + EMBD);
        assert_eq!(bytes(&p, "CPU"), EMBD);
    }

    #[test]
    fn layer_count_without_metadata() {
        let mut g = model(3, true, false);
        g.metadata.remove("qwen3moe.block_count");
        let p = plan(&g, &MoeOffload::FirstLayers(5), None, 0);
        assert_eq!(p.n_layer, 3);
        assert_eq!(p.clamped_from, Some(5));
    }

    #[test]
    fn absurd_layer_counts_stay_bounded() {
        let mut g = model(1, true, false);
        g.metadata
            .insert("qwen3moe.block_count".into(), GgufValue::U32(u32::MAX));
        let p = plan(
            &g,
            &MoeOffload::FirstLayers(u32::MAX),
            Some("CUDA0"),
            u32::MAX,
        );
        assert_eq!(p.patterns.len(), MAX_PATTERN_LAYERS as usize);
        assert_eq!(p.n_layer, u32::MAX);
        assert_eq!(p.clamped_from, None);
    }

    #[test]
    fn moe_offload_values() {
        assert_eq!("none".parse::<MoeOffload>().unwrap(), MoeOffload::None);
        assert_eq!("0".parse::<MoeOffload>().unwrap(), MoeOffload::None);
        assert_eq!("all".parse::<MoeOffload>().unwrap(), MoeOffload::All);
        assert_eq!("AUTO".parse::<MoeOffload>().unwrap(), MoeOffload::Auto);
        assert_eq!("fit".parse::<MoeOffload>().unwrap(), MoeOffload::Auto);
        assert_eq!(
            " 4 ".parse::<MoeOffload>().unwrap(),
            MoeOffload::FirstLayers(4)
        );
        let err = "most".parse::<MoeOffload>().unwrap_err().to_string();
        assert!(err.contains("none, all, auto"), "{err}");
        for mode in [
            MoeOffload::None,
            MoeOffload::All,
            MoeOffload::Auto,
            MoeOffload::FirstLayers(7),
        ] {
            assert_eq!(mode.flag_value().parse::<MoeOffload>().unwrap(), mode);
        }
    }

    #[test]
    fn moe_offload_flag_conflicts() {
        assert_eq!(
            MoeOffload::from_all_flags(false, None, Some(MoeOffload::Auto)).unwrap(),
            MoeOffload::Auto
        );
        assert_eq!(
            MoeOffload::from_all_flags(true, None, None).unwrap(),
            MoeOffload::All
        );
        let err = MoeOffload::from_all_flags(true, None, Some(MoeOffload::Auto))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--moe-offload auto") && err.contains("--cpu-moe"),
            "{err}"
        );
        let err = MoeOffload::from_all_flags(false, Some(3), Some(MoeOffload::All))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--n-cpu-moe 3"), "{err}");
    }

    #[test]
    fn auto_placement_from_fit_patterns() {
        let g = model(4, true, false);
        // What llama.cpp's fit writes when the experts of layers 0 and 1 must leave the GPU.
        let patterns: Vec<String> = (0..2)
            .map(|il| format!(r"blk\.{il}\.ffn_(up|down|gate_up|gate)_(ch|)exps"))
            .collect();
        let p = plan_with(&g, &MoeOffload::Auto, patterns, Some("CUDA0"), 5);
        assert_eq!(p.layers_offloaded_by_moe, 2);
        assert_eq!(p.expert_tensors_host, 6);
        assert_eq!(p.expert_bytes_host, 6 * EXPERT);
        assert_eq!(p.gpu_layers, 5);
        assert_eq!(bytes(&p, "CPU"), EMBD + 6 * EXPERT);
        let line = p.to_string();
        assert!(
            line.starts_with("MoE offload: auto fit, 6 of 12 expert tensors")
                && line.contains("(experts of 2 of 4 layers)"),
            "{line}"
        );
        // Everything fits: no override.
        let p = plan_with(&g, &MoeOffload::Auto, Vec::new(), Some("CUDA0"), 5);
        assert!(p.to_string().contains("all fit on the device"), "{p}");
        // No GPU.
        let p = plan_with(&g, &MoeOffload::Auto, Vec::new(), None, 0);
        assert!(p.to_string().contains("no GPU layers"), "{p}");
        assert_eq!(p.bytes_per_device, vec![("CPU".into(), g.tensor_bytes())]);
    }

    #[test]
    fn fit_patterns_become_whole_leading_layers() {
        let g = model(4, true, false);
        // llama.cpp's fit moves the experts of the last layers, the first of them partly.
        let fitted = vec![
            r"blk\.2\.ffn_(gate|gate_up|down).*".to_string(),
            r"blk\.3\.ffn_(up|down|gate_up|gate)_(ch|)exps".to_string(),
        ];
        let leading = leading_expert_layers(&g, &fitted);
        assert_eq!(leading, override_patterns(&MoeOffload::FirstLayers(2), 4));
        let p = plan_with(&g, &MoeOffload::Auto, leading, Some("CUDA0"), 5);
        assert_eq!(p.expert_tensors_host, 6, "layers 0 and 1 whole");
        assert_eq!(p.layers_offloaded_by_moe, 2);
        let split = plan_with(&g, &MoeOffload::Auto, fitted, Some("CUDA0"), 5);
        assert_eq!(split.expert_tensors_host, 5);
        assert!(bytes(&p, "CUDA0") <= bytes(&split, "CUDA0"));
        assert!(leading_expert_layers(&g, &[]).is_empty());
        assert!(leading_expert_layers(&g, &[r"blk\.0\.attn_q".to_string()]).is_empty());
    }

    #[test]
    fn tensor_parts() {
        assert_eq!(part_of("token_embd.weight"), Part::Input);
        assert_eq!(part_of("blk.12.attn_q.weight"), Part::Block(12));
        assert_eq!(part_of("enc.blk.1.attn_q.weight"), Part::Block(1));
        assert_eq!(part_of("output.weight"), Part::Output);
        assert_eq!(part_of("blk.x.attn_q.weight"), Part::Output);
        assert_eq!(part_of("rope_freqs.weight"), Part::Block(0));
    }

    #[test]
    fn bytes_format() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12 << 20), "12.0 MiB");
        assert_eq!(format_bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(format_bytes(5 << 30), "5.0 GiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }
}
