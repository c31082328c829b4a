//! Ollama request bodies (`/api/generate`, `/api/chat`, `/api/show`, `/api/pull`,
//! `/api/delete`) as typed structs, and
//! their conversion into one engine [`Job`] (or a load / unload of the model).
//!
//! `/api/generate` also takes shimmy's own body (`messages`, and `max_tokens`,
//! `temperature`, `top_p`, `top_k` at the top level; `options` win over them). As Ollama
//! does, fields the structs do not name ([`UNKNOWN_FIELDS`]) and `options` this server does
//! not know are ignored (logged at debug); what would change the answer if ignored
//! (`images`, `suffix`, a Go `template`, samplers this server lacks) is refused by name.
//!
//! `truncate` and `shift` are Ollama's (both on unless `false`): a chat longer than the
//! context loses whole old messages (never the system ones nor the last,
//! `shimmy_engine::chat_fit`), and a prompt still longer is cut after its first
//! `options.num_keep` tokens (default 4) instead of refused;
//! a context that fills up while generating drops half of what follows those tokens and goes
//! on, up to `num_predict` (else up to a context's worth of tokens), instead of stopping. The
//! last `/api/generate` object carries `context` (the token ids of prompt and answer), and a
//! request's `context` puts those tokens in front of its prompt.

use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use shimmy_core::backend::SamplingOptions;
use shimmy_engine::generation::{Input, Job, DEFAULT_KEEP_TOKENS};
use shimmy_engine::grammar::{ToolChoice, JSON_GRAMMAR};
use shimmy_engine::thinking::{Effort, Thinking};
use shimmy_engine::{messages, KeepAlive};
use shimmy_plugins::ChatMessage;

use crate::error::ServerError;
use crate::functions::{tools, CallShape, CallWire, ToolChoiceWire, ToolWire};
use crate::wire::{
    items, range, seed, text, wire_request, Count, Flag, Int, List, Number, Stop, Text, Unknown,
    UnknownFields,
};

/// What the Ollama routes do with request fields they do not know: ignored and logged at
/// debug, as Ollama does (clients such as the Vercel AI SDK's Ollama provider send fields of
/// their own, e.g. `max_output_tokens`).
pub const UNKNOWN_FIELDS: UnknownFields = UnknownFields::Ignore;

/// A `/api/generate` body (Ollama's, or shimmy's with `messages`).
#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    model: Option<Text>,
    prompt: Option<Text>,
    suffix: Option<Value>,
    system: Option<Text>,
    template: Option<Value>,
    context: Option<List<Count>>,
    stream: Option<Flag>,
    raw: Option<Flag>,
    format: Option<Format>,
    images: Option<Value>,
    options: Option<Options>,
    keep_alive: Option<KeepAliveWire>,
    think: Option<Think>,
    truncate: Option<Flag>,
    shift: Option<Flag>,
    logprobs: Option<Flag>,
    top_logprobs: Option<Count>,
    messages: Option<List<MessageWire>>,
    max_tokens: Option<Int>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<Int>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(GenerateRequest, "/api/generate", UNKNOWN_FIELDS);

/// A `/api/chat` body.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    model: Option<Text>,
    messages: Option<List<MessageWire>>,
    tools: Option<List<ToolWire>>,
    tool_choice: Option<ToolChoiceWire>,
    stream: Option<Flag>,
    format: Option<Format>,
    options: Option<Options>,
    keep_alive: Option<KeepAliveWire>,
    think: Option<Think>,
    truncate: Option<Flag>,
    shift: Option<Flag>,
    logprobs: Option<Flag>,
    top_logprobs: Option<Count>,
    max_tokens: Option<Int>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<Int>,
    template: Option<Text>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(ChatRequest, "/api/chat", UNKNOWN_FIELDS);

/// A `/api/show` body: `{"model": NAME}` (`name` is accepted too).
#[derive(Debug, Deserialize)]
pub struct ShowRequest {
    model: Option<Text>,
    name: Option<Text>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(ShowRequest, "/api/show", UNKNOWN_FIELDS);

impl ShowRequest {
    /// The model asked about.
    pub fn model(self) -> Result<String, ServerError> {
        text(self.model)
            .or(text(self.name))
            .ok_or_else(|| ServerError::invalid("model", "`model` is required"))
    }
}

/// A `/api/pull` body: `{"model": "hf.co/ORG/NAME:QUANT", "stream": true}` (`name` is
/// accepted too; Ollama's `insecure`, `username` and `password` have no effect on a pull
/// from Hugging Face and are ignored like any other field).
#[derive(Debug, Deserialize)]
pub struct PullRequest {
    model: Option<Text>,
    name: Option<Text>,
    stream: Option<Flag>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(PullRequest, "/api/pull", UNKNOWN_FIELDS);

impl PullRequest {
    /// The reference to pull, and whether progress is streamed (the default).
    pub fn into_parts(self) -> Result<(String, bool), ServerError> {
        let model = model_name(self.model, self.name)?;
        Ok((model, self.stream.is_none_or(|f| f.0)))
    }
}

/// A `/api/delete` body: `{"model": NAME}` (`name` is accepted too).
#[derive(Debug, Deserialize)]
pub struct DeleteRequest {
    model: Option<Text>,
    name: Option<Text>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(DeleteRequest, "/api/delete", UNKNOWN_FIELDS);

impl DeleteRequest {
    /// The model to delete.
    pub fn model(self) -> Result<String, ServerError> {
        model_name(self.model, self.name)
    }
}

/// `model`, else `name`, trimmed; one of them is required.
fn model_name(model: Option<Text>, name: Option<Text>) -> Result<String, ServerError> {
    [model, name]
        .into_iter()
        .filter_map(|t| text(t).map(|s| s.trim().to_string()))
        .find(|s| !s.is_empty())
        .ok_or_else(|| ServerError::invalid("model", "`model` is required"))
}

/// Ollama's `options`.
#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "an object")]
struct Options {
    num_predict: Option<Int>,
    max_tokens: Option<Int>,
    temperature: Option<Number>,
    top_k: Option<Int>,
    top_p: Option<Number>,
    min_p: Option<Number>,
    repeat_penalty: Option<Number>,
    repeat_last_n: Option<Int>,
    presence_penalty: Option<Number>,
    frequency_penalty: Option<Number>,
    seed: Option<Int>,
    stop: Option<Stop>,
    mirostat: Option<Int>,
    mirostat_tau: Option<Number>,
    mirostat_eta: Option<Number>,
    tfs_z: Option<Number>,
    typical_p: Option<Number>,
    penalize_newline: Option<Flag>,
    num_keep: Option<Int>,
    #[serde(flatten)]
    load_time: LoadTimeOptions,
    #[serde(flatten)]
    unknown: Unknown,
}

/// Options that size the model when it loads; the server's flags decide them, so they are
/// accepted and have no effect per request.
#[derive(Debug, Default, Deserialize)]
struct LoadTimeOptions {
    num_ctx: Option<IgnoredAny>,
    num_batch: Option<IgnoredAny>,
    num_gpu: Option<IgnoredAny>,
    main_gpu: Option<IgnoredAny>,
    low_vram: Option<IgnoredAny>,
    f16_kv: Option<IgnoredAny>,
    logits_all: Option<IgnoredAny>,
    vocab_only: Option<IgnoredAny>,
    use_mmap: Option<IgnoredAny>,
    use_mlock: Option<IgnoredAny>,
    embedding_only: Option<IgnoredAny>,
    numa: Option<IgnoredAny>,
    num_thread: Option<IgnoredAny>,
}

impl LoadTimeOptions {
    fn any_set(&self) -> bool {
        [
            &self.num_ctx,
            &self.num_batch,
            &self.num_gpu,
            &self.main_gpu,
            &self.low_vram,
            &self.f16_kv,
            &self.logits_all,
            &self.vocab_only,
            &self.use_mmap,
            &self.use_mlock,
            &self.embedding_only,
            &self.numa,
            &self.num_thread,
        ]
        .iter()
        .any(|o| o.is_some())
    }
}

/// `format`: `""` (nothing), `"json"` (any JSON object) or a JSON schema object.
#[derive(Debug, Clone, PartialEq)]
enum Format {
    Nothing,
    Json,
    Schema(Value),
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Format::Nothing),
            Value::String(s) if s.is_empty() => Ok(Format::Nothing),
            Value::String(s) if s == "json" => Ok(Format::Json),
            schema @ Value::Object(_) => Ok(Format::Schema(schema)),
            other => Err(de::Error::custom(format!(
                "must be \"json\" or a JSON schema, not {other}"
            ))),
        }
    }
}

/// `keep_alive`: a duration string or a number of seconds.
#[derive(Debug, Clone, Copy)]
struct KeepAliveWire(KeepAlive);

impl<'de> Deserialize<'de> for KeepAliveWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        KeepAlive::from_json(&Value::deserialize(d)?)
            .map(KeepAliveWire)
            .map_err(de::Error::custom)
    }
}

/// `think`: the template's thinking switch (`false`: off, and any reasoning is dropped from
/// the answer; `true` or a level: on, the reasoning shown); `null` leaves the template's
/// default.
#[derive(Debug, Clone, Copy)]
struct Think(Option<Thinking>);

impl<'de> Deserialize<'de> for Think {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Think(None)),
            Value::Bool(true) => Ok(Think(Some(Thinking::On))),
            Value::Bool(false) => Ok(Think(Some(Thinking::Off))),
            Value::String(s) if Effort::parse(&s).is_some() => {
                Ok(Think(Effort::parse(&s).map(Thinking::Effort)))
            }
            other => Err(de::Error::custom(format!(
                "must be true, false, \"low\", \"medium\" or \"high\", not {other}"
            ))),
        }
    }
}

impl Think {
    /// The switch of an optional `think`.
    fn of(think: Option<Think>) -> Option<Thinking> {
        think.and_then(|t| t.0)
    }
}

/// A chat message as Ollama sends it (`tool_calls` with object arguments, `tool_name`,
/// `images` refused).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct MessageWire {
    role: Option<Text>,
    content: Option<Text>,
    images: Option<Value>,
    tool_calls: Option<List<CallWire>>,
    tool_name: Option<Text>,
    /// An earlier assistant turn's reasoning, sent back.
    thinking: Option<Text>,
}

/// Generation settings gathered from the top level (shimmy's body) and `options` (Ollama's).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Sampling.
    pub sampling: SamplingOptions,
    /// `num_predict` / `max_tokens`; `None`: until the context is full.
    pub max_tokens: Option<u32>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// `num_keep`: tokens at the start that truncation and context shifts keep.
    pub keep_tokens: u32,
}

/// shimmy's top-level settings.
struct TopLevel {
    max_tokens: Option<Int>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<Int>,
}

/// What an Ollama request asks for.
#[derive(Debug)]
pub enum OllamaJob {
    /// Load the model (`prompt` / `messages` empty) or, with `keep_alive` 0, unload it.
    LoadOrUnload {
        /// The model field as sent.
        model: Option<String>,
        /// The keep-alive asked for.
        keep_alive: Option<KeepAlive>,
        /// Whether the answer is an NDJSON line.
        stream: bool,
    },
    /// Generate.
    Generate {
        /// The model field as sent (echoed back when present).
        model: Option<String>,
        /// The job.
        job: Box<Job>,
        /// `stream` (default true).
        stream: bool,
        /// Whether reasoning is shown (`think`).
        think: bool,
        /// Whether lines carry log-probabilities.
        logprobs: bool,
    },
}

impl GenerateRequest {
    /// The job (or load) this request asks for. A prompt is rendered as one user turn by the
    /// model's template unless `raw`.
    pub fn into_job(self) -> Result<OllamaJob, ServerError> {
        let stream = self.stream.is_none_or(|f| f.0);
        let model = text(self.model);
        let keep_alive = self.keep_alive.map(|k| k.0);
        refuse_if_set(
            self.images.as_ref(),
            "images",
            "images are not supported (no vision models)",
        )?;
        refuse_if_set(
            self.suffix.as_ref(),
            "suffix",
            "fill-in-the-middle is not supported",
        )?;
        refuse_if_set(
            self.template.as_ref(),
            "template",
            "custom Go templates are not supported; chats are rendered by the model's template plugin (see /api/template/render)",
        )?;
        let context: Vec<u32> = items(self.context).into_iter().map(|c| c.0).collect();
        let raw = self.raw.is_some_and(|f| f.0);
        let thinking = Think::of(self.think);
        let prompt = text(self.prompt).unwrap_or_default();
        let system = text(self.system);
        let messages = self.messages.map(chat_messages).transpose()?;
        let load = |model, keep_alive| OllamaJob::LoadOrUnload {
            model,
            keep_alive,
            stream,
        };
        let input = match (raw, messages) {
            (true, Some(_)) => {
                return Err(ServerError::invalid(
                    "raw",
                    "`raw` cannot be used with `messages`",
                ))
            }
            (true, None) => {
                if system.is_some() {
                    return Err(ServerError::invalid(
                        "system",
                        "`system` cannot be used with `raw: true` (the prompt is sent as it is)",
                    ));
                }
                if prompt.is_empty() && context.is_empty() {
                    return Ok(load(model, keep_alive));
                }
                Input::Raw { prompt }
            }
            (false, Some(mut messages)) => {
                messages::validate(&messages)?;
                if let Some(system) = system {
                    messages.insert(0, ChatMessage::new("system", system));
                }
                if !prompt.is_empty() {
                    messages.push(ChatMessage::new("user", prompt));
                }
                Input::Chat {
                    messages,
                    tools: Vec::new(),
                    template: None,
                    thinking,
                }
            }
            (false, None) => {
                if prompt.is_empty() {
                    return Ok(load(model, keep_alive));
                }
                let mut messages = Vec::new();
                if let Some(system) = system {
                    messages.push(ChatMessage::new("system", system));
                }
                messages.push(ChatMessage::new("user", prompt));
                Input::Chat {
                    messages,
                    tools: Vec::new(),
                    template: None,
                    thinking,
                }
            }
        };
        let top = TopLevel {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
        };
        let settings = settings(top, self.options)?;
        let logprobs = logprobs(self.logprobs, self.top_logprobs)?;
        let mut job = generate(
            model,
            input,
            settings,
            self.format,
            keep_alive,
            logprobs,
            stream,
            thinking,
        );
        if let OllamaJob::Generate { job, .. } = &mut job {
            job.context = context;
            overflow(job, self.truncate, self.shift);
        }
        Ok(job)
    }
}

/// Ollama's `truncate` and `shift` (on unless `false`); a full context never refuses the
/// request, it ends it for length (Ollama's `done_reason: "length"`).
fn overflow(job: &mut Job, truncate: Option<Flag>, shift: Option<Flag>) {
    job.truncate = truncate.is_none_or(|f| f.0);
    job.shift = shift.is_none_or(|f| f.0);
    job.fit_context = true;
}

impl ChatRequest {
    /// The job (or load) this request asks for. `messages` must not be empty, except with
    /// `keep_alive` alone (Ollama's load / unload request).
    pub fn into_job(self) -> Result<OllamaJob, ServerError> {
        let stream = self.stream.is_none_or(|f| f.0);
        let model = text(self.model);
        let keep_alive = self.keep_alive.map(|k| k.0);
        let messages = match self.messages {
            None => Vec::new(),
            Some(list) => chat_messages(list)?,
        };
        if messages.is_empty() && keep_alive.is_some() {
            return Ok(OllamaJob::LoadOrUnload {
                model,
                keep_alive,
                stream,
            });
        }
        messages::validate(&messages)?;
        let tools = tools(items(self.tools))?;
        let template = text(self.template).filter(|t| !t.is_empty());
        let top = TopLevel {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
        };
        let settings = settings(top, self.options)?;
        let logprobs = logprobs(self.logprobs, self.top_logprobs)?;
        let thinking = Think::of(self.think);
        let input = Input::Chat {
            messages,
            tools,
            template,
            thinking,
        };
        let mut job = generate(
            model,
            input,
            settings,
            self.format,
            keep_alive,
            logprobs,
            stream,
            thinking,
        );
        if let OllamaJob::Generate { job, .. } = &mut job {
            job.tool_choice = self.tool_choice.map_or(ToolChoice::Auto, |c| c.0);
            overflow(job, self.truncate, self.shift);
        }
        Ok(job)
    }
}

/// The generation job of either route.
#[allow(clippy::too_many_arguments)]
fn generate(
    model: Option<String>,
    input: Input,
    settings: Settings,
    format: Option<Format>,
    keep_alive: Option<KeepAlive>,
    logprobs: Option<u32>,
    stream: bool,
    thinking: Option<Thinking>,
) -> OllamaJob {
    let mut job = Job::new(model.clone(), input);
    job.max_tokens = settings.max_tokens;
    job.stop = settings.stop;
    job.sampling = settings.sampling;
    job.keep_tokens = settings.keep_tokens;
    (job.grammar, job.json_schema) = constraint(format);
    job.json_schema_param = "format";
    job.keep_alive = keep_alive;
    job.logprobs = logprobs;
    OllamaJob::Generate {
        model,
        job: Box::new(job),
        stream,
        think: thinking != Some(Thinking::Off),
        logprobs: logprobs.is_some(),
    }
}

/// `format`'s constraint as `(grammar, schema)`: the JSON grammar for `"json"`, the schema
/// (converted to a grammar when the job starts) for a schema object.
fn constraint(format: Option<Format>) -> (Option<String>, Option<Value>) {
    match format {
        None | Some(Format::Nothing) => (None, None),
        Some(Format::Json) => (Some(JSON_GRAMMAR.to_string()), None),
        Some(Format::Schema(schema)) => (None, Some(schema)),
    }
}

/// `logprobs` / `top_logprobs`: `Some(alternatives)` when on.
fn logprobs(on: Option<Flag>, top: Option<Count>) -> Result<Option<u32>, ServerError> {
    let top = match top {
        None => 0,
        Some(Count(n)) if n <= 20 => n,
        Some(Count(n)) => {
            return Err(ServerError::invalid(
                "top_logprobs",
                format!("`top_logprobs` must be an integer between 0 and 20, not {n}"),
            ))
        }
    };
    Ok(on.is_some_and(|f| f.0).then_some(top))
}

/// Refuses a non-empty field this server cannot honour.
fn refuse_if_set(value: Option<&Value>, key: &str, why: &str) -> Result<(), ServerError> {
    let set = match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    if set {
        Err(ServerError::unsupported(key, format!("`{key}`: {why}")))
    } else {
        Ok(())
    }
}

/// The top-level settings, then `options` (which win).
fn settings(top: TopLevel, options: Option<Options>) -> Result<Settings, ServerError> {
    let mut s = Settings {
        keep_tokens: DEFAULT_KEEP_TOKENS,
        ..Settings::default()
    };
    if let Some(n) = top.max_tokens {
        s.max_tokens = predict(n, "max_tokens")?;
    }
    if let Some(t) = top.temperature {
        s.sampling.temperature = checked(t, "temperature", 0.0, 100.0)?;
    }
    if let Some(p) = top.top_p {
        s.sampling.top_p = checked(p, "top_p", 0.0, 1.0)?;
    }
    if let Some(Int(k)) = top.top_k {
        s.sampling.top_k = i32::try_from(k.max(0)).unwrap_or(i32::MAX);
    }
    let Some(o) = options else {
        return Ok(s);
    };
    o.unknown.check(UNKNOWN_FIELDS, "`options`")?;
    if let Some(Int(n)) = o.num_keep {
        // -1 is Ollama's "the whole prompt"; a shift then keeps at most a quarter of it.
        s.keep_tokens = u32::try_from(n).unwrap_or(if n < 0 { u32::MAX } else { 0 });
    }
    if o.load_time.any_set() {
        tracing::debug!("load-time options are set by the server's flags; ignored per request");
    }
    if let Some(n) = o.max_tokens {
        s.max_tokens = predict(n, "options.max_tokens")?;
    }
    if let Some(n) = o.num_predict {
        s.max_tokens = predict(n, "options.num_predict")?;
    }
    if let Some(t) = o.temperature {
        s.sampling.temperature = checked(t, "options.temperature", 0.0, 100.0)?;
    }
    if let Some(Int(k)) = o.top_k {
        s.sampling.top_k = i32::try_from(k.max(0)).unwrap_or(i32::MAX);
    }
    if let Some(p) = o.top_p {
        s.sampling.top_p = checked(p, "options.top_p", 0.0, 1.0)?;
    }
    if let Some(p) = o.min_p {
        s.sampling.min_p = checked(p, "options.min_p", 0.0, 1.0)?;
    }
    if let Some(p) = o.repeat_penalty {
        s.sampling.repeat_penalty = checked(p, "options.repeat_penalty", 0.0, 10.0)?;
    }
    if let Some(Int(n)) = o.repeat_last_n {
        s.sampling.repeat_last_n = i32::try_from(n.max(-1)).unwrap_or(i32::MAX);
    }
    if let Some(p) = o.presence_penalty {
        s.sampling.presence_penalty = checked(p, "options.presence_penalty", -2.0, 2.0)?;
    }
    if let Some(p) = o.frequency_penalty {
        s.sampling.frequency_penalty = checked(p, "options.frequency_penalty", -2.0, 2.0)?;
    }
    if o.seed.is_some() {
        s.sampling.seed = seed("options.seed", o.seed)?;
    }
    if let Some(Stop(stop)) = o.stop {
        s.stop = stop;
    }
    let unsupported = |at: &str, v: String| {
        Err(ServerError::unsupported(
            at,
            format!("`{at}` = {v} is not supported by this server's samplers"),
        ))
    };
    match o.mirostat {
        None | Some(Int(0)) => {}
        Some(Int(n)) => return unsupported("options.mirostat", n.to_string()),
    }
    for (at, value, neutral) in [
        ("options.tfs_z", o.tfs_z, Some(1.0)),
        ("options.typical_p", o.typical_p, Some(1.0)),
        ("options.mirostat_tau", o.mirostat_tau, None),
        ("options.mirostat_eta", o.mirostat_eta, None),
    ] {
        if let Some(Number(v)) = value {
            if neutral.is_none_or(|n: f64| (v - n).abs() > 1e-9) {
                return unsupported(at, v.to_string());
            }
        }
    }
    if o.penalize_newline.is_some_and(|f| f.0) {
        return unsupported("options.penalize_newline", "true".into());
    }
    Ok(s)
}

/// `num_predict` / `max_tokens`: negative is no limit, 0 is refused.
fn predict(Int(n): Int, at: &str) -> Result<Option<u32>, ServerError> {
    match n {
        n if n < 0 => Ok(None),
        0 => Err(ServerError::invalid(
            at,
            format!("`{at}` must be at least 1, or -1 for no limit"),
        )),
        n => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
    }
}

/// A sampling number in `lo..=hi`.
fn checked(v: Number, at: &str, lo: f32, hi: f32) -> Result<f32, ServerError> {
    range(at, v.f32(), lo, hi)?;
    Ok(v.f32())
}

/// Ollama chat messages as the chat vocabulary (not yet validated: an empty list may be a
/// load request).
pub fn chat_messages(list: List<MessageWire>) -> Result<Vec<ChatMessage>, ServerError> {
    list.0
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let at = format!("messages[{i}]");
            let Some(Text(role)) = m.role else {
                return Err(ServerError::invalid(
                    format!("{at}.role"),
                    format!("`{at}.role` is required"),
                ));
            };
            if m.images
                .as_ref()
                .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            {
                return Err(ServerError::unsupported(
                    format!("{at}.images"),
                    format!("`{at}.images`: images are not supported (no vision models)"),
                ));
            }
            let tool_calls = items(m.tool_calls)
                .into_iter()
                .enumerate()
                .map(|(j, c)| c.into_call(&format!("{at}.tool_calls[{j}]"), CallShape::Ollama))
                .collect::<Result<_, _>>()?;
            Ok(ChatMessage {
                role,
                content: text(m.content).unwrap_or_default(),
                tool_calls,
                tool_call_id: None,
                name: text(m.tool_name),
                reasoning_content: text(m.thinking),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Map};

    use super::*;
    use crate::wire::from_json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn request(body: &Map<String, Value>) -> Result<GenerateRequest, ServerError> {
        from_json(Value::Object(body.clone()))
    }

    fn settings(body: &Map<String, Value>) -> Result<Settings, ServerError> {
        let r = request(body)?;
        let top = TopLevel {
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            top_p: r.top_p,
            top_k: r.top_k,
        };
        super::settings(top, r.options)
    }

    fn format_constraint(
        body: &Map<String, Value>,
    ) -> Result<(Option<String>, Option<Value>), ServerError> {
        Ok(constraint(request(body)?.format))
    }

    fn keep_alive(body: &Map<String, Value>) -> Result<Option<KeepAlive>, ServerError> {
        Ok(request(body)?.keep_alive.map(|k| k.0))
    }

    fn messages(v: &Value) -> Result<Vec<ChatMessage>, ServerError> {
        let m = chat_messages(from_json(v.clone())?)?;
        messages::validate(&m)?;
        Ok(m)
    }

    #[test]
    fn options_override_top_level_settings() {
        let s = settings(&obj(json!({
            "max_tokens": 5, "temperature": 0.5,
            "options": {"num_predict": 7, "temperature": 0, "stop": ["x"], "seed": 3, "num_ctx": 4096}
        })))
        .unwrap();
        assert_eq!(s.max_tokens, Some(7));
        assert_eq!(s.sampling.temperature, 0.0);
        assert_eq!(s.stop, vec!["x"]);
        assert_eq!(s.sampling.seed, Some(3));
        let s = settings(&obj(json!({"options": {"num_predict": -1}}))).unwrap();
        assert_eq!(s.max_tokens, None);
    }

    #[test]
    fn bad_or_unsupported_options_are_named() {
        for (body, param) in [
            (
                json!({"options": {"temperature": "hot"}}),
                "options.temperature",
            ),
            (json!({"options": {"mirostat": 2}}), "options.mirostat"),
            (json!({"options": {"stop": 5}}), "options.stop"),
            (json!({"options": 3}), "options"),
            (json!({"max_tokens": 0}), "max_tokens"),
        ] {
            let e = settings(&obj(body.clone())).unwrap_err();
            assert_eq!(e.param(), Some(param), "{body}: {e}");
        }
        assert!(settings(&obj(json!({"options": {"mirostat": 0, "tfs_z": 1.0}}))).is_ok());
        // Options this server does not know are ignored, as Ollama ignores them.
        let s = settings(&obj(
            json!({"options": {"bogus": 1, "num_keep": 9, "num_ctx": 8}}),
        ))
        .unwrap();
        assert_eq!(s.keep_tokens, 9);
        assert_eq!(settings(&obj(json!({}))).unwrap().keep_tokens, 4);
    }

    #[test]
    fn format_keep_alive_and_messages() {
        assert!(format_constraint(&obj(json!({"format": "json"})))
            .unwrap()
            .0
            .is_some());
        let schema = json!({"type": "object"});
        assert_eq!(
            format_constraint(&obj(json!({"format": schema})))
                .unwrap()
                .1,
            Some(schema)
        );
        assert!(format_constraint(&obj(json!({"format": 3}))).is_err());
        assert_eq!(
            keep_alive(&obj(json!({"keep_alive": 0}))).unwrap(),
            Some(KeepAlive::For(Duration::ZERO))
        );
        let m = messages(&json!([{"role": "user", "content": "hi"}])).unwrap();
        let thought = messages(&json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "4", "thinking": "2+2"}
        ]))
        .unwrap();
        assert_eq!(thought[1].reasoning_content.as_deref(), Some("2+2"));
        assert_eq!(m[0].content, "hi");
        assert!(messages(&json!([{"role": "user", "content": "x", "images": ["aGk="]}])).is_err());
        assert!(messages(&json!([{"role": "wizard", "content": "x"}])).is_err());
    }

    #[test]
    fn unknown_fields_truncate_shift_context_think_and_tool_choice_are_read() {
        let r: GenerateRequest = crate::body::read(
            json!({"model": "m", "prompt": "hi", "max_output_tokens": 5, "truncate": false,
                   "context": [1, 2, 3], "think": false})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let OllamaJob::Generate { job, think, .. } = r.into_job().unwrap() else {
            panic!()
        };
        assert_eq!(job.context, vec![1, 2, 3]);
        assert!(!job.truncate && job.shift && job.fit_context && !think);
        assert!(matches!(
            job.input,
            Input::Chat {
                thinking: Some(Thinking::Off),
                ..
            }
        ));
        let r: ChatRequest = crate::body::read(
            json!({"messages": [{"role": "user", "content": "x"}], "think": "high",
                   "tools": [{"type": "function", "function": {"name": "f"}}],
                   "tool_choice": "required", "shift": false, "nonsense": {"a": 1}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let OllamaJob::Generate { job, think, .. } = r.into_job().unwrap() else {
            panic!()
        };
        assert_eq!(job.tool_choice, ToolChoice::Required);
        assert!(job.truncate && !job.shift && think);
        assert!(matches!(
            job.input,
            Input::Chat {
                thinking: Some(Thinking::Effort(Effort::High)),
                ..
            }
        ));
    }
}
