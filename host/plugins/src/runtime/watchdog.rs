//! A call's deadline that also cuts blocking host calls.
//!
//! The epoch deadline (see [`super::PluginRuntime`]) only fires while guest code runs. A guest
//! blocked in a WASI host call (`std::thread::sleep` is a monotonic-clock subscription and a
//! `poll`; a read of a FIFO waits for a writer) runs no guest code, so the epoch callback
//! would see the overrun only after the call returns. [`run_until_deadline`] races the call
//! against a timer and drops the call (cancelling the host future it waits on) once the
//! guest's time is up.
//!
//! Guest time is wall time less the time spent in the contract's host imports (inference and
//! tool calls of a workflow, which may take minutes), as the epoch deadline counts it: every
//! such import goes through the call's [`WorkflowHost`], so [`watched`] wraps that host and
//! stops the clock while one of its methods runs. Time in WASI calls counts.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use shimmy_core::backend::ModelInfo;
use shimmy_core::chat::{ChatMessage, GenerationOptions, ToolDefinition};

use crate::host::WorkflowHost;
use crate::types::{ChatResult, GenerationResult, GuestError};

/// How long past the deadline the watchdog waits before cutting a call, so that a guest that
/// is computing (not blocked) is stopped by the epoch deadline first, with the same error.
const GRACE: Duration = Duration::from_millis(25);

/// The clock of one call, shared by the watchdog and the call's [`WorkflowHost`]. A session
/// that runs several calls on one instance restarts it for each ([`Watch::restart`]).
pub(crate) struct Watch {
    timeout: Duration,
    host: Mutex<HostTime>,
}

/// When the call started, and the time spent inside the workflow host since.
struct HostTime {
    /// When the call started.
    start: Instant,
    /// Host methods running now (0 or 1: a guest makes one import call at a time).
    active: u32,
    /// When the running ones started.
    since: Instant,
    /// Time of the finished ones.
    total: Duration,
}

impl Watch {
    /// Starts the clock of a call limited to `timeout` of guest time.
    pub(crate) fn start(timeout: Duration) -> Arc<Watch> {
        let now = Instant::now();
        Arc::new(Watch {
            timeout,
            host: Mutex::new(HostTime {
                start: now,
                active: 0,
                since: now,
                total: Duration::ZERO,
            }),
        })
    }

    /// Wall time since the start less the time inside the workflow host.
    fn guest_elapsed(&self) -> Duration {
        let host = self.host.lock().unwrap_or_else(PoisonError::into_inner);
        let mut in_host = host.total;
        if host.active > 0 {
            in_host += host.since.elapsed();
        }
        host.start.elapsed().saturating_sub(in_host)
    }

    /// Starts the clock again, for the next call of the same instance.
    pub(crate) fn restart(&self) {
        let mut host = self.host.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        host.start = now;
        host.since = now;
        host.total = Duration::ZERO;
    }

    /// Stops the guest's clock until the returned guard is dropped.
    fn in_host(&self) -> InHost<'_> {
        let mut host = self.host.lock().unwrap_or_else(PoisonError::into_inner);
        if host.active == 0 {
            host.since = Instant::now();
        }
        host.active += 1;
        InHost(self)
    }
}

/// Time inside the workflow host; see [`Watch::in_host`].
struct InHost<'a>(&'a Watch);

impl Drop for InHost<'_> {
    fn drop(&mut self) {
        let mut host = self.0.host.lock().unwrap_or_else(PoisonError::into_inner);
        host.active -= 1;
        if host.active == 0 {
            let spent = host.since.elapsed();
            host.total += spent;
        }
    }
}

/// Runs `call` until it finishes or its guest time passes the deadline (plus [`GRACE`]);
/// `None` when it was cut (the call's future is dropped, which cancels whatever host call
/// it was blocked in).
pub(crate) async fn run_until_deadline<F: Future>(watch: &Watch, call: F) -> Option<F::Output> {
    let call = std::pin::pin!(call);
    let mut call = call;
    loop {
        let left = watch.timeout.saturating_sub(watch.guest_elapsed());
        tokio::select! {
            biased;
            out = &mut call => return Some(out),
            () = tokio::time::sleep(left + GRACE) => {
                if watch.guest_elapsed() >= watch.timeout + GRACE {
                    return None;
                }
            }
        }
    }
}

/// `host`, with the guest's clock stopped while any of its methods runs.
pub(crate) fn watched(host: Arc<dyn WorkflowHost>, watch: Arc<Watch>) -> Arc<dyn WorkflowHost> {
    Arc::new(WatchedHost { inner: host, watch })
}

struct WatchedHost {
    inner: Arc<dyn WorkflowHost>,
    watch: Arc<Watch>,
}

#[async_trait::async_trait]
impl WorkflowHost for WatchedHost {
    async fn generate(
        &self,
        prompt: String,
        options: GenerationOptions,
    ) -> Result<GenerationResult, GuestError> {
        let _host = self.watch.in_host();
        self.inner.generate(prompt, options).await
    }

    async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolDefinition>,
        options: GenerationOptions,
    ) -> Result<ChatResult, GuestError> {
        let _host = self.watch.in_host();
        self.inner.chat(messages, tools, options).await
    }

    async fn tokenize(&self, text: String) -> Result<Vec<u32>, GuestError> {
        let _host = self.watch.in_host();
        self.inner.tokenize(text).await
    }

    async fn model_info(&self) -> Result<(String, ModelInfo), GuestError> {
        let _host = self.watch.in_host();
        self.inner.model_info().await
    }

    async fn list_tools(&self) -> Vec<ToolDefinition> {
        let _host = self.watch.in_host();
        self.inner.list_tools().await
    }

    async fn invoke_tool(&self, name: String, arguments: String) -> Result<String, GuestError> {
        let _host = self.watch.in_host();
        self.inner.invoke_tool(name, arguments).await
    }
}
