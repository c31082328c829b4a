//! `POST /v1/messages` and `POST /v1/messages/count_tokens`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shimmy_engine::generation::Update;
use shimmy_engine::new_id;

use super::events::MessageEvents;
use super::message::message;
use super::types::{CountTokensRequest, MessagesRequest};
use crate::body::JsonBody;
use crate::error::{AnthropicError, Flavor};
use crate::state::SharedState;
use crate::stream::{self, Encoding};

/// Answers a message: the whole `message` object, or its events (SSE) with `stream: true`.
pub async fn messages(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<MessagesRequest>,
) -> Result<Response, AnthropicError> {
    let request = request.into_request()?;
    let mut generation = state.engine.start(request.job, request.stream).await?;
    let id = new_id("msg_");
    let model = request.model.unwrap_or_else(|| generation.model.clone());
    if !request.stream {
        let done = generation.collect().await?;
        let body = message(
            &id,
            &model,
            &done,
            request.thinking,
            &request.stop_sequences,
        );
        return Ok(Json(body).into_response());
    }
    // Wait for the prompt to be evaluated so that a failure still gets its status code.
    let first = generation.next().await.transpose()?;
    let prompt = match &first {
        Some(Update::Prompt {
            prompt_tokens,
            cached_tokens,
        }) => (*prompt_tokens, *cached_tokens),
        _ => (0, 0),
    };
    let events = MessageEvents::new(id, model, prompt, request.thinking, request.stop_sequences);
    Ok(stream::response(
        generation,
        first,
        events,
        Encoding::NamedSse,
        Flavor::Anthropic,
    ))
}

/// `{"input_tokens": N}`: the tokens of the prompt the request renders (system, messages
/// and tools through the model's template), counted as generation counts them.
pub async fn count_tokens(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<CountTokensRequest>,
) -> Result<Json<Value>, AnthropicError> {
    let (model, input) = request.into_input()?;
    let (lease, _) = state.engine.models().lease(model.as_deref(), None).await?;
    let prepared = state.engine.prepare_prompt(&lease, &input).await?;
    let model = lease.model.clone();
    let tokens = tokio::task::spawn_blocking(move || {
        model.tokenize_prompt(
            &prepared.prompt,
            &prepared.content_spans,
            prepared.add_bos,
            true,
        )
    })
    .await??;
    Ok(Json(json!({ "input_tokens": tokens.len() })))
}
