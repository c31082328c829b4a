//! Workflow runs ([`Engine::run_workflow`]) and the host side of a run ([`RunHost`]), for
//! `POST /api/workflows/{name}/run` and `shimmy-host workflow run` alike.
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

use serde_json::{json, Value};
use shimmy_core::backend::ModelInfo;
use shimmy_plugins::{
    ChatMessage, ChatResult, GenerationOptions, GenerationResult, GuestError, PluginError,
    ToolDefinition, Usage, WorkflowHost,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::WorkflowLimits;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::generation::{self, Input, Job};
use crate::models::ModelLease;
use crate::redact;
use crate::tools::parse_result;

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
    /// The result as `POST /api/workflows/{name}/run` and `workflow run` print it.
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
    engine: Arc<Engine>,
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
        let (lease, _) = self
            .engine
            .models()
            .lease(self.model.as_deref(), None)
            .await
            .map_err(guest_error)?;
        Ok((lease.name.clone(), lease))
    }

    /// Runs a job to its end.
    async fn complete(&self, job: Job) -> Result<generation::Done, GuestError> {
        let mut generation = self.engine.start(job, false).await.map_err(guest_error)?;
        generation.collect().await.map_err(guest_error)
    }
}

/// An engine error as the workflow plugin sees it: its kind, and a message without internals
/// (a workflow may hand its errors and trace to the client).
fn guest_error(e: EngineError) -> GuestError {
    e.to_guest_as(redact::report(&e))
}

fn timeout_message(timeout: Duration) -> String {
    format!(
        "the run took longer than its time limit ({} ms)",
        timeout.as_millis()
    )
}

/// A plugin error (of a tool) as the calling workflow sees it.
fn tool_error(e: PluginError) -> GuestError {
    match e {
        PluginError::Guest { error, .. } => error,
        PluginError::UnknownTool { .. } => GuestError::NotFound(e.to_string()),
        PluginError::InvalidArguments { .. } => GuestError::InvalidInput(e.to_string()),
        other => GuestError::Failed(redact::report(&EngineError::Plugin(other))),
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
                let finish = done.stop_reason().to_string();
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
                thinking: None,
            },
            options,
        );
        match self.complete(job).await {
            Ok(done) => {
                let usage = usage_of(&done);
                let called = !done.tool_calls.is_empty();
                let finish = done.finish_reason().to_string();
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
        self.engine.tools().await.definitions()
    }

    async fn invoke_tool(&self, name: String, arguments: String) -> Result<String, GuestError> {
        let n = self.begin()?;
        let started = Instant::now();
        let mut step = json!({
            "step": n,
            "kind": "tool",
            "tool": name,
            "arguments": parse_result(&arguments),
        });
        let catalog = self.engine.tools().await;
        match catalog
            .invoke(self.engine.plugins(), &name, &arguments)
            .await
        {
            Ok(result) => {
                step["status"] = json!("ok");
                step["result"] = parse_result(&clip(&result));
                self.end(step, None, started);
                Ok(result)
            }
            Err(e) => Err(self.fail(step, tool_error(e), started)),
        }
    }
}

impl Engine {
    /// Runs a workflow to its end (or its first limit). `progress` receives
    /// `{"event": "step", "step": {...}}` for every step as it ends.
    pub async fn run_workflow(
        self: &Arc<Self>,
        request: RunRequest,
        progress: Option<UnboundedSender<Value>>,
    ) -> Result<RunOutcome, EngineError> {
        run(self, request, progress).await
    }
}

async fn run(
    engine: &Arc<Engine>,
    request: RunRequest,
    progress: Option<UnboundedSender<Value>>,
) -> Result<RunOutcome, EngineError> {
    // Unknown or wrong-kind plugins fail before anything runs.
    engine
        .plugins()
        .describe_workflow(&request.workflow)
        .await?;
    let host = Arc::new(RunHost {
        engine: engine.clone(),
        model: request.model.clone(),
        limits: request.limits,
        record: Mutex::new(Record::default()),
        progress,
        started: Instant::now(),
    });
    let input = request.input.to_string();
    let result = tokio::time::timeout(
        request.limits.timeout,
        engine
            .plugins()
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
            return Err(EngineError::WorkflowLimit {
                workflow,
                limit: "timeout",
                message: timeout_message(request.limits.timeout),
                trace: record.trace,
            })
        }
    };
    if let Some((limit, message)) = record.limit {
        return Err(EngineError::WorkflowLimit {
            workflow,
            limit,
            message,
            trace: record.trace,
        });
    }
    match result {
        Ok(output) => Ok(RunOutcome {
            output: parse_result(&output),
            trace: record.trace,
            usage: record.usage,
            duration,
        }),
        Err(error) => Err(EngineError::WorkflowFailed {
            workflow,
            error: Box::new(error),
            trace: record.trace,
        }),
    }
}
