//! The one streaming writer: a state machine over a generation's [`Update`]s that writes each
//! endpoint's pieces ([`Frames`]) in one of three encodings: server-sent `data:` events
//! (OpenAI chat and completions), named server-sent events (the Anthropic Messages and OpenAI
//! Responses APIs) or NDJSON (Ollama).
//!
//! The stream waits for the first update before the headers go out (so that a failure still
//! gets its status code; see the handlers), then sends the opening pieces, a piece per
//! [`Update::Delta`], the rest of the text and the closing pieces with [`Update::Done`], and
//! the encoding's terminator. An error after the headers is sent as one more piece in the
//! route family's error shape. The stream owns the generation, so a client that goes away
//! cancels it.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use shimmy_engine::generation::{Delta, Done, Generation, Update};

use crate::error::{Flavor, ServerError};

/// How one endpoint writes the pieces of its stream.
pub trait Frames: Send + 'static {
    /// Pieces sent before any text (the role delta of a chat).
    fn opening(&mut self) -> Vec<Value> {
        Vec::new()
    }
    /// The piece for new text; `None` when there is nothing to send. Endpoints that need
    /// several pieces for one delta implement [`Frames::deltas`] instead.
    fn delta(&mut self, _delta: &Delta) -> Option<Value> {
        None
    }
    /// The pieces for new text (by default the one of [`Frames::delta`]).
    fn deltas(&mut self, delta: &Delta) -> Vec<Value> {
        self.delta(delta).into_iter().collect()
    }
    /// The pieces that end the stream (finish reason, counts, usage).
    fn closing(&mut self, generation: &Generation, done: &Done) -> Vec<Value>;
    /// The pieces that report an error after the headers went out; `error` is the error's
    /// body in the route family's shape (by default sent as it is).
    fn failure(&mut self, error: Value) -> Vec<Value> {
        vec![error]
    }
}

/// The wire encoding of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `text/event-stream`: `data: {json}` events, ended by `data: [DONE]`.
    Sse,
    /// `text/event-stream`: `event: TYPE` + `data: {json}` events, the name being the piece's
    /// `type`; no terminator (the last event says the stream is over).
    NamedSse,
    /// `application/x-ndjson`: one JSON object per line.
    Ndjson,
}

impl Encoding {
    fn push(self, out: &mut String, value: &Value) {
        match self {
            Encoding::Sse => {
                out.push_str("data: ");
                out.push_str(&value.to_string());
                out.push_str("\n\n");
            }
            Encoding::NamedSse => {
                let name = value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                out.push_str(&sse_event(name, value));
            }
            Encoding::Ndjson => {
                out.push_str(&value.to_string());
                out.push('\n');
            }
        }
    }

    fn end(self, out: &mut String) {
        if self == Encoding::Sse {
            out.push_str("data: [DONE]\n\n");
        }
    }

    /// A streaming response of this encoding with `body`.
    pub fn response(self, body: Body) -> Response {
        match self {
            Encoding::Sse | Encoding::NamedSse => (
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-cache"),
                    (header::HeaderName::from_static("x-accel-buffering"), "no"),
                ],
                body,
            )
                .into_response(),
            Encoding::Ndjson => {
                ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
            }
        }
    }

    /// A whole stream of one piece (e.g. Ollama's answer to a load request).
    pub fn single(self, value: &Value) -> Response {
        let mut out = String::new();
        self.push(&mut out, value);
        self.end(&mut out);
        self.response(Body::from(out))
    }
}

/// A named server-sent event: `event: NAME` and `data: {json}`.
pub fn sse_event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

struct State<F> {
    generation: Generation,
    first: Option<Update>,
    frames: F,
    encoding: Encoding,
    flavor: Flavor,
    opened: bool,
    ended: bool,
}

impl<F: Frames> State<F> {
    /// Writes what the next updates produce; `false` once the stream has ended.
    async fn step(&mut self, out: &mut String) -> bool {
        if self.ended {
            return false;
        }
        if !self.opened {
            self.opened = true;
            for v in self.frames.opening() {
                self.encoding.push(out, &v);
            }
        }
        loop {
            let update = match self.first.take() {
                Some(u) => Some(Ok(u)),
                None => self.generation.next().await,
            };
            match update {
                Some(Ok(Update::Prompt { .. })) => {}
                Some(Ok(Update::Delta(delta))) => {
                    for v in self.frames.deltas(&delta) {
                        self.encoding.push(out, &v);
                    }
                }
                Some(Ok(Update::Done(done))) => {
                    if !done.rest.is_empty() {
                        for v in self.frames.deltas(&done.rest) {
                            self.encoding.push(out, &v);
                        }
                    }
                    for v in self.frames.closing(&self.generation, &done) {
                        self.encoding.push(out, &v);
                    }
                    self.encoding.end(out);
                    self.ended = true;
                }
                Some(Err(e)) => {
                    for v in self.frames.failure(ServerError::from(e).body(self.flavor)) {
                        self.encoding.push(out, &v);
                    }
                    self.ended = true;
                }
                None => self.ended = true,
            }
            if !out.is_empty() || self.ended {
                return true;
            }
        }
    }
}

/// The streaming response of a generation: `frames` shape the pieces, `encoding` writes
/// them, errors take `flavor`'s shape. `first` is the update the handler already took.
pub fn response<F: Frames>(
    generation: Generation,
    first: Option<Update>,
    frames: F,
    encoding: Encoding,
    flavor: Flavor,
) -> Response {
    let state = State {
        generation,
        first,
        frames,
        encoding,
        flavor,
        opened: false,
        ended: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let mut out = String::new();
        st.step(&mut out)
            .await
            .then(|| (Ok::<_, Infallible>(Bytes::from(out)), st))
    });
    encoding.response(Body::from_stream(stream))
}
