//! The JSON pieces of Ollama responses: timestamps, durations in nanoseconds, counts,
//! log-probabilities, tool calls.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use shimmy_core::backend::TokenLogprob;
use shimmy_engine::generation::{Done, Generation};
use shimmy_plugins::ToolCall;

/// Ollama's timestamp: RFC 3339 with nanoseconds, UTC.
pub fn timestamp() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn nanos_f(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9) as u64
    } else {
        0
    }
}

/// The final fields: `done`, `done_reason`, durations and counts. `prompt_eval_count` counts
/// only the prompt tokens evaluated (cache hits excluded), as Ollama does.
pub fn final_fields(v: &mut Value, generation: &Generation, done: &Done) {
    let s = &done.summary;
    v["done"] = json!(true);
    v["done_reason"] = json!(done.stop_reason());
    v["total_duration"] = json!(nanos(generation.started.elapsed()));
    v["load_duration"] = json!(nanos(generation.load_duration));
    v["prompt_eval_count"] = json!(s.prompt_tokens.saturating_sub(s.cached_tokens));
    v["prompt_eval_duration"] = json!(nanos_f(s.prompt_seconds));
    v["eval_count"] = json!(s.completion_tokens);
    v["eval_duration"] = json!(nanos_f(s.decode_seconds));
}

/// Ollama's log-probabilities list.
pub fn logprobs_json(tokens: &[TokenLogprob]) -> Value {
    Value::Array(
        tokens
            .iter()
            .map(|t| {
                json!({
                    "token": t.text,
                    "logprob": t.logprob,
                    "bytes": t.bytes,
                    "top_logprobs": t.top.iter().map(|a| json!({
                        "token": a.text, "logprob": a.logprob, "bytes": a.bytes,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// Tool calls as Ollama writes them (arguments as an object).
pub fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                let arguments: Value =
                    serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                json!({"function": {"name": c.name, "arguments": arguments}})
            })
            .collect(),
    )
}
