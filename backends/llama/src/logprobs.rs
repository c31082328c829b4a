//! Log-probabilities of sampled tokens from a row of raw logits.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::{TokenLogprob, TopLogprob};

/// The log-probability of `token` under the softmax of `logits` (the model's distribution,
/// before any sampling stage) and the `n_top` most likely tokens, best first (ties: lower id
/// first).
pub fn token_logprob(
    model: &LlamaModel,
    logits: &[f32],
    token: LlamaToken,
    n_top: usize,
) -> TokenLogprob {
    let log_norm = log_sum_exp(logits);
    let logprob_of = |id: usize| logits.get(id).map_or(f32::NEG_INFINITY, |&l| l - log_norm);
    let (text, bytes) = piece(model, token);
    TokenLogprob {
        text,
        bytes,
        logprob: usize::try_from(token.0).map_or(f32::NEG_INFINITY, logprob_of),
        top: top_n(logits, n_top)
            .into_iter()
            .map(|id| {
                let (text, bytes) = piece(model, LlamaToken(id as i32));
                TopLogprob {
                    text,
                    bytes,
                    logprob: logprob_of(id),
                }
            })
            .collect(),
    }
}

/// `ln(sum(exp(l)))`, computed stably around the largest logit.
fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits
        .iter()
        .copied()
        .filter(|l| !l.is_nan())
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = logits
        .iter()
        .filter(|l| !l.is_nan())
        .map(|&l| f64::from(l - max).exp())
        .sum();
    max + sum.ln() as f32
}

/// Indices of the `n` largest logits, largest first; ties keep the lower index first. NaNs are
/// never chosen.
fn top_n(logits: &[f32], n: usize) -> Vec<usize> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(n + 1);
    if n == 0 {
        return Vec::new();
    }
    for (id, &logit) in logits.iter().enumerate() {
        if logit.is_nan() {
            continue;
        }
        if best.len() == n && best.last().is_some_and(|&(worst, _)| logit <= worst) {
            continue;
        }
        // First position whose logit is smaller: equal logits stay in id order.
        let at = best.partition_point(|&(l, _)| l >= logit);
        best.insert(at, (logit, id));
        best.truncate(n);
    }
    best.into_iter().map(|(_, id)| id).collect()
}

/// A token's text (lossy when it is part of a UTF-8 character) and raw bytes.
fn piece(model: &LlamaModel, token: LlamaToken) -> (String, Vec<u8>) {
    let bytes = model.vocab().token_to_piece(token, false, None);
    (String::from_utf8_lossy(&bytes).into_owned(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_orders_by_logit_then_id() {
        let logits = [0.5, 2.0, -1.0, 2.0, 1.0];
        assert_eq!(top_n(&logits, 3), vec![1, 3, 4]);
        assert_eq!(top_n(&logits, 0), Vec::<usize>::new());
        assert_eq!(top_n(&logits, 10), vec![1, 3, 4, 0, 2]);
        assert_eq!(top_n(&[f32::NAN, 1.0], 2), vec![1]);
    }

    #[test]
    fn log_sum_exp_normalizes() {
        let logits = [1.0_f32, 2.0, 3.0];
        let norm = log_sum_exp(&logits);
        let total: f32 = logits.iter().map(|l| (l - norm).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        let big = [1000.0_f32, 1000.0];
        assert!((log_sum_exp(&big) - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }
}
