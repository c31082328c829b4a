//! Loading a GGUF model into llama.cpp with the requested placement.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::num::NonZeroU32;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::{
    DeviceInfo, DeviceMemory, Flow, GenerateEvent, GenerateRequest, GenerateSummary, LoadedModel,
    ModelInfo, ModelOptions,
};
use shimmy_core::gguf::GgufFile;
use shimmy_core::placement::{self, format_bytes, MoeOffload, Placement, HOST_DEVICE};
use shimmy_core::serving::{Scheduler, ServeOptions};
use shimmy_core::{Error, Result};

use crate::logging::{BufferKind, BufferSize};
use crate::{generate, logging, scheduler};

const MIB: u64 = 1024 * 1024;

/// llama.cpp's fit changes the global logger while it runs: one fit at a time.
static FIT: Mutex<()> = Mutex::new(());

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
    pub(crate) threads: i32,
    /// The GPU device name (`CUDA0`), when the model has one.
    pub(crate) gpu_name: Option<String>,
    /// Buffer sizes llama.cpp logged: weights at load, KV/compute of the latest context.
    pub(crate) memory: Mutex<MemoryState>,
    /// Texts of the control tokens, longest first (see [`crate::prompt_tokens`]).
    pub(crate) control_texts: Vec<String>,
}

/// Buffer sizes per device, from llama.cpp's log.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryState {
    /// Weight bytes per device.
    model: BTreeMap<String, u64>,
    /// (KV cache, compute) bytes per device of the latest context.
    context: BTreeMap<String, (u64, u64)>,
}

/// The device a ggml buffer belongs to: the GPU when the buffer is named after it
/// (`CUDA0`), host memory otherwise (`CPU`, `CPU_Mapped`, `CUDA_Host`, `AMX`...).
fn buffer_device(buffer: &str, gpu: Option<&str>) -> String {
    match gpu {
        Some(g) if buffer == g => g.to_string(),
        _ => HOST_DEVICE.to_string(),
    }
}

/// The parts of `sizes` of `kind`, summed per device.
fn per_device(sizes: &[BufferSize], kind: BufferKind, gpu: Option<&str>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, name, bytes) in sizes {
        if *k == kind {
            *out.entry(buffer_device(name, gpu)).or_insert(0) += bytes;
        }
    }
    out
}
/// Checks the file, computes the placement, applies the MoE overrides and loads the model.
pub fn load(
    backend: Arc<LlamaBackend>,
    path: &Path,
    options: &ModelOptions,
    gpu_device: Option<(usize, &DeviceInfo)>,
) -> Result<LlamaLoaded> {
    let gpu = gpu_device.map(|(_, d)| d);
    if options.batch_size == 0 {
        return Err(Error::InvalidOption(
            "--batch-size must be at least 1".into(),
        ));
    }
    if options.ctx_size == Some(0) {
        return Err(Error::InvalidOption("--ctx-size must be at least 1".into()));
    }
    let gguf = GgufFile::open(path)?;
    let n_layer = gguf.block_count().unwrap_or(0);

    let devices: Vec<usize> = gpu_device.map(|(i, _)| vec![i]).unwrap_or_default();
    let base = || {
        LlamaModelParams::default()
            .with_use_mmap(options.mmap)
            .with_devices(&devices)
            .map_err(|e| Error::BackendInit(format!("selecting the device: {e}")))
    };
    let auto_fit = options.moe == MoeOffload::Auto && gpu.is_some();
    let fixed_gpu_layers = match (gpu, options.gpu_layers) {
        (None, Some(n)) if n > 0 => {
            tracing::warn!("--gpu-layers {n} ignored: no GPU device is used");
            0
        }
        (None, _) => 0,
        (Some(_), Some(n)) => n.min(n_layer + 1),
        (Some(_), None) => n_layer + 1,
    };
    // `auto`: llama.cpp's fit decides the GPU layers and which expert layers stay in host
    // memory (rounded to whole layers); the fixed modes have their own patterns.
    let (overrides, gpu_layers) = match gpu.filter(|_| auto_fit) {
        Some(device) => fit_whole_layers(path, &gguf, options, device, base()?)?,
        None => (
            placement::override_patterns(&options.moe, n_layer),
            fixed_gpu_layers,
        ),
    };
    let mut params = pin!(base()?.with_n_gpu_layers(gpu_layers));
    let placement = placement::plan_with(
        &gguf,
        &options.moe,
        overrides.clone(),
        gpu.map(|d| d.name.as_str()),
        gpu_layers,
    );
    if let Some(requested) = placement.clamped_from {
        tracing::warn!(
            "--n-cpu-moe {requested} is more than the model's {n_layer} layers; using {n_layer}"
        );
    }
    if !auto_fit {
        check_budget(&placement, options)?;
    }
    let patterns: Vec<CString> = overrides
        .into_iter()
        .map(|p| CString::new(p).map_err(|e| Error::InvalidOption(e.to_string())))
        .collect::<Result<_>>()?;
    // The params keep pointers into `patterns`, which outlive the load below.
    for pattern in &patterns {
        params.as_mut().add_cpu_buft_override(pattern);
    }
    let gpu_layers = placement.gpu_layers;

    logging::clear_recent_problems();
    logging::start_buffer_capture();
    let loaded = LlamaModel::load_from_file(&backend, path, &params);
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
    drop(patterns);
    let gpu_name = gpu.map(|d| d.name.clone());
    let memory = MemoryState {
        model: per_device(&buffers, BufferKind::Model, gpu_name.as_deref()),
        context: BTreeMap::new(),
    };

    let n_ctx_train = model.n_ctx_train();
    let n_ctx = options
        .ctx_size
        .unwrap_or_else(|| n_ctx_train.clamp(1, DEFAULT_CTX));
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
        threads,
        gpu_name,
        memory: Mutex::new(memory),
        control_texts: crate::prompt_tokens::control_texts(&model),
        model,
    })
}

/// The memory to leave free on the GPU for `--moe-offload auto`: `--vram-margin-mb`, or more
/// when `--vram-budget-mb` asks to use less than `free - margin`.
pub(crate) fn fit_margin(options: &ModelOptions, free: u64) -> u64 {
    let margin = options.vram_margin_mb.saturating_mul(MIB);
    match options.vram_budget_mb {
        Some(budget) => margin.max(free.saturating_sub(budget.saturating_mul(MIB))),
        None => margin,
    }
}

/// With a fixed MoE mode, `--vram-budget-mb` is checked against the weights planned for the
/// GPU before anything is loaded.
/// Runs llama.cpp's fit (`--moe-offload auto`) for `path` on `device` and returns the override
/// patterns to load with and the GPU layers it chose.
///
/// The fit moves the experts of the last layers to host memory and may split one layer between
/// the devices. The host keeps the fit's GPU layers and its number of expert layers, but takes
/// them whole and from the first layer on, as `--n-cpu-moe N` does: the same memory, and on the
/// H100 and H200 12-13 % faster decoding than the fit's own placement (docs/benchmarks.md).
fn fit_whole_layers(
    path: &Path,
    gguf: &GgufFile,
    options: &ModelOptions,
    device: &DeviceInfo,
    probe: LlamaModelParams,
) -> Result<(Vec<String>, u32)> {
    let n_layer = gguf.block_count().unwrap_or(0);
    let mut probe = pin!(probe);
    let free = device.memory_free;
    let n_ctx = options.ctx_size.unwrap_or_else(|| {
        gguf.context_length()
            .unwrap_or(DEFAULT_CTX)
            .clamp(1, DEFAULT_CTX)
    });
    let margin = fit_margin(options, free);
    let mut cparams = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(options.batch_size)
        .with_n_ubatch(options.batch_size.min(512))
        .with_n_seq_max(1);
    // SAFETY: plain query.
    let max_devices = unsafe { llama_cpp_sys_2::llama_max_devices() }.max(1);
    let mut margins = vec![usize::try_from(margin).unwrap_or(usize::MAX); max_devices];
    let path_c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidOption(format!("{} has a NUL byte", path.display())))?;
    {
        let _one_fit = FIT.lock().unwrap_or_else(PoisonError::into_inner);
        logging::clear_recent_problems();
        probe
            .as_mut()
            .fit_params(
                &path_c,
                &mut cparams,
                &mut margins,
                n_ctx,
                llama_cpp_sys_2::GGML_LOG_LEVEL_INFO,
            )
            .map_err(|e| {
                Error::InvalidOption(explain(format!(
                    "--moe-offload auto: llama.cpp found no placement of {} that leaves {} \
                     free on {} ({} free now): {e}; lower --ctx-size, lower \
                     --vram-margin-mb / raise --vram-budget-mb, or use --cpu-moe",
                    path.display(),
                    format_bytes(margin),
                    device.name,
                    format_bytes(free)
                )))
            })?;
    }
    let ngl = match probe.n_gpu_layers() {
        n if n < 0 => n_layer + 1,
        n => (n as u32).min(n_layer + 1),
    };
    let fitted = probe.tensor_buft_override_patterns();
    let whole = placement::leading_expert_layers(gguf, &fitted);
    tracing::info!(
        "auto fit: {ngl} GPU layers, {} overrides, as the experts of the first {} layers, \
         margin {} on {}",
        fitted.len(),
        whole.len(),
        format_bytes(margin),
        device.name
    );
    Ok((whole, ngl))
}

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

impl LoadedModel for LlamaLoaded {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn placement(&self) -> &Placement {
        &self.placement
    }

    fn memory(&self) -> Vec<DeviceMemory> {
        let state = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut names: Vec<String> = state
            .model
            .keys()
            .chain(state.context.keys())
            .cloned()
            .collect();
        names.sort_by_key(|n| (n == HOST_DEVICE, n.clone()));
        names.dedup();
        names
            .into_iter()
            .map(|device| {
                let (kv_cache, compute) = state.context.get(&device).copied().unwrap_or((0, 0));
                DeviceMemory {
                    model: state.model.get(&device).copied().unwrap_or(0),
                    kv_cache,
                    compute,
                    device,
                }
            })
            .collect()
    }

    fn tokenize(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokens(text, add_bos, parse_special)?
            .into_iter()
            .map(|t| t.0 as u32)
            .collect())
    }

    fn has_control_text(&self, text: &str) -> Result<bool> {
        Ok(self.holds_control_text(text))
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String> {
        let n_vocab = self.info.n_vocab;
        let mut bytes = Vec::new();
        for &id in tokens {
            if id >= n_vocab {
                return Err(Error::Tokenize(format!(
                    "token id {id} is outside the vocabulary (0..{n_vocab})"
                )));
            }
            bytes.extend(
                self.model
                    .vocab()
                    .token_to_piece(LlamaToken(id as i32), false, None),
            );
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        sink: &mut dyn FnMut(GenerateEvent) -> Flow,
    ) -> Result<GenerateSummary> {
        generate::run(self, request, sink)
    }

    fn serve(self: Arc<Self>, options: &ServeOptions) -> Result<Arc<dyn Scheduler>> {
        scheduler::start(self, options)
    }
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

    /// Creates an inference context on this model (one at a time, see [`CONTEXT_CREATION`]).
    pub(crate) fn new_context(&self, params: LlamaContextParams) -> Result<LlamaContext<'_>> {
        let _guard = CONTEXT_CREATION
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        logging::clear_recent_problems();
        logging::start_buffer_capture();
        let ctx = self.model.new_context(&self.backend, params);
        let buffers = logging::take_buffer_capture();
        let ctx =
            ctx.map_err(|e| Error::Inference(explain(format!("could not create a context: {e}"))))?;
        let gpu = self.gpu_name.as_deref();
        let kv = per_device(&buffers, BufferKind::KvCache, gpu);
        let compute = per_device(&buffers, BufferKind::Compute, gpu);
        let mut context = BTreeMap::new();
        for (device, bytes) in kv {
            context.entry(device).or_insert((0, 0)).0 = bytes;
        }
        for (device, bytes) in compute {
            context.entry(device).or_insert((0, 0)).1 = bytes;
        }
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .context = context;
        Ok(ctx)
    }
}

/// Adds llama.cpp's own recent warnings/errors to a message.
pub(crate) fn explain(message: String) -> String {
    let problems = logging::take_recent_problems();
    if problems.is_empty() {
        message
    } else {
        format!("{message} ({})", problems.join("; "))
    }
}
