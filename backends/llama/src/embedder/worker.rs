//! The embedder thread: owns the context and runs batches (drop cancelled requests, fill one
//! batch with whole inputs, clear the KV cells, decode, read and normalise the pooled vectors)
//! until shut down.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use shimmy_core::backend::embedding::normalize;
use shimmy_core::{Error, Result};

use super::queue::{Queue, Waiting};
use super::Config;
use crate::logging::explain;
use crate::model::LlamaLoaded;
use crate::scheduler::panic_message;

/// Runs the embedder thread: creates the context, reports on `ready`, then serves until shut
/// down. Whatever way it ends, every request it holds or that waits gets its `finish`.
pub fn run(
    queue: Arc<Queue>,
    loaded: Arc<LlamaLoaded>,
    config: Config,
    ready: SyncSender<Result<()>>,
) {
    let created = catch_unwind(AssertUnwindSafe(|| {
        loaded.new_embedding_context(config.params(loaded.threads))
    }))
    .unwrap_or_else(|panic| {
        Err(Error::Inference(format!(
            "the embedder could not start: {}",
            panic_message(&*panic)
        )))
    });
    let ctx = match created {
        Ok(ctx) => {
            let _ = ready.send(Ok(()));
            ctx
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    let mut worker = Worker {
        ctx,
        batch: LlamaBatch::new(config.max_tokens as usize, 1),
        config,
        active: VecDeque::new(),
    };
    worker.serve(&queue);
    for request in worker.active.drain(..).chain(queue.drain()) {
        let err = queue.unloaded();
        let _ = catch_unwind(AssertUnwindSafe(|| request.finish(Some(err))));
    }
}

/// The thread's state: the context, its batch and the requests it works on.
struct Worker<'m> {
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    config: Config,
    /// Requests taken from the queue and not finished, oldest first.
    active: VecDeque<Waiting>,
}

/// An input put into the batch: `(request, input, sequence id)`.
type Planned = (usize, usize, i32);

impl Worker<'_> {
    /// Takes new requests (waiting for one while idle) and runs batches until shut down.
    fn serve(&mut self, queue: &Queue) {
        while let Some(new) = queue.take(self.active.is_empty()) {
            self.active.extend(new);
            self.drop_cancelled(queue);
            if self.active.is_empty() {
                continue;
            }
            let outcome =
                catch_unwind(AssertUnwindSafe(|| self.batch_once())).unwrap_or_else(|panic| {
                    let all = (0..self.active.len()).collect();
                    Err((
                        all,
                        Error::Inference(format!(
                            "the embedder failed: {}",
                            panic_message(&*panic)
                        )),
                    ))
                });
            if let Err((failed, err)) = outcome {
                tracing::warn!("embedder for {}: {err}", queue.name);
                self.fail(queue, &failed, &err);
            }
            self.finish_complete(queue);
        }
    }

    /// Ends the requests whose client went away.
    fn drop_cancelled(&mut self, queue: &Queue) {
        let mut kept = VecDeque::with_capacity(self.active.len());
        let mut dropped = 0;
        for request in self.active.drain(..) {
            if request.sink.is_cancelled() {
                request.finish(Some(Error::Inference(
                    "cancelled: the client went away".into(),
                )));
                dropped += 1;
            } else {
                kept.push_back(request);
            }
        }
        self.active = kept;
        queue.finished(dropped);
    }

    /// Fills one batch with whole inputs, oldest request first, decodes it and stores the
    /// pooled vectors. On failure: the requests to fail and why.
    fn batch_once(&mut self) -> std::result::Result<(), (Vec<usize>, Error)> {
        let plan = self.fill();
        let involved = || {
            let mut v: Vec<usize> = plan.iter().map(|p| p.0).collect();
            v.dedup();
            v
        };
        if plan.is_empty() {
            return Ok(());
        }
        // Positions restart at 0 for every sequence: the previous batch's cells go.
        self.ctx.clear_kv_cache();
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            return Err((
                involved(),
                Error::Inference(explain(format!("computing embeddings failed: {e}"))),
            ));
        }
        for &(request, input, seq) in &plan {
            let mut vector = match self.ctx.embeddings_seq_ith(seq) {
                Ok(v) => v.to_vec(),
                Err(e) => {
                    return Err((
                        vec![request],
                        Error::Inference(format!("no pooled embedding for an input: {e}")),
                    ))
                }
            };
            if let Err(e) = normalize(&mut vector) {
                return Err((vec![request], e));
            }
            self.active[request].vectors[input] = Some(vector);
        }
        Ok(())
    }

    /// Puts whole inputs into the batch until the next one does not fit (tokens or sequences).
    fn fill(&mut self) -> Vec<Planned> {
        self.batch.clear();
        let capacity = self.config.max_tokens as usize;
        let sequences = self.config.sequences as usize;
        let mut plan = Vec::new();
        let mut used = 0usize;
        'requests: for (r, request) in self.active.iter_mut().enumerate() {
            while request.next < request.inputs.len() {
                let tokens = &request.inputs[request.next];
                if used + tokens.len() > capacity || plan.len() >= sequences {
                    break 'requests;
                }
                let seq = plan.len() as i32;
                for (pos, &token) in tokens.iter().enumerate() {
                    // Cannot fail: the batch holds `capacity` tokens and `used` stays below.
                    if self.batch.add(token, pos as i32, &[seq], true).is_err() {
                        break 'requests;
                    }
                }
                used += tokens.len();
                plan.push((r, request.next, seq));
                request.next += 1;
            }
        }
        plan
    }

    /// Finishes the requests at `indices` with `err`.
    fn fail(&mut self, queue: &Queue, indices: &[usize], err: &Error) {
        let mut kept = VecDeque::with_capacity(self.active.len());
        let mut failed = 0;
        for (i, request) in self.active.drain(..).enumerate() {
            if indices.contains(&i) {
                request.finish(Some(Error::Inference(err.to_string())));
                failed += 1;
            } else {
                kept.push_back(request);
            }
        }
        self.active = kept;
        queue.finished(failed);
    }

    /// Finishes the requests whose every input has its vector.
    fn finish_complete(&mut self, queue: &Queue) {
        let mut kept = VecDeque::with_capacity(self.active.len());
        let mut done = 0;
        for request in self.active.drain(..) {
            if request.complete() {
                request.finish(None);
                done += 1;
            } else {
                kept.push_back(request);
            }
        }
        self.active = kept;
        queue.finished(done);
    }
}
