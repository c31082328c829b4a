//! shimmy's own routes: `/health`, `/metrics`, `/tokenize`, `/detokenize`,
//! `/api/template/render`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shimmy_engine::generation::Input;

use crate::body::JsonBody;
use crate::error::{Flavor, OpenAiError, ServerError, RETRY_AFTER_SECONDS};
use crate::functions::{tools, ToolWire};
use crate::openai::types::{chat_messages, reasoning_effort, MessageWire};
use crate::routes::ROUTES;
use crate::state::SharedState;
use crate::wire::{items, text, wire_request, Flag, List, Text, Unknown, UnknownFields};

/// 200 with the models and slot usage when ready; 503 (with `Retry-After`) while a model
/// is loading or while a model cannot serve (`"status": "unhealthy"`, each model's `error`,
/// e.g. an rpc worker lost): a readiness probe for load balancers.
pub async fn health(State(state): State<SharedState>) -> Response {
    let models = state.engine.models().status();
    let (mut slots, mut busy, mut queued) = (0u32, 0u32, 0usize);
    for m in &models {
        if let Some(s) = &m.scheduler {
            slots += s.slots;
            busy += s.busy_slots;
            queued += s.queued;
        }
    }
    let loading = state.engine.models().is_loading();
    let unhealthy: Vec<String> = models
        .iter()
        .filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.name)))
        .collect();
    let mut body = json!({
        "status": if loading { "loading" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "slots": { "total": slots, "busy": busy, "idle": slots.saturating_sub(busy) },
        "queued": queued,
        "models": models,
        "routes": ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect::<Vec<_>>(),
    });
    if !unhealthy.is_empty() && !loading {
        // Readiness: a model that cannot serve (an rpc worker lost) takes the replica out.
        body["status"] = json!("unhealthy");
        body["error"] = json!({
            "message": format!("not ready: {}", unhealthy.join("; ")),
            "type": "server_error",
            "code": "model_unhealthy",
        });
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        return r;
    }
    if loading {
        body["error"] = ServerError::Loading.body(Flavor::OpenAi)["error"].clone();
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        return r;
    }
    Json(body).into_response()
}

/// Prometheus metrics (OpenMetrics text).
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let models = state.engine.models().status();
    let backend = state.engine.backend().clone();
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

/// What the native routes do with request fields they do not know.
pub const UNKNOWN_FIELDS: UnknownFields = UnknownFields::Refuse;

/// A `/tokenize` body: the text in `content` (or `text`, or `prompt`).
#[derive(Debug, Deserialize)]
pub struct TokenizeRequest {
    model: Option<Text>,
    content: Option<Text>,
    text: Option<Text>,
    prompt: Option<Text>,
    add_special: Option<Flag>,
    parse_special: Option<Flag>,
    with_pieces: Option<Flag>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(TokenizeRequest, "/tokenize", UNKNOWN_FIELDS);

/// A `/detokenize` body.
#[derive(Debug, Deserialize)]
pub struct DetokenizeRequest {
    model: Option<Text>,
    tokens: Option<List<TokenId>>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(DetokenizeRequest, "/detokenize", UNKNOWN_FIELDS);

/// A token id.
#[derive(Debug, Clone, Copy)]
struct TokenId(u32);

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(TokenId)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "must be a token id (a non-negative integer), not {v}"
                ))
            })
    }
}

/// A `/api/template/render` body.
#[derive(Debug, Deserialize)]
pub struct RenderRequest {
    model: Option<Text>,
    messages: Option<List<MessageWire>>,
    tools: Option<List<ToolWire>>,
    template: Option<Text>,
    reasoning_effort: Option<Text>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(RenderRequest, "/api/template/render", UNKNOWN_FIELDS);

/// `{"content": TEXT, "add_special": false, "parse_special": false, "with_pieces": false}` →
/// `{"tokens": [...]}` (with pieces: `[{"id", "piece"}]`).
pub async fn tokenize(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<TokenizeRequest>,
) -> Result<Json<Value>, OpenAiError> {
    let text = text(request.content.or(request.text).or(request.prompt)).ok_or_else(|| {
        ServerError::invalid("content", "`content` (the text to tokenize) is required")
    })?;
    state
        .engine
        .config()
        .request_limits
        .check_prompt("content", "the text", &text)?;
    let flag = |f: Option<Flag>, default: bool| f.map_or(default, |f| f.0);
    let add_special = flag(request.add_special, false);
    // Text is plain unless the caller asks for special-token parsing.
    let parse_special = flag(request.parse_special, false);
    let with_pieces = flag(request.with_pieces, false);
    let (lease, _) = state
        .engine
        .models()
        .lease(request.model.as_ref().map(|t| t.0.as_str()), None)
        .await?;
    let name = lease.name.clone();
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
    JsonBody(request): JsonBody<DetokenizeRequest>,
) -> Result<Json<Value>, OpenAiError> {
    let Some(List(ids)) = request.tokens else {
        return Err(ServerError::invalid("tokens", "`tokens` is required").into());
    };
    let ids: Vec<u32> = ids.into_iter().map(|t| t.0).collect();
    let (lease, _) = state
        .engine
        .models()
        .lease(request.model.as_ref().map(|t| t.0.as_str()), None)
        .await?;
    let name = lease.name.clone();
    let model = lease.model.clone();
    let content = tokio::task::spawn_blocking(move || model.detokenize(&ids)).await??;
    Ok(Json(json!({ "model": name, "content": content })))
}

/// The exact prompt a chat request produces: `{"model", "messages", "tools"?, "template"?,
/// "reasoning_effort"?}` → `{"prompt", "stop", "add_bos", "template", "reason",
/// "prompt_tokens", "content_spans", "tool_prompt", "tool_prompt_note"}` (`content_spans`:
/// `[start, end]` byte ranges of `prompt` that are request content, always tokenized as plain
/// text; `prompt_tokens` counts the tokens the way generation does; `tool_prompt`: how the
/// tools reached the prompt, `none`, `template`, `hermes_fallback` when the template drops
/// them and they are offered as a Hermes `<tools>` block instead, or `dropped`).
pub async fn render_template(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<RenderRequest>,
) -> Result<Json<Value>, OpenAiError> {
    let messages = chat_messages(request.messages)?;
    let tools = tools(items(request.tools))?;
    let template = text(request.template);
    let thinking = reasoning_effort(request.reasoning_effort)?;
    let (lease, _) = state
        .engine
        .models()
        .lease(request.model.as_ref().map(|t| t.0.as_str()), None)
        .await?;
    let name = lease.name.clone();
    let input = Input::Chat {
        messages,
        tools,
        template,
        thinking,
    };
    let prepared = state.engine.prepare_prompt(&lease, &input).await?;
    // Tokenized as the generation will be: control tokens only outside request content.
    let tokens = state.engine.prompt_tokens(&lease, &prepared).await?;
    let choice = prepared.template.clone();
    Ok(Json(json!({
        "model": name,
        "prompt": prepared.prompt,
        "stop": prepared.stop,
        "add_bos": prepared.add_bos,
        "template": choice.as_ref().map(|c| c.name.clone()),
        "reason": choice.as_ref().map(|c| c.reason),
        "prompt_tokens": tokens.len(),
        "tool_prompt": prepared.tool_prompt,
        "tool_prompt_note": prepared.tool_prompt.describe(),
        "content_spans": prepared
            .content_spans
            .iter()
            .map(|r| json!([r.start, r.end]))
            .collect::<Vec<_>>(),
    })))
}
