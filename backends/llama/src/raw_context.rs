//! A small safe wrapper over the `llama_context` calls the scheduler needs that `llama-cpp-2`
//! 0.1.160 does not expose: a context with `n_outputs_max`, and llama.cpp's (experimental)
//! backend sampling API, which attaches a sampler chain to one sequence so that the token is
//! chosen on the device inside the decode (`llama_set_sampler`, `llama_get_sampled_token_ith`)
//! instead of copying the logits to the host and sampling there.
//!
//! * [`RawContext`]: owns a `llama_context` made from a loaded [`LlamaModel`]; decode, logits,
//!   KV removal, samplers per sequence.
//! * [`RawBatch`]: owns a `llama_batch`.
//! * [`DeviceChain`]: owns a sampler chain built for the device (greedy, or top-k / top-p /
//!   min-p / temperature / seeded draw).

use std::marker::PhantomData;
use std::ptr::NonNull;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_sys_2 as sys;
use shimmy_core::backend::SamplingOptions;
use shimmy_core::{Error, Result};

// `LlamaModel` is a struct whose only field is a non-null `llama_model` pointer.
const _: () =
    assert!(std::mem::size_of::<LlamaModel>() == std::mem::size_of::<*mut sys::llama_model>());

/// The `llama_model` pointer of `model`, checked against what the safe API reports.
fn model_ptr(model: &LlamaModel) -> Result<*mut sys::llama_model> {
    // SAFETY: `LlamaModel` has exactly one field, a `#[repr(transparent)]` wrapper of
    // `NonNull<llama_model>` (size asserted above); a single-field struct is laid out as its
    // field. The pointer is only used after the checks below.
    let ptr = unsafe { *(model as *const LlamaModel).cast::<*mut sys::llama_model>() };
    // SAFETY: plain queries on a model pointer, checked for null first.
    let ok = !ptr.is_null()
        && unsafe { sys::llama_model_n_ctx_train(ptr) } == model.n_ctx_train() as i32
        && unsafe { sys::llama_model_n_params(ptr) } == model.n_params();
    if ok {
        Ok(ptr)
    } else {
        Err(Error::Inference(
            "internal: the llama-cpp-2 model layout is not the one this build expects".into(),
        ))
    }
}

/// The default context parameters of llama.cpp.
pub(crate) fn default_params() -> sys::llama_context_params {
    // SAFETY: returns a plain struct.
    unsafe { sys::llama_context_default_params() }
}

/// A `llama_context` of a model that outlives it.
pub(crate) struct RawContext<'m> {
    ctx: NonNull<sys::llama_context>,
    n_vocab: usize,
    _model: PhantomData<&'m LlamaModel>,
}

// SAFETY: a context is not bound to a thread; `&mut self` methods serialise its use.
unsafe impl Send for RawContext<'_> {}

impl<'m> RawContext<'m> {
    /// Creates a context on `model` (see `LlamaLoaded::new_raw_context` for the locking and
    /// buffer capture around it).
    pub(crate) fn new(model: &'m LlamaModel, params: sys::llama_context_params) -> Result<Self> {
        let model_ptr = model_ptr(model)?;
        // SAFETY: a valid model pointer and a parameter struct by value.
        let ctx = unsafe { sys::llama_init_from_model(model_ptr, params) };
        let ctx = NonNull::new(ctx)
            .ok_or_else(|| Error::Inference("llama.cpp could not create a context".into()))?;
        Ok(RawContext {
            ctx,
            n_vocab: model.n_vocab().max(0) as usize,
            _model: PhantomData,
        })
    }

    /// KV cells of the context.
    pub(crate) fn n_ctx(&self) -> u32 {
        // SAFETY: plain query.
        unsafe { sys::llama_n_ctx(self.ctx.as_ptr()) }
    }

    /// Decodes `batch`; llama.cpp's return code on failure.
    pub(crate) fn decode(&mut self, batch: &RawBatch) -> std::result::Result<(), i32> {
        // SAFETY: the batch's arrays hold `n_tokens` valid entries.
        match unsafe { sys::llama_decode(self.ctx.as_ptr(), batch.raw) } {
            0 => Ok(()),
            rc => Err(rc),
        }
    }

    /// Waits until the device has finished the queued decode (`llama_decode` only queues the
    /// work; reading an output waits for it too).
    pub(crate) fn synchronize(&mut self) {
        // SAFETY: plain call on a valid context.
        unsafe { sys::llama_synchronize(self.ctx.as_ptr()) }
    }

    /// The logits of batch row `i` (a row decoded with logits, not device-sampled).
    pub(crate) fn logits_ith(&self, i: i32) -> Result<&[f32]> {
        // SAFETY: llama.cpp returns null for a row without logits (and logs why).
        let data = unsafe { sys::llama_get_logits_ith(self.ctx.as_ptr(), i) };
        if data.is_null() {
            return Err(Error::Inference(format!("no logits for batch row {i}")));
        }
        // SAFETY: a row of `n_vocab` floats that lives until the next decode, which needs
        // `&mut self` while this borrow is alive.
        Ok(unsafe { std::slice::from_raw_parts(data, self.n_vocab) })
    }

    /// The token the device sampled for batch row `i`, if its sequence has a device chain.
    pub(crate) fn sampled_token_ith(&self, i: i32) -> Option<LlamaToken> {
        // SAFETY: plain query; LLAMA_TOKEN_NULL (-1) when nothing was sampled.
        let t = unsafe { sys::llama_get_sampled_token_ith(self.ctx.as_ptr(), i) };
        (t >= 0).then_some(LlamaToken(t))
    }

    /// Removes positions `p0..` of sequence `seq` (`p0 = None`: all); `false` when llama.cpp
    /// cannot remove part of a sequence.
    pub(crate) fn remove(&mut self, seq: i32, p0: Option<u32>) -> bool {
        let p0 = p0.and_then(|p| i32::try_from(p).ok()).unwrap_or(-1);
        // SAFETY: plain calls on the context's memory.
        unsafe {
            let mem = sys::llama_get_memory(self.ctx.as_ptr());
            sys::llama_memory_seq_rm(mem, seq, p0, -1)
        }
    }

    /// Removes positions `keep..keep + discard` of sequence `seq` and moves the ones after
    /// them down by `discard` (a context shift); `false`, with nothing changed, when the
    /// model's memory cannot shift positions or remove part of a sequence.
    pub(crate) fn discard(&mut self, seq: i32, keep: usize, discard: usize) -> bool {
        let (Ok(p0), Ok(p1), Ok(delta)) = (
            i32::try_from(keep),
            i32::try_from(keep + discard),
            i32::try_from(discard),
        ) else {
            return false;
        };
        // SAFETY: plain calls on the context's memory.
        unsafe {
            let mem = sys::llama_get_memory(self.ctx.as_ptr());
            if !sys::llama_memory_can_shift(mem) || !sys::llama_memory_seq_rm(mem, seq, p0, p1) {
                return false;
            }
            sys::llama_memory_seq_add(mem, seq, p1, -1, -delta);
        }
        true
    }

    /// Empties the whole KV cache.
    pub(crate) fn clear(&mut self) {
        // SAFETY: plain calls on the context's memory.
        unsafe {
            let mem = sys::llama_get_memory(self.ctx.as_ptr());
            sys::llama_memory_clear(mem, true);
        }
    }

    /// How many micro-batches since the context was made reused the previous one's graph
    /// instead of building it again (llama.cpp's `n_reused`). Its `n_eval` is not the count
    /// to compare with: it counts only decodes of a single token.
    pub(crate) fn graph_reuses(&self) -> i32 {
        // SAFETY: plain query.
        let data = unsafe { sys::llama_perf_context(self.ctx.as_ptr()) };
        data.n_reused
    }

    /// Attaches `chain` to sequence `seq` (the next decode samples that sequence on the
    /// device), or with `None` detaches what was attached. `false` when llama.cpp cannot run
    /// the chain on the device (it then samples nothing there for `seq`).
    ///
    /// The caller keeps `chain` alive while it is attached and detaches it before dropping it
    /// ([`DeviceChain`] is only dropped by the scheduler after `set_sampler(seq, None)`).
    pub(crate) fn set_sampler(&mut self, seq: i32, chain: Option<&mut DeviceChain>) -> bool {
        let ptr = chain.map_or(std::ptr::null_mut(), |c| c.ptr.as_ptr());
        // SAFETY: a valid context and a chain pointer (or null) that outlives the attachment.
        unsafe { sys::llama_set_sampler(self.ctx.as_ptr(), seq, ptr) }
    }
}

impl Drop for RawContext<'_> {
    fn drop(&mut self) {
        // SAFETY: the context was made by `llama_init_from_model` and is freed once.
        unsafe { sys::llama_free(self.ctx.as_ptr()) }
    }
}

/// A `llama_batch` of token ids, one sequence per token.
pub(crate) struct RawBatch {
    raw: sys::llama_batch,
    capacity: usize,
}

// SAFETY: the arrays are owned by this value.
unsafe impl Send for RawBatch {}

impl RawBatch {
    /// A batch for up to `capacity` tokens.
    pub(crate) fn new(capacity: usize) -> Self {
        let n = i32::try_from(capacity.max(1)).unwrap_or(i32::MAX);
        // SAFETY: allocates arrays for `n` tokens of one sequence id each.
        let raw = unsafe { sys::llama_batch_init(n, 0, 1) };
        RawBatch {
            raw,
            capacity: n as usize,
        }
    }

    /// Tokens in the batch.
    pub(crate) fn n_tokens(&self) -> i32 {
        self.raw.n_tokens
    }

    /// Empties the batch.
    pub(crate) fn clear(&mut self) {
        self.raw.n_tokens = 0;
    }

    /// Adds `token` at `pos` of `seq`, with logits (or a device-sampled token) when `output`.
    pub(crate) fn add(
        &mut self,
        token: LlamaToken,
        pos: i32,
        seq: i32,
        output: bool,
    ) -> Result<()> {
        let i = self.raw.n_tokens as usize;
        if i >= self.capacity {
            return Err(Error::Inference(format!(
                "batch: more than {} tokens",
                self.capacity
            )));
        }
        // SAFETY: `i` is below the capacity the arrays were allocated with; each `seq_id[i]`
        // points at room for one id.
        unsafe {
            *self.raw.token.add(i) = token.0;
            *self.raw.pos.add(i) = pos;
            *self.raw.n_seq_id.add(i) = 1;
            *(*self.raw.seq_id.add(i)) = seq;
            *self.raw.logits.add(i) = i8::from(output);
        }
        self.raw.n_tokens += 1;
        Ok(())
    }
}

impl Drop for RawBatch {
    fn drop(&mut self) {
        // SAFETY: made by `llama_batch_init`, freed once.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}

/// A sampler chain for the device: greedy, or the request's top-k / top-p / min-p /
/// temperature stages and a seeded draw, in the order of the CPU chain
/// ([`crate::sampler`]).
pub(crate) struct DeviceChain {
    ptr: NonNull<sys::llama_sampler>,
}

// SAFETY: owned by one scheduler thread at a time.
unsafe impl Send for DeviceChain {}

impl DeviceChain {
    /// The chain for `options` with `seed` (penalties are not part of it: requests with
    /// penalties stay on the CPU chain).
    pub(crate) fn new(options: &SamplingOptions, seed: u32) -> Option<Self> {
        // SAFETY: builds a chain; every sampler added is owned by the chain.
        unsafe {
            let chain =
                sys::llama_sampler_chain_init(sys::llama_sampler_chain_params { no_perf: true });
            let ptr = NonNull::new(chain)?;
            let add = |s: *mut sys::llama_sampler| {
                if !s.is_null() {
                    sys::llama_sampler_chain_add(chain, s);
                }
            };
            if options.temperature <= 0.0 {
                add(sys::llama_sampler_init_greedy());
            } else {
                if options.top_k > 0 {
                    add(sys::llama_sampler_init_top_k(options.top_k));
                }
                if options.top_p < 1.0 {
                    add(sys::llama_sampler_init_top_p(options.top_p, 1));
                }
                if options.min_p > 0.0 {
                    add(sys::llama_sampler_init_min_p(options.min_p, 1));
                }
                add(sys::llama_sampler_init_temp(options.temperature));
                add(sys::llama_sampler_init_dist(seed));
            }
            Some(DeviceChain { ptr })
        }
    }

    /// Records `token` as drawn (no state in the supported stages, kept for symmetry with
    /// the CPU chain).
    pub(crate) fn accept(&mut self, token: LlamaToken) {
        // SAFETY: a valid chain.
        unsafe { sys::llama_sampler_accept(self.ptr.as_ptr(), token.0) }
    }
}

impl Drop for DeviceChain {
    fn drop(&mut self) {
        // SAFETY: the chain was made by `llama_sampler_chain_init` and is freed once (the
        // scheduler detaches it from its sequence first).
        unsafe { sys::llama_sampler_free(self.ptr.as_ptr()) }
    }
}
