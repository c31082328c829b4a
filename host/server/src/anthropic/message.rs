//! The JSON pieces of an Anthropic answer: the `message` object, its content blocks, the stop
//! reason and the usage.

use serde_json::{json, Value};
use shimmy_core::backend::{FinishReason, GenerateSummary};
use shimmy_engine::generation::Done;
use shimmy_plugins::ToolCall;

use super::types::Thinking;

/// `stop_reason` and `stop_sequence`: `tool_use` when the model called tools, `max_tokens`
/// when it ran out, `stop_sequence` (naming it) when one of the request's `stop_sequences`
/// ended it, else `end_turn`.
pub fn stop_reason(done: &Done, stop_sequences: &[String]) -> (&'static str, Option<String>) {
    if !done.tool_calls.is_empty() {
        return ("tool_use", None);
    }
    match done.summary.finish_reason {
        FinishReason::Length => ("max_tokens", None),
        FinishReason::Stop | FinishReason::Cancelled => match &done.summary.stop {
            Some(stop) if stop_sequences.contains(stop) => ("stop_sequence", Some(stop.clone())),
            _ => ("end_turn", None),
        },
    }
}

/// `usage`: `input_tokens` are the prompt tokens evaluated, `cache_read_input_tokens` those
/// reused from the prompt cache (their sum is the prompt, as `count_tokens` counts it).
pub fn usage(summary: &GenerateSummary) -> Value {
    json!({
        "input_tokens": summary.prompt_tokens.saturating_sub(summary.cached_tokens),
        "cache_read_input_tokens": summary.cached_tokens,
        "cache_creation_input_tokens": 0,
        "output_tokens": summary.completion_tokens,
    })
}

/// The `input` object of a tool call: its arguments, when they are a JSON object (also when
/// the model wrote them as a JSON string holding one); `None` otherwise.
pub fn tool_input(call: &ToolCall) -> Option<Value> {
    match serde_json::from_str::<Value>(&call.arguments).ok()? {
        object @ Value::Object(_) => Some(object),
        Value::String(inner) => serde_json::from_str::<Value>(&inner)
            .ok()
            .filter(Value::is_object),
        _ => None,
    }
}

/// A `tool_use` block (`input` given), or, for a call whose arguments are not an object, a
/// `text` block with the call as the model wrote it.
pub fn tool_block(call: &ToolCall, input: Value) -> Value {
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
}

/// The text block that stands for a call whose arguments are not a JSON object.
pub fn unreadable_call_text(call: &ToolCall) -> String {
    tracing::warn!(
        "the model called {} with arguments that are not a JSON object: {:?}",
        call.name,
        call.arguments
    );
    format!("{}({})", call.name, call.arguments)
}

/// A `thinking` block holding `text`; its `signature` is empty (Anthropic's is an opaque
/// proof of origin that a local server cannot make).
pub fn thinking_block(text: &str) -> Value {
    json!({"type": "thinking", "thinking": text, "signature": ""})
}

/// The whole `message` of a non-streaming answer.
pub fn message(
    id: &str,
    model: &str,
    done: &Done,
    thinking: Thinking,
    stop_sequences: &[String],
) -> Value {
    let mut content = Vec::new();
    if let Some(reasoning) = done.reasoning.as_deref().filter(|r| !r.is_empty()) {
        if thinking.shows_blocks() {
            let shown = if thinking.shows_text() { reasoning } else { "" };
            content.push(thinking_block(shown));
        }
    }
    let mut text = done.content.clone();
    let mut calls = Vec::new();
    for call in &done.tool_calls {
        match tool_input(call) {
            Some(input) => calls.push(tool_block(call, input)),
            None => text.push_str(&unreadable_call_text(call)),
        }
    }
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    content.extend(calls);
    let (reason, sequence) = stop_reason(done, stop_sequences);
    let reason = if content.iter().all(|b| b["type"] != "tool_use") && reason == "tool_use" {
        "end_turn"
    } else {
        reason
    };
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(&done.summary),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(arguments: &str) -> ToolCall {
        ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn tool_input_is_an_object_or_nothing() {
        assert_eq!(tool_input(&call(r#"{"a":1}"#)), Some(json!({"a": 1})));
        assert_eq!(tool_input(&call(r#""{\"a\":1}""#)), Some(json!({"a": 1})));
        assert_eq!(tool_input(&call("[1]")), None);
        assert_eq!(tool_input(&call("{oops")), None);
    }
}
