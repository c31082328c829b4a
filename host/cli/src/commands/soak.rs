//! `shimmy-host soak`: serves one model in-process on a loopback port and keeps N clients
//! busy for a while, a share of them hanging up mid-request, then reports what happened:
//! requests by route and outcome, HTTP statuses, streams that ended without their last
//! event, the scheduler's own count of finished requests, the slots free once the clients
//! stop, and the process RSS at the start, at its highest and at the end.
//!
//! Each client loops over four kinds of request (streaming and non-streaming OpenAI chat,
//! streaming Ollama chat, streaming OpenAI completion) with `max_tokens` drawn between 8 and
//! `--gen-tokens`; with probability `--disconnect-ratio` it hangs up: a stream after its first
//! chunk, a non-streaming request after 20 to 200 ms. The draws are seeded (`--seed`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use shimmy_engine::{Engine, KeepAlive};
use shimmy_server::{Server, ServerConfig};

use super::bench::host_rss;
use super::setup::{engine_config, prepare, start_engine};
use super::Context;
use crate::cli::SoakArgs;

/// The kinds of request a client sends, in turn.
const KINDS: [&str; 4] = [
    "chat-stream",
    "chat",
    "ollama-chat-stream",
    "completion-stream",
];

/// How one request ended, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// The whole answer arrived (streams: up to their last event).
    Complete,
    /// The client hung up on purpose.
    HungUp,
    /// An error status.
    Refused,
    /// A stream that ended without its last event, or a body that is not the answer.
    Broken,
    /// No response (connection refused, reset...).
    Transport,
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// (kind, outcome) → count.
    outcomes: BTreeMap<(&'static str, Outcome), u64>,
    /// HTTP status → count (requests that got headers).
    statuses: BTreeMap<u16, u64>,
    /// A few examples of failures, for the report.
    examples: Vec<String>,
}

impl Tally {
    fn add(
        &mut self,
        kind: &'static str,
        outcome: Outcome,
        status: Option<u16>,
        note: Option<String>,
    ) {
        *self.outcomes.entry((kind, outcome)).or_default() += 1;
        if let Some(s) = status {
            *self.statuses.entry(s).or_default() += 1;
        }
        if let Some(n) = note {
            if self.examples.len() < 5 {
                self.examples.push(n);
            }
        }
    }

    /// `{kind: {outcome: count}}`.
    fn by_kind(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        let mut out: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
        for ((kind, outcome), n) in &self.outcomes {
            out.entry(kind)
                .or_default()
                .insert(format!("{outcome:?}").to_lowercase(), *n);
        }
        out
    }

    fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes
            .iter()
            .filter(|((_, o), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The request of `kind` for `model`.
fn request(kind: &str, model: &str, client: usize, max_tokens: u32) -> (&'static str, Value) {
    let text = format!("Client {client}: tell me about the sea and the ships.");
    let messages = json!([{"role": "user", "content": text}]);
    match kind {
        "chat-stream" => (
            "/v1/chat/completions",
            json!({"model": model, "messages": messages, "max_tokens": max_tokens, "stream": true}),
        ),
        "chat" => (
            "/v1/chat/completions",
            json!({"model": model, "messages": messages, "max_tokens": max_tokens}),
        ),
        "ollama-chat-stream" => (
            "/api/chat",
            json!({"model": model, "messages": messages, "stream": true,
                   "options": {"num_predict": max_tokens}}),
        ),
        _ => (
            "/v1/completions",
            json!({"model": model, "prompt": text, "max_tokens": max_tokens, "stream": true}),
        ),
    }
}

/// Whether a streamed body ended with its last event: `data: [DONE]` (SSE) or a line with
/// `"done":true` (NDJSON).
fn stream_finished(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end();
    text.ends_with("data: [DONE]")
        || text
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"done\":true"))
}

/// Sends one request; `hang_up` makes the client leave early.
async fn one(
    http: &reqwest::Client,
    base: &str,
    kind: &'static str,
    body: Value,
    path: &str,
    hang_up: Option<Duration>,
) -> (Outcome, Option<u16>, Option<String>) {
    let streaming = body["stream"] == json!(true);
    let send = http.post(format!("{base}{path}")).json(&body).send();
    let response = if streaming || hang_up.is_none() {
        send.await
    } else {
        // A non-streaming client that leaves before the answer.
        match tokio::time::timeout(hang_up.unwrap_or_default(), send).await {
            Ok(r) => r,
            Err(_) => return (Outcome::HungUp, None, None),
        }
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => return (Outcome::Transport, None, Some(format!("{kind}: {e}"))),
    };
    let status = response.status().as_u16();
    if status != 200 {
        let text = response.text().await.unwrap_or_default();
        return (
            Outcome::Refused,
            Some(status),
            Some(format!("{kind}: {status} {text}")),
        );
    }
    if !streaming {
        let v: Value = match response.json().await {
            Ok(v) => v,
            Err(e) => return (Outcome::Broken, Some(status), Some(format!("{kind}: {e}"))),
        };
        return if v["usage"]["completion_tokens"].is_u64() {
            (Outcome::Complete, Some(status), None)
        } else {
            (Outcome::Broken, Some(status), Some(format!("{kind}: {v}")))
        };
    }
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => body.extend_from_slice(&c),
            Err(e) => return (Outcome::Broken, Some(status), Some(format!("{kind}: {e}"))),
        }
        if hang_up.is_some() {
            // Dropping the stream closes the connection.
            return (Outcome::HungUp, Some(status), None);
        }
    }
    if stream_finished(&body) {
        (Outcome::Complete, Some(status), None)
    } else {
        let tail = String::from_utf8_lossy(&body[body.len().saturating_sub(200)..]).into_owned();
        (
            Outcome::Broken,
            Some(status),
            Some(format!("{kind}: unfinished stream ...{tail}")),
        )
    }
}

/// What every client shares.
struct Run {
    http: reqwest::Client,
    base: String,
    model: String,
    settings: Settings,
    until: Instant,
    tally: Mutex<Tally>,
    sent: AtomicU64,
}

/// Client `index`: requests until the run's end.
async fn client(run: Arc<Run>, index: usize) {
    let args = run.settings;
    let mut rng =
        StdRng::seed_from_u64(args.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut turn = index;
    while Instant::now() < run.until {
        let kind = KINDS[turn % KINDS.len()];
        turn += 1;
        let max_tokens = rng.gen_range(8..=args.gen_tokens.max(8));
        let hang_up = (rng.gen::<f64>() < args.disconnect_ratio)
            .then(|| Duration::from_millis(rng.gen_range(20..=200)));
        let (path, body) = request(kind, &run.model, index, max_tokens);
        run.sent.fetch_add(1, Ordering::Relaxed);
        let (outcome, status, note) = one(&run.http, &run.base, kind, body, path, hang_up).await;
        run.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(kind, outcome, status, note);
    }
}

/// The parsed flags the clients use.
#[derive(Debug, Clone, Copy)]
struct Settings {
    gen_tokens: u32,
    disconnect_ratio: f64,
    seed: u64,
}

/// Busy slots and waiting requests of every loaded model.
fn load_of(engine: &Engine) -> (u32, u32, usize, u64) {
    let (mut slots, mut busy, mut queued, mut finished) = (0, 0, 0, 0);
    for m in engine.models().status() {
        if let Some(s) = m.scheduler {
            slots += s.slots;
            busy += s.busy_slots;
            queued += s.queued;
            finished += s.finished;
        }
    }
    (slots, busy, queued, finished)
}

/// Runs the soak and prints the figures.
pub fn run(ctx: &Context, args: SoakArgs) -> Result<()> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.disconnect_ratio) {
        bail!("--disconnect-ratio must be between 0 and 1, e.g. 0.2");
    }
    if args.gen_tokens < 8 {
        bail!("--gen-tokens must be at least 8");
    }
    let duration: Duration = args.duration.into();
    let parts = prepare(ctx, std::slice::from_ref(&args.model))?;
    let Some(entry) = parts.catalog.models.first().cloned() else {
        bail!("{}: not usable: {:?}", args.model, parts.catalog.skipped);
    };
    let parallel = args.parallel.unwrap_or(args.clients.min(8) as u32);
    let mut model_args = args.model_args.clone();
    model_args.ctx_size.get_or_insert(512);
    let mut config = engine_config(
        &model_args,
        parallel,
        args.clients * 2,
        parts.operator_templates.clone(),
    )?;
    config.keep_alive = KeepAlive::Forever;
    let settings = Settings {
        gen_tokens: args.gen_tokens,
        disconnect_ratio: args.disconnect_ratio,
        seed: args.seed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let name = entry.name.clone();
    let clients = args.clients;
    let report = runtime.block_on(async move {
        let engine = start_engine(parts, config);
        let server = Server::bind("127.0.0.1:0", engine.clone(), ServerConfig::default()).await?;
        let base = format!("http://{}", server.local_addr());
        let serving = tokio::spawn(server.run(std::future::pending()));
        engine.models().preload(std::slice::from_ref(&name)).await?;
        let http = reqwest::Client::builder().pool_max_idle_per_host(clients * 2).build()?;
        // Warm-up: one request of each kind.
        for kind in KINDS {
            let (path, body) = request(kind, &name, 0, 8);
            let (outcome, _, note) = one(&http, &base, kind, body, path, None).await;
            if outcome != Outcome::Complete {
                bail!("warm-up {kind} failed: {}", note.unwrap_or_default());
            }
        }
        let (_, _, _, finished_before) = load_of(&engine);
        let rss_start = host_rss();
        let rss_peak = Arc::new(AtomicU64::new(rss_start));
        let started = Instant::now();
        let run = Arc::new(Run {
            http: http.clone(),
            base: base.clone(),
            model: name.clone(),
            settings,
            until: started + duration,
            tally: Mutex::new(Tally::default()),
            sent: AtomicU64::new(0),
        });
        let sampler = {
            let peak = rss_peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(host_rss(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        };
        eprintln!("soak: {clients} clients for {} ...", humantime::format_duration(duration));
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(run.clone(), i)))
            .collect();
        for t in tasks {
            t.await.context("a client task failed")?;
        }
        let wall = started.elapsed();
        // The slots of the clients that hung up last free up within a step or two.
        let drain = Instant::now();
        let mut load = load_of(&engine);
        while (load.1 > 0 || load.2 > 0) && drain.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            load = load_of(&engine);
        }
        let drained = drain.elapsed();
        sampler.abort();
        let rss_end = host_rss();
        let (slots, busy, queued, finished_after) = load;
        serving.abort();
        let tally = std::mem::take(&mut *run.tally.lock().unwrap_or_else(|e| e.into_inner()));
        Ok::<_, anyhow::Error>(json!({
            "model": name,
            "clients": clients,
            "parallel": parallel,
            "disconnect_ratio": settings.disconnect_ratio,
            "duration_seconds": wall.as_secs_f64(),
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "requests": run.sent.load(Ordering::Relaxed),
            "complete": tally.count(Outcome::Complete),
            "hung_up": tally.count(Outcome::HungUp),
            "refused": tally.count(Outcome::Refused),
            "broken": tally.count(Outcome::Broken),
            "transport_errors": tally.count(Outcome::Transport),
            "by_kind": tally.by_kind(),
            "statuses": tally.statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect::<BTreeMap<_, _>>(),
            "scheduler_finished": finished_after - finished_before,
            "slots": slots,
            "slots_free_at_end": slots - busy,
            "queued_at_end": queued,
            "drain_ms": drained.as_secs_f64() * 1e3,
            "rss_start_bytes": rss_start,
            "rss_peak_bytes": rss_peak.load(Ordering::Relaxed),
            "rss_end_bytes": rss_end,
            "examples": tally.examples,
        }))
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let broken =
        report["broken"].as_u64().unwrap_or(0) + report["transport_errors"].as_u64().unwrap_or(0);
    if broken > 0 || report["slots_free_at_end"] != report["slots"] {
        bail!("the soak lost requests or left slots busy (see above)");
    }
    Ok(())
}

fn print_report(r: &Value) {
    let mib = |v: &Value| v.as_u64().unwrap_or(0) as f64 / (1024.0 * 1024.0);
    println!(
        "soak: {} ({} slots), {} clients, {:.0} % hang up, {:.1} s, {} cores",
        r["model"].as_str().unwrap_or_default(),
        r["parallel"],
        r["clients"],
        r["disconnect_ratio"].as_f64().unwrap_or(0.0) * 100.0,
        r["duration_seconds"].as_f64().unwrap_or(0.0),
        r["cores"]
    );
    println!(
        "requests {}: complete {}, hung up {}, refused {}, broken {}, transport errors {}",
        r["requests"],
        r["complete"],
        r["hung_up"],
        r["refused"],
        r["broken"],
        r["transport_errors"]
    );
    if let Some(kinds) = r["by_kind"].as_object() {
        for (kind, outcomes) in kinds {
            println!("  {kind:<20} {outcomes}");
        }
    }
    println!("statuses: {}", r["statuses"]);
    println!("finished by the scheduler: {}", r["scheduler_finished"]);
    println!(
        "slots free at the end: {}/{} ({} queued) after {:.0} ms",
        r["slots_free_at_end"],
        r["slots"],
        r["queued_at_end"],
        r["drain_ms"].as_f64().unwrap_or(0.0)
    );
    println!(
        "RSS: start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB ({:+.1} MiB)",
        mib(&r["rss_start_bytes"]),
        mib(&r["rss_peak_bytes"]),
        mib(&r["rss_end_bytes"]),
        mib(&r["rss_end_bytes"]) - mib(&r["rss_start_bytes"])
    );
    if let Some(examples) = r["examples"].as_array().filter(|e| !e.is_empty()) {
        println!("examples of failures:");
        for e in examples {
            println!("  {}", e.as_str().unwrap_or_default());
        }
    }
}
