//! `shimmy-host generate`: stream a completion to stdout.

use std::io::Write;

use anyhow::{Context as _, Result};
use shimmy_core::backend::{Flow, GenerateEvent, GenerateRequest, SamplingOptions};

use super::Context;
use crate::cli::GenerateArgs;

/// Loads the model, generates, prints the text as it comes and the timings at the end.
pub fn run(ctx: &Context, args: GenerateArgs) -> Result<()> {
    let (_engine, model) = ctx.load(&args.model, &args.model_args)?;
    if ctx.verbose > 0 {
        eprintln!("{}", model.placement());
    }
    let request = GenerateRequest {
        prompt: args.prompt,
        add_bos: !args.no_bos,
        parse_special: true,
        max_tokens: args.max_tokens,
        stop: args.stop,
        sampling: SamplingOptions {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            seed: args.seed,
            ..SamplingOptions::default()
        },
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let summary = model.generate(&request, &mut |event| match event {
        GenerateEvent::PromptDone { .. } => Flow::Continue,
        GenerateEvent::Text(text) => {
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => Flow::Continue,
                Err(err) => {
                    // stdout closed (e.g. piped into `head`): stop quietly.
                    write_error = Some(err);
                    Flow::Stop
                }
            }
        }
    })?;
    if write_error.is_none() {
        writeln!(out)
            .and_then(|()| out.flush())
            .context("writing to stdout")?;
    }
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
    Ok(())
}
