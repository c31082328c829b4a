//! Ollama-compatible routes (`/api/generate`, `/api/chat`, `/api/embed`, `/api/embeddings`,
//! `/api/tags`, `/api/show`,
//! `/api/ps`, `/api/version`, `/api/pull`, `/api/delete`): NDJSON streams by default,
//! `{"error": "..."}` errors.

pub mod chat;
pub mod embed;
pub mod generate;
pub mod info;
pub mod pull;
pub mod response;
pub mod types;

use axum::response::Response;
use serde_json::Value;
use shimmy_engine::generation::{Delta, Done, Generation, Update};

use crate::error::Flavor;
use crate::stream::{self, Encoding, Frames};

/// How one endpoint writes its NDJSON lines.
pub(crate) trait LineStyle: Send + 'static {
    /// A streamed line carrying `text` (and `thinking`, when shown).
    fn line(&mut self, text: &str, thinking: &str) -> Value;
    /// Whether reasoning text is shown (`think` was asked for).
    fn shows_thinking(&self) -> bool;
    /// Whether each line carries the log-probabilities of its tokens.
    fn shows_logprobs(&self) -> bool;
    /// The last line (`done: true` with the counts), given the generation for its timings.
    fn closing(&mut self, generation: &Generation, done: &Done) -> Value;
}

/// The lines of a [`LineStyle`] as stream pieces.
struct Lines<L>(L);

impl<L: LineStyle> Frames for Lines<L> {
    fn delta(&mut self, delta: &Delta) -> Option<Value> {
        let thinking = if self.0.shows_thinking() {
            delta.reasoning.as_str()
        } else {
            ""
        };
        if delta.content.is_empty() && thinking.is_empty() && delta.logprobs.is_empty() {
            return None;
        }
        let mut v = self.0.line(&delta.content, thinking);
        if self.0.shows_logprobs() {
            v["logprobs"] = response::logprobs_json(&delta.logprobs);
        }
        Some(v)
    }

    fn closing(&mut self, generation: &Generation, done: &Done) -> Vec<Value> {
        vec![self.0.closing(generation, done)]
    }
}

/// The `application/x-ndjson` response of a streaming request; an error after the headers
/// went out is a `{"error": "..."}` line.
pub(crate) fn ndjson_response<L: LineStyle>(
    generation: Generation,
    first: Option<Update>,
    style: L,
) -> Response {
    stream::response(
        generation,
        first,
        Lines(style),
        Encoding::Ndjson,
        Flavor::Ollama,
    )
}

/// One JSON object as an NDJSON body (a streaming request that produces a single line).
pub(crate) fn ndjson_single(value: &Value) -> Response {
    Encoding::Ndjson.single(value)
}
