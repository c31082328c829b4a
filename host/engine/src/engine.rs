//! The engine: one value that owns the model manager, the plugins and the tool catalog, and
//! tells its observers what happens. Jobs ([`crate::generation`]) and workflow runs
//! ([`crate::workflow`]) are methods on it, written in their own modules.

use std::path::PathBuf;
use std::sync::Arc;

use shimmy_core::backend::Backend;
use shimmy_plugins::{PluginRegistry, ToolCatalog};

use crate::catalog::{Catalog, CatalogEntry};
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::events::{EngineObserver, Observers};
use crate::models::ModelManager;
use crate::templates::Templates;

/// The inference service the HTTP server and the CLI drive.
pub struct Engine {
    models: Arc<ModelManager>,
    plugins: Arc<PluginRegistry>,
    events: Arc<Observers>,
    /// The tools of the tool plugins, described once on first use.
    tools: tokio::sync::OnceCell<Arc<ToolCatalog>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("models", &self.models.catalog().names())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for the models of `catalog`; nothing is loaded yet.
    pub fn new(
        backend: Arc<dyn Backend>,
        plugins: Arc<PluginRegistry>,
        catalog: Catalog,
        config: EngineConfig,
    ) -> Arc<Engine> {
        let events = Arc::new(Observers::default());
        let templates = Templates::new(&plugins, config.operator_templates.clone());
        let models = ModelManager::new(backend, templates, catalog, config, events.clone());
        Arc::new(Engine {
            models,
            plugins,
            events,
            tools: tokio::sync::OnceCell::new(),
        })
    }

    /// The models: what is offered, loaded, leased.
    pub fn models(&self) -> &Arc<ModelManager> {
        &self.models
    }

    /// The plugins.
    pub fn plugins(&self) -> &Arc<PluginRegistry> {
        &self.plugins
    }

    /// The template plugins and the operator's per-model choices.
    pub fn templates(&self) -> &Templates {
        self.models.templates()
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        self.models.config()
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        self.models.backend()
    }

    /// Adds an observer of loads, unloads and generation timings.
    pub fn subscribe(&self, observer: Arc<dyn EngineObserver>) {
        self.events.add(observer);
    }

    /// The observers (for the modules that report events).
    pub(crate) fn events(&self) -> &Arc<Observers> {
        &self.events
    }

    /// Every tool of the loaded tool plugins (asked once, then kept).
    pub async fn tools(&self) -> Arc<ToolCatalog> {
        self.tools
            .get_or_init(|| async { Arc::new(ToolCatalog::load(&self.plugins).await) })
            .await
            .clone()
    }

    /// Reads the header of the model file `path` (a pulled one) and offers it under `name`
    /// (or `name-2`... when taken; a file already offered keeps its entry). A file that is not
    /// a usable model is refused with the reason.
    pub async fn offer_file(
        &self,
        name: String,
        path: PathBuf,
    ) -> Result<CatalogEntry, EngineError> {
        let plugins = self.plugins.clone();
        let templates = self.config().operator_templates.clone();
        let catalog = tokio::task::spawn_blocking(move || {
            Catalog::build([(name, path)], &plugins, &templates)
        })
        .await?;
        match (catalog.models.into_iter().next(), catalog.skipped.first()) {
            (Some(entry), _) => Ok(self.models.add_model(entry)),
            (None, Some(skip)) => {
                // The client sees the file's name, not where the server keeps it.
                let full = skip.path.display().to_string();
                let file = skip.path.file_name().map_or_else(
                    || "the file".to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                Err(EngineError::invalid(
                    "model",
                    format!(
                        "the downloaded file {file} is not a usable model: {}",
                        skip.reason.replace(&full, &file)
                    ),
                ))
            }
            (None, None) => Err(EngineError::Internal("the pulled model vanished".into())),
        }
    }
}
