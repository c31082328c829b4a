//! The Anthropic Messages API: `POST /v1/messages` (streamed as Anthropic's named events with
//! `stream: true`) and `POST /v1/messages/count_tokens`, over the same engine jobs as the
//! other routes. Errors take Anthropic's shape (`{"type": "error", "error": {"type",
//! "message"}}`, [`crate::error::Flavor::Anthropic`]); the key check accepts `x-api-key`,
//! and the `anthropic-version` / `anthropic-beta` headers are accepted whatever they say.

pub mod events;
pub mod handlers;
pub mod message;
pub mod types;
