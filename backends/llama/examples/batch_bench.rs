//! Aggregate decode throughput of the continuous-batching scheduler with 1, 4 and 8 concurrent
//! requests, against the single-request path, on a test-kit model (random weights, greedy).
//!
//! ```text
//! cargo run -p shimmy-backend-llama --example batch_bench [-- TOKENS [THREADS]]
//! ```
//!
//! Prints figures only; nothing is asserted.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use shimmy_backend_llama::LlamaEngine;
use shimmy_core::backend::{
    Backend, Flow, GenerateEvent, GenerateRequest, GenerateSummary, LoadedModel, ModelOptions,
    SamplingOptions,
};
use shimmy_core::serving::{GenerationSink, ServeOptions};
use shimmy_testkit::{cached_model, ModelSpec, WeightType};

/// Sends the summary (or error) of one request to the benchmark.
struct Done(mpsc::Sender<shimmy_core::Result<GenerateSummary>>);

impl GenerationSink for Done {
    fn event(&mut self, _event: GenerateEvent) -> Flow {
        Flow::Continue
    }

    fn is_cancelled(&self) -> bool {
        false
    }

    fn finish(&mut self, outcome: shimmy_core::Result<GenerateSummary>) {
        let _ = self.0.send(outcome);
    }
}

fn request(i: usize, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        max_tokens,
        sampling: SamplingOptions {
            temperature: 0.0,
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(format!("Request number {i}: tell me a story about ships"))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let max_tokens: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let threads: Option<u32> = args.next().map(|a| a.parse()).transpose()?;

    // A mid-sized dense model: big enough that a decode is dominated by the weights.
    let spec = ModelSpec {
        n_layer: 8,
        n_embd: 512,
        n_ff: 1536,
        n_head: 8,
        n_head_kv: 4,
        name: "shimmy-bench-dense".into(),
        ..ModelSpec::dense()
    }
    .with_weight_type(WeightType::Q8_0);
    let file = cached_model(&spec)?;
    let engine = LlamaEngine::new(None)?;
    let options = ModelOptions {
        ctx_size: Some(512),
        threads,
        ..ModelOptions::default()
    };
    let model: Arc<dyn LoadedModel> = engine.load(&file.path, &options)?;
    println!(
        "model: {} ({} layers, n_embd {}, q8_0, {:.1} MB), {} tokens per request, {} CPU threads",
        file.path.display(),
        spec.n_layer,
        spec.n_embd,
        file.file_size as f64 / 1e6,
        max_tokens,
        threads.map_or_else(|| "default".to_string(), |t| t.to_string()),
    );

    // Single-request path, one after another.
    let n_single = 4;
    let started = Instant::now();
    let mut generated = 0;
    for i in 0..n_single {
        let summary = model.generate(&request(i, max_tokens), &mut |_| Flow::Continue)?;
        generated += summary.completion_tokens;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "single-request path, {n_single} in a row: {generated} tokens in {seconds:.2}s = {:.1} tok/s",
        generated as f64 / seconds
    );

    let scheduler = Arc::clone(&model).serve(&ServeOptions {
        parallel: 8,
        ctx_per_sequence: Some(512),
        max_queue: 64,
        prompt_chunk: 256,
        name: "bench".into(),
    })?;
    for concurrent in [1_usize, 4, 8] {
        let steps_before = scheduler.stats().steps;
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        for i in 0..concurrent {
            // Distinct prompts: no prompt-cache hits between rounds.
            let r = request(1000 * concurrent + i, max_tokens);
            scheduler.submit(r, Box::new(Done(tx.clone())))?;
        }
        drop(tx);
        let mut generated = 0;
        for outcome in rx {
            generated += outcome?.completion_tokens;
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "scheduler, {concurrent} concurrent: {generated} tokens in {seconds:.2}s = {:.1} tok/s \
             aggregate ({} steps)",
            generated as f64 / seconds,
            scheduler.stats().steps - steps_before
        );
    }
    scheduler.shutdown();
    Ok(())
}
