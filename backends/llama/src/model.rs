//! Loading a GGUF model into llama.cpp with the requested placement.

use std::ffi::CString;
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
    DeviceInfo, Flow, GenerateEvent, GenerateRequest, GenerateSummary, LoadedModel, ModelInfo,
    ModelOptions,
};
use shimmy_core::gguf::GgufFile;
use shimmy_core::placement::{self, Placement};
use shimmy_core::serving::{Scheduler, ServeOptions};
use shimmy_core::{Error, Result};

use crate::{generate, logging, scheduler};

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
}

/// Checks the file, computes the placement, applies the MoE overrides and loads the model.
pub fn load(
    backend: Arc<LlamaBackend>,
    path: &Path,
    options: &ModelOptions,
    gpu: Option<&DeviceInfo>,
) -> Result<LlamaLoaded> {
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

    let gpu_layers = match (gpu, options.gpu_layers) {
        (None, Some(n)) if n > 0 => {
            tracing::warn!("--gpu-layers {n} ignored: no GPU device is available");
            0
        }
        (None, _) => 0,
        (Some(_), Some(n)) => n.min(n_layer + 1),
        (Some(_), None) => n_layer + 1,
    };

    let placement = placement::plan(
        &gguf,
        &options.moe,
        gpu.map(|d| d.name.as_str()),
        gpu_layers,
    );
    if let Some(requested) = placement.clamped_from {
        tracing::warn!(
            "--n-cpu-moe {requested} is more than the model's {n_layer} layers; using {n_layer}"
        );
    }
    let patterns: Vec<CString> = placement::override_patterns(&options.moe, n_layer)
        .into_iter()
        .map(|p| CString::new(p).map_err(|e| Error::InvalidOption(e.to_string())))
        .collect::<Result<_>>()?;

    let mut params = pin!(LlamaModelParams::default()
        .with_n_gpu_layers(gpu_layers)
        .with_use_mmap(options.mmap));
    // The params keep pointers into `patterns`, which outlive the load below.
    for pattern in &patterns {
        params.as_mut().add_cpu_buft_override(pattern);
    }

    logging::clear_recent_problems();
    let model = LlamaModel::load_from_file(&backend, path, &params).map_err(|err| {
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
        model,
        info,
        placement,
        batch_size: options.batch_size,
        threads,
    })
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

    fn tokenize(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokens(text, add_bos, parse_special)?
            .into_iter()
            .map(|t| t.0 as u32)
            .collect())
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
        self.model
            .new_context(&self.backend, params)
            .map_err(|e| Error::Inference(explain(format!("could not create a context: {e}"))))
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
