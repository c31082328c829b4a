//! The llama.cpp backend of shimmy-host, over `llama-cpp-2` with dynamically loaded ggml
//! backends (CPU variants and GPU libraries are `libggml-*.so` modules found at run time).
//!
//! The rest of the host sees it only through [`shimmy_core::backend::Backend`].

mod engine;
mod generate;
pub mod libraries;
mod logging;
mod model;
mod sampler;

pub use engine::LlamaEngine;
