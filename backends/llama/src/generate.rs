//! One generation: feed the prompt in batch-sized chunks, then sample token by token.

use std::time::Instant;

use llama_cpp_2::llama_batch::LlamaBatch;
use shimmy_core::backend::{FinishReason, Flow, GenerateEvent, GenerateRequest, GenerateSummary};
use shimmy_core::stream::{StopMatcher, Utf8Decoder};
use shimmy_core::{Error, Result};

use crate::logging::explain;
use crate::model::LlamaLoaded;
use crate::sampler::TokenSampler;

/// Runs `request` on a fresh context of `loaded`, streaming text into `sink`.
pub fn run(
    loaded: &LlamaLoaded,
    request: &GenerateRequest,
    sink: &mut dyn FnMut(GenerateEvent) -> Flow,
) -> Result<GenerateSummary> {
    let started = Instant::now();
    let prompt = loaded.prompt_tokens(request)?;
    if prompt.is_empty() {
        return Err(Error::InvalidOption(
            "the prompt is empty; give some text to continue".into(),
        ));
    }
    let n_ctx = loaded.info.n_ctx as usize;
    if prompt.len() >= n_ctx {
        return Err(Error::PromptTooLong {
            prompt_tokens: prompt.len(),
            n_ctx,
        });
    }

    let n_batch = loaded.prompt_batch();
    let params = loaded.single_context_params();
    let mut sampler = TokenSampler::new(&loaded.model, request)?;
    let mut ctx = loaded.new_context(params)?;
    let seed = sampler.seed();
    let mut batch = LlamaBatch::new(n_batch as usize, 1);

    // Prompt, in chunks of at most n_batch tokens; logits only for the very last token.
    let mut pos: i32 = 0;
    let chunks = prompt.chunks(n_batch as usize);
    let n_chunks = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        batch.clear();
        for (j, token) in chunk.iter().enumerate() {
            let last = i + 1 == n_chunks && j + 1 == chunk.len();
            batch
                .add(*token, pos, &[0], last)
                .map_err(|e| Error::Inference(e.to_string()))?;
            pos += 1;
        }
        ctx.decode(&mut batch)
            .map_err(|e| Error::Inference(explain(format!("prompt evaluation failed: {e}"))))?;
        loaded.rpc_links.health()?;
    }
    let prompt_seconds = started.elapsed().as_secs_f64();
    let decode_started = Instant::now();

    let mut summary = GenerateSummary {
        finish_reason: FinishReason::Length,
        prompt_tokens: prompt.len(),
        cached_tokens: 0,
        completion_tokens: 0,
        prompt_seconds,
        decode_seconds: 0.0,
        seed,
        stop: None,
        // The single-request path does not track reasoning (the scheduler does).
        reasoning_tokens: 0,
    };
    if sink(GenerateEvent::PromptDone {
        prompt_tokens: prompt.len(),
        cached_tokens: 0,
    }) == Flow::Stop
    {
        summary.finish_reason = FinishReason::Cancelled;
        return Ok(summary);
    }

    let mut utf8 = Utf8Decoder::new();
    let mut stops = StopMatcher::new(&request.stop);
    let mut logits_index = batch.n_tokens() - 1;
    let vocab = loaded.model.vocab();
    let mut stop_string_hit = false;
    let finish = loop {
        if summary.completion_tokens >= request.max_tokens as usize {
            break FinishReason::Length;
        }
        let (token, logprob) = sampler.sample(ctx.get_logits_ith(logits_index), &loaded.model)?;
        if vocab.is_eog(token) {
            break FinishReason::Stop;
        }
        summary.completion_tokens += 1;
        if let Some(logprob) = logprob {
            if sink(GenerateEvent::Token(logprob)) == Flow::Stop {
                break FinishReason::Cancelled;
            }
        }
        // Control tokens are written out (`<|channel|>`, `<|python_tag|>`, ...): they are the
        // tool-call and reasoning markup templates parse; end-of-generation ones ended it above.
        let text = utf8.push(&vocab.token_to_piece(token, true, None));
        let scan = stops.push(&text);
        if !scan.emit.is_empty() && sink(GenerateEvent::Text(scan.emit)) == Flow::Stop {
            break FinishReason::Cancelled;
        }
        if scan.stopped {
            stop_string_hit = true;
            summary.stop = stops.matched().map(str::to_string);
            break FinishReason::Stop;
        }
        if pos as usize >= n_ctx {
            break FinishReason::Length; // the context is full
        }
        batch.clear();
        batch
            .add(token, pos, &[0], true)
            .map_err(|e| Error::Inference(e.to_string()))?;
        pos += 1;
        ctx.decode(&mut batch)
            .map_err(|e| Error::Inference(explain(format!("decoding failed: {e}"))))?;
        loaded.rpc_links.health()?;
        logits_index = 0;
    };
    if finish != FinishReason::Cancelled && !stop_string_hit {
        // Release what was held back (an incomplete character, a partial stop string).
        let tail_text = utf8.finish();
        let mut tail = stops.push(&tail_text).emit;
        tail.push_str(&stops.finish());
        if !tail.is_empty() {
            sink(GenerateEvent::Text(tail));
        }
    }
    summary.finish_reason = finish;
    summary.decode_seconds = decode_started.elapsed().as_secs_f64();
    Ok(summary)
}
