//! `POST /v1/responses`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use shimmy_engine::new_id;

use super::events::ResponseEvents;
use super::object::{output, status, usage, Header};
use super::types::ResponsesRequest;
use crate::body::JsonBody;
use crate::error::{Flavor, OpenAiError};
use crate::state::SharedState;
use crate::stream::{self, Encoding};
use crate::wire::unix_now;

/// Answers a response: the whole `response` object, or its events (SSE) with `stream: true`.
pub async fn respond(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<ResponsesRequest>,
) -> Result<Response, OpenAiError> {
    let request = request.into_request()?;
    let mut generation = state.engine.start(request.job, request.stream).await?;
    let header = Header {
        id: new_id("resp_"),
        created_at: unix_now(),
        model: request.model.unwrap_or_else(|| generation.model.clone()),
        echo: request.echo,
    };
    if !request.stream {
        let done = generation.collect().await?;
        let items = output(&done, &header.echo);
        let body = header.response(status(&done), items, Some(usage(&done.summary)));
        return Ok(Json(body).into_response());
    }
    // Wait for the prompt to be evaluated so that a failure still gets its status code.
    let first = generation.next().await.transpose()?;
    Ok(stream::response(
        generation,
        first,
        ResponseEvents::new(header),
        Encoding::NamedSse,
        Flavor::OpenAi,
    ))
}
