//! A slot (one KV sequence) and the request running in it: prompt-cache matching, turning a
//! sampled token into events, and ending a request.

use std::time::Instant;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::{FinishReason, Flow, GenerateEvent, GenerateSummary};
use shimmy_core::serving::{GenerationSink, SchedulerStats};
use shimmy_core::stream::{StopMatcher, Utf8Decoder};
use shimmy_core::{Error, Result};

use super::queue::{Pending, Reasoning};
use crate::raw_context::{DeviceChain, RawContext};
use crate::sampler::TokenSampler;

/// One sequence of the shared context.
pub struct Slot {
    /// Its llama.cpp sequence id.
    pub seq: i32,
    /// Exactly the tokens whose KV entries the sequence holds, position by position.
    pub cached: Vec<LlamaToken>,
    /// When it was last given up by a request (scheduler ticks), for least-recently-used picks.
    pub last_used: u64,
    /// The request running in it.
    pub job: Option<Job>,
}

/// Where a running request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its prompt is still being evaluated (`Slot::cached` is a prefix of the prompt).
    Prompt,
    /// It sampled `next`, which the next batch decodes.
    Generating {
        /// The token to decode next.
        next: LlamaToken,
    },
}

/// A request admitted into a slot.
pub struct Job {
    /// Where its events go.
    pub sink: Box<dyn GenerationSink>,
    /// The prompt's tokens.
    pub prompt: Vec<LlamaToken>,
    /// Prompt tokens reused from the slot's cache.
    pub cached_tokens: usize,
    /// When it was submitted.
    pub submitted: Instant,
    /// Tokens to generate at most.
    pub max_tokens: usize,
    /// Tokens at the start kept when its full context shifts; `None`: it ends there instead.
    pub shift_keep: Option<usize>,
    /// Its sampler.
    pub sampler: TokenSampler,
    /// Its chain on the device, while attached to the slot's sequence (then the decode draws
    /// its tokens); detached by the scheduler before the job ends.
    pub device: Option<DeviceChain>,
    /// Where it is.
    pub phase: Phase,
    /// Admission order (scheduler ticks), which decides who gets prompt budget first.
    pub admitted: u64,
    /// When it was admitted.
    pub started: Instant,
    /// Seconds from admission until its prompt was evaluated.
    pub prompt_seconds: f64,
    /// When its prompt was done.
    pub decode_started: Option<Instant>,
    /// Tokens generated so far.
    pub completion_tokens: usize,
    /// Events of the last token, sent once the next step is queued on the device
    /// ([`Job::send_held`]), so that waking the request's reader overlaps the decode.
    held: Vec<GenerateEvent>,
    /// Whether the sink answered [`Flow::Stop`] (the scheduler then ends the request).
    pub stopped: bool,
    utf8: Utf8Decoder,
    stops: StopMatcher,
    /// Its reasoning block, when tracked.
    reasoning: Option<Reasoning>,
}

/// How a request ends.
pub enum Ending {
    /// Normally; `flush` first releases text held back (partial character or stop string).
    Finished {
        /// Why.
        reason: FinishReason,
        /// Whether to send the held-back text.
        flush: bool,
    },
    /// With an error.
    Failed(Error),
}

impl Ending {
    /// The client stopped listening.
    pub const CANCELLED: Ending = Ending::Finished {
        reason: FinishReason::Cancelled,
        flush: false,
    };
}

impl Slot {
    /// An empty slot for sequence `seq`.
    pub fn new(seq: i32) -> Self {
        Slot {
            seq,
            cached: Vec::new(),
            last_used: 0,
            job: None,
        }
    }

    /// Tokens at the start of `prompt` this slot already holds.
    pub fn common_prefix(&self, prompt: &[LlamaToken]) -> usize {
        self.cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
    }

    /// Takes the running request out (it is ending), marking the slot as just used.
    pub fn take(&mut self, tick: u64) -> Option<Job> {
        let job = self.job.take()?;
        self.last_used = tick;
        Some(job)
    }
}

impl Job {
    /// Starts `pending` with `cached_tokens` of its prompt already in the slot.
    pub fn new(pending: Pending, cached_tokens: usize, admitted: u64) -> Self {
        Job {
            stops: StopMatcher::new(&pending.stop),
            sink: pending.sink,
            prompt: pending.prompt,
            cached_tokens,
            submitted: pending.submitted,
            max_tokens: pending.max_tokens,
            shift_keep: pending.shift_keep,
            sampler: pending.sampler,
            device: None,
            phase: Phase::Prompt,
            admitted,
            started: Instant::now(),
            prompt_seconds: 0.0,
            decode_started: None,
            completion_tokens: 0,
            held: Vec::new(),
            stopped: false,
            utf8: Utf8Decoder::new(),
            reasoning: pending.reasoning,
        }
    }

    /// Ends the request with `ending`: sends the held-back text when asked, then calls `finish`
    /// (exactly once, as the job is consumed).
    pub fn end(mut self, ending: Ending) {
        self.send_held();
        let outcome = match ending {
            Ending::Finished { reason, flush } => {
                if flush {
                    self.flush();
                }
                Ok(self.summary(reason))
            }
            Ending::Failed(err) => Err(err),
        };
        self.sink.finish(outcome);
    }

    /// Sends the held events to the sink, in order; a sink that answers [`Flow::Stop`] gets no
    /// more of them and marks the job [`Job::stopped`].
    pub fn send_held(&mut self) {
        for event in self.held.drain(..) {
            if !self.stopped && self.sink.event(event) == Flow::Stop {
                self.stopped = true;
            }
        }
    }

    /// Records that the prompt is evaluated and tells the sink (held like a token's events).
    /// `Some` when the request ends right here (nothing is to be generated).
    pub fn prompt_done(&mut self) -> Option<Ending> {
        self.prompt_seconds = self.started.elapsed().as_secs_f64();
        self.decode_started = Some(Instant::now());
        self.held.push(GenerateEvent::PromptDone {
            prompt_tokens: self.prompt.len(),
            cached_tokens: self.cached_tokens,
        });
        if self.max_tokens == 0 {
            return Some(Ending::Finished {
                reason: FinishReason::Length,
                flush: true,
            });
        }
        None
    }

    /// Samples from output row `idx`, holds the token's events (sent once the next step is
    /// queued, or when the request ends) and decides whether the request goes on (then the
    /// token is decoded next step) or ends. `n_cached` is how many tokens the sequence holds,
    /// `n_ctx` how many it may hold (a request that shifts goes on when it is full: the
    /// scheduler makes room before the next decode).
    pub fn advance(
        &mut self,
        ctx: &RawContext<'_>,
        model: &LlamaModel,
        idx: i32,
        n_cached: usize,
        n_ctx: usize,
        stats: &mut SchedulerStats,
    ) -> Option<Ending> {
        let forced = self.forced_token();
        let drawn = match (forced, self.device.as_mut()) {
            // A spent reasoning budget: the closing tag goes next (never on the device: a
            // request with a budget samples on the CPU).
            (Some(token), _) => ctx
                .logits_ith(idx)
                .and_then(|logits| self.sampler.force(token, logits, model)),
            (None, Some(chain)) => match ctx.sampled_token_ith(idx) {
                Some(token) => {
                    chain.accept(token);
                    stats.device_sampled_tokens += 1;
                    Ok((token, None))
                }
                None => Err(shimmy_core::Error::Inference(
                    "the device sampled no token for this request".into(),
                )),
            },
            (None, None) => ctx
                .logits_ith(idx)
                .and_then(|logits| self.sampler.sample(logits, model)),
        };
        let (token, logprob) = match drawn {
            Ok(drawn) => drawn,
            Err(err) => return Some(Ending::Failed(err)),
        };
        let vocab = model.vocab();
        if vocab.is_eog(token) {
            return Some(Ending::Finished {
                reason: FinishReason::Stop,
                flush: true,
            });
        }
        self.completion_tokens += 1;
        stats.generated_tokens += 1;
        if let Some(logprob) = logprob {
            self.held.push(GenerateEvent::Token(logprob));
        }
        // Control tokens are written out (`<|channel|>`, `<|python_tag|>`, ...): they are the
        // tool-call and reasoning markup templates parse; end-of-generation ones ended it above.
        let text = self.utf8.push(&vocab.token_to_piece(token, true, None));
        if let Some(reasoning) = self.reasoning.as_mut() {
            reasoning.tracker.push(&text);
        }
        let scan = self.stops.push(&text);
        if !scan.emit.is_empty() {
            self.held.push(GenerateEvent::Text(scan.emit));
        }
        if scan.stopped {
            return Some(Ending::Finished {
                reason: FinishReason::Stop,
                flush: false,
            });
        }
        if self.completion_tokens >= self.max_tokens
            || (n_cached >= n_ctx && self.shift_keep.is_none())
        {
            return Some(Ending::Finished {
                reason: FinishReason::Length,
                flush: true,
            });
        }
        self.phase = Phase::Generating { next: token };
        None
    }

    /// The next token of a forced closing tag: once the reasoning budget is spent (and no
    /// UTF-8 character is half written), the closing tag's tokens, each once.
    fn forced_token(&mut self) -> Option<LlamaToken> {
        let reasoning = self.reasoning.as_mut()?;
        if !reasoning.forcing && reasoning.tracker.budget_spent() && self.utf8.is_empty() {
            reasoning.forcing = true;
            reasoning.forced = reasoning.close_tokens.iter().copied().collect();
        }
        reasoning.forced.pop_front()
    }

    /// Sends what the decoder and the stop matcher hold back.
    fn flush(&mut self) {
        let tail_text = self.utf8.finish();
        let mut tail = self.stops.push(&tail_text).emit;
        tail.push_str(&self.stops.finish());
        if !tail.is_empty() {
            // The request ends anyway; the answer does not matter.
            let _ = self.sink.event(GenerateEvent::Text(tail));
        }
    }

    /// The summary of a request ending now for `reason`.
    fn summary(&self, reason: FinishReason) -> GenerateSummary {
        GenerateSummary {
            finish_reason: reason,
            prompt_tokens: self.prompt.len(),
            cached_tokens: self.cached_tokens,
            completion_tokens: self.completion_tokens,
            prompt_seconds: self.prompt_seconds,
            decode_seconds: self
                .decode_started
                .map_or(0.0, |at| at.elapsed().as_secs_f64()),
            seed: self.sampler.seed(),
            stop: self.stops.matched().map(str::to_string),
            reasoning_tokens: self
                .reasoning
                .as_ref()
                .map_or(0, |r| r.tracker.reasoning_tokens()),
        }
    }
}

/// Ends a request that never got a slot (cancelled while queued, or shut down).
pub fn finish_unstarted(mut pending: Pending, outcome: Result<FinishReason>) {
    let outcome = outcome.map(|reason| GenerateSummary {
        finish_reason: reason,
        prompt_tokens: pending.prompt.len(),
        cached_tokens: 0,
        completion_tokens: 0,
        prompt_seconds: 0.0,
        decode_seconds: 0.0,
        seed: pending.sampler.seed(),
        stop: None,
        reasoning_tokens: 0,
    });
    pending.sink.finish(outcome);
}
