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
use serde_json::{json, Value};
use shimmy_engine::CatalogEntry;
use shimmy_hub::{HubClient, HubError, ModelRef, PlannedFile, PullEvent, Pulled};
use tokio::sync::mpsc;

use super::types::{DeleteRequest, PullRequest};
use crate::body::JsonBody;
use crate::error::{OllamaError, ServerError};
use crate::state::SharedState;

/// Least time between two progress lines of one file.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

fn hub_settings(state: &SharedState) -> Result<shimmy_hub::HubSettings, ServerError> {
    state.engine.config().hub.clone().ok_or_else(|| {
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

/// Offers the pulled model (its header read by the engine).
async fn offer(state: &SharedState, pulled: &Pulled) -> Result<CatalogEntry, ServerError> {
    Ok(state
        .engine
        .offer_file(pulled.model_name(), pulled.first().clone())
        .await?)
}

/// `POST /api/pull {"model": "hf.co/ORG/NAME:QUANT", "stream": true}`.
pub async fn pull(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<PullRequest>,
) -> Result<Response, OllamaError> {
    let (model, stream) = request.into_parts()?;
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
    JsonBody(request): JsonBody<DeleteRequest>,
) -> Result<Response, OllamaError> {
    let model = request.model()?;
    let settings = hub_settings(&state)?;
    let entry = state.engine.models().resolve(Some(&model))?;
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
    state.engine.models().remove_model(&entry.name).await?;
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
