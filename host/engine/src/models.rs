//! The model manager: loads models on first use (or at startup with `--preload`) on a blocking
//! thread, starts one scheduler per loaded model, hands out leases to requests, and unloads
//! idle models after their keep-alive or when `--max-loaded-models` needs room.
//!
//! A [`ModelLease`] is held for the whole life of a request; a model with leases is never
//! unloaded for idleness or room (it may still be unloaded at shutdown, which fails its
//! requests with [`shimmy_core::Error::Unloaded`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use shimmy_core::backend::embedding::{EmbedOptions, Embedder};
use shimmy_core::backend::{Backend, DeviceMemory, LoadedModel};
use shimmy_core::serving::{Scheduler, SchedulerStats, ServeOptions};
use shimmy_core::template_choice::TemplateChoice;
use tokio::sync::Notify;

use crate::catalog::{Catalog, CatalogEntry};
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::events::{EngineEvent, Observers};
use crate::keep_alive::KeepAlive;
use crate::templates::Templates;

/// How often the keep-alive reaper looks at idle models.
const REAP_INTERVAL: Duration = Duration::from_millis(500);

/// A loaded model with its scheduler.
pub struct Loaded {
    /// The name it is known by.
    pub name: String,
    /// The model.
    pub model: Arc<dyn LoadedModel>,
    /// Its continuous-batching scheduler.
    pub scheduler: Arc<dyn Scheduler>,
    /// The template its chats get unless a request names another.
    pub template: TemplateChoice,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// How long loading took.
    pub load_duration: Duration,
    /// Its embedder, started by the first embedding request ([`Loaded::embedder`]).
    embedder: tokio::sync::OnceCell<Arc<dyn Embedder>>,
    usage: Mutex<Usage>,
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    active: usize,
    last_used: Instant,
    keep_alive: KeepAlive,
}

impl Loaded {
    /// The model's embedder, started on first use (its own context and thread, on a
    /// blocking thread); later calls get the same one.
    pub async fn embedder(&self, max_queue: usize) -> Result<Arc<dyn Embedder>, EngineError> {
        self.embedder
            .get_or_try_init(|| async {
                let model = self.model.clone();
                let options = EmbedOptions {
                    name: self.name.clone(),
                    max_queue,
                };
                tracing::info!(model = %self.name, "starting the embedder");
                let embedder =
                    tokio::task::spawn_blocking(move || model.embedder(&options)).await??;
                Ok::<_, EngineError>(embedder)
            })
            .await
            .cloned()
    }

    fn usage(&self) -> MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests using the model now.
    pub fn active(&self) -> usize {
        self.usage().active
    }

    /// When the model will be unloaded if no request comes (`None`: never).
    pub fn expires_at(&self) -> Option<SystemTime> {
        let u = *self.usage();
        match u.keep_alive {
            KeepAlive::Forever => None,
            KeepAlive::For(d) => {
                let idle_for = if u.active > 0 {
                    Duration::ZERO
                } else {
                    u.last_used.elapsed()
                };
                Some(SystemTime::now() + d.saturating_sub(idle_for))
            }
        }
    }

    fn expired(&self, now: Instant) -> bool {
        let u = self.usage();
        u.active == 0
            && match u.keep_alive {
                KeepAlive::Forever => false,
                KeepAlive::For(d) => now.duration_since(u.last_used) >= d,
            }
    }
}

/// A request's hold on a loaded model; the model stays loaded while it lives.
pub struct ModelLease {
    loaded: Arc<Loaded>,
    idle: Arc<Notify>,
}

impl std::ops::Deref for ModelLease {
    type Target = Loaded;
    fn deref(&self) -> &Loaded {
        &self.loaded
    }
}

impl Drop for ModelLease {
    fn drop(&mut self) {
        let mut u = self.loaded.usage();
        u.active = u.active.saturating_sub(1);
        u.last_used = Instant::now();
        if u.active == 0 && u.keep_alive.is_zero() {
            self.idle.notify_one();
        }
    }
}

/// One catalog model and its loaded state.
struct Slot {
    entry: CatalogEntry,
    load_lock: tokio::sync::Mutex<()>,
    current: Mutex<Option<Arc<Loaded>>>,
    /// Why the model cannot serve (its loaded copy reported itself unhealthy, e.g. an rpc
    /// worker holding some of its layers was lost, or reloading it after that failed);
    /// cleared by the next successful load.
    unhealthy: Mutex<Option<String>>,
}

impl Slot {
    fn current(&self) -> MutexGuard<'_, Option<Arc<Loaded>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unhealthy(&self) -> MutexGuard<'_, Option<String>> {
        self.unhealthy.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `/health` and `/api/ps` show of a model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    /// The name.
    pub name: String,
    /// Whether it is loaded.
    pub loaded: bool,
    /// Requests using it now.
    pub active_requests: usize,
    /// The scheduler's load, when loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<SchedulerStats>,
    /// The template its chats get (predicted until it is loaded).
    pub template: String,
    /// Memory per device (weights, KV cache, compute buffers) when loaded, from llama.cpp's
    /// buffer sizes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub memory: Vec<DeviceMemory>,
    /// Host/GPU split and MoE placement when loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<shimmy_core::backend::PlacementSummary>,
    /// Why the model cannot serve now (e.g. an rpc worker holding some of its layers was
    /// lost); `/health` answers 503 while any model has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The models offered now: the catalog and one slot per entry. Replaced whole when a model
/// is added (`/api/pull`) or removed (`/api/delete`).
struct Offered {
    catalog: Arc<Catalog>,
    slots: Vec<Arc<Slot>>,
}

impl Offered {
    fn new(catalog: Catalog) -> Offered {
        let slots = catalog
            .models
            .iter()
            .map(|entry| {
                Arc::new(Slot {
                    entry: entry.clone(),
                    load_lock: tokio::sync::Mutex::new(()),
                    current: Mutex::new(None),
                    unhealthy: Mutex::new(None),
                })
            })
            .collect();
        Offered {
            catalog: Arc::new(catalog),
            slots,
        }
    }
}

/// Loads, leases and unloads models.
pub struct ModelManager {
    backend: Arc<dyn Backend>,
    templates: Templates,
    offered: RwLock<Arc<Offered>>,
    config: EngineConfig,
    loading: AtomicUsize,
    idle: Arc<Notify>,
    events: Arc<Observers>,
    /// Tokens generated by the schedulers of models unloaded since start.
    retired_generated: AtomicU64,
}

impl ModelManager {
    /// A manager for the models of `catalog`; nothing is loaded yet. Loads and unloads are
    /// reported to `events`.
    pub fn new(
        backend: Arc<dyn Backend>,
        templates: Templates,
        catalog: Catalog,
        config: EngineConfig,
        events: Arc<Observers>,
    ) -> Arc<Self> {
        Arc::new(ModelManager {
            backend,
            templates,
            offered: RwLock::new(Arc::new(Offered::new(catalog))),
            config,
            loading: AtomicUsize::new(0),
            idle: Arc::new(Notify::new()),
            events,
            retired_generated: AtomicU64::new(0),
        })
    }

    fn offered(&self) -> Arc<Offered> {
        self.offered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The models offered now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.offered().catalog.clone()
    }

    /// Offers one more model (a pulled one). A model with the same file is not added twice
    /// (its entry is returned); a name that is taken gets `-2`, `-3`... as in discovery.
    pub fn add_model(&self, mut entry: CatalogEntry) -> CatalogEntry {
        let mut offered = self.offered.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = offered.catalog.models.iter().find(|m| m.path == entry.path) {
            return existing.clone();
        }
        let taken = |n: &str| {
            offered
                .catalog
                .models
                .iter()
                .any(|m| m.name.eq_ignore_ascii_case(n))
        };
        if taken(&entry.name) {
            let base = entry.name.clone();
            let mut k = 2u32;
            while taken(&format!("{base}-{k}")) {
                k += 1;
            }
            entry.name = format!("{base}-{k}");
        }
        let mut catalog = (*offered.catalog).clone();
        catalog.models.push(entry.clone());
        let mut slots = offered.slots.clone();
        slots.push(Arc::new(Slot {
            entry: entry.clone(),
            load_lock: tokio::sync::Mutex::new(()),
            current: Mutex::new(None),
            unhealthy: Mutex::new(None),
        }));
        *offered = Arc::new(Offered {
            catalog: Arc::new(catalog),
            slots,
        });
        tracing::info!(model = %entry.name, path = %entry.path.display(), "model added");
        entry
    }

    /// Stops offering `name` (a catalog name), unloading it first; refused while requests
    /// use it.
    pub async fn remove_model(&self, name: &str) -> Result<CatalogEntry, EngineError> {
        let Some(slot) = self.slot(name) else {
            return Err(self.not_found(name));
        };
        let _guard = slot.load_lock.lock().await;
        let taken = {
            let mut current = slot.current();
            match current.as_ref() {
                Some(l) if l.active() > 0 => {
                    return Err(EngineError::invalid(
                        "model",
                        format!(
                            "{name} is answering {} request(s); delete it when they are done",
                            l.active()
                        ),
                    ))
                }
                _ => current.take(),
            }
        };
        if let Some(l) = taken {
            tracing::info!(model = %l.name, "unloading: deleted");
            self.retire(l).await;
        }
        let mut offered = self.offered.write().unwrap_or_else(|e| e.into_inner());
        let mut catalog = (*offered.catalog).clone();
        catalog.models.retain(|m| m.name != name);
        let slots = offered
            .slots
            .iter()
            .filter(|s| s.entry.name != name)
            .cloned()
            .collect();
        *offered = Arc::new(Offered {
            catalog: Arc::new(catalog),
            slots,
        });
        Ok(slot.entry.clone())
    }

    fn not_found(&self, name: &str) -> EngineError {
        EngineError::Core(shimmy_core::Error::ModelNotFound {
            name: name.to_string(),
            hint: format!("; available: {}", self.catalog().names()),
        })
    }

    /// A pulled hub reference (`hf.co/org/name:QUANT`, `org/name:QUANT`) as the catalog entry
    /// of its file in the Hugging Face cache.
    fn find_by_hub_reference(&self, catalog: &Catalog, name: &str) -> Option<CatalogEntry> {
        let hub = self.config.hub.as_ref()?;
        if !shimmy_hub::ModelRef::looks_like(name) {
            return None;
        }
        let reference = shimmy_hub::ModelRef::parse(name).ok()?;
        let path = shimmy_hub::find_local(&hub.cache, &reference)?;
        let canonical = std::fs::canonicalize(&path).ok()?;
        catalog
            .models
            .iter()
            .find(|m| {
                m.path == path || std::fs::canonicalize(&m.path).ok() == Some(canonical.clone())
            })
            .cloned()
    }

    /// The template plugins.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Whether a model is being loaded now.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::SeqCst) > 0
    }

    /// The model a request means: the one it names (a pulled hub reference such as
    /// `hf.co/org/name:QUANT` included), or the only model there is.
    pub fn resolve(&self, requested: Option<&str>) -> Result<CatalogEntry, EngineError> {
        let catalog = self.catalog();
        match requested.map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => catalog
                .find(name)
                .cloned()
                .or_else(|| self.find_by_hub_reference(&catalog, name))
                .ok_or_else(|| self.not_found(name)),
            None => match catalog.models.as_slice() {
                [only] => Ok(only.clone()),
                [] => Err(EngineError::Core(shimmy_core::Error::ModelNotFound {
                    name: String::new(),
                    hint: "; this server has no models (start it with --model PATH or put .gguf files in ./models)".into(),
                })),
                _ => Err(EngineError::ModelRequired {
                    available: catalog.names(),
                }),
            },
        }
    }

    fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.offered()
            .slots
            .iter()
            .find(|s| s.entry.name == name)
            .cloned()
    }

    /// The loaded state of `name`, if loaded (no lease taken).
    pub fn loaded(&self, name: &str) -> Option<Arc<Loaded>> {
        self.slot(name).and_then(|s| s.current().clone())
    }

    /// Every loaded model.
    pub fn loaded_models(&self) -> Vec<Arc<Loaded>> {
        self.offered()
            .slots
            .iter()
            .filter_map(|s| s.current().clone())
            .collect()
    }

    /// The state of every model, in catalog order.
    pub fn status(&self) -> Vec<ModelStatus> {
        self.offered()
            .slots
            .iter()
            .map(|slot| {
                let loaded = slot.current().clone();
                ModelStatus {
                    name: slot.entry.name.clone(),
                    loaded: loaded.is_some(),
                    active_requests: loaded.as_ref().map_or(0, |l| l.active()),
                    scheduler: loaded.as_ref().map(|l| l.scheduler.stats()),
                    template: loaded
                        .as_ref()
                        .map_or(slot.entry.template.name.clone(), |l| {
                            l.template.name.clone()
                        }),
                    memory: loaded
                        .as_ref()
                        .map(|l| l.model.memory())
                        .unwrap_or_default(),
                    placement: loaded.as_ref().map(|l| l.model.placement_summary()),
                    error: loaded
                        .as_ref()
                        .and_then(|l| l.model.health().err().map(|e| e.to_string()))
                        .or_else(|| slot.unhealthy().clone()),
                }
            })
            .collect()
    }

    fn try_lease(&self, slot: &Slot, keep_alive: Option<KeepAlive>) -> Option<ModelLease> {
        let current = slot.current();
        let loaded = current.as_ref()?;
        if loaded.model.health().is_err() {
            return None; // see `drop_unhealthy`
        }
        {
            let mut u = loaded.usage();
            u.active += 1;
            u.last_used = Instant::now();
            if let Some(k) = keep_alive {
                u.keep_alive = k;
            }
        }
        Some(ModelLease {
            loaded: loaded.clone(),
            idle: self.idle.clone(),
        })
    }

    /// A lease on `name` (a catalog name), loading it first when needed; also returns how long
    /// this call waited for a load. `keep_alive` replaces the model's keep-alive (Ollama's
    /// per-request `keep_alive`).
    pub async fn acquire(
        self: &Arc<Self>,
        name: &str,
        keep_alive: Option<KeepAlive>,
    ) -> Result<(ModelLease, Duration), EngineError> {
        let slot = self.slot(name).ok_or_else(|| self.not_found(name))?;
        if let Some(lease) = self.try_lease(&slot, keep_alive) {
            return Ok((lease, Duration::ZERO));
        }
        // The load runs in its own task so that a client going away mid-load does not throw
        // the loaded model away.
        let started = Instant::now();
        let manager = self.clone();
        let lease =
            tokio::spawn(async move { manager.ensure_loaded(&slot, keep_alive).await }).await??;
        Ok((lease, started.elapsed()))
    }

    /// A lease on the model a request means ([`ModelManager::resolve`]), loading it when
    /// needed; the lease derefs to the [`Loaded`] model, whose `name` is the catalog name.
    pub async fn lease(
        self: &Arc<Self>,
        requested: Option<&str>,
        keep_alive: Option<KeepAlive>,
    ) -> Result<(ModelLease, Duration), EngineError> {
        let name = self.resolve(requested)?.name.clone();
        self.acquire(&name, keep_alive).await
    }

    /// Loads every model named (catalog names), one after the other.
    pub async fn preload(self: &Arc<Self>, names: &[String]) -> Result<(), EngineError> {
        for name in names {
            let (lease, _) = self.acquire(name, None).await?;
            drop(lease);
        }
        Ok(())
    }

    async fn ensure_loaded(
        self: &Arc<Self>,
        slot: &Arc<Slot>,
        keep_alive: Option<KeepAlive>,
    ) -> Result<ModelLease, EngineError> {
        let _guard = slot.load_lock.lock().await;
        self.drop_unhealthy(slot).await?;
        if let Some(lease) = self.try_lease(slot, keep_alive) {
            return Ok(lease);
        }
        self.make_room(slot).await?;
        self.loading.fetch_add(1, Ordering::SeqCst);
        let result = self.load(slot).await;
        self.loading.fetch_sub(1, Ordering::SeqCst);
        let result = result.inspect_err(|e| {
            // A model that was unhealthy stays so until it loads again.
            let mut unhealthy = slot.unhealthy();
            if unhealthy.is_some() {
                *unhealthy = Some(e.to_string());
            }
        });
        *slot.current() = Some(Arc::new(result?));
        *slot.unhealthy() = None;
        self.try_lease(slot, keep_alive)
            .ok_or_else(|| EngineError::Internal("a freshly loaded model vanished".into()))
    }

    async fn load(&self, slot: &Arc<Slot>) -> Result<Loaded, EngineError> {
        let entry = slot.entry.clone();
        let backend = self.backend.clone();
        let templates = self.templates.clone();
        let options = self.config.model_options.clone();
        let serve = ServeOptions {
            parallel: self.config.parallel,
            ctx_per_sequence: self.config.ctx_per_sequence,
            max_queue: self.config.max_queue,
            prompt_chunk: self.config.prompt_chunk,
            name: entry.name.clone(),
        };
        let keep_alive = self.config.keep_alive;
        let events = self.events.clone();
        tracing::info!(model = %entry.name, path = %entry.path.display(), "loading");
        let loaded = tokio::task::spawn_blocking(move || -> Result<Loaded, EngineError> {
            events.emit(EngineEvent::Loading {
                model: &entry.name,
                path: &entry.path,
                size_bytes: entry.size_bytes,
            });
            let started = Instant::now();
            let result = (|| {
                let model = backend.load(&entry.path, &options)?;
                let scheduler = model.clone().serve(&serve)?;
                Ok::<_, EngineError>((model, scheduler))
            })();
            let load_duration = started.elapsed();
            match &result {
                Ok(_) => events.emit(EngineEvent::Loaded {
                    model: &entry.name,
                    took: load_duration,
                }),
                Err(e) => events.emit(EngineEvent::LoadFailed {
                    model: &entry.name,
                    error: &e.to_string(),
                    took: load_duration,
                }),
            }
            let (model, scheduler) = result?;
            let template = templates.choose(&entry.name, model.as_ref(), None);
            Ok(Loaded {
                name: entry.name.clone(),
                model,
                scheduler,
                template,
                loaded_at: SystemTime::now(),
                load_duration,
                embedder: tokio::sync::OnceCell::new(),
                usage: Mutex::new(Usage {
                    active: 0,
                    last_used: Instant::now(),
                    keep_alive,
                }),
            })
        })
        .await??;
        tracing::info!(
            model = %loaded.name,
            template = %loaded.template.name,
            seconds = loaded.load_duration.as_secs_f64(),
            placement = %loaded.model.placement(),
            "loaded"
        );
        Ok(loaded)
    }

    /// Unloads the least recently used idle model(s) until `slot` may load.
    async fn make_room(&self, slot: &Arc<Slot>) -> Result<(), EngineError> {
        let max = self.config.max_loaded_models.max(1);
        loop {
            let offered = self.offered();
            let loaded: Vec<&Arc<Slot>> = offered
                .slots
                .iter()
                .filter(|s| !Arc::ptr_eq(s, slot) && s.current().is_some())
                .collect();
            if loaded.len() < max {
                return Ok(());
            }
            let victim = loaded
                .iter()
                .filter_map(|s| {
                    let current = s.current();
                    let l = current.as_ref()?;
                    let u = *l.usage();
                    (u.active == 0).then_some((u.last_used, *s))
                })
                .min_by_key(|(last_used, _)| *last_used)
                .map(|(_, s)| s.clone());
            let Some(victim) = victim else {
                return Err(EngineError::AllModelsBusy {
                    loaded: loaded.len(),
                    max,
                });
            };
            let taken = {
                let mut current = victim.current();
                match current.as_ref() {
                    Some(l) if l.active() == 0 => current.take(),
                    _ => None,
                }
            };
            if let Some(l) = taken {
                tracing::info!(model = %l.name, "unloading to make room (--max-loaded-models {max})");
                self.retire(l).await;
            }
        }
    }

    /// Stops a model's scheduler and frees it, off the async threads.
    async fn retire(&self, loaded: Arc<Loaded>) {
        self.retired_generated
            .fetch_add(loaded.scheduler.stats().generated_tokens, Ordering::Relaxed);
        self.events.emit(EngineEvent::Unloaded {
            model: &loaded.name,
        });
        let _ = tokio::task::spawn_blocking(move || {
            loaded.scheduler.shutdown();
            if let Some(embedder) = loaded.embedder.get() {
                embedder.shutdown();
            }
            drop(loaded);
        })
        .await;
    }

    /// Unloads `slot`'s model when it reports itself unhealthy, recording why; while requests
    /// still run on it (they are failing), that reason is the error.
    async fn drop_unhealthy(&self, slot: &Slot) -> Result<(), EngineError> {
        let taken = {
            let mut current = slot.current();
            let Some(loaded) = current.as_ref() else {
                return Ok(());
            };
            let Err(err) = loaded.model.health() else {
                return Ok(());
            };
            *slot.unhealthy() = Some(err.to_string());
            if loaded.active() > 0 {
                return Err(err.into());
            }
            current.take()
        };
        if let Some(loaded) = taken {
            tracing::warn!(model = %loaded.name, "unloading: {}", slot.unhealthy().clone().unwrap_or_default());
            self.retire(loaded).await;
        }
        Ok(())
    }

    /// Unloads the models that report themselves unhealthy and loads them again (an rpc
    /// worker that was lost and is back); what still fails stays in `/health`.
    pub async fn recover_unhealthy(self: &Arc<Self>) {
        for slot in &self.offered().slots {
            let unhealthy = slot.unhealthy().is_some()
                || slot
                    .current()
                    .as_ref()
                    .is_some_and(|l| l.model.health().is_err());
            if !unhealthy {
                continue;
            }
            match self.acquire(&slot.entry.name, None).await {
                Ok((lease, _)) => {
                    tracing::info!(model = %slot.entry.name, "reloaded after it was unhealthy");
                    drop(lease);
                }
                Err(e) => {
                    tracing::debug!(model = %slot.entry.name, "still unhealthy: {e}");
                }
            }
        }
    }

    /// Runs [`Self::recover_unhealthy`] every `interval` (spawn it).
    pub async fn run_recovery(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            self.recover_unhealthy().await;
        }
    }

    /// Unloads the idle models whose keep-alive has run out.
    pub async fn reap(&self) {
        let now = Instant::now();
        for slot in &self.offered().slots {
            let taken = {
                let mut current = slot.current();
                match current.as_ref() {
                    Some(l) if l.expired(now) => current.take(),
                    _ => None,
                }
            };
            if let Some(l) = taken {
                tracing::info!(model = %l.name, "unloading: idle past its keep-alive");
                self.retire(l).await;
            }
        }
    }

    /// Sets `name`'s keep-alive and unloads it now if that is zero and it is idle (Ollama's
    /// `{"model": ..., "keep_alive": 0}`). Returns whether it was loaded.
    pub async fn set_keep_alive(&self, name: &str, keep_alive: KeepAlive) -> bool {
        let Some(slot) = self.slot(name) else {
            return false;
        };
        let Some(loaded) = slot.current().clone() else {
            return false;
        };
        loaded.usage().keep_alive = keep_alive;
        self.reap().await;
        true
    }

    /// Runs the keep-alive reaper until the manager is dropped elsewhere (spawn it).
    pub async fn run_reaper(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REAP_INTERVAL) => {}
                _ = self.idle.notified() => {}
            }
            self.reap().await;
        }
    }

    /// Tokens generated by every scheduler since start (unloaded ones included).
    pub fn generated_tokens(&self) -> u64 {
        self.retired_generated.load(Ordering::Relaxed)
            + self
                .loaded_models()
                .iter()
                .map(|l| l.scheduler.stats().generated_tokens)
                .sum::<u64>()
    }

    /// Unloads everything (server shutdown).
    pub async fn shutdown(&self) {
        for slot in &self.offered().slots {
            let taken = slot.current().take();
            if let Some(l) = taken {
                self.retire(l).await;
            }
        }
    }
}
