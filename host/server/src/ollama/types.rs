//! Ollama request parsing (`options`, `format`, `keep_alive`, messages) and the JSON pieces
//! of its responses (timestamps, durations in nanoseconds, counts).

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};
use shimmy_core::backend::{SamplingOptions, TokenLogprob};
use shimmy_plugins::{ChatMessage, ToolCall};

use shimmy_engine::generation::{Done, Generation, Job};
use shimmy_engine::grammar::JSON_GRAMMAR;
use shimmy_engine::KeepAlive;

use crate::error::ServerError;
use crate::openai::types::{parse_seed, parse_stop, range};
use crate::wire::json_kind;

/// Options that size the model when it loads; the server's flags decide them, so they are
/// accepted and have no effect per request.
const LOAD_TIME_OPTIONS: &[&str] = &[
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mmap",
    "use_mlock",
    "embedding_only",
    "numa",
    "num_thread",
    "num_keep",
];

/// Generation settings gathered from the top level (shimmy's body) and `options` (Ollama's).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Sampling.
    pub sampling: SamplingOptions,
    /// `num_predict` / `max_tokens`; `None`: until the context is full.
    pub max_tokens: Option<u32>,
    /// Stop strings.
    pub stop: Vec<String>,
}

fn number(v: &Value, at: &str) -> Result<f64, ServerError> {
    v.as_f64().ok_or_else(|| {
        ServerError::invalid(at, format!("`{at}` must be a number, not {}", json_kind(v)))
    })
}

fn integer(v: &Value, at: &str) -> Result<i64, ServerError> {
    match v.as_i64() {
        Some(i) => Ok(i),
        None => match v.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(f as i64),
            _ => Err(ServerError::invalid(
                at,
                format!("`{at}` must be an integer, not {v}"),
            )),
        },
    }
}

/// Applies one setting (`key` at path `at`) to `s`.
fn apply(s: &mut Settings, key: &str, v: &Value, at: &str) -> Result<(), ServerError> {
    if v.is_null() {
        return Ok(());
    }
    let f = |v: &Value| number(v, at).map(|x| x as f32);
    match key {
        "num_predict" | "max_tokens" => {
            let n = integer(v, at)?;
            s.max_tokens = match n {
                n if n < 0 => None,
                0 => {
                    return Err(ServerError::invalid(
                        at,
                        format!("`{at}` must be at least 1, or -1 for no limit"),
                    ))
                }
                n => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            };
        }
        "temperature" => {
            let t = f(v)?;
            range(at, t, 0.0, 100.0)?;
            s.sampling.temperature = t;
        }
        "top_k" => {
            let k = integer(v, at)?;
            s.sampling.top_k = i32::try_from(k.max(0)).unwrap_or(i32::MAX);
        }
        "top_p" => {
            let p = f(v)?;
            range(at, p, 0.0, 1.0)?;
            s.sampling.top_p = p;
        }
        "min_p" => {
            let p = f(v)?;
            range(at, p, 0.0, 1.0)?;
            s.sampling.min_p = p;
        }
        "repeat_penalty" => {
            let p = f(v)?;
            range(at, p, 0.0, 10.0)?;
            s.sampling.repeat_penalty = p;
        }
        "repeat_last_n" => {
            let n = integer(v, at)?;
            s.sampling.repeat_last_n = i32::try_from(n.max(-1)).unwrap_or(i32::MAX);
        }
        "presence_penalty" => {
            let p = f(v)?;
            range(at, p, -2.0, 2.0)?;
            s.sampling.presence_penalty = p;
        }
        "frequency_penalty" => {
            let p = f(v)?;
            range(at, p, -2.0, 2.0)?;
            s.sampling.frequency_penalty = p;
        }
        "seed" => s.sampling.seed = parse_seed(Some(integer(v, at)?))?,
        "stop" => s.stop = parse_stop(Some(v)).map_err(|e| retag(e, at))?,
        "mirostat" if integer(v, at)? == 0 => {}
        "tfs_z" | "typical_p" if (number(v, at)? - 1.0).abs() < 1e-9 => {}
        "penalize_newline" if v == &Value::Bool(false) => {}
        "mirostat" | "mirostat_tau" | "mirostat_eta" | "tfs_z" | "typical_p"
        | "penalize_newline" => {
            return Err(ServerError::unsupported(
                at,
                format!("`{at}` = {v} is not supported by this server's samplers"),
            ))
        }
        k if LOAD_TIME_OPTIONS.contains(&k) => {
            tracing::debug!("option {k} is set by the server's flags; ignored per request");
        }
        other => {
            return Err(ServerError::unsupported(
                at,
                format!("`{other}` is not an option this server knows"),
            ))
        }
    }
    Ok(())
}

fn retag(e: ServerError, at: &str) -> ServerError {
    match e {
        ServerError::InvalidRequest { message, .. } => ServerError::InvalidRequest {
            message: message.replace("`stop", &format!("`{at}")),
            param: Some(at.to_string()),
        },
        other => other,
    }
}

/// Reads the top-level shimmy settings (`max_tokens`, `temperature`, `top_p`, `top_k`) and
/// then Ollama's `options` (which win).
pub fn settings(body: &Map<String, Value>) -> Result<Settings, ServerError> {
    let mut s = Settings::default();
    for key in ["max_tokens", "temperature", "top_p", "top_k"] {
        if let Some(v) = body.get(key) {
            apply(&mut s, key, v, key)?;
        }
    }
    match body.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(options)) => {
            for (key, v) in options {
                apply(&mut s, key, v, &format!("options.{key}"))?;
            }
        }
        Some(other) => {
            return Err(ServerError::invalid(
                "options",
                format!("`options` must be an object, not {}", json_kind(other)),
            ))
        }
    }
    Ok(s)
}

/// `format`: `""` (nothing), `"json"` (any JSON object: a grammar) or a JSON schema object
/// (converted to a grammar when the job starts).
pub fn format_constraint(
    body: &Map<String, Value>,
) -> Result<(Option<String>, Option<Value>), ServerError> {
    match body.get("format") {
        None | Some(Value::Null) => Ok((None, None)),
        Some(Value::String(s)) if s.is_empty() => Ok((None, None)),
        Some(Value::String(s)) if s == "json" => Ok((Some(JSON_GRAMMAR.to_string()), None)),
        Some(schema @ Value::Object(_)) => Ok((None, Some(schema.clone()))),
        Some(other) => Err(ServerError::invalid(
            "format",
            format!("`format` must be \"json\" or a JSON schema, not {other}"),
        )),
    }
}

/// Puts `format`'s constraint on `job` (errors about the schema then name `format`).
pub fn apply_format(body: &Map<String, Value>, job: &mut Job) -> Result<(), ServerError> {
    (job.grammar, job.json_schema) = format_constraint(body)?;
    job.json_schema_param = "format";
    Ok(())
}

/// `keep_alive`.
pub fn keep_alive(body: &Map<String, Value>) -> Result<Option<KeepAlive>, ServerError> {
    match body.get("keep_alive") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => KeepAlive::from_json(v)
            .map(Some)
            .map_err(|e| ServerError::invalid("keep_alive", format!("`keep_alive`: {e}"))),
    }
}

/// `think`: `false` drops the reasoning from the answer; `true` or a level keeps it.
pub fn think(body: &Map<String, Value>) -> Result<bool, ServerError> {
    match body.get("think") {
        None | Some(Value::Null) | Some(Value::Bool(true)) => Ok(true),
        Some(Value::Bool(false)) => Ok(false),
        Some(Value::String(s)) if ["high", "medium", "low"].contains(&s.as_str()) => Ok(true),
        Some(other) => Err(ServerError::invalid(
            "think",
            format!("`think` must be true, false, \"low\", \"medium\" or \"high\", not {other}"),
        )),
    }
}

/// `logprobs` / `top_logprobs`.
pub fn logprobs(body: &Map<String, Value>) -> Result<Option<u32>, ServerError> {
    let on = match body.get("logprobs") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ServerError::invalid(
                "logprobs",
                format!("`logprobs` must be true or false, not {}", json_kind(other)),
            ))
        }
    };
    let top = match body.get("top_logprobs") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64() {
            Some(n) if n <= 20 => n as u32,
            _ => {
                return Err(ServerError::invalid(
                    "top_logprobs",
                    format!("`top_logprobs` must be an integer between 0 and 20, not {v}"),
                ))
            }
        },
    };
    Ok(on.then_some(top))
}

/// Refuses a non-empty field this server cannot honour.
pub fn refuse_if_set(body: &Map<String, Value>, key: &str, why: &str) -> Result<(), ServerError> {
    let set = match body.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    if set {
        Err(ServerError::unsupported(key, format!("`{key}`: {why}")))
    } else {
        Ok(())
    }
}

/// An optional string field.
pub fn string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ServerError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ServerError::invalid(
            key,
            format!("`{key}` must be a string, not {}", json_kind(other)),
        )),
    }
}

/// An optional boolean field.
pub fn boolean(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, ServerError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ServerError::invalid(
            key,
            format!("`{key}` must be true or false, not {}", json_kind(other)),
        )),
    }
}

/// Ollama chat messages (`role`, `content`, `tool_calls` with object arguments, `images`
/// refused).
pub fn messages(value: &Value) -> Result<Vec<ChatMessage>, ServerError> {
    let Value::Array(items) = value else {
        return Err(ServerError::invalid(
            "messages",
            format!("`messages` must be a list, not {}", json_kind(value)),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at = format!("messages[{i}]");
            let Some(obj) = m.as_object() else {
                return Err(ServerError::invalid(
                    at.clone(),
                    format!("`{at}` must be an object, not {}", json_kind(m)),
                ));
            };
            let role = match obj.get("role") {
                Some(Value::String(r))
                    if ["system", "user", "assistant", "tool"].contains(&r.as_str()) =>
                {
                    r.clone()
                }
                Some(Value::String(r)) => {
                    return Err(ServerError::invalid(
                        format!("{at}.role"),
                        format!(
                        "`{at}.role` is \"{r}\"; it must be one of system, user, assistant, tool"
                    ),
                    ))
                }
                None => {
                    return Err(ServerError::invalid(
                        format!("{at}.role"),
                        format!("`{at}.role` is required"),
                    ))
                }
                Some(other) => {
                    return Err(ServerError::invalid(
                        format!("{at}.role"),
                        format!("`{at}.role` must be a string, not {}", json_kind(other)),
                    ))
                }
            };
            let content = match obj.get("content") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(ServerError::invalid(
                        format!("{at}.content"),
                        format!("`{at}.content` must be a string, not {}", json_kind(other)),
                    ))
                }
            };
            if obj
                .get("images")
                .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()) && !v.is_null())
            {
                return Err(ServerError::unsupported(
                    format!("{at}.images"),
                    format!("`{at}.images`: images are not supported (no vision models)"),
                ));
            }
            let tool_calls = match obj.get("tool_calls") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(calls)) => calls
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        let f = c.get("function").unwrap_or(c);
                        let name = f.get("name").and_then(Value::as_str).ok_or_else(|| {
                            ServerError::invalid(
                                format!("{at}.tool_calls[{j}].function.name"),
                                format!("`{at}.tool_calls[{j}].function.name` must be a string"),
                            )
                        })?;
                        let arguments = match f.get("arguments") {
                            None | Some(Value::Null) => "{}".to_string(),
                            Some(Value::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                        };
                        Ok(ToolCall {
                            id: String::new(),
                            name: name.to_string(),
                            arguments,
                        })
                    })
                    .collect::<Result<_, ServerError>>()?,
                Some(other) => {
                    return Err(ServerError::invalid(
                        format!("{at}.tool_calls"),
                        format!("`{at}.tool_calls` must be a list, not {}", json_kind(other)),
                    ))
                }
            };
            Ok(ChatMessage {
                role,
                content,
                tool_calls,
                tool_call_id: None,
                name: obj
                    .get("tool_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn options_override_top_level_settings() {
        let s = settings(&obj(json!({
            "max_tokens": 5, "temperature": 0.5,
            "options": {"num_predict": 7, "temperature": 0, "stop": ["x"], "seed": 3, "num_ctx": 4096}
        })))
        .unwrap();
        assert_eq!(s.max_tokens, Some(7));
        assert_eq!(s.sampling.temperature, 0.0);
        assert_eq!(s.stop, vec!["x"]);
        assert_eq!(s.sampling.seed, Some(3));
        let s = settings(&obj(json!({"options": {"num_predict": -1}}))).unwrap();
        assert_eq!(s.max_tokens, None);
    }

    #[test]
    fn bad_or_unsupported_options_are_named() {
        for (body, param) in [
            (
                json!({"options": {"temperature": "hot"}}),
                "options.temperature",
            ),
            (json!({"options": {"mirostat": 2}}), "options.mirostat"),
            (json!({"options": {"bogus": 1}}), "options.bogus"),
            (json!({"options": {"stop": 5}}), "options.stop"),
            (json!({"options": 3}), "options"),
            (json!({"max_tokens": 0}), "max_tokens"),
        ] {
            let e = settings(&obj(body.clone())).unwrap_err();
            assert_eq!(e.param(), Some(param), "{body}: {e}");
        }
        assert!(settings(&obj(json!({"options": {"mirostat": 0, "tfs_z": 1.0}}))).is_ok());
    }

    #[test]
    fn format_keep_alive_and_messages() {
        assert!(format_constraint(&obj(json!({"format": "json"})))
            .unwrap()
            .0
            .is_some());
        let schema = json!({"type": "object"});
        assert_eq!(
            format_constraint(&obj(json!({"format": schema})))
                .unwrap()
                .1,
            Some(schema)
        );
        assert!(format_constraint(&obj(json!({"format": 3}))).is_err());
        assert_eq!(
            keep_alive(&obj(json!({"keep_alive": 0}))).unwrap(),
            Some(KeepAlive::For(Duration::ZERO))
        );
        let m = messages(&json!([{"role": "user", "content": "hi"}])).unwrap();
        assert_eq!(m[0].content, "hi");
        assert!(messages(&json!([{"role": "user", "content": "x", "images": ["aGk="]}])).is_err());
        assert!(messages(&json!([{"role": "wizard", "content": "x"}])).is_err());
    }
}
