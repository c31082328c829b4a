//! OpenAI Responses API request bodies (`/v1/responses`) as typed structs, and their
//! conversion into the chat vocabulary and one engine [`Job`].
//!
//! The API is served stateless: nothing is stored, so every response says `store: false`
//! (whatever `store` asked), and what needs a stored response (`previous_response_id`,
//! `conversation`, `item_reference` items, `background`) is refused with a 400 that says to
//! send the whole conversation in `input`. `input` is a string or a list of items: messages
//! (`input_text` / `output_text` parts), `function_call`, `function_call_output` and
//! `reasoning`, whose text becomes the `reasoning_content` of the assistant message it belongs
//! to (the template decides whether to print an earlier turn's reasoning). Hosted tools and
//! non-text content are refused by name.

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use shimmy_core::backend::SamplingOptions;
use shimmy_engine::generation::{Input, Job};
use shimmy_engine::grammar::{ToolChoice, JSON_GRAMMAR};
use shimmy_engine::messages;
use shimmy_engine::thinking::Thinking;
use shimmy_plugins::{ChatMessage, ToolCall, ToolDefinition};

use crate::error::ServerError;
use crate::text_or_list::TextOrList;
use crate::wire::{
    items, json_kind, range, text, wire_request, Count, Flag, List, Number, Text, Unknown,
    UnknownFields,
};

/// What `/v1/responses` does with request fields it does not know: refused, as on the other
/// OpenAI routes.
pub const UNKNOWN_FIELDS: UnknownFields = UnknownFields::Refuse;

/// A `/v1/responses` body.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    model: Option<Text>,
    input: Option<TextOrList<ItemWire>>,
    instructions: Option<Text>,
    tools: Option<List<ToolWire>>,
    tool_choice: Option<ToolChoiceWire>,
    parallel_tool_calls: Option<Flag>,
    max_tool_calls: Option<Count>,
    text: Option<TextConfig>,
    reasoning: Option<ReasoningWire>,
    max_output_tokens: Option<Count>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_logprobs: Option<Count>,
    stream: Option<Flag>,
    store: Option<Flag>,
    previous_response_id: Option<Value>,
    conversation: Option<Value>,
    background: Option<Flag>,
    prompt: Option<Value>,
    include: Option<List<Text>>,
    truncation: Option<Text>,
    #[serde(rename = "metadata")]
    _metadata: Option<IgnoredAny>,
    #[serde(rename = "user")]
    _user: Option<IgnoredAny>,
    #[serde(rename = "safety_identifier")]
    _safety_identifier: Option<IgnoredAny>,
    #[serde(rename = "prompt_cache_key")]
    _prompt_cache_key: Option<IgnoredAny>,
    #[serde(rename = "prompt_cache_retention")]
    _prompt_cache_retention: Option<IgnoredAny>,
    #[serde(rename = "service_tier")]
    _service_tier: Option<IgnoredAny>,
    #[serde(rename = "stream_options")]
    _stream_options: Option<IgnoredAny>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(ResponsesRequest, "/v1/responses", UNKNOWN_FIELDS);

/// One input item: a message (`type` `message` or none), `function_call`,
/// `function_call_output` or `reasoning`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct ItemWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    role: Option<Text>,
    content: Option<TextOrList<PartWire>>,
    call_id: Option<Text>,
    name: Option<Text>,
    arguments: Option<Text>,
    output: Option<TextOrList<PartWire>>,
    /// A `reasoning` item's `summary_text` parts.
    summary: Option<List<PartWire>>,
}

/// A content part: `input_text`, `output_text` or `refusal` (others are refused); in a
/// `reasoning` item `reasoning_text` (`content`) or `summary_text` (`summary`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct PartWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    text: Option<Text>,
    refusal: Option<Text>,
}

/// A tool: `{"type": "function", "name", "description", "parameters", "strict"}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct ToolWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    name: Option<Text>,
    description: Option<Text>,
    parameters: Option<Value>,
    strict: Option<Flag>,
}

/// `tool_choice`: `"auto"`, `"none"`, `"required"` or `{"type": "function", "name": ...}`.
#[derive(Debug)]
struct ToolChoiceWire(ToolChoice);

impl<'de> Deserialize<'de> for ToolChoiceWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || {
            de::Error::custom(
                "must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...} \
                 (hosted tools and `allowed_tools` are not supported)",
            )
        };
        match Value::deserialize(d)? {
            Value::String(s) => match s.as_str() {
                "auto" => Ok(ToolChoiceWire(ToolChoice::Auto)),
                "none" => Ok(ToolChoiceWire(ToolChoice::None)),
                "required" => Ok(ToolChoiceWire(ToolChoice::Required)),
                _ => Err(bad()),
            },
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
                let name = o.get("name").and_then(Value::as_str).ok_or_else(bad)?;
                Ok(ToolChoiceWire(ToolChoice::Function(name.to_string())))
            }
            _ => Err(bad()),
        }
    }
}

/// `text`: `{"format": {...}, "verbosity": ...}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct TextConfig {
    format: Option<FormatWire>,
    #[serde(rename = "verbosity")]
    _verbosity: Option<IgnoredAny>,
}

/// `text.format`: `{"type": "text"}`, `{"type": "json_object"}` or `{"type": "json_schema",
/// "name", "schema", "strict", "description"}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct FormatWire {
    #[serde(rename = "type")]
    kind: Option<Text>,
    name: Option<Text>,
    schema: Option<Value>,
    strict: Option<Flag>,
    description: Option<Text>,
}

/// `reasoning`: `{"effort", "summary", "generate_summary"}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct ReasoningWire {
    effort: Option<Text>,
    #[serde(rename = "summary")]
    _summary: Option<IgnoredAny>,
    #[serde(rename = "generate_summary")]
    _generate_summary: Option<IgnoredAny>,
}

/// The reasoning efforts `reasoning.effort` takes.
pub const EFFORTS: [&str; 6] = ["none", "minimal", "low", "medium", "high", "xhigh"];

/// What the response object repeats of the request.
#[derive(Debug, Clone)]
pub struct Echo {
    /// `instructions`.
    pub instructions: Option<String>,
    /// `tools`, as the response lists them.
    pub tools: Vec<Value>,
    /// `tool_choice`, as the response shows it.
    pub tool_choice: Value,
    /// `parallel_tool_calls` (default true).
    pub parallel_tool_calls: bool,
    /// `max_tool_calls`: at most this many function calls are returned.
    pub max_tool_calls: Option<u32>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u32>,
    /// `temperature` as sent.
    pub temperature: Option<f64>,
    /// `top_p` as sent.
    pub top_p: Option<f64>,
    /// `text`, as the response shows it (`{"format": ...}`).
    pub text: Value,
    /// `reasoning.effort` as sent.
    pub effort: Option<String>,
}

/// A parsed `/v1/responses` request.
#[derive(Debug, Clone)]
pub struct ResponsesJob {
    /// The model field as sent (echoed back).
    pub model: Option<String>,
    /// The job.
    pub job: Job,
    /// `stream` (default false).
    pub stream: bool,
    /// What the response repeats.
    pub echo: Echo,
}

impl ResponsesRequest {
    /// The job this request asks for.
    pub fn into_request(self) -> Result<ResponsesJob, ServerError> {
        self.refuse_stateful()?;
        if self.top_logprobs.is_some_and(|c| c.0 > 0) {
            return Err(ServerError::unsupported(
                "top_logprobs",
                "`top_logprobs` is not supported on /v1/responses; use /v1/chat/completions with `logprobs`",
            ));
        }
        for (i, Text(include)) in items(self.include).into_iter().enumerate() {
            if include == "message.output_text.logprobs" {
                return Err(ServerError::unsupported(
                    format!("include[{i}]"),
                    "`include` \"message.output_text.logprobs\" is not supported on /v1/responses; \
                     use /v1/chat/completions with `logprobs`",
                ));
            }
        }
        match text(self.truncation).as_deref() {
            None | Some("disabled") => {}
            Some("auto") => {
                return Err(ServerError::unsupported(
                    "truncation",
                    "`truncation: \"auto\"` is not supported; a prompt that does not fit the \
                     context is refused with both numbers",
                ))
            }
            Some(other) => {
                return Err(ServerError::invalid(
                    "truncation",
                    format!("`truncation` must be \"auto\" or \"disabled\", not \"{other}\""),
                ))
            }
        }
        let max_output_tokens = match self.max_output_tokens {
            Some(Count(0)) => {
                return Err(ServerError::invalid(
                    "max_output_tokens",
                    "`max_output_tokens` must be at least 1",
                ))
            }
            other => other.map(|c| c.0),
        };
        let mut chat = match text(self.instructions.clone()) {
            Some(s) if !s.is_empty() => vec![ChatMessage::new("system", s)],
            _ => Vec::new(),
        };
        chat.extend(input_messages(self.input)?);
        messages::validate(&chat)?;
        let (definitions, tools_echo) = tools(items(self.tools))?;
        let choice = self.tool_choice.map_or(ToolChoice::Auto, |c| c.0);
        let parallel = self.parallel_tool_calls.map(|f| f.0);
        let effort = match self.reasoning.and_then(|r| text(r.effort)) {
            Some(e) if !EFFORTS.contains(&e.as_str()) => {
                return Err(ServerError::invalid(
                    "reasoning.effort",
                    format!(
                        "`reasoning.effort` must be one of {}, not \"{e}\"",
                        EFFORTS.join(", ")
                    ),
                ))
            }
            other => other,
        };
        let (format, grammar, json_schema) = text_format(self.text)?;
        let mut job = Job::new(
            text(self.model.clone()),
            Input::Chat {
                messages: chat,
                tools: definitions,
                template: None,
                thinking: effort.as_deref().and_then(switch),
            },
        );
        job.max_tokens = max_output_tokens;
        job.sampling = sampling(self.temperature, self.top_p)?;
        job.tool_choice = choice.clone();
        job.parallel_tool_calls = parallel;
        job.grammar = grammar;
        job.json_schema = json_schema;
        job.json_schema_param = "text.format.schema";
        Ok(ResponsesJob {
            model: text(self.model),
            job,
            stream: self.stream.is_some_and(|f| f.0),
            echo: Echo {
                instructions: text(self.instructions),
                tools: tools_echo,
                tool_choice: match choice {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Function(name) => json!({"type": "function", "name": name}),
                },
                parallel_tool_calls: parallel.unwrap_or(true),
                max_tool_calls: self.max_tool_calls.map(|c| c.0),
                max_output_tokens,
                temperature: self.temperature.map(|n| n.0),
                top_p: self.top_p.map(|n| n.0),
                text: json!({ "format": format }),
                effort,
            },
        })
    }

    /// Refuses what needs a stored response or a background run.
    fn refuse_stateful(&self) -> Result<(), ServerError> {
        let stateless = |param: &str, what: &str| {
            ServerError::unsupported(
                param,
                format!(
                    "{what}: this server does not store responses (every response has \
                     `store: false`); send the whole conversation in `input`"
                ),
            )
        };
        if self.previous_response_id.is_some() {
            return Err(stateless(
                "previous_response_id",
                "`previous_response_id` is not supported",
            ));
        }
        if self.conversation.is_some() {
            return Err(stateless("conversation", "`conversation` is not supported"));
        }
        if self.prompt.is_some() {
            return Err(ServerError::unsupported(
                "prompt",
                "`prompt` (stored prompt templates) is not supported; send `instructions` and `input`",
            ));
        }
        if self.background.is_some_and(|f| f.0) {
            return Err(ServerError::unsupported(
                "background",
                "`background: true` is not supported; use `stream: true` for long answers",
            ));
        }
        // `store: true` is accepted; the response says `store: false`.
        let _ = self.store;
        Ok(())
    }
}

/// `reasoning.effort` as the template's thinking switch (`none` turns it off; `xhigh` is the
/// highest effort templates know, `high`).
fn switch(effort: &str) -> Option<Thinking> {
    Thinking::from_reasoning_effort(if effort == "xhigh" { "high" } else { effort })
}

fn sampling(
    temperature: Option<Number>,
    top_p: Option<Number>,
) -> Result<SamplingOptions, ServerError> {
    let mut s = SamplingOptions::openai_compatible();
    if let Some(t) = temperature {
        range("temperature", t.f32(), 0.0, 2.0)?;
        s.temperature = t.f32();
    }
    if let Some(p) = top_p {
        let p = p.f32();
        if !(p > 0.0 && p <= 1.0) {
            return Err(ServerError::invalid(
                "top_p",
                format!("`top_p` must be greater than 0 and at most 1, not {p}"),
            ));
        }
        s.top_p = p;
    }
    Ok(s)
}

/// `text.format`: how the response shows it, and the grammar or JSON schema it asks for.
fn text_format(
    config: Option<TextConfig>,
) -> Result<(Value, Option<String>, Option<Value>), ServerError> {
    let Some(format) = config.and_then(|c| c.format) else {
        return Ok((json!({"type": "text"}), None, None));
    };
    match text(format.kind).as_deref() {
        Some("text") => Ok((json!({"type": "text"}), None, None)),
        Some("json_object") => Ok((
            json!({"type": "json_object"}),
            Some(JSON_GRAMMAR.to_string()),
            None,
        )),
        Some("json_schema") => {
            let schema = match format.schema {
                Some(schema @ Value::Object(_)) => schema,
                other => {
                    return Err(ServerError::invalid(
                        "text.format.schema",
                        format!(
                            "`text.format.schema` must be a JSON schema object, not {}",
                            other.as_ref().map_or("missing", json_kind)
                        ),
                    ))
                }
            };
            let Some(Text(name)) = format.name else {
                return Err(ServerError::invalid(
                    "text.format.name",
                    "`text.format.name` is required with type `json_schema`",
                ));
            };
            let shown = json!({
                "type": "json_schema",
                "name": name,
                "schema": schema,
                "strict": format.strict.map(|f| f.0),
                "description": text(format.description),
            });
            Ok((shown, None, Some(schema)))
        }
        _ => Err(ServerError::invalid(
            "text.format.type",
            "`text.format.type` must be \"text\", \"json_object\" or \"json_schema\"",
        )),
    }
}

/// `tools` as tool definitions, and as the response lists them.
fn tools(tools: Vec<ToolWire>) -> Result<(Vec<ToolDefinition>, Vec<Value>), ServerError> {
    let mut definitions = Vec::with_capacity(tools.len());
    let mut shown = Vec::with_capacity(tools.len());
    for (i, tool) in tools.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        match text(tool.kind).as_deref() {
            Some("function") => {}
            Some(kind) => {
                return Err(ServerError::unsupported(
                    format!("{at}.type"),
                    format!(
                        "`{at}.type` \"{kind}\" is not supported: this server runs no hosted \
                         tools; only `function` tools are supported"
                    ),
                ))
            }
            None => {
                return Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!("`{at}.type` is required (\"function\")"),
                ))
            }
        }
        let Some(Text(name)) = tool.name else {
            return Err(ServerError::invalid(
                format!("{at}.name"),
                format!("`{at}.name` is required"),
            ));
        };
        let parameters = match tool.parameters {
            None | Some(Value::Null) => None,
            Some(p @ Value::Object(_)) => Some(p),
            Some(other) => {
                return Err(ServerError::invalid(
                    format!("{at}.parameters"),
                    format!(
                        "`{at}.parameters` must be a JSON schema object, not {}",
                        json_kind(&other)
                    ),
                ))
            }
        };
        let description = text(tool.description);
        shown.push(json!({
            "type": "function",
            "name": name,
            "description": description,
            "parameters": parameters,
            "strict": tool.strict.is_none_or(|f| f.0),
        }));
        definitions.push(ToolDefinition {
            name,
            description: description.unwrap_or_default(),
            parameters_schema: parameters.map_or_else(|| "{}".to_string(), |p| p.to_string()),
        });
    }
    Ok((definitions, shown))
}

/// `input` as chat messages: a string is one user message; function calls join the assistant
/// message before them (or make one), each `function_call_output` is a `tool` message; a
/// `reasoning` item's text is the `reasoning_content` of the assistant message before it (or of
/// a new one, which the output message and function calls after it then join), as llama-server
/// reads them. Every turn keeps its reasoning: templates choose which turns' they print.
fn input_messages(input: Option<TextOrList<ItemWire>>) -> Result<Vec<ChatMessage>, ServerError> {
    let items = match input {
        None => return Err(ServerError::invalid("input", "`input` is required")),
        Some(TextOrList::Text(s)) => return Ok(vec![ChatMessage::new("user", s)]),
        Some(TextOrList::List(items)) if items.is_empty() => {
            return Err(ServerError::invalid("input", "`input` is an empty list"))
        }
        Some(TextOrList::List(items)) => items,
    };
    let mut out: Vec<ChatMessage> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        match text(item.kind.clone()).as_deref() {
            None | Some("message") => {
                let m = message(item, &at)?;
                match out.last_mut() {
                    // The answer after its reasoning item: one assistant turn.
                    Some(last) if m.role == "assistant" && holds_only_reasoning(last) => {
                        last.content = m.content;
                    }
                    _ => out.push(m),
                }
            }
            Some("function_call") => {
                let call = function_call(item, &at)?;
                match out.last_mut() {
                    Some(last) if last.role == "assistant" => last.tool_calls.push(call),
                    _ => {
                        let mut m = ChatMessage::new("assistant", "");
                        m.tool_calls.push(call);
                        out.push(m);
                    }
                }
            }
            Some("function_call_output") => out.push(function_output(item, &at)?),
            Some("reasoning") => {
                let Some(thought) = reasoning_text(item, &at)? else {
                    continue;
                };
                match out.last_mut() {
                    Some(last) if last.role == "assistant" => match &mut last.reasoning_content {
                        // Several reasoning items of one turn (between its calls): all kept.
                        Some(earlier) => {
                            earlier.push('\n');
                            earlier.push_str(&thought);
                        }
                        None => last.reasoning_content = Some(thought),
                    },
                    _ => {
                        let mut m = ChatMessage::new("assistant", "");
                        m.reasoning_content = Some(thought);
                        out.push(m);
                    }
                }
            }
            Some("item_reference") => {
                return Err(ServerError::unsupported(
                    format!("{at}.type"),
                    format!(
                        "`{at}` is an item_reference: this server does not store items; send \
                         the item itself"
                    ),
                ))
            }
            Some(kind) => {
                return Err(ServerError::unsupported(
                    format!("{at}.type"),
                    format!(
                        "`{at}.type` \"{kind}\" is not supported; input items are message, \
                         function_call, function_call_output and reasoning"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// An assistant message made by a reasoning item, still waiting for its answer.
fn holds_only_reasoning(m: &ChatMessage) -> bool {
    m.role == "assistant"
        && m.content.is_empty()
        && m.tool_calls.is_empty()
        && m.reasoning_content.is_some()
}

/// The text of a `reasoning` item: its `content` (`reasoning_text` parts, the reasoning
/// itself, as this server and open-weight models return it), else its `summary`
/// (`summary_text` parts, what OpenAI's models return); none when both are empty (an item
/// with only `encrypted_content`, which this server cannot read).
fn reasoning_text(item: ItemWire, at: &str) -> Result<Option<String>, ServerError> {
    let content = match item.content {
        None => Vec::new(),
        Some(TextOrList::Text(s)) => vec![s],
        Some(TextOrList::List(parts)) => {
            reasoning_parts(parts, "reasoning_text", &format!("{at}.content"))?
        }
    };
    let summary = reasoning_parts(
        items(item.summary),
        "summary_text",
        &format!("{at}.summary"),
    )?;
    let joined = |parts: Vec<String>, by: &str| {
        let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        (!parts.is_empty()).then(|| parts.join(by))
    };
    // Summary parts are paragraphs of their own.
    Ok(joined(content, "\n").or_else(|| joined(summary, "\n\n")))
}

/// The texts of a reasoning item's parts, each of type `kind`.
fn reasoning_parts(parts: Vec<PartWire>, kind: &str, at: &str) -> Result<Vec<String>, ServerError> {
    parts
        .into_iter()
        .enumerate()
        .map(|(j, part)| {
            let at = format!("{at}[{j}]");
            match text(part.kind).as_deref() {
                Some(k) if k == kind => text(part.text).ok_or_else(|| {
                    ServerError::invalid(
                        format!("{at}.text"),
                        format!("`{at}.text` must be a string"),
                    )
                }),
                Some(other) => Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!("`{at}.type` must be \"{kind}\", not \"{other}\""),
                )),
                None => Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!("`{at}.type` is required (\"{kind}\")"),
                )),
            }
        })
        .collect()
}

fn message(item: ItemWire, at: &str) -> Result<ChatMessage, ServerError> {
    let role = match text(item.role).as_deref() {
        Some(r @ ("user" | "assistant" | "system")) => r.to_string(),
        Some("developer") => "system".to_string(),
        Some(other) => {
            return Err(ServerError::invalid(
                format!("{at}.role"),
                format!(
                    "`{at}.role` must be \"user\", \"assistant\", \"system\" or \"developer\", not \"{other}\""
                ),
            ))
        }
        None => {
            return Err(ServerError::invalid(
                format!("{at}.role"),
                format!("`{at}.role` is required"),
            ))
        }
    };
    let content = match item.content {
        None => {
            return Err(ServerError::invalid(
                format!("{at}.content"),
                format!("`{at}.content` is required"),
            ))
        }
        Some(content) => parts_text(content, &format!("{at}.content"))?,
    };
    Ok(ChatMessage::new(role, content))
}

/// The text of a string or a list of text parts.
fn parts_text(content: TextOrList<PartWire>, at: &str) -> Result<String, ServerError> {
    let parts = match content {
        TextOrList::Text(s) => return Ok(s),
        TextOrList::List(parts) => parts,
    };
    let mut out = String::new();
    for (j, part) in parts.into_iter().enumerate() {
        let at = format!("{at}[{j}]");
        let piece = match text(part.kind).as_deref() {
            Some("input_text" | "output_text") => text(part.text),
            Some("refusal") => text(part.refusal),
            Some(kind @ ("input_image" | "input_file" | "input_audio")) => {
                return Err(ServerError::unsupported(
                    at.clone(),
                    format!("`{at}` is an {kind} part; only text is supported (no vision, file or audio models)"),
                ))
            }
            Some(kind) => {
                return Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!("`{at}.type` \"{kind}\" is not a content part type"),
                ))
            }
            None => {
                return Err(ServerError::invalid(
                    format!("{at}.type"),
                    format!("`{at}.type` is required"),
                ))
            }
        };
        let Some(piece) = piece else {
            return Err(ServerError::invalid(
                format!("{at}.text"),
                format!("`{at}.text` must be a string"),
            ));
        };
        out.push_str(&piece);
    }
    Ok(out)
}

fn function_call(item: ItemWire, at: &str) -> Result<ToolCall, ServerError> {
    let (Some(Text(call_id)), Some(Text(name))) = (item.call_id, item.name) else {
        return Err(ServerError::invalid(
            at,
            format!("`{at}` (a function_call) needs `call_id` and `name`"),
        ));
    };
    Ok(ToolCall {
        id: call_id,
        name,
        arguments: text(item.arguments).unwrap_or_else(|| "{}".into()),
    })
}

fn function_output(item: ItemWire, at: &str) -> Result<ChatMessage, ServerError> {
    let Some(Text(call_id)) = item.call_id else {
        return Err(ServerError::invalid(
            format!("{at}.call_id"),
            format!("`{at}.call_id` is required"),
        ));
    };
    let Some(output) = item.output else {
        return Err(ServerError::invalid(
            format!("{at}.output"),
            format!("`{at}.output` is required"),
        ));
    };
    Ok(ChatMessage {
        role: "tool".into(),
        content: parts_text(output, &format!("{at}.output"))?,
        tool_call_id: Some(call_id),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ResponsesJob, ServerError> {
        crate::body::read::<ResponsesRequest>(v.to_string().as_bytes())?.into_request()
    }

    #[test]
    fn items_become_chat_messages() {
        let r = parse(json!({
            "model": "m", "instructions": "be brief",
            "input": [
                {"role": "user", "content": "weather?"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {"role": "developer", "content": [{"type": "input_text", "text": "answer now"}]}
            ],
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
            "reasoning": {"effort": "low"}, "max_output_tokens": 20, "store": true, "metadata": {}
        }))
        .unwrap();
        let Input::Chat {
            messages, tools, ..
        } = &r.job.input
        else {
            panic!()
        };
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "system"]);
        assert_eq!(messages[2].content, "Looking.");
        assert_eq!(messages[2].tool_calls[0].id, "call_1");
        assert_eq!(messages[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(tools[0].name, "get_weather");
        assert_eq!(
            r.job.tool_choice,
            ToolChoice::Function("get_weather".into())
        );
        assert_eq!(r.job.json_schema, Some(json!({"type": "object"})));
        assert_eq!(r.job.max_tokens, Some(20));
        assert_eq!(r.echo.effort.as_deref(), Some("low"));
        let Input::Chat { thinking, .. } = &r.job.input else {
            panic!()
        };
        assert_eq!(
            *thinking,
            Some(Thinking::Effort(shimmy_engine::thinking::Effort::Low))
        );
        assert_eq!(r.echo.text["format"]["name"], "w");
        let r = parse(json!({"input": "x", "reasoning": {"effort": "none"}})).unwrap();
        assert!(matches!(
            &r.job.input,
            Input::Chat {
                thinking: Some(Thinking::Off),
                ..
            }
        ));
        let r = parse(json!({"input": "hi"})).unwrap();
        assert!(
            matches!(&r.job.input, Input::Chat { messages, .. } if messages[0].content == "hi")
        );
    }

    /// The chat an `input` list reads into.
    fn chat_of(input: Value) -> Vec<ChatMessage> {
        match parse(json!({ "input": input })).unwrap().job.input {
            Input::Chat { messages, .. } => messages,
            Input::Raw { .. } => panic!("not a chat"),
        }
    }

    #[test]
    fn reasoning_items_become_the_reasoning_of_their_assistant_turn() {
        let thought = |t: &str| {
            json!({"type": "reasoning", "id": "rs", "summary": [],
                   "content": [{"type": "reasoning_text", "text": t}]})
        };
        let answer = |t: &str| {
            json!({"type": "message", "role": "assistant",
                   "content": [{"type": "output_text", "text": t}]})
        };
        let call = |id: &str| json!({"type": "function_call", "call_id": id, "name": "f", "arguments": "{}"});
        let chat = chat_of(json!([
            {"role": "user", "content": "a"},
            thought("first"), answer("A"),
            {"role": "user", "content": "b"},
            // OpenAI's models return only a summary.
            {"type": "reasoning", "id": "rs", "encrypted_content": "gAAA",
             "summary": [{"type": "summary_text", "text": "**Plan**"},
                         {"type": "summary_text", "text": "call f"}]},
            call("c1"),
            {"type": "function_call_output", "call_id": "c1", "output": "1"},
            // One turn's reasoning items between its calls are all kept.
            thought("again"), call("c2"), thought("last"), call("c3"),
            {"type": "function_call_output", "call_id": "c2", "output": "2"},
            {"type": "function_call_output", "call_id": "c3", "output": "3"},
            // An item with neither text is no reasoning; its answer is a turn of its own.
            {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "gAAA"},
            answer("B"),
            // A reasoning item after the assistant message joins it, as llama-server does.
            thought("after"),
            {"role": "user", "content": "c"}
        ]));
        let shape: Vec<(&str, &str, usize, Option<&str>)> = chat
            .iter()
            .map(|m| {
                (
                    m.role.as_str(),
                    m.content.as_str(),
                    m.tool_calls.len(),
                    m.reasoning_content.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("user", "a", 0, None),
                ("assistant", "A", 0, Some("first")),
                ("user", "b", 0, None),
                ("assistant", "", 1, Some("**Plan**\n\ncall f")),
                ("tool", "1", 0, None),
                ("assistant", "", 2, Some("again\nlast")),
                ("tool", "2", 0, None),
                ("tool", "3", 0, None),
                ("assistant", "B", 0, Some("after")),
                ("user", "c", 0, None),
            ]
        );
        // Reasoning text wins over its summary; a lone reasoning item is an assistant turn.
        let chat = chat_of(json!([
            {"role": "user", "content": "a"},
            {"type": "reasoning", "id": "rs",
             "summary": [{"type": "summary_text", "text": "short"}],
             "content": [{"type": "reasoning_text", "text": "long"}]},
            {"role": "user", "content": "b"}
        ]));
        assert_eq!(chat[1].role, "assistant");
        assert_eq!(chat[1].content, "");
        assert_eq!(chat[1].reasoning_content.as_deref(), Some("long"));
        assert_eq!(chat[2].role, "user");
        // Parts of another type are refused by name.
        for (item, param) in [
            (
                json!({"type": "reasoning", "summary": [{"type": "output_text", "text": "x"}]}),
                "input[1].summary[0].type",
            ),
            (
                json!({"type": "reasoning", "summary": [],
                       "content": [{"type": "reasoning_text", "text": 5}]}),
                "input[1].content[0].text",
            ),
        ] {
            let body = json!({"input": [{"role": "user", "content": "a"}, item]});
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.param(), Some(param), "{body}: {e}");
        }
    }

    #[test]
    fn bad_and_stateful_requests_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": 5}), "input"),
            (
                json!({"input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (json!({"input": "x", "conversation": "c"}), "conversation"),
            (json!({"input": "x", "background": true}), "background"),
            (
                json!({"input": [{"type": "item_reference", "id": "x"}]}),
                "input[0].type",
            ),
            (
                json!({"input": [{"type": "web_search_call"}]}),
                "input[0].type",
            ),
            (
                json!({"input": [{"role": "robot", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}),
                "input[0].content[0]",
            ),
            (
                json!({"input": [{"type": "function_call_output", "output": "x"}]}),
                "input[0].call_id",
            ),
            (
                json!({"input": "x", "tools": [{"type": "web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"input": "x", "tool_choice": {"type": "file_search"}}),
                "tool_choice",
            ),
            (
                json!({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}),
                "text.format.name",
            ),
            (
                json!({"input": "x", "reasoning": {"effort": "huge"}}),
                "reasoning.effort",
            ),
            (
                json!({"input": "x", "max_output_tokens": 0}),
                "max_output_tokens",
            ),
            (json!({"input": "x", "temperature": 3}), "temperature"),
            (json!({"input": "x", "truncation": "auto"}), "truncation"),
            (json!({"input": "x", "frobnicate": 1}), "frobnicate"),
        ];
        for (body, param) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.param(), Some(param), "{body}: {e}");
        }
    }
}
