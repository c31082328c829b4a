//! The scheduler thread: owns the context and runs steps (cancel, admit, one batch, decode,
//! sample) until shut down.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::FinishReason;
use shimmy_core::serving::SchedulerStats;
use shimmy_core::{Error, Result};

use super::queue::{Pending, Shared};
use super::slot::{finish_unstarted, Ending, Job, Phase, Slot};
use super::step_clock::{self, StepClock};
use super::Config;
use crate::logging::explain;
use crate::model::LlamaLoaded;
use crate::raw_context::{self, RawBatch, RawContext};

/// Runs the scheduler thread: creates the context, reports on `ready`, then serves until shut
/// down. Whatever way it ends, every request it holds or that waits gets its `finish`.
pub fn run(
    shared: Arc<Shared>,
    loaded: Arc<LlamaLoaded>,
    config: Config,
    ready: SyncSender<Result<()>>,
) {
    let _exit = ExitGuard(&shared);
    let worker = catch_unwind(AssertUnwindSafe(|| Worker::new(&loaded, &shared, config)))
        .unwrap_or_else(|panic| {
            Err(Error::Inference(format!(
                "the scheduler could not start: {}",
                panic_message(&*panic)
            )))
        });
    let mut worker = match worker {
        Ok(worker) => {
            let _ = ready.send(Ok(()));
            worker
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    worker.serve();
}

/// On the way out of the thread (return or panic): refuses further submits and fails every
/// request still waiting with [`Error::Unloaded`].
struct ExitGuard<'a>(&'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.0.lock();
            state.shutdown = true;
            state.queued = 0;
            state.free_slots = 0;
            state.stats.busy_slots = 0;
            std::mem::take(&mut state.queue)
        };
        let finished = waiting.len() as u64;
        for pending in waiting {
            let err = self.0.unloaded();
            let _ = catch_unwind(AssertUnwindSafe(|| finish_unstarted(pending, Err(err))));
        }
        self.0.lock().stats.finished += finished;
    }
}

/// The thread's state: the context, its batch and the slots.
struct Worker<'m> {
    loaded: &'m LlamaLoaded,
    shared: &'m Shared,
    ctx: RawContext<'m>,
    batch: RawBatch,
    /// Whether requests that allow it draw their tokens on the device.
    device_sampling: bool,
    slots: Vec<Slot>,
    ctx_per_sequence: usize,
    prompt_chunk: usize,
    /// Counts steps and admissions; orders admissions and slot use.
    tick: u64,
    /// Counters, published to [`Shared`] after each step.
    stats: SchedulerStats,
    /// Time per phase of the steps, reported when a request ends.
    clock: StepClock,
}

/// What one slot put into the batch.
struct Planned {
    /// Index into `Worker::slots`.
    slot: usize,
    /// Prompt tokens added (0 for a generated token).
    prompt_tokens: usize,
    /// The batch row whose logits to sample from, if any.
    logits: Option<i32>,
}

impl<'m> Worker<'m> {
    fn new(loaded: &'m LlamaLoaded, shared: &'m Shared, config: Config) -> Result<Self> {
        let mut params = raw_context::default_params();
        params.n_ctx = config.n_ctx;
        params.n_batch = config.n_batch;
        params.n_ubatch = config.n_ubatch;
        params.n_seq_max = config.parallel;
        // At most one logit row (or device-sampled token) per sequence and step.
        params.n_outputs_max = config.parallel;
        params.n_outputs_max_per_seq = 1;
        // One KV buffer shared by the sequences: llama.cpp then splits a batch by size only.
        // With a buffer per sequence it makes one micro-batch per run of consecutive sequence
        // ids, and another for a prompt chunk beyond the others' single tokens, each a full
        // pass over the weights (and slots picked by prompt cache are rarely consecutive).
        // Every sequence stays within `ctx_per_sequence` (checked on submit), so the shared
        // buffer of `parallel * ctx_per_sequence` cells never runs out.
        params.kv_unified = true;
        params.n_threads = loaded.threads;
        params.n_threads_batch = loaded.threads;
        let ctx = loaded.new_raw_context(params)?;
        let per_sequence = ctx.n_ctx() / config.parallel.max(1);
        if per_sequence < config.ctx_per_sequence {
            return Err(Error::Inference(format!(
                "llama.cpp made a context of {} tokens per sequence, {} were asked for",
                per_sequence, config.ctx_per_sequence
            )));
        }
        tracing::debug!(
            "scheduler for {}: {} slots of {} tokens (KV cache {} tokens), batch {}",
            shared.name,
            config.parallel,
            config.ctx_per_sequence,
            ctx.n_ctx(),
            config.n_batch
        );
        let stats = shared.stats();
        Ok(Worker {
            loaded,
            shared,
            ctx,
            batch: RawBatch::new(config.n_batch as usize),
            device_sampling: loaded.device_sampling,
            slots: (0..config.parallel as i32).map(Slot::new).collect(),
            ctx_per_sequence: config.ctx_per_sequence as usize,
            prompt_chunk: config.prompt_chunk as usize,
            tick: 0,
            stats,
            clock: StepClock::new(),
        })
    }

    /// The step loop: sleeps while there is nothing to do, ends on shutdown.
    fn serve(&mut self) {
        loop {
            let idle = !self.busy();
            if !self.shared.wait_for_work(!idle) {
                break;
            }
            if idle {
                // Time asleep is not part of any step.
                self.clock = StepClock::new();
            }
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.step())) {
                self.recover(&panic_message(&*panic));
            }
            self.publish();
        }
    }

    /// Whether a request is running.
    fn busy(&self) -> bool {
        self.slots.iter().any(|slot| slot.job.is_some())
    }

    /// One step: drop cancelled requests, admit waiting ones, decode one batch, sample.
    fn step(&mut self) {
        self.clock.lap(step_clock::Phase::Between);
        self.tick += 1;
        self.drop_cancelled();
        self.admit();
        let plan = match self.fill_batch() {
            Ok(plan) => plan,
            Err(err) => {
                let message = err.to_string();
                let running: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].job.is_some())
                    .collect();
                self.fail(&running, &message);
                return;
            }
        };
        self.clock.lap(step_clock::Phase::Prepare);
        if plan.is_empty() {
            return;
        }
        let decoded = self.ctx.decode(&self.batch);
        self.clock.lap(step_clock::Phase::Launch);
        if let Err(rc) = decoded {
            let message = explain(format!("decoding failed (llama_decode returned {rc})"));
            tracing::warn!("scheduler for {}: {message}", self.shared.name);
            let slots: Vec<usize> = plan.iter().map(|p| p.slot).collect();
            self.fail(&slots, &message);
            return;
        }
        // The previous tokens' events go out while the device works on this step.
        for slot in &mut self.slots {
            if let Some(job) = slot.job.as_mut() {
                job.send_held();
            }
        }
        self.clock.lap(step_clock::Phase::Send);
        // A lost rpc worker: the step ran on stand-in data; fail its requests, naming it.
        if self.loaded.rpc_links.health().is_err() {
            for index in plan.iter().map(|p| p.slot) {
                let seq = self.slots[index].seq;
                self.ctx.remove(seq, None);
                self.slots[index].cached.clear();
                let err = match self.loaded.rpc_links.health() {
                    Err(err) => err,
                    Ok(()) => Error::Inference("an rpc worker was lost".into()),
                };
                self.finish(index, Ending::Failed(err));
            }
            return;
        }
        self.ctx.synchronize();
        self.clock.lap(step_clock::Phase::Device);
        self.stats.steps += 1;
        self.clock.count_step();
        for planned in plan {
            self.after_decode(planned);
        }
        self.clock.lap(step_clock::Phase::Deliver);
    }

    /// Ends running requests whose client went away.
    fn drop_cancelled(&mut self) {
        for i in 0..self.slots.len() {
            let cancelled = self.slots[i]
                .job
                .as_ref()
                .is_some_and(|job| job.stopped || job.sink.is_cancelled());
            if cancelled {
                self.finish(i, Ending::CANCELLED);
            }
        }
    }

    /// Ends waiting requests whose client went away, then moves waiting requests into free
    /// slots, oldest first.
    fn admit(&mut self) {
        // Poll the waiting sinks without holding the lock (a sink is foreign code); one that
        // panics counts as gone.
        let waiting = std::mem::take(&mut self.shared.lock().queue);
        let (cancelled, mut kept): (VecDeque<Pending>, VecDeque<Pending>) =
            waiting.into_iter().partition(|pending| {
                catch_unwind(AssertUnwindSafe(|| pending.sink.is_cancelled())).unwrap_or(true)
            });
        self.stats.finished += cancelled.len() as u64;

        let free = self.slots.iter().filter(|s| s.job.is_none()).count();
        let mut admitted = Vec::new();
        {
            let mut state = self.shared.lock();
            kept.append(&mut state.queue);
            state.queued = state.queued.saturating_sub(cancelled.len());
            while admitted.len() < free {
                let Some(pending) = kept.pop_front() else {
                    break;
                };
                state.queued = state.queued.saturating_sub(1);
                admitted.push(pending);
            }
            state.queue = kept;
            state.free_slots = free - admitted.len();
            state.stats.finished = self.stats.finished;
        }
        for pending in cancelled {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                finish_unstarted(pending, Ok(FinishReason::Cancelled))
            }));
        }
        // First give every admitted request its slot (plain Rust, cannot fail), so that a
        // panic while preparing the caches below still reaches them through `recover`.
        let mut placed = Vec::with_capacity(admitted.len());
        for pending in admitted {
            self.tick += 1;
            let index = self.pick_slot(&pending.prompt);
            self.slots[index].job = Some(Job::new(pending, 0, self.tick));
            placed.push(index);
        }
        for index in placed {
            self.reuse_cache(index);
            self.attach_device_chain(index);
        }
    }

    /// The free slot sharing the longest prefix with `prompt` (ties: least recently used).
    /// `admit` takes no more requests than there are free slots, so there is one.
    fn pick_slot(&self, prompt: &[LlamaToken]) -> usize {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.job.is_none())
            .max_by_key(|(_, slot)| {
                (
                    worth_reusing(slot.common_prefix(prompt)),
                    std::cmp::Reverse(slot.last_used),
                )
            })
            .map_or(0, |(i, _)| i)
    }

    /// Attaches the device chain of slot `index`'s new request to its sequence, when device
    /// sampling is on and the request allows it.
    fn attach_device_chain(&mut self, index: usize) {
        if !self.device_sampling {
            return;
        }
        let seq = self.slots[index].seq;
        let Some(job) = self.slots[index].job.as_mut() else {
            return;
        };
        if let Some(mut chain) = job.sampler.device_chain() {
            if self.ctx.set_sampler(seq, Some(&mut chain)) {
                job.device = Some(chain);
            } else {
                tracing::debug!("slot {seq}: the device cannot run this sampler; CPU chain");
            }
        }
    }

    /// Keeps the part of slot `index`'s sequence that its new request's prompt starts with and
    /// drops the KV entries after it.
    fn reuse_cache(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let seq = slot.seq;
        let Some(job) = slot.job.as_mut() else {
            return;
        };
        // The last prompt token is always evaluated again: its logits start the generation.
        let common = slot
            .cached
            .iter()
            .zip(&job.prompt)
            .take_while(|(a, b)| a == b)
            .count();
        let mut reuse = common.min(job.prompt.len() - 1);
        let removed = u32::try_from(reuse)
            .ok()
            .map(|p0| self.ctx.remove(seq, Some(p0)));
        if removed != Some(true) {
            // Partial removal is not supported (e.g. recurrent state): start from scratch.
            self.ctx.remove(seq, None);
            reuse = 0;
        }
        slot.cached.truncate(reuse);
        job.cached_tokens = reuse;
        self.stats.prompt_tokens_cached += reuse as u64;
        tracing::trace!(
            "slot {seq}: admitted after {:.3}s in the queue, {reuse} of {} prompt tokens cached",
            job.submitted.elapsed().as_secs_f64(),
            job.prompt.len()
        );
    }

    /// Builds the step's batch: the pending token of every generating request, then prompt
    /// tokens of requests still evaluating their prompt, up to `prompt_chunk` in all (oldest
    /// admission first), slots in sequence order.
    fn fill_batch(&mut self) -> std::result::Result<Vec<Planned>, Error> {
        self.batch.clear();
        let mut chunk = vec![0_usize; self.slots.len()];
        let mut evaluating: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i]
                    .job
                    .as_ref()
                    .is_some_and(|job| job.phase == Phase::Prompt)
            })
            .collect();
        evaluating.sort_by_key(|&i| self.slots[i].job.as_ref().map_or(0, |job| job.admitted));
        let mut budget = self.prompt_chunk;
        for i in evaluating {
            let slot = &self.slots[i];
            let remaining = slot
                .job
                .as_ref()
                .map_or(0, |job| job.prompt.len() - slot.cached.len());
            chunk[i] = remaining.min(budget);
            budget -= chunk[i];
        }

        let mut plan = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(job) = &slot.job else {
                continue;
            };
            let start = slot.cached.len();
            match job.phase {
                Phase::Generating { next } => {
                    self.batch.add(next, position(start)?, slot.seq, true)?;
                    plan.push(Planned {
                        slot: i,
                        prompt_tokens: 0,
                        logits: Some(self.batch.n_tokens() - 1),
                    });
                }
                Phase::Prompt if chunk[i] > 0 => {
                    let end = start + chunk[i];
                    for (pos, &token) in (start..end).zip(&job.prompt[start..end]) {
                        let last = pos + 1 == job.prompt.len();
                        self.batch.add(token, position(pos)?, slot.seq, last)?;
                    }
                    plan.push(Planned {
                        slot: i,
                        prompt_tokens: chunk[i],
                        logits: (end == job.prompt.len()).then(|| self.batch.n_tokens() - 1),
                    });
                }
                Phase::Prompt => {}
            }
        }
        Ok(plan)
    }

    /// Records what the decode put into a slot's sequence, then samples where logits came out.
    fn after_decode(&mut self, planned: Planned) {
        let slot = &mut self.slots[planned.slot];
        let Some(job) = slot.job.as_mut() else {
            return;
        };
        if planned.prompt_tokens > 0 {
            let start = slot.cached.len();
            slot.cached
                .extend_from_slice(&job.prompt[start..start + planned.prompt_tokens]);
            self.stats.prompt_tokens_evaluated += planned.prompt_tokens as u64;
        } else if let Phase::Generating { next } = job.phase {
            slot.cached.push(next);
        }
        let Some(row) = planned.logits else {
            return;
        };
        let mut ending = None;
        if job.phase == Phase::Prompt {
            ending = job.prompt_done();
        }
        if ending.is_none() {
            ending = job.advance(
                &self.ctx,
                &self.loaded.model,
                row,
                slot.cached.len(),
                self.ctx_per_sequence,
                &mut self.stats,
            );
        }
        if let Some(ending) = ending.or_else(|| self.make_room(planned.slot)) {
            self.finish(planned.slot, ending);
        }
    }

    /// Shifts the full sequence of slot `index` when its request allows it (Ollama's
    /// `shift`): the tokens after the first `keep` (at most a quarter of the context) lose
    /// half their number, the rest move down. `Some` when it cannot shift (the request ends
    /// for length); `None` when there is room (again).
    fn make_room(&mut self, index: usize) -> Option<Ending> {
        let slot = &mut self.slots[index];
        let n_cached = slot.cached.len();
        if n_cached < self.ctx_per_sequence {
            return None;
        }
        let keep = slot.job.as_ref()?.shift_keep?.min(n_cached / 4);
        let discard = (n_cached - keep) / 2;
        if discard == 0 || !self.ctx.discard(slot.seq, keep, discard) {
            return Some(Ending::Finished {
                reason: FinishReason::Length,
                flush: true,
            });
        }
        slot.cached.drain(keep..keep + discard);
        tracing::debug!(
            "slot {}: context full, {discard} tokens after the first {keep} discarded",
            slot.seq
        );
        None
    }

    /// Ends the request in slot `index`. The stats are published first, so a client that reads
    /// them after its `finish` sees its request counted and its slot free.
    fn finish(&mut self, index: usize, ending: Ending) {
        let seq = self.slots[index].seq;
        if let Some(mut job) = self.slots[index].take(self.tick) {
            if job.device.is_some() {
                // Detach before the chain is dropped with the job.
                self.ctx.set_sampler(seq, None);
                job.device = None;
            }
            self.stats.finished += 1;
            if tracing::enabled!(tracing::Level::DEBUG) {
                let reused = self.ctx.graph_reuses();
                let decodes = self.stats.steps;
                let phases = self.clock.report().unwrap_or_default();
                tracing::debug!(
                    "slot {seq}: done; llama.cpp reused its graph {reused} times in {decodes} \
                     decodes so far; {phases}"
                );
            }
            self.publish();
            job.end(ending);
        }
    }

    /// Fails the requests in `slots` with `message` and empties their sequences (their KV state
    /// is unknown after a failed decode).
    fn fail(&mut self, slots: &[usize], message: &str) {
        for &index in slots {
            let seq = self.slots[index].seq;
            self.ctx.remove(seq, None);
            self.slots[index].cached.clear();
            self.finish(index, Ending::Failed(Error::Inference(message.to_string())));
        }
    }

    /// After a panic in a step: fails every running request and empties the whole cache, then
    /// the loop goes on with a clean state.
    fn recover(&mut self, message: &str) {
        tracing::error!(
            "scheduler for {}: a step panicked ({message}); failing the running requests",
            self.shared.name
        );
        self.batch.clear();
        self.ctx.clear();
        for index in 0..self.slots.len() {
            self.slots[index].cached.clear();
            let err = Error::Inference(format!(
                "internal error in the scheduler ({message}); the request was stopped"
            ));
            // A sink that panics again loses its `finish`; the others still get theirs.
            let _ = catch_unwind(AssertUnwindSafe(|| self.finish(index, Ending::Failed(err))));
        }
    }

    /// Publishes the counters and the slot occupancy.
    fn publish(&mut self) {
        let busy = self.slots.iter().filter(|s| s.job.is_some()).count();
        self.stats.busy_slots = busy as u32;
        let mut state = self.shared.lock();
        let queued = state.queued;
        state.stats = SchedulerStats {
            queued,
            ..self.stats.clone()
        };
        state.free_slots = self.slots.len() - busy;
    }
}

impl Drop for Worker<'_> {
    /// Fails whatever still runs with [`Error::Unloaded`] (shutdown, or the thread unwinding).
    fn drop(&mut self) {
        for index in 0..self.slots.len() {
            let err = self.shared.unloaded();
            let _ = catch_unwind(AssertUnwindSafe(|| self.finish(index, Ending::Failed(err))));
        }
        self.publish();
    }
}

/// How much a common prefix counts when choosing a slot: a single token (typically just BOS)
/// does not, so an unrelated prompt goes to the least recently used slot instead of evicting
/// another prompt's cache.
fn worth_reusing(common_prefix: usize) -> usize {
    if common_prefix > 1 {
        common_prefix
    } else {
        0
    }
}

/// A KV position as llama.cpp wants it.
fn position(pos: usize) -> std::result::Result<i32, Error> {
    i32::try_from(pos).map_err(|_| Error::Inference(format!("position {pos} is out of range")))
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}
