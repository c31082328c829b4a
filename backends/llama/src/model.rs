//! Loading a GGUF model into llama.cpp with the requested placement.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{list_llama_ggml_backend_devices, LlamaBackendDeviceType};
use shimmy_core::backend::embedding::ModelPurpose;
use shimmy_core::backend::{
    mmap_by_default, DeviceInfo, DeviceSampling, ModelInfo, ModelOptions, SplitMode,
};
use shimmy_core::gguf::GgufFile;
use shimmy_core::placement::{self, format_bytes, MoeOffload, Placement, HOST_DEVICE};
use shimmy_core::planner::devices::{plan_devices, DeviceSlot, DevicesPlan, DevicesRequest};
use shimmy_core::planner::{self, DeviceProfile, PlanRequest};
use shimmy_core::{Error, Result};

use crate::context_params;
use crate::control_texts::ControlTexts;
use crate::layer_split::{self, LayerSpan};
use crate::logging::{self, explain};
use crate::logging::{BufferKind, BufferSize};
use crate::model_params::ModelParams;
use crate::raw_context::RawContext;
use crate::rpc;

const MIB: u64 = 1024 * 1024;

/// Context used when neither the request nor the model says otherwise.
const DEFAULT_CTX: u32 = 4096;

/// Serialises context creation: llama.cpp may write to the model while it builds a context,
/// so two contexts of one model must not be created at the same time.
static CONTEXT_CREATION: Mutex<()> = Mutex::new(());

/// A model loaded into llama.cpp.
pub struct LlamaLoaded {
    pub(crate) backend: Arc<LlamaBackend>,
    pub(crate) model: LlamaModel,
    pub(crate) info: ModelInfo,
    pub(crate) placement: Placement,
    pub(crate) batch_size: u32,
    /// Tokens per micro-batch (llama.cpp's `n_ubatch`), chosen with the placement.
    pub(crate) ubatch: u32,
    pub(crate) threads: i32,
    /// Every GPU the model uses (`CUDA0`...).
    pub(crate) gpu_names: Vec<String>,
    /// Whether the scheduler draws tokens on the device where a request allows it.
    pub(crate) device_sampling: bool,
    /// Buffer sizes llama.cpp logged: weights at load, KV/compute of the latest context.
    pub(crate) memory: Mutex<MemoryState>,
    /// Texts of the control tokens (see [`crate::prompt_tokens`]).
    pub(crate) control_texts: ControlTexts,
    /// Where the layers went when the model spans devices (rpc workers), in llama.cpp's order.
    pub(crate) layer_split: Vec<LayerSpan>,
    /// The rpc worker connections the model's weights live behind (empty without `--rpc`).
    pub(crate) rpc_links: rpc::ModelLinks,
}

/// Buffer sizes per device, from llama.cpp's log.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryState {
    /// Weight bytes per device.
    pub(crate) model: BTreeMap<String, u64>,
    /// (KV cache, compute) bytes per device of the latest context.
    pub(crate) context: BTreeMap<String, (u64, u64)>,
    /// (KV cache, compute) bytes per device of the embedding context, when there is one.
    pub(crate) embedding: BTreeMap<String, (u64, u64)>,
}

/// The device a ggml buffer belongs to: a GPU when the buffer is named after it (`CUDA0`),
/// an rpc worker for its buffers (`RPC0[127.0.0.1:PORT]` becomes `rpc HOST:PORT`, the
/// worker's own address, see [`rpc::buffer_label`]), host memory otherwise (`CPU`,
/// `CPU_Mapped`, `CUDA_Host`...).
fn buffer_device(buffer: &str, gpus: &[&str]) -> String {
    if let Some(label) = rpc::buffer_label(buffer) {
        return label;
    }
    match gpus.iter().find(|g| **g == buffer) {
        Some(g) => g.to_string(),
        None => HOST_DEVICE.to_string(),
    }
}

/// The parts of `sizes` of `kind`, summed per device.
fn per_device(sizes: &[BufferSize], kind: BufferKind, gpus: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, name, bytes) in sizes {
        if *k == kind {
            *out.entry(buffer_device(name, gpus)).or_insert(0) += bytes;
        }
    }
    out
}

/// `CUDA0, CUDA1`.
fn device_names(gpus: &[(usize, &DeviceInfo)]) -> String {
    gpus.iter()
        .map(|(_, d)| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--tensor-split` needs one entry per device the model uses (its GPUs, then the rpc
/// workers' devices), a `--vram-budget-mb` list one per GPU.
fn check_device_lists(
    options: &ModelOptions,
    used: &[(usize, &DeviceInfo)],
    rpc_devices: usize,
) -> Result<()> {
    let describe = |n: usize| match (n, rpc_devices) {
        (0, 0) => "the CPU only".to_string(),
        (1, 0) => format!("one GPU ({})", device_names(used)),
        (n, 0) => format!("{n} GPUs ({})", device_names(used)),
        (n, r) => format!(
            "{} devices ({n} GPU(s) and {r} rpc worker device(s))",
            n + r
        ),
    };
    let lists = [
        (
            "--tensor-split",
            options.tensor_split.as_ref().map_or(0, Vec::len),
            used.len() + rpc_devices,
        ),
        (
            "--vram-budget-mb",
            options.vram_budgets_mb.len(),
            used.len(),
        ),
    ];
    for (flag, len, want) in lists {
        if len > 1 && len != want {
            return Err(Error::InvalidOption(format!(
                "{flag} lists {len} devices, but the model runs on {}; give one entry per \
                 device in device order{}",
                describe(used.len()),
                if want <= 1 {
                    " (a single number for one device)"
                } else {
                    ""
                }
            )));
        }
    }
    Ok(())
}

/// The plan over several devices ([`planner::devices`]), each within its own budget: the GPUs
/// `used` (their `--vram-budget-mb` entries, else free memory minus the margin), then the rpc
/// workers' devices `rpc` (label, free memory as the worker reports it).
fn plan_several(
    gguf: &GgufFile,
    options: &ModelOptions,
    used: &[(usize, &DeviceInfo)],
    rpc: &[(String, u64)],
    n_ctx: u32,
) -> Result<DevicesPlan> {
    let gpus = used.iter().enumerate().map(|(i, (_, d))| {
        let own = ModelOptions {
            vram_budget_mb: options.budget_of(i),
            ..options.clone()
        };
        DeviceSlot {
            name: d.name.clone(),
            budget: device_budget(&own, d.memory_free),
            profile: DeviceProfile::CUDA,
        }
    });
    let workers = rpc.iter().map(|(label, free)| DeviceSlot {
        name: label.clone(),
        budget: *free,
        profile: DeviceProfile::RPC_CPU,
    });
    plan_devices(
        gguf,
        &DevicesRequest {
            mode: options.moe,
            devices: gpus.chain(workers).collect(),
            tensor_split: options.tensor_split.clone(),
            ctx_per_seq: n_ctx,
            parallel: options.parallel.max(1),
            ubatch: options.ubatch_size,
        },
    )
}

/// Checks the file, plans the placement, applies the MoE overrides and loads the model.
///
/// With a GPU the planner ([`shimmy_core::planner`]) decides (`--moe-offload auto`) or
/// estimates (the fixed modes) what the model holds on the device and picks the micro-batch;
/// without one every weight stays in host memory.
pub fn load(
    backend: Arc<LlamaBackend>,
    path: &Path,
    options: &ModelOptions,
    gpus: &[(usize, &DeviceInfo)],
    rpc_devices: &[usize],
) -> Result<LlamaLoaded> {
    if options.batch_size == 0 {
        return Err(Error::InvalidOption(
            "--batch-size must be at least 1".into(),
        ));
    }
    if options.ctx_size == Some(0) {
        return Err(Error::InvalidOption("--ctx-size must be at least 1".into()));
    }
    let main = options.main_gpu.unwrap_or(0) as usize;
    if options.main_gpu.is_some() && main >= gpus.len() {
        return Err(Error::InvalidOption(format!(
            "--main-gpu {main}: {}",
            match gpus.len() {
                0 => "no GPU is used (the CPU runs the model)".to_string(),
                1 => format!(
                    "there is one GPU ({}); leave --main-gpu out or give 0",
                    device_names(gpus)
                ),
                n => format!(
                    "there are {n} GPUs ({}); use 0 to {}",
                    device_names(gpus),
                    n - 1
                ),
            }
        )));
    }
    let gguf = GgufFile::open(path)?;
    let n_layer = gguf.block_count().unwrap_or(0);
    let n_ctx = options.ctx_size.unwrap_or_else(|| {
        gguf.context_length()
            .unwrap_or(DEFAULT_CTX)
            .clamp(1, DEFAULT_CTX)
    });
    planner::check_ubatch(options.ubatch_size, n_ctx)?;
    let several = gpus.len() > 1 && options.split_mode != SplitMode::None;
    let used: Vec<(usize, &DeviceInfo)> = if several {
        gpus.to_vec()
    } else {
        gpus.get(main).copied().into_iter().collect()
    };
    check_device_lists(options, &used, rpc_devices.len())?;
    let gpu_device = used.first().copied();
    let gpu = gpu_device.map(|(_, d)| d);

    let mut devices: Vec<usize> = used.iter().map(|(i, _)| *i).collect();
    devices.extend_from_slice(rpc_devices);
    let uses_rpc = !rpc_devices.is_empty();
    if uses_rpc {
        // A worker lost earlier: fail here, naming it, before ggml connects to it.
        rpc::check_all()?;
    }
    let all_layers = n_layer + 1;
    let gpu_layers = match (gpu, options.gpu_layers) {
        // Layers go to the GPU and the workers; --gpu-layers N keeps the rest on the head.
        (_, Some(n)) if uses_rpc => n.min(all_layers),
        (_, None) if uses_rpc => all_layers,
        (None, Some(n)) if n > 0 => {
            tracing::warn!("--gpu-layers {n} ignored: no GPU device is used");
            0
        }
        (None, _) => 0,
        (Some(_), Some(n)) => n.min(all_layers),
        (Some(_), None) => all_layers,
    };
    let mut tensor_split = options.tensor_split.clone().unwrap_or_default();
    // Several GPUs are planned; with rpc workers only `auto` is (the fixed modes leave the split
    // to llama.cpp: by each device's free memory, or --tensor-split).
    let plan_rpc = uses_rpc && options.moe == MoeOffload::Auto;
    let split_plan = match (several || plan_rpc) && gpu_layers == all_layers {
        true => {
            let rpc: Vec<(String, u64)> = rpc_devices.iter().map(|&i| device_label(i)).collect();
            Some(plan_several(&gguf, options, &used, &rpc, n_ctx)?)
        }
        false => None,
    };
    if let Some(plan) = &split_plan {
        // The split names each device's layers exactly; GPUs without layers are left out
        // (the workers stay: their connections are the model's).
        let keep: Vec<usize> = if uses_rpc {
            (0..plan.parts.len()).collect()
        } else {
            plan.used_devices()
        };
        devices = keep.iter().map(|&i| devices[i]).collect();
        tensor_split = keep.iter().map(|&i| plan.tensor_split()[i]).collect();
        for part in &plan.parts {
            tracing::info!(
                "{}: layers {}..{}, {} of {} expert tensors in host memory; planned {} of {}",
                part.estimate.device,
                part.layers.start,
                part.layers.end,
                part.expert_tensors_host,
                part.expert_tensors,
                format_bytes(part.estimate.total()),
                part.estimate
                    .budget
                    .map_or("no budget".into(), format_bytes)
            );
        }
    }
    // The planner assumes every layer on the GPU; with fewer (--gpu-layers) the fixed
    // patterns apply and nothing is estimated.
    let planned = match gpu.filter(|_| gpu_layers == all_layers && !several && !uses_rpc) {
        Some(device) => match planner::plan(&gguf, &plan_request(options, device, n_ctx)) {
            Ok(plan) => Some(plan),
            // The fixed modes load without an estimate; `auto` needs the plan.
            Err(err) if options.moe != MoeOffload::Auto => {
                tracing::warn!("no memory estimate for {}: {err}", path.display());
                None
            }
            Err(err) => return Err(err),
        },
        None => None,
    };
    let overrides = match (&planned, &split_plan) {
        (Some(plan), _) if options.moe == MoeOffload::Auto => plan.patterns.clone(),
        (_, Some(plan)) if options.moe == MoeOffload::Auto => plan.patterns.clone(),
        _ => placement::override_patterns(&options.moe, n_layer),
    };
    let ubatch = match (&planned, &split_plan) {
        (Some(plan), _) => plan.ubatch,
        (_, Some(plan)) => plan.ubatch,
        _ => options
            .ubatch_size
            .unwrap_or(planner::DEFAULT_UBATCH.min(n_ctx)),
    };
    let mut placement = placement::plan_with(
        &gguf,
        &options.moe,
        overrides.clone(),
        gpu.map(|d| d.name.as_str()),
        gpu_layers,
    );
    if let Some(plan) = &split_plan {
        // Per device what the plan puts there; the host keeps the rest.
        let host = placement
            .bytes_per_device
            .iter()
            .filter(|(d, _)| d == HOST_DEVICE)
            .map(|(_, b)| *b)
            .sum();
        placement.bytes_per_device = plan
            .parts
            .iter()
            .filter(|p| !p.layers.is_empty())
            .map(|p| (p.estimate.device.clone(), p.estimate.weights))
            .chain(std::iter::once((HOST_DEVICE.to_string(), host)))
            .collect();
    }
    let mmap = choose_mmap(options, gpu.is_some(), &placement);
    let mut params = ModelParams::new(mmap)
        .devices(&devices)?
        .gpu_layers(gpu_layers)
        .split_mode(
            options.split_mode,
            // llama.cpp counts the main GPU among the devices it is given.
            gpus.get(main)
                .and_then(|(idx, _)| devices.iter().position(|d| d == idx))
                .unwrap_or(0) as u32,
        )
        .tensor_split(&tensor_split)?;
    placement.ubatch = ubatch;
    placement.estimate = planned.as_ref().map(|p| p.estimate.clone());
    if let Some(plan) = &planned {
        tracing::info!("{plan}");
    }
    if let Some(requested) = placement.clamped_from {
        tracing::warn!(
            "--n-cpu-moe {requested} is more than the model's {n_layer} layers; using {n_layer}"
        );
    }
    if options.moe != MoeOffload::Auto && !several {
        check_budget(&placement, options)?;
    }
    for pattern in &overrides {
        params = params.host_override(pattern)?;
    }
    let gpu_layers = if uses_rpc {
        gpu_layers
    } else {
        placement.gpu_layers
    };
    let layer_split = if uses_rpc {
        // Weighed by --tensor-split when given, else by free memory, as llama.cpp weighs them.
        let labelled: Vec<(String, u64)> = devices
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let (label, free) = device_label(i);
                let weight = tensor_split
                    .get(k)
                    .map_or(free, |w| (f64::from(*w) * 1e6) as u64);
                (label, weight)
            })
            .collect();
        let split = layer_split::split(n_layer, gpu_layers, &labelled);
        tracing::info!(
            "{}: {}",
            path.display(),
            split
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        split
    } else {
        Vec::new()
    };

    logging::clear_recent_problems();
    logging::start_buffer_capture();
    let loaded = params.load(path);
    let buffers = logging::take_buffer_capture();
    let model = loaded.map_err(|err| {
        let problems = logging::take_recent_problems();
        Error::ModelLoad {
            path: path.to_path_buf(),
            reason: if problems.is_empty() {
                err.to_string()
            } else {
                problems.join("; ")
            },
        }
    })?;
    let rpc_links = if uses_rpc {
        rpc::ModelLinks::capture()
    } else {
        rpc::ModelLinks::default()
    };
    // A worker that died during the load: its weights are missing.
    rpc_links.health()?;
    let gpu_name = gpu.map(|d| d.name.clone());
    let gpu_names: Vec<&str> = used.iter().map(|(_, d)| d.name.as_str()).collect();
    let memory = MemoryState {
        model: per_device(&buffers, BufferKind::Model, &gpu_names),
        context: BTreeMap::new(),
        embedding: BTreeMap::new(),
    };
    if uses_rpc {
        // The single-GPU estimate does not know the workers: report what llama.cpp placed.
        placement.gpu_layers = gpu_layers;
        placement.bytes_per_device = memory
            .model
            .iter()
            .map(|(device, bytes)| (device.clone(), *bytes))
            .collect();
    }

    let n_ctx_train = model.n_ctx_train();
    let vocab = model.vocab();
    let token_text = |token: LlamaToken| -> Option<String> {
        if token.0 < 0 {
            return None;
        }
        vocab.text(token).map(|t| t.to_string_lossy().into_owned())
    };
    let info = ModelInfo {
        path: PathBuf::from(path),
        architecture: gguf.architecture().to_string(),
        n_layer,
        n_expert: gguf.expert_count(),
        n_expert_used: gguf.expert_used_count(),
        n_ctx_train,
        n_ctx,
        n_vocab: model.n_vocab().max(0) as u32,
        n_params: model.n_params(),
        size_bytes: model.size(),
        chat_template: gguf.chat_template().map(str::to_string),
        bos_token: token_text(vocab.bos()),
        eos_token: token_text(vocab.eos()),
        add_bos: vocab.should_add_bos(),
        gpu_layers,
        purpose: ModelPurpose::of(&gguf),
    };
    let threads = options
        .threads
        .map(|t| t as i32)
        .unwrap_or_else(default_threads);
    Ok(LlamaLoaded {
        backend,
        info,
        placement,
        batch_size: options.batch_size,
        ubatch,
        threads,
        device_sampling: match options.device_sampling {
            DeviceSampling::On => true,
            DeviceSampling::Off => false,
            DeviceSampling::Auto => gpu_name.is_some() && gpu_layers > 0,
        },
        gpu_names: gpu_names.iter().map(|n| n.to_string()).collect(),
        memory: Mutex::new(memory),
        control_texts: ControlTexts::of(&model),
        layer_split,
        rpc_links,
        model,
    })
}

/// The ggml device at `index` as the layer report names it (`CUDA0`, `rpc HOST:PORT`),
/// with its free memory (what llama.cpp weighs the split by).
fn device_label(index: usize) -> (String, u64) {
    // SAFETY: plain queries of ggml's device registry with an index it listed.
    unsafe {
        let dev = llama_cpp_sys_2::ggml_backend_dev_get(index);
        let name = std::ffi::CStr::from_ptr(llama_cpp_sys_2::ggml_backend_dev_name(dev))
            .to_string_lossy()
            .into_owned();
        let (mut free, mut total) = (0usize, 0usize);
        llama_cpp_sys_2::ggml_backend_dev_memory(dev, &mut free, &mut total);
        let label = rpc::device_label(index).unwrap_or(name);
        (label, free as u64)
    }
}

/// Whether to memory-map the file: the option, else mapped unless weights stay in host
/// memory beside the GPU ([`shimmy_core::backend::mmap_by_default`]).
fn choose_mmap(options: &ModelOptions, uses_gpu: bool, placement: &Placement) -> bool {
    if let Some(mmap) = options.mmap {
        return mmap;
    }
    // The input embeddings always stay in host memory (llama.cpp reads rows of them on the
    // CPU); only expert tensors or whole layers there make the GPU copy host weights.
    let splits_weights =
        placement.expert_tensors_host > 0 || placement.gpu_layers <= placement.n_layer;
    let host_bytes = placement
        .bytes_per_device
        .iter()
        .filter(|(d, _)| splits_weights && d == HOST_DEVICE)
        .map(|(_, b)| *b)
        .sum();
    let host_free = list_llama_ggml_backend_devices()
        .into_iter()
        .find(|d| d.device_type == LlamaBackendDeviceType::Cpu)
        .map(|d| d.memory_free as u64)
        .filter(|&free| free > 0);
    let mmap = mmap_by_default(uses_gpu, host_bytes, host_free);
    if uses_gpu && !mmap {
        tracing::info!(
            "reading the model file instead of mapping it: {} of weights stay in host memory \
             and go to pinned memory, which the GPU reads prompts from faster (--mmap to map)",
            format_bytes(host_bytes)
        );
    }
    mmap
}

/// The device memory a model may use: `--vram-budget-mb`, at most the device's free memory
/// minus `--vram-margin-mb` (only the margin without a budget).
pub(crate) fn device_budget(options: &ModelOptions, free: u64) -> u64 {
    let usable = free.saturating_sub(options.vram_margin_mb.saturating_mul(MIB));
    match options.vram_budget_mb {
        Some(budget) => usable.min(budget.saturating_mul(MIB)),
        None => usable,
    }
}

/// The planner's request for `options` on `device` with a context of `n_ctx` per slot.
fn plan_request(options: &ModelOptions, device: &DeviceInfo, n_ctx: u32) -> PlanRequest {
    PlanRequest {
        mode: options.moe,
        budget: match options.moe {
            // auto fits the device; the fixed modes report against the budget, if any.
            MoeOffload::Auto => Some(device_budget(options, device.memory_free)),
            _ => options.vram_budget_mb.map(|mb| mb.saturating_mul(MIB)),
        },
        ctx_per_seq: n_ctx,
        parallel: options.parallel.max(1),
        ubatch: options.ubatch_size,
        device: DeviceProfile::CUDA,
        device_name: device.name.clone(),
    }
}

/// With a fixed MoE mode, `--vram-budget-mb` is checked against the weights planned for the
/// GPU before anything is loaded.
fn check_budget(placement: &Placement, options: &ModelOptions) -> Result<()> {
    let Some(budget) = options.vram_budget_mb else {
        return Ok(());
    };
    let Some((device, bytes)) = placement
        .bytes_per_device
        .iter()
        .find(|(d, _)| d != HOST_DEVICE)
    else {
        return Ok(());
    };
    if *bytes > budget.saturating_mul(MIB) {
        return Err(Error::InvalidOption(format!(
            "the weights placed on {device} need {}, more than --vram-budget-mb {budget}; keep \
             more MoE experts in host memory (--n-cpu-moe N with a larger N, --cpu-moe), lower \
             --gpu-layers, or let llama.cpp fit the model with --moe-offload auto",
            format_bytes(*bytes)
        )));
    }
    Ok(())
}

fn default_threads() -> i32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as i32)
        .unwrap_or(4)
}

impl LlamaLoaded {
    /// Tokenizes with llama.cpp's tokenizer.
    pub(crate) fn tokens(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
    ) -> Result<Vec<LlamaToken>> {
        if text.is_empty() && !add_bos {
            return Ok(Vec::new());
        }
        // `add_special` makes llama.cpp add BOS only when the model asks for it.
        Ok(self
            .model
            .vocab()
            .tokenize(text.as_bytes(), add_bos, parse_special))
    }

    /// Tokens fed per decode on the single-request path: `--batch-size`, at least one
    /// micro-batch.
    pub(crate) fn prompt_batch(&self) -> u32 {
        self.batch_size.max(self.ubatch)
    }

    /// Parameters of a one-sequence context (the single-request path and the bench's plain
    /// loop): the load's context, [`Self::prompt_batch`], the planned micro-batch, one output
    /// per decode.
    pub(crate) fn single_context_params(&self) -> LlamaContextParams {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.info.n_ctx))
            .with_n_batch(self.prompt_batch())
            .with_n_ubatch(self.ubatch)
            .with_n_seq_max(1)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        context_params::with_n_outputs_max(params, 1)
    }

    /// Creates an inference context on this model (one at a time, see [`CONTEXT_CREATION`]).
    pub(crate) fn new_context(&self, params: LlamaContextParams) -> Result<LlamaContext<'_>> {
        self.capture_context(false, || {
            self.model
                .new_context(&self.backend, params)
                .map_err(|e| Error::Inference(explain(format!("could not create a context: {e}"))))
        })
    }

    /// Like [`Self::new_context`], through the raw API (the scheduler's context).
    pub(crate) fn new_raw_context(
        &self,
        params: llama_cpp_sys_2::llama_context_params,
    ) -> Result<RawContext<'_>> {
        self.capture_context(false, || {
            RawContext::new(&self.model, params)
                .map_err(|e| Error::Inference(explain(format!("could not create a context: {e}"))))
        })
    }

    /// Like [`Self::new_context`], for the embedder's context (its buffers are recorded
    /// beside the generation context's, see [`MemoryState::embedding`]).
    pub(crate) fn new_embedding_context(
        &self,
        params: LlamaContextParams,
    ) -> Result<LlamaContext<'_>> {
        self.capture_context(true, || {
            self.model.new_context(&self.backend, params).map_err(|e| {
                Error::Inference(explain(format!(
                    "could not create the embedding context: {e}"
                )))
            })
        })
    }

    /// Runs `create` (one context creation at a time) and records the KV cache and compute
    /// buffers llama.cpp logged meanwhile as this model's latest context (or, with
    /// `embedding`, as its embedding context).
    fn capture_context<T>(&self, embedding: bool, create: impl FnOnce() -> Result<T>) -> Result<T> {
        let _guard = CONTEXT_CREATION
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        logging::clear_recent_problems();
        logging::start_buffer_capture();
        let ctx = create();
        let buffers = logging::take_buffer_capture();
        let ctx = ctx?;
        let gpus: Vec<&str> = self.gpu_names.iter().map(String::as_str).collect();
        let kv = per_device(&buffers, BufferKind::KvCache, &gpus);
        let compute = per_device(&buffers, BufferKind::Compute, &gpus);
        let mut context = BTreeMap::new();
        for (device, bytes) in kv {
            context.entry(device).or_insert((0, 0)).0 = bytes;
        }
        for (device, bytes) in compute {
            context.entry(device).or_insert((0, 0)).1 = bytes;
        }
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if embedding {
            memory.embedding = context;
        } else {
            memory.context = context;
        }
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(name: &str) -> DeviceInfo {
        DeviceInfo {
            name: name.into(),
            description: "test".into(),
            backend: "CUDA".into(),
            kind: "gpu".into(),
            memory_total: 8 << 30,
            memory_free: 8 << 30,
        }
    }

    #[test]
    fn device_lists_need_one_entry_per_device() {
        let (a, b) = (gpu("CUDA0"), gpu("CUDA1"));
        let two = [(0, &a), (1, &b)];
        let with = |split: Option<Vec<f32>>, budgets: Vec<u64>| ModelOptions {
            tensor_split: split,
            vram_budgets_mb: budgets,
            ..ModelOptions::default()
        };
        assert!(check_device_lists(&with(Some(vec![1.0, 3.0]), vec![4096, 8192]), &two, 0).is_ok());
        // One weight is no split at all; a list must match.
        assert!(check_device_lists(&with(Some(vec![1.0]), vec![]), &two[..1], 0).is_ok());
        let err = check_device_lists(&with(Some(vec![1.0, 1.0, 1.0]), vec![]), &two, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "--tensor-split lists 3 devices, but the model runs on 2 GPUs (CUDA0, CUDA1)"
            ),
            "{err}"
        );
        let err = check_device_lists(&with(None, vec![4096, 8192]), &two[..1], 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--vram-budget-mb lists 2 devices, but the model runs on one GPU (CUDA0)"),
            "{err}"
        );
        // rpc workers count for --tensor-split, not for the GPU budgets.
        assert!(check_device_lists(&with(Some(vec![1.0, 1.0, 2.0]), vec![]), &two[..1], 2).is_ok());
        let err = check_device_lists(&with(None, vec![1, 2, 3]), &two[..1], 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 devices (1 GPU(s) and 2 rpc worker device(s))"),
            "{err}"
        );
    }

    #[test]
    fn buffers_are_counted_per_gpu() {
        let sizes: Vec<BufferSize> = vec![
            (BufferKind::Model, "CUDA0".into(), 10),
            (BufferKind::Model, "CUDA1".into(), 20),
            (BufferKind::Model, "CUDA_Host".into(), 5),
            (BufferKind::Model, "CPU".into(), 1),
        ];
        let out = per_device(&sizes, BufferKind::Model, &["CUDA0", "CUDA1"]);
        assert_eq!(out.get("CUDA0"), Some(&10));
        assert_eq!(out.get("CUDA1"), Some(&20));
        assert_eq!(out.get(HOST_DEVICE), Some(&6));
    }
}
