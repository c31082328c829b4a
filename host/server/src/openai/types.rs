//! OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`) as typed structs, and
//! their conversion into one engine [`Job`].
//!
//! Every request field OpenAI documents is accepted. Those with a meaning here are honoured
//! (`reasoning_effort` is the template's thinking switch); those without one (`user`,
//! `metadata`, `store`, `service_tier`, `prediction`, `prompt_cache_key`,
//! `prompt_cache_retention`, `prompt_cache_options`, `safety_identifier`, `verbosity`,
//! `moderation`...) and fields OpenAI does not document are ignored, logged at debug
//! ([`UNKNOWN_FIELDS`]). A 400 names a field only where
//! ignoring it would change the answer the client asked for: `n` > 1, a non-empty
//! `logit_bias`, audio output (`modalities` with `audio`, `audio`), the deprecated
//! `functions` / `function_call` (send `tools` / `tool_choice`), `web_search_options`.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use shimmy_core::backend::SamplingOptions;
use shimmy_engine::generation::{Input, Job};
use shimmy_engine::grammar::{ToolChoice, JSON_GRAMMAR};
use shimmy_engine::messages;
use shimmy_engine::thinking::{Thinking, REASONING_EFFORTS};
use shimmy_plugins::ChatMessage;

use crate::error::ServerError;
use crate::functions::{tools, CallShape, CallWire, ToolChoiceWire, ToolWire};
use crate::wire::{
    items, json_kind, range, seed, text, wire_request, Count, Flag, Flat, Int, List, Number, Stop,
    Text, Unknown, UnknownFields,
};

/// What the OpenAI routes do with request fields they do not read: ignored (logged at debug),
/// as OpenAI-compatible servers do; the fields whose absence would change the answer are read
/// and refused by name.
pub const UNKNOWN_FIELDS: UnknownFields = UnknownFields::Ignore;

/// A `/v1/chat/completions` body.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    messages: Option<List<MessageWire>>,
    max_completion_tokens: Option<Count>,
    logprobs: Option<Flag>,
    top_logprobs: Option<Count>,
    tools: Option<List<ToolWire>>,
    tool_choice: Option<ToolChoiceWire>,
    parallel_tool_calls: Option<Flag>,
    reasoning_effort: Option<Text>,
    modalities: Option<List<Text>>,
    audio: Option<Value>,
    functions: Option<Value>,
    function_call: Option<Value>,
    web_search_options: Option<Value>,
    template: Option<Text>,
    #[serde(flatten)]
    common: Flat<Common>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(ChatRequest, "/v1/chat/completions", UNKNOWN_FIELDS);

/// A `/v1/completions` body.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    prompt: Option<Prompt>,
    logprobs: Option<Count>,
    best_of: Option<Count>,
    echo: Option<Flag>,
    suffix: Option<Text>,
    #[serde(flatten)]
    common: Flat<Common>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(CompletionRequest, "/v1/completions", UNKNOWN_FIELDS);

/// The fields both endpoints read the same way (the sampling settings among them), read once
/// for both ([`Flat`]).
#[derive(Debug, Deserialize)]
struct Common {
    model: Option<Text>,
    stream: Option<Flag>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<Count>,
    n: Option<Count>,
    logit_bias: Option<Map<String, Value>>,
    stop: Option<Stop>,
    response_format: Option<ResponseFormat>,
    grammar: Option<Text>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<Int>,
    min_p: Option<Number>,
    repeat_penalty: Option<Number>,
    presence_penalty: Option<Number>,
    frequency_penalty: Option<Number>,
    seed: Option<Int>,
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct StreamOptions {
    include_usage: Option<Flag>,
}

/// `response_format`: `{"type": "text" | "json_object" | "json_schema", "json_schema": {...}}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: Option<Text>,
    json_schema: Option<JsonSchemaFormat>,
}

/// `response_format.json_schema`: `{"name", "schema", "strict", "description"}`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct JsonSchemaFormat {
    schema: Option<Value>,
}

/// The `prompt` of `/v1/completions`: one string (alone or in a list); lists of several
/// prompts and token ids are read so that they can be refused by name.
#[derive(Debug)]
enum Prompt {
    One(String),
    EmptyList,
    Several,
    TokenIds,
}

impl<'de> Deserialize<'de> for Prompt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Prompt::One(s)),
            Value::Array(items) => Ok(match items.as_slice() {
                [Value::String(s)] => Prompt::One(s.clone()),
                [] => Prompt::EmptyList,
                [Value::String(_), ..] => Prompt::Several,
                _ => Prompt::TokenIds,
            }),
            other => Err(de::Error::custom(format!(
                "must be a string, not {}",
                json_kind(&other)
            ))),
        }
    }
}

/// A chat message as OpenAI sends it.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct MessageWire {
    role: Option<Text>,
    content: Option<Content>,
    tool_calls: Option<List<CallWire>>,
    tool_call_id: Option<Text>,
    name: Option<Text>,
    /// An earlier assistant turn's reasoning, sent back (DeepSeek / vLLM / llama-server style).
    reasoning_content: Option<Text>,
}

/// A message's `content`: a string or a list of parts.
#[derive(Debug)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// One part of a message's content (`{"type": "text", "text": ...}`; other types are refused).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct Part {
    #[serde(rename = "type")]
    kind: Option<Text>,
    text: Option<Text>,
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

impl ChatRequest {
    /// The job this request asks for.
    pub fn into_request(self) -> Result<OpenAiRequest, ServerError> {
        refuse_what_changes_the_answer(&self)?;
        let messages = chat_messages(self.messages)?;
        let tools = tools(items(self.tools))?;
        let tool_choice = self.tool_choice.map_or(ToolChoice::Auto, |c| c.0);
        let parallel_tool_calls = self.parallel_tool_calls.map(|f| f.0);
        let logprobs = self.logprobs.is_some_and(|f| f.0);
        let top = match (logprobs, self.top_logprobs) {
            (_, Some(Count(n))) if n > 20 => {
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
            (true, n) => Some(n.map_or(0, |c| c.0)),
            (false, None) => None,
        };
        let thinking = reasoning_effort(self.reasoning_effort)?;
        let common = self.common.0;
        let max_tokens = self
            .max_completion_tokens
            .or(common.max_tokens)
            .map(|c| c.0);
        let input = Input::Chat {
            messages,
            tools,
            template: text(self.template),
            thinking,
        };
        let mut request = finish(common, input, max_tokens, top, logprobs)?;
        request.job.tool_choice = tool_choice;
        request.job.parallel_tool_calls = parallel_tool_calls;
        Ok(request)
    }
}

/// `reasoning_effort` as the thinking switch (`none` turns it off; see [`Thinking`]).
pub fn reasoning_effort(effort: Option<Text>) -> Result<Option<Thinking>, ServerError> {
    let Some(Text(effort)) = effort else {
        return Ok(None);
    };
    Thinking::from_reasoning_effort(&effort)
        .map(Some)
        .ok_or_else(|| {
            ServerError::invalid(
                "reasoning_effort",
                format!(
                    "`reasoning_effort` must be one of {}, not \"{effort}\"",
                    REASONING_EFFORTS.join(", ")
                ),
            )
        })
}

/// The chat fields whose absence would change the answer: audio output, the deprecated
/// function calling, web search.
fn refuse_what_changes_the_answer(r: &ChatRequest) -> Result<(), ServerError> {
    let set = |v: &Option<Value>| {
        v.as_ref().is_some_and(|v| match v {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        })
    };
    if let Some(List(modalities)) = &r.modalities {
        if let Some(Text(m)) = modalities.iter().find(|Text(m)| m != "text") {
            return Err(ServerError::unsupported(
                "modalities",
                format!("`modalities` \"{m}\" is not supported; this server answers in text only"),
            ));
        }
    }
    if set(&r.audio) {
        return Err(ServerError::unsupported(
            "audio",
            "`audio` output is not supported; this server answers in text only",
        ));
    }
    if set(&r.functions) {
        return Err(ServerError::unsupported(
            "functions",
            "the deprecated `functions` are not supported; send them as `tools` ({\"type\": \"function\", \"function\": ...})",
        ));
    }
    if r.function_call.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(ServerError::unsupported(
            "function_call",
            "the deprecated `function_call` is not supported; send `tool_choice`",
        ));
    }
    if r.web_search_options.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(ServerError::unsupported(
            "web_search_options",
            "web search is not available on this server",
        ));
    }
    Ok(())
}

impl CompletionRequest {
    /// The job this request asks for.
    pub fn into_request(self) -> Result<OpenAiRequest, ServerError> {
        let prompt =
            match self.prompt {
                None => return Err(ServerError::invalid("prompt", "`prompt` is required")),
                Some(Prompt::One(s)) => s,
                Some(Prompt::EmptyList) => {
                    return Err(ServerError::invalid("prompt", "`prompt` is an empty list"))
                }
                Some(Prompt::Several) => return Err(ServerError::unsupported(
                    "prompt",
                    "several prompts in one request are not supported; send one request per prompt",
                )),
                Some(Prompt::TokenIds) => {
                    return Err(ServerError::unsupported(
                        "prompt",
                        "token-id prompts are not supported; send the prompt as a string",
                    ))
                }
            };
        if prompt.is_empty() {
            return Err(ServerError::invalid("prompt", "`prompt` is empty"));
        }
        if self.echo.is_some_and(|f| f.0) {
            return Err(ServerError::unsupported(
                "echo",
                "`echo: true` is not supported",
            ));
        }
        if self.suffix.as_ref().is_some_and(|s| !s.0.is_empty()) {
            return Err(ServerError::unsupported(
                "suffix",
                "`suffix` (fill-in-the-middle) is not supported",
            ));
        }
        if self.best_of.is_some_and(|n| n.0 > 1) {
            return Err(ServerError::unsupported(
                "best_of",
                "`best_of` > 1 is not supported",
            ));
        }
        let top = match self.logprobs {
            None => None,
            Some(Count(n)) if n <= 20 => Some(n),
            Some(Count(n)) => {
                return Err(ServerError::invalid(
                    "logprobs",
                    format!("`logprobs` must be an integer between 0 and 20, not {n}"),
                ))
            }
        };
        let common = self.common.0;
        // The legacy endpoint's default length, as OpenAI's.
        let max_tokens = Some(common.max_tokens.map_or(16, |c| c.0));
        finish(
            common,
            Input::Raw { prompt },
            max_tokens,
            top,
            top.is_some(),
        )
    }
}

fn finish(
    c: Common,
    input: Input,
    max_tokens: Option<u32>,
    top_logprobs: Option<u32>,
    logprobs: bool,
) -> Result<OpenAiRequest, ServerError> {
    match c.n.map(|n| n.0) {
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
    let stream = c.stream.is_some_and(|f| f.0);
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
        .is_some_and(|f| f.0);
    let sampling = sampling(&c)?;
    let (grammar, json_schema) = match (c.response_format, text(c.grammar)) {
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
    let model = text(c.model);
    let mut job = Job::new(model.clone(), input);
    job.max_tokens = max_tokens;
    job.stop = c.stop.map(|s| s.0).unwrap_or_default();
    job.sampling = sampling;
    job.logprobs = top_logprobs;
    job.grammar = grammar;
    job.json_schema = json_schema;
    Ok(OpenAiRequest {
        model,
        job,
        stream,
        include_usage,
        logprobs,
    })
}

fn sampling(c: &Common) -> Result<SamplingOptions, ServerError> {
    let mut s = SamplingOptions::openai_compatible();
    if let Some(t) = c.temperature {
        range("temperature", t.f32(), 0.0, 2.0)?;
        s.temperature = t.f32();
    }
    if let Some(p) = c.top_p {
        let p = p.f32();
        if !(p > 0.0 && p <= 1.0) {
            return Err(ServerError::invalid(
                "top_p",
                format!("`top_p` must be greater than 0 and at most 1, not {p}"),
            ));
        }
        s.top_p = p;
    }
    if let Some(Int(k)) = c.top_k {
        if k < 0 {
            return Err(ServerError::invalid(
                "top_k",
                format!("`top_k` must be 0 (off) or more, not {k}"),
            ));
        }
        s.top_k = i32::try_from(k).unwrap_or(i32::MAX);
    }
    if let Some(p) = c.min_p {
        range("min_p", p.f32(), 0.0, 1.0)?;
        s.min_p = p.f32();
    }
    if let Some(p) = c.repeat_penalty {
        range("repeat_penalty", p.f32(), 0.0, 10.0)?;
        s.repeat_penalty = p.f32();
    }
    if let Some(p) = c.presence_penalty {
        range("presence_penalty", p.f32(), -2.0, 2.0)?;
        s.presence_penalty = p.f32();
    }
    if let Some(p) = c.frequency_penalty {
        range("frequency_penalty", p.f32(), -2.0, 2.0)?;
        s.frequency_penalty = p.f32();
    }
    s.seed = seed("seed", c.seed)?;
    Ok(s)
}

/// `response_format`: `text` (nothing), `json_object` (the JSON grammar) or `json_schema`
/// (`{"json_schema": {"name", "schema", "strict"}}`: the schema, converted when the job
/// starts). Returns `(grammar, schema)`.
fn response_format_constraint(
    format: ResponseFormat,
) -> Result<(Option<String>, Option<Value>), ServerError> {
    match text(format.kind).as_deref() {
        Some("text") => Ok((None, None)),
        Some("json_object") => Ok((Some(JSON_GRAMMAR.to_string()), None)),
        Some("json_schema") => {
            let spec = format.json_schema.ok_or_else(|| {
                ServerError::invalid(
                    "response_format.json_schema",
                    "`response_format.json_schema` is required with type `json_schema`",
                )
            })?;
            match spec.schema {
                None | Some(Value::Null) => Ok((None, Some(json!({"type": "object"})))),
                Some(schema) if schema.is_object() || schema.is_boolean() => {
                    Ok((None, Some(schema)))
                }
                Some(other) => Err(ServerError::invalid(
                    "response_format.json_schema.schema",
                    format!(
                        "`response_format.json_schema.schema` must be a JSON schema object, not {}",
                        json_kind(&other)
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

/// `messages` of a chat request (OpenAI shape), validated: `developer` is read as `system`,
/// text parts are joined, content may be left out only by an assistant message that calls
/// tools.
pub fn chat_messages(messages: Option<List<MessageWire>>) -> Result<Vec<ChatMessage>, ServerError> {
    let Some(List(items)) = messages else {
        return Err(ServerError::invalid("messages", "`messages` is required"));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut without_content = Vec::new();
    for (i, m) in items.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match m.role {
            Some(Text(r)) if r == "developer" => "system".to_string(),
            Some(Text(r)) => r,
            None => {
                return Err(ServerError::invalid(
                    format!("{at}.role"),
                    format!("`{at}.role` is required"),
                ))
            }
        };
        let content = match m.content {
            None => None,
            Some(Content::Text(s)) => Some(s),
            Some(Content::Parts(parts)) => Some(join_parts(parts, &at)?),
        };
        let tool_calls = items_at(m.tool_calls, &at)?;
        let calls_tools = role == "assistant" && !tool_calls.is_empty();
        if content.is_none() && !calls_tools {
            without_content.push(i);
        }
        out.push(ChatMessage {
            role,
            content: content.unwrap_or_default(),
            tool_calls,
            tool_call_id: text(m.tool_call_id),
            name: text(m.name),
            reasoning_content: text(m.reasoning_content),
        });
    }
    messages::validate(&out)?;
    if let Some(&i) = without_content.first() {
        return Err(ServerError::invalid(
            format!("messages[{i}].content"),
            format!(
                "`messages[{i}].content` is required for a {} message",
                out[i].role
            ),
        ));
    }
    Ok(out)
}

fn items_at(
    calls: Option<List<CallWire>>,
    at: &str,
) -> Result<Vec<shimmy_plugins::ToolCall>, ServerError> {
    items(calls)
        .into_iter()
        .enumerate()
        .map(|(j, call)| call.into_call(&format!("{at}.tool_calls[{j}]"), CallShape::OpenAi))
        .collect()
}

fn join_parts(parts: Vec<Part>, at: &str) -> Result<String, ServerError> {
    let mut text = String::new();
    for (j, part) in parts.into_iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match part.kind.as_ref().map(|k| k.0.as_str()) {
            Some("text") => match part.text {
                Some(Text(s)) => text.push_str(&s),
                None => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chat(v: Value) -> Result<OpenAiRequest, ServerError> {
        crate::body::read::<ChatRequest>(v.to_string().as_bytes())?.into_request()
    }

    fn parse_completion(v: Value) -> Result<OpenAiRequest, ServerError> {
        crate::body::read::<CompletionRequest>(v.to_string().as_bytes())?.into_request()
    }

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
    fn an_assistant_turns_reasoning_content_is_kept() {
        let r = parse_chat(json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "4", "reasoning_content": "2+2"},
            {"role": "user", "content": "more"}
        ]}))
        .unwrap();
        let Input::Chat { messages, .. } = &r.job.input else {
            panic!("not a chat")
        };
        assert_eq!(messages[1].reasoning_content.as_deref(), Some("2+2"));
        assert_eq!(messages[0].reasoning_content, None);
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
                json!({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"5": 1}}),
                "logit_bias",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "modalities": ["text", "audio"]}),
                "modalities",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "audio": {"voice": "alloy", "format": "wav"}}),
                "audio",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]}),
                "functions",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "maximal"}),
                "reasoning_effort",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "seed": "seven"}),
                "seed",
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
    fn no_repeat_penalty_unless_asked_as_llama_server() {
        let chat = parse_chat(json!({"messages": [{"role": "user", "content": "x"}]})).unwrap();
        let completion = parse_completion(json!({"prompt": "hi"})).unwrap();
        for r in [chat, completion] {
            assert_eq!(r.job.sampling.repeat_penalty, 1.0);
            assert_eq!((r.job.sampling.top_k, r.job.sampling.min_p), (40, 0.05));
        }
        let r = parse_completion(json!({"prompt": "hi", "repeat_penalty": 1.1})).unwrap();
        assert_eq!(r.job.sampling.repeat_penalty, 1.1);
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

    #[test]
    fn documented_and_unknown_fields_are_accepted_and_reasoning_effort_is_read() {
        let r = parse_chat(json!({
            "messages": [{"role": "user", "content": "x"}],
            "reasoning_effort": "none", "verbosity": "low", "prompt_cache_key": "k",
            "prompt_cache_retention": "24h", "prediction": {"type": "content", "content": "x"},
            "modalities": ["text"], "store": false, "metadata": {"a": "b"}, "user": "u",
            "service_tier": "auto", "safety_identifier": "s", "logit_bias": {},
            "audio": null, "web_search_options": null, "frobnicate": 1, "n": 1,
        }))
        .unwrap();
        let Input::Chat { thinking, .. } = &r.job.input else {
            panic!()
        };
        assert_eq!(*thinking, Some(Thinking::Off));
        let r = parse_completion(json!({"prompt": "hi", "user": "u", "best_of": 1, "seed": 3}))
            .unwrap();
        assert_eq!(r.job.sampling.seed, Some(3));
    }
}
