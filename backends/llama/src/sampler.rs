//! Building llama.cpp's sampler chain from [`SamplingOptions`].

use llama_cpp_2::sampling::LlamaSampler;
use shimmy_core::backend::SamplingOptions;

/// Builds the chain (penalties, top-k, top-p, min-p, temperature, draw) and returns the seed used.
///
/// A temperature of zero or below is greedy: penalties, then the most likely token.
pub fn build(options: &SamplingOptions, n_vocab: i32) -> (LlamaSampler, u32) {
    let seed = options.seed.unwrap_or_else(random_seed);
    let mut chain = Vec::new();
    let penalties_active = options.repeat_penalty != 1.0
        || options.frequency_penalty != 0.0
        || options.presence_penalty != 0.0;
    if penalties_active && options.repeat_last_n != 0 {
        chain.push(LlamaSampler::penalties(
            n_vocab,
            options.repeat_last_n.max(0),
            options.repeat_penalty,
            options.frequency_penalty,
            options.presence_penalty,
        ));
    }
    if options.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if options.top_k > 0 {
            chain.push(LlamaSampler::top_k(options.top_k));
        }
        if options.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(options.top_p, 1));
        }
        if options.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(options.min_p, 1));
        }
        chain.push(LlamaSampler::temp(options.temperature));
        chain.push(LlamaSampler::dist(seed));
    }
    (LlamaSampler::chain_simple(chain), seed)
}

/// A seed from the OS-seeded hasher, for requests that did not fix one.
fn random_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    hasher.finish() as u32
}
