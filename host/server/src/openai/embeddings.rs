//! `POST /v1/embeddings`: OpenAI's embeddings route.
//!
//! `input` is a string, a list of strings, a list of token ids or a list of such lists; each
//! becomes one unit vector. `encoding_format` is `float` (JSON numbers) or `base64` (the
//! vector's little-endian `f32` bytes, which the official SDKs ask for by default);
//! `dimensions` is accepted only when it is the model's own width (the vectors cannot be
//! shortened); `user` is read and has no effect. An input longer than the model's context is
//! refused (OpenAI has no truncation).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use shimmy_engine::embedding::{EmbedInput, EmbedJob, Embedded};

use super::types::UNKNOWN_FIELDS;
use crate::body::JsonBody;
use crate::error::{OpenAiError, ServerError};
use crate::state::SharedState;
use crate::wire::{json_kind, text, wire_request, Int, Text, Unknown};

/// A `/v1/embeddings` body.
#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    model: Option<Text>,
    input: Option<Value>,
    encoding_format: Option<Text>,
    dimensions: Option<Int>,
    #[serde(rename = "user")]
    _user: Option<Text>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(EmbeddingRequest, "by /v1/embeddings", UNKNOWN_FIELDS);

/// How the vectors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON numbers.
    Float,
    /// Base64 of the little-endian `f32` bytes.
    Base64,
}

impl EmbeddingRequest {
    /// The engine job, the model name as asked (for the answer) and the encoding.
    pub fn into_job(self) -> Result<(EmbedJob, Option<String>, Encoding), ServerError> {
        let encoding = match text(self.encoding_format).as_deref() {
            None | Some("float") => Encoding::Float,
            Some("base64") => Encoding::Base64,
            Some(other) => {
                return Err(ServerError::invalid(
                    "encoding_format",
                    format!("`encoding_format` must be \"float\" or \"base64\", not {other:?}"),
                ))
            }
        };
        let dimensions = match self.dimensions {
            None => None,
            Some(Int(d)) if d >= 1 && d <= i64::from(u32::MAX) => Some(d as u32),
            Some(Int(d)) => {
                return Err(ServerError::invalid(
                    "dimensions",
                    format!("`dimensions` must be at least 1, not {d}"),
                ))
            }
        };
        let input = self
            .input
            .ok_or_else(|| ServerError::invalid("input", "`input` is required"))?;
        let inputs = read_input(input)?;
        let model = text(self.model);
        let mut job = EmbedJob::new(model.clone(), inputs);
        job.dimensions = dimensions;
        Ok((job, model, encoding))
    }
}

/// OpenAI's `input`: a string, a list of strings, a list of token ids, or a list of lists of
/// token ids (never empty; an empty string is refused by the engine).
fn read_input(input: Value) -> Result<Vec<EmbedInput>, ServerError> {
    let list = match input {
        Value::String(s) => return Ok(vec![EmbedInput::Text(s)]),
        Value::Array(list) => list,
        other => {
            return Err(ServerError::invalid(
                "input",
                format!(
                    "`input` must be a string, a list of strings or a list of token ids, not {}",
                    json_kind(&other)
                ),
            ))
        }
    };
    if list.is_empty() {
        return Err(ServerError::invalid(
            "input",
            "`input` is an empty list; give at least one text to embed",
        ));
    }
    if list.iter().all(Value::is_number) {
        return Ok(vec![EmbedInput::Tokens(token_ids(&list, "input")?)]);
    }
    list.into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(EmbedInput::Text(s)),
            Value::Array(ids) => Ok(EmbedInput::Tokens(token_ids(&ids, &format!("input[{i}]"))?)),
            other => Err(ServerError::invalid(
                format!("input[{i}]"),
                format!(
                    "`input[{i}]` must be a string or a list of token ids, not {}",
                    json_kind(&other)
                ),
            )),
        })
        .collect()
}

/// A list of token ids (non-negative integers) at `at`.
fn token_ids(list: &[Value], at: &str) -> Result<Vec<u32>, ServerError> {
    list.iter()
        .enumerate()
        .map(|(j, v)| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    ServerError::invalid(
                        format!("{at}[{j}]"),
                        format!(
                            "`{at}[{j}]` must be a token id (a non-negative integer), not {}",
                            match v {
                                Value::Number(n) => n.to_string(),
                                other => json_kind(other).to_string(),
                            }
                        ),
                    )
                })
        })
        .collect()
}

/// The `data` list and `usage` of an answer.
pub fn response(done: &Embedded, model: Option<String>, encoding: Encoding) -> Value {
    let data: Vec<Value> = done
        .vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            json!({
                "object": "embedding",
                "index": index,
                "embedding": match encoding {
                    Encoding::Float => json!(vector),
                    Encoding::Base64 => json!(base64_f32(vector)),
                },
            })
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model.unwrap_or_else(|| done.model.clone()),
        "usage": {
            "prompt_tokens": done.prompt_tokens,
            "total_tokens": done.prompt_tokens,
        },
    })
}

/// The little-endian bytes of `vector`, base64 (standard alphabet, padded).
fn base64_f32(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `POST /v1/embeddings`.
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<EmbeddingRequest>,
) -> Result<Response, OpenAiError> {
    let (job, model, encoding) = request.into_job()?;
    let done = state.engine.embed(job).await?;
    Ok(Json(response(&done, model, encoding)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::from_json;

    fn job(body: Value) -> Result<(EmbedJob, Option<String>, Encoding), ServerError> {
        from_json::<EmbeddingRequest>(body)?.into_job()
    }

    fn refusal(body: Value) -> (Option<String>, String) {
        let e = job(body).unwrap_err();
        (e.param().map(str::to_string), e.to_string())
    }

    #[test]
    fn every_input_shape_is_read() {
        let (j, _, enc) = job(json!({"input": "a"})).unwrap();
        assert_eq!(j.inputs, vec![EmbedInput::Text("a".into())]);
        assert_eq!(enc, Encoding::Float);
        let (j, _, _) = job(json!({"input": ["a", "b"], "encoding_format": "base64"})).unwrap();
        assert_eq!(j.inputs.len(), 2);
        let (j, _, _) = job(json!({"input": [1, 2, 3]})).unwrap();
        assert_eq!(j.inputs, vec![EmbedInput::Tokens(vec![1, 2, 3])]);
        let (j, _, _) = job(json!({"input": [[1, 2], [3]], "dimensions": 8})).unwrap();
        assert_eq!(
            j.inputs,
            vec![EmbedInput::Tokens(vec![1, 2]), EmbedInput::Tokens(vec![3])]
        );
        assert_eq!(j.dimensions, Some(8));
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        assert_eq!(refusal(json!({})).0.as_deref(), Some("input"));
        assert_eq!(
            refusal(json!({"input": 5})).1,
            "`input` must be a string, a list of strings or a list of token ids, not a number"
        );
        assert_eq!(refusal(json!({"input": []})).0.as_deref(), Some("input"));
        assert_eq!(
            refusal(json!({"input": ["a", {"x": 1}]})),
            (
                Some("input[1]".into()),
                "`input[1]` must be a string or a list of token ids, not an object".into()
            )
        );
        assert_eq!(
            refusal(json!({"input": [[1, -2]]})).1,
            "`input[0][1]` must be a token id (a non-negative integer), not -2"
        );
        assert_eq!(
            refusal(json!({"input": "a", "encoding_format": "int8"}))
                .0
                .as_deref(),
            Some("encoding_format")
        );
        assert_eq!(
            refusal(json!({"input": "a", "dimensions": 0})).0.as_deref(),
            Some("dimensions")
        );
    }

    #[test]
    fn base64_is_the_little_endian_f32_bytes() {
        assert_eq!(base64_f32(&[1.0, -2.0]), "AACAPwAAAMA=");
    }
}
