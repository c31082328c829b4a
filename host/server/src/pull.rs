//! Ollama's `POST /api/pull` and `DELETE /api/delete`, over Hugging Face: a model is
//! `hf.co/ORG/NAME[:QUANT]` (or `ORG/NAME[:QUANT]`, `ORG/NAME/FILE.gguf`), downloaded by
//! [`shimmy_hub`] into the hub cache and offered at once under the name discovery gives it
//! (and under the reference pulled).
//!
//! The stream is Ollama's: `{"status": "pulling manifest"}`, then per file
//! `{"status": "pulling <12 hex>", "digest": "sha256:...", "total": N, "completed": M}`,
//! `{"status": "verifying sha256 digest"}`, `{"status": "writing manifest"}`,
//! `{"status": "success"}`; a failure is a last `{"error": "..."}` line. A client that goes
//! away stops the download (what was fetched is kept and the next pull resumes it).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use shimmy_hub::{HubClient, HubError, ModelRef, PlannedFile, PullEvent, Pulled};
use tokio::sync::mpsc;

use crate::app::{json_kind, JsonBody, SharedState};
use crate::catalog::{Catalog, CatalogEntry};
use crate::error::{OllamaError, ServerError};

/// Least time between two progress lines of one file.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// `model` (or `name`) of a body.
fn model_of(body: &Value) -> Result<String, ServerError> {
    let object = body.as_object().cloned().unwrap_or_else(Map::new);
    for key in ["model", "name"] {
        match object.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
            Some(other) => {
                return Err(ServerError::invalid(
                    key,
                    format!("`{key}` must be a model name, not {}", json_kind(other)),
                ))
            }
        }
    }
    Err(ServerError::invalid("model", "`model` is required"))
}

fn stream_flag(body: &Value) -> Result<bool, ServerError> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ServerError::invalid(
            "stream",
            format!("`stream` must be true or false, not {}", json_kind(other)),
        )),
    }
}

fn hub_settings(state: &SharedState) -> Result<shimmy_hub::HubSettings, ServerError> {
    state.manager.config().hub.clone().ok_or_else(|| {
        ServerError::unsupported(
            "model",
            "pulling models is off: the server found no folder for the Hugging Face cache \
             (set HOME, HF_HOME or HF_HUB_CACHE and restart it)",
        )
    })
}

/// The digest Ollama shows for a file: `sha256:<hex>` (the hub's ETag of an LFS file).
fn digest(file: &PlannedFile) -> String {
    if file.etag.len() == 64 {
        format!("sha256:{}", file.etag)
    } else {
        file.etag.clone()
    }
}

fn progress_line(file: &PlannedFile, completed: u64) -> Value {
    let short: String = file.etag.chars().take(12).collect();
    json!({
        "status": format!("pulling {short}"),
        "digest": digest(file),
        "total": file.size,
        "completed": completed,
    })
}

/// Turns pull events into Ollama's progress lines (throttled).
struct Lines {
    last: Option<(String, Instant)>,
    verifying_said: bool,
}

impl Lines {
    fn line(&mut self, event: &PullEvent<'_>) -> Option<Value> {
        match *event {
            PullEvent::Resolving => Some(json!({"status": "pulling manifest"})),
            PullEvent::Planned { .. } | PullEvent::Waiting { .. } | PullEvent::Resuming { .. } => {
                None
            }
            PullEvent::Progress { file, completed } => {
                let now = Instant::now();
                let due = match &self.last {
                    Some((path, at)) => {
                        path != &file.path || now.duration_since(*at) >= PROGRESS_INTERVAL
                    }
                    None => true,
                };
                if due || completed == file.size {
                    self.last = Some((file.path.clone(), now));
                    Some(progress_line(file, completed))
                } else {
                    None
                }
            }
            PullEvent::Cached { file } => Some(progress_line(file, file.size)),
            PullEvent::Verifying { .. } => (!std::mem::replace(&mut self.verifying_said, true))
                .then(|| json!({"status": "verifying sha256 digest"})),
            PullEvent::Linking => Some(json!({"status": "writing manifest"})),
        }
    }
}

/// Runs the pull on a blocking thread; progress lines go to `tx` (when given). Stops when
/// the receiver is gone.
async fn run_pull(
    settings: shimmy_hub::HubSettings,
    reference: ModelRef,
    tx: Option<mpsc::Sender<Value>>,
) -> Result<Pulled, ServerError> {
    tokio::task::spawn_blocking(move || {
        let client = HubClient::new(&settings)?;
        let mut lines = Lines {
            last: None,
            verifying_said: false,
        };
        shimmy_hub::pull(&client, &reference, &mut |event| {
            let Some(tx) = &tx else {
                return true;
            };
            match lines.line(&event) {
                Some(line) => tx.blocking_send(line).is_ok(),
                None => !tx.is_closed(),
            }
        })
        .map_err(ServerError::from)
    })
    .await?
}

/// Reads the pulled model's header and offers it.
async fn offer(state: &SharedState, pulled: &Pulled) -> Result<CatalogEntry, ServerError> {
    let name = pulled.model_name();
    let path = pulled.first().clone();
    let plugins = state.plugins.clone();
    let templates = state.manager.config().operator_templates.clone();
    let catalog =
        tokio::task::spawn_blocking(move || Catalog::build([(name, path)], &plugins, &templates))
            .await?;
    match (catalog.models.into_iter().next(), catalog.skipped.first()) {
        (Some(entry), _) => Ok(state.manager.add_model(entry)),
        (None, Some(skip)) => Err(ServerError::invalid(
            "model",
            format!(
                "the downloaded file {} is not a usable model: {}",
                skip.path.display(),
                skip.reason
            ),
        )),
        (None, None) => Err(ServerError::Internal("the pulled model vanished".into())),
    }
}

/// `POST /api/pull {"model": "hf.co/ORG/NAME:QUANT", "stream": true}`.
pub async fn pull(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Response, OllamaError> {
    let model = model_of(&body)?;
    let stream = stream_flag(&body)?;
    let reference = ModelRef::parse(&model)?;
    let settings = hub_settings(&state)?;
    if !stream {
        let pulled = run_pull(settings, reference, None).await?;
        offer(&state, &pulled).await?;
        return Ok(Json(json!({"status": "success"})).into_response());
    }
    let (tx, rx) = mpsc::channel::<Value>(64);
    let worker = {
        let state = state.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let result = match run_pull(settings, reference, Some(tx.clone())).await {
                Ok(pulled) => offer(&state, &pulled).await.map(|_| ()),
                Err(e) => Err(e),
            };
            let last = match result {
                Ok(()) => json!({"status": "success"}),
                Err(e) => {
                    tracing::warn!("pull failed: {e}");
                    json!({"error": e.to_string()})
                }
            };
            let _ = tx.send(last).await;
        })
    };
    drop(tx);
    let body = futures_util::stream::unfold((rx, worker), |(mut rx, worker)| async move {
        let first = rx.recv().await?;
        let mut out = first.to_string();
        out.push('\n');
        while let Ok(more) = rx.try_recv() {
            out.push_str(&more.to_string());
            out.push('\n');
        }
        Some((Ok::<_, Infallible>(Bytes::from(out)), (rx, worker)))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `DELETE /api/delete {"model": NAME}`: unloads the model, stops offering it and deletes its
/// files from the Hugging Face cache (blobs another snapshot still uses are kept). Models
/// outside the cache are refused: shimmy-host deletes only what it can pull again.
pub async fn delete(
    State(state): State<SharedState>,
    JsonBody(body): JsonBody,
) -> Result<Response, OllamaError> {
    let model = model_of(&body)?;
    let settings = hub_settings(&state)?;
    let entry = state.manager.resolve(Some(&model))?;
    let cache = settings.cache.clone();
    let path = entry.path.clone();
    // Refuse before unloading anything when the file is not the cache's.
    let inside = {
        let (cache, path) = (cache.clone(), path.clone());
        tokio::task::spawn_blocking(move || shimmy_hub::cache::is_in_cache(&cache, &path)).await?
    };
    if !inside {
        return Err(ServerError::from(HubError::NotInCache(format!(
            "{} ({}) is not in the Hugging Face cache {}; shimmy-host deletes only models it can pull again",
            entry.name,
            path.display(),
            cache.display()
        )))
        .into());
    }
    state.manager.remove_model(&entry.name).await?;
    let deleted =
        tokio::task::spawn_blocking(move || shimmy_hub::delete_model(&cache, &path)).await??;
    tracing::info!(
        model = %entry.name,
        files = deleted.files.len(),
        freed_bytes = deleted.freed_bytes,
        "model deleted"
    );
    Ok(StatusCode::OK.into_response())
}
