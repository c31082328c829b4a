//! OpenAI request parsing (into a [`Job`]) and the JSON pieces shared by the responses.
//!
//! Every parameter is either honoured or refused with a 400 that names it; parameters that
//! do not change the output (`user`, `metadata`, `store`, ...) are accepted.

use serde::Deserialize;
use serde_json::{json, Map, Value};
use shimmy_core::backend::{GenerateSummary, SamplingOptions, TokenLogprob};
use shimmy_engine::generation::{Input, Job};
use shimmy_engine::grammar::{ToolChoice, JSON_GRAMMAR};
use shimmy_engine::new_id;
use shimmy_plugins::{ChatMessage, ToolCall, ToolDefinition};

use crate::error::ServerError;
use crate::wire::{check_fields, from_json, json_kind};

/// Parameters `/v1/chat/completions` knows.
const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "n",
    "top_k",
    "min_p",
    "repeat_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "logit_bias",
    "user",
    "metadata",
    "store",
    "service_tier",
    "template",
    "grammar",
];

/// Parameters `/v1/completions` knows.
const COMPLETION_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "n",
    "best_of",
    "echo",
    "suffix",
    "logit_bias",
    "user",
    "top_k",
    "min_p",
    "repeat_penalty",
    "response_format",
    "grammar",
];

/// The fields both endpoints share, as sent.
#[derive(Debug, Default, Deserialize)]
struct Common {
    model: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    stop: Option<Value>,
    seed: Option<i64>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    logprobs: Option<Value>,
    top_logprobs: Option<u32>,
    n: Option<u32>,
    best_of: Option<u32>,
    echo: Option<bool>,
    suffix: Option<String>,
    top_k: Option<i32>,
    min_p: Option<f32>,
    repeat_penalty: Option<f32>,
    response_format: Option<Value>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<Value>,
    logit_bias: Option<Map<String, Value>>,
    template: Option<String>,
    grammar: Option<String>,
    messages: Option<Value>,
    prompt: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// A parsed OpenAI request.
#[derive(Debug, Clone)]
pub struct OpenAiRequest {
    /// The model field as sent (echoed back when present).
    pub model: Option<String>,
    /// The job.
    pub job: Job,
    /// `stream` (default false).
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// Whether log-probabilities go into the response.
    pub logprobs: bool,
}

/// Parses a `/v1/chat/completions` body.
pub fn parse_chat(body: Value) -> Result<OpenAiRequest, ServerError> {
    check_fields(&body, CHAT_FIELDS, "by /v1/chat/completions")?;
    let c: Common = from_json(body)?;
    let messages = parse_messages(c.messages.as_ref())?;
    let tools = parse_tools(c.tools.as_deref())?;
    let tool_choice = parse_tool_choice(c.tool_choice.as_ref())?;
    let parallel_tool_calls = match c.parallel_tool_calls {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(ref other) => {
            return Err(ServerError::invalid(
                "parallel_tool_calls",
                format!(
                    "`parallel_tool_calls` must be true or false, not {}",
                    json_kind(other)
                ),
            ))
        }
    };
    let logprobs = match &c.logprobs {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ServerError::invalid(
                "logprobs",
                format!("`logprobs` must be true or false, not {}", json_kind(other)),
            ))
        }
    };
    let top = match (logprobs, c.top_logprobs) {
        (_, Some(n)) if n > 20 => {
            return Err(ServerError::invalid(
                "top_logprobs",
                format!("`top_logprobs` must be between 0 and 20, not {n}"),
            ))
        }
        (false, Some(_)) => {
            return Err(ServerError::invalid(
                "top_logprobs",
                "`top_logprobs` needs `logprobs: true`",
            ))
        }
        (true, n) => Some(n.unwrap_or(0)),
        (false, None) => None,
    };
    let max_tokens = c.max_completion_tokens.or(c.max_tokens);
    let input = Input::Chat {
        messages,
        tools,
        template: c.template.clone(),
    };
    let mut request = finish(c, input, max_tokens, top, logprobs)?;
    request.job.tool_choice = tool_choice;
    request.job.parallel_tool_calls = parallel_tool_calls;
    Ok(request)
}

/// Parses a `/v1/completions` body.
pub fn parse_completion(body: Value) -> Result<OpenAiRequest, ServerError> {
    check_fields(&body, COMPLETION_FIELDS, "by /v1/completions")?;
    let c: Common = from_json(body)?;
    let prompt =
        match &c.prompt {
            None | Some(Value::Null) => {
                return Err(ServerError::invalid("prompt", "`prompt` is required"))
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => match items.as_slice() {
                [Value::String(s)] => s.clone(),
                [] => return Err(ServerError::invalid("prompt", "`prompt` is an empty list")),
                [Value::String(_), ..] => return Err(ServerError::unsupported(
                    "prompt",
                    "several prompts in one request are not supported; send one request per prompt",
                )),
                _ => {
                    return Err(ServerError::unsupported(
                        "prompt",
                        "token-id prompts are not supported; send the prompt as a string",
                    ))
                }
            },
            Some(other) => {
                return Err(ServerError::invalid(
                    "prompt",
                    format!("`prompt` must be a string, not {}", json_kind(other)),
                ))
            }
        };
    if prompt.is_empty() {
        return Err(ServerError::invalid("prompt", "`prompt` is empty"));
    }
    if c.echo == Some(true) {
        return Err(ServerError::unsupported(
            "echo",
            "`echo: true` is not supported",
        ));
    }
    if c.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ServerError::unsupported(
            "suffix",
            "`suffix` (fill-in-the-middle) is not supported",
        ));
    }
    if c.best_of.is_some_and(|n| n > 1) {
        return Err(ServerError::unsupported(
            "best_of",
            "`best_of` > 1 is not supported",
        ));
    }
    let top = match &c.logprobs {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n <= 20 => Some(n as u32),
            _ => {
                return Err(ServerError::invalid(
                    "logprobs",
                    format!("`logprobs` must be an integer between 0 and 20, not {n}"),
                ))
            }
        },
        Some(other) => {
            return Err(ServerError::invalid(
                "logprobs",
                format!(
                    "`logprobs` must be an integer between 0 and 20, not {}",
                    json_kind(other)
                ),
            ))
        }
    };
    // The legacy endpoint's default length, as OpenAI's.
    let max_tokens = Some(c.max_tokens.unwrap_or(16));
    finish(c, Input::Raw { prompt }, max_tokens, top, top.is_some())
}

fn finish(
    c: Common,
    input: Input,
    max_tokens: Option<u32>,
    top_logprobs: Option<u32>,
    logprobs: bool,
) -> Result<OpenAiRequest, ServerError> {
    match c.n {
        None | Some(1) => {}
        Some(0) => return Err(ServerError::invalid("n", "`n` must be at least 1")),
        Some(n) => {
            return Err(ServerError::unsupported(
                "n",
                format!("`n` = {n} (several choices per request) is not supported; send {n} requests instead"),
            ))
        }
    }
    if max_tokens == Some(0) {
        return Err(ServerError::invalid(
            "max_tokens",
            "`max_tokens` must be at least 1",
        ));
    }
    if c.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(ServerError::unsupported(
            "logit_bias",
            "`logit_bias` is not supported",
        ));
    }
    let stream = c.stream.unwrap_or(false);
    if c.stream_options.is_some() && !stream {
        return Err(ServerError::invalid(
            "stream_options",
            "`stream_options` is only allowed with `stream: true`",
        ));
    }
    let include_usage = c
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let sampling = sampling(&c)?;
    let (grammar, json_schema) = match (&c.response_format, c.grammar) {
        (Some(_), Some(_)) => {
            return Err(ServerError::invalid(
                "grammar",
                "give `response_format` or `grammar`, not both",
            ))
        }
        (_, Some(g)) => (Some(g), None),
        (Some(format), None) => response_format_constraint(format)?,
        (None, None) => (None, None),
    };
    let mut job = Job::new(c.model.clone(), input);
    job.max_tokens = max_tokens;
    job.stop = parse_stop(c.stop.as_ref())?;
    job.sampling = sampling;
    job.logprobs = top_logprobs;
    job.grammar = grammar;
    job.json_schema = json_schema;
    Ok(OpenAiRequest {
        model: c.model,
        job,
        stream,
        include_usage,
        logprobs,
    })
}

fn sampling(c: &Common) -> Result<SamplingOptions, ServerError> {
    let mut s = SamplingOptions::default();
    if let Some(t) = c.temperature {
        range("temperature", t, 0.0, 2.0)?;
        s.temperature = t;
    }
    if let Some(p) = c.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(ServerError::invalid(
                "top_p",
                format!("`top_p` must be greater than 0 and at most 1, not {p}"),
            ));
        }
        s.top_p = p;
    }
    if let Some(k) = c.top_k {
        if k < 0 {
            return Err(ServerError::invalid(
                "top_k",
                format!("`top_k` must be 0 (off) or more, not {k}"),
            ));
        }
        s.top_k = k;
    }
    if let Some(p) = c.min_p {
        range("min_p", p, 0.0, 1.0)?;
        s.min_p = p;
    }
    if let Some(p) = c.repeat_penalty {
        range("repeat_penalty", p, 0.0, 10.0)?;
        s.repeat_penalty = p;
    }
    if let Some(p) = c.presence_penalty {
        range("presence_penalty", p, -2.0, 2.0)?;
        s.presence_penalty = p;
    }
    if let Some(p) = c.frequency_penalty {
        range("frequency_penalty", p, -2.0, 2.0)?;
        s.frequency_penalty = p;
    }
    s.seed = parse_seed(c.seed)?;
    Ok(s)
}

/// Checks `lo <= v <= hi` (and finite).
pub fn range(name: &str, v: f32, lo: f32, hi: f32) -> Result<(), ServerError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(ServerError::invalid(
            name,
            format!("`{name}` must be between {lo} and {hi}, not {v}"),
        ))
    }
}

/// A seed: 0..=u32::MAX, or negative for a random one.
pub fn parse_seed(seed: Option<i64>) -> Result<Option<u32>, ServerError> {
    match seed {
        None => Ok(None),
        Some(s) if s < 0 => Ok(None),
        Some(s) => u32::try_from(s).map(Some).map_err(|_| {
            ServerError::invalid(
                "seed",
                format!(
                    "`seed` must be between 0 and {} (or negative for a random seed), not {s}",
                    u32::MAX
                ),
            )
        }),
    }
}

/// `stop`: a string or a list of strings.
pub fn parse_stop(stop: Option<&Value>) -> Result<Vec<String>, ServerError> {
    match stop {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(ServerError::invalid(
                    format!("stop[{i}]"),
                    format!("`stop[{i}]` must be a string, not {}", json_kind(other)),
                )),
            })
            .collect(),
        Some(other) => Err(ServerError::invalid(
            "stop",
            format!(
                "`stop` must be a string or a list of strings, not {}",
                json_kind(other)
            ),
        )),
    }
}

/// `response_format`: `text` (nothing), `json_object` (the JSON grammar) or `json_schema`
/// (`{"json_schema": {"name", "schema", "strict"}}`: the schema, converted when the job
/// starts). Returns `(grammar, schema)`.
fn response_format_constraint(
    format: &Value,
) -> Result<(Option<String>, Option<Value>), ServerError> {
    let kind = format.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => Ok((None, None)),
        Some("json_object") => Ok((Some(JSON_GRAMMAR.to_string()), None)),
        Some("json_schema") => {
            let spec = format.get("json_schema").ok_or_else(|| {
                ServerError::invalid(
                    "response_format.json_schema",
                    "`response_format.json_schema` is required with type `json_schema`",
                )
            })?;
            match spec.get("schema") {
                None | Some(Value::Null) => Ok((None, Some(json!({"type": "object"})))),
                Some(schema) if schema.is_object() || schema.is_boolean() => {
                    Ok((None, Some(schema.clone())))
                }
                Some(other) => Err(ServerError::invalid(
                    "response_format.json_schema.schema",
                    format!(
                        "`response_format.json_schema.schema` must be a JSON schema object, not {}",
                        json_kind(other)
                    ),
                )),
            }
        }
        _ => Err(ServerError::invalid(
            "response_format",
            "`response_format.type` must be `text`, `json_object` or `json_schema`",
        )),
    }
}

/// The OpenAI roles; `developer` is treated as `system`.
pub fn normalize_role(role: &str, at: &str) -> Result<String, ServerError> {
    match role {
        "system" | "user" | "assistant" | "tool" => Ok(role.to_string()),
        "developer" => Ok("system".to_string()),
        other => Err(ServerError::invalid(
            format!("{at}.role"),
            format!(
                "`{at}.role` is \"{other}\"; it must be one of system, developer, user, assistant, tool"
            ),
        )),
    }
}

/// `messages` of a chat request (OpenAI shape), validated.
pub fn parse_messages(messages: Option<&Value>) -> Result<Vec<ChatMessage>, ServerError> {
    let items = match messages {
        None | Some(Value::Null) => {
            return Err(ServerError::invalid("messages", "`messages` is required"))
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ServerError::invalid(
                "messages",
                format!("`messages` must be a list, not {}", json_kind(other)),
            ))
        }
    };
    if items.is_empty() {
        return Err(ServerError::invalid(
            "messages",
            "`messages` is empty; send at least one message",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, m)| parse_message(m, &format!("messages[{i}]")))
        .collect()
}

fn parse_message(m: &Value, at: &str) -> Result<ChatMessage, ServerError> {
    let Some(obj) = m.as_object() else {
        return Err(ServerError::invalid(
            at,
            format!("`{at}` must be an object, not {}", json_kind(m)),
        ));
    };
    let role = match obj.get("role") {
        Some(Value::String(r)) => normalize_role(r, at)?,
        None => {
            return Err(ServerError::invalid(
                format!("{at}.role"),
                format!("`{at}.role` is required"),
            ))
        }
        Some(other) => {
            return Err(ServerError::invalid(
                format!("{at}.role"),
                format!("`{at}.role` must be a string, not {}", json_kind(other)),
            ))
        }
    };
    let content = match obj.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => Some(parse_parts(parts, at)?),
        Some(other) => {
            return Err(ServerError::invalid(
                format!("{at}.content"),
                format!(
                    "`{at}.content` must be a string or a list of parts, not {}",
                    json_kind(other)
                ),
            ))
        }
    };
    let tool_calls = match obj.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(j, call)| parse_tool_call(call, &format!("{at}.tool_calls[{j}]")))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ServerError::invalid(
                format!("{at}.tool_calls"),
                format!("`{at}.tool_calls` must be a list, not {}", json_kind(other)),
            ))
        }
    };
    let assistant_calling = role == "assistant" && !tool_calls.is_empty();
    if content.is_none() && !assistant_calling {
        return Err(ServerError::invalid(
            format!("{at}.content"),
            format!("`{at}.content` is required for a {role} message"),
        ));
    }
    let string = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(ChatMessage {
        role,
        content: content.unwrap_or_default(),
        tool_calls,
        tool_call_id: string("tool_call_id"),
        name: string("name"),
    })
}

fn parse_parts(parts: &[Value], at: &str) -> Result<String, ServerError> {
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text") {
                Some(Value::String(s)) => text.push_str(s),
                _ => {
                    return Err(ServerError::invalid(
                        format!("{at}.text"),
                        format!("`{at}.text` must be a string"),
                    ))
                }
            },
            Some(kind @ ("image_url" | "input_audio" | "file" | "image")) => {
                return Err(ServerError::unsupported(
                    at.clone(),
                    format!("`{at}` is a {kind} part; only text is supported (no vision or audio models)"),
                ))
            }
            Some(kind) => {
                return Err(ServerError::invalid(
                    at.clone(),
                    format!("`{at}.type` \"{kind}\" is not a content part type"),
                ))
            }
            None => {
                return Err(ServerError::invalid(
                    at.clone(),
                    format!("`{at}` needs a `type`"),
                ))
            }
        }
    }
    Ok(text)
}

fn parse_tool_call(call: &Value, at: &str) -> Result<ToolCall, ServerError> {
    let function = call.get("function").ok_or_else(|| {
        ServerError::invalid(
            format!("{at}.function"),
            format!("`{at}.function` is required"),
        )
    })?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ServerError::invalid(
                format!("{at}.function.name"),
                format!("`{at}.function.name` must be a string"),
            )
        })?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok(ToolCall {
        id: call
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        name: name.to_string(),
        arguments,
    })
}

/// `tool_choice`: `"auto"`, `"none"`, `"required"`, `{"type": "function", "function":
/// {"name": ...}}` (or Ollama-style `{"name": ...}`).
pub fn parse_tool_choice(choice: Option<&Value>) -> Result<ToolChoice, ServerError> {
    let bad = || {
        ServerError::invalid(
            "tool_choice",
            "`tool_choice` must be \"auto\", \"none\", \"required\" or \
             {\"type\": \"function\", \"function\": {\"name\": ...}}",
        )
    };
    match choice {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            _ => Err(bad()),
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(bad)?;
            Ok(ToolChoice::Function(name.to_string()))
        }
        Some(_) => Err(bad()),
    }
}

/// `tools` (OpenAI function tools; Ollama sends the same shape).
pub fn parse_tools(tools: Option<&[Value]>) -> Result<Vec<ToolDefinition>, ServerError> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let at = format!("tools[{i}]");
            let kind = tool
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("function");
            if kind != "function" {
                return Err(ServerError::unsupported(
                    at.clone(),
                    format!("`{at}.type` \"{kind}\" is not supported; only function tools are"),
                ));
            }
            let function = tool.get("function").unwrap_or(tool);
            if let Some(p) = function.get("parameters") {
                if !p.is_object() && !p.is_null() {
                    return Err(ServerError::invalid(
                        format!("{at}.function.parameters"),
                        format!(
                            "`{at}.function.parameters` must be a JSON schema object, not {}",
                            json_kind(p)
                        ),
                    ));
                }
            }
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ServerError::invalid(
                        format!("{at}.function.name"),
                        format!("`{at}.function.name` must be a string"),
                    )
                })?;
            Ok(ToolDefinition {
                name: name.to_string(),
                description: function
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                parameters_schema: function
                    .get("parameters")
                    .map_or_else(|| "{}".to_string(), Value::to_string),
            })
        })
        .collect()
}

/// What the OpenAI routes report as `system_fingerprint`.
pub fn system_fingerprint() -> String {
    format!("shimmy-host-{}", env!("CARGO_PKG_VERSION"))
}

/// The `usage` object, with the prompt-cache reuse in `prompt_tokens_details`.
pub fn usage(summary: &GenerateSummary) -> Value {
    json!({
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
        "total_tokens": summary.prompt_tokens + summary.completion_tokens,
        "prompt_tokens_details": { "cached_tokens": summary.cached_tokens },
    })
}

/// Chat-style log-probabilities (`{"content": [...]}`).
pub fn chat_logprobs(tokens: &[TokenLogprob]) -> Value {
    let content: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({
                "token": t.text,
                "logprob": t.logprob,
                "bytes": t.bytes,
                "top_logprobs": t.top.iter().map(|a| json!({
                    "token": a.text,
                    "logprob": a.logprob,
                    "bytes": a.bytes,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "content": content, "refusal": null })
}

/// Legacy completion log-probabilities (`tokens`, `token_logprobs`, `top_logprobs`,
/// `text_offset`); `offset` is where the first token's text starts in the completion.
pub fn completion_logprobs(tokens: &[TokenLogprob], mut offset: usize) -> Value {
    let mut text_offset = Vec::with_capacity(tokens.len());
    for t in tokens {
        text_offset.push(offset);
        offset += t.text.len();
    }
    json!({
        "tokens": tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>(),
        "token_logprobs": tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
        "top_logprobs": tokens.iter().map(|t| {
            let mut m = Map::new();
            for a in &t.top {
                m.insert(a.text.clone(), json!(a.logprob));
            }
            Value::Object(m)
        }).collect::<Vec<_>>(),
        "text_offset": text_offset,
    })
}

/// Tool calls as OpenAI writes them.
pub fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "index": i,
                    "id": if c.id.is_empty() { new_id("call_") } else { c.id.clone() },
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> ServerError {
        parse_chat(v).unwrap_err()
    }

    #[test]
    fn minimal_chat_is_accepted_with_defaults() {
        let r = parse_chat(json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
        assert!(!r.stream);
        assert_eq!(r.job.max_tokens, None);
        assert!(
            matches!(r.job.input, Input::Chat { ref messages, .. } if messages[0].content == "hi")
        );
    }

    #[test]
    fn bad_chats_are_refused_with_the_field_named() {
        let cases = [
            (json!({"messages": []}), "messages"),
            (json!({}), "messages"),
            (json!({"messages": "hi"}), "messages"),
            (
                json!({"messages": [{"role": "robot", "content": "x"}]}),
                "messages[0].role",
            ),
            (json!({"messages": [{"content": "x"}]}), "messages[0].role"),
            (
                json!({"messages": [{"role": "user"}]}),
                "messages[0].content",
            ),
            (
                json!({"messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
                "temperature",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": 9}),
                "temperature",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
                "n",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "frobnicate": 1}),
                "frobnicate",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "stop": 3}),
                "stop",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}),
                "top_logprobs",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}),
                "stream_options",
            ),
        ];
        for (body, param) in cases {
            let e = err(body.clone());
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.param(), Some(param), "{body}: {e}");
        }
    }

    #[test]
    fn stop_string_or_list_and_parts_are_read() {
        let r = parse_chat(json!({
            "messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
            "stop": "x", "seed": 7, "logprobs": true, "top_logprobs": 3, "max_completion_tokens": 5,
        }))
        .unwrap();
        assert_eq!(r.job.stop, vec!["x"]);
        assert_eq!(r.job.sampling.seed, Some(7));
        assert_eq!(r.job.logprobs, Some(3));
        assert_eq!(r.job.max_tokens, Some(5));
        let Input::Chat { messages, .. } = &r.job.input else {
            panic!()
        };
        assert_eq!(
            (messages[0].role.as_str(), messages[0].content.as_str()),
            ("system", "ab")
        );
        let r =
            parse_chat(json!({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"]}))
                .unwrap();
        assert_eq!(r.job.stop, vec!["a", "b"]);
    }

    #[test]
    fn completions_default_to_16_tokens_and_refuse_echo() {
        let r = parse_completion(json!({"prompt": "hi"})).unwrap();
        assert_eq!(r.job.max_tokens, Some(16));
        assert!(parse_completion(json!({"prompt": "hi", "echo": true})).is_err());
        assert!(parse_completion(json!({"prompt": ["a", "b"]})).is_err());
        assert!(parse_completion(json!({"prompt": [1, 2]})).is_err());
        assert!(parse_completion(json!({})).is_err());
    }
}
