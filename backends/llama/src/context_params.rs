//! Context parameters `llama-cpp-2` 0.1.160 has no setter for.
//!
//! `n_outputs_max` (the most logit rows one micro-batch produces) defaults to `n_batch`, so
//! llama.cpp reserves logits for every token of a micro-batch: `n_vocab * n_ubatch` floats of
//! compute buffer on the GPU, 2.4 GiB for a 151936-token vocabulary at micro-batch 4096. The
//! host asks for one row per sequence and step, so it sets it to the number of sequences.

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_sys_2::llama_context_params;

// `LlamaContextParams` is a struct whose only field is the C `llama_context_params`.
const _: () = assert!(
    std::mem::size_of::<LlamaContextParams>() == std::mem::size_of::<llama_context_params>()
);

/// `params` with `n_outputs_max = n` (at least 1). If the C struct read back does not match
/// what the safe getters report (a different layout in another crate version), `params` is
/// returned unchanged and a warning logged.
pub(crate) fn with_n_outputs_max(params: LlamaContextParams, n: u32) -> LlamaContextParams {
    let expected = (
        params.n_ctx().map_or(0, |v| v.get()),
        params.n_batch(),
        params.n_ubatch(),
        params.n_seq_max(),
    );
    let copy = params.clone();
    // SAFETY: `LlamaContextParams` has exactly one field, a `llama_context_params` (sizes are
    // asserted equal at compile time), and a single-field struct has the layout of its field.
    // The plain-data fields read back are compared with the getters before anything is used.
    let mut raw: llama_context_params = unsafe { std::mem::transmute(copy) };
    if (raw.n_ctx, raw.n_batch, raw.n_ubatch, raw.n_seq_max) != expected {
        tracing::warn!(
            "llama_context_params layout not as expected; n_outputs_max left at n_batch"
        );
        return params;
    }
    raw.n_outputs_max = n.max(1);
    // SAFETY: as above; `raw` came from a valid `LlamaContextParams` with one integer changed.
    unsafe { std::mem::transmute::<llama_context_params, LlamaContextParams>(raw) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_the_field_and_keeps_the_others() {
        let params = LlamaContextParams::default()
            .with_n_batch(4096)
            .with_n_ubatch(2048)
            .with_n_seq_max(3);
        let set = with_n_outputs_max(params, 3);
        assert_eq!(
            (set.n_batch(), set.n_ubatch(), set.n_seq_max()),
            (4096, 2048, 3)
        );
        // SAFETY: as in `with_n_outputs_max`.
        let raw: llama_context_params = unsafe { std::mem::transmute(set) };
        assert_eq!(raw.n_outputs_max, 3);
    }
}
