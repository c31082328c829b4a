//! `shimmy-host bench-serve`: starts the server in-process on a loopback port and measures it
//! over real HTTP with concurrent streaming clients (aggregate decode tokens/s, time to first
//! token p50/p95), then compares one client through HTTP with the same generation run
//! directly against the backend (its scheduler, and `LoadedModel::generate`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};
use shimmy_core::backend::{Flow, GenerateRequest, SamplingOptions};
use shimmy_core::serving::Scheduler;
use shimmy_engine::sink::{ChannelSink, Message};
use shimmy_engine::KeepAlive;
use shimmy_server::{Server, ServerConfig};

use super::setup::{engine_config, prepare, start_engine};
use super::Context;
use crate::cli::BenchServeArgs;

/// One streaming request as a client saw it.
#[derive(Debug, Clone, Copy)]
struct StreamTiming {
    /// Request sent → first text.
    ttft: Duration,
    /// First text → last text.
    decode: Duration,
    /// Completion tokens (from `usage`).
    tokens: u64,
    /// Request sent → stream done.
    total: Duration,
}

impl StreamTiming {
    fn decode_rate(&self) -> f64 {
        rate(self.tokens.saturating_sub(1), self.decode)
    }
}

fn rate(tokens: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        tokens as f64 / d.as_secs_f64()
    }
}

fn prompt_for(client: usize) -> String {
    format!(
        "<|im_start|>user\nClient {client}: tell me a long story about the sea and the ships.<|im_end|>\n<|im_start|>assistant\n"
    )
}

fn request_body(model: &str, client: usize, tokens: u32) -> Value {
    json!({
        "model": model,
        "prompt": prompt_for(client),
        "max_tokens": tokens,
        "temperature": 0,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
}

/// Runs one streaming `/v1/completions` request and times it.
async fn one_stream(http: reqwest::Client, url: String, body: Value) -> Result<StreamTiming> {
    let sent = Instant::now();
    let response = http.post(&url).json(&body).send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!("{status}: {}", response.text().await.unwrap_or_default());
    }
    let mut stream = response.bytes_stream();
    let mut buffer = Vec::new();
    let (mut first, mut last, mut tokens) = (None, None, 0u64);
    while let Some(chunk) = stream.next().await {
        buffer.extend_from_slice(&chunk?);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            let Some(data) = text.trim().strip_prefix("data: ") else {
                continue;
            };
            if data == "[DONE]" {
                continue;
            }
            // Only the usage and error chunks are parsed: the client shares the cores with
            // the server, so it stays cheap.
            if data.contains("\"error\"") || data.contains("\"usage\":{") {
                let v: Value = serde_json::from_str(data).context("a stream chunk is not JSON")?;
                if let Some(e) = v.get("error") {
                    bail!("error in stream: {e}");
                }
                if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                    tokens = n;
                }
            } else if data.contains("\"text\":\"") && !data.contains("\"text\":\"\"") {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
            }
        }
    }
    let total = sent.elapsed();
    // A one-token answer may be a partial character, streamed as no text at all.
    let first = first.unwrap_or_else(Instant::now);
    Ok(StreamTiming {
        ttft: first - sent,
        decode: last.unwrap_or(first) - first,
        tokens,
        total,
    })
}

/// One round's figures.
#[derive(Debug, Clone)]
struct Round {
    clients: usize,
    tokens: u64,
    wall: Duration,
    aggregate: f64,
    per_stream: f64,
    ttft_p50: Duration,
    ttft_p95: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn round(
    http: &reqwest::Client,
    url: &str,
    model: &str,
    clients: usize,
    tokens: u32,
) -> Result<Round> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(one_stream(
                http.clone(),
                url.to_string(),
                request_body(model, i, tokens),
            ))
        })
        .collect();
    let mut timings = Vec::new();
    for t in tasks {
        timings.push(t.await.context("a client task failed")??);
    }
    let wall = started.elapsed();
    let total_tokens: u64 = timings.iter().map(|t| t.tokens).sum();
    let mut ttfts: Vec<Duration> = timings.iter().map(|t| t.ttft).collect();
    ttfts.sort();
    let longest = timings.iter().map(|t| t.total).max().unwrap_or(wall);
    Ok(Round {
        clients,
        tokens: total_tokens,
        wall: longest,
        aggregate: rate(total_tokens, longest),
        per_stream: timings.iter().map(StreamTiming::decode_rate).sum::<f64>()
            / clients.max(1) as f64,
        ttft_p50: percentile(&ttfts, 50.0),
        ttft_p95: percentile(&ttfts, 95.0),
    })
}

/// Times the single-client comparison is repeated (the median is reported).
const SINGLE_REPEATS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The generation the single-client comparison runs: client 0's prompt, greedy, `n` tokens.
fn direct_request(n: u32) -> GenerateRequest {
    GenerateRequest {
        max_tokens: n,
        sampling: SamplingOptions {
            temperature: 0.0,
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(prompt_for(0))
    }
}

/// Runs `request` on the scheduler without HTTP; the wall time until it finished.
async fn scheduler_run(
    scheduler: &Arc<dyn Scheduler>,
    request: GenerateRequest,
) -> Result<Duration> {
    let started = Instant::now();
    let (sink, mut rx) = ChannelSink::new();
    let scheduler = scheduler.clone();
    tokio::task::spawn_blocking(move || scheduler.submit(request, Box::new(sink))).await??;
    while let Some(m) = rx.recv().await {
        if let Message::Finish(r) = m {
            r?;
            return Ok(started.elapsed());
        }
    }
    bail!("the scheduler dropped the request")
}

/// Runs the benchmark and prints the figures.
pub fn run(ctx: &Context, args: BenchServeArgs) -> Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs positive numbers, e.g. 1,4,8,16");
    }
    if args.gen_tokens == 0 {
        bail!("--gen-tokens must be at least 1");
    }
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    let parts = prepare(ctx, std::slice::from_ref(&args.model))?;
    let Some(entry) = parts.catalog.models.first().cloned() else {
        bail!("{}: not usable: {:?}", args.model, parts.catalog.skipped);
    };
    let parallel = args.parallel.unwrap_or(max_clients as u32);
    let mut model_args = args.model_args.clone();
    model_args.ctx_size.get_or_insert(512);
    let mut config = engine_config(
        &model_args,
        parallel,
        max_clients * 2,
        parts.operator_templates.clone(),
    )?;
    config.keep_alive = KeepAlive::Forever;
    let ctx_size = config.ctx_per_sequence.unwrap_or(512);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let gen = args.gen_tokens;
    let name = entry.name.clone();
    let (rounds, single) = runtime.block_on(async move {
        let engine = start_engine(parts, config);
        let server = Server::bind("127.0.0.1:0", engine.clone(), ServerConfig::default()).await?;
        let url = format!("http://{}/v1/completions", server.local_addr());
        let serving = tokio::spawn(server.run(std::future::pending()));
        engine.models().preload(std::slice::from_ref(&name)).await?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        // Warm-up.
        one_stream(http.clone(), url.clone(), request_body(&name, 999, 8)).await?;
        let mut rounds = Vec::new();
        for &clients in &args.clients {
            eprintln!("round: {clients} clients x {gen} tokens...");
            rounds.push(round(&http, &url, &name, clients, gen).await?);
        }
        // One client: HTTP, the scheduler directly, LoadedModel::generate directly. Each
        // decode rate is (N - 1) / (T(N) - T(1)) over whole requests (same prompt, cached), so
        // neither prompt time nor how the stream's chunks happen to be delivered counts.
        let loaded = engine
            .models()
            .loaded(&name)
            .context("the model was unloaded")?;
        // Each mode runs its repeats back to back: alternating them makes llama.cpp's
        // spinning OpenMP teams of different threads compete for the cores.
        let decode = |t: [Duration; 2]| rate(u64::from(gen - 1), t[1].saturating_sub(t[0]));
        let mut rates = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SINGLE_REPEATS {
            let mut t = [Duration::ZERO; 2];
            for (k, n) in [1, gen].into_iter().enumerate() {
                t[k] = one_stream(http.clone(), url.clone(), request_body(&name, 0, n))
                    .await?
                    .total;
            }
            rates.0.push(decode(t));
        }
        for _ in 0..SINGLE_REPEATS {
            let mut t = [Duration::ZERO; 2];
            for (k, n) in [1, gen].into_iter().enumerate() {
                t[k] = scheduler_run(&loaded.scheduler, direct_request(n)).await?;
            }
            rates.1.push(decode(t));
        }
        for _ in 0..SINGLE_REPEATS {
            let mut t = [Duration::ZERO; 2];
            for (k, n) in [1, gen].into_iter().enumerate() {
                let model = loaded.model.clone();
                t[k] = tokio::task::spawn_blocking(move || -> Result<Duration> {
                    let started = Instant::now();
                    model.generate(&direct_request(n), &mut |_| Flow::Continue)?;
                    Ok(started.elapsed())
                })
                .await??;
            }
            rates.2.push(decode(t));
        }
        let (direct_scheduler, direct_generate) = (median(rates.1), median(rates.2));
        let http_single = median(rates.0);
        drop(loaded);
        serving.abort();
        Ok::<_, anyhow::Error>((rounds, (http_single, direct_scheduler, direct_generate)))
    })?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (http, scheduler, generate) = single;
    if args.json {
        let out = json!({
            "model": entry.name,
            "architecture": entry.architecture,
            "size_bytes": entry.size_bytes,
            "gen_tokens": gen,
            "parallel": parallel,
            "ctx_per_slot": ctx_size,
            "cores": cores,
            "rounds": rounds.iter().map(|r| json!({
                "clients": r.clients,
                "tokens": r.tokens,
                "wall_seconds": r.wall.as_secs_f64(),
                "aggregate_tokens_per_second": r.aggregate,
                "per_stream_tokens_per_second": r.per_stream,
                "ttft_p50_ms": r.ttft_p50.as_secs_f64() * 1e3,
                "ttft_p95_ms": r.ttft_p95.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
            "single_client_decode_tokens_per_second": {
                "http": http,
                "scheduler_direct": scheduler,
                "generate_direct": generate,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "bench-serve: {} ({}, {}), {gen} tokens per client, {parallel} slots, {ctx_size} tokens of context per slot, {cores} cores",
        entry.name,
        entry.architecture,
        shimmy_core::placement::format_bytes(entry.size_bytes)
    );
    println!(
        "{:>7}  {:>12}  {:>16}  {:>10}  {:>10}  {:>8}",
        "clients", "agg tok/s", "per-stream tok/s", "TTFT p50", "TTFT p95", "wall"
    );
    for r in &rounds {
        println!(
            "{:>7}  {:>12.1}  {:>16.1}  {:>8.1}ms  {:>8.1}ms  {:>7.2}s",
            r.clients,
            r.aggregate,
            r.per_stream,
            r.ttft_p50.as_secs_f64() * 1e3,
            r.ttft_p95.as_secs_f64() * 1e3,
            r.wall.as_secs_f64()
        );
    }
    println!(
        "single client decode: HTTP {http:.1} tok/s | scheduler direct {scheduler:.1} tok/s | LoadedModel::generate {generate:.1} tok/s"
    );
    if scheduler > 0.0 {
        println!(
            "HTTP vs scheduler direct: {:+.1}%",
            (http / scheduler - 1.0) * 100.0
        );
    }
    Ok(())
}
