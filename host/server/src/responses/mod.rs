//! The OpenAI Responses API, `POST /v1/responses`, served stateless over the same engine
//! jobs as `/v1/chat/completions`: the whole `response` object, or with `stream: true` the
//! named events the official SDKs read ([`events`]). Nothing is stored: every response says
//! `store: false`, and what needs a stored response is refused ([`types`]). Errors take the
//! OpenAI shape.

pub mod events;
pub mod handler;
pub mod object;
pub mod types;
