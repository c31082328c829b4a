//! Rust mirrors of the records of the WIT contract (`wit/0.1.0`), with serde so the CLI and the
//! HTTP layer can take them from JSON.
//!
//! Field names are the WIT names in `snake_case` (`tool_calls`, `add_generation_prompt`...).
//! Optional and list fields may be left out of JSON. Each type converts to and from the
//! `bindgen!`-generated type of the same name (those are internal to this crate).

use serde::{Deserialize, Serialize};

use crate::bindings::template::exports::shimmy::plugin::template as wt;
use crate::bindings::template::shimmy::plugin::types as wty;
use crate::bindings::workflow::exports::shimmy::plugin::workflow as ww;
use crate::bindings::workflow::shimmy::plugin::inference as wi;

/// A call of a tool that the model asked for (WIT `tool-call`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ToolCall {
    /// Identifier that the tool result message refers back to (`tool_call_id`).
    #[serde(default)]
    pub id: String,
    /// Name of the tool (function) to call.
    pub name: String,
    /// Arguments as a JSON object, serialized.
    #[serde(default)]
    pub arguments: String,
}

/// One message of a chat (WIT `chat-message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text of the message.
    #[serde(default)]
    pub content: String,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `tool` messages: the id of the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Optional author name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// A message with only a role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            ..Default::default()
        }
    }
}

/// A tool the model may call (WIT `tool-definition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ToolDefinition {
    /// Function name, e.g. `calculator`.
    pub name: String,
    /// What the tool does, written for the model.
    #[serde(default)]
    pub description: String,
    /// JSON schema (serialized) of the arguments object.
    #[serde(default)]
    pub parameters_schema: String,
}

/// Sampling settings (WIT `sampling-options`); `None` means "the host's default".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SamplingOptions {
    /// Maximum tokens to generate.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Softmax temperature; 0 is greedy.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Keep only the k most likely tokens.
    #[serde(default)]
    pub top_k: Option<i32>,
    /// Minimum probability relative to the best token.
    #[serde(default)]
    pub min_p: Option<f32>,
    /// Penalty for repeating recent tokens (1.0 = off).
    #[serde(default)]
    pub repeat_penalty: Option<f32>,
    /// Random seed for reproducible output.
    #[serde(default)]
    pub seed: Option<u32>,
    /// Generation stops before any of these strings.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Constrain the output to JSON valid against this JSON schema (serialized).
    #[serde(default)]
    pub json_schema: Option<String>,
}

/// Token counts of one generation (WIT `usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

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

/// Output of a template's `render` (WIT `rendered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Rendered {
    /// The exact prompt text (special tokens written as text).
    pub prompt: String,
    /// Strings that end the assistant's turn.
    pub stop: Vec<String>,
    /// Whether the host should put the BOS token in front.
    pub add_bos: bool,
}

/// Output of a template's `parse` (WIT `parsed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Parsed {
    /// The visible answer.
    pub content: String,
    /// Reasoning text, if any.
    pub reasoning: Option<String>,
    /// Tool calls found in the output.
    pub tool_calls: Vec<ToolCall>,
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

/// Facts about the model a workflow works with (WIT `inference.model-info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModelInfo {
    /// The model's name as the host knows it.
    pub name: String,
    /// `general.architecture`.
    pub architecture: String,
    /// The Jinja chat template embedded in the GGUF, if any.
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Text of the BOS token, if any.
    #[serde(default)]
    pub bos_token: Option<String>,
    /// Text of the EOS token, if any.
    #[serde(default)]
    pub eos_token: Option<String>,
    /// Context window in tokens.
    pub context_length: u32,
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

// ---- conversions to and from the bindgen types ------------------------------------------

impl From<ToolCall> for wty::ToolCall {
    fn from(v: ToolCall) -> Self {
        wty::ToolCall {
            id: v.id,
            name: v.name,
            arguments: v.arguments,
        }
    }
}
impl From<wty::ToolCall> for ToolCall {
    fn from(v: wty::ToolCall) -> Self {
        ToolCall {
            id: v.id,
            name: v.name,
            arguments: v.arguments,
        }
    }
}

impl From<ChatMessage> for wty::ChatMessage {
    fn from(v: ChatMessage) -> Self {
        wty::ChatMessage {
            role: v.role,
            content: v.content,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: v.tool_call_id,
            name: v.name,
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
        }
    }
}

impl From<ToolDefinition> for wty::ToolDefinition {
    fn from(v: ToolDefinition) -> Self {
        wty::ToolDefinition {
            name: v.name,
            description: v.description,
            parameters_schema: v.parameters_schema,
        }
    }
}
impl From<wty::ToolDefinition> for ToolDefinition {
    fn from(v: wty::ToolDefinition) -> Self {
        ToolDefinition {
            name: v.name,
            description: v.description,
            parameters_schema: v.parameters_schema,
        }
    }
}

impl From<wty::SamplingOptions> for SamplingOptions {
    fn from(v: wty::SamplingOptions) -> Self {
        SamplingOptions {
            max_tokens: v.max_tokens,
            temperature: v.temperature,
            top_p: v.top_p,
            top_k: v.top_k,
            min_p: v.min_p,
            repeat_penalty: v.repeat_penalty,
            seed: v.seed,
            stop: v.stop,
            json_schema: v.json_schema,
        }
    }
}

impl From<Usage> for wty::Usage {
    fn from(v: Usage) -> Self {
        wty::Usage {
            prompt_tokens: v.prompt_tokens,
            completion_tokens: v.completion_tokens,
        }
    }
}

impl From<GuestError> for wty::PluginError {
    fn from(v: GuestError) -> Self {
        match v {
            GuestError::InvalidInput(m) => wty::PluginError::InvalidInput(m),
            GuestError::NotFound(m) => wty::PluginError::NotFound(m),
            GuestError::Unsupported(m) => wty::PluginError::Unsupported(m),
            GuestError::Denied(m) => wty::PluginError::Denied(m),
            GuestError::LimitExceeded(m) => wty::PluginError::LimitExceeded(m),
            GuestError::Failed(m) => wty::PluginError::Failed(m),
        }
    }
}
impl From<wty::PluginError> for GuestError {
    fn from(v: wty::PluginError) -> Self {
        match v {
            wty::PluginError::InvalidInput(m) => GuestError::InvalidInput(m),
            wty::PluginError::NotFound(m) => GuestError::NotFound(m),
            wty::PluginError::Unsupported(m) => GuestError::Unsupported(m),
            wty::PluginError::Denied(m) => GuestError::Denied(m),
            wty::PluginError::LimitExceeded(m) => GuestError::LimitExceeded(m),
            wty::PluginError::Failed(m) => GuestError::Failed(m),
        }
    }
}

impl From<ModelContext> for wt::ModelContext {
    fn from(v: ModelContext) -> Self {
        wt::ModelContext {
            architecture: v.architecture,
            chat_template: v.chat_template,
            bos_token: v.bos_token,
            eos_token: v.eos_token,
        }
    }
}

impl From<RenderRequest> for wt::RenderRequest {
    fn from(v: RenderRequest) -> Self {
        wt::RenderRequest {
            messages: v.messages.into_iter().map(Into::into).collect(),
            tools: v.tools.into_iter().map(Into::into).collect(),
            add_generation_prompt: v.add_generation_prompt,
            model: v.model.into(),
        }
    }
}

impl From<wt::Rendered> for Rendered {
    fn from(v: wt::Rendered) -> Self {
        Rendered {
            prompt: v.prompt,
            stop: v.stop,
            add_bos: v.add_bos,
        }
    }
}

impl From<wt::Parsed> for Parsed {
    fn from(v: wt::Parsed) -> Self {
        Parsed {
            content: v.content,
            reasoning: v.reasoning,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wt::TemplateInfo> for TemplateInfo {
    fn from(v: wt::TemplateInfo) -> Self {
        TemplateInfo {
            name: v.name,
            description: v.description,
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

impl From<ModelInfo> for wi::ModelInfo {
    fn from(v: ModelInfo) -> Self {
        wi::ModelInfo {
            name: v.name,
            architecture: v.architecture,
            chat_template: v.chat_template,
            bos_token: v.bos_token,
            eos_token: v.eos_token,
            context_length: v.context_length,
        }
    }
}

impl From<GenerationResult> for wi::GenerationResult {
    fn from(v: GenerationResult) -> Self {
        wi::GenerationResult {
            text: v.text,
            usage: v.usage.into(),
            finish_reason: v.finish_reason,
        }
    }
}

impl From<ChatResult> for wi::ChatResult {
    fn from(v: ChatResult) -> Self {
        wi::ChatResult {
            content: v.content,
            reasoning: v.reasoning,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
            usage: v.usage.into(),
            finish_reason: v.finish_reason,
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
