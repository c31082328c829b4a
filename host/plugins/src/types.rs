//! The host-side records of the plugin calls that are not part of the chat vocabulary (that
//! lives in [`shimmy_core::chat`]), and the one place where host types become the
//! `bindgen!`-generated WIT types of the contract (`wit/0.1.2`) and back (those of the older
//! versions in `v011.rs`, with the same macros).
//!
//! Field names are the WIT names in `snake_case` (`tool_calls`, `add_generation_prompt`...).
//! Optional and list fields may be left out of JSON. The WIT types are internal to this crate.

use serde::{Deserialize, Serialize};

use shimmy_core::backend::{ModelInfo, SamplingOptions as Sampling};
use shimmy_core::chat::{
    ChatMessage, GenerationOptions, ParseDelta, Parsed, ToolCall, ToolDefinition, Usage,
};
use shimmy_core::prompt::{PromptSpan, SpanKind};

use crate::bindings::template::exports::shimmy::plugin::template as wt;
use crate::bindings::template::shimmy::plugin::types as wty;
use crate::bindings::workflow::exports::shimmy::plugin::workflow as ww;
use crate::bindings::workflow::shimmy::plugin::inference as wi;

/// The error a plugin returns, or that the host returns to a plugin (WIT `plugin-error`).
///
/// In JSON: `{"kind": "invalid-input", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum GuestError {
    /// The input was malformed or violated a documented rule.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Something named (a tool, a model, a config key) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation is not supported by this plugin or host.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A capability the plugin needs was not granted by the operator.
    #[error("denied: {0}")]
    Denied(String),
    /// A limit (steps, tokens, time, memory) was reached.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Anything else; the message explains.
    #[error("failed: {0}")]
    Failed(String),
}

/// What the host knows about the model a prompt is rendered for (WIT `model-context`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModelContext {
    /// `general.architecture`, e.g. `llama`.
    #[serde(default)]
    pub architecture: String,
    /// The model's own Jinja chat template, if any.
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Text of the BOS token, if any.
    #[serde(default)]
    pub bos_token: Option<String>,
    /// Text of the EOS token, if any.
    #[serde(default)]
    pub eos_token: Option<String>,
}

/// Settings of one request that a template plugin reads through its `config` import, in
/// front of its own `[config]` for that one render (they need no contract change). The keys
/// the host sets are in [`request_keys`]; a plugin that does not know a key ignores it.
pub type RequestSettings = std::collections::BTreeMap<String, String>;

/// The keys of the [`RequestSettings`] the host sets.
pub mod request_keys {
    /// `true` or `false`: the template's thinking switch (`enable_thinking` in chat templates),
    /// set when the request asks for reasoning on or off.
    pub const ENABLE_THINKING: &str = "enable-thinking";
    /// `low`, `medium` or `high`: how much to reason (`reasoning_effort` in chat templates).
    pub const REASONING_EFFORT: &str = "reasoning-effort";
    /// `hermes`: the template drops the request's tools, so offer them as the Hermes
    /// `<tools>` block in the system message (calls answered in `<tool_call>` markup).
    pub const TOOL_PROMPT: &str = "tool-prompt";
    /// The end of the rendered prompt (its last [`PROMPT_END_BYTES`] bytes at most), set for
    /// a streamed answer's output parser: the answer starts where the prompt left it (inside
    /// a reasoning block the generation prompt opened, for instance).
    pub const PROMPT_END: &str = "prompt-end";
    /// Most bytes of the prompt passed as [`PROMPT_END`].
    pub const PROMPT_END_BYTES: usize = 256;

    /// The [`PROMPT_END`] of `prompt`: its last [`PROMPT_END_BYTES`] bytes at most, cut at a
    /// character boundary.
    pub fn prompt_end(prompt: &str) -> &str {
        let mut start = prompt.len().saturating_sub(PROMPT_END_BYTES);
        while !prompt.is_char_boundary(start) {
            start += 1;
        }
        &prompt[start..]
    }
}

/// Input of a template's `render` (WIT `render-request`).
///
/// [`Default`] (like JSON without the field) sets `add_generation_prompt` to true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<ToolDefinition>,
    /// End the prompt with the opening of an assistant turn (default true).
    #[serde(default = "yes")]
    pub add_generation_prompt: bool,
    /// The model being prompted.
    #[serde(default)]
    pub model: ModelContext,
}

fn yes() -> bool {
    true
}

impl Default for RenderRequest {
    fn default() -> Self {
        RenderRequest {
            messages: Vec::new(),
            tools: Vec::new(),
            add_generation_prompt: true,
            model: ModelContext::default(),
        }
    }
}

/// A rendered prompt (WIT `rendered-spans`; from a 0.1.0 template, the adapter's marking of
/// its `rendered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Rendered {
    /// The exact prompt text (special tokens written as text): the spans' texts concatenated.
    pub prompt: String,
    /// The prompt in spans of template text (control tokens allowed) and request content
    /// (always plain text).
    pub spans: Vec<PromptSpan>,
    /// Strings that end the assistant's turn.
    pub stop: Vec<String>,
    /// Whether the host should put the BOS token in front.
    pub add_bos: bool,
}

/// What a template says about itself (WIT `template-info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TemplateInfo {
    /// Short name, e.g. `chatml`.
    pub name: String,
    /// One line for humans.
    pub description: String,
}

/// What a workflow says about itself (WIT `workflow-info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkflowInfo {
    /// Short name, e.g. `agent`.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// JSON schema (serialized) of the input.
    pub input_schema: String,
}

/// The result of a complete generation (WIT `inference.generation-result`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GenerationResult {
    /// The generated text.
    pub text: String,
    /// Token counts.
    pub usage: Usage,
    /// `stop`, `length` or `cancelled`.
    pub finish_reason: String,
}

/// The answer to a chat (WIT `inference.chat-result`): the template's parse of the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChatResult {
    /// The visible answer.
    pub content: String,
    /// Reasoning text, if any.
    #[serde(default)]
    pub reasoning: Option<String>,
    /// Tool calls the model made.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Token counts.
    pub usage: Usage,
    /// `stop`, `length`, `cancelled` or `tool_calls`.
    pub finish_reason: String,
}

// ---- conversions to and from the bindgen types (the contract's edge) -----------------------
//
// Each contract version's bindings have their own Rust types; the records that did not change
// between versions convert the same way, written once in these macros and stated per version
// below (0.1.2: `wty`/`wt`/`wi`; 0.1.1 and 0.1.0: see `crate::v011`).

/// Conversions of a `types` interface's records other than `chat-message` (`$t`: its module).
macro_rules! types_conversions {
    ($t:ident) => {
        impl From<ToolCall> for $t::ToolCall {
            fn from(v: ToolCall) -> Self {
                $t::ToolCall {
                    id: v.id,
                    name: v.name,
                    arguments: v.arguments,
                }
            }
        }
        impl From<$t::ToolCall> for ToolCall {
            fn from(v: $t::ToolCall) -> Self {
                ToolCall {
                    id: v.id,
                    name: v.name,
                    arguments: v.arguments,
                }
            }
        }

        impl From<ToolDefinition> for $t::ToolDefinition {
            fn from(v: ToolDefinition) -> Self {
                $t::ToolDefinition {
                    name: v.name,
                    description: v.description,
                    parameters_schema: v.parameters_schema,
                }
            }
        }
        impl From<$t::ToolDefinition> for ToolDefinition {
            fn from(v: $t::ToolDefinition) -> Self {
                ToolDefinition {
                    name: v.name,
                    description: v.description,
                    parameters_schema: v.parameters_schema,
                }
            }
        }

        /// A plugin's `sampling-options`: what it left `none` gets the host's default.
        impl From<$t::SamplingOptions> for GenerationOptions {
            fn from(v: $t::SamplingOptions) -> Self {
                let d = Sampling::default();
                GenerationOptions {
                    max_tokens: v.max_tokens,
                    stop: v.stop,
                    json_schema: v.json_schema,
                    sampling: Sampling {
                        temperature: v.temperature.unwrap_or(d.temperature),
                        top_p: v.top_p.unwrap_or(d.top_p),
                        top_k: v.top_k.unwrap_or(d.top_k),
                        min_p: v.min_p.unwrap_or(d.min_p),
                        repeat_penalty: v.repeat_penalty.unwrap_or(d.repeat_penalty),
                        seed: v.seed,
                        ..d
                    },
                }
            }
        }

        impl From<Usage> for $t::Usage {
            fn from(v: Usage) -> Self {
                $t::Usage {
                    prompt_tokens: v.prompt_tokens,
                    completion_tokens: v.completion_tokens,
                }
            }
        }

        impl From<GuestError> for $t::PluginError {
            fn from(v: GuestError) -> Self {
                match v {
                    GuestError::InvalidInput(m) => $t::PluginError::InvalidInput(m),
                    GuestError::NotFound(m) => $t::PluginError::NotFound(m),
                    GuestError::Unsupported(m) => $t::PluginError::Unsupported(m),
                    GuestError::Denied(m) => $t::PluginError::Denied(m),
                    GuestError::LimitExceeded(m) => $t::PluginError::LimitExceeded(m),
                    GuestError::Failed(m) => $t::PluginError::Failed(m),
                }
            }
        }
        impl From<$t::PluginError> for GuestError {
            fn from(v: $t::PluginError) -> Self {
                match v {
                    $t::PluginError::InvalidInput(m) => GuestError::InvalidInput(m),
                    $t::PluginError::NotFound(m) => GuestError::NotFound(m),
                    $t::PluginError::Unsupported(m) => GuestError::Unsupported(m),
                    $t::PluginError::Denied(m) => GuestError::Denied(m),
                    $t::PluginError::LimitExceeded(m) => GuestError::LimitExceeded(m),
                    $t::PluginError::Failed(m) => GuestError::Failed(m),
                }
            }
        }
    };
}

/// Conversions of a `template` interface's records that every version has (`$t`: its module).
macro_rules! template_conversions {
    ($t:ident) => {
        impl From<ModelContext> for $t::ModelContext {
            fn from(v: ModelContext) -> Self {
                $t::ModelContext {
                    architecture: v.architecture,
                    chat_template: v.chat_template,
                    bos_token: v.bos_token,
                    eos_token: v.eos_token,
                }
            }
        }

        impl From<RenderRequest> for $t::RenderRequest {
            fn from(v: RenderRequest) -> Self {
                $t::RenderRequest {
                    messages: v.messages.into_iter().map(Into::into).collect(),
                    tools: v.tools.into_iter().map(Into::into).collect(),
                    add_generation_prompt: v.add_generation_prompt,
                    model: v.model.into(),
                }
            }
        }

        impl From<$t::Parsed> for Parsed {
            fn from(v: $t::Parsed) -> Self {
                Parsed {
                    content: v.content,
                    reasoning: v.reasoning,
                    tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
                }
            }
        }

        impl From<$t::TemplateInfo> for TemplateInfo {
            fn from(v: $t::TemplateInfo) -> Self {
                TemplateInfo {
                    name: v.name,
                    description: v.description,
                }
            }
        }
    };
}

/// Conversions of what 0.1.1 added to `template` (spans, the output parser's deltas).
macro_rules! span_conversions {
    ($t:ident) => {
        impl From<$t::RenderedSpans> for Rendered {
            fn from(v: $t::RenderedSpans) -> Self {
                let spans: Vec<PromptSpan> = v
                    .spans
                    .into_iter()
                    .map(|s| PromptSpan {
                        kind: match s.kind {
                            $t::SpanKind::Template => SpanKind::Template,
                            $t::SpanKind::Content => SpanKind::Content,
                        },
                        text: s.text,
                    })
                    .collect();
                Rendered {
                    prompt: spans.iter().map(|s| s.text.as_str()).collect(),
                    spans,
                    stop: v.stop,
                    add_bos: v.add_bos,
                }
            }
        }

        impl From<$t::ParseDelta> for ParseDelta {
            fn from(v: $t::ParseDelta) -> Self {
                ParseDelta {
                    content: v.content,
                    reasoning: v.reasoning,
                    tool_markup: v.tool_markup,
                }
            }
        }
    };
}

/// Conversions of an `inference` interface's results (`$i`: its module).
macro_rules! inference_conversions {
    ($i:ident) => {
        impl From<GenerationResult> for $i::GenerationResult {
            fn from(v: GenerationResult) -> Self {
                $i::GenerationResult {
                    text: v.text,
                    usage: v.usage.into(),
                    finish_reason: v.finish_reason,
                }
            }
        }

        impl From<ChatResult> for $i::ChatResult {
            fn from(v: ChatResult) -> Self {
                $i::ChatResult {
                    content: v.content,
                    reasoning: v.reasoning,
                    tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
                    usage: v.usage.into(),
                    finish_reason: v.finish_reason,
                }
            }
        }

        /// A model as `inference.get-model-info` describes it: its name and facts (`n_ctx`
        /// is the context a generation gets).
        impl From<(String, ModelInfo)> for $i::ModelInfo {
            fn from((name, info): (String, ModelInfo)) -> Self {
                $i::ModelInfo {
                    name,
                    architecture: info.architecture,
                    chat_template: info.chat_template,
                    bos_token: info.bos_token,
                    eos_token: info.eos_token,
                    context_length: info.n_ctx,
                }
            }
        }
    };
}

pub(crate) use {inference_conversions, span_conversions, template_conversions, types_conversions};

types_conversions!(wty);
template_conversions!(wt);
span_conversions!(wt);
inference_conversions!(wi);

impl From<ChatMessage> for wty::ChatMessage {
    fn from(v: ChatMessage) -> Self {
        wty::ChatMessage {
            role: v.role,
            content: v.content,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: v.tool_call_id,
            name: v.name,
            reasoning_content: v.reasoning_content,
        }
    }
}
impl From<wty::ChatMessage> for ChatMessage {
    fn from(v: wty::ChatMessage) -> Self {
        ChatMessage {
            role: v.role,
            content: v.content,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: v.tool_call_id,
            name: v.name,
            reasoning_content: v.reasoning_content,
        }
    }
}

impl From<ww::WorkflowInfo> for WorkflowInfo {
    fn from(v: ww::WorkflowInfo) -> Self {
        WorkflowInfo {
            name: v.name,
            description: v.description,
            input_schema: v.input_schema,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_request_from_minimal_json() {
        let r: RenderRequest =
            serde_json::from_str(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(r.messages[0], ChatMessage::new("user", "hi"));
        assert!(r.add_generation_prompt);
        assert!(r.tools.is_empty());
        assert!(RenderRequest::default().add_generation_prompt);
    }

    #[test]
    fn guest_error_json_shape() {
        let e = GuestError::InvalidInput("bad role".into());
        let j = serde_json::to_string(&e).unwrap();
        assert_eq!(j, r#"{"kind":"invalid-input","message":"bad role"}"#);
        assert_eq!(serde_json::from_str::<GuestError>(&j).unwrap(), e);
        assert_eq!(e.to_string(), "invalid input: bad role");
    }
}
