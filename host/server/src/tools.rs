//! `GET /api/tools` and `POST /api/tools/{name}/invoke`: the tools of the tool plugins.
//!
//! Arguments are validated against the tool's JSON schema before the plugin sees them (a 400
//! whose `param` is the failing field as a JSON pointer); the plugin's own errors keep their
//! meaning (`invalid-input` 400, `denied` 403, `not-found` 404...), and a plugin that traps or
//! runs out of time is a 502 / 504 for that call only.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use serde::de;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use shimmy_engine::tools::parse_result;
use shimmy_plugins::ToolEntry;

use crate::body::JsonBody;
use crate::error::{OpenAiError, ServerError};
use crate::state::SharedState;
use crate::wire::{json_kind, wire_request, Unknown};

/// A tool as the API lists it: OpenAI's function-tool shape plus the plugin.
pub fn tool_json(entry: &ToolEntry) -> Value {
    let d = &entry.definition;
    let parameters = serde_json::from_str::<Value>(&d.parameters_schema)
        .unwrap_or_else(|_| json!({"type": "object"}));
    json!({
        "name": d.name,
        "description": d.description,
        "parameters": parameters,
        "plugin": entry.plugin,
        "type": "function",
    })
}

/// Lists every tool: `{"tools": [{"name", "description", "parameters", "plugin", "type"}]}`.
pub async fn list(State(state): State<SharedState>) -> Json<Value> {
    let catalog = state.engine.tools().await;
    let tools: Vec<Value> = catalog.list().iter().map(tool_json).collect();
    Json(json!({ "tools": tools }))
}

/// A `/api/tools/{name}/invoke` body.
#[derive(Debug, Deserialize)]
pub struct InvokeRequest {
    arguments: Option<Arguments>,
    #[serde(flatten)]
    unknown: Unknown,
}

wire_request!(
    InvokeRequest,
    "/api/tools/{name}/invoke",
    crate::native::UNKNOWN_FIELDS
);

/// A tool call's arguments: a JSON object, or a string holding one (as in an OpenAI tool
/// call); kept as JSON text.
#[derive(Debug)]
struct Arguments(String);

impl<'de> Deserialize<'de> for Arguments {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Arguments(s)),
            v @ Value::Object(_) => Ok(Arguments(v.to_string())),
            other => Err(de::Error::custom(format!(
                "must be a JSON object (or a string holding one), not {}",
                json_kind(&other)
            ))),
        }
    }
}

/// Runs one tool: body `{"arguments": {...}}` (an object, or a JSON string of one as in an
/// OpenAI tool call) → `{"tool", "plugin", "result", "duration_ms"}`.
pub async fn invoke(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<InvokeRequest>,
) -> Result<Json<Value>, OpenAiError> {
    let Some(Arguments(arguments)) = request.arguments else {
        return Err(ServerError::invalid(
            "arguments",
            "`arguments` is required: the tool's arguments as a JSON object",
        )
        .into());
    };
    let catalog = state.engine.tools().await;
    let plugin = catalog.require(&name)?.plugin.clone();
    let started = Instant::now();
    let output = catalog
        .invoke(state.engine.plugins(), &name, &arguments)
        .await?;
    Ok(Json(json!({
        "tool": name,
        "plugin": plugin,
        "result": parse_result(&output),
        "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
    })))
}
