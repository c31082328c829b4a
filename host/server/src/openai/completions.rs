//! `POST /v1/completions` (the legacy text completion API; the prompt is used as it is).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use shimmy_engine::generation::{Delta, Done, Generation};
use shimmy_engine::new_id;

use super::response::{completion_logprobs, system_fingerprint, usage};
use super::sse_response;
use super::types::CompletionRequest;
use crate::body::JsonBody;
use crate::error::OpenAiError;
use crate::state::SharedState;
use crate::stream::Frames;
use crate::wire::unix_now;

/// Answers a text completion, streamed as SSE when `stream` is true.
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<CompletionRequest>,
) -> Result<Response, OpenAiError> {
    let request = request.into_request()?;
    let mut generation = state.engine.start(request.job, request.stream).await?;
    let id = new_id("cmpl-");
    let created = unix_now();
    let model = request.model.unwrap_or_else(|| generation.model.clone());
    if !request.stream {
        let done = generation.collect().await?;
        let logprobs = if request.logprobs {
            completion_logprobs(&done.logprobs, 0)
        } else {
            Value::Null
        };
        return Ok(Json(json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "text": done.content,
                "logprobs": logprobs,
                "finish_reason": done.stop_reason(),
            }],
            "usage": usage(&done.summary),
            "system_fingerprint": system_fingerprint(),
        }))
        .into_response());
    }
    let first = generation.next().await.transpose()?;
    let style = CompletionChunks {
        id,
        created,
        model,
        include_usage: request.include_usage,
        logprobs: request.logprobs,
        offset: 0,
    };
    Ok(sse_response(generation, first, style))
}

struct CompletionChunks {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    logprobs: bool,
    offset: usize,
}

impl CompletionChunks {
    fn chunk(&self, text: &str, logprobs: Value, finish: Value) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": system_fingerprint(),
            "choices": [{
                "index": 0,
                "text": text,
                "logprobs": logprobs,
                "finish_reason": finish,
            }],
        });
        if self.include_usage {
            v["usage"] = Value::Null;
        }
        v
    }
}

impl Frames for CompletionChunks {
    fn delta(&mut self, delta: &Delta) -> Option<Value> {
        if delta.content.is_empty() && delta.logprobs.is_empty() {
            return None;
        }
        let logprobs = if self.logprobs {
            completion_logprobs(&delta.logprobs, self.offset)
        } else {
            Value::Null
        };
        self.offset += delta.content.len();
        Some(self.chunk(&delta.content, logprobs, Value::Null))
    }

    fn closing(&mut self, _: &Generation, done: &Done) -> Vec<Value> {
        let mut out = vec![self.chunk("", Value::Null, json!(done.stop_reason()))];
        if self.include_usage {
            out.push(json!({
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": system_fingerprint(),
                "choices": [],
                "usage": usage(&done.summary),
            }));
        }
        out
    }
}
