//! The continuous-batching scheduler of the llama backend (see [`shimmy_core::serving`]).
//!
//! [`start`] creates one llama.cpp context with `parallel` KV sequences (slots) on a dedicated
//! thread (a context is not `Sync`, and it borrows the model, which the thread keeps alive
//! through its own `Arc<LlamaLoaded>`). The returned handle checks and queues requests; the
//! thread runs steps:
//!
//! 1. requests whose sink reports `is_cancelled` end (running or waiting);
//! 2. waiting requests move into free slots, each into the slot whose cached tokens share the
//!    longest prefix with its prompt (ties: least recently used); only the rest is evaluated;
//! 3. one batch gets the pending token of every generating request and up to `prompt_chunk`
//!    prompt tokens of requests still evaluating their prompt, so long prompts are fed over
//!    several steps while the others keep streaming;
//! 4. one decode; while the device works on it, the events of the tokens sampled in the step
//!    before go to their sinks; then each request whose logits came out samples, holds its
//!    token's events for the next step and maybe ends (a request that ends sends them at once).
//!
//! The thread sleeps on a condition variable when no request runs or waits.
//!
//! * [`queue`]: state shared by the handle and the thread.
//! * [`slot`]: a slot, the request running in it, and how a sampled token becomes events.
//! * [`step_clock`]: where a step's time goes (logged at debug level).
//! * [`worker`]: the thread and its step.

mod queue;
mod slot;
mod step_clock;
mod worker;

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use shimmy_core::backend::GenerateRequest;
use shimmy_core::reasoning::ReasoningTracker;
use shimmy_core::serving::{GenerationSink, Scheduler, SchedulerStats, ServeOptions};
use shimmy_core::{Error, Result};

use crate::model::LlamaLoaded;
use crate::sampler::TokenSampler;
use queue::{Pending, Reasoning, Shared};
pub(crate) use worker::panic_message;

/// The most sequences llama.cpp supports in one context (`LLAMA_MAX_SEQ`).
const MAX_PARALLEL: u32 = 256;

/// Settings of the scheduler thread's context, derived from [`ServeOptions`].
#[derive(Debug, Clone, Copy)]
struct Config {
    /// Slots (sequences).
    parallel: u32,
    /// Tokens each sequence may hold.
    ctx_per_sequence: u32,
    /// The whole KV cache: `parallel * ctx_per_sequence`.
    n_ctx: u32,
    /// Prompt tokens per step, across requests.
    prompt_chunk: u32,
    /// Batch capacity: `prompt_chunk + parallel`.
    n_batch: u32,
    /// Tokens per micro-batch: the model's planned micro-batch, at most `n_batch`.
    n_ubatch: u32,
}

impl Config {
    /// The configuration for `options` on a model loaded with a context of `default_ctx`
    /// tokens and micro-batch `ubatch`. A micro-batch beyond llama.cpp's default (chosen when
    /// experts live in host memory) raises a smaller prompt chunk to it, so that one step fills
    /// one micro-batch (every micro-batch then copies the host experts to the GPU once).
    fn new(options: &ServeOptions, default_ctx: u32, ubatch: u32) -> Result<Self> {
        if options.parallel == 0 || options.parallel > MAX_PARALLEL {
            return Err(Error::InvalidOption(format!(
                "--parallel must be between 1 and {MAX_PARALLEL}, not {}",
                options.parallel
            )));
        }
        if options.prompt_chunk == 0 {
            return Err(Error::InvalidOption(
                "the prompt chunk must be at least 1 token".into(),
            ));
        }
        let ctx_per_sequence = options.ctx_per_sequence.unwrap_or(default_ctx);
        if ctx_per_sequence < 2 {
            return Err(Error::InvalidOption(format!(
                "the context per sequence must be at least 2 tokens, not {ctx_per_sequence}"
            )));
        }
        let n_ctx = ctx_per_sequence
            .checked_mul(options.parallel)
            .ok_or_else(|| {
                Error::InvalidOption(format!(
                    "{} sequences of {ctx_per_sequence} tokens do not fit one context; lower \
                 --parallel or --ctx-size",
                    options.parallel
                ))
            })?;
        // Only the large micro-batch of host-resident experts raises the chunk: below it
        // the chunk keeps long prompts from stalling the other slots' tokens.
        let prompt_chunk = if ubatch > shimmy_core::planner::DEFAULT_UBATCH {
            options
                .prompt_chunk
                .max(ubatch.saturating_sub(options.parallel))
        } else {
            options.prompt_chunk
        };
        let n_batch = prompt_chunk
            .checked_add(options.parallel)
            .ok_or_else(|| Error::InvalidOption("the prompt chunk is too large".into()))?;
        Ok(Config {
            parallel: options.parallel,
            ctx_per_sequence,
            n_ctx,
            prompt_chunk,
            n_batch,
            n_ubatch: ubatch.clamp(1, n_batch),
        })
    }
}

/// Starts a scheduler for `loaded`: spawns its thread, which creates the context, and returns
/// once the context exists (or with the error that prevented it).
pub fn start(loaded: Arc<LlamaLoaded>, options: &ServeOptions) -> Result<Arc<dyn Scheduler>> {
    let config = Config::new(options, loaded.info.n_ctx, loaded.ubatch)?;
    let shared = Arc::new(Shared::new(
        options.name.clone(),
        options.max_queue,
        config.parallel,
        config.ctx_per_sequence,
    ));
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let thread = {
        let shared = Arc::clone(&shared);
        let loaded = Arc::clone(&loaded);
        std::thread::Builder::new()
            .name("shimmy-sched".into())
            .spawn(move || worker::run(shared, loaded, config, ready_tx))
            .map_err(|e| Error::Inference(format!("could not start the scheduler thread: {e}")))?
    };
    let started = ready_rx.recv().unwrap_or_else(|_| {
        Err(Error::Inference(
            "the scheduler thread ended while starting".into(),
        ))
    });
    if let Err(err) = started {
        let _ = thread.join();
        return Err(err);
    }
    Ok(Arc::new(LlamaScheduler {
        shared,
        loaded,
        ctx_per_sequence: config.ctx_per_sequence as usize,
        thread: Mutex::new(Some(thread)),
    }))
}

/// The handle of a running scheduler. Dropping the last one shuts it down.
struct LlamaScheduler {
    shared: Arc<Shared>,
    loaded: Arc<LlamaLoaded>,
    ctx_per_sequence: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LlamaScheduler {
    /// Tokenizes and checks `request` (on the caller's thread) and builds its sampler. A long
    /// prompt whose sink is cancelled (its client went away) stops between two pieces of its
    /// tokenization; otherwise a cancelled request is queued and ends at the next step.
    fn prepare(&self, request: &GenerateRequest, sink: Box<dyn GenerationSink>) -> Result<Pending> {
        let submitted = Instant::now();
        let mut prompt = self
            .loaded
            .prompt_tokens_until(request, &|| sink.is_cancelled())?;
        if prompt.is_empty() {
            return Err(Error::InvalidOption(
                "the prompt is empty; give some text to continue".into(),
            ));
        }
        let n_ctx = self.ctx_per_sequence;
        let keep = request.keep_tokens as usize;
        if request.truncate {
            let dropped = shimmy_core::prompt::truncate_to_context(&mut prompt, n_ctx, keep);
            if dropped > 0 {
                tracing::debug!(
                    "prompt cut by {dropped} tokens to {} to fit a context of {n_ctx}",
                    prompt.len()
                );
            }
        }
        let requested = request.max_tokens as usize;
        let total = prompt.len() + requested;
        let mut max_tokens = requested;
        if total > n_ctx && !request.fit_context && !request.shift {
            return Err(Error::ContextExceeded {
                prompt_tokens: prompt.len(),
                max_tokens: requested,
                total,
                n_ctx,
            });
        }
        if prompt.len() >= n_ctx {
            // Even with `fit_context`: not a single token could be generated.
            return Err(Error::PromptTooLong {
                prompt_tokens: prompt.len(),
                n_ctx,
            });
        }
        if total > n_ctx && !request.shift {
            max_tokens = n_ctx - prompt.len();
        }
        let sampler = TokenSampler::new(&self.loaded.model, request)?;
        let reasoning = request.reasoning.as_ref().map(|r| {
            let mut r = r.clone();
            if request.grammar.is_some() {
                // A grammar would refuse forced tokens: the block is only counted.
                r.budget = None;
            }
            let vocab = self.loaded.model.vocab();
            Reasoning {
                close_tokens: vocab.tokenize(r.tags.close.as_bytes(), false, true),
                tracker: ReasoningTracker::new(&r),
                forced: VecDeque::new(),
                forcing: false,
            }
        });
        Ok(Pending {
            prompt,
            max_tokens,
            shift_keep: request.shift.then_some(keep),
            stop: request.stop.clone(),
            sampler,
            sink,
            submitted,
            reasoning,
        })
    }
}

impl Scheduler for LlamaScheduler {
    fn submit(&self, request: GenerateRequest, sink: Box<dyn GenerationSink>) -> Result<()> {
        self.shared.check_running()?;
        let pending = self.prepare(&request, sink)?;
        self.shared.push(pending)
    }

    fn stats(&self) -> SchedulerStats {
        self.shared.stats()
    }

    fn shutdown(&self) {
        self.shared.request_shutdown();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // A sink that shuts the scheduler down from its own thread cannot wait for it.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for LlamaScheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}
