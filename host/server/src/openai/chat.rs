//! `POST /v1/chat/completions`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use shimmy_engine::generation::{Delta, Done, Generation};
use shimmy_engine::new_id;

use super::response::{chat_logprobs, system_fingerprint, tool_calls_json, usage};
use super::sse_response;
use super::types::ChatRequest;
use crate::body::JsonBody;
use crate::error::OpenAiError;
use crate::state::SharedState;
use crate::stream::Frames;
use crate::wire::unix_now;

/// Answers a chat completion, streamed as SSE when `stream` is true.
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<ChatRequest>,
) -> Result<Response, OpenAiError> {
    let request = request.into_request()?;
    let mut generation = state.engine.start(request.job, request.stream).await?;
    let id = new_id("chatcmpl-");
    let created = unix_now();
    let model = request.model.unwrap_or_else(|| generation.model.clone());
    if !request.stream {
        let done = generation.collect().await?;
        return Ok(Json(response(&id, created, &model, &done, request.logprobs)).into_response());
    }
    // Wait for the prompt to be evaluated so that a failure still gets its status code.
    let first = generation.next().await.transpose()?;
    let style = ChatChunks {
        id,
        created,
        model,
        include_usage: request.include_usage,
        logprobs: request.logprobs,
    };
    Ok(sse_response(generation, first, style))
}

fn response(id: &str, created: u64, model: &str, done: &Done, logprobs: bool) -> Value {
    let called = !done.tool_calls.is_empty();
    let mut message = json!({
        "role": "assistant",
        "content": if called && done.content.is_empty() { Value::Null } else { json!(done.content) },
        "refusal": null,
    });
    if let Some(reasoning) = &done.reasoning {
        message["reasoning_content"] = json!(reasoning);
    }
    if called {
        message["tool_calls"] = tool_calls_json(&done.tool_calls);
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": if logprobs { chat_logprobs(&done.logprobs) } else { Value::Null },
            "finish_reason": done.finish_reason(),
        }],
        "usage": usage(&done.summary),
        "system_fingerprint": system_fingerprint(),
    })
}

/// `chat.completion.chunk`s: the role first, then content (and `reasoning_content`) deltas,
/// the finish reason, and the usage chunk when asked for.
struct ChatChunks {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    logprobs: bool,
}

impl ChatChunks {
    fn chunk(&self, delta: Value, logprobs: Value, finish: Value) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": system_fingerprint(),
            "choices": [{
                "index": 0,
                "delta": delta,
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

impl Frames for ChatChunks {
    fn opening(&mut self) -> Vec<Value> {
        vec![self.chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
            Value::Null,
        )]
    }

    fn delta(&mut self, delta: &Delta) -> Option<Value> {
        let mut d = json!({});
        if !delta.content.is_empty() {
            d["content"] = json!(delta.content);
        }
        if !delta.reasoning.is_empty() {
            d["reasoning_content"] = json!(delta.reasoning);
        }
        let logprobs = if self.logprobs && !delta.logprobs.is_empty() {
            chat_logprobs(&delta.logprobs)
        } else {
            Value::Null
        };
        if d.as_object().is_some_and(|o| o.is_empty()) && logprobs.is_null() {
            return None;
        }
        if d.as_object().is_some_and(|o| o.is_empty()) {
            d["content"] = json!("");
        }
        Some(self.chunk(d, logprobs, Value::Null))
    }

    fn closing(&mut self, _: &Generation, done: &Done) -> Vec<Value> {
        let called = !done.tool_calls.is_empty();
        let mut out = Vec::new();
        if called {
            out.push(self.chunk(
                json!({"tool_calls": tool_calls_json(&done.tool_calls)}),
                Value::Null,
                Value::Null,
            ));
        }
        out.push(self.chunk(json!({}), Value::Null, json!(done.finish_reason())));
        if self.include_usage {
            out.push(json!({
                "id": self.id,
                "object": "chat.completion.chunk",
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
