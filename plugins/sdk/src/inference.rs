//! Host-provided inference (`shimmy:plugin/inference`), for **workflow plugins only**: the
//! template and tool worlds do not import it, so the host refuses a template or tool component
//! that calls these functions.
//!
//! Natively (unit tests) every call returns `unsupported`; [`Generation`] cannot be created.

use crate::{ChatMessage, PluginError, SamplingOptions, ToolDefinition};

pub use crate::bindings::workflow::shimmy::plugin::inference::{
    ChatResult, Generation, GenerationResult, ModelInfo,
};

#[cfg(target_arch = "wasm32")]
use crate::bindings::workflow::shimmy::plugin::inference as raw;

#[cfg(not(target_arch = "wasm32"))]
fn native() -> PluginError {
    PluginError::unsupported("inference is only available inside shimmy-host")
}

/// Generates a whole completion for a raw prompt.
pub fn generate(prompt: &str, options: &SamplingOptions) -> Result<GenerationResult, PluginError> {
    #[cfg(target_arch = "wasm32")]
    return raw::generate(prompt, options);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (prompt, options);
        Err(native())
    }
}

/// Renders `messages` with the model's template, offering `tools` (may be empty), and
/// generates the assistant's answer, parsed into content, reasoning and tool calls.
pub fn chat(
    messages: &[ChatMessage],
    tools: &[ToolDefinition],
    options: &SamplingOptions,
) -> Result<ChatResult, PluginError> {
    #[cfg(target_arch = "wasm32")]
    return raw::chat(messages, tools, options);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (messages, tools, options);
        Err(native())
    }
}

/// Starts a streamed generation; read it with [`Generation::next`] until `Ok(None)`.
#[cfg(target_arch = "wasm32")]
pub fn stream(prompt: &str, options: &SamplingOptions) -> Generation {
    Generation::new(prompt, options)
}

/// Token ids of a text.
pub fn tokenize(text: &str) -> Result<Vec<u32>, PluginError> {
    #[cfg(target_arch = "wasm32")]
    return raw::tokenize(text);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = text;
        Err(native())
    }
}

/// Facts about the model (name, architecture, template, special tokens, context length).
pub fn model_info() -> Result<ModelInfo, PluginError> {
    #[cfg(target_arch = "wasm32")]
    return raw::get_model_info();
    #[cfg(not(target_arch = "wasm32"))]
    Err(native())
}
