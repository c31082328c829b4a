//! OpenAI-compatible routes: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/models`.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod models;
pub mod response;
pub mod types;

use axum::response::Response;
use shimmy_engine::generation::{Generation, Update};

use crate::error::Flavor;
use crate::stream::{self, Encoding, Frames};

/// The SSE response of a streaming request: chunks as `frames` write them, then
/// `data: [DONE]`; an error after the headers went out is a `data: {"error": ...}` event.
pub(crate) fn sse_response<F: Frames>(
    generation: Generation,
    first: Option<Update>,
    frames: F,
) -> Response {
    stream::response(generation, first, frames, Encoding::Sse, Flavor::OpenAi)
}
