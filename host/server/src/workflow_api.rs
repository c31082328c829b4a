//! `GET /api/workflows` and `POST /api/workflows/{name}/run`: the workflow plugins and their
//! runs ([`shimmy_engine::Engine::run_workflow`]), answered as JSON or as server-sent events.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shimmy_engine::workflow::RunRequest;
use shimmy_engine::WorkflowLimits;
use shimmy_plugins::PluginKind;
use tokio::sync::mpsc::unbounded_channel;

use crate::body::JsonBody;
use crate::error::{Flavor, OpenAiError, ServerError};
use crate::state::SharedState;
use crate::wire::{check_fields, json_kind};

/// `GET /api/workflows`: `{"workflows": [{"name", "description", "input_schema", "plugin"}]}`.
pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, OpenAiError> {
    let mut workflows = Vec::new();
    let plugins = state.engine.plugins();
    for plugin in plugins.names(PluginKind::Workflow) {
        match plugins.describe_workflow(&plugin).await {
            Ok(info) => workflows.push(json!({
                "name": plugin,
                "title": info.name,
                "description": info.description,
                "input_schema": serde_json::from_str::<Value>(&info.input_schema)
                    .unwrap_or(Value::String(info.input_schema)),
            })),
            Err(e) => workflows.push(json!({"name": plugin, "error": e.to_string()})),
        }
    }
    Ok(Json(json!({ "workflows": workflows })))
}

/// Reads the body of a run request: `{"input", "model"?, "stream"?, "limits"?: {"max_steps",
/// "max_tokens", "timeout_ms"}}`. Request limits may only lower the server's.
pub fn parse_run(
    name: String,
    body: &Value,
    server: WorkflowLimits,
) -> Result<(RunRequest, bool), ServerError> {
    check_fields(
        body,
        &["input", "model", "stream", "limits"],
        "by /api/workflows/{name}/run",
    )?;
    let input = body.get("input").cloned().unwrap_or(Value::Null);
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ServerError::invalid(
                "model",
                format!("`model` must be a string, not {}", json_kind(other)),
            ))
        }
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ServerError::invalid(
                "stream",
                format!("`stream` must be true or false, not {}", json_kind(other)),
            ))
        }
    };
    let mut limits = server;
    match body.get("limits") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (key, v) in o {
                let at = format!("limits.{key}");
                let n = v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    ServerError::invalid(
                        at.clone(),
                        format!("`{at}` must be a positive integer, not {v}"),
                    )
                })?;
                match key.as_str() {
                    "max_steps" => {
                        limits.max_steps = limits.max_steps.min(u32::try_from(n).unwrap_or(u32::MAX))
                    }
                    "max_tokens" => limits.max_tokens = limits.max_tokens.min(n),
                    "timeout_ms" => {
                        limits.timeout = limits.timeout.min(Duration::from_millis(n))
                    }
                    _ => {
                        return Err(ServerError::invalid(
                            at,
                            format!(
                                "`{key}` is not a workflow limit; use max_steps, max_tokens or timeout_ms"
                            ),
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(ServerError::invalid(
                "limits",
                format!("`limits` must be an object, not {}", json_kind(other)),
            ))
        }
    }
    Ok((
        RunRequest {
            workflow: name,
            input,
            model,
            limits,
        },
        stream,
    ))
}

/// `POST /api/workflows/{name}/run`: the result with its trace, or with `stream: true` a
/// server-sent event stream: `step` events as steps end, then `done` (the result) or `error`
/// (the error body, with the trace).
pub async fn run(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, OpenAiError> {
    let engine = state.engine.clone();
    let (request, stream) = parse_run(name, &body, engine.config().workflow_limits)?;
    if !stream {
        let workflow = request.workflow.clone();
        let outcome = engine.run_workflow(request, None).await?;
        return Ok(Json(outcome.to_json(&workflow)).into_response());
    }
    // Fail before streaming when the workflow does not exist.
    engine.plugins().describe_workflow(&request.workflow).await?;
    let (tx, rx) = unbounded_channel::<Value>();
    let workflow = request.workflow.clone();
    let runner = tx.clone();
    tokio::spawn(async move {
        let _ = runner.send(json!({"event": "started", "workflow": workflow}));
        let end = match engine.run_workflow(request, Some(runner.clone())).await {
            Ok(outcome) => json!({"event": "done", "result": outcome.to_json(&workflow)}),
            Err(e) => {
                let e = ServerError::from(e);
                json!({
                    "event": "error",
                    "status": e.status().as_u16(),
                    "error": e.body(Flavor::OpenAi),
                })
            }
        };
        let _ = runner.send(end);
    });
    drop(tx);
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let mut v = rx.recv().await?;
        let event = v
            .as_object_mut()
            .and_then(|o| o.remove("event"))
            .and_then(|e| e.as_str().map(str::to_string))
            .unwrap_or_else(|| "message".into());
        let payload = match event.as_str() {
            "done" => v["result"].take(),
            "step" => v["step"].take(),
            _ => v,
        };
        let frame = format!("event: {event}\ndata: {payload}\n\n");
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(frame)), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}
