//! shimmy's own routes: `/health`, `/metrics`, `/tokenize`, `/detokenize`,
//! `/api/template/render`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::app::{check_fields, json_kind, JsonBody, SharedState, ROUTES};
use crate::error::{OpenAiError, ServerError, RETRY_AFTER_SECONDS};
use crate::generation::{prepare_prompt, Input};
use crate::openai::types::{parse_messages, parse_tools};

/// 200 with the models and slot usage when ready; 503 (with `Retry-After`) while a model
/// is loading.
pub async fn health(State(state): State<SharedState>) -> Response {
    let models = state.manager.status();
    let (mut slots, mut busy, mut queued) = (0u32, 0u32, 0usize);
    for m in &models {
        if let Some(s) = &m.scheduler {
            slots += s.slots;
            busy += s.busy_slots;
            queued += s.queued;
        }
    }
    let loading = state.manager.is_loading();
    let mut body = json!({
        "status": if loading { "loading" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "slots": { "total": slots, "busy": busy, "idle": slots.saturating_sub(busy) },
        "queued": queued,
        "models": models,
        "routes": ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect::<Vec<_>>(),
    });
    if loading {
        body["error"] = ServerError::Loading.body(crate::error::Flavor::OpenAi)["error"].clone();
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        return r;
    }
    Json(body).into_response()
}

/// Prometheus metrics (OpenMetrics text).
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let models = state.manager.status();
    let backend = state.manager.backend().clone();
    let devices = tokio::task::spawn_blocking(move || backend.devices())
        .await
        .unwrap_or_default();
    let text = state.metrics.render(&models, &devices);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn text_field(body: &Value) -> Result<String, ServerError> {
    for key in ["content", "text", "prompt"] {
        match body.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(s.clone()),
            Some(other) => {
                return Err(ServerError::invalid(
                    key,
                    format!("`{key}` must be a string, not {}", json_kind(other)),
                ))
            }
        }
    }
    Err(ServerError::invalid(
        "content",
        "`content` (the text to tokenize) is required",
    ))
}

fn flag(body: &Value, key: &str, default: bool) -> Result<bool, ServerError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ServerError::invalid(
            key,
            format!("`{key}` must be true or false, not {}", json_kind(other)),
        )),
    }
}

fn model_field(body: &Value) -> Result<Option<String>, ServerError> {
    match body.get("model") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ServerError::invalid(
            "model",
            format!("`model` must be a string, not {}", json_kind(other)),
        )),
    }
}

/// `{"content": TEXT, "add_special": false, "parse_special": false, "with_pieces": false}` →
/// `{"tokens": [...]}` (with pieces: `[{"id", "piece"}]`).
pub async fn tokenize(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, OpenAiError> {
    check_fields(
        &body,
        &[
            "model",
            "content",
            "text",
            "prompt",
            "add_special",
            "parse_special",
            "with_pieces",
        ],
        "by /tokenize",
    )?;
    let text = text_field(&body)?;
    let add_special = flag(&body, "add_special", false)?;
    // Text is plain unless the caller asks for special-token parsing.
    let parse_special = flag(&body, "parse_special", false)?;
    let with_pieces = flag(&body, "with_pieces", false)?;
    let name = state
        .manager
        .resolve(model_field(&body)?.as_deref())?
        .name
        .clone();
    let (lease, _) = state.manager.acquire(&name, None).await?;
    let model = lease.model.clone();
    let tokens = tokio::task::spawn_blocking(move || -> Result<Value, ServerError> {
        let ids = model.tokenize(&text, add_special, parse_special)?;
        if !with_pieces {
            return Ok(json!(ids));
        }
        let pieces = ids
            .iter()
            .map(|&id| Ok(json!({"id": id, "piece": model.detokenize(&[id])?})))
            .collect::<Result<Vec<Value>, ServerError>>()?;
        Ok(Value::Array(pieces))
    })
    .await??;
    Ok(Json(json!({ "model": name, "tokens": tokens })))
}

/// `{"tokens": [ids]}` → `{"content": TEXT}`.
pub async fn detokenize(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, OpenAiError> {
    check_fields(&body, &["model", "tokens"], "by /detokenize")?;
    let ids: Vec<u32> = match body.get("tokens") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ServerError::invalid(
                            format!("tokens[{i}]"),
                            format!("`tokens[{i}]` must be a token id (a non-negative integer), not {v}"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        None | Some(Value::Null) => {
            return Err(ServerError::invalid("tokens", "`tokens` is required").into())
        }
        Some(other) => {
            return Err(ServerError::invalid(
                "tokens",
                format!("`tokens` must be a list of token ids, not {}", json_kind(other)),
            )
            .into())
        }
    };
    let name = state
        .manager
        .resolve(model_field(&body)?.as_deref())?
        .name
        .clone();
    let (lease, _) = state.manager.acquire(&name, None).await?;
    let model = lease.model.clone();
    let content = tokio::task::spawn_blocking(move || model.detokenize(&ids)).await??;
    Ok(Json(json!({ "model": name, "content": content })))
}

/// The exact prompt a chat request produces: `{"model", "messages", "tools"?, "template"?}` →
/// `{"prompt", "stop", "add_bos", "template", "reason", "prompt_tokens", "content_spans"}`
/// (`content_spans`: `[start, end]` byte ranges of `prompt` that are request content, always
/// tokenized as plain text; `prompt_tokens` counts the tokens the way generation does).
pub async fn render_template(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, OpenAiError> {
    check_fields(
        &body,
        &["model", "messages", "tools", "template"],
        "by /api/template/render",
    )?;
    let messages = parse_messages(body.get("messages"))?;
    let tools = match body.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => parse_tools(Some(tools))?,
        Some(other) => {
            return Err(ServerError::invalid(
                "tools",
                format!("`tools` must be a list, not {}", json_kind(other)),
            )
            .into())
        }
    };
    let template = match body.get("template") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ServerError::invalid(
                "template",
                format!("`template` must be a string, not {}", json_kind(other)),
            )
            .into())
        }
    };
    let name = state
        .manager
        .resolve(model_field(&body)?.as_deref())?
        .name
        .clone();
    let (lease, _) = state.manager.acquire(&name, None).await?;
    let input = Input::Chat {
        messages,
        tools,
        template,
    };
    let prepared = prepare_prompt(&state, &lease, &input).await?;
    let model = lease.model.clone();
    let (prompt, add_bos) = (prepared.prompt.clone(), prepared.add_bos);
    let content = prepared.content_spans.clone();
    // Tokenized as the generation will be: control tokens only outside request content.
    let tokens = tokio::task::spawn_blocking(move || {
        model.tokenize_prompt(&prompt, &content, add_bos, true)
    })
    .await??;
    let choice = prepared.template.clone();
    Ok(Json(json!({
        "model": name,
        "prompt": prepared.prompt,
        "stop": prepared.stop,
        "add_bos": prepared.add_bos,
        "template": choice.as_ref().map(|c| c.name.clone()),
        "reason": choice.as_ref().map(|c| c.reason),
        "prompt_tokens": tokens.len(),
        "content_spans": prepared
            .content_spans
            .iter()
            .map(|r| json!([r.start, r.end]))
            .collect::<Vec<_>>(),
    })))
}
