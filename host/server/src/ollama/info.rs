//! `GET /api/tags`, `POST /api/show`, `GET /api/ps`, `GET /api/version`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use shimmy_engine::capabilities::capabilities;
use shimmy_engine::catalog::{parameter_size, CatalogEntry};

use super::types::ShowRequest;
use crate::body::JsonBody;
use crate::error::OllamaError;
use crate::state::SharedState;

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

fn details(entry: &CatalogEntry) -> Value {
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": entry.architecture,
        "families": [entry.architecture],
        "parameter_size": parameter_size(entry.parameters),
        "quantization_level": entry.quantization,
    })
}

/// The models available (loaded or not).
pub async fn tags(State(state): State<SharedState>) -> Json<Value> {
    let models: Vec<Value> = state
        .engine
        .models()
        .catalog()
        .models
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "model": m.name,
                "modified_at": rfc3339(m.modified.unwrap_or(UNIX_EPOCH)),
                "size": m.size_bytes,
                "digest": m.digest,
                "details": details(m),
            })
        })
        .collect();
    Json(json!({ "models": models }))
}

/// The models loaded now, with when they will be unloaded.
pub async fn ps(State(state): State<SharedState>) -> Json<Value> {
    let catalog = state.engine.models().catalog();
    let models: Vec<Value> = state
        .engine
        .models()
        .loaded_models()
        .iter()
        .filter_map(|l| {
            let entry = catalog.find(&l.name)?;
            let expires = l
                .expires_at()
                .unwrap_or(UNIX_EPOCH + Duration::from_secs(253_402_300_799));
            let split = l.model.memory_split();
            Some(json!({
                "name": l.name,
                "model": l.name,
                "size": split.size,
                "digest": entry.digest,
                "details": details(entry),
                "expires_at": rfc3339(expires),
                "size_vram": split.size_vram,
                "context_length": l.scheduler.stats().ctx_per_sequence,
                "template": l.template.name,
            }))
        })
        .collect();
    Json(json!({ "models": models }))
}

/// Details of one model (`{"model": NAME}`; `name` is accepted too).
pub async fn show(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<ShowRequest>,
) -> Result<Json<Value>, OllamaError> {
    let name = request.model()?;
    let entry = state.engine.models().resolve(Some(&name))?;
    let loaded = state.engine.models().loaded(&entry.name);
    let template = loaded
        .as_ref()
        .map_or(entry.template.clone(), |l| l.template.clone());
    let arch = &entry.architecture;
    let mut info = json!({
        "general.architecture": arch,
        "general.parameter_count": entry.parameters,
        "general.file_type": entry.quantization,
    });
    if let Some(ctx) = entry.context_length {
        info[format!("{arch}.context_length")] = json!(ctx);
    }
    if entry.n_expert > 0 {
        info[format!("{arch}.expert_count")] = json!(entry.n_expert);
        info[format!("{arch}.expert_used_count")] = json!(entry.n_expert_used);
    }
    let capabilities = capabilities(state.engine.plugins(), &entry, &template).await;
    Ok(Json(json!({
        // The file's name only: where the server keeps its models is not the client's business.
        "modelfile": format!("# shimmy-host serves this file as it is\nFROM {}\n", file_name(&entry.path)),
        "parameters": "",
        "template": entry.chat_template.clone().unwrap_or_else(|| format!("(template plugin \"{}\")", template.name)),
        "details": details(&entry),
        "model_info": info,
        "capabilities": capabilities,
        "modified_at": rfc3339(entry.modified.unwrap_or(UNIX_EPOCH)),
        "shimmy": {
            "file": file_name(&entry.path),
            "loaded": loaded.is_some(),
            "template_plugin": template.name,
            "template_reason": template.reason,
        },
    })))
}

/// The last component of a model's path.
fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map_or_else(|| "model.gguf".into(), |n| n.to_string_lossy().into_owned())
}

/// The server's version.
pub async fn version() -> Json<Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}
