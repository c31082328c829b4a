//! The host side of one call: the store data, resource limits, captured stdio and the
//! implementations of the `log`, `config`, `inference` and `tools` imports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::template::shimmy::plugin::{config, log, types as wty};
use crate::bindings::template_011::shimmy::plugin::types as types_011;
use crate::bindings::workflow::shimmy::plugin::{inference, tools};
use crate::bindings::workflow_011::shimmy::plugin::inference as inference_011;
use shimmy_core::backend::ModelInfo;
use shimmy_core::chat::{ChatMessage, GenerationOptions, ToolDefinition, Usage};

use crate::types::{ChatResult, GenerationResult, GuestError};

/// Most bytes of guest stdout (and as many of stderr) kept per call; the rest is dropped.
pub(crate) const STDIO_CAPTURE_BYTES: usize = 64 * 1024;
/// Most `log` lines a plugin may write per call; later ones are dropped (counted).
pub(crate) const MAX_LOG_LINES: u32 = 1000;
/// Longest `log` line kept, in bytes.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 8 * 1024;

/// What the rest of the host provides to workflow plugins: inference and the tools of other
/// plugins. The `inference` and `tools` imports of the `workflow-plugin` world delegate here.
///
/// Errors are [`GuestError`]s: they are handed to the plugin as its `plugin-error` (the plugin
/// decides what to do), they do not abort the call.
#[async_trait::async_trait]
pub trait WorkflowHost: Send + Sync {
    /// Generates a whole completion for a raw prompt.
    async fn generate(
        &self,
        prompt: String,
        options: GenerationOptions,
    ) -> Result<GenerationResult, GuestError>;
    /// Renders a chat with the model's template, offering `tools`, generates the assistant's
    /// answer and parses it (content, reasoning, tool calls).
    async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
        options: GenerationOptions,
    ) -> Result<ChatResult, GuestError>;
    /// Token ids of a text.
    async fn tokenize(&self, text: String) -> Result<Vec<u32>, GuestError>;
    /// The model's name and facts about it (its `n_ctx` is the context one generation gets).
    async fn model_info(&self) -> Result<(String, ModelInfo), GuestError>;
    /// Every tool the host offers.
    async fn list_tools(&self) -> Vec<ToolDefinition>;
    /// Calls a tool with JSON arguments; returns its JSON result.
    async fn invoke_tool(&self, name: String, arguments: String) -> Result<String, GuestError>;
}

/// The state behind one `generation` resource.
///
/// The `generation` resource is implemented over [`WorkflowHost::generate`] by buffering: the
/// first `next` runs the whole generation, returns its text as one piece, and the following
/// `next` returns `none`. `usage` is zero until then. (True streaming needs a streaming
/// method on [`WorkflowHost`]; the contract does not change when one is added.)
pub struct GenerationState {
    prompt: String,
    options: GenerationOptions,
    result: Option<Result<GenerationResult, GuestError>>,
    delivered: bool,
}

/// Data of a plugin shared by all its calls.
#[derive(Debug)]
pub(crate) struct PluginMeta {
    pub name: String,
    pub config: BTreeMap<String, String>,
}

/// Memory, table and instance limits of one store; records whether the memory limit was hit.
pub(crate) struct Limits {
    pub memory_limit: usize,
    pub memory_used: usize,
    pub memory_exceeded: bool,
    last_grant: usize,
}

/// Most elements of one table (function tables of Rust components are small).
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Most core instances, tables and memories per store: a component built by `wasm32-wasip2`
/// has about ten core instances (its module, the WASI adapter, shims), a few tables and two
/// memories.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 8;

impl Limits {
    pub fn new(memory_limit: usize) -> Limits {
        Limits {
            memory_limit,
            memory_used: 0,
            memory_exceeded: false,
            last_grant: 0,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let delta = desired.saturating_sub(current);
        // Counts every linear memory of the instance together.
        if self.memory_used.saturating_add(delta) > self.memory_limit {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.memory_used += delta;
        self.last_grant = delta;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used -= self.last_grant.min(self.memory_used);
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Wall time of a call, less the time spent in host imports (inference can take minutes and
/// must not count against the plugin's own timeout).
pub(crate) struct CallClock {
    pub start: Instant,
    pub in_host: Duration,
    pub timeout: Duration,
    pub timed_out: bool,
}

impl CallClock {
    /// A clock started now.
    pub fn new(timeout: Duration) -> CallClock {
        CallClock {
            start: Instant::now(),
            in_host: Duration::ZERO,
            timeout,
            timed_out: false,
        }
    }

    pub fn guest_elapsed(&self) -> Duration {
        self.start.elapsed().saturating_sub(self.in_host)
    }
}

/// The data of each call's `Store`.
pub(crate) struct HostState {
    pub meta: Arc<PluginMeta>,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: Limits,
    pub clock: CallClock,
    pub workflow_host: Option<Arc<dyn WorkflowHost>>,
    pub stdout: Capture,
    pub stderr: Capture,
    pub log_lines: u32,
    pub log_dropped: u32,
    /// Settings of the request being served (see [`crate::RequestSettings`]): they win over
    /// the plugin's `[config]` for one call.
    pub request_settings: BTreeMap<String, String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    /// Starts a call on this store: the time limit and the log-line budget start afresh.
    pub fn begin_call(&mut self) {
        self.clock = CallClock::new(self.clock.timeout);
        self.log_lines = 0;
        self.log_dropped = 0;
    }

    /// Writes what the guest printed (stdout at debug, stderr at warn) to the log.
    pub fn flush_stdio(&self) {
        let name = &self.meta.name;
        for (cap, is_err) in [(&self.stdout, false), (&self.stderr, true)] {
            let (text, dropped) = cap.take();
            if text.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&text);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if is_err {
                    tracing::warn!(target: "shimmy_plugins::guest", plugin = %name, stream = "stderr", "{line}");
                } else {
                    tracing::debug!(target: "shimmy_plugins::guest", plugin = %name, stream = "stdout", "{line}");
                }
            }
            if dropped > 0 {
                tracing::warn!(target: "shimmy_plugins::guest", plugin = %name, "{dropped} more bytes of output dropped");
            }
        }
        if self.log_dropped > 0 {
            tracing::warn!(target: "shimmy_plugins::guest", plugin = %name, "{} log lines over the limit of {MAX_LOG_LINES} dropped", self.log_dropped);
        }
    }

    /// The last lines of the guest's stderr (e.g. a Rust panic message), for trap reports.
    pub fn stderr_tail(&self) -> Option<String> {
        let buf = self.stderr.peek();
        let text = String::from_utf8_lossy(&buf);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return None;
        }
        let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
        Some(truncate(&tail, 500).into_owned())
    }

    fn time_host<T>(&mut self, start: Instant, v: T) -> T {
        self.clock.in_host += start.elapsed();
        v
    }

    fn workflow_host(&self) -> wasmtime::Result<Arc<dyn WorkflowHost>> {
        self.workflow_host
            .clone()
            .ok_or_else(|| wasmtime::format_err!("no workflow host attached to this call"))
    }
}

fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len()).into()
}

// ---- captured stdout / stderr ------------------------------------------------------------

/// A bounded in-memory sink for guest stdout or stderr. Writes past the bound are dropped
/// (and counted) instead of failing, so a chatty plugin does not trap.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<CaptureBuf>>);

#[derive(Default)]
struct CaptureBuf {
    data: Vec<u8>,
    dropped: usize,
}

impl Capture {
    fn push(&self, bytes: &[u8]) {
        let mut b = self.0.lock().unwrap();
        let room = STDIO_CAPTURE_BYTES.saturating_sub(b.data.len());
        let n = room.min(bytes.len());
        b.data.extend_from_slice(&bytes[..n]);
        b.dropped += bytes.len() - n;
    }
    fn take(&self) -> (Vec<u8>, usize) {
        let mut b = self.0.lock().unwrap();
        let d = std::mem::take(&mut b.dropped);
        (std::mem::take(&mut b.data), d)
    }
    fn peek(&self) -> Vec<u8> {
        self.0.lock().unwrap().data.clone()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

// ---- imports: types, log, config ---------------------------------------------------------

impl wty::Host for HostState {}
impl types_011::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.log_lines >= MAX_LOG_LINES {
            self.log_dropped += 1;
            return Ok(());
        }
        self.log_lines += 1;
        let name = &self.meta.name;
        let msg = truncate(&message, MAX_LOG_LINE_BYTES);
        const T: &str = "shimmy_plugins::guest";
        match level {
            log::Level::Trace => tracing::trace!(target: T, plugin = %name, "{msg}"),
            log::Level::Debug => tracing::debug!(target: T, plugin = %name, "{msg}"),
            log::Level::Info => tracing::info!(target: T, plugin = %name, "{msg}"),
            log::Level::Warn => tracing::warn!(target: T, plugin = %name, "{msg}"),
            log::Level::Error => tracing::error!(target: T, plugin = %name, "{msg}"),
        }
        Ok(())
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .request_settings
            .get(&key)
            .or_else(|| self.meta.config.get(&key))
            .cloned())
    }
    fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        let mut all = self.meta.config.clone();
        all.extend(self.request_settings.clone());
        Ok(all.into_iter().collect())
    }
}

// ---- imports: inference, tools (workflows) -----------------------------------------------

/// The `inference` import of one contract version (`$i`: its `inference` module, `$t`: its
/// `types`) over the store's [`WorkflowHost`]. The versions differ only in their types (0.1.2
/// chat messages carry reasoning), which convert through `From`; the code is this one.
macro_rules! inference_host {
    ($i:ident, $t:ident) => {
        impl $i::Host for HostState {
            async fn generate(
                &mut self,
                prompt: String,
                options: $t::SamplingOptions,
            ) -> wasmtime::Result<Result<$i::GenerationResult, $t::PluginError>> {
                let host = self.workflow_host()?;
                let t = Instant::now();
                let r = host.generate(prompt, options.into()).await;
                Ok(self.time_host(t, r.map(Into::into).map_err(Into::into)))
            }

            async fn chat(
                &mut self,
                messages: Vec<$t::ChatMessage>,
                tools: Vec<$t::ToolDefinition>,
                options: $t::SamplingOptions,
            ) -> wasmtime::Result<Result<$i::ChatResult, $t::PluginError>> {
                let host = self.workflow_host()?;
                let t = Instant::now();
                let messages = messages.into_iter().map(Into::into).collect();
                let tools = tools.into_iter().map(Into::into).collect();
                let r = host.chat(messages, tools, options.into()).await;
                Ok(self.time_host(t, r.map(Into::into).map_err(Into::into)))
            }

            async fn tokenize(
                &mut self,
                text: String,
            ) -> wasmtime::Result<Result<Vec<u32>, $t::PluginError>> {
                let host = self.workflow_host()?;
                let t = Instant::now();
                let r = host.tokenize(text).await;
                Ok(self.time_host(t, r.map_err(Into::into)))
            }

            async fn get_model_info(
                &mut self,
            ) -> wasmtime::Result<Result<$i::ModelInfo, $t::PluginError>> {
                let host = self.workflow_host()?;
                let t = Instant::now();
                let r = host.model_info().await;
                Ok(self.time_host(t, r.map(Into::into).map_err(Into::into)))
            }
        }

        impl $i::HostGeneration for HostState {
            async fn new(
                &mut self,
                prompt: String,
                options: $t::SamplingOptions,
            ) -> wasmtime::Result<Resource<GenerationState>> {
                Ok(self.table.push(GenerationState {
                    prompt,
                    options: options.into(),
                    result: None,
                    delivered: false,
                })?)
            }

            async fn next(
                &mut self,
                this: Resource<GenerationState>,
            ) -> wasmtime::Result<Result<Option<String>, $t::PluginError>> {
                let host = self.workflow_host()?;
                let g = self.table.get_mut(&this)?;
                if g.result.is_none() {
                    let (prompt, options) = (g.prompt.clone(), g.options.clone());
                    let t = Instant::now();
                    let r = host.generate(prompt, options).await;
                    self.clock.in_host += t.elapsed();
                    self.table.get_mut(&this)?.result = Some(r);
                }
                let g = self.table.get_mut(&this)?;
                Ok(match g.result.as_ref().expect("set above") {
                    Err(e) => Err(e.clone().into()),
                    Ok(_) if g.delivered => Ok(None),
                    Ok(r) => {
                        g.delivered = true;
                        Ok(Some(r.text.clone()))
                    }
                })
            }

            async fn usage(
                &mut self,
                this: Resource<GenerationState>,
            ) -> wasmtime::Result<$t::Usage> {
                let g = self.table.get(&this)?;
                let u = match &g.result {
                    Some(Ok(r)) => r.usage,
                    _ => Usage::default(),
                };
                Ok(u.into())
            }

            async fn drop(&mut self, this: Resource<GenerationState>) -> wasmtime::Result<()> {
                self.table.delete(this)?;
                Ok(())
            }
        }
    };
}
inference_host!(inference, wty);
// Workflows of 0.1.1 and 0.1.0 (the same `inference`), adapted: their chat messages carry no
// reasoning (see `crate::v011`).
inference_host!(inference_011, types_011);

impl tools::Host for HostState {
    async fn list(&mut self) -> wasmtime::Result<Vec<wty::ToolDefinition>> {
        let host = self.workflow_host()?;
        let t = Instant::now();
        let r = host.list_tools().await;
        Ok(self.time_host(t, r.into_iter().map(Into::into).collect()))
    }

    async fn invoke(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<Result<String, wty::PluginError>> {
        let host = self.workflow_host()?;
        let t = Instant::now();
        let r = host.invoke_tool(name, arguments).await;
        Ok(self.time_host(t, r.map_err(Into::into)))
    }
}
