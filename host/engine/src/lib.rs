//! `shimmy-engine`: the inference service of shimmy-host, between `shimmy-core` (the backend
//! traits) and the adapters (the HTTP server, the CLI).
//!
//! * [`Engine`] owns the [`models::ModelManager`] (lazy load, keep-alive, eviction; loads and
//!   unloads are reported as [`events::EngineEvent`]s), the plugins and the tool catalog.
//! * A [`generation::Job`] is the one request type every route and command is translated
//!   into; [`Engine::start`] runs it and yields one event stream ([`generation::Update`]).
//!   Chat validation ([`messages`]), template choice ([`templates`]), grammars and forced
//!   tool calls ([`grammar`]) and the bounds on a request's preparation ([`limits`]) happen
//!   here, once.
//! * [`Engine::run_workflow`] runs a workflow plugin against the same models and tools.
//! * An [`embedding::EmbedJob`] is what the embedding routes are translated into;
//!   [`Engine::embed`] returns one unit vector per input.
//!
//! Errors ([`EngineError`]) say what went wrong; how an adapter reports them (an HTTP
//! status, a CLI message) is the adapter's business. Nothing here draws on a terminal or
//! knows a route.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn shimmy_core::backend::Backend>,
//! #               plugins: std::sync::Arc<shimmy_plugins::PluginRegistry>) -> Result<(), shimmy_engine::EngineError> {
//! use shimmy_engine::generation::{Input, Job};
//! use shimmy_engine::{Catalog, Engine, EngineConfig};
//! let config = EngineConfig::default();
//! let catalog = Catalog::build([("tiny".to_string(), "tiny.gguf".into())], &plugins, &config.operator_templates);
//! let engine = Engine::new(backend, plugins, catalog, config);
//! let job = Job::new(None, Input::Raw { prompt: "Once upon a time".into() });
//! let done = engine.start(job, false).await?.collect().await?;
//! println!("{}", done.content);
//! # Ok(()) }
//! ```

pub mod capabilities;
pub mod catalog;
pub mod chat_fit;
pub mod config;
pub mod embedding;
pub mod engine;
pub mod error;
pub mod events;
pub mod generation;
pub mod grammar;
pub mod grammar_breadth;
pub mod ids;
pub mod keep_alive;
pub mod limits;
pub mod messages;
pub mod models;
pub mod redact;
pub mod sink;
pub mod templates;
pub mod thinking;
pub mod tools;
pub mod workflow;

pub use catalog::{Catalog, CatalogEntry};
pub use config::{EngineConfig, WorkflowLimits};
pub use engine::Engine;
pub use error::{EngineError, Result};
pub use events::{EngineEvent, EngineObserver};
pub use ids::new_id;
pub use keep_alive::KeepAlive;
pub use limits::RequestLimits;
pub use templates::Templates;
