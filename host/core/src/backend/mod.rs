//! The inference backend contract.
//!
//! The host sees llama.cpp only through [`Backend`] (load a model with options, list devices)
//! and [`LoadedModel`] (tokenize, detokenize, generate a token stream, model info). A generation
//! streams [`GenerateEvent`]s into a caller-supplied sink which can stop it at any time.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::placement::{MoeOffload, Placement};
use crate::reasoning::ReasoningRequest;
use crate::Result;

pub mod embedding;
pub mod serving;

/// How a model is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOptions {
    /// Context window in tokens; `None` uses the model's training context capped at 4096.
    pub ctx_size: Option<u32>,
    /// Logical batch size for prompt evaluation (prompts longer than this are fed in chunks).
    pub batch_size: u32,
    /// Layers to put on the GPU; `None` means all when a GPU device exists, else 0.
    pub gpu_layers: Option<u32>,
    /// CPU threads for generation; `None` picks the number of physical cores.
    pub threads: Option<u32>,
    /// Memory-map the model file: `Some(true)` maps it, `Some(false)` reads it. `None` (the
    /// default) maps it unless weights stay in host memory beside a GPU: those are then read
    /// into pinned host memory, which the GPU copies from for large batches several times
    /// faster than from mapped pages (see [`mmap_by_default`]).
    pub mmap: Option<bool>,
    /// Which MoE expert tensors stay in host memory.
    pub moe: MoeOffload,
    /// Memory to leave free on each GPU device when `moe` is [`MoeOffload::Auto`], in MiB.
    pub vram_margin_mb: u64,
    /// Most device memory the model may use on the GPU, in MiB (weights, KV cache and compute
    /// buffers for `Auto`; weights for the fixed modes, checked before loading).
    pub vram_budget_mb: Option<u64>,
    /// Sequences (server slots) the model will serve at once: the KV cache the placement is
    /// planned for holds `parallel` contexts of `ctx_size` tokens.
    pub parallel: u32,
    /// Tokens per micro-batch (`--ubatch-size`); `None` lets the placement choose (larger when
    /// MoE experts live in host memory). Between 1 and the context size.
    pub ubatch_size: Option<u32>,
    /// Where the server's scheduler draws tokens (`--device-sampling`).
    pub device_sampling: DeviceSampling,
    /// How layers are split over several GPUs (`--split-mode`).
    pub split_mode: SplitMode,
    /// The GPU (counted among the chosen backend's GPUs) that runs the model with
    /// `--split-mode none` and holds llama.cpp's shared buffers otherwise (`--main-gpu`).
    pub main_gpu: Option<u32>,
    /// The share of layers of each device, in device order (`--tensor-split`); `None` lets
    /// the placement split them by budget.
    pub tensor_split: Option<Vec<f32>>,
    /// One budget per GPU in MiB when `--vram-budget-mb` lists several (`8192,16384`);
    /// empty otherwise, when [`ModelOptions::vram_budget_mb`] applies to every GPU.
    pub vram_budgets_mb: Vec<u64>,
}

impl ModelOptions {
    /// The budget of the `index`-th GPU in MiB: its entry of the list, else the one budget.
    pub fn budget_of(&self, index: usize) -> Option<u64> {
        match self.vram_budgets_mb.get(index) {
            Some(&mb) => Some(mb),
            None if self.vram_budgets_mb.is_empty() => self.vram_budget_mb,
            None => Some(0),
        }
    }
}

/// How llama.cpp splits a model over several GPUs (`--split-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// One GPU (`--main-gpu`) runs the whole model.
    None,
    /// Whole layers per GPU, with their KV cache (llama.cpp's default).
    #[default]
    Layer,
    /// Layers split by rows across the GPUs (tensor parallelism where the backend has it).
    Row,
}

impl std::str::FromStr for SplitMode {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SplitMode::None),
            "layer" => Ok(SplitMode::Layer),
            "row" => Ok(SplitMode::Row),
            other => Err(crate::Error::InvalidOption(format!(
                "unknown --split-mode {other:?}; use none, layer or row"
            ))),
        }
    }
}

/// Whether tokens are drawn on the device (llama.cpp's backend sampling) for requests whose
/// sampler allows it: greedy, top-k, top-p, min-p, temperature. Grammars, penalties and
/// log-probabilities always use the CPU chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSampling {
    /// On when the model runs on a GPU.
    #[default]
    Auto,
    /// Always (also on the CPU backend).
    On,
    /// Never.
    Off,
}

impl std::str::FromStr for DeviceSampling {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceSampling::Auto),
            "on" => Ok(DeviceSampling::On),
            "off" => Ok(DeviceSampling::Off),
            other => Err(crate::Error::InvalidOption(format!(
                "unknown --device-sampling {other:?}; use auto, on or off"
            ))),
        }
    }
}

/// Whether a model is memory-mapped when [`ModelOptions::mmap`] is `None`: always, except
/// when a GPU runs it and `host_weight_bytes` of weights stay in host memory (MoE experts or
/// whole layers) that fit three quarters of the host's free memory (`host_free`, when known).
/// llama.cpp puts such weights in the GPU's pinned host buffer only when it reads the file;
/// from mapped pages each micro-batch's copy to the GPU is staged and slow (measured on an
/// H200: a 4096-token prompt 2.5x faster read than mapped, decode unchanged). Weights that
/// would not fit stay mapped, so a model larger than the free memory still loads.
pub fn mmap_by_default(uses_gpu: bool, host_weight_bytes: u64, host_free: Option<u64>) -> bool {
    let fits = host_free.is_none_or(|free| host_weight_bytes <= free / 4 * 3);
    !(uses_gpu && host_weight_bytes > 0 && fits)
}

/// Default of [`ModelOptions::vram_margin_mb`]: llama.cpp's own default fit margin.
pub const DEFAULT_VRAM_MARGIN_MB: u64 = 1024;

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            ctx_size: None,
            batch_size: 512,
            gpu_layers: None,
            threads: None,
            mmap: None,
            moe: MoeOffload::None,
            vram_margin_mb: DEFAULT_VRAM_MARGIN_MB,
            vram_budget_mb: None,
            parallel: 1,
            ubatch_size: None,
            device_sampling: DeviceSampling::Auto,
            split_mode: SplitMode::Layer,
            main_gpu: None,
            tensor_split: None,
            vram_budgets_mb: Vec::new(),
        }
    }
}

/// Which ggml backend runs the model (`--gpu-backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuBackend {
    /// The best device available: the first GPU, else the CPU.
    #[default]
    Auto,
    /// The CPU only, even when a GPU is present.
    Cpu,
    /// An NVIDIA GPU through `libggml-cuda.so`.
    Cuda,
    /// A GPU through `libggml-vulkan.so`.
    Vulkan,
}

impl GpuBackend {
    /// The ggml backend registry name (`CUDA`, `Vulkan`, `CPU`), `None` for `Auto`.
    pub fn registry_name(self) -> Option<&'static str> {
        match self {
            GpuBackend::Auto => None,
            GpuBackend::Cpu => Some("CPU"),
            GpuBackend::Cuda => Some("CUDA"),
            GpuBackend::Vulkan => Some("Vulkan"),
        }
    }

    /// The module file that provides it (`libggml-cuda.so`), `None` for `Auto` and `Cpu`.
    pub fn module_file(self) -> Option<&'static str> {
        match self {
            GpuBackend::Cuda => Some("libggml-cuda.so"),
            GpuBackend::Vulkan => Some("libggml-vulkan.so"),
            GpuBackend::Auto | GpuBackend::Cpu => None,
        }
    }
}

impl std::fmt::Display for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GpuBackend::Auto => "auto",
            GpuBackend::Cpu => "cpu",
            GpuBackend::Cuda => "cuda",
            GpuBackend::Vulkan => "vulkan",
        })
    }
}

impl std::str::FromStr for GpuBackend {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(GpuBackend::Auto),
            "cpu" => Ok(GpuBackend::Cpu),
            "cuda" => Ok(GpuBackend::Cuda),
            "vulkan" => Ok(GpuBackend::Vulkan),
            other => Err(crate::Error::InvalidOption(format!(
                "unknown GPU backend {other:?}; use one of auto, cpu, cuda, vulkan"
            ))),
        }
    }
}

/// Memory a loaded model holds on one device, as llama.cpp reported its buffers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DeviceMemory {
    /// ggml's device name (`CUDA0`), or `CPU` for host memory.
    pub device: String,
    /// Model weights in bytes.
    pub model: u64,
    /// KV cache (and recurrent state) in bytes, of the model's latest context.
    pub kv_cache: u64,
    /// Compute and output buffers in bytes, of the model's latest context.
    pub compute: u64,
}

impl DeviceMemory {
    /// Everything together.
    pub fn total(&self) -> u64 {
        self.model
            .saturating_add(self.kv_cache)
            .saturating_add(self.compute)
    }
}

/// How a loaded model's memory divides between host and GPU, as Ollama's `/api/ps` reports it
/// (`size`, `size_vram`) and `ollama ps` prints it (`35%/65% CPU/GPU`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MemorySplit {
    /// Everything the model holds: weights (the tensors' bytes, whatever is memory-mapped),
    /// KV cache and compute buffers, on every device.
    pub size: u64,
    /// The part of `size` on GPU devices.
    pub size_vram: u64,
    /// `100% GPU`, `100% CPU` or `C%/G% CPU/GPU`.
    pub processor: String,
}

impl MemorySplit {
    /// The split of `weights` (bytes per device, [`Placement::bytes_per_device`]) and the KV
    /// cache and compute buffers of `memory`; `host` names host memory.
    pub fn new(weights: &[(String, u64)], memory: &[DeviceMemory], host: &str) -> Self {
        let mut size = 0u64;
        let mut vram = 0u64;
        let mut add = |device: &str, bytes: u64| {
            size = size.saturating_add(bytes);
            if device != host {
                vram = vram.saturating_add(bytes);
            }
        };
        for (device, bytes) in weights {
            add(device, *bytes);
        }
        for m in memory {
            add(&m.device, m.kv_cache.saturating_add(m.compute));
        }
        let processor = match (size, vram) {
            (0, _) => "100% CPU".to_string(),
            (s, v) if v == s => "100% GPU".to_string(),
            (_, 0) => "100% CPU".to_string(),
            (s, v) => {
                let gpu = ((v as f64 / s as f64) * 100.0).round().clamp(1.0, 99.0) as u32;
                format!("{}%/{gpu}% CPU/GPU", 100 - gpu)
            }
        };
        MemorySplit {
            size,
            size_vram: vram,
            processor,
        }
    }
}

/// Where a loaded model is: its memory split and MoE placement, as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PlacementSummary {
    /// Host/GPU split of its memory.
    #[serde(flatten)]
    pub split: MemorySplit,
    /// Layers on the GPU.
    pub gpu_layers: u32,
    /// MoE expert tensors in host memory.
    pub expert_tensors_host: usize,
    /// MoE expert tensors in the model.
    pub expert_tensors_total: usize,
    /// Layers with at least one expert tensor in host memory.
    pub expert_layers_host: u32,
    /// Tokens per micro-batch.
    pub ubatch: u32,
    /// What the planner expected on the GPU, if it planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<crate::planner::DeviceEstimate>,
}

/// Sampling settings. `temperature <= 0` means greedy decoding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SamplingOptions {
    /// Softmax temperature; 0 is greedy.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 disables).
    pub top_k: i32,
    /// Nucleus sampling mass (1.0 disables).
    pub top_p: f32,
    /// Minimum probability relative to the best token (0 disables).
    pub min_p: f32,
    /// Penalty for repeating recent tokens (1.0 disables).
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: i32,
    /// OpenAI-style frequency penalty (0 disables).
    pub frequency_penalty: f32,
    /// OpenAI-style presence penalty (0 disables).
    pub presence_penalty: f32,
    /// RNG seed; `None` draws a random one (reported back in the summary).
    pub seed: Option<u32>,
}

impl SamplingOptions {
    /// The defaults of the OpenAI- and Anthropic-compatible routes, llama-server's: those of
    /// [`SamplingOptions::default`] without a repeat penalty (these APIs only know frequency
    /// and presence penalties, which default to 0). Such requests can then draw their tokens on
    /// the device.
    pub fn openai_compatible() -> Self {
        SamplingOptions {
            repeat_penalty: 1.0,
            ..SamplingOptions::default()
        }
    }
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: None,
        }
    }
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The full prompt text (already rendered by a template when it is a chat).
    pub prompt: String,
    /// Whether to put the BOS token in front (when the model uses one).
    pub add_bos: bool,
    /// Whether special-token text in the prompt (e.g. `<|im_start|>`) is parsed as special tokens.
    pub parse_special: bool,
    /// Byte ranges of `prompt` that are request content (from a template's
    /// [`crate::prompt::PromptSpan`]s, see [`crate::prompt::join`]): special-token text in them
    /// is never parsed as control tokens, whatever `parse_special` says. Empty for raw prompts.
    pub content_spans: Vec<Range<usize>>,
    /// Maximum tokens to generate.
    pub max_tokens: u32,
    /// Strings that end generation; never part of the output.
    pub stop: Vec<String>,
    /// Sampling settings.
    pub sampling: SamplingOptions,
    /// When true, `max_tokens` is lowered to what the context leaves after the prompt instead
    /// of the request being refused (for clients that did not ask for a length). Checked by
    /// [`serving::Scheduler::submit`]; the single-request [`LoadedModel::generate`]
    /// never refuses for length and ends with [`FinishReason::Length`] when the context is full.
    pub fit_context: bool,
    /// Report log-probabilities: `Some(n)` sends a [`GenerateEvent::Token`] per generated token
    /// with the `n` most likely alternatives (0..=20); `None` sends none.
    pub logprobs: Option<u32>,
    /// A GBNF grammar that constrains sampling (root rule `root`), e.g. from a JSON schema.
    pub grammar: Option<String>,
    /// Token ids that go in front of the prompt's own tokens (Ollama's `context`: the tokens
    /// of an earlier prompt and answer). With any, the prompt text gets no BOS of its own.
    pub prefix_tokens: Vec<u32>,
    /// When the prompt does not fit the context: cut tokens after the first `keep_tokens`
    /// ([`crate::prompt::truncate_to_context`]) instead of refusing it. Honoured by
    /// [`serving::Scheduler::submit`].
    pub truncate: bool,
    /// When the context fills up while generating: discard half of what follows the first
    /// `keep_tokens` and go on (up to `max_tokens`, which is then not lowered to what the
    /// context leaves) instead of ending with [`FinishReason::Length`]. Honoured by the
    /// scheduler where the model's memory can shift positions.
    pub shift: bool,
    /// Tokens at the start of the prompt that `truncate` and `shift` keep (Ollama's
    /// `num_keep`).
    pub keep_tokens: u32,
    /// The answer's reasoning block, when it may have one: its tokens are counted
    /// ([`GenerateSummary::reasoning_tokens`]) and a budget ends it
    /// ([`crate::reasoning::ReasoningTracker`]). `None`: no reasoning is tracked.
    pub reasoning: Option<ReasoningRequest>,
}

impl GenerateRequest {
    /// A request for `prompt` with default settings: BOS as the model wants, special tokens
    /// parsed, 256 tokens at most, default sampling.
    pub fn new(prompt: impl Into<String>) -> Self {
        GenerateRequest {
            prompt: prompt.into(),
            add_bos: true,
            parse_special: true,
            content_spans: Vec::new(),
            max_tokens: 256,
            stop: Vec::new(),
            sampling: SamplingOptions::default(),
            fit_context: false,
            logprobs: None,
            grammar: None,
            prefix_tokens: Vec::new(),
            truncate: false,
            shift: false,
            keep_tokens: 0,
            reasoning: None,
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached, or the context is full.
    Length,
    /// The sink asked to stop (client went away).
    Cancelled,
}

/// What a generation streams to its sink.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerateEvent {
    /// The prompt has been evaluated; generation starts.
    PromptDone {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Of those, how many were reused from the prompt cache instead of evaluated.
        cached_tokens: usize,
    },
    /// A piece of generated text: always whole UTF-8 characters, never part of a stop string.
    Text(String),
    /// One sampled token with its log-probability (only when [`GenerateRequest::logprobs`] is
    /// set). Sent before the [`GenerateEvent::Text`] that contains its text.
    Token(TokenLogprob),
}

/// A sampled token and how likely it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLogprob {
    /// The token's text (may be part of a UTF-8 character; lossy then).
    pub text: String,
    /// Its raw bytes.
    pub bytes: Vec<u8>,
    /// Natural-log probability under the model's distribution (before sampling filters).
    pub logprob: f32,
    /// The most likely alternatives, best first (as many as asked for).
    pub top: Vec<TopLogprob>,
}

/// One alternative of a [`TokenLogprob`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopLogprob {
    /// The token's text.
    pub text: String,
    /// Its raw bytes.
    pub bytes: Vec<u8>,
    /// Natural-log probability.
    pub logprob: f32,
}

/// What the sink answers after each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep generating.
    Continue,
    /// Stop now; the generation ends with [`FinishReason::Cancelled`].
    Stop,
}

/// Counts and timings of a finished generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerateSummary {
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Of those, how many were reused from the prompt cache instead of evaluated.
    pub cached_tokens: usize,
    /// Tokens generated (including any that made up a stop string).
    pub completion_tokens: usize,
    /// Seconds spent evaluating the prompt.
    pub prompt_seconds: f64,
    /// Seconds spent generating after the prompt.
    pub decode_seconds: f64,
    /// The seed the sampler used.
    pub seed: u32,
    /// The stop string that ended the generation, when one did ([`FinishReason::Stop`]
    /// without an end-of-generation token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// Of the completion tokens, those inside the reasoning block (with
    /// [`GenerateRequest::reasoning`]; else 0).
    pub reasoning_tokens: usize,
}

impl GenerateSummary {
    /// Prompt evaluation speed in tokens per second.
    pub fn prompt_tokens_per_second(&self) -> f64 {
        rate(self.prompt_tokens, self.prompt_seconds)
    }

    /// Generation speed in tokens per second.
    pub fn decode_tokens_per_second(&self) -> f64 {
        rate(self.completion_tokens, self.decode_seconds)
    }
}

fn rate(count: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// A compute device the backend sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// ggml's device name, e.g. `CUDA0` or `CPU`.
    pub name: String,
    /// Human description, e.g. `NVIDIA H100 80GB HBM3`.
    pub description: String,
    /// The backend library it belongs to, e.g. `CUDA`.
    pub backend: String,
    /// `cpu`, `gpu`, `igpu`, `accel` or `unknown`.
    pub kind: String,
    /// Total memory in bytes.
    pub memory_total: u64,
    /// Free memory in bytes.
    pub memory_free: u64,
}

/// Facts about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ModelInfo {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// `general.architecture`.
    pub architecture: String,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Experts per MoE layer (0 for dense models).
    pub n_expert: u32,
    /// Experts used per token (0 for dense models).
    pub n_expert_used: u32,
    /// The context the model was trained with.
    pub n_ctx_train: u32,
    /// The context window of this load.
    pub n_ctx: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Parameter count.
    pub n_params: u64,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    /// The Jinja chat template embedded in the GGUF, if any.
    pub chat_template: Option<String>,
    /// Text of the BOS token, if the model has one.
    pub bos_token: Option<String>,
    /// Text of the EOS token, if the model has one.
    pub eos_token: Option<String>,
    /// Whether the tokenizer wants a BOS token in front of prompts.
    pub add_bos: bool,
    /// Layers placed on a GPU.
    pub gpu_layers: u32,
    /// Whether it generates text and how it embeds, from its GGUF header.
    pub purpose: embedding::ModelPurpose,
}

/// A loaded model, shareable between threads.
pub trait LoadedModel: Send + Sync {
    /// Facts about the model.
    fn info(&self) -> &ModelInfo;
    /// Where its weights went (MoE offload report).
    fn placement(&self) -> &Placement;
    /// Memory per device (weights, KV cache, compute buffers), as the engine reported it;
    /// empty when the engine does not know.
    fn memory(&self) -> Vec<DeviceMemory> {
        Vec::new()
    }
    /// How its memory divides between host and GPU (weights from [`Self::placement`], KV
    /// cache and compute buffers from [`Self::memory`]).
    fn memory_split(&self) -> MemorySplit {
        MemorySplit::new(
            &self.placement().bytes_per_device,
            &self.memory(),
            crate::placement::HOST_DEVICE,
        )
    }
    /// Its memory split and MoE placement in one (for `/health`).
    fn placement_summary(&self) -> PlacementSummary {
        let p = self.placement();
        PlacementSummary {
            split: self.memory_split(),
            gpu_layers: p.gpu_layers,
            expert_tensors_host: p.expert_tensors_host,
            expert_tensors_total: p.expert_tensors_total,
            expert_layers_host: p.layers_offloaded_by_moe,
            ubatch: p.ubatch,
            planned: p.estimate.clone(),
        }
    }
    /// Where its layers went when it spans several devices (e.g. `layers 0-3 on CPU`,
    /// `layers 4-8 on rpc 10.0.0.2:50052`); empty when it runs on one device.
    fn layer_split(&self) -> Vec<String> {
        Vec::new()
    }
    /// `Err` when the model can no longer compute (an rpc worker holding some of its layers
    /// was lost), naming why; the server reports it in `/health` and reloads the model.
    fn health(&self) -> Result<()> {
        Ok(())
    }
    /// Text to token ids.
    fn tokenize(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>>;
    /// Whether `text` holds the text of a control token, i.e. tokenizes differently with and
    /// without special-token parsing. The default tokenizes it both ways.
    fn has_control_text(&self, text: &str) -> Result<bool> {
        Ok(self.tokenize(text, false, true)? != self.tokenize(text, false, false)?)
    }
    /// Text to token ids, for a prompt whose `content_spans` are request content: control
    /// tokens are parsed (with `parse_special`) only outside them. See
    /// [`crate::prompt::tokenize_in_pieces`].
    fn tokenize_prompt(
        &self,
        prompt: &str,
        content_spans: &[Range<usize>],
        add_bos: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>> {
        crate::prompt::tokenize_in_pieces(
            prompt,
            content_spans,
            add_bos,
            parse_special,
            |text| self.has_control_text(text),
            |text, bos, special| self.tokenize(text, bos, special),
        )
    }
    /// [`LoadedModel::tokenize_prompt`] that gives up (with an error) once `cancelled` says
    /// so: a backend that tokenizes long prompts in pieces asks it between pieces. The default
    /// never asks.
    fn tokenize_prompt_until(
        &self,
        prompt: &str,
        content_spans: &[Range<usize>],
        add_bos: bool,
        parse_special: bool,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<u32>> {
        let _ = cancelled;
        self.tokenize_prompt(prompt, content_spans, add_bos, parse_special)
    }
    /// Token ids to text (lossy for ids that do not end on a character boundary).
    fn detokenize(&self, tokens: &[u32]) -> Result<String>;
    /// Runs one generation, streaming events into `sink` until it ends or `sink` says stop.
    fn generate(
        &self,
        request: &GenerateRequest,
        sink: &mut dyn FnMut(GenerateEvent) -> Flow,
    ) -> Result<GenerateSummary>;
    /// Starts a continuous-batching scheduler for this model (one context, `options.parallel`
    /// sequences, its own inference thread). See [`crate::serving`].
    fn serve(
        self: Arc<Self>,
        options: &serving::ServeOptions,
    ) -> Result<Arc<dyn serving::Scheduler>>;
    /// Starts an embedder for this model (its own context with embeddings on and its own
    /// thread, beside the scheduler). See [`embedding`]. The default refuses: the engine
    /// cannot compute embeddings.
    fn embedder(
        self: Arc<Self>,
        options: &embedding::EmbedOptions,
    ) -> Result<Arc<dyn embedding::Embedder>> {
        Err(crate::Error::InvalidOption(format!(
            "\"{}\" cannot compute embeddings with this engine",
            options.name
        )))
    }
}

/// An inference engine: the devices it drives and how it loads models.
pub trait Backend: Send + Sync {
    /// A short name, e.g. `llama.cpp`.
    fn name(&self) -> &str;
    /// Devices the engine can use (CPU included).
    fn devices(&self) -> Vec<DeviceInfo>;
    /// Backend libraries found and loaded (file paths), for diagnostics.
    fn libraries(&self) -> Vec<PathBuf>;
    /// Loads a model. The file must have passed [`crate::gguf::GgufFile::open`] checks.
    fn load(&self, path: &Path, options: &ModelOptions) -> Result<Arc<dyn LoadedModel>>;
    /// Turns a JSON schema (serialized) into a GBNF grammar, root rule `root`, that accepts
    /// only JSON valid against it: constrained output for `response_format`, forced tool
    /// calls and workflows. The default refuses: the engine cannot constrain output.
    fn json_schema_grammar(&self, schema: &str) -> Result<String> {
        let _ = schema;
        Err(crate::Error::InvalidOption(format!(
            "the {} engine cannot constrain output to a JSON schema",
            self.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_weights_beside_a_gpu_are_read_not_mapped() {
        const GIB: u64 = 1 << 30;
        // CPU only, or everything on the GPU: mapped.
        assert!(mmap_by_default(false, 10 * GIB, Some(100 * GIB)));
        assert!(mmap_by_default(true, 0, Some(100 * GIB)));
        // Experts in host memory beside a GPU: read into pinned memory.
        assert!(!mmap_by_default(true, 10 * GIB, Some(100 * GIB)));
        assert!(!mmap_by_default(true, 10 * GIB, None));
        // ... unless they would not fit the free host memory comfortably.
        assert!(!mmap_by_default(true, 75 * GIB, Some(100 * GIB)));
        assert!(mmap_by_default(true, 76 * GIB, Some(100 * GIB)));
    }

    fn mem(device: &str, kv: u64, compute: u64) -> DeviceMemory {
        DeviceMemory {
            device: device.into(),
            model: 999, // llama.cpp's mapped span: not used for the split
            kv_cache: kv,
            compute,
        }
    }

    #[test]
    fn memory_split_like_ollama_ps() {
        let weights = vec![("CUDA0".to_string(), 600), ("CPU".to_string(), 300)];
        let split = MemorySplit::new(&weights, &[mem("CUDA0", 80, 20), mem("CPU", 0, 0)], "CPU");
        assert_eq!((split.size, split.size_vram), (1000, 700));
        assert_eq!(split.processor, "30%/70% CPU/GPU");
        let gpu = MemorySplit::new(&[("CUDA0".to_string(), 10)], &[], "CPU");
        assert_eq!(gpu.processor, "100% GPU");
        let cpu = MemorySplit::new(&[("CPU".to_string(), 10)], &[mem("CPU", 5, 5)], "CPU");
        assert_eq!((cpu.size_vram, cpu.processor.as_str()), (0, "100% CPU"));
        let tiny = MemorySplit::new(
            &[("CUDA0".to_string(), 1), ("CPU".to_string(), 10_000)],
            &[],
            "CPU",
        );
        assert_eq!(
            tiny.processor, "99%/1% CPU/GPU",
            "a GPU share never rounds to 0%"
        );
    }

    #[test]
    fn device_sampling_values() {
        assert_eq!("ON".parse::<DeviceSampling>().unwrap(), DeviceSampling::On);
        assert_eq!(
            "auto".parse::<DeviceSampling>().unwrap(),
            DeviceSampling::Auto
        );
        let err = "gpu".parse::<DeviceSampling>().unwrap_err().to_string();
        assert!(err.contains("auto, on or off"), "{err}");
    }
}
