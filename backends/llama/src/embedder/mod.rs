//! The embedder of the llama backend (see [`shimmy_core::backend::embedding`]).
//!
//! [`start`] creates one llama.cpp context with embeddings on and the model's pooling
//! (mean for decoders whose file names none) on a dedicated thread, beside the model's
//! generation scheduler: a model's embeddings never wait for its generations, nor the other
//! way round (the two threads only share the CPU or GPU). The context holds `max_tokens`
//! tokens (the load's context, at most the training context), which is both the longest
//! input and the most tokens one batch holds; a batch takes
//! whole inputs, up to [`MAX_SEQUENCES`] of them, from one request or several waiting ones,
//! and is decoded as one micro-batch (llama.cpp pools each sequence within a micro-batch, and
//! an encoder's attention needs the whole input in one), after the previous batch's KV cells
//! are cleared.
//!
//! * [`queue`]: requests waiting, shared by the handle and the thread.
//! * [`worker`]: the thread, its batches and the pooled vectors.

mod queue;
mod worker;

use std::num::NonZeroU32;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::embedding::{
    EmbedOptions, EmbedRequest, Embedder, EmbedderInfo, EmbeddingSink, Pooling,
};
use shimmy_core::backend::ModelInfo;
use shimmy_core::{Error, Result};

use crate::model::LlamaLoaded;
use queue::{Queue, Waiting};

/// Most inputs decoded in one batch (llama.cpp allows up to 256 sequences per context).
pub(crate) const MAX_SEQUENCES: u32 = 64;

/// The context an embedder creates, derived from the loaded model.
#[derive(Debug, Clone, Copy)]
struct Config {
    /// Tokens of the context: the longest input and the batch capacity.
    max_tokens: u32,
    /// Inputs per batch.
    sequences: u32,
    /// The pooling the context computes.
    pooling: Pooling,
}

impl Config {
    fn params(&self, threads: i32) -> LlamaContextParams {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.max_tokens))
            .with_n_batch(self.max_tokens)
            .with_n_ubatch(self.max_tokens)
            .with_n_seq_max(self.sequences)
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(match self.pooling {
                Pooling::Mean => LlamaPoolingType::Mean,
                Pooling::Cls => LlamaPoolingType::Cls,
                Pooling::Last => LlamaPoolingType::Last,
            })
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
    }
}

/// The longest input the embedder of a model takes: the load's context, never past the
/// positions the model was trained on (an encoder's learned position embeddings end there,
/// and llama.cpp would abort on a later position).
pub(crate) fn max_tokens(info: &ModelInfo) -> u32 {
    match info.n_ctx_train {
        0 => info.n_ctx,
        n => info.n_ctx.min(n),
    }
    .max(1)
}

/// Starts an embedder for `loaded`: spawns its thread, which creates the context, and returns
/// once the context exists (or with the error that prevented it).
pub fn start(loaded: Arc<LlamaLoaded>, options: &EmbedOptions) -> Result<Arc<dyn Embedder>> {
    let Some(pooling) = loaded.info.purpose.pooling else {
        return Err(Error::InvalidOption(format!(
            "\"{}\" is a reranking model (pooling type rank): it scores pairs of texts and \
             gives no embeddings",
            options.name
        )));
    };
    let max_tokens = max_tokens(&loaded.info);
    let config = Config {
        max_tokens,
        sequences: MAX_SEQUENCES.min(max_tokens),
        pooling,
    };
    let dimensions = loaded.model.n_embd_out().max(0) as usize;
    let queue = Arc::new(Queue::new(options.name.clone(), options.max_queue));
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let thread = {
        let queue = Arc::clone(&queue);
        let loaded = Arc::clone(&loaded);
        std::thread::Builder::new()
            .name("shimmy-embed".into())
            .spawn(move || worker::run(queue, loaded, config, ready_tx))
            .map_err(|e| Error::Inference(format!("could not start the embedding thread: {e}")))?
    };
    let started = ready_rx.recv().unwrap_or_else(|_| {
        Err(Error::Inference(
            "the embedding thread ended while starting".into(),
        ))
    });
    if let Err(err) = started {
        let _ = thread.join();
        return Err(err);
    }
    tracing::debug!(
        "embedder for {}: {} tokens per input and batch, up to {} inputs per batch, {} pooling, \
         {dimensions} dimensions",
        options.name,
        config.max_tokens,
        config.sequences,
        config.pooling
    );
    Ok(Arc::new(LlamaEmbedder {
        queue,
        n_vocab: loaded.info.n_vocab,
        info: EmbedderInfo {
            dimensions,
            max_tokens: config.max_tokens as usize,
            pooling,
        },
        thread: Mutex::new(Some(thread)),
    }))
}

/// The handle of a running embedder. Dropping the last one shuts it down.
struct LlamaEmbedder {
    queue: Arc<Queue>,
    n_vocab: u32,
    info: EmbedderInfo,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LlamaEmbedder {
    /// Checks every input (non-empty, within the context, known token ids).
    fn check(&self, request: &EmbedRequest) -> Result<Vec<Vec<LlamaToken>>> {
        if request.inputs.is_empty() {
            return Err(Error::InvalidOption("nothing to embed: no inputs".into()));
        }
        let max = self.info.max_tokens;
        request
            .inputs
            .iter()
            .enumerate()
            .map(|(i, tokens)| {
                if tokens.is_empty() {
                    return Err(Error::InvalidOption(format!("input {i} has no tokens")));
                }
                if tokens.len() > max {
                    return Err(Error::InvalidOption(format!(
                        "input {i} is {} tokens; the model embeds at most {max} tokens per input",
                        tokens.len()
                    )));
                }
                tokens
                    .iter()
                    .map(|&t| {
                        if t >= self.n_vocab {
                            Err(Error::InvalidOption(format!(
                                "input {i} has token id {t}, outside the vocabulary (0..{})",
                                self.n_vocab
                            )))
                        } else {
                            Ok(LlamaToken(t as i32))
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

impl Embedder for LlamaEmbedder {
    fn info(&self) -> EmbedderInfo {
        self.info
    }

    fn submit(&self, request: EmbedRequest, sink: Box<dyn EmbeddingSink>) -> Result<()> {
        self.queue.check_running()?;
        let inputs = self.check(&request)?;
        self.queue.push(Waiting::new(inputs, sink))
    }

    fn shutdown(&self) {
        self.queue.request_shutdown();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // A sink that shuts the embedder down from its own thread cannot wait for it.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for LlamaEmbedder {
    fn drop(&mut self) {
        self.shutdown();
    }
}
