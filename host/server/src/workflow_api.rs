//! `GET /api/workflows` and `POST /api/workflows/{name}/run`: the workflow plugins and their
//! runs ([`shimmy_engine::Engine::run_workflow`]), answered as JSON or as server-sent events.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use shimmy_engine::workflow::RunRequest;
use shimmy_engine::WorkflowLimits;
use shimmy_plugins::PluginKind;
use tokio::sync::mpsc::unbounded_channel;

use crate::body::JsonBody;
use crate::error::{Flavor, OpenAiError, ServerError};
use crate::state::SharedState;
use crate::stream::{sse_event, Encoding};
use crate::wire::{text, wire_request, Flag, Text, Unknown};

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

/// A `/api/workflows/{name}/run` body: `{"input", "model"?, "stream"?, "limits"?:
/// {"max_steps", "max_tokens", "timeout_ms"}}`.
#[derive(Debug, Deserialize)]
pub struct RunBody {
    input: Option<Value>,
    model: Option<Text>,
    stream: Option<Flag>,
    limits: Option<Limits>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(
    RunBody,
    "/api/workflows/{name}/run",
    crate::native::UNKNOWN_FIELDS
);

/// A run's `limits`; each may only lower the server's.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct Limits {
    max_steps: Option<Positive>,
    max_tokens: Option<Positive>,
    timeout_ms: Option<Positive>,
    #[serde(flatten)]
    unknown: Unknown,
}

/// A positive integer.
#[derive(Debug, Clone, Copy)]
struct Positive(u64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        v.as_u64()
            .filter(|n| *n > 0)
            .map(Positive)
            .ok_or_else(|| de::Error::custom(format!("must be a positive integer, not {v}")))
    }
}

impl RunBody {
    /// The run asked for (the server's limits lowered by the request's) and whether to
    /// stream its progress.
    pub fn into_run(
        self,
        workflow: String,
        server: WorkflowLimits,
    ) -> Result<(RunRequest, bool), ServerError> {
        let mut limits = server;
        if let Some(l) = self.limits {
            if let Some(key) = l.unknown.names().next() {
                return Err(ServerError::invalid(
                    format!("limits.{key}"),
                    format!(
                        "`{key}` is not a workflow limit; use max_steps, max_tokens or timeout_ms"
                    ),
                ));
            }
            if let Some(Positive(n)) = l.max_steps {
                limits.max_steps = limits.max_steps.min(u32::try_from(n).unwrap_or(u32::MAX));
            }
            if let Some(Positive(n)) = l.max_tokens {
                limits.max_tokens = limits.max_tokens.min(n);
            }
            if let Some(Positive(n)) = l.timeout_ms {
                limits.timeout = limits.timeout.min(Duration::from_millis(n));
            }
        }
        let request = RunRequest {
            workflow,
            input: self.input.unwrap_or(Value::Null),
            model: text(self.model),
            limits,
        };
        Ok((request, self.stream.is_some_and(|f| f.0)))
    }
}

/// `POST /api/workflows/{name}/run`: the result with its trace, or with `stream: true` a
/// server-sent event stream: `step` events as steps end, then `done` (the result) or `error`
/// (the error body, with the trace).
pub async fn run(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RunBody>,
) -> Result<Response, OpenAiError> {
    let engine = state.engine.clone();
    let (request, stream) = body.into_run(name, engine.config().workflow_limits)?;
    if !stream {
        let workflow = request.workflow.clone();
        let outcome = engine.run_workflow(request, None).await?;
        return Ok(Json(outcome.to_json(&workflow)).into_response());
    }
    // Fail before streaming when the workflow does not exist.
    engine
        .plugins()
        .describe_workflow(&request.workflow)
        .await?;
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
        let frame = sse_event(&event, &payload);
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(frame)), rx))
    });
    Ok(Encoding::Sse.response(Body::from_stream(frames)))
}
