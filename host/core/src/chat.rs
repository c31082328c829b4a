//! The chat vocabulary every layer shares: messages, tool calls and definitions, the parsed
//! answer, token counts, and what a workflow asks of one generation.
//!
//! These are the host's own types. The plugin runtime converts them to and from the WIT
//! records of the plugin contract at its edge; the HTTP layer reads and writes them as JSON
//! (field names in `snake_case`; optional and list fields may be left out).

use serde::{Deserialize, Serialize};

use crate::backend::SamplingOptions;

/// A call of a tool that the model asked for.
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

/// One message of a chat.
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
    /// The reasoning an earlier assistant turn showed before its answer, as the client sent
    /// it back (templates see it as `message.reasoning_content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
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

/// A tool the model may call.
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

/// Token counts of one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
}

/// An assistant answer recovered from raw model output by a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Parsed {
    /// The visible answer.
    pub content: String,
    /// Reasoning text, if any.
    pub reasoning: Option<String>,
    /// Tool calls found in the output.
    pub tool_calls: Vec<ToolCall>,
}

/// What one piece of a streaming answer made visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ParseDelta {
    /// New visible text (appended to what came before).
    pub content: String,
    /// New reasoning text.
    pub reasoning: String,
    /// Tool-call markup has started: no more content streams; the rest comes with the end.
    pub tool_markup: bool,
}

/// What a caller (a workflow plugin) asks of one generation besides its prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct GenerationOptions {
    /// Most tokens to generate; `None`: the host's choice.
    pub max_tokens: Option<u32>,
    /// Extra stop strings.
    pub stop: Vec<String>,
    /// A JSON schema (serialized) the output must validate against.
    pub json_schema: Option<String>,
    /// Sampling settings (the defaults where the caller set none).
    pub sampling: SamplingOptions,
}
