//! `POST /api/chat`, answered in Ollama's shape.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::generate::load_or_unload;
use super::types::{self, final_fields, logprobs_json, tool_calls_json};
use super::{ndjson_response, LineStyle};
use shimmy_engine::generation::{Done, Generation, Input, Job};

use crate::body::JsonBody;
use crate::error::{OllamaError, ServerError};
use crate::openai::types::parse_tools;
use crate::state::SharedState;
use crate::wire::check_fields;

const FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "stream",
    "format",
    "options",
    "keep_alive",
    "think",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "template",
];

/// Answers a chat; NDJSON stream unless `stream: false`. `messages` must not be empty, except
/// with `keep_alive` alone (Ollama's load / unload request).
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Response, OllamaError> {
    check_fields(&body, FIELDS, "by /api/chat")?;
    let body = body.as_object().cloned().unwrap_or_default();
    let stream = types::boolean(&body, "stream")?.unwrap_or(true);
    let model = types::string(&body, "model")?;
    let keep_alive = types::keep_alive(&body)?;
    let messages = match body.get("messages") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => types::messages(v)?,
    };
    if messages.is_empty() {
        if keep_alive.is_some() {
            return load_or_unload(&state, model.as_deref(), keep_alive, stream).await;
        }
        return Err(ServerError::invalid(
            "messages",
            "`messages` is empty; send at least one message",
        )
        .into());
    }
    let tools = match body.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => parse_tools(Some(tools))?,
        Some(_) => {
            return Err(ServerError::invalid("tools", "`tools` must be a list").into());
        }
    };
    let template = types::string(&body, "template")?.filter(|t| !t.is_empty());
    let settings = types::settings(&body)?;
    let mut job = Job::new(
        model.clone(),
        Input::Chat {
            messages,
            tools,
            template,
        },
    );
    job.max_tokens = settings.max_tokens;
    job.stop = settings.stop;
    job.sampling = settings.sampling;
    types::apply_format(&body, &mut job)?;
    job.keep_alive = keep_alive;
    job.logprobs = types::logprobs(&body)?;
    let think = types::think(&body)?;
    let with_logprobs = job.logprobs.is_some();

    let mut generation = state.engine.start(job, stream).await?;
    let mut style = ChatLines {
        model: model.unwrap_or_else(|| generation.model.clone()),
        think,
        logprobs: with_logprobs,
    };
    if !stream {
        let done = generation.collect().await?;
        let mut v = style.line(&done.content, done.reasoning.as_deref().unwrap_or_default());
        if !done.tool_calls.is_empty() {
            v["message"]["tool_calls"] = tool_calls_json(&done.tool_calls);
        }
        if with_logprobs {
            v["logprobs"] = logprobs_json(&done.logprobs);
        }
        final_fields(&mut v, &generation, &done);
        return Ok(Json(v).into_response());
    }
    let first = generation.next().await.transpose()?;
    Ok(ndjson_response(generation, first, style))
}

struct ChatLines {
    model: String,
    think: bool,
    logprobs: bool,
}

impl LineStyle for ChatLines {
    fn line(&mut self, content: &str, thinking: &str) -> Value {
        let mut message = json!({"role": "assistant", "content": content});
        if self.think && !thinking.is_empty() {
            message["thinking"] = json!(thinking);
        }
        json!({
            "model": self.model,
            "created_at": types::timestamp(),
            "message": message,
            "done": false,
        })
    }

    fn shows_thinking(&self) -> bool {
        self.think
    }

    fn shows_logprobs(&self) -> bool {
        self.logprobs
    }

    fn closing(&mut self, generation: &Generation, done: &Done) -> Value {
        let mut v = self.line("", "");
        if !done.tool_calls.is_empty() {
            v["message"]["tool_calls"] = tool_calls_json(&done.tool_calls);
        }
        final_fields(&mut v, generation, done);
        v
    }
}
