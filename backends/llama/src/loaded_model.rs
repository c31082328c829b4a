//! [`LoadedModel`] for [`LlamaLoaded`]: the model's info, tokenizer and memory figures, the
//! single-request generation ([`crate::generate`]), the continuous-batching scheduler
//! ([`crate::scheduler`]; a model that does not generate gets a refusing one) and the
//! embedder ([`crate::embedder`]). This module sits above all of them, so none of them
//! imports another upwards.

use std::sync::{Arc, PoisonError};

use llama_cpp_2::token::LlamaToken;
use shimmy_core::backend::embedding::{EmbedOptions, Embedder};
use shimmy_core::backend::{
    DeviceMemory, Flow, GenerateEvent, GenerateRequest, GenerateSummary, LoadedModel, ModelInfo,
};
use shimmy_core::placement::{Placement, HOST_DEVICE};
use shimmy_core::serving::{NoGeneration, Scheduler, ServeOptions};
use shimmy_core::{Error, Result};

use crate::model::LlamaLoaded;
use crate::{embedder, generate, scheduler};

impl LoadedModel for LlamaLoaded {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn placement(&self) -> &Placement {
        &self.placement
    }

    fn layer_split(&self) -> Vec<String> {
        self.layer_split.iter().map(ToString::to_string).collect()
    }

    fn health(&self) -> Result<()> {
        self.rpc_links.health()
    }

    fn memory(&self) -> Vec<DeviceMemory> {
        let state = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut names: Vec<String> = state
            .model
            .keys()
            .chain(state.context.keys())
            .chain(state.embedding.keys())
            .cloned()
            .collect();
        names.sort_by_key(|n| (n == HOST_DEVICE, n.clone()));
        names.dedup();
        names
            .into_iter()
            .map(|device| {
                let (kv, compute) = state.context.get(&device).copied().unwrap_or((0, 0));
                let (e_kv, e_compute) = state.embedding.get(&device).copied().unwrap_or((0, 0));
                let (kv_cache, compute) = (kv + e_kv, compute + e_compute);
                DeviceMemory {
                    model: state.model.get(&device).copied().unwrap_or(0),
                    kv_cache,
                    compute,
                    device,
                }
            })
            .collect()
    }

    fn tokenize(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokens_until(text, add_bos, parse_special, &|| false)?
            .into_iter()
            .map(|t| t.0 as u32)
            .collect())
    }

    fn has_control_text(&self, text: &str) -> Result<bool> {
        Ok(self.holds_control_text(text))
    }

    fn tokenize_prompt_until(
        &self,
        prompt: &str,
        content_spans: &[std::ops::Range<usize>],
        add_bos: bool,
        parse_special: bool,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<u32>> {
        shimmy_core::prompt::tokenize_in_pieces(
            prompt,
            content_spans,
            add_bos,
            parse_special,
            |text| Ok(self.holds_control_text(text)),
            |text, bos, special| {
                Ok(self
                    .tokens_until(text, bos, special, cancelled)?
                    .into_iter()
                    .map(|t| t.0 as u32)
                    .collect())
            },
        )
    }

    fn detokenize(&self, tokens: &[u32]) -> Result<String> {
        let n_vocab = self.info.n_vocab;
        let mut bytes = Vec::new();
        for &id in tokens {
            if id >= n_vocab {
                return Err(Error::Tokenize(format!(
                    "token id {id} is outside the vocabulary (0..{n_vocab})"
                )));
            }
            bytes.extend(
                self.model
                    .vocab()
                    .token_to_piece(LlamaToken(id as i32), false, None),
            );
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        sink: &mut dyn FnMut(GenerateEvent) -> Flow,
    ) -> Result<GenerateSummary> {
        generate::run(self, request, sink)
    }

    fn serve(self: Arc<Self>, options: &ServeOptions) -> Result<Arc<dyn Scheduler>> {
        if !self.info.purpose.generates {
            // An embedding model: no generation context at all.
            return Ok(Arc::new(NoGeneration::new(
                options.name.clone(),
                embedder::max_tokens(&self.info),
            )));
        }
        scheduler::start(self, options)
    }

    fn embedder(self: Arc<Self>, options: &EmbedOptions) -> Result<Arc<dyn Embedder>> {
        embedder::start(self, options)
    }
}
