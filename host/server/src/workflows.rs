//! Workflow runs: `GET /api/workflows`, `POST /api/workflows/{name}/run`, and the host side
//! of a run ([`RunHost`]), which `shimmy-host workflow run` uses too.
//!
//! A workflow plugin calls back into the host through its `inference` and `tools` imports.
//! Here those calls become ordinary jobs on the model's scheduler (so they queue with HTTP
//! requests and count in the metrics) and tool invocations through the [`ToolCatalog`]
//! (arguments validated). Each call that does work is a **step** of the run's trace. The run
//! has limits ([`WorkflowLimits`]): steps, tokens (prompt + generated over all generations)
//! and wall time. The first limit reached ends the run with an error that carries the trace.
//!
//! [`ToolCatalog`]: shimmy_plugins::ToolCatalog

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shimmy_core::backend::ModelInfo;
use shimmy_plugins::{
    ChatMessage, ChatResult, GenerationOptions, GenerationResult, GuestError, PluginError,
    PluginKind, ToolDefinition, Usage, WorkflowHost,
};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::app::{check_fields, json_kind, JsonBody, SharedState};
use crate::config::WorkflowLimits;
use crate::error::{OpenAiError, ServerError};
use crate::generation::{self, Input, Job};
use crate::models::ModelLease;
use crate::openai::types::finish_reason;

/// Longest text kept per step in a trace (the rest is cut, marked with `…`).
const TRACE_TEXT_CHARS: usize = 2000;

/// One workflow run asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The workflow plugin.
    pub workflow: String,
    /// Its input (given to the plugin as JSON text).
    pub input: Value,
    /// The model its inference calls use; `None`: the only one there is.
    pub model: Option<String>,
    /// The run's limits.
    pub limits: WorkflowLimits,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The workflow's output (JSON; a string when the plugin returned text that is not JSON).
    pub output: Value,
    /// Every step, in order.
    pub trace: Vec<Value>,
    /// Tokens over all generations.
    pub usage: Usage,
    /// Wall time of the run.
    pub duration: Duration,
}

impl RunOutcome {
    /// The response body of `POST /api/workflows/{name}/run`.
    pub fn to_json(&self, workflow: &str) -> Value {
        json!({
            "workflow": workflow,
            "output": self.output,
            "trace": self.trace,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.prompt_tokens + self.usage.completion_tokens,
                "steps": self.trace.len(),
            },
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
        })
    }
}

/// What happened so far in a run.
#[derive(Default)]
struct Record {
    trace: Vec<Value>,
    steps: u32,
    usage: Usage,
    /// The first limit reached: (limit, message).
    limit: Option<(&'static str, String)>,
}

/// The host side of one run: serves the plugin's `inference` and `tools` imports.
pub struct RunHost {
    state: SharedState,
    model: Option<String>,
    limits: WorkflowLimits,
    record: Mutex<Record>,
    progress: Option<UnboundedSender<Value>>,
    started: Instant,
}

impl RunHost {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        // A panic while holding the lock cannot leave the record inconsistent: keep going.
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a step, or refuses it when a limit is reached. Returns the step's number.
    fn begin(&self) -> Result<usize, GuestError> {
        let mut r = self.record();
        if let Some((_, message)) = &r.limit {
            return Err(GuestError::LimitExceeded(message.clone()));
        }
        // The run's future is also dropped at the deadline; this catches a run that keeps
        // going between host calls faster than the timer fires.
        if self.started.elapsed() > self.limits.timeout {
            let message = timeout_message(self.limits.timeout);
            r.limit = Some(("timeout", message.clone()));
            return Err(GuestError::LimitExceeded(message));
        }
        if r.steps >= self.limits.max_steps {
            let message = format!(
                "the run reached its step limit ({} steps: generations and tool calls)",
                self.limits.max_steps
            );
            r.limit = Some(("max_steps", message.clone()));
            return Err(GuestError::LimitExceeded(message));
        }
        let used = u64::from(r.usage.prompt_tokens) + u64::from(r.usage.completion_tokens);
        if used >= self.limits.max_tokens {
            let message = format!(
                "the run used {used} tokens, its budget is {}",
                self.limits.max_tokens
            );
            r.limit = Some(("max_tokens", message.clone()));
            return Err(GuestError::LimitExceeded(message));
        }
        r.steps += 1;
        Ok(r.steps as usize)
    }

    /// Tokens the run may still use.
    fn tokens_left(&self) -> u64 {
        let r = self.record();
        let used = u64::from(r.usage.prompt_tokens) + u64::from(r.usage.completion_tokens);
        self.limits.max_tokens.saturating_sub(used)
    }

    /// Ends a step: adds it to the trace (and the progress stream) and counts its tokens.
    fn end(&self, mut step: Value, usage: Option<Usage>, started: Instant) {
        step["duration_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
        let mut r = self.record();
        if let Some(u) = usage {
            r.usage.prompt_tokens += u.prompt_tokens;
            r.usage.completion_tokens += u.completion_tokens;
            step["usage"] = json!({
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
            });
            let used = u64::from(r.usage.prompt_tokens) + u64::from(r.usage.completion_tokens);
            if used > self.limits.max_tokens && r.limit.is_none() {
                r.limit = Some((
                    "max_tokens",
                    format!(
                        "the run used {used} tokens, over its budget of {}",
                        self.limits.max_tokens
                    ),
                ));
            }
        }
        if let Some(tx) = &self.progress {
            let _ = tx.send(json!({"event": "step", "step": step}));
        }
        r.trace.push(step);
    }

    /// Ends a step that failed with `error` (recorded in the trace) and returns the error.
    fn fail(&self, mut step: Value, error: GuestError, started: Instant) -> GuestError {
        step["status"] = json!("error");
        step["error"] = json!(error.to_string());
        self.end(step, None, started);
        error
    }

    /// A job for the run's model with the plugin's sampling options; `max_tokens` is capped
    /// by what is left of the token budget.
    fn job(&self, input: Input, options: GenerationOptions) -> Job {
        let mut job = Job::new(self.model.clone(), input);
        let left = u32::try_from(self.tokens_left()).unwrap_or(u32::MAX).max(1);
        job.max_tokens = Some(options.max_tokens.map_or(left, |m| m.min(left)));
        job.stop = options.stop;
        job.sampling = options.sampling;
        job.json_schema_param = "json_schema";
        if let Some(schema) = options.json_schema {
            job.json_schema = Some(
                serde_json::from_str(&schema).unwrap_or_else(|_| Value::String(schema.clone())),
            );
        }
        job
    }

    /// The run's model, loaded: its name and a lease on it.
    async fn lease(&self) -> Result<(String, ModelLease), GuestError> {
        let manager = &self.state.manager;
        let name = manager
            .resolve(self.model.as_deref())
            .map_err(guest_error)?
            .name
            .clone();
        let (lease, _) = manager.acquire(&name, None).await.map_err(guest_error)?;
        Ok((name, lease))
    }

    /// Runs a job to its end.
    async fn complete(&self, job: Job) -> Result<generation::Done, GuestError> {
        let mut generation = generation::start(&self.state, job, false)
            .await
            .map_err(guest_error)?;
        generation.collect().await.map_err(guest_error)
    }
}

fn timeout_message(timeout: Duration) -> String {
    format!(
        "the run took longer than its time limit ({} ms)",
        timeout.as_millis()
    )
}

/// A server error as the plugin sees it.
fn guest_error(e: ServerError) -> GuestError {
    let message = e.to_string();
    match e.status().as_u16() {
        400 | 413 | 422 => GuestError::InvalidInput(message),
        404 => GuestError::NotFound(message),
        403 => GuestError::Denied(message),
        501 => GuestError::Unsupported(message),
        _ => GuestError::Failed(message),
    }
}

/// A plugin error (of a tool) as the calling workflow sees it.
fn tool_error(e: PluginError) -> GuestError {
    match e {
        PluginError::Guest { error, .. } => error,
        PluginError::UnknownTool { .. } => GuestError::NotFound(e.to_string()),
        PluginError::InvalidArguments { .. } => GuestError::InvalidInput(e.to_string()),
        other => GuestError::Failed(other.to_string()),
    }
}

/// `s`, cut to [`TRACE_TEXT_CHARS`].
fn clip(s: &str) -> String {
    match s.char_indices().nth(TRACE_TEXT_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn usage_of(done: &generation::Done) -> Usage {
    Usage {
        prompt_tokens: u32::try_from(done.summary.prompt_tokens).unwrap_or(u32::MAX),
        completion_tokens: u32::try_from(done.summary.completion_tokens).unwrap_or(u32::MAX),
    }
}

#[async_trait::async_trait]
impl WorkflowHost for RunHost {
    async fn generate(
        &self,
        prompt: String,
        options: GenerationOptions,
    ) -> Result<GenerationResult, GuestError> {
        let n = self.begin()?;
        let started = Instant::now();
        let job = self.job(
            Input::Raw {
                prompt: prompt.clone(),
            },
            options,
        );
        let mut step = json!({"step": n, "kind": "generate", "prompt": clip(&prompt)});
        match self.complete(job).await {
            Ok(done) => {
                let usage = usage_of(&done);
                let finish = finish_reason(&done.summary, false).to_string();
                step["status"] = json!("ok");
                step["text"] = json!(clip(&done.content));
                step["finish_reason"] = json!(finish);
                self.end(step, Some(usage), started);
                Ok(GenerationResult {
                    text: done.content,
                    usage,
                    finish_reason: finish,
                })
            }
            Err(e) => Err(self.fail(step, e, started)),
        }
    }

    async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
        options: GenerationOptions,
    ) -> Result<ChatResult, GuestError> {
        let n = self.begin()?;
        let started = Instant::now();
        let last = messages
            .last()
            .map(|m| json!({"role": m.role, "content": clip(&m.content)}));
        let tool_names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        let mut step = json!({
            "step": n,
            "kind": "chat",
            "messages": messages.len(),
            "last_message": last,
            "tools": tool_names,
        });
        let job = self.job(
            Input::Chat {
                messages,
                tools,
                template: None,
            },
            options,
        );
        match self.complete(job).await {
            Ok(done) => {
                let usage = usage_of(&done);
                let called = !done.tool_calls.is_empty();
                let finish = finish_reason(&done.summary, called).to_string();
                step["status"] = json!("ok");
                step["content"] = json!(clip(&done.content));
                if called {
                    step["tool_calls"] = json!(done.tool_calls);
                }
                step["finish_reason"] = json!(finish);
                self.end(step, Some(usage), started);
                Ok(ChatResult {
                    content: done.content,
                    reasoning: done.reasoning,
                    tool_calls: done.tool_calls,
                    usage,
                    finish_reason: finish,
                })
            }
            Err(e) => Err(self.fail(step, e, started)),
        }
    }

    async fn tokenize(&self, text: String) -> Result<Vec<u32>, GuestError> {
        let (_, lease) = self.lease().await?;
        let model = lease.model.clone();
        tokio::task::spawn_blocking(move || model.tokenize(&text, false, true))
            .await
            .map_err(|e| GuestError::Failed(e.to_string()))?
            .map_err(|e| GuestError::Failed(e.to_string()))
    }

    async fn model_info(&self) -> Result<(String, ModelInfo), GuestError> {
        let (name, lease) = self.lease().await?;
        let info = ModelInfo {
            n_ctx: lease.scheduler.stats().ctx_per_sequence,
            ..lease.model.info().clone()
        };
        Ok((name, info))
    }

    async fn list_tools(&self) -> Vec<ToolDefinition> {
        self.state.tools().await.definitions()
    }

    async fn invoke_tool(&self, name: String, arguments: String) -> Result<String, GuestError> {
        let n = self.begin()?;
        let started = Instant::now();
        let mut step = json!({
            "step": n,
            "kind": "tool",
            "tool": name,
            "arguments": crate::tools::parse_result(&arguments),
        });
        let catalog = self.state.tools().await;
        match catalog.invoke(&self.state.plugins, &name, &arguments).await {
            Ok(result) => {
                step["status"] = json!("ok");
                step["result"] = crate::tools::parse_result(&clip(&result));
                self.end(step, None, started);
                Ok(result)
            }
            Err(e) => Err(self.fail(step, tool_error(e), started)),
        }
    }
}

/// Runs a workflow to its end (or its first limit). `progress` receives
/// `{"event": "step", "step": {...}}` for every step as it ends.
pub async fn run(
    state: &SharedState,
    request: RunRequest,
    progress: Option<UnboundedSender<Value>>,
) -> Result<RunOutcome, ServerError> {
    // Unknown or wrong-kind plugins fail before anything runs.
    state.plugins.describe_workflow(&request.workflow).await?;
    let host = Arc::new(RunHost {
        state: state.clone(),
        model: request.model.clone(),
        limits: request.limits,
        record: Mutex::new(Record::default()),
        progress,
        started: Instant::now(),
    });
    let input = request.input.to_string();
    let result = tokio::time::timeout(
        request.limits.timeout,
        state
            .plugins
            .run_workflow(&request.workflow, &input, host.clone()),
    )
    .await;
    let duration = host.started.elapsed();
    let record = std::mem::take(&mut *host.record());
    let workflow = request.workflow;
    // Timers fire at millisecond granularity: a run that finished past its deadline has
    // exceeded it all the same (unless another limit ended it first).
    let late = record.limit.is_none() && duration > request.limits.timeout;
    let result = match result {
        Ok(result) if !late => result,
        _ => {
            return Err(ServerError::WorkflowLimit {
                workflow,
                limit: "timeout",
                message: timeout_message(request.limits.timeout),
                trace: record.trace,
            })
        }
    };
    if let Some((limit, message)) = record.limit {
        return Err(ServerError::WorkflowLimit {
            workflow,
            limit,
            message,
            trace: record.trace,
        });
    }
    match result {
        Ok(output) => Ok(RunOutcome {
            output: crate::tools::parse_result(&output),
            trace: record.trace,
            usage: record.usage,
            duration,
        }),
        Err(error) => Err(ServerError::WorkflowFailed {
            workflow,
            error: Box::new(error),
            trace: record.trace,
        }),
    }
}

/// `GET /api/workflows`: `{"workflows": [{"name", "description", "input_schema", "plugin"}]}`.
pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, OpenAiError> {
    let mut workflows = Vec::new();
    for plugin in state.plugins.names(PluginKind::Workflow) {
        match state.plugins.describe_workflow(&plugin).await {
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
pub async fn run_handler(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, OpenAiError> {
    let (request, stream) = parse_run(name, &body, state.manager.config().workflow_limits)?;
    if !stream {
        let workflow = request.workflow.clone();
        let outcome = run(&state, request, None).await?;
        return Ok(Json(outcome.to_json(&workflow)).into_response());
    }
    // Fail before streaming when the workflow does not exist.
    state.plugins.describe_workflow(&request.workflow).await?;
    let (tx, rx) = unbounded_channel::<Value>();
    let workflow = request.workflow.clone();
    let runner = tx.clone();
    tokio::spawn(async move {
        let _ = runner.send(json!({"event": "started", "workflow": workflow}));
        let end = match run(&state, request, Some(runner.clone())).await {
            Ok(outcome) => json!({"event": "done", "result": outcome.to_json(&workflow)}),
            Err(e) => json!({
                "event": "error",
                "status": e.status().as_u16(),
                "error": e.body(crate::error::Flavor::OpenAi),
            }),
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
