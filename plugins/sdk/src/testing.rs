//! Fixtures for plugin unit tests (native `cargo test`).

use crate::{ChatMessage, ModelContext, RenderRequest};

/// The conversation every template of this repository is tested with:
/// system + user + assistant + user.
pub fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You are a helpful assistant."),
        ChatMessage::user("What is 2+2?"),
        ChatMessage::assistant("2+2 equals 4."),
        ChatMessage::user("And 3+3?"),
    ]
}

/// A render request for [`conversation`] with a generation prompt, no tools, and a model of
/// `architecture` without template or special tokens.
pub fn request(architecture: &str) -> RenderRequest {
    RenderRequest::new(conversation(), ModelContext::new(architecture))
}
