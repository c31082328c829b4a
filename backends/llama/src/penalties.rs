//! Repeat, frequency and presence penalties on the host, applied to the tokens of the recent
//! history only.
//!
//! llama.cpp's penalties sampler gives the same logits but looks every vocabulary entry up in
//! its history map: with a 150k-token vocabulary that is about a millisecond per token, a
//! third of a decode step on a GPU. Here the history's distinct tokens index the candidates
//! directly (the candidate array is in token-id order), so the cost is that of the history.

use std::collections::{HashMap, VecDeque};

use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::SamplingOptions;

/// The penalty settings and the last `last_n` accepted tokens with their counts.
#[derive(Debug, Clone)]
pub(crate) struct Penalties {
    last_n: usize,
    repeat: f32,
    frequency: f32,
    presence: f32,
    recent: VecDeque<LlamaToken>,
    counts: HashMap<LlamaToken, u32>,
}

impl Penalties {
    /// The penalties `options` ask for; `None` when they change nothing (a repeat penalty of
    /// 1, no frequency or presence penalty, or an empty window).
    pub(crate) fn of(options: &SamplingOptions) -> Option<Self> {
        let active = options.repeat_penalty != 1.0
            || options.frequency_penalty != 0.0
            || options.presence_penalty != 0.0;
        let last_n = usize::try_from(options.repeat_last_n).unwrap_or(0);
        (active && last_n > 0).then(|| Penalties {
            last_n,
            repeat: options.repeat_penalty,
            frequency: options.frequency_penalty,
            presence: options.presence_penalty,
            recent: VecDeque::with_capacity(last_n),
            counts: HashMap::new(),
        })
    }

    /// Records `token` as generated; the oldest one leaves the window when it is full.
    pub(crate) fn accept(&mut self, token: LlamaToken) {
        *self.counts.entry(token).or_insert(0) += 1;
        if self.recent.len() >= self.last_n {
            if let Some(old) = self.recent.pop_front() {
                if let Some(count) = self.counts.get_mut(&old) {
                    *count -= 1;
                    if *count == 0 {
                        self.counts.remove(&old);
                    }
                }
            }
        }
        self.recent.push_back(token);
    }

    /// Penalizes the candidates of the tokens in the window, as llama.cpp's penalties sampler
    /// does: a positive logit is divided by the repeat penalty, another multiplied by it, then
    /// `count * frequency + presence` is subtracted. `candidates[id]` must be token `id`.
    pub(crate) fn apply(&self, candidates: &mut [LlamaTokenData]) {
        for (&token, &count) in &self.counts {
            let Some(candidate) = usize::try_from(token.0)
                .ok()
                .and_then(|i| candidates.get_mut(i))
            else {
                continue;
            };
            debug_assert_eq!(candidate.id(), token);
            let mut logit = candidate.logit();
            if logit <= 0.0 {
                logit *= self.repeat;
            } else {
                logit /= self.repeat;
            }
            logit -= count as f32 * self.frequency + self.presence;
            candidate.set_logit(logit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llama_cpp_2::sampling::LlamaSampler;
    use llama_cpp_2::token::data_array::LlamaTokenDataArray;

    fn candidates(n: i32) -> Vec<LlamaTokenData> {
        // Logits of both signs, and a zero.
        (0..n)
            .map(|id| LlamaTokenData::new(LlamaToken(id), ((id * 37 % 23) - 11) as f32 * 0.37, 0.0))
            .collect()
    }

    #[test]
    fn the_same_logits_as_llama_cpps_penalties_sampler() {
        let n_vocab = 64;
        let options = SamplingOptions {
            repeat_penalty: 1.3,
            repeat_last_n: 8,
            frequency_penalty: 0.25,
            presence_penalty: 0.5,
            ..SamplingOptions::default()
        };
        let mut ours = Penalties::of(&options).unwrap();
        let mut theirs = LlamaSampler::penalties(n_vocab, 8, 1.3, 0.25, 0.5);
        // More tokens than the window, with repeats, so tokens also leave it.
        let history = [3, 5, 3, 9, 0, 11, 3, 5, 17, 5, 22, 9, 40, 3];
        for (step, &t) in history.iter().enumerate() {
            let mut expected = LlamaTokenDataArray::new(candidates(n_vocab), false);
            expected.apply_sampler(&mut theirs);
            let mut got = candidates(n_vocab);
            ours.apply(&mut got);
            for (a, b) in expected.data.iter().zip(&got) {
                assert_eq!(a.id(), b.id());
                assert_eq!(
                    a.logit().to_bits(),
                    b.logit().to_bits(),
                    "step {step}, token {}",
                    a.id().0
                );
            }
            theirs.accept(LlamaToken(t));
            ours.accept(LlamaToken(t));
        }
        assert!(ours.recent.len() == 8 && ours.counts.values().sum::<u32>() == 8);
    }

    #[test]
    fn neutral_settings_make_no_penalties() {
        let neutral = SamplingOptions {
            repeat_penalty: 1.0,
            ..SamplingOptions::default()
        };
        assert!(Penalties::of(&neutral).is_none());
        let no_window = SamplingOptions {
            repeat_last_n: 0,
            ..SamplingOptions::default()
        };
        assert!(Penalties::of(&no_window).is_none());
    }
}
