//! Fixtures for plugin unit tests (native `cargo test`).

use crate::{ChatMessage, ModelContext, RenderRequest, ToolCall, ToolDefinition};

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

/// Turns `req` into the tool round trip every template is tested with: the system and user
/// messages of [`conversation`], a `get_weather` tool (described as `description`), an
/// assistant message calling it (`call_0`, `{"city":"Paris"}`) and the tool's answer `result`.
pub fn add_tool_round_trip(req: &mut RenderRequest, description: &str, result: &str) {
    req.messages.truncate(2);
    req.tools.push(ToolDefinition::new(
        "get_weather",
        description,
        r#"{"type": "object"}"#,
    ));
    let mut call = ChatMessage::assistant("");
    call.tool_calls = vec![ToolCall::new(
        "call_0",
        "get_weather",
        r#"{"city":"Paris"}"#,
    )];
    req.messages.push(call);
    req.messages.push(ChatMessage::tool("call_0", result));
}
