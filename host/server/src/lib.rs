//! `shimmy-server`: the HTTP server of shimmy-host.
//!
//! OpenAI-compatible (`/v1/chat/completions`, `/v1/completions`, `/v1/models`),
//! Ollama-compatible (`/api/generate`, `/api/chat`, `/api/tags`, `/api/show`, `/api/ps`,
//! `/api/version`) and native routes (`/health`, `/metrics`, `/tokenize`, `/detokenize`,
//! `/api/template/render`) over one internal request type ([`generation::Job`]) and one event
//! stream ([`generation::Update`]).
//!
//! The server sees a [`Backend`] and a [`PluginRegistry`], never llama.cpp or wasmtime types.
//! Models are loaded on first use (or up front with [`Server::preload`]) by the
//! [`models::ModelManager`]; each loaded model gets one continuous-batching
//! [`shimmy_core::serving::Scheduler`], which runs inference on its own thread. Handlers only
//! translate, submit and stream.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn shimmy_core::backend::Backend>,
//! #               plugins: std::sync::Arc<shimmy_plugins::PluginRegistry>) -> Result<(), shimmy_server::ServerError> {
//! use shimmy_server::{Catalog, Server, ServerConfig};
//! let config = ServerConfig::default();
//! let catalog = Catalog::build([("tiny".to_string(), "tiny.gguf".into())], &plugins, &config.operator_templates);
//! let server = Server::bind("127.0.0.1:11435", backend, plugins, catalog, config).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![warn(missing_docs)]

pub mod app;
pub mod catalog;
pub mod config;
pub mod diagnostics;
pub mod error;
pub mod generation;
pub mod grammar;
pub mod keep_alive;
pub mod metrics;
pub mod models;
pub mod native;
pub mod ollama;
pub mod openai;
pub mod pull;
pub mod sink;
pub mod templates;
pub mod tools;
pub mod ui;
pub mod workflows;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use shimmy_core::backend::Backend;
use shimmy_plugins::PluginRegistry;
use tokio::net::TcpListener;

pub use app::{router, AppState, SharedState};
pub use catalog::{Catalog, CatalogEntry};
pub use config::{ServerConfig, WorkflowLimits, DEFAULT_BIND};
pub use error::ServerError;
pub use keep_alive::KeepAlive;

/// What the OpenAI routes report as `system_fingerprint`.
pub fn system_fingerprint() -> String {
    format!("shimmy-host-{}", env!("CARGO_PKG_VERSION"))
}

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
    /// Binds the address and sets up the state; nothing is loaded yet.
    pub async fn bind(
        spec: &str,
        backend: Arc<dyn Backend>,
        plugins: Arc<PluginRegistry>,
        catalog: Catalog,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let listener = bind(spec).await?;
        Server::with_listener(listener, backend, plugins, catalog, config)
    }

    /// Like [`Server::bind`] with a listener bound already.
    pub fn with_listener(
        listener: TcpListener,
        backend: Arc<dyn Backend>,
        plugins: Arc<PluginRegistry>,
        catalog: Catalog,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        let addr = listener.local_addr().map_err(|e| ServerError::Bind {
            addr: "?".into(),
            reason: e.to_string(),
        })?;
        let state = AppState::new(backend, plugins, catalog, config);
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

    /// The shared state (models, plugins, metrics).
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The startup banner for this server.
    pub fn banner(&self, version: &str, colors: diagnostics::Colors) -> String {
        let manager = &self.state.manager;
        let devices = manager.backend().devices();
        let plugins = self.state.plugins.list();
        let failures: Vec<(String, String)> = self
            .state
            .plugins
            .failures()
            .iter()
            .map(|f| (f.source.clone(), f.error.to_string()))
            .collect();
        let catalog = manager.catalog();
        diagnostics::Banner {
            version,
            backend: manager.backend().name(),
            devices: &devices,
            config: manager.config(),
            catalog: &catalog,
            plugins: &plugins,
            plugin_failures: &failures,
            addr: self.addr,
        }
        .render(colors)
    }

    /// Loads the named models now (catalog names), one after the other.
    pub async fn preload(&self, names: &[String]) -> Result<(), ServerError> {
        self.state.manager.preload(names).await
    }

    /// Serves until `shutdown` completes, then unloads every model.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let reaper = tokio::spawn(self.state.manager.clone().run_reaper());
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
            .map_err(|e| ServerError::Internal(format!("the HTTP server failed: {e}")));
        reaper.abort();
        self.state.manager.shutdown().await;
        result
    }
}
