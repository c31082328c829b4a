//! A small deterministic backend for the unit tests of the wire formats: one "token" per
//! step, a scheduler with slots, a queue, a prompt cache, cancellation and shutdown that
//! behave as the [`Scheduler`] contract says. Never used outside `cargo test`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shimmy_core::backend::{
    Backend, DeviceInfo, FinishReason, Flow, GenerateEvent, GenerateRequest, GenerateSummary,
    LoadedModel, ModelInfo, ModelOptions, TokenLogprob, TopLogprob,
};
use shimmy_core::placement::Placement;
use shimmy_core::serving::{GenerationSink, Scheduler, SchedulerStats, ServeOptions};
use shimmy_core::{Error, Result};

/// The output for a prompt: a reasoning block when the prompt says THINK, a tool call when
/// it says TOOL, else ` tok0 tok1 ...` forever.
fn script(prompt: &str, i: usize) -> Option<String> {
    if prompt.contains("THINK") {
        const T: [&str; 6] = ["<think>", "ponder", "ing", "</think>", "The", " answer"];
        return T.get(i).map(|s| s.to_string());
    }
    if prompt.contains("TOOL") {
        const T: [&str; 4] = [
            "<tool_call>",
            "{\"name\": \"add\", ",
            "\"arguments\": {\"a\": 1}}",
            "</tool_call>",
        ];
        return T.get(i).map(|s| s.to_string());
    }
    Some(format!(" tok{i}"))
}

/// The fake engine.
pub struct FakeBackend {
    /// Delay per scheduler step.
    pub step: Duration,
    /// Delay of a model load.
    pub load_delay: Duration,
    /// Loads so far.
    pub loads: Mutex<usize>,
}

impl FakeBackend {
    pub fn new(step: Duration) -> Arc<Self> {
        Arc::new(FakeBackend {
            step,
            load_delay: Duration::ZERO,
            loads: Mutex::new(0),
        })
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &str {
        "fake"
    }
    fn devices(&self) -> Vec<DeviceInfo> {
        vec![DeviceInfo {
            name: "CPU".into(),
            description: "fake cpu".into(),
            backend: "CPU".into(),
            kind: "cpu".into(),
            memory_total: 1 << 30,
            memory_free: 1 << 29,
        }]
    }
    fn libraries(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    fn load(&self, path: &Path, options: &ModelOptions) -> Result<Arc<dyn LoadedModel>> {
        std::thread::sleep(self.load_delay);
        *self.loads.lock().unwrap() += 1;
        Ok(Arc::new(FakeModel {
            info: ModelInfo {
                path: path.to_path_buf(),
                architecture: "llama".into(),
                n_layer: 1,
                n_expert: 0,
                n_expert_used: 0,
                n_ctx_train: 4096,
                n_ctx: options.ctx_size.unwrap_or(256),
                n_vocab: 300,
                n_params: 1000,
                size_bytes: 1000,
                chat_template: None,
                bos_token: Some("<s>".into()),
                eos_token: Some("</s>".into()),
                add_bos: true,
                gpu_layers: 0,
                purpose: Default::default(),
            },
            placement: Placement::default(),
            step: self.step,
        }))
    }
}

/// A model whose tokens are bytes (id = byte + 10; BOS = 1).
pub struct FakeModel {
    info: ModelInfo,
    placement: Placement,
    step: Duration,
}

impl LoadedModel for FakeModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn placement(&self) -> &Placement {
        &self.placement
    }
    fn tokenize(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        if parse_special && text == "<|im_start|>" {
            return Ok(vec![3]);
        }
        let mut ids: Vec<u32> = Vec::new();
        if add_bos {
            ids.push(1);
        }
        ids.extend(text.bytes().map(|b| u32::from(b) + 10));
        Ok(ids)
    }
    fn detokenize(&self, tokens: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for &t in tokens {
            match t {
                1 => {}
                t if (10..266).contains(&t) => bytes.push((t - 10) as u8),
                t => {
                    return Err(Error::Tokenize(format!(
                        "token id {t} is outside the vocabulary"
                    )))
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
    fn generate(
        &self,
        _request: &GenerateRequest,
        _sink: &mut dyn FnMut(GenerateEvent) -> Flow,
    ) -> Result<GenerateSummary> {
        Err(Error::Inference("the fake model only serves".into()))
    }
    fn serve(self: Arc<Self>, options: &ServeOptions) -> Result<Arc<dyn Scheduler>> {
        Ok(FakeScheduler::start(
            self.clone(),
            options.clone(),
            self.step,
        ))
    }
}

struct Pending {
    request: GenerateRequest,
    sink: Box<dyn GenerationSink>,
    prompt: Vec<u32>,
}

struct Active {
    pending: Pending,
    slot: usize,
    produced: usize,
    text: String,
    cached: usize,
    started: Instant,
    prompt_done: Instant,
    /// The stop string that ended it.
    stop: Option<String>,
}

struct State {
    queue: VecDeque<Pending>,
    active: Vec<Active>,
    slot_cache: Vec<Vec<u32>>,
    free: Vec<usize>,
    shutdown: bool,
    stats: SchedulerStats,
}

/// The fake continuous-batching scheduler.
pub struct FakeScheduler {
    model: Arc<FakeModel>,
    options: ServeOptions,
    ctx: u32,
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl FakeScheduler {
    fn start(model: Arc<FakeModel>, options: ServeOptions, step: Duration) -> Arc<Self> {
        let ctx = options.ctx_per_sequence.unwrap_or(model.info.n_ctx);
        let state = Arc::new((
            Mutex::new(State {
                queue: VecDeque::new(),
                active: Vec::new(),
                slot_cache: vec![Vec::new(); options.parallel as usize],
                free: (0..options.parallel as usize).rev().collect(),
                shutdown: false,
                stats: SchedulerStats {
                    slots: options.parallel,
                    max_queue: options.max_queue,
                    ctx_per_sequence: ctx,
                    ..Default::default()
                },
            }),
            Condvar::new(),
        ));
        let s = state.clone();
        let thread = std::thread::spawn(move || run(s, step));
        Arc::new(FakeScheduler {
            model,
            options,
            ctx,
            state,
            thread: Mutex::new(Some(thread)),
        })
    }
}

fn summary(a: &Active, reason: FinishReason) -> GenerateSummary {
    GenerateSummary {
        finish_reason: reason,
        prompt_tokens: a.pending.prompt.len(),
        cached_tokens: a.cached,
        completion_tokens: a.produced,
        prompt_seconds: a.prompt_done.duration_since(a.started).as_secs_f64(),
        decode_seconds: a.prompt_done.elapsed().as_secs_f64(),
        seed: a.pending.request.sampling.seed.unwrap_or(42),
        stop: a.stop.clone(),
        reasoning_tokens: 0,
    }
}

fn run(state: Arc<(Mutex<State>, Condvar)>, step: Duration) {
    let (lock, cv) = &*state;
    loop {
        let mut st = lock.lock().unwrap();
        if st.shutdown {
            let model = "fake".to_string();
            for mut p in st.queue.drain(..).collect::<Vec<_>>() {
                p.sink.finish(Err(Error::Unloaded {
                    model: model.clone(),
                }));
            }
            for mut a in st.active.drain(..).collect::<Vec<_>>() {
                a.pending.sink.finish(Err(Error::Unloaded {
                    model: model.clone(),
                }));
            }
            return;
        }
        // Cancelled while queued.
        let mut i = 0;
        while i < st.queue.len() {
            if st.queue[i].sink.is_cancelled() {
                let mut p = st.queue.remove(i).unwrap();
                p.sink.finish(Ok(GenerateSummary {
                    finish_reason: FinishReason::Cancelled,
                    prompt_tokens: p.prompt.len(),
                    cached_tokens: 0,
                    completion_tokens: 0,
                    prompt_seconds: 0.0,
                    decode_seconds: 0.0,
                    seed: 0,
                    stop: None,
                    reasoning_tokens: 0,
                }));
                st.stats.finished += 1;
            } else {
                i += 1;
            }
        }
        // Admit.
        while !st.queue.is_empty() && !st.free.is_empty() {
            let mut p = st.queue.pop_front().unwrap();
            let slot = st.free.pop().unwrap();
            let cache = &st.slot_cache[slot];
            let common = cache
                .iter()
                .zip(&p.prompt)
                .take_while(|(a, b)| a == b)
                .count()
                .min(p.prompt.len().saturating_sub(1));
            st.slot_cache[slot] = p.prompt.clone();
            st.stats.prompt_tokens_cached += common as u64;
            st.stats.prompt_tokens_evaluated += (p.prompt.len() - common) as u64;
            let started = Instant::now();
            p.sink.event(GenerateEvent::PromptDone {
                prompt_tokens: p.prompt.len(),
                cached_tokens: common,
            });
            st.active.push(Active {
                pending: p,
                slot,
                produced: 0,
                text: String::new(),
                cached: common,
                started,
                prompt_done: Instant::now(),
                stop: None,
            });
        }
        // One token each.
        let mut finished: Vec<(usize, FinishReason)> = Vec::new();
        let mut generated = 0u64;
        let mut active = std::mem::take(&mut st.active);
        for (idx, a) in active.iter_mut().enumerate() {
            if a.pending.sink.is_cancelled() {
                finished.push((idx, FinishReason::Cancelled));
                continue;
            }
            let prompt = String::from_utf8_lossy(
                &a.pending
                    .prompt
                    .iter()
                    .filter(|&&t| t >= 10)
                    .map(|&t| (t - 10) as u8)
                    .collect::<Vec<u8>>(),
            )
            .into_owned();
            let Some(piece) = script(&prompt, a.produced) else {
                finished.push((idx, FinishReason::Stop));
                continue;
            };
            a.produced += 1;
            generated += 1;
            let before = a.text.len();
            a.text.push_str(&piece);
            if let Some((stop_at, stop)) = a
                .pending
                .request
                .stop
                .iter()
                .filter_map(|s| a.text.find(s.as_str()).map(|at| (at, s)))
                .min_by_key(|(at, _)| *at)
            {
                a.stop = Some(stop.clone());
                if stop_at > before {
                    a.pending
                        .sink
                        .event(GenerateEvent::Text(a.text[before..stop_at].to_string()));
                }
                finished.push((idx, FinishReason::Stop));
                continue;
            }
            if let Some(n) = a.pending.request.logprobs {
                a.pending.sink.event(GenerateEvent::Token(TokenLogprob {
                    text: piece.clone(),
                    bytes: piece.as_bytes().to_vec(),
                    logprob: -0.5,
                    top: (0..n)
                        .map(|k| TopLogprob {
                            text: format!("alt{k}"),
                            bytes: format!("alt{k}").into_bytes(),
                            logprob: -1.0 - k as f32,
                        })
                        .collect(),
                }));
            }
            if a.pending.sink.event(GenerateEvent::Text(piece)) == Flow::Stop {
                finished.push((idx, FinishReason::Cancelled));
                continue;
            }
            if a.produced >= a.pending.request.max_tokens as usize {
                finished.push((idx, FinishReason::Length));
            }
        }
        st.stats.generated_tokens += generated;
        for (idx, reason) in finished.into_iter().rev() {
            let mut a = active.remove(idx);
            let s = summary(&a, reason);
            a.pending.sink.finish(Ok(s));
            st.free.push(a.slot);
            st.stats.finished += 1;
        }
        st.active = active;
        st.stats.busy_slots = st.active.len() as u32;
        st.stats.queued = st.queue.len();
        st.stats.steps += 1;
        if st.active.is_empty() && st.queue.is_empty() {
            let _ = cv.wait_timeout(st, Duration::from_millis(20)).unwrap();
        } else {
            drop(st);
            std::thread::sleep(step);
        }
    }
}

impl Scheduler for FakeScheduler {
    fn submit(&self, mut request: GenerateRequest, sink: Box<dyn GenerationSink>) -> Result<()> {
        let mut prompt = request.prefix_tokens.clone();
        prompt.extend(self.model.tokenize(
            &request.prompt,
            request.add_bos && prompt.is_empty(),
            request.parse_special,
        )?);
        if prompt.is_empty() {
            return Err(Error::InvalidOption("the prompt is empty".into()));
        }
        let n_ctx = self.ctx as usize;
        if request.truncate {
            let keep = request.keep_tokens as usize;
            shimmy_core::prompt::truncate_to_context(&mut prompt, n_ctx, keep);
        }
        if prompt.len() >= n_ctx {
            return Err(Error::PromptTooLong {
                prompt_tokens: prompt.len(),
                n_ctx,
            });
        }
        let total = prompt.len() + request.max_tokens as usize;
        if total > n_ctx {
            // The fake keeps no KV cache, so a shifting request just stops at the context.
            if request.fit_context || request.shift {
                request.max_tokens = (n_ctx - prompt.len()) as u32;
            } else {
                return Err(Error::ContextExceeded {
                    prompt_tokens: prompt.len(),
                    max_tokens: request.max_tokens as usize,
                    total,
                    n_ctx,
                });
            }
        }
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap();
        if st.shutdown {
            return Err(Error::Unloaded {
                model: self.options.name.clone(),
            });
        }
        if st.free.is_empty() && st.queue.len() >= self.options.max_queue {
            return Err(Error::QueueFull {
                queued: st.queue.len(),
                max_queue: self.options.max_queue,
            });
        }
        st.queue.push_back(Pending {
            request,
            sink,
            prompt,
        });
        st.stats.queued = st.queue.len();
        cv.notify_all();
        Ok(())
    }

    fn stats(&self) -> SchedulerStats {
        self.state.0.lock().unwrap().stats.clone()
    }

    fn shutdown(&self) {
        self.state.0.lock().unwrap().shutdown = true;
        self.state.1.notify_all();
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
    }
}
