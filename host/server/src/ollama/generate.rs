//! `POST /api/generate`: shimmy's body (`model`, `prompt`, `system`, `messages`,
//! `max_tokens`, `temperature`, `top_p`, `top_k`, `stream`) and Ollama's (`options`, `format`,
//! `raw`, `keep_alive`, `think`...), answered in Ollama's shape.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shimmy_plugins::ChatMessage;

use super::types::{self, final_fields, logprobs_json};
use super::{ndjson_response, ndjson_single, LineStyle};
use shimmy_engine::generation::{Done, Generation, Input, Job};
use shimmy_engine::KeepAlive;

use crate::body::JsonBody;
use crate::error::{OllamaError, ServerError};
use crate::state::SharedState;
use crate::wire::check_fields;

const FIELDS: &[&str] = &[
    "model",
    "prompt",
    "suffix",
    "system",
    "template",
    "context",
    "stream",
    "raw",
    "format",
    "images",
    "options",
    "keep_alive",
    "think",
    "logprobs",
    "top_logprobs",
    "messages",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
];

/// Generates from a prompt (rendered as one user turn by the model's template unless `raw`)
/// or from shimmy's `messages`. An empty prompt only loads (or, with `keep_alive: 0`,
/// unloads) the model.
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Response, OllamaError> {
    check_fields(&body, FIELDS, "by /api/generate")?;
    let body = body.as_object().cloned().unwrap_or_default();
    let stream = types::boolean(&body, "stream")?.unwrap_or(true);
    let model = types::string(&body, "model")?;
    let keep_alive = types::keep_alive(&body)?;
    types::refuse_if_set(
        &body,
        "images",
        "images are not supported (no vision models)",
    )?;
    types::refuse_if_set(&body, "suffix", "fill-in-the-middle is not supported")?;
    types::refuse_if_set(
        &body,
        "template",
        "custom Go templates are not supported; chats are rendered by the model's template plugin (see /api/template/render)",
    )?;
    types::refuse_if_set(
        &body,
        "context",
        "the deprecated `context` token list is not supported; send the conversation as `messages` to /api/chat",
    )?;
    let raw = types::boolean(&body, "raw")?.unwrap_or(false);
    let prompt = types::string(&body, "prompt")?.unwrap_or_default();
    let system = types::string(&body, "system")?;
    let messages = match body.get("messages") {
        None | Some(Value::Null) => None,
        Some(v) => Some(types::messages(v)?),
    };
    let input = match (raw, messages) {
        (true, Some(_)) => {
            return Err(ServerError::invalid("raw", "`raw` cannot be used with `messages`").into())
        }
        (true, None) => {
            if system.is_some() {
                return Err(ServerError::invalid(
                    "system",
                    "`system` cannot be used with `raw: true` (the prompt is sent as it is)",
                )
                .into());
            }
            Input::Raw { prompt }
        }
        (false, Some(mut messages)) => {
            if messages.is_empty() {
                return Err(ServerError::invalid("messages", "`messages` is empty").into());
            }
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
            }
        }
        (false, None) => {
            if prompt.is_empty() {
                return load_or_unload(&state, model.as_deref(), keep_alive, stream).await;
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
            }
        }
    };
    if matches!(&input, Input::Raw { prompt } if prompt.is_empty()) {
        return load_or_unload(&state, model.as_deref(), keep_alive, stream).await;
    }
    let settings = types::settings(&body)?;
    let mut job = Job::new(model.clone(), input);
    job.max_tokens = settings.max_tokens;
    job.stop = settings.stop;
    job.sampling = settings.sampling;
    types::apply_format(&body, &mut job)?;
    job.keep_alive = keep_alive;
    job.logprobs = types::logprobs(&body)?;
    let think = types::think(&body)?;
    let with_logprobs = job.logprobs.is_some();

    let mut generation = state.engine.start(job, stream).await?;
    let name = model.unwrap_or_else(|| generation.model.clone());
    let style = GenerateLines {
        model: name,
        think,
        logprobs: with_logprobs,
    };
    if !stream {
        let done = generation.collect().await?;
        let mut style = style;
        let mut v = style.line(&done.content, done.reasoning.as_deref().unwrap_or_default());
        if with_logprobs {
            v["logprobs"] = logprobs_json(&done.logprobs);
        }
        final_fields(&mut v, &generation, &done);
        return Ok(Json(v).into_response());
    }
    let first = generation.next().await.transpose()?;
    Ok(ndjson_response(generation, first, style))
}

/// Ollama's way to load (`prompt` empty) or unload (`keep_alive: 0`) a model.
pub(crate) async fn load_or_unload(
    state: &SharedState,
    model: Option<&str>,
    keep_alive: Option<KeepAlive>,
    stream: bool,
) -> Result<Response, OllamaError> {
    let models = state.engine.models();
    let name = models.resolve(model)?.name.clone();
    let reason = if keep_alive.is_some_and(|k| k.is_zero()) {
        models
            .set_keep_alive(&name, KeepAlive::For(std::time::Duration::ZERO))
            .await;
        "unload"
    } else {
        let (lease, _) = models.acquire(&name, keep_alive).await?;
        drop(lease);
        "load"
    };
    let v = json!({
        "model": model.unwrap_or(&name),
        "created_at": types::timestamp(),
        "response": "",
        "done": true,
        "done_reason": reason,
    });
    Ok(if stream {
        ndjson_single(&v)
    } else {
        Json(v).into_response()
    })
}

struct GenerateLines {
    model: String,
    think: bool,
    logprobs: bool,
}

impl LineStyle for GenerateLines {
    fn line(&mut self, response: &str, thinking: &str) -> Value {
        let mut v = json!({
            "model": self.model,
            "created_at": types::timestamp(),
            "response": response,
            "done": false,
        });
        if self.think && !thinking.is_empty() {
            v["thinking"] = json!(thinking);
        }
        v
    }

    fn shows_thinking(&self) -> bool {
        self.think
    }

    fn shows_logprobs(&self) -> bool {
        self.logprobs
    }

    fn closing(&mut self, generation: &Generation, done: &Done) -> Value {
        let mut v = self.line("", "");
        final_fields(&mut v, generation, done);
        v
    }
}
