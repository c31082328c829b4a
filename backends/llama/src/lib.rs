//! The llama.cpp backend of shimmy-host, over `llama-cpp-2` with dynamically loaded ggml
//! backends (CPU variants and GPU libraries are `libggml-*.so` modules found at run time).
//!
//! The rest of the host sees it only through [`shimmy_core::backend::Backend`]; a loaded model
//! serves many requests at once through its continuous-batching scheduler
//! ([`shimmy_core::backend::LoadedModel::serve`]).

pub mod bench;
mod context_params;
mod control_texts;
mod embedder;
mod engine;
mod generate;
mod layer_split;
pub mod libraries;
mod loaded_model;
mod logging;
mod logprobs;
mod model;
mod model_params;
mod penalties;
mod prompt_tokens;
mod raw_context;
pub mod rpc;
mod sampler;
mod scheduler;

pub use engine::LlamaEngine;
pub use model::LlamaLoaded;
