//! Anthropic Messages API request bodies (`/v1/messages`, `/v1/messages/count_tokens`) as
//! typed structs, and their conversion into the chat vocabulary and one engine [`Job`].
//!
//! `system` (a string or text blocks) becomes the system message; `text` blocks are joined,
//! `tool_use` blocks become the assistant's tool calls, each `tool_result` block a `tool`
//! message answering its `tool_use_id`; the `thinking` blocks of an assistant message become
//! its `reasoning_content` (joined by newlines; the template decides whether to print an
//! earlier turn's reasoning), `redacted_thinking` blocks (no text) are left out. Images,
//! documents and server tools are refused by name. Fields that do not change the answer
//! (`metadata`, `service_tier`, `cache_control`...) are accepted; unknown fields are refused.

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use shimmy_core::backend::SamplingOptions;
use shimmy_engine::generation::{Input, Job};
use shimmy_engine::grammar::ToolChoice;
use shimmy_engine::messages;
use shimmy_engine::thinking::{Effort, Thinking as Switch};
use shimmy_plugins::{ChatMessage, ToolCall, ToolDefinition};

use crate::error::ServerError;
use crate::text_or_list::TextOrList;
use crate::wire::{
    items, json_kind, range, text, wire_request, Count, Flag, Int, List, Number, Text, Unknown,
    UnknownFields,
};

/// What the Anthropic routes do with request fields they do not know: refused (as
/// Anthropic does), so that nothing a client asks for is silently ignored.
pub const UNKNOWN_FIELDS: UnknownFields = UnknownFields::Refuse;

/// A `/v1/messages` body.
#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    model: Option<Text>,
    messages: Option<List<MessageWire>>,
    system: Option<TextOrList<BlockWire>>,
    max_tokens: Option<Count>,
    stop_sequences: Option<List<Text>>,
    stream: Option<Flag>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<Int>,
    tools: Option<List<ToolWire>>,
    tool_choice: Option<ToolChoiceWire>,
    thinking: Option<ThinkingWire>,
    output_config: Option<OutputConfig>,
    #[serde(rename = "metadata")]
    _metadata: Option<IgnoredAny>,
    #[serde(rename = "service_tier")]
    _service_tier: Option<IgnoredAny>,
    #[serde(rename = "cache_control")]
    _cache_control: Option<IgnoredAny>,
    #[serde(rename = "inference_geo")]
    _inference_geo: Option<IgnoredAny>,
    #[serde(rename = "speed")]
    _speed: Option<IgnoredAny>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(MessagesRequest, "/v1/messages", UNKNOWN_FIELDS);

/// A `/v1/messages/count_tokens` body.
#[derive(Debug, Deserialize)]
pub struct CountTokensRequest {
    model: Option<Text>,
    messages: Option<List<MessageWire>>,
    system: Option<TextOrList<BlockWire>>,
    tools: Option<List<ToolWire>>,
    tool_choice: Option<ToolChoiceWire>,
    thinking: Option<ThinkingWire>,
    output_config: Option<OutputConfig>,
    #[serde(rename = "cache_control")]
    _cache_control: Option<IgnoredAny>,
    #[serde(rename = "speed")]
    _speed: Option<IgnoredAny>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(
    CountTokensRequest,
    "/v1/messages/count_tokens",
    UNKNOWN_FIELDS
);

/// One message: `{"role": "user" | "assistant", "content": string | [blocks]}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct MessageWire {
    role: Option<Text>,
    content: Option<TextOrList<BlockWire>>,
}

/// A content block: `text`, `tool_use`, `tool_result`, `thinking`, `redacted_thinking`
/// (others are refused with their type named).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct BlockWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    text: Option<Text>,
    id: Option<Text>,
    name: Option<Text>,
    input: Option<Value>,
    tool_use_id: Option<Text>,
    content: Option<TextOrList<BlockWire>>,
    is_error: Option<Flag>,
    /// The text of a `thinking` block (its `signature` is not checked).
    thinking: Option<Text>,
}

/// A tool: `{"name", "description", "input_schema"}` (type `custom` or none); the types of
/// Anthropic's server tools (`web_search_...`, `bash_...`) are refused.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct ToolWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    name: Option<Text>,
    description: Option<Text>,
    input_schema: Option<Value>,
}

/// `tool_choice`: `{"type": "auto" | "any" | "tool" | "none", "name"?,
/// "disable_parallel_tool_use"?}`.
#[derive(Debug)]
struct ToolChoiceWire {
    choice: ToolChoice,
    disable_parallel: Option<bool>,
}

impl<'de> Deserialize<'de> for ToolChoiceWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || {
            de::Error::custom(
                "must be {\"type\": \"auto\"}, {\"type\": \"any\"}, {\"type\": \"none\"} or \
                 {\"type\": \"tool\", \"name\": ...}",
            )
        };
        let Value::Object(o) = Value::deserialize(d)? else {
            return Err(bad());
        };
        let name = o.get("name").and_then(Value::as_str);
        let choice = match (o.get("type").and_then(Value::as_str), name) {
            (Some("auto"), _) => ToolChoice::Auto,
            (Some("any"), _) => ToolChoice::Required,
            (Some("none"), _) => ToolChoice::None,
            (Some("tool"), Some(name)) => ToolChoice::Function(name.to_string()),
            _ => return Err(bad()),
        };
        let disable_parallel = match o.get("disable_parallel_tool_use") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(de::Error::custom(
                    "`disable_parallel_tool_use` must be true or false",
                ))
            }
        };
        Ok(ToolChoiceWire {
            choice,
            disable_parallel,
        })
    }
}

/// `thinking`: `{"type": "enabled", "budget_tokens": N}`, `{"type": "disabled"}` or
/// `{"type": "adaptive"}`, each with an optional `display` (`summarized` | `omitted`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct ThinkingWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    budget_tokens: Option<Count>,
    display: Option<Text>,
}

/// `output_config`: `{"effort": ..., "format": {"type": "json_schema", "schema": {...}}}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct OutputConfig {
    effort: Option<Text>,
    format: Option<OutputFormat>,
}

/// `output_config.format`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct OutputFormat {
    #[serde(rename = "type")]
    kind: Option<Text>,
    schema: Option<Value>,
}

/// What the request asks of the model's reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    /// Nothing asked: the template's default; reasoning the model writes is shown.
    Default,
    /// `enabled` or `adaptive` (with `effort` when `output_config.effort` gives one):
    /// the template's thinking switch on, reasoning shown as `thinking` blocks.
    On {
        /// `low`, `medium` or `high` (`xhigh` and `max` are `high`).
        effort: Option<&'static str>,
        /// `display: "omitted"`: the blocks are sent with empty text.
        omitted: bool,
    },
    /// `disabled`: the switch off, no `thinking` blocks.
    Off,
}

impl Thinking {
    /// The template's thinking switch this asks for (`None`: the template's default).
    pub fn switch(self) -> Option<Switch> {
        match self {
            Thinking::Default => None,
            Thinking::Off => Some(Switch::Off),
            Thinking::On { effort: None, .. } => Some(Switch::On),
            Thinking::On {
                effort: Some(e), ..
            } => Some(Effort::parse(e).map_or(Switch::On, Switch::Effort)),
        }
    }

    /// Whether reasoning text goes into the answer.
    pub fn shows_text(self) -> bool {
        matches!(
            self,
            Thinking::Default | Thinking::On { omitted: false, .. }
        )
    }

    /// Whether `thinking` blocks go into the answer at all.
    pub fn shows_blocks(self) -> bool {
        self != Thinking::Off
    }
}

/// A parsed `/v1/messages` request.
#[derive(Debug, Clone)]
pub struct AnthropicRequest {
    /// The model field as sent (echoed back).
    pub model: Option<String>,
    /// The job.
    pub job: Job,
    /// `stream` (default false).
    pub stream: bool,
    /// `stop_sequences`: a stop string among them that ended the answer is reported as
    /// `stop_reason: "stop_sequence"`.
    pub stop_sequences: Vec<String>,
    /// What the request asks of the reasoning.
    pub thinking: Thinking,
}

/// The parts of a request that both routes render into a prompt.
struct Conversation {
    model: Option<Text>,
    messages: Option<List<MessageWire>>,
    system: Option<TextOrList<BlockWire>>,
    tools: Option<List<ToolWire>>,
    tool_choice: Option<ToolChoiceWire>,
    thinking: Option<ThinkingWire>,
    output_config: Option<OutputConfig>,
}

/// A conversation read into the chat vocabulary.
struct Chat {
    model: Option<String>,
    input: Input,
    tool_choice: ToolChoice,
    parallel_tool_calls: Option<bool>,
    thinking: Thinking,
    /// `thinking.budget_tokens` of `type: "enabled"`.
    budget: Option<u32>,
    json_schema: Option<Value>,
}

impl MessagesRequest {
    /// The job this request asks for.
    pub fn into_request(self) -> Result<AnthropicRequest, ServerError> {
        let max_tokens = match self.max_tokens {
            None => {
                return Err(ServerError::invalid(
                    "max_tokens",
                    "`max_tokens` is required",
                ))
            }
            Some(Count(0)) => {
                return Err(ServerError::invalid(
                    "max_tokens",
                    "`max_tokens` must be at least 1",
                ))
            }
            Some(Count(n)) => n,
        };
        let chat = Conversation {
            model: self.model,
            messages: self.messages,
            system: self.system,
            tools: self.tools,
            tool_choice: self.tool_choice,
            thinking: self.thinking,
            output_config: self.output_config,
        }
        .read()?;
        if let Some(budget) = chat.budget.filter(|&b| b >= max_tokens) {
            return Err(ServerError::invalid(
                "max_tokens",
                format!(
                    "`max_tokens` ({max_tokens}) must be greater than `thinking.budget_tokens` \
                     ({budget}): the answer follows the reasoning within `max_tokens`"
                ),
            ));
        }
        let stop_sequences: Vec<String> = items(self.stop_sequences)
            .into_iter()
            .map(|t| t.0)
            .collect();
        let mut job = Job::new(chat.model.clone(), chat.input);
        job.max_tokens = Some(max_tokens);
        job.stop = stop_sequences.clone();
        job.sampling = sampling(self.temperature, self.top_p, self.top_k)?;
        job.tool_choice = chat.tool_choice;
        job.parallel_tool_calls = chat.parallel_tool_calls;
        job.json_schema = chat.json_schema;
        job.json_schema_param = "output_config.format";
        job.reasoning_budget = chat.budget;
        Ok(AnthropicRequest {
            model: chat.model,
            job,
            stream: self.stream.is_some_and(|f| f.0),
            stop_sequences,
            thinking: chat.thinking,
        })
    }
}

impl CountTokensRequest {
    /// The model asked for and the chat whose prompt is counted (the tools are left out
    /// with `tool_choice: none`, as generation leaves them out).
    pub fn into_input(self) -> Result<(Option<String>, Input), ServerError> {
        let chat = Conversation {
            model: self.model,
            messages: self.messages,
            system: self.system,
            tools: self.tools,
            tool_choice: self.tool_choice,
            thinking: self.thinking,
            output_config: self.output_config,
        }
        .read()?;
        let mut input = chat.input;
        if chat.tool_choice == ToolChoice::None {
            if let Input::Chat { tools, .. } = &mut input {
                tools.clear();
            }
        }
        Ok((chat.model, input))
    }
}

impl Conversation {
    fn read(self) -> Result<Chat, ServerError> {
        let mut chat = system_messages(self.system)?;
        chat.extend(messages(self.messages)?);
        messages::validate(&chat)?;
        let tools = tools(items(self.tools))?;
        let (tool_choice, parallel_tool_calls) = match self.tool_choice {
            None => (ToolChoice::Auto, None),
            // Forced calls are one call unless parallel use is asked for explicitly.
            Some(c) => (c.choice, c.disable_parallel.map(|d| !d)),
        };
        let (effort, json_schema) = output_config(self.output_config)?;
        let (thinking, budget) = thinking(self.thinking, effort)?;
        Ok(Chat {
            model: text(self.model),
            input: Input::Chat {
                messages: chat,
                tools,
                template: None,
                thinking: thinking.switch(),
            },
            tool_choice,
            parallel_tool_calls,
            thinking,
            budget,
            json_schema,
        })
    }
}

fn sampling(
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<Int>,
) -> Result<SamplingOptions, ServerError> {
    let mut s = SamplingOptions::openai_compatible();
    if let Some(t) = temperature {
        range("temperature", t.f32(), 0.0, 1.0)?;
        s.temperature = t.f32();
    }
    if let Some(p) = top_p {
        range("top_p", p.f32(), 0.0, 1.0)?;
        s.top_p = p.f32();
    }
    if let Some(Int(k)) = top_k {
        if k < 0 {
            return Err(ServerError::invalid(
                "top_k",
                format!("`top_k` must be 0 or more, not {k}"),
            ));
        }
        s.top_k = i32::try_from(k).unwrap_or(i32::MAX);
    }
    Ok(s)
}

/// `thinking` (and the effort of `output_config`) as what the request asks of reasoning, with
/// the reasoning budget of `type: "enabled"` (`budget_tokens`: any positive count is
/// honoured, also under the 1024 Anthropic's models need).
fn thinking(
    wire: Option<ThinkingWire>,
    effort: Option<&'static str>,
) -> Result<(Thinking, Option<u32>), ServerError> {
    let Some(wire) = wire else {
        return Ok((
            match effort {
                Some(_) => Thinking::On {
                    effort,
                    omitted: false,
                },
                None => Thinking::Default,
            },
            None,
        ));
    };
    let omitted = match text(wire.display).as_deref() {
        None | Some("summarized") => false,
        Some("omitted") => true,
        Some(other) => {
            return Err(ServerError::invalid(
                "thinking.display",
                format!(
                    "`thinking.display` must be \"summarized\" or \"omitted\", not \"{other}\""
                ),
            ))
        }
    };
    match text(wire.kind).as_deref() {
        Some("enabled") => match wire.budget_tokens {
            Some(Count(n)) if n >= 1 => Ok((Thinking::On { effort, omitted }, Some(n))),
            _ => Err(ServerError::invalid(
                "thinking.budget_tokens",
                "`thinking.budget_tokens` (a positive integer) is required with `type: \"enabled\"`",
            )),
        },
        Some("adaptive") => Ok((Thinking::On { effort, omitted }, None)),
        Some("disabled") => Ok((Thinking::Off, None)),
        _ => Err(ServerError::invalid(
            "thinking.type",
            "`thinking.type` must be \"enabled\", \"adaptive\" or \"disabled\"",
        )),
    }
}

/// `output_config`: the effort and the JSON schema of the answer.
fn output_config(
    config: Option<OutputConfig>,
) -> Result<(Option<&'static str>, Option<Value>), ServerError> {
    let Some(config) = config else {
        return Ok((None, None));
    };
    let effort = match text(config.effort).as_deref() {
        None => None,
        Some("low") => Some("low"),
        Some("medium") => Some("medium"),
        Some("high" | "xhigh" | "max") => Some("high"),
        Some(other) => {
            return Err(ServerError::invalid(
                "output_config.effort",
                format!(
                    "`output_config.effort` must be \"low\", \"medium\", \"high\", \"xhigh\" or \"max\", not \"{other}\""
                ),
            ))
        }
    };
    let schema = match config.format {
        None => None,
        Some(format) => {
            if text(format.kind).as_deref() != Some("json_schema") {
                return Err(ServerError::invalid(
                    "output_config.format.type",
                    "`output_config.format.type` must be \"json_schema\"",
                ));
            }
            match format.schema {
                Some(schema @ Value::Object(_)) => Some(schema),
                other => {
                    return Err(ServerError::invalid(
                        "output_config.format.schema",
                        format!(
                            "`output_config.format.schema` must be a JSON schema object, not {}",
                            other.as_ref().map_or("missing", json_kind)
                        ),
                    ))
                }
            }
        }
    };
    Ok((effort, schema))
}

/// `system`: a string or text blocks, as one system message (none when empty).
fn system_messages(system: Option<TextOrList<BlockWire>>) -> Result<Vec<ChatMessage>, ServerError> {
    let text = match system {
        None => return Ok(Vec::new()),
        Some(TextOrList::Text(s)) => s,
        Some(TextOrList::List(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.into_iter().enumerate() {
                parts.push(text_block(block, &format!("system[{i}]"))?);
            }
            parts.join("\n")
        }
    };
    Ok(if text.is_empty() {
        Vec::new()
    } else {
        vec![ChatMessage::new("system", text)]
    })
}

/// The text of a block that must be a `text` block.
fn text_block(block: BlockWire, at: &str) -> Result<String, ServerError> {
    match text(block.kind).as_deref() {
        Some("text") => text(block.text).ok_or_else(|| {
            ServerError::invalid(format!("{at}.text"), format!("`{at}.text` is required"))
        }),
        Some(kind @ ("image" | "document")) => Err(unsupported_media(at, kind)),
        Some(kind) => Err(ServerError::invalid(
            format!("{at}.type"),
            format!("`{at}.type` must be \"text\" here, not \"{kind}\""),
        )),
        None => Err(ServerError::invalid(
            format!("{at}.type"),
            format!("`{at}.type` is required"),
        )),
    }
}

fn unsupported_media(at: &str, kind: &str) -> ServerError {
    ServerError::unsupported(
        at,
        format!("`{at}` is an {kind} block; only text is supported (no vision or document models)"),
    )
}

/// `messages`: user and assistant turns, read into chat messages (a user turn with tool
/// results becomes one `tool` message per result, then the user's text).
fn messages(messages: Option<List<MessageWire>>) -> Result<Vec<ChatMessage>, ServerError> {
    let Some(List(list)) = messages else {
        return Err(ServerError::invalid("messages", "`messages` is required"));
    };
    if list.is_empty() {
        return Err(ServerError::invalid(
            "messages",
            "`messages` is empty; send at least one user message",
        ));
    }
    let last = list.len() - 1;
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match text(m.role).as_deref() {
            Some("user") => "user",
            Some("assistant") => "assistant",
            Some(other) => {
                return Err(ServerError::invalid(
                    format!("{at}.role"),
                    format!("`{at}.role` must be \"user\" or \"assistant\", not \"{other}\""),
                ))
            }
            None => {
                return Err(ServerError::invalid(
                    format!("{at}.role"),
                    format!("`{at}.role` is required"),
                ))
            }
        };
        if role == "assistant" && i == last {
            return Err(ServerError::unsupported(
                at.clone(),
                format!(
                    "`{at}` is an assistant message at the end (a prefill to continue); this \
                     server answers with a new assistant turn only, so end with a user message"
                ),
            ));
        }
        let blocks = match m.content {
            None => {
                return Err(ServerError::invalid(
                    format!("{at}.content"),
                    format!("`{at}.content` is required"),
                ))
            }
            Some(TextOrList::Text(s)) => {
                out.push(ChatMessage::new(role, s));
                continue;
            }
            Some(TextOrList::List(blocks)) if blocks.is_empty() => {
                return Err(ServerError::invalid(
                    format!("{at}.content"),
                    format!("`{at}.content` is an empty list"),
                ))
            }
            Some(TextOrList::List(blocks)) => blocks,
        };
        if role == "user" {
            user_turn(blocks, &at, &mut out)?;
        } else {
            out.push(assistant_turn(blocks, &at)?);
        }
    }
    Ok(out)
}

fn user_turn(
    blocks: Vec<BlockWire>,
    at: &str,
    out: &mut Vec<ChatMessage>,
) -> Result<(), ServerError> {
    let mut text_parts: Vec<String> = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match block.kind.as_ref().map(|k| k.0.as_str()) {
            Some("tool_result") => {
                if !text_parts.is_empty() {
                    out.push(ChatMessage::new("user", text_parts.join("\n")));
                    text_parts.clear();
                }
                out.push(tool_result(block, &at)?);
            }
            Some("tool_use" | "thinking" | "redacted_thinking") => {
                return Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!(
                        "`{at}` is a {} block, which only assistant messages hold",
                        block.kind.map(|k| k.0).unwrap_or_default()
                    ),
                ))
            }
            _ => text_parts.push(text_block(block, &at)?),
        }
    }
    if !text_parts.is_empty() {
        out.push(ChatMessage::new("user", text_parts.join("\n")));
    }
    Ok(())
}

/// A `tool_result` block as a `tool` message (`is_error` results start with `Error: `).
fn tool_result(block: BlockWire, at: &str) -> Result<ChatMessage, ServerError> {
    let Some(Text(id)) = block.tool_use_id else {
        return Err(ServerError::invalid(
            format!("{at}.tool_use_id"),
            format!("`{at}.tool_use_id` is required"),
        ));
    };
    let content = match block.content {
        None => String::new(),
        Some(TextOrList::Text(s)) => s,
        Some(TextOrList::List(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (k, part) in parts.into_iter().enumerate() {
                texts.push(text_block(part, &format!("{at}.content[{k}]"))?);
            }
            texts.join("\n")
        }
    };
    let content = if block.is_error.is_some_and(|f| f.0) {
        format!("Error: {content}")
    } else {
        content
    };
    Ok(ChatMessage {
        role: "tool".into(),
        content,
        tool_call_id: Some(id),
        ..Default::default()
    })
}

/// An assistant message: its text blocks joined, its `tool_use` blocks as tool calls and its
/// `thinking` blocks as `reasoning_content` (as llama-server reads them), whatever turn it
/// is: templates choose which turns' reasoning they print.
fn assistant_turn(blocks: Vec<BlockWire>, at: &str) -> Result<ChatMessage, ServerError> {
    let mut message = ChatMessage::new("assistant", "");
    let mut text_parts: Vec<String> = Vec::new();
    let mut thoughts: Vec<String> = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match block.kind.as_ref().map(|k| k.0.as_str()) {
            Some("tool_use") => message.tool_calls.push(tool_use(block, &at)?),
            Some("thinking") => match block.thinking {
                Some(Text(thought)) if !thought.is_empty() => thoughts.push(thought),
                // `display: "omitted"` answers carry empty blocks: no reasoning to pass on.
                Some(_) => {}
                None => {
                    return Err(ServerError::invalid(
                        format!("{at}.thinking"),
                        format!("`{at}.thinking` (the block's text) is required"),
                    ))
                }
            },
            // Encrypted reasoning this server cannot read.
            Some("redacted_thinking") => {}
            Some("tool_result") => {
                return Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!("`{at}` is a tool_result block, which only user messages hold"),
                ))
            }
            _ => text_parts.push(text_block(block, &at)?),
        }
    }
    message.content = text_parts.join("\n");
    if !thoughts.is_empty() {
        message.reasoning_content = Some(thoughts.join("\n"));
    }
    Ok(message)
}

fn tool_use(block: BlockWire, at: &str) -> Result<ToolCall, ServerError> {
    let (Some(Text(id)), Some(Text(name))) = (block.id, block.name) else {
        return Err(ServerError::invalid(
            at,
            format!("`{at}` (a tool_use block) needs `id` and `name`"),
        ));
    };
    let arguments = match block.input {
        None | Some(Value::Null) => "{}".to_string(),
        Some(input @ Value::Object(_)) => input.to_string(),
        Some(other) => {
            return Err(ServerError::invalid(
                format!("{at}.input"),
                format!("`{at}.input` must be an object, not {}", json_kind(&other)),
            ))
        }
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

/// `tools` as tool definitions.
fn tools(tools: Vec<ToolWire>) -> Result<Vec<ToolDefinition>, ServerError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            let at = format!("tools[{i}]");
            match text(tool.kind).as_deref() {
                None | Some("custom") => {}
                Some(kind) => {
                    return Err(ServerError::unsupported(
                        format!("{at}.type"),
                        format!(
                            "`{at}.type` \"{kind}\" is a server tool, which this server does not \
                             run; only client tools (`name`, `description`, `input_schema`) are supported"
                        ),
                    ))
                }
            }
            let Some(Text(name)) = tool.name else {
                return Err(ServerError::invalid(
                    format!("{at}.name"),
                    format!("`{at}.name` is required"),
                ));
            };
            let schema = match tool.input_schema {
                None | Some(Value::Null) => "{}".to_string(),
                Some(schema @ Value::Object(_)) => schema.to_string(),
                Some(other) => {
                    return Err(ServerError::invalid(
                        format!("{at}.input_schema"),
                        format!(
                            "`{at}.input_schema` must be a JSON schema object, not {}",
                            json_kind(&other)
                        ),
                    ))
                }
            };
            Ok(ToolDefinition {
                name,
                description: text(tool.description).unwrap_or_default(),
                parameters_schema: schema,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<AnthropicRequest, ServerError> {
        crate::body::read::<MessagesRequest>(v.to_string().as_bytes())?.into_request()
    }

    fn chat(r: &AnthropicRequest) -> (&[ChatMessage], &[ToolDefinition]) {
        match &r.job.input {
            Input::Chat {
                messages, tools, ..
            } => (messages, tools),
            Input::Raw { .. } => panic!("not a chat"),
        }
    }

    #[test]
    fn blocks_become_chat_messages_and_tool_calls() {
        let r = parse(json!({
            "model": "m", "max_tokens": 5,
            "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": "be kind"}],
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": ""},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "boom", "is_error": true},
                    {"type": "text", "text": "thanks"}
                ]}
            ],
            "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"], "temperature": 0.5, "top_k": 3,
            "metadata": {"user_id": "u"}
        }))
        .unwrap();
        let (messages, tools) = chat(&r);
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "tool", "tool", "user"]
        );
        assert_eq!(messages[0].content, "be brief\nbe kind");
        assert_eq!(messages[2].content, "Let me look.");
        assert_eq!(messages[2].reasoning_content.as_deref(), Some("hmm"));
        assert_eq!(messages[1].reasoning_content, None);
        assert_eq!(messages[2].tool_calls[0].id, "toolu_1");
        assert_eq!(messages[2].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(messages[3].content, "sunny");
        assert_eq!(messages[4].content, "Error: boom");
        assert_eq!(tools[0].parameters_schema, r#"{"type":"object"}"#);
        assert_eq!(
            r.job.tool_choice,
            ToolChoice::Function("get_weather".into())
        );
        assert_eq!(r.job.parallel_tool_calls, Some(false));
        assert_eq!(r.job.stop, ["END"]);
        assert_eq!(r.job.max_tokens, Some(5));
        assert_eq!(r.job.sampling.top_k, 3);
        assert_eq!(r.thinking, Thinking::Default);
    }

    #[test]
    fn thinking_blocks_are_the_reasoning_of_their_assistant_turn() {
        let thinking = |t: &str| json!({"type": "thinking", "thinking": t, "signature": "sig"});
        let body = json!({"max_tokens": 5, "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [
                thinking("one"),
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                thinking(""),
                {"type": "text", "text": "A"},
                thinking("two"),
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "1"}]},
            {"role": "assistant", "content": [thinking("three"), {"type": "text", "text": "B"}]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"},
                                              {"type": "text", "text": "C"}]},
            {"role": "user", "content": "b"}
        ]});
        let r = parse(body.clone()).unwrap();
        let reasoning: Vec<(&str, Option<&str>)> = chat(&r)
            .0
            .iter()
            .map(|m| (m.role.as_str(), m.reasoning_content.as_deref()))
            .collect();
        // Every turn keeps its own: the template decides which it prints.
        assert_eq!(
            reasoning,
            [
                ("user", None),
                ("assistant", Some("one\ntwo")),
                ("tool", None),
                ("assistant", Some("three")),
                ("assistant", None),
                ("user", None)
            ]
        );
        // count_tokens reads the same conversation.
        let mut count = body.clone();
        count.as_object_mut().unwrap().remove("max_tokens");
        let (_, input) = crate::body::read::<CountTokensRequest>(count.to_string().as_bytes())
            .unwrap()
            .into_input()
            .unwrap();
        let Input::Chat { messages, .. } = input else {
            panic!("not a chat")
        };
        assert_eq!(messages[1].reasoning_content.as_deref(), Some("one\ntwo"));
        // A thinking block without its text is refused by name.
        let e = parse(json!({"max_tokens": 5, "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "thinking", "signature": "s"}]},
            {"role": "user", "content": "b"}
        ]}))
        .unwrap_err();
        assert_eq!(e.param(), Some("messages[1].content[0].thinking"), "{e}");
    }

    #[test]
    fn thinking_and_output_config_are_read() {
        let base = json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            parse(b)
        };
        let r = parse(
            json!({"max_tokens": 2048, "messages": [{"role": "user", "content": "x"}],
            "thinking": {"type": "enabled", "budget_tokens": 1024}}),
        )
        .unwrap();
        assert_eq!(
            r.thinking,
            Thinking::On {
                effort: None,
                omitted: false
            }
        );
        assert_eq!(r.job.reasoning_budget, Some(1024));
        let e = with("thinking", json!({"type": "enabled", "budget_tokens": 5})).unwrap_err();
        assert_eq!(e.param(), Some("max_tokens"));
        assert!(e.to_string().contains("budget_tokens"), "{e}");
        let switch = |r: &AnthropicRequest| match &r.job.input {
            Input::Chat { thinking, .. } => *thinking,
            Input::Raw { .. } => panic!("not a chat"),
        };
        assert_eq!(switch(&r), Some(Switch::On));
        let r = with("thinking", json!({"type": "disabled"})).unwrap();
        assert!(!r.thinking.shows_blocks());
        assert_eq!(switch(&r), Some(Switch::Off));
        assert_eq!(switch(&parse(base.clone()).unwrap()), None);
        let r = with(
            "output_config",
            json!({"effort": "max", "format": {"type": "json_schema", "schema": {"type": "object"}}}),
        )
        .unwrap();
        assert_eq!(
            r.thinking,
            Thinking::On {
                effort: Some("high"),
                omitted: false
            }
        );
        assert_eq!(r.job.json_schema, Some(json!({"type": "object"})));
        assert_eq!(switch(&r), Some(Switch::Effort(Effort::High)));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let ok = json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"messages": [{"role": "user", "content": "x"}]}),
                "max_tokens",
            ),
            (
                json!({"max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
                "max_tokens",
            ),
            (
                json!({"max_tokens": "5", "messages": [{"role": "user", "content": "x"}]}),
                "max_tokens",
            ),
            (json!({"max_tokens": 5}), "messages"),
            (json!({"max_tokens": 5, "messages": []}), "messages"),
            (
                json!({"max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": 3}]}),
                "messages[0].content",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}),
                "messages[0].content[0].tool_use_id",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "pre"}]}),
                "messages[1]",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "sometimes"}}),
                "tool_choice",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "thinking": {"type": "enabled"}}),
                "thinking.budget_tokens",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "temperature": 1.5}),
                "temperature",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "stop_sequences": "END"}),
                "stop_sequences",
            ),
            (
                json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "frobnicate": 1}),
                "frobnicate",
            ),
        ];
        for (body, param) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.param(), Some(param), "{body}: {e}");
        }
        assert!(parse(ok).is_ok());
    }
}
