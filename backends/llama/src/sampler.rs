//! Building llama.cpp's sampler chain from [`SamplingOptions`] and drawing tokens with it.
//!
//! Both the single-request path ([`crate::generate`]) and the scheduler draw tokens through
//! [`TokenSampler`], so a request gives the same tokens on either path.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::{GenerateRequest, SamplingOptions, TokenLogprob};
use shimmy_core::{Error, Result};

use crate::penalties::Penalties;
use crate::raw_context::DeviceChain;
use crate::{logging, logprobs};

/// The most alternatives a [`TokenLogprob`] reports.
pub const MAX_LOGPROBS: u32 = 20;

/// The stages of the chain after the penalties ([`Penalties`], applied before the chain):
/// top-k, top-p, min-p, temperature, draw; and the seed used.
///
/// A temperature of zero or below is greedy: the most likely token.
fn stages(options: &SamplingOptions) -> (Vec<LlamaSampler>, u32) {
    let seed = options.seed.unwrap_or_else(random_seed);
    let mut chain = Vec::new();
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
    (chain, seed)
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

/// One request's sampler: its penalties, then the chain of [`stages`] with the request's
/// grammar (if any) in front, plus its log-probability setting.
///
/// The penalties run before the grammar, where llama.cpp's chain has them after it: the
/// grammar sets the logits of the tokens it rejects to minus infinity whatever they were, so
/// the order changes nothing.
pub struct TokenSampler {
    penalties: Option<Penalties>,
    chain: LlamaSampler,
    seed: u32,
    /// The request's settings, for a device chain ([`TokenSampler::device_chain`]).
    options: SamplingOptions,
    /// Whether the chain may run on the device: no grammar, no penalties, no logprobs, no
    /// reasoning budget (whose closing tag the CPU loop forces).
    device_ok: bool,
    /// Alternatives to report per token (`None`: no [`TokenLogprob`]s).
    logprobs: Option<usize>,
    /// Reused candidate buffer (one entry per vocabulary token).
    candidates: LlamaTokenDataArray,
}

impl TokenSampler {
    /// Builds the sampler for `request`. A grammar that llama.cpp cannot parse is an
    /// [`Error::InvalidOption`]; `logprobs` above [`MAX_LOGPROBS`] is capped.
    pub fn new(model: &LlamaModel, request: &GenerateRequest) -> Result<Self> {
        let (mut stages, seed) = stages(&request.sampling);
        if let Some(grammar) = &request.grammar {
            logging::clear_recent_problems();
            let sampler = LlamaSampler::grammar(model, grammar, "root").map_err(|err| {
                let problems = logging::take_recent_problems();
                let detail = if problems.is_empty() {
                    err.to_string()
                } else {
                    problems.join("; ")
                };
                Error::InvalidOption(format!(
                    "the grammar could not be parsed ({detail}); give a GBNF grammar with a \
                     `root` rule"
                ))
            })?;
            stages.insert(0, sampler);
        }
        let penalties = Penalties::of(&request.sampling);
        Ok(TokenSampler {
            device_ok: request.grammar.is_none()
                && request.logprobs.is_none()
                && penalties.is_none()
                && request
                    .reasoning
                    .as_ref()
                    .is_none_or(|r| r.budget.is_none()),
            penalties,
            chain: LlamaSampler::chain_simple(stages),
            seed,
            options: request.sampling.clone(),
            logprobs: request.logprobs.map(|n| n.min(MAX_LOGPROBS) as usize),
            candidates: LlamaTokenDataArray::new(Vec::new(), false),
        })
    }

    /// The seed of the random stage (reported in the summary).
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// A chain that draws this request's tokens on the device, when its settings allow
    /// (greedy, top-k, top-p, min-p, temperature; not with a grammar, penalties or logprobs,
    /// which need the logits on the host). Same seed, but not the same random draws as the
    /// CPU chain: greedy output is identical, seeded output is deterministic.
    pub(crate) fn device_chain(&self) -> Option<DeviceChain> {
        if self.device_ok {
            DeviceChain::new(&self.options, self.seed)
        } else {
            None
        }
    }

    /// Draws a token from the `logits` of one output row and accepts it (penalty history,
    /// grammar state). Returns the log-probabilities too when the request asked for them.
    ///
    /// This is what `llama_sampler_sample` does, except that a token the grammar cannot accept
    /// is an error here instead of an exception thrown through the C API.
    pub fn sample(
        &mut self,
        logits: &[f32],
        model: &LlamaModel,
    ) -> Result<(LlamaToken, Option<TokenLogprob>)> {
        self.candidates.data.clear();
        self.candidates.data.extend(
            (0_i32..)
                .zip(logits)
                .map(|(id, &logit)| LlamaTokenData::new(LlamaToken(id), logit, 0.0)),
        );
        self.candidates.selected = None;
        self.candidates.sorted = false;
        if let Some(penalties) = &self.penalties {
            penalties.apply(&mut self.candidates.data);
        }
        self.candidates.apply_sampler(&mut self.chain);
        let token = self.candidates.selected_token().ok_or_else(|| {
            Error::Inference("the sampler chain selected no token (all candidates removed)".into())
        })?;
        self.force(token, logits, model)
    }

    /// Takes `token` as drawn from `logits` (what [`TokenSampler::sample`] does with the token
    /// it drew; the generation loop also forces tokens, e.g. the closing tag of a spent
    /// reasoning budget): the chain accepts it (penalty history, grammar state) and its
    /// log-probability is reported when the request asked for them.
    pub fn force(
        &mut self,
        token: LlamaToken,
        logits: &[f32],
        model: &LlamaModel,
    ) -> Result<(LlamaToken, Option<TokenLogprob>)> {
        self.chain.try_accept(token).map_err(|err| {
            Error::Inference(format!(
                "the sampler refused token {} ({err}); the grammar allows no continuation",
                token.0
            ))
        })?;
        if let Some(penalties) = self.penalties.as_mut() {
            penalties.accept(token);
        }
        let logprob = self
            .logprobs
            .map(|n| logprobs::token_logprob(model, logits, token, n));
        Ok((token, logprob))
    }
}
