//! `shimmy-server`: the HTTP adapter of shimmy-host over the [`shimmy_engine::Engine`].
//!
//! OpenAI-compatible (`/v1/chat/completions`, `/v1/completions`, `/v1/responses`,
//! `/v1/models`), Anthropic-compatible (`/v1/messages`, `/v1/messages/count_tokens`),
//! Ollama-compatible (`/api/generate`, `/api/chat`, `/api/tags`, `/api/show`, `/api/ps`,
//! `/api/version`) and native routes (`/health`, `/metrics`, `/tokenize`, `/detokenize`,
//! `/api/template/render`, `/api/tools`, `/api/workflows`). Each route translates its wire
//! format into one engine job ([`shimmy_engine::generation::Job`]) and renders the one event
//! stream ([`shimmy_engine::generation::Update`]) back; errors become HTTP responses in one
//! place ([`error`]). Models, generation, templates, grammars and workflow runs are the
//! engine's; this crate holds routes, wire formats, streaming writers and metrics.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn shimmy_core::backend::Backend>,
//! #               plugins: std::sync::Arc<shimmy_plugins::PluginRegistry>) -> Result<(), shimmy_server::ServerError> {
//! use shimmy_engine::{Catalog, Engine, EngineConfig};
//! use shimmy_server::{Server, ServerConfig};
//! let config = EngineConfig::default();
//! let catalog = Catalog::build([("tiny".to_string(), "tiny.gguf".into())], &plugins, &config.operator_templates);
//! let engine = Engine::new(backend, plugins, catalog, config);
//! let server = Server::bind("127.0.0.1:11435", engine, ServerConfig::default()).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod allowlist;
pub mod anthropic;
pub mod auth;
pub mod body;
pub mod cors;
pub mod diagnostics;
pub mod error;
pub mod functions;
pub mod hosts;
pub mod metrics;
pub mod native;
pub mod ollama;
pub mod openai;
pub mod responses;
pub mod router;
pub mod routes;
pub mod state;
pub mod stream;
pub mod text_or_list;
pub mod tools;
pub mod ui;
pub mod wire;
pub mod workflow_api;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use shimmy_engine::Engine;
use tokio::net::TcpListener;

pub use error::ServerError;
pub use router::router;
pub use state::{AppState, ServerConfig, SharedState};

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:11435";

/// How often the tokens/s gauge is sampled.
const THROUGHPUT_SAMPLE: Duration = Duration::from_millis(500);

/// A bound, not yet running server.
pub struct Server {
    state: SharedState,
    listener: TcpListener,
    addr: SocketAddr,
}

/// Binds `spec`: `HOST:PORT`, a bare port (on 127.0.0.1), or `auto` ([`DEFAULT_BIND`], else
/// a free port on 127.0.0.1). A busy address is an error that says so.
pub async fn bind(spec: &str) -> Result<TcpListener, ServerError> {
    let spec = spec.trim();
    let fail = |addr: &str, e: std::io::Error| {
        let reason = if e.kind() == std::io::ErrorKind::AddrInUse {
            "the address is already in use (another shimmy-host or Ollama-compatible server?); \
             pick another with --bind HOST:PORT, or --bind auto for a free port"
                .to_string()
        } else {
            e.to_string()
        };
        ServerError::Bind {
            addr: addr.to_string(),
            reason,
        }
    };
    if spec.eq_ignore_ascii_case("auto") {
        return match TcpListener::bind(DEFAULT_BIND).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| fail("127.0.0.1:0", e)),
        };
    }
    let addr = if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
        format!("127.0.0.1:{spec}")
    } else {
        spec.to_string()
    };
    TcpListener::bind(&addr).await.map_err(|e| fail(&addr, e))
}

impl Server {
    /// Binds the address and sets up the state over `engine`; nothing is loaded yet.
    pub async fn bind(
        spec: &str,
        engine: Arc<Engine>,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let listener = bind(spec).await?;
        Server::with_listener(listener, engine, config)
    }

    /// Like [`Server::bind`] with a listener bound already. The `Host` check
    /// ([`ServerConfig::allowed_hosts`]) applies only when the address is a loopback one.
    pub fn with_listener(
        listener: TcpListener,
        engine: Arc<Engine>,
        mut config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let addr = listener.local_addr().map_err(|e| ServerError::Bind {
            addr: "?".into(),
            reason: e.to_string(),
        })?;
        if !addr.ip().is_loopback() {
            config.allowed_hosts = hosts::AllowedHosts::any();
        }
        let state = AppState::new(engine, config);
        Ok(Server {
            state,
            listener,
            addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (the engine, the metrics).
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The startup banner for this server.
    pub fn banner(&self, version: &str, colors: diagnostics::Colors) -> String {
        let engine = &self.state.engine;
        let devices = engine.backend().devices();
        let plugins = engine.plugins().list();
        let failures: Vec<(String, String)> = engine
            .plugins()
            .failures()
            .iter()
            .map(|f| (f.source.clone(), f.error.to_string()))
            .collect();
        let catalog = engine.models().catalog();
        diagnostics::Banner {
            version,
            backend: engine.backend().name(),
            devices: &devices,
            config: engine.config(),
            catalog: &catalog,
            plugins: &plugins,
            plugin_failures: &failures,
            addr: self.addr,
            server: &self.state.config,
        }
        .render(colors)
    }

    /// Serves until `shutdown` completes, then unloads every model.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let engine = self.state.engine.clone();
        let reaper = tokio::spawn(engine.models().clone().run_reaper());
        let metrics = self.state.metrics.clone();
        let models = engine.models().clone();
        let sampler = tokio::spawn(async move {
            loop {
                tokio::time::sleep(THROUGHPUT_SAMPLE).await;
                metrics.sample_throughput(models.generated_tokens());
            }
        });
        let app = router(self.state.clone());
        // Tokens are small writes: send each at once instead of waiting for ACKs (Nagle).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY not set: {e}");
            }
        });
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| {
                ServerError::Engine(shimmy_engine::EngineError::Internal(format!(
                    "the HTTP server failed: {e}"
                )))
            });
        reaper.abort();
        sampler.abort();
        engine.models().shutdown().await;
        result
    }
}
