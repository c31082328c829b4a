//! `GET /v1/models` and `GET /v1/models/{model}`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use shimmy_engine::CatalogEntry;

use crate::error::OpenAiError;
use crate::state::SharedState;

fn model_object(entry: &CatalogEntry) -> Value {
    let created = entry
        .modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    json!({
        "id": entry.name,
        "object": "model",
        "created": created,
        "owned_by": "shimmy-host",
    })
}

/// Every model the server offers (loaded or not).
pub async fn list(State(state): State<SharedState>) -> Json<Value> {
    let data: Vec<Value> = state
        .engine
        .models()
        .catalog()
        .models
        .iter()
        .map(model_object)
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// One model.
pub async fn get_one(
    State(state): State<SharedState>,
    Path(model): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let entry = state.engine.models().resolve(Some(&model))?;
    Ok(Json(model_object(&entry)))
}
