//! The JSON pieces of OpenAI responses: usage, log-probabilities, tool calls, the
//! fingerprint.

use serde_json::{json, Map, Value};
use shimmy_core::backend::{GenerateSummary, TokenLogprob};
use shimmy_engine::new_id;
use shimmy_plugins::ToolCall;

/// What the OpenAI routes report as `system_fingerprint`.
pub fn system_fingerprint() -> String {
    format!("shimmy-host-{}", env!("CARGO_PKG_VERSION"))
}

/// The `usage` object, with the prompt-cache reuse in `prompt_tokens_details` and the tokens
/// of the answer's reasoning block in `completion_tokens_details`.
pub fn usage(summary: &GenerateSummary) -> Value {
    json!({
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
        "total_tokens": summary.prompt_tokens + summary.completion_tokens,
        "prompt_tokens_details": { "cached_tokens": summary.cached_tokens },
        "completion_tokens_details": { "reasoning_tokens": summary.reasoning_tokens },
    })
}

/// Chat-style log-probabilities (`{"content": [...]}`).
pub fn chat_logprobs(tokens: &[TokenLogprob]) -> Value {
    let content: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({
                "token": t.text,
                "logprob": t.logprob,
                "bytes": t.bytes,
                "top_logprobs": t.top.iter().map(|a| json!({
                    "token": a.text,
                    "logprob": a.logprob,
                    "bytes": a.bytes,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "content": content, "refusal": null })
}

/// Legacy completion log-probabilities (`tokens`, `token_logprobs`, `top_logprobs`,
/// `text_offset`); `offset` is where the first token's text starts in the completion.
pub fn completion_logprobs(tokens: &[TokenLogprob], mut offset: usize) -> Value {
    let mut text_offset = Vec::with_capacity(tokens.len());
    for t in tokens {
        text_offset.push(offset);
        offset += t.text.len();
    }
    json!({
        "tokens": tokens.iter().map(|t| t.text.clone()).collect::<Vec<_>>(),
        "token_logprobs": tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
        "top_logprobs": tokens.iter().map(|t| {
            let mut m = Map::new();
            for a in &t.top {
                m.insert(a.text.clone(), json!(a.logprob));
            }
            Value::Object(m)
        }).collect::<Vec<_>>(),
        "text_offset": text_offset,
    })
}

/// Tool calls as OpenAI writes them.
pub fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "index": i,
                    "id": if c.id.is_empty() { new_id("call_") } else { c.id.clone() },
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect(),
    )
}
