//! The continuous-batching scheduler on real llama.cpp with the test kit's GGUF models.
//!
//! The test models have random weights and never emit an end-of-generation token under greedy
//! decoding, so every greedy request runs to `max_tokens`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use shimmy_backend_llama::LlamaEngine;
use shimmy_core::backend::{
    Backend, FinishReason, Flow, GenerateEvent, GenerateRequest, GenerateSummary, LoadedModel,
    ModelOptions, SamplingOptions,
};
use shimmy_core::serving::{GenerationSink, Scheduler, ServeOptions};
use shimmy_core::{Error, Result};
use shimmy_testkit::{cached_model, ModelSpec};

const WAIT: Duration = Duration::from_secs(60);

fn engine() -> &'static LlamaEngine {
    static ENGINE: OnceLock<LlamaEngine> = OnceLock::new();
    ENGINE.get_or_init(|| LlamaEngine::new(None).expect("llama.cpp backend"))
}

/// Loads a test-kit model with a context of `n_ctx` tokens.
fn load(spec: &ModelSpec, n_ctx: u32) -> Arc<dyn LoadedModel> {
    let file = cached_model(spec).expect("test model");
    let options = ModelOptions {
        ctx_size: Some(n_ctx),
        threads: Some(1),
        ..ModelOptions::default()
    };
    engine().load(&file.path, &options).expect("model loads")
}

fn dense(n_ctx: u32) -> Arc<dyn LoadedModel> {
    load(&ModelSpec::dense(), n_ctx)
}

fn serve(
    model: &Arc<dyn LoadedModel>,
    parallel: u32,
    max_queue: usize,
    chunk: u32,
) -> Arc<dyn Scheduler> {
    Arc::clone(model)
        .serve(&ServeOptions {
            parallel,
            ctx_per_sequence: None,
            max_queue,
            prompt_chunk: chunk,
            name: "test-model".into(),
        })
        .expect("scheduler starts")
}

/// Greedy decoding (with the default repeat penalty, which keeps state per request).
fn greedy(prompt: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        max_tokens,
        sampling: SamplingOptions {
            temperature: 0.0,
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(prompt)
    }
}

/// One thing a sink saw, numbered in the order the scheduler thread produced it.
#[derive(Debug)]
enum Seen {
    Event(u64, GenerateEvent),
    Finish(u64, Result<GenerateSummary>),
}

/// A sink that forwards everything to a channel and can be cancelled from outside (or by
/// itself after `cancel_after` token events).
struct Recorder {
    tx: Sender<Seen>,
    clock: Arc<AtomicU64>,
    cancelled: Arc<AtomicBool>,
    cancel_after: Option<usize>,
    tokens: usize,
    panic_on_text: bool,
    /// A slow client: sleeps this long in every event (keeps a request running for a while).
    delay: Duration,
}

impl GenerationSink for Recorder {
    fn event(&mut self, event: GenerateEvent) -> Flow {
        std::thread::sleep(self.delay);
        if self.panic_on_text && matches!(event, GenerateEvent::Text(_)) {
            panic!("test sink panics on purpose");
        }
        if matches!(event, GenerateEvent::Token(_)) {
            self.tokens += 1;
            if self.cancel_after == Some(self.tokens) {
                self.cancelled.store(true, Ordering::SeqCst);
            }
        }
        let _ = self.tx.send(Seen::Event(
            self.clock.fetch_add(1, Ordering::SeqCst),
            event,
        ));
        Flow::Continue
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn finish(&mut self, outcome: Result<GenerateSummary>) {
        let _ = self.tx.send(Seen::Finish(
            self.clock.fetch_add(1, Ordering::SeqCst),
            outcome,
        ));
    }
}

/// The receiving end of a [`Recorder`].
struct Probe {
    rx: Receiver<Seen>,
    cancelled: Arc<AtomicBool>,
}

fn recorder(clock: &Arc<AtomicU64>) -> (Recorder, Probe) {
    let (tx, rx) = mpsc::channel();
    let cancelled = Arc::new(AtomicBool::new(false));
    (
        Recorder {
            tx,
            clock: Arc::clone(clock),
            cancelled: Arc::clone(&cancelled),
            cancel_after: None,
            tokens: 0,
            panic_on_text: false,
            delay: Duration::ZERO,
        },
        Probe { rx, cancelled },
    )
}

/// Everything one request produced.
#[derive(Debug)]
struct Outcome {
    events: Vec<(u64, GenerateEvent)>,
    finished_at: u64,
    result: Result<GenerateSummary>,
}

impl Outcome {
    fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                GenerateEvent::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    fn summary(&self) -> &GenerateSummary {
        self.result.as_ref().expect("request succeeded")
    }

    /// Clock values of the token (logprob) events.
    fn token_times(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, GenerateEvent::Token(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    fn prompt_done(&self) -> (u64, usize, usize) {
        self.events
            .iter()
            .find_map(|(t, e)| match e {
                GenerateEvent::PromptDone {
                    prompt_tokens,
                    cached_tokens,
                } => Some((*t, *prompt_tokens, *cached_tokens)),
                _ => None,
            })
            .expect("a PromptDone event")
    }
}

impl Probe {
    /// Waits for the request's `finish` and returns all it got.
    fn wait(&self) -> Outcome {
        let mut events = Vec::new();
        loop {
            match self.rx.recv_timeout(WAIT).expect("the request finishes") {
                Seen::Event(t, e) => events.push((t, e)),
                Seen::Finish(t, result) => {
                    return Outcome {
                        events,
                        finished_at: t,
                        result,
                    }
                }
            }
        }
    }

    /// Waits for the next event (not the finish).
    fn next_event(&self) -> (u64, GenerateEvent) {
        match self.rx.recv_timeout(WAIT).expect("an event") {
            Seen::Event(t, e) => (t, e),
            Seen::Finish(_, result) => panic!("finished early: {result:?}"),
        }
    }
}

/// Runs `request` on the single-request path.
fn single(model: &Arc<dyn LoadedModel>, request: &GenerateRequest) -> (String, Vec<GenerateEvent>) {
    let mut text = String::new();
    let mut events = Vec::new();
    model
        .generate(request, &mut |event| {
            if let GenerateEvent::Text(t) = &event {
                text.push_str(t);
            }
            events.push(event);
            Flow::Continue
        })
        .expect("single-request generation");
    (text, events)
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const PROMPTS: [&str; 8] = [
    "The quick brown fox",
    "Once upon a time there was",
    "In the beginning",
    "My favourite colour is",
    "Rust and C++ are both",
    "A long time ago in a galaxy far, far away, a lonely robot",
    "1, 2, 3, 4,",
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
];

fn batched_matches_single(model: &Arc<dyn LoadedModel>, prompts: &[&str], parallel: u32) {
    let requests: Vec<GenerateRequest> = prompts.iter().map(|p| greedy(p, 24)).collect();
    let expected: Vec<String> = requests.iter().map(|r| single(model, r).0).collect();

    let queue = prompts.len() - parallel as usize;
    let scheduler = serve(model, parallel, queue, 64);
    let clock = Arc::new(AtomicU64::new(0));
    let probes: Vec<Probe> = requests
        .iter()
        .map(|request| {
            let (sink, probe) = recorder(&clock);
            scheduler
                .submit(request.clone(), Box::new(sink))
                .expect("submit");
            probe
        })
        .collect();
    let outcomes: Vec<Outcome> = probes.iter().map(Probe::wait).collect();
    for ((outcome, expected), prompt) in outcomes.iter().zip(&expected).zip(prompts) {
        assert_eq!(&outcome.text(), expected, "prompt {prompt:?}");
        let summary = outcome.summary();
        assert_eq!(summary.finish_reason, FinishReason::Length);
        assert_eq!(summary.completion_tokens, 24);
    }
    let stats = scheduler.stats();
    assert_eq!(stats.finished, prompts.len() as u64);
    assert_eq!(stats.generated_tokens, 24 * prompts.len() as u64);
    assert_eq!(stats.busy_slots, 0);
    assert_eq!(stats.queued, 0);
    // One by one this takes at least 24 decodes per request; batched, `parallel` share them.
    let sequential = 24 * prompts.len() as u64;
    assert!(
        stats.steps <= sequential / u64::from(parallel) * 3 / 2 + 4,
        "{} steps for {sequential} tokens: requests were not batched",
        stats.steps
    );
}

#[test]
fn batched_greedy_equals_single_request_path() {
    let model = dense(256);
    batched_matches_single(&model, &PROMPTS, 4);
}

#[test]
fn batched_greedy_equals_single_request_path_moe() {
    let model = load(&ModelSpec::mixtral_moe(), 256);
    batched_matches_single(&model, &PROMPTS[..4], 2);
}

#[test]
fn requests_interleave_and_long_prompts_are_chunked() {
    let model = dense(512);
    let scheduler = serve(&model, 2, 4, 16);
    let clock = Arc::new(AtomicU64::new(0));

    let first = GenerateRequest {
        logprobs: Some(0),
        ..greedy("The quick brown fox", 60)
    };
    let (mut sink, first_probe) = recorder(&clock);
    sink.delay = Duration::from_millis(10);
    scheduler.submit(first, Box::new(sink)).expect("submit");
    // Let the first request stream a few tokens.
    let mut first_events = Vec::new();
    while first_events
        .iter()
        .filter(|(_, e)| matches!(e, GenerateEvent::Token(_)))
        .count()
        < 3
    {
        first_events.push(first_probe.next_event());
    }

    let long_prompt = "Once upon a time, in a small village by the sea, there lived an old \
                       fisherman who told long stories about storms, whales and lost ships to \
                       every child who would listen.";
    let n_long = model
        .tokenize(long_prompt, true, true)
        .expect("tokenize")
        .len();
    let chunks = n_long.div_ceil(16) as u64;
    assert!(chunks >= 3, "the long prompt has only {n_long} tokens");
    let steps_before = scheduler.stats().steps;
    let submitted_at = clock.load(Ordering::SeqCst);
    let (sink, second_probe) = recorder(&clock);
    scheduler
        .submit(greedy(long_prompt, 10), Box::new(sink))
        .expect("submit");

    let second = second_probe.wait();
    let mut first = first_probe.wait();
    first.events.splice(0..0, first_events);

    let (prompt_done_at, prompt_tokens, cached) = second.prompt_done();
    assert_eq!((prompt_tokens, cached), (n_long, 0));
    // The first request kept getting a token per step while the long prompt was fed.
    let streamed_meanwhile = first
        .token_times()
        .into_iter()
        .filter(|&t| t > submitted_at && t < prompt_done_at)
        .count() as u64;
    assert!(
        streamed_meanwhile + 1 >= chunks,
        "{streamed_meanwhile} tokens of the running request while a {chunks}-chunk prompt was fed"
    );
    // ...and both generated at the same time afterwards.
    let second_texts: Vec<u64> = second.events.iter().map(|(t, _)| *t).collect();
    assert!(
        second_texts.iter().any(|&t| t < first.finished_at),
        "the second request only streamed after the first finished"
    );
    assert!(scheduler.stats().steps - steps_before >= chunks);
    assert_eq!(first.summary().completion_tokens, 60);
    assert_eq!(first.token_times().len(), 60);

    // A prompt fed in chunks gives what a prompt fed at once gives.
    assert_eq!(second.text(), single(&model, &greedy(long_prompt, 10)).0);
    assert_eq!(
        first.text(),
        single(&model, &greedy("The quick brown fox", 60)).0
    );
}

#[test]
fn prompt_cache_reuses_the_common_prefix() {
    let model = dense(256);
    let scheduler = serve(&model, 2, 4, 512);
    let clock = Arc::new(AtomicU64::new(0));
    let run = |request: GenerateRequest| {
        let (sink, probe) = recorder(&clock);
        scheduler.submit(request, Box::new(sink)).expect("submit");
        probe.wait()
    };

    let base = "The history of the lighthouse keeper begins on a cold night.";
    let longer = format!("{base}\nHe climbed the stairs and lit the lamp.");
    let base_tokens = model.tokenize(base, true, true).expect("tokenize");
    let longer_tokens = model.tokenize(&longer, true, true).expect("tokenize");
    let common = base_tokens
        .iter()
        .zip(&longer_tokens)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(common > 5);

    let cold = run(greedy(base, 8));
    assert_eq!(cold.prompt_done().2, 0);
    assert_eq!(cold.summary().cached_tokens, 0);
    // An unrelated prompt takes the other (least recently used) slot and keeps `base` cached.
    let other = run(greedy("Completely unrelated words", 8));
    assert_eq!(other.summary().cached_tokens, 0);

    let warm = run(greedy(&longer, 8));
    assert_eq!(warm.prompt_done().2, common);
    assert_eq!(warm.summary().cached_tokens, common);
    assert_eq!(warm.summary().prompt_tokens, longer_tokens.len());
    assert_eq!(warm.text(), single(&model, &greedy(&longer, 8)).0);

    // The same prompt again: all but its last token come from the cache.
    let again = run(greedy(&longer, 8));
    assert_eq!(again.summary().cached_tokens, longer_tokens.len() - 1);
    assert_eq!(again.text(), warm.text());

    let stats = scheduler.stats();
    assert_eq!(
        stats.prompt_tokens_cached,
        (common + longer_tokens.len() - 1) as u64
    );
    let total_prompt = base_tokens.len()
        + model
            .tokenize("Completely unrelated words", true, true)
            .expect("tokenize")
            .len()
        + 2 * longer_tokens.len();
    assert_eq!(
        stats.prompt_tokens_evaluated + stats.prompt_tokens_cached,
        total_prompt as u64
    );
}

#[test]
fn cancellation_frees_the_slot_and_spares_the_others() {
    let model = dense(256);
    let scheduler = serve(&model, 2, 4, 64);
    let clock = Arc::new(AtomicU64::new(0));

    let (mut sink, cancelled_probe) = recorder(&clock);
    sink.cancel_after = Some(3);
    let request = GenerateRequest {
        logprobs: Some(0),
        ..greedy("The quick brown fox", 100)
    };
    scheduler.submit(request, Box::new(sink)).expect("submit");
    let (sink, other_probe) = recorder(&clock);
    scheduler
        .submit(greedy("Once upon a time there was", 30), Box::new(sink))
        .expect("submit");
    // Waits behind the two, and is cancelled before it gets a slot.
    let (sink, queued_probe) = recorder(&clock);
    queued_probe.cancelled.store(true, Ordering::SeqCst);
    scheduler
        .submit(greedy("In the beginning", 30), Box::new(sink))
        .expect("submit");

    let cancelled = cancelled_probe.wait();
    let summary = cancelled.summary();
    assert_eq!(summary.finish_reason, FinishReason::Cancelled);
    // It flipped after its third token; the next step's poll ends it.
    assert!(
        summary.completion_tokens <= 4,
        "{} tokens after cancelling at 3",
        summary.completion_tokens
    );

    let queued = queued_probe.wait();
    assert!(queued.events.is_empty(), "a cancelled queued request ran");
    assert_eq!(queued.summary().finish_reason, FinishReason::Cancelled);
    assert_eq!(queued.summary().completion_tokens, 0);

    let other = other_probe.wait();
    assert_eq!(other.summary().finish_reason, FinishReason::Length);
    assert_eq!(
        other.text(),
        single(&model, &greedy("Once upon a time there was", 30)).0
    );
    wait_until("idle slots", || scheduler.stats().busy_slots == 0);
    let stats = scheduler.stats();
    assert_eq!((stats.finished, stats.queued), (3, 0));

    // Cancelled while streaming: a client that goes away mid-stream (flag set from outside).
    let (mut sink, probe) = recorder(&clock);
    sink.delay = Duration::from_millis(5);
    scheduler
        .submit(greedy("My favourite colour is", 200), Box::new(sink))
        .expect("submit");
    let _ = probe.next_event();
    probe.cancelled.store(true, Ordering::SeqCst);
    let outcome = probe.wait();
    assert_eq!(outcome.summary().finish_reason, FinishReason::Cancelled);
    assert!(outcome.summary().completion_tokens < 200);
    wait_until("idle slots", || scheduler.stats().busy_slots == 0);
}

#[test]
fn queue_limits_context_checks_and_shutdown() {
    let model = dense(64);
    let scheduler = serve(&model, 1, 1, 64);
    let clock = Arc::new(AtomicU64::new(0));
    let prompt = "The quick brown fox";
    let n_prompt = model.tokenize(prompt, true, true).expect("tokenize").len();

    // Refused at once, before queueing.
    let (sink, _) = recorder(&clock);
    let err = scheduler
        .submit(greedy(prompt, 64), Box::new(sink))
        .expect_err("too long");
    match err {
        Error::ContextExceeded {
            prompt_tokens,
            max_tokens,
            total,
            n_ctx,
        } => assert_eq!(
            (prompt_tokens, max_tokens, total, n_ctx),
            (n_prompt, 64, n_prompt + 64, 64)
        ),
        other => panic!("expected ContextExceeded, got {other:?}"),
    }
    let (sink, _) = recorder(&clock);
    let empty = GenerateRequest {
        add_bos: false,
        ..greedy("", 4)
    };
    assert!(matches!(
        scheduler.submit(empty, Box::new(sink)),
        Err(Error::InvalidOption(_))
    ));
    let (sink, _) = recorder(&clock);
    let huge = GenerateRequest {
        fit_context: true,
        ..greedy(&"word ".repeat(80), 4)
    };
    assert!(matches!(
        scheduler.submit(huge, Box::new(sink)),
        Err(Error::PromptTooLong { n_ctx: 64, .. })
    ));

    // fit_context lowers max_tokens to what the context leaves.
    let (sink, probe) = recorder(&clock);
    let fitted = GenerateRequest {
        fit_context: true,
        ..greedy(prompt, 1000)
    };
    scheduler.submit(fitted, Box::new(sink)).expect("fits");
    let outcome = probe.wait();
    assert_eq!(outcome.summary().completion_tokens, 64 - n_prompt);
    assert_eq!(outcome.summary().finish_reason, FinishReason::Length);

    // One running, one waiting, the next refused.
    let (mut sink, running) = recorder(&clock);
    sink.delay = Duration::from_millis(30);
    scheduler
        .submit(greedy(prompt, 40), Box::new(sink))
        .expect("runs");
    let (sink, waiting) = recorder(&clock);
    scheduler
        .submit(greedy("Once upon a time", 8), Box::new(sink))
        .expect("waits");
    let (sink, _) = recorder(&clock);
    match scheduler.submit(greedy("In the beginning", 8), Box::new(sink)) {
        Err(Error::QueueFull { queued, max_queue }) => assert_eq!((queued, max_queue), (1, 1)),
        other => panic!("expected QueueFull, got {other:?}"),
    }
    let _ = running.next_event();
    assert_eq!(scheduler.stats().queued, 1);

    scheduler.shutdown();
    let running = running.wait();
    assert!(
        matches!(&running.result, Err(Error::Unloaded { model }) if model == "test-model"),
        "{:?}",
        running.result
    );
    assert!(matches!(waiting.wait().result, Err(Error::Unloaded { .. })));
    let (sink, _) = recorder(&clock);
    assert!(matches!(
        scheduler.submit(greedy(prompt, 4), Box::new(sink)),
        Err(Error::Unloaded { .. })
    ));
    scheduler.shutdown(); // idempotent
    assert_eq!(scheduler.stats().busy_slots, 0);
}

#[test]
fn logprobs_are_sorted_and_match_greedy_choice() {
    let model = dense(256);
    let scheduler = serve(&model, 2, 4, 64);
    let clock = Arc::new(AtomicU64::new(0));
    let request = |n: u32| GenerateRequest {
        logprobs: Some(n),
        max_tokens: 12,
        sampling: SamplingOptions {
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new("The quick brown fox")
    };

    let (sink, probe) = recorder(&clock);
    scheduler
        .submit(request(3), Box::new(sink))
        .expect("submit");
    let outcome = probe.wait();
    let tokens: Vec<_> = outcome
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            GenerateEvent::Token(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len(), outcome.summary().completion_tokens);
    assert_eq!(tokens.len(), 12);
    for token in &tokens {
        assert_eq!(token.top.len(), 3);
        assert!(token.logprob <= 0.0);
        assert!(token.top.windows(2).all(|w| w[0].logprob >= w[1].logprob));
        assert!(token.top.iter().all(|t| t.logprob <= 0.0));
        assert_eq!(token.logprob, token.top[0].logprob, "greedy takes the best");
        assert_eq!(token.bytes, token.top[0].bytes);
    }
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.bytes.clone()).collect();
    assert_eq!(String::from_utf8_lossy(&bytes), outcome.text());

    // Each Token event comes before the text it contains.
    let first_token = outcome
        .events
        .iter()
        .position(|(_, e)| matches!(e, GenerateEvent::Token(_)));
    let first_text = outcome
        .events
        .iter()
        .position(|(_, e)| matches!(e, GenerateEvent::Text(_)));
    assert!(first_token < first_text);

    // The single-request path reports the same numbers.
    let (_, single_events) = single(&model, &request(3));
    let single_tokens: Vec<_> = single_events
        .into_iter()
        .filter_map(|e| match e {
            GenerateEvent::Token(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(single_tokens.len(), tokens.len());
    for (a, b) in single_tokens.iter().zip(&tokens) {
        assert_eq!(a.bytes, b.bytes);
        assert!((a.logprob - b.logprob).abs() < 1e-3);
    }

    // More than 20 alternatives are capped.
    let (sink, probe) = recorder(&clock);
    scheduler
        .submit(request(50), Box::new(sink))
        .expect("submit");
    let outcome = probe.wait();
    assert!(outcome.events.iter().all(|(_, e)| match e {
        GenerateEvent::Token(t) => t.top.len() == 20,
        _ => true,
    }));
}

#[test]
fn grammar_constrains_the_output() {
    let model = dense(256);
    let scheduler = serve(&model, 4, 8, 64);
    let clock = Arc::new(AtomicU64::new(0));
    let grammar = r#"root ::= "yes" | "no""#;
    let probes: Vec<Probe> = (0..6_u32)
        .map(|i| {
            let request = GenerateRequest {
                max_tokens: 16,
                grammar: Some(grammar.into()),
                sampling: SamplingOptions {
                    temperature: 1.0,
                    seed: Some(i),
                    ..SamplingOptions::default()
                },
                ..GenerateRequest::new(PROMPTS[i as usize])
            };
            let (sink, probe) = recorder(&clock);
            scheduler.submit(request, Box::new(sink)).expect("submit");
            probe
        })
        .collect();
    for probe in probes {
        let outcome = probe.wait();
        let text = outcome.text();
        assert!(text == "yes" || text == "no", "grammar output {text:?}");
        assert_eq!(outcome.summary().finish_reason, FinishReason::Stop);
    }

    // The single-request path honours it too.
    let request = GenerateRequest {
        grammar: Some(grammar.into()),
        ..greedy("Is the sky blue?", 16)
    };
    let text = single(&model, &request).0;
    assert!(text == "yes" || text == "no", "grammar output {text:?}");

    let (sink, _) = recorder(&clock);
    let broken = GenerateRequest {
        grammar: Some("root ::= (".into()),
        ..greedy("Hello", 4)
    };
    assert!(matches!(
        scheduler.submit(broken, Box::new(sink)),
        Err(Error::InvalidOption(_))
    ));
}

#[test]
fn a_panicking_sink_fails_its_step_but_the_scheduler_goes_on() {
    let model = dense(256);
    let scheduler = serve(&model, 2, 4, 64);
    let clock = Arc::new(AtomicU64::new(0));

    let (mut sink, probe) = recorder(&clock);
    sink.panic_on_text = true;
    scheduler
        .submit(greedy("The quick brown fox", 20), Box::new(sink))
        .expect("submit");
    let outcome = probe.wait();
    match outcome.result {
        Err(Error::Inference(message)) => assert!(message.contains("panics on purpose")),
        other => panic!("expected an inference error, got {other:?}"),
    }
    wait_until("idle slots", || scheduler.stats().busy_slots == 0);

    let (sink, probe) = recorder(&clock);
    scheduler
        .submit(greedy("The quick brown fox", 12), Box::new(sink))
        .expect("submit");
    let outcome = probe.wait();
    assert_eq!(
        outcome.text(),
        single(&model, &greedy("The quick brown fox", 12)).0
    );
}

/// Runs `requests` one after the other through a fresh one-slot scheduler of `model`.
fn run_each(model: &Arc<dyn LoadedModel>, requests: &[GenerateRequest]) -> Vec<String> {
    let scheduler = serve(model, 1, requests.len(), 64);
    let clock = Arc::new(AtomicU64::new(0));
    let texts = requests
        .iter()
        .map(|request| {
            let (sink, probe) = recorder(&clock);
            scheduler
                .submit(request.clone(), Box::new(sink))
                .expect("submit");
            let outcome = probe.wait();
            assert_eq!(
                outcome.summary().completion_tokens,
                request.max_tokens as usize
            );
            outcome.text()
        })
        .collect();
    let stats = scheduler.stats();
    assert_eq!(stats.generated_tokens, 16 * requests.len() as u64);
    texts
}

#[test]
fn sampling_on_the_device_matches_greedy_and_is_deterministic_when_seeded() {
    let file = cached_model(&ModelSpec::qwen3_moe()).expect("test model");
    let with = |device_sampling| {
        let options = ModelOptions {
            ctx_size: Some(256),
            threads: Some(1),
            device_sampling,
            ..ModelOptions::default()
        };
        engine().load(&file.path, &options).expect("model loads")
    };
    let on = with(shimmy_core::backend::DeviceSampling::On);
    let off = with(shimmy_core::backend::DeviceSampling::Off);
    let plain = |prompt: &str| GenerateRequest {
        max_tokens: 16,
        sampling: SamplingOptions {
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(prompt)
    };
    let seeded = |prompt: &str, seed| GenerateRequest {
        max_tokens: 16,
        sampling: SamplingOptions {
            temperature: 0.9,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            seed: Some(seed),
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(prompt)
    };
    let greedy_requests = [plain(PROMPTS[0]), plain(PROMPTS[1])];
    assert_eq!(
        run_each(&on, &greedy_requests),
        run_each(&off, &greedy_requests),
        "greedy output differs between device and CPU sampling"
    );
    // Another prompt in between, so that the third request is evaluated afresh like the first
    // (from the prompt cache its last token would be evaluated alone, with slightly different
    // logits).
    let sampled = [
        seeded(PROMPTS[2], 7),
        seeded(PROMPTS[4], 8),
        seeded(PROMPTS[2], 7),
    ];
    let first = run_each(&on, &sampled);
    assert_eq!(
        first[0], first[2],
        "same seed, different text on the device"
    );
    assert_eq!(first, run_each(&on, &sampled), "not reproducible");
    // The device really drew them (a request with a penalty stays on the CPU chain).
    let scheduler = serve(&on, 1, 1, 64);
    let clock = Arc::new(AtomicU64::new(0));
    for request in [plain(PROMPTS[3]), greedy(PROMPTS[3], 16)] {
        let (sink, probe) = recorder(&clock);
        scheduler.submit(request, Box::new(sink)).expect("submit");
        probe.wait();
    }
    assert_eq!(scheduler.stats().device_sampled_tokens, 16);
}

/// A sink that says its client went away from its `after`-th `is_cancelled` on, counting the
/// questions.
struct GoneAfter {
    asked: Arc<AtomicU64>,
    after: u64,
}

impl GenerationSink for GoneAfter {
    fn event(&mut self, _: GenerateEvent) -> Flow {
        Flow::Continue
    }

    fn is_cancelled(&self) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst) + 1 >= self.after
    }

    fn finish(&mut self, _: Result<GenerateSummary>) {}
}

/// A request whose client leaves while its long prompt is tokenized stops between pieces of
/// the prompt (llama.cpp tokenizes one piece per call) and is never queued.
#[test]
fn a_request_whose_client_left_stops_while_its_prompt_is_tokenized() {
    let model = dense(256);
    let scheduler = serve(&model, 1, 1, 64);
    let turn = "<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\nhi<|im_end|>\n";
    let prompt = turn.repeat(2000);
    let asked = Arc::new(AtomicU64::new(0));
    let sink = GoneAfter {
        asked: Arc::clone(&asked),
        after: 3,
    };
    let err = scheduler
        .submit(greedy(&prompt, 4), Box::new(sink))
        .expect_err("a request whose client left is not queued");
    assert!(err.to_string().contains("went away"), "{err}");
    // 4000 special tokens make dozens of pieces; it stopped at the third question.
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    assert_eq!(scheduler.stats().queued, 0);
    // With a client that stays, the same prompt is tokenized to its end (and then refused: it
    // is far longer than the context).
    let (sink, probe) = recorder(&Arc::new(AtomicU64::new(0)));
    let err = scheduler
        .submit(greedy(&prompt, 4), Box::new(sink))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ContextExceeded { .. } | Error::PromptTooLong { .. }
        ),
        "{err}"
    );
    drop(probe);
}
