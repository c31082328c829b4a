//! `shimmy-host generate`: one job on the engine, its text streamed to stdout.

use std::io::Write;

use anyhow::{bail, Context as _, Result};
use shimmy_core::backend::SamplingOptions;
use shimmy_core::placement::format_bytes;
use shimmy_engine::generation::{Delta, Input, Job, Update};
use shimmy_engine::KeepAlive;

use super::setup::{engine_config, prepare, start_engine};
use super::Context;
use crate::chat_file;
use crate::cli::GenerateArgs;

/// Loads the model (a spinner on a terminal), generates, prints the text as it comes and the
/// timings at the end.
///
/// A raw `--prompt` goes to the model as it is; `--chat` / `--user` are rendered by the
/// model's template plugin, whose stop strings end the answer and whose parser separates the
/// reasoning (printed to stderr) from the answer.
pub fn run(ctx: &Context, args: GenerateArgs) -> Result<()> {
    let messages = match (&args.chat, &args.user) {
        (Some(file), _) => {
            let mut messages = chat_file::read(file)?;
            if let Some(system) = &args.system {
                messages.insert(0, chat_file::one_turn(Some(system), "").remove(0));
            }
            Some(messages)
        }
        (None, Some(user)) => Some(chat_file::one_turn(args.system.as_deref(), user)),
        (None, None) => None,
    };
    let parts = prepare(ctx, std::slice::from_ref(&args.model))?;
    let Some(entry) = parts.catalog.models.first() else {
        match parts.catalog.skipped.first() {
            Some(skip) => bail!("{}", skip.reason),
            None => bail!("{}: no model found", args.model),
        }
    };
    let name = entry.name.clone();
    let mut config = engine_config(&args.model_args, 1, 1, parts.operator_templates.clone())?;
    config.keep_alive = KeepAlive::Forever;
    let input = match messages {
        Some(messages) => Input::Chat {
            messages,
            tools: Vec::new(),
            template: args.template.clone(),
            thinking: None,
        },
        None => Input::Raw {
            prompt: args.prompt.clone().unwrap_or_default(),
        },
    };
    let mut job = Job::new(Some(name.clone()), input);
    job.max_tokens = Some(args.max_tokens);
    job.fit_context = true;
    job.add_bos = !args.no_bos;
    job.stop = args.stop.clone();
    job.sampling = SamplingOptions {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        ..SamplingOptions::default()
    };
    let verbose = ctx.verbose > 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = start_engine(parts, config);
        let result = stream(&engine, job, &name, verbose).await;
        engine.models().shutdown().await;
        result
    })
}

/// Runs `job` and prints it: text to stdout as it comes, reasoning and timings to stderr.
async fn stream(
    engine: &std::sync::Arc<shimmy_engine::Engine>,
    job: Job,
    name: &str,
    verbose: bool,
) -> Result<()> {
    let (lease, _) = engine.models().acquire(name, None).await?;
    if verbose {
        eprintln!("{}", lease.model.placement());
    }
    drop(lease);
    let mut generation = engine.start(job, true).await?;
    if let (true, Some(choice)) = (verbose, &generation.prompt.template) {
        eprintln!("template: {} ({})", choice.name, choice.reason);
    }
    let rpc_before = rpc_traffic();
    let mut printer = Printer {
        out: std::io::stdout().lock(),
        closed: false,
    };
    let done = loop {
        match generation.next().await {
            Some(Ok(Update::Delta(delta))) => printer.print(&delta),
            Some(Ok(Update::Done(done))) => {
                printer.print(&done.rest);
                break done;
            }
            Some(Ok(Update::Prompt { .. })) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("the generation ended without a result"),
        }
        if printer.closed {
            // Dropping the generation cancels it.
            return Ok(());
        }
    };
    if !printer.closed {
        writeln!(printer.out)
            .and_then(|()| printer.out.flush())
            .context("writing to stdout")?;
    }
    let summary = &done.summary;
    eprintln!(
        "prompt: {} tokens, {:.1} tok/s | generated: {} tokens, {:.1} tok/s | finish: {} | seed: {}",
        summary.prompt_tokens,
        summary.prompt_tokens_per_second(),
        summary.completion_tokens,
        summary.decode_tokens_per_second(),
        serde_json::to_value(summary.finish_reason)?
            .as_str()
            .unwrap_or("?"),
        summary.seed,
    );
    // What the generation (prompt and tokens) cost on the wire, from the relays' counters.
    for ((endpoint, sent, received), (_, sent0, received0)) in rpc_traffic().iter().zip(&rpc_before)
    {
        let tokens = summary.completion_tokens.max(1) as u64;
        let (sent, received) = (sent - sent0, received - received0);
        eprintln!(
            "rpc {endpoint}: sent {}, received {} ({} and {} per generated token)",
            format_bytes(sent),
            format_bytes(received),
            format_bytes(sent / tokens),
            format_bytes(received / tokens)
        );
    }
    if verbose {
        if let Some(loaded) = engine.models().loaded(name) {
            for m in loaded.model.memory() {
                eprintln!(
                    "memory: {} weights {}, KV cache {}, compute {}",
                    m.device,
                    format_bytes(m.model),
                    format_bytes(m.kv_cache),
                    format_bytes(m.compute)
                );
            }
        }
    }
    Ok(())
}

/// Prints the answer to stdout as it streams (the reasoning to stderr).
struct Printer<W: Write> {
    out: W,
    /// stdout was closed (e.g. piped into `head`): nothing more is printed.
    closed: bool,
}

impl<W: Write> Printer<W> {
    fn print(&mut self, delta: &Delta) {
        if !delta.reasoning.is_empty() {
            eprint!("{}", delta.reasoning);
        }
        if self.closed || delta.content.is_empty() {
            return;
        }
        self.closed = self
            .out
            .write_all(delta.content.as_bytes())
            .and_then(|()| self.out.flush())
            .is_err();
    }
}

/// (worker, bytes sent, bytes received) of every `--rpc` worker so far.
fn rpc_traffic() -> Vec<(String, u64, u64)> {
    use std::sync::atomic::Ordering;
    shimmy_backend_llama::rpc::workers()
        .iter()
        .map(|w| {
            let t = w.traffic();
            (
                w.endpoint.clone(),
                t.sent.load(Ordering::Relaxed),
                t.received.load(Ordering::Relaxed),
            )
        })
        .collect()
}
