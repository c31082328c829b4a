//! `POST /api/embed` and the older `POST /api/embeddings`: Ollama's embedding routes.
//!
//! `/api/embed` takes `input` (a string or a list of strings), `truncate` (default true, as in
//! Ollama: an input longer than the model's context is cut to fit, else refused), `dimensions`
//! (only the model's own width), `keep_alive` and `options` (read and ignored: the vectors do
//! not depend on sampling, and load-time options are the server's flags), and answers
//! `embeddings` with Ollama's `total_duration`, `load_duration` (nanoseconds) and
//! `prompt_eval_count`. `/api/embeddings` takes one `prompt` and answers `embedding`. As in
//! Ollama, a request without input loads the model and answers no vectors. Unlike Ollama, the
//! older route's vector is unit length too, so every route gives the same vector for a text.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shimmy_engine::embedding::{EmbedInput, EmbedJob};
use shimmy_engine::KeepAlive;

use super::types::UNKNOWN_FIELDS;
use crate::body::JsonBody;
use crate::error::{OllamaError, ServerError};
use crate::state::SharedState;
use crate::wire::{json_kind, text, wire_request, Flag, Int, Text, Unknown};

/// A `/api/embed` body.
#[derive(Debug, Deserialize)]
pub struct EmbedRequest {
    model: Option<Text>,
    input: Option<Value>,
    truncate: Option<Flag>,
    dimensions: Option<Int>,
    keep_alive: Option<Value>,
    options: Option<Value>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(EmbedRequest, "by /api/embed", UNKNOWN_FIELDS);

/// A `/api/embeddings` body.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    model: Option<Text>,
    prompt: Option<Text>,
    keep_alive: Option<Value>,
    options: Option<Value>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(EmbeddingsRequest, "by /api/embeddings", UNKNOWN_FIELDS);

impl EmbedRequest {
    /// The engine job.
    pub fn into_job(self) -> Result<EmbedJob, ServerError> {
        let inputs = match self.input {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(Value::String(s)) => vec![EmbedInput::Text(s)],
            Some(Value::Array(list)) => list
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(EmbedInput::Text(s)),
                    other => Err(ServerError::invalid(
                        format!("input[{i}]"),
                        format!("`input[{i}]` must be a string, not {}", json_kind(&other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ServerError::invalid(
                    "input",
                    format!(
                        "`input` must be a string or a list of strings, not {}",
                        json_kind(&other)
                    ),
                ))
            }
        };
        let mut job = EmbedJob::new(text(self.model), inputs);
        job.truncate = self.truncate.is_none_or(|f| f.0);
        job.truncate_allowed = true;
        job.dimensions = match self.dimensions {
            // Ollama's "not set".
            None | Some(Int(0)) => None,
            Some(Int(d)) if d > 0 && d <= i64::from(u32::MAX) => Some(d as u32),
            Some(Int(d)) => {
                return Err(ServerError::invalid(
                    "dimensions",
                    format!("`dimensions` must be a positive integer, not {d}"),
                ))
            }
        };
        job.keep_alive = keep_alive(self.keep_alive)?;
        check_options(self.options)?;
        Ok(job)
    }
}

impl EmbeddingsRequest {
    /// The engine job (no truncation: an over-long prompt is refused).
    pub fn into_job(self) -> Result<EmbedJob, ServerError> {
        let inputs = match text(self.prompt) {
            Some(p) if !p.is_empty() => vec![EmbedInput::Text(p)],
            _ => Vec::new(),
        };
        let mut job = EmbedJob::new(text(self.model), inputs);
        job.param = "prompt";
        job.keep_alive = keep_alive(self.keep_alive)?;
        check_options(self.options)?;
        Ok(job)
    }
}

/// Ollama's `keep_alive` (`"5m"`, seconds, `0`, negative for ever).
fn keep_alive(value: Option<Value>) -> Result<Option<KeepAlive>, ServerError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => KeepAlive::from_json(&v)
            .map(Some)
            .map_err(|e| ServerError::invalid("keep_alive", format!("`keep_alive`: {e}"))),
    }
}

/// `options` must be an object; its settings do not change an embedding and are ignored.
fn check_options(options: Option<Value>) -> Result<(), ServerError> {
    match options {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(map)) => {
            if !map.is_empty() {
                let names: Vec<&str> = map.keys().map(String::as_str).collect();
                tracing::debug!(
                    "embedding options ignored (they do not change the vectors): {}",
                    names.join(", ")
                );
            }
            Ok(())
        }
        Some(other) => Err(ServerError::invalid(
            "options",
            format!("`options` must be an object, not {}", json_kind(&other)),
        )),
    }
}

/// `POST /api/embed`.
pub async fn embed(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<EmbedRequest>,
) -> Result<Json<Value>, OllamaError> {
    let job = request.into_job()?;
    let asked = job.model.clone();
    let done = state.engine.embed(job).await?;
    Ok(Json(json!({
        "model": asked.unwrap_or(done.model),
        "embeddings": done.vectors,
        "total_duration": done.total_duration.as_nanos() as u64,
        "load_duration": done.load_duration.as_nanos() as u64,
        "prompt_eval_count": done.prompt_tokens,
    })))
}

/// `POST /api/embeddings`.
pub async fn embeddings(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<EmbeddingsRequest>,
) -> Result<Json<Value>, OllamaError> {
    let job = request.into_job()?;
    let done = state.engine.embed(job).await?;
    let embedding = done.vectors.into_iter().next().unwrap_or_default();
    Ok(Json(json!({ "embedding": embedding })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::from_json;

    fn embed_job(body: Value) -> Result<EmbedJob, ServerError> {
        from_json::<EmbedRequest>(body)?.into_job()
    }

    #[test]
    fn embed_reads_ollama_bodies() {
        let job = embed_job(
            json!({"model": "m", "input": ["a", "b"], "keep_alive": "1m",
            "options": {"num_ctx": 512}}),
        )
        .unwrap();
        assert_eq!(job.inputs.len(), 2);
        assert!(job.truncate, "Ollama truncates by default");
        assert!(job.keep_alive.is_some());
        let job = embed_job(json!({"input": "a", "truncate": false, "dimensions": 0})).unwrap();
        assert!(!job.truncate && job.dimensions.is_none());
        assert!(embed_job(json!({"input": ""})).unwrap().inputs.is_empty());
        assert!(embed_job(json!({})).unwrap().inputs.is_empty());
    }

    #[test]
    fn embed_refuses_wrong_types() {
        let e = embed_job(json!({"input": ["a", 3]})).unwrap_err();
        assert_eq!(e.param(), Some("input[1]"));
        let e = embed_job(json!({"input": {"text": "a"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`input` must be a string or a list of strings, not an object"
        );
        let e = embed_job(json!({"input": "a", "options": 1})).unwrap_err();
        assert_eq!(e.param(), Some("options"));
        let e = embed_job(json!({"input": "a", "truncate": "no"})).unwrap_err();
        assert_eq!(e.param(), Some("truncate"));
        let e = embed_job(json!({"input": "a", "keep_alive": "soon"})).unwrap_err();
        assert_eq!(e.param(), Some("keep_alive"));
    }

    #[test]
    fn embeddings_reads_the_prompt() {
        let job = from_json::<EmbeddingsRequest>(json!({"model": "m", "prompt": "hi"}))
            .unwrap()
            .into_job()
            .unwrap();
        assert_eq!(job.inputs, vec![EmbedInput::Text("hi".into())]);
        assert_eq!(job.param, "prompt");
        assert!(!job.truncate);
        let e = from_json::<EmbeddingsRequest>(json!({"prompt": 5})).unwrap_err();
        assert_eq!(e.param(), Some("prompt"));
    }
}
