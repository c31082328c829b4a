//! `POST /api/chat`, answered in Ollama's shape.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use shimmy_engine::generation::{Done, Generation};

use super::generate::load_or_unload;
use super::response::{final_fields, logprobs_json, timestamp, tool_calls_json};
use super::types::{ChatRequest, OllamaJob};
use super::{ndjson_response, LineStyle};
use crate::body::JsonBody;
use crate::error::OllamaError;
use crate::state::SharedState;

/// Answers a chat; NDJSON stream unless `stream: false`. `messages` must not be empty, except
/// with `keep_alive` alone (Ollama's load / unload request).
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Response, OllamaError> {
    let (model, job, stream, think, with_logprobs) = match request.into_job()? {
        OllamaJob::LoadOrUnload {
            model,
            keep_alive,
            stream,
        } => return load_or_unload(&state, model.as_deref(), keep_alive, stream).await,
        OllamaJob::Generate {
            model,
            job,
            stream,
            think,
            logprobs,
        } => (model, job, stream, think, logprobs),
    };
    let mut generation = state.engine.start(*job, stream).await?;
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
            "created_at": timestamp(),
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
