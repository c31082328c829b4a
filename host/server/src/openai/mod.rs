//! OpenAI-compatible routes: `/v1/chat/completions`, `/v1/completions`, `/v1/models`.

pub mod chat;
pub mod completions;
pub mod models;
pub mod response;
pub mod types;

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use shimmy_engine::generation::{Delta, Done, Generation, Update};

use crate::error::{Flavor, ServerError};

/// How one endpoint writes its stream chunks.
pub(crate) trait ChunkStyle: Send + 'static {
    /// Chunks sent once the prompt is evaluated (the role delta of a chat).
    fn opening(&mut self) -> Vec<Value>;
    /// The chunk for new text.
    fn delta(&mut self, delta: &Delta) -> Option<Value>;
    /// The chunks that end the stream (finish reason, usage).
    fn closing(&mut self, done: &Done) -> Vec<Value>;
}

fn push_frame(out: &mut String, value: &Value) {
    out.push_str("data: ");
    out.push_str(&value.to_string());
    out.push_str("\n\n");
}

struct SseState<C> {
    generation: Generation,
    first: Option<Update>,
    style: C,
    opened: bool,
    ended: bool,
}

/// The SSE response of a streaming request: chunks as `style` writes them, then
/// `data: [DONE]`. An error after the headers went out is sent as a `data: {"error": ...}`
/// event. The stream owns the generation, so a client that goes away cancels it.
pub(crate) fn sse_response<C: ChunkStyle>(
    generation: Generation,
    first: Option<Update>,
    style: C,
) -> Response {
    let state = SseState {
        generation,
        first,
        style,
        opened: false,
        ended: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let mut out = String::new();
        if !st.opened {
            st.opened = true;
            for v in st.style.opening() {
                push_frame(&mut out, &v);
            }
        }
        loop {
            let update = match st.first.take() {
                Some(u) => Some(Ok(u)),
                None => st.generation.next().await,
            };
            match update {
                Some(Ok(Update::Prompt { .. })) => {}
                Some(Ok(Update::Delta(delta))) => {
                    if let Some(v) = st.style.delta(&delta) {
                        push_frame(&mut out, &v);
                    }
                }
                Some(Ok(Update::Done(done))) => {
                    if !done.rest.is_empty() {
                        if let Some(v) = st.style.delta(&done.rest) {
                            push_frame(&mut out, &v);
                        }
                    }
                    for v in st.style.closing(&done) {
                        push_frame(&mut out, &v);
                    }
                    out.push_str("data: [DONE]\n\n");
                    st.ended = true;
                }
                Some(Err(e)) => {
                    push_frame(&mut out, &ServerError::from(e).body(Flavor::OpenAi));
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
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
