//! The adapter that keeps plugins built against contract 0.1.1 (and 0.1.0) working now that
//! 0.1.2 gave `chat-message` a `reasoning-content` field.
//!
//! A record that gains a field is another type to the component model, so wherever an old
//! plugin meets `chat-message` the host binds the old world and converts:
//!
//! * **Templates of 0.1.1** export `render`, `render-spans` and `output-parser` over 0.1.1
//!   chat messages: the host calls them through the `template_011` bindings with the
//!   request's messages minus their reasoning (which such a template never knew about).
//!   Templates of 0.1.0 (`legacy.rs`) use the same 0.1.1 types.
//! * **Workflows of 0.1.1 and 0.1.0** import `inference`, whose `chat` takes 0.1.1 chat
//!   messages: they are linked against a linker of their own that provides the 0.1.1
//!   `inference` (the same code as 0.1.2's, see `host.rs`; the messages they send come
//!   without reasoning). Their other imports and their `workflow` export did not change.
//! * **Tools** never see a chat message: a 0.1.1 or 0.1.0 tool links to the 0.1.2 host by
//!   semver, as before.
//!
//! Here are the conversions of the 0.1.1 types to and from the host's, stated with the
//! macros of `types.rs` (the records that did not change convert alike).

use shimmy_core::backend::{ModelInfo, SamplingOptions as Sampling};
use shimmy_core::chat::{
    ChatMessage, GenerationOptions, ParseDelta, Parsed, ToolCall, ToolDefinition, Usage,
};
use shimmy_core::prompt::{PromptSpan, SpanKind};

use crate::bindings::legacy_template::exports::shimmy::plugin::template as lt;
use crate::bindings::template_011::exports::shimmy::plugin::template as ot;
use crate::bindings::template_011::shimmy::plugin::types as oty;
use crate::bindings::workflow_011::shimmy::plugin::inference as oi;
use crate::types::{
    inference_conversions, span_conversions, template_conversions, types_conversions, ChatResult,
    GenerationResult, GuestError, ModelContext, RenderRequest, Rendered, TemplateInfo,
};

types_conversions!(oty);
template_conversions!(ot);
span_conversions!(ot);
template_conversions!(lt);
inference_conversions!(oi);

/// A message for a plugin of 0.1.1 or 0.1.0: its reasoning is left out.
impl From<ChatMessage> for oty::ChatMessage {
    fn from(v: ChatMessage) -> Self {
        oty::ChatMessage {
            role: v.role,
            content: v.content,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: v.tool_call_id,
            name: v.name,
        }
    }
}

/// A message from a workflow of 0.1.1 or 0.1.0: it has no reasoning.
impl From<oty::ChatMessage> for ChatMessage {
    fn from(v: oty::ChatMessage) -> Self {
        ChatMessage {
            role: v.role,
            content: v.content,
            tool_calls: v.tool_calls.into_iter().map(Into::into).collect(),
            tool_call_id: v.tool_call_id,
            name: v.name,
            reasoning_content: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_messages_drop_reasoning_and_keep_the_rest() {
        let m = ChatMessage {
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }],
            reasoning_content: Some("thought".into()),
            ..ChatMessage::new("assistant", "answer")
        };
        let old: oty::ChatMessage = m.clone().into();
        assert_eq!(old.content, "answer");
        assert_eq!(old.tool_calls[0].name, "f");
        let back: ChatMessage = old.into();
        assert_eq!(
            back,
            ChatMessage {
                reasoning_content: None,
                ..m
            }
        );
    }
}
