//! `POST /api/generate`: shimmy's body (`model`, `prompt`, `system`, `messages`,
//! `max_tokens`, `temperature`, `top_p`, `top_k`, `stream`) and Ollama's (`options`, `format`,
//! `raw`, `keep_alive`, `think`, `context`, `truncate`, `shift`...), answered in Ollama's
//! shape; the last object carries `context`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shimmy_engine::generation::{Done, Generation};
use shimmy_engine::KeepAlive;

use super::response::{final_fields, logprobs_json, timestamp};
use super::types::{GenerateRequest, OllamaJob};
use super::{ndjson_response, ndjson_single, LineStyle};
use crate::body::JsonBody;
use crate::error::OllamaError;
use crate::state::SharedState;

/// Generates from a prompt (rendered as one user turn by the model's template unless `raw`)
/// or from shimmy's `messages`. An empty prompt only loads (or, with `keep_alive: 0`,
/// unloads) the model.
pub async fn handler(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<GenerateRequest>,
) -> Result<Response, OllamaError> {
    let (model, job, stream, think, with_logprobs) = match request.into_job()? {
        OllamaJob::LoadOrUnload {
            model,
            keep_alive,
            stream,
        } => return load_or_unload(&state, model.as_deref(), keep_alive, stream).await,
        OllamaJob::Generate {
            model,
            job,
            stream,
            think,
            logprobs,
        } => (model, job, stream, think, logprobs),
    };
    let mut generation = state.engine.start(*job, stream).await?;
    let name = model.unwrap_or_else(|| generation.model.clone());
    let style = GenerateLines {
        model: name,
        think,
        logprobs: with_logprobs,
    };
    if !stream {
        let done = generation.collect().await?;
        let mut style = style;
        let mut v = style.line(&done.content, done.reasoning.as_deref().unwrap_or_default());
        if with_logprobs {
            v["logprobs"] = logprobs_json(&done.logprobs);
        }
        final_fields(&mut v, &generation, &done);
        add_context(&mut v, &generation);
        return Ok(Json(v).into_response());
    }
    let first = generation.next().await.transpose()?;
    Ok(ndjson_response(generation, first, style))
}

/// Ollama's way to load (`prompt` empty) or unload (`keep_alive: 0`) a model.
pub(crate) async fn load_or_unload(
    state: &SharedState,
    model: Option<&str>,
    keep_alive: Option<KeepAlive>,
    stream: bool,
) -> Result<Response, OllamaError> {
    let models = state.engine.models();
    let name = models.resolve(model)?.name.clone();
    let reason = if keep_alive.is_some_and(|k| k.is_zero()) {
        models
            .set_keep_alive(&name, KeepAlive::For(std::time::Duration::ZERO))
            .await;
        "unload"
    } else {
        let (lease, _) = models.acquire(&name, keep_alive).await?;
        drop(lease);
        "load"
    };
    let v = json!({
        "model": model.unwrap_or(&name),
        "created_at": timestamp(),
        "response": "",
        "done": true,
        "done_reason": reason,
    });
    Ok(if stream {
        ndjson_single(&v)
    } else {
        Json(v).into_response()
    })
}

struct GenerateLines {
    model: String,
    think: bool,
    logprobs: bool,
}

impl LineStyle for GenerateLines {
    fn line(&mut self, response: &str, thinking: &str) -> Value {
        let mut v = json!({
            "model": self.model,
            "created_at": timestamp(),
            "response": response,
            "done": false,
        });
        if self.think && !thinking.is_empty() {
            v["thinking"] = json!(thinking);
        }
        v
    }

    fn shows_thinking(&self) -> bool {
        self.think
    }

    fn shows_logprobs(&self) -> bool {
        self.logprobs
    }

    fn closing(&mut self, generation: &Generation, done: &Done) -> Value {
        let mut v = self.line("", "");
        final_fields(&mut v, generation, done);
        add_context(&mut v, generation);
        v
    }
}

/// `context`: the token ids of the prompt and the answer, which a later request's `context`
/// continues from (left out, with a warning in the log, if they cannot be counted).
fn add_context(v: &mut Value, generation: &Generation) {
    match generation.context_tokens() {
        Ok(ids) => v["context"] = json!(ids),
        Err(e) => tracing::warn!("no `context` for the answer: {e}"),
    }
}
