//! The JSON of a Responses API answer: the `response` object, its output items (`reasoning`,
//! `message` with `output_text`, `function_call`) and its usage.

use serde_json::{json, Value};
use shimmy_core::backend::{FinishReason, GenerateSummary};
use shimmy_engine::generation::Done;
use shimmy_engine::new_id;
use shimmy_plugins::ToolCall;

use super::types::Echo;

/// `completed`, or `incomplete` when the answer was cut at `max_output_tokens`.
pub fn status(done: &Done) -> &'static str {
    match done.summary.finish_reason {
        FinishReason::Length => "incomplete",
        FinishReason::Stop | FinishReason::Cancelled => "completed",
    }
}

/// `usage`: input tokens (of which `cached_tokens` came from the prompt cache) and output
/// tokens (of which `reasoning_tokens` were inside the reasoning block).
pub fn usage(summary: &GenerateSummary) -> Value {
    json!({
        "input_tokens": summary.prompt_tokens,
        "input_tokens_details": { "cached_tokens": summary.cached_tokens },
        "output_tokens": summary.completion_tokens,
        "output_tokens_details": { "reasoning_tokens": summary.reasoning_tokens },
        "total_tokens": summary.prompt_tokens + summary.completion_tokens,
    })
}

/// A `reasoning` item with its text.
pub fn reasoning_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "reasoning",
        "id": id,
        "summary": [],
        "content": [reasoning_part(text)],
        "status": status,
    })
}

/// A `reasoning_text` part.
pub fn reasoning_part(text: &str) -> Value {
    json!({"type": "reasoning_text", "text": text})
}

/// An assistant `message` item with one `output_text` part.
pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [text_part(text)],
    })
}

/// An `output_text` part.
pub fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A `function_call` item: `call_id` is what the `function_call_output` answers.
pub fn call_item(id: &str, call: &ToolCall, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call.id,
        "name": call.name,
        "arguments": arguments,
        "status": status,
    })
}

/// The item id of a function call (`fc_` + the call id's random part).
pub fn call_item_id(call: &ToolCall) -> String {
    match call.id.strip_prefix("call_") {
        Some(rest) if !rest.is_empty() => format!("fc_{rest}"),
        _ => new_id("fc_"),
    }
}

/// The calls a response returns (`max_tool_calls` at most).
pub fn returned_calls<'a>(done: &'a Done, echo: &Echo) -> &'a [ToolCall] {
    let n = echo
        .max_tool_calls
        .map_or(done.tool_calls.len(), |m| m as usize);
    &done.tool_calls[..done.tool_calls.len().min(n)]
}

/// The output items of a non-streamed answer.
pub fn output(done: &Done, echo: &Echo) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(reasoning) = done.reasoning.as_deref().filter(|r| !r.is_empty()) {
        out.push(reasoning_item(&new_id("rs_"), reasoning, "completed"));
    }
    if !done.content.is_empty() {
        out.push(message_item(&new_id("msg_"), &done.content, status(done)));
    }
    for call in returned_calls(done, echo) {
        out.push(call_item(
            &call_item_id(call),
            call,
            &call.arguments,
            "completed",
        ));
    }
    out
}

/// What a response object holds besides its output, status and usage.
#[derive(Debug, Clone)]
pub struct Header {
    /// `resp_...`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The model, as the request named it.
    pub model: String,
    /// What the request set.
    pub echo: Echo,
}

impl Header {
    /// The `response` object with `status`, `output` and `usage` (none while in progress).
    pub fn response(&self, status: &str, output: Vec<Value>, usage: Option<Value>) -> Value {
        let e = &self.echo;
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": (status == "completed").then(crate::wire::unix_now),
            "error": null,
            "incomplete_details": (status == "incomplete")
                .then(|| json!({"reason": "max_output_tokens"})),
            "instructions": e.instructions,
            "max_output_tokens": e.max_output_tokens,
            "max_tool_calls": e.max_tool_calls,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": e.parallel_tool_calls,
            "previous_response_id": null,
            "reasoning": {"effort": e.effort, "summary": null},
            "store": false,
            "temperature": e.temperature,
            "text": e.text,
            "tool_choice": e.tool_choice,
            "tools": e.tools,
            "top_p": e.top_p,
            "truncation": "disabled",
            "usage": usage,
            "metadata": {},
        })
    }
}
