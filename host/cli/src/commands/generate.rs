//! `shimmy-host generate`: stream a completion to stdout.

use std::io::Write;

use anyhow::{Context as _, Result};
use shimmy_core::backend::{Flow, GenerateEvent, GenerateRequest, SamplingOptions};
use shimmy_core::placement::format_bytes;

use super::Context;
use crate::chat_file;
use crate::cli::GenerateArgs;
use crate::plugin_host::{model_name, Plugins};

/// Loads the model, generates, prints the text as it comes and the timings at the end.
///
/// A raw `--prompt` goes to the model as it is; `--chat` / `--user` are rendered by the
/// model's template plugin, whose stop strings end the answer.
pub fn run(ctx: &Context, args: GenerateArgs) -> Result<()> {
    let (_engine, model) = ctx.load(&args.model, &args.model_args)?;
    if ctx.verbose > 0 {
        eprintln!("{}", model.placement());
    }
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
    let (prompt, add_bos, mut stop, content_spans) = match messages {
        Some(messages) => {
            let plugins = Plugins::load(&ctx.plugins)?;
            let choice = plugins.choose_template(
                &model_name(&args.model),
                model.as_ref(),
                args.template.as_deref(),
            );
            let rendered = plugins.render(&choice, model.as_ref(), messages)?;
            if ctx.verbose > 0 {
                eprintln!("template: {} ({})", choice.name, choice.reason);
            }
            // Message content is tokenized as plain text (never as control tokens).
            let (prompt, content_spans) = shimmy_core::prompt::join(&rendered.spans);
            (
                prompt,
                rendered.add_bos && !args.no_bos,
                rendered.stop,
                content_spans,
            )
        }
        None => (
            args.prompt.unwrap_or_default(),
            !args.no_bos,
            Vec::new(),
            Vec::new(),
        ),
    };
    stop.extend(args.stop);
    let request = GenerateRequest {
        add_bos,
        content_spans,
        max_tokens: args.max_tokens,
        stop,
        sampling: SamplingOptions {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            seed: args.seed,
            ..SamplingOptions::default()
        },
        ..GenerateRequest::new(prompt)
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_error = None;
    let summary = model.generate(&request, &mut |event| match event {
        GenerateEvent::PromptDone { .. } | GenerateEvent::Token(_) => Flow::Continue,
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
    if ctx.verbose > 0 {
        for m in model.memory() {
            eprintln!(
                "memory: {} weights {}, KV cache {}, compute {}",
                m.device,
                format_bytes(m.model),
                format_bytes(m.kv_cache),
                format_bytes(m.compute)
            );
        }
    }
    Ok(())
}
