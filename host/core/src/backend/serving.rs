//! Serving many requests on one loaded model at once: the contract between the HTTP server
//! and a backend's continuous-batching scheduler.
//!
//! [`crate::backend::LoadedModel::serve`] starts a [`Scheduler`]: one inference context with
//! [`ServeOptions::parallel`] sequences (slots) driven by a dedicated thread. Each step of that
//! thread decodes one token for every generating sequence and a chunk of the prompt of newly
//! admitted requests in a single batch, so a long prompt never stalls the others' streams.
//! A slot keeps the tokens it last evaluated; a request whose prompt shares a prefix with them
//! evaluates only the rest (reported as `cached_tokens`).
//!
//! Callers never block on inference: [`Scheduler::submit`] checks and queues a request and
//! returns at once; everything after goes to the request's [`GenerationSink`], called on the
//! scheduler's thread.

use serde::Serialize;

use super::Flow;
use super::{GenerateEvent, GenerateRequest, GenerateSummary};
use crate::Result;

/// How a scheduler is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Sequences decoded together (slots).
    pub parallel: u32,
    /// Context window per sequence in tokens; `None` uses the model's load-time context.
    /// The KV cache holds `parallel` times this.
    pub ctx_per_sequence: Option<u32>,
    /// Requests allowed to wait for a free slot; one more is refused with
    /// [`crate::Error::QueueFull`].
    pub max_queue: usize,
    /// Largest number of prompt tokens fed in one step across all admitted requests (the
    /// chunk size that keeps other streams moving).
    pub prompt_chunk: u32,
    /// A name for logs and errors (the model name).
    pub name: String,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            parallel: 4,
            ctx_per_sequence: None,
            max_queue: 64,
            prompt_chunk: 512,
            name: "model".into(),
        }
    }
}

/// Where a queued request's events go. Called only from the scheduler's thread.
pub trait GenerationSink: Send {
    /// Receives one event; answering [`Flow::Stop`] cancels the request.
    fn event(&mut self, event: GenerateEvent) -> Flow;
    /// Polled at least once per step, also while the request waits in the queue: `true` when
    /// nobody listens any more (the client went away), which cancels it and frees its slot.
    fn is_cancelled(&self) -> bool;
    /// Called exactly once, last: the summary (finish reason `cancelled` included) or the error.
    fn finish(&mut self, outcome: Result<GenerateSummary>);
}

/// A snapshot of a scheduler's load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchedulerStats {
    /// Slots (sequences) in total.
    pub slots: u32,
    /// Slots running a request now.
    pub busy_slots: u32,
    /// Requests waiting for a slot.
    pub queued: usize,
    /// The queue limit.
    pub max_queue: usize,
    /// Context per sequence in tokens.
    pub ctx_per_sequence: u32,
    /// Requests finished since start.
    pub finished: u64,
    /// Prompt tokens evaluated since start (cache hits excluded).
    pub prompt_tokens_evaluated: u64,
    /// Prompt tokens reused from slot caches since start.
    pub prompt_tokens_cached: u64,
    /// Tokens generated since start.
    pub generated_tokens: u64,
    /// Batches decoded since start.
    pub steps: u64,
    /// Of the generated tokens, those drawn on the device (backend sampling).
    pub device_sampled_tokens: u64,
}

/// A running continuous-batching scheduler for one model.
pub trait Scheduler: Send + Sync {
    /// Tokenizes and checks `request`, then queues it. Errors returned here (the request never
    /// ran): an empty prompt, [`crate::Error::ContextExceeded`],
    /// [`crate::Error::QueueFull`], [`crate::Error::Unloaded`]. Otherwise the sink gets the
    /// events and exactly one `finish`.
    fn submit(&self, request: GenerateRequest, sink: Box<dyn GenerationSink>) -> Result<()>;
    /// The current load.
    fn stats(&self) -> SchedulerStats;
    /// Stops the thread after finishing queued and running requests with
    /// [`crate::Error::Unloaded`]; later submits fail the same way. Idempotent.
    fn shutdown(&self);
}

/// The scheduler of a model that does not generate text (a dedicated embedding model, see
/// [`super::embedding::ModelPurpose`]): no context, no thread; every request is refused with
/// a message that says what the model is for.
#[derive(Debug)]
pub struct NoGeneration {
    name: String,
    ctx_per_sequence: u32,
    stopped: std::sync::atomic::AtomicBool,
}

impl NoGeneration {
    /// The refusing scheduler of model `name`, whose inputs hold up to `ctx_per_sequence`
    /// tokens (reported in its stats).
    pub fn new(name: impl Into<String>, ctx_per_sequence: u32) -> Self {
        NoGeneration {
            name: name.into(),
            ctx_per_sequence,
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Scheduler for NoGeneration {
    fn submit(&self, _request: GenerateRequest, _sink: Box<dyn GenerationSink>) -> Result<()> {
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::Error::Unloaded {
                model: self.name.clone(),
            });
        }
        Err(crate::Error::InvalidOption(format!(
            "\"{}\" is an embedding model and does not generate text; ask it for embeddings \
             (POST /v1/embeddings or /api/embed) or choose a model that generates",
            self.name
        )))
    }

    fn stats(&self) -> SchedulerStats {
        SchedulerStats {
            ctx_per_sequence: self.ctx_per_sequence,
            ..SchedulerStats::default()
        }
    }

    fn shutdown(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
