//! What every handler can reach: the engine, the metrics and the server's own settings.

use std::sync::Arc;
use std::time::SystemTime;

use shimmy_engine::Engine;

use crate::metrics::Metrics;

/// The HTTP server's own settings (the engine has its own, [`shimmy_engine::EngineConfig`]).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The shared state of a server.
#[derive(Debug)]
pub struct AppState {
    /// The inference service.
    pub engine: Arc<Engine>,
    /// The metrics (they observe the engine).
    pub metrics: Arc<Metrics>,
    /// The server's settings.
    pub config: ServerConfig,
    /// When the server started.
    pub started: SystemTime,
}

impl AppState {
    /// The state of a server over `engine`; its metrics start observing the engine.
    pub fn new(engine: Arc<Engine>, config: ServerConfig) -> SharedState {
        let metrics = Arc::new(Metrics::new());
        engine.subscribe(metrics.clone());
        Arc::new(AppState {
            engine,
            metrics,
            config,
            started: SystemTime::now(),
        })
    }
}

/// The state as handlers take it.
pub type SharedState = Arc<AppState>;
