//! A plain llama-cpp-2 decode loop, the baseline `shimmy-host bench` compares the host with.
//!
//! Nothing of the host is involved: one context with the same parameters as
//! [`LoadedModel::generate`](shimmy_core::backend::LoadedModel::generate) uses, the prompt in
//! batch-sized chunks, then sample greedily, decode one token, repeat. Timed the same way as
//! the host's [`GenerateSummary`](shimmy_core::backend::GenerateSummary): the prompt time
//! includes creating the context, the decode time runs from the end of the prompt to the last
//! token's decode.

use std::time::Instant;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::{Error, Result};

use crate::model::LlamaLoaded;

/// One run of the plain loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlainRun {
    /// Prompt tokens evaluated.
    pub prompt_tokens: usize,
    /// Context creation plus prompt evaluation, in seconds.
    pub prompt_seconds: f64,
    /// Start → first token sampled, in seconds.
    pub first_token_seconds: f64,
    /// Tokens generated (the loop ends early at an end-of-generation token, as the host does).
    pub generated: usize,
    /// End of the prompt → last decode, in seconds.
    pub decode_seconds: f64,
}

/// Runs `prompt` (tokenized as the host does: BOS as the model wants, no special-token
/// parsing) and generates up to `max_tokens` greedy tokens on a fresh context.
pub fn plain_decode(loaded: &LlamaLoaded, prompt: &str, max_tokens: u32) -> Result<PlainRun> {
    let started = Instant::now();
    let tokens: Vec<LlamaToken> = loaded.tokens(prompt, true, false)?;
    let n_ctx = loaded.info.n_ctx as usize;
    if tokens.is_empty() || tokens.len() >= n_ctx {
        return Err(Error::PromptTooLong {
            prompt_tokens: tokens.len(),
            n_ctx,
        });
    }
    let n_batch = loaded.prompt_batch();
    let params = loaded.single_context_params();
    let mut ctx = loaded
        .model
        .new_context(&loaded.backend, params)
        .map_err(|e| Error::Inference(format!("plain loop: could not create a context: {e}")))?;
    let mut batch = LlamaBatch::new(n_batch as usize, 1);
    let mut pos: i32 = 0;
    let chunks = tokens.chunks(n_batch as usize);
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
            .map_err(|e| Error::Inference(format!("plain loop: prompt: {e}")))?;
    }
    let prompt_seconds = started.elapsed().as_secs_f64();
    let decode_started = Instant::now();
    let mut sampler = LlamaSampler::greedy();
    let vocab = loaded.model.vocab();
    let mut logits_index = batch.n_tokens() - 1;
    let mut generated = 0usize;
    let mut first_token_seconds = prompt_seconds;
    while generated < max_tokens as usize && (pos as usize) < n_ctx {
        let token = sampler.sample(&ctx, logits_index);
        if generated == 0 {
            first_token_seconds = started.elapsed().as_secs_f64();
        }
        if vocab.is_eog(token) {
            break;
        }
        sampler.accept(token);
        generated += 1;
        batch.clear();
        batch
            .add(token, pos, &[0], true)
            .map_err(|e| Error::Inference(e.to_string()))?;
        pos += 1;
        ctx.decode(&mut batch)
            .map_err(|e| Error::Inference(format!("plain loop: decode: {e}")))?;
        logits_index = 0;
    }
    Ok(PlainRun {
        prompt_tokens: tokens.len(),
        prompt_seconds,
        first_token_seconds,
        generated,
        decode_seconds: decode_started.elapsed().as_secs_f64(),
    })
}
