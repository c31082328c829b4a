//! How an engine is set up (the `serve`, `generate`, `workflow run` flags, already parsed).

use std::collections::BTreeMap;

use shimmy_core::backend::ModelOptions;

use crate::keep_alive::KeepAlive;
use crate::limits::RequestLimits;

/// Everything the engine needs besides the backend, the plugins and the catalog.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How models are loaded (`--ctx-size`, `--cpu-moe`, threads...).
    pub model_options: ModelOptions,
    /// Sequences decoded together per model (`--parallel`).
    pub parallel: u32,
    /// Context per sequence in tokens (`--ctx-size`); `None`: the model's, capped at 4096.
    pub ctx_per_sequence: Option<u32>,
    /// Requests allowed to wait for a slot per model (`--max-queue`); one more is refused
    /// with [`shimmy_core::Error::QueueFull`].
    pub max_queue: usize,
    /// Prompt tokens fed per scheduler step across new requests.
    pub prompt_chunk: u32,
    /// How long an idle model stays loaded (`--keep-alive`).
    pub keep_alive: KeepAlive,
    /// Most models loaded at once (`--max-loaded-models`); the least recently used idle one
    /// is unloaded to make room.
    pub max_loaded_models: usize,
    /// Template plugin per model name, from the operator's configuration file.
    pub operator_templates: BTreeMap<String, String>,
    /// Limits of one workflow run (`--workflow-max-steps`, ...); a request may only lower them.
    pub workflow_limits: WorkflowLimits,
    /// The Hugging Face hub and cache: a job may name a pulled reference
    /// (`hf.co/ORG/NAME:QUANT`) found there, and the server's `/api/pull` and `/api/delete`
    /// use it (`None`: off).
    pub hub: Option<shimmy_hub::HubSettings>,
    /// How much preparation work one request may ask for (messages, prompt bytes, grammar).
    pub request_limits: RequestLimits,
}

/// What one workflow run may use. Reaching a limit ends the run with an error that carries the
/// trace so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowLimits {
    /// Most host calls that do work (generations and tool invocations).
    pub max_steps: u32,
    /// Most tokens (prompt and generated, over every generation of the run).
    pub max_tokens: u64,
    /// Longest wall-clock time of the whole run.
    pub timeout: std::time::Duration,
}

impl Default for WorkflowLimits {
    fn default() -> Self {
        WorkflowLimits {
            max_steps: 32,
            max_tokens: 32_768,
            timeout: std::time::Duration::from_secs(300),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            model_options: ModelOptions::default(),
            parallel: 4,
            ctx_per_sequence: None,
            max_queue: 64,
            prompt_chunk: 512,
            keep_alive: KeepAlive::default(),
            max_loaded_models: 1,
            operator_templates: BTreeMap::new(),
            workflow_limits: WorkflowLimits::default(),
            hub: None,
            request_limits: RequestLimits::default(),
        }
    }
}
