//! Core of shimmy-host: the types every other crate shares.
//!
//! * [`chat`]: the chat vocabulary (messages, tool calls and definitions, parsed answers).
//! * [`prompt`]: prompts in spans of template text and request content, and their tokenizing.
//! * [`backend`]: the [`backend::Backend`] trait the host uses to load models and generate,
//!   with the option, event and info types it exchanges.
//! * [`gguf`]: a bounds-checked reader of GGUF headers and tensor tables, run before llama.cpp
//!   ever sees a file.
//! * [`placement`]: MoE offload modes, the tensor-override patterns they produce and the
//!   placement they lead to, computed from the GGUF tensor table.
//! * [`planner`]: chooses the host-resident MoE experts and the micro-batch for a GPU budget,
//!   from the tensor table and estimates of the KV cache, compute buffers and backend context.
//! * [`discovery`]: where models are looked for and how they are named.
//! * [`serving`] (part of [`backend`], re-exported here): the continuous-batching scheduler
//!   contract the engine uses.
//! * [`template_choice`]: which prompt-template plugin a chat request gets.
//! * [`error`]: the one error enum of this crate.

pub mod backend;
pub mod call_grammar;
pub mod chat;
pub mod discovery;
pub mod error;
pub mod gguf;
pub mod placement;
pub mod planner;
pub mod prompt;
pub mod reasoning;
pub mod stream;
pub mod template_choice;

pub use backend::serving;
pub use error::{Error, Result};
