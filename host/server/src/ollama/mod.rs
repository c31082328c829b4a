//! Ollama-compatible routes (`/api/generate`, `/api/chat`, `/api/tags`, `/api/show`,
//! `/api/ps`, `/api/version`): NDJSON streams by default, `{"error": "..."}` errors.

pub mod chat;
pub mod generate;
pub mod info;
pub mod response;
pub mod types;

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use shimmy_engine::generation::{Delta, Done, Generation, Update};

use crate::error::{Flavor, ServerError};

/// How one endpoint writes its NDJSON lines.
pub(crate) trait LineStyle: Send + 'static {
    /// A streamed line carrying `text` (and `thinking`, when shown).
    fn line(&mut self, text: &str, thinking: &str) -> Value;
    /// Whether reasoning text is shown (`think` was asked for).
    fn shows_thinking(&self) -> bool;
    /// Whether each line carries the log-probabilities of its tokens.
    fn shows_logprobs(&self) -> bool;

    /// The line for new text; `None` when there is nothing to show.
    fn delta(&mut self, delta: &Delta) -> Option<Value> {
        let thinking = if self.shows_thinking() {
            delta.reasoning.as_str()
        } else {
            ""
        };
        if delta.content.is_empty() && thinking.is_empty() && delta.logprobs.is_empty() {
            return None;
        }
        let mut v = self.line(&delta.content, thinking);
        if self.shows_logprobs() {
            v["logprobs"] = response::logprobs_json(&delta.logprobs);
        }
        Some(v)
    }
    /// The last line (`done: true` with the counts), given the generation for its timings.
    fn closing(&mut self, generation: &Generation, done: &Done) -> Value;
}

fn push_line(out: &mut String, value: &Value) {
    out.push_str(&value.to_string());
    out.push('\n');
}

struct NdjsonState<C> {
    generation: Generation,
    first: Option<Update>,
    style: C,
    ended: bool,
}

/// The `application/x-ndjson` response of a streaming request. The stream owns the
/// generation, so a client that goes away cancels it.
pub(crate) fn ndjson_response<C: LineStyle>(
    generation: Generation,
    first: Option<Update>,
    style: C,
) -> Response {
    let state = NdjsonState {
        generation,
        first,
        style,
        ended: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let mut out = String::new();
        loop {
            let update = match st.first.take() {
                Some(u) => Some(Ok(u)),
                None => st.generation.next().await,
            };
            match update {
                Some(Ok(Update::Prompt { .. })) => {}
                Some(Ok(Update::Delta(delta))) => {
                    if let Some(v) = st.style.delta(&delta) {
                        push_line(&mut out, &v);
                    }
                }
                Some(Ok(Update::Done(done))) => {
                    if !done.rest.is_empty() {
                        if let Some(v) = st.style.delta(&done.rest) {
                            push_line(&mut out, &v);
                        }
                    }
                    let last = st.style.closing(&st.generation, &done);
                    push_line(&mut out, &last);
                    st.ended = true;
                }
                Some(Err(e)) => {
                    push_line(&mut out, &ServerError::from(e).body(Flavor::Ollama));
                    st.ended = true;
                }
                None => st.ended = true,
            }
            if !out.is_empty() || st.ended {
                break;
            }
        }
        Some((Ok::<_, Infallible>(Bytes::from(out)), st))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One JSON object as an NDJSON body (a streaming request that produces a single line).
pub(crate) fn ndjson_single(value: &Value) -> Response {
    let mut out = value.to_string();
    out.push('\n');
    ([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response()
}
