//! The engine, the linkers, the epoch ticker, loading one plugin and running one call.

mod watchdog;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, OptLevel, Store, Strategy, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::bindings::{legacy_template, template, template_011, tool, workflow, workflow_011};
use crate::cache::CompileCache;
use crate::calls::Call;
use crate::error::{PluginError, Result};
use crate::grants::{Capability, Grants, Settings};
use crate::host::{CallClock, Capture, HostState, Limits, PluginMeta, WorkflowHost};
use crate::instance::{Instance, Pre};
use crate::manifest::{Manifest, PluginKind};
use crate::types::GuestError;

/// The contract package this host implements.
pub const CONTRACT_PACKAGE: &str = "shimmy:plugin";
/// The contract versions this host implements (exact match), newest first. Templates and
/// workflows built against 0.1.1 go through the adapter in `v011.rs` (chat messages without
/// reasoning), templates of 0.1.0 through `legacy.rs` as well; tools of every version are the
/// same.
pub const SUPPORTED_CONTRACT_VERSIONS: &[&str] = &["0.1.2", "0.1.1", "0.1.0"];

/// The contract version whose template world has no `render-spans` / `output-parser`.
const LEGACY_TEMPLATE_VERSION: &str = "0.1.0";
/// The contract version whose chat messages have no reasoning (0.1.0's are the same).
const V011: &str = "0.1.1";

/// Whether a plugin of `contract_version` sees the chat messages of 0.1.1 (no reasoning).
fn before_reasoning(contract_version: &str) -> bool {
    contract_version == V011 || contract_version == LEGACY_TEMPLATE_VERSION
}

/// The `config` key under which a plugin finds the directories it was granted (absolute paths,
/// one per line, each preopened read-only at that path). Set by the host; a value from
/// `plugin.toml` or `--plugin-config` is replaced.
pub const GRANTED_DIRS_KEY: &str = "granted-dirs";

/// How often the background ticker advances the engine's epoch while calls run.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings of a [`PluginRuntime`]; [`Default`] gives the sandbox defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// Time limit of one call, in ms of time spent in the guest (time inside host imports such
    /// as `inference.generate` does not count; time blocked in WASI calls such as a sleep does,
    /// and such a call is cut at the limit). Default 2000.
    pub timeout_ms: u64,
    /// Memory limit of one instance (all its linear memories together), in MiB. Default 64.
    /// A plugin granted `NAME:memory` gets its `capabilities.memory_mb` instead.
    pub memory_mb: u64,
    /// Where compiled plugins are cached. `None`: `~/.cache/shimmy/plugins` (the platform
    /// cache directory); if that cannot be used, plugins are compiled at every start.
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin at every start, never touching a cache directory.
    pub disable_cache: bool,
    /// The operator's capability grants (`--plugin-grant NAME:CAPABILITY`).
    pub grants: Grants,
    /// The operator's overrides of plugins' `[config]` values (`--plugin-config NAME:K=V`).
    pub settings: Settings,
    /// Most bytes a call may return (a rendered prompt, a tool result...); a plugin's own error
    /// message longer than this is cut to it, with a note. Default 16 MiB.
    pub max_output_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            timeout_ms: 2000,
            memory_mb: 64,
            cache_dir: None,
            disable_cache: false,
            grants: Grants::none(),
            settings: Settings::default(),
            max_output_bytes: 16 * 1024 * 1024,
        }
    }
}

impl RuntimeConfig {
    /// The cache directory used when [`RuntimeConfig::cache_dir`] is `None`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("shimmy").join("plugins"))
    }
}

/// Counters of the compilation cache since the runtime started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeStats {
    /// Components compiled (cache misses, or no cache).
    pub compiled: u64,
    /// Components loaded from the disk cache without compiling.
    pub cache_hits: u64,
    /// Cache entries found but refused (corrupt, foreign or stale) and recompiled.
    pub cache_rejected: u64,
    /// The cache directory in use, if any.
    pub cache_dir: Option<PathBuf>,
}

/// The wasmtime engine shared by all plugins: one [`Engine`] (Cranelift, component model,
/// async, epoch interruption), one linker per world, the compilation cache and the epoch
/// ticker thread. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct PluginRuntime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub engine: Engine,
    /// One per kind (see [`PluginKind`]'s order), then the workflows of 0.1.1 and 0.1.0.
    linkers: [Linker<HostState>; 4],
    pub config: RuntimeConfig,
    cache: CompileCache,
    ticker: Ticker,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
    /// Creates the engine, the linkers, the cache and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<PluginRuntime> {
        if config.timeout_ms == 0 || config.memory_mb == 0 {
            return Err(PluginError::Runtime(
                "timeout_ms and memory_mb must be at least 1".into(),
            ));
        }
        let mut c = Config::new();
        c.strategy(Strategy::Cranelift)
            .cranelift_opt_level(OptLevel::Speed)
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .async_stack_size(2 << 20)
            .parallel_compilation(true);
        let engine = Engine::new(&c).map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        let linkers = [
            make_linker(&engine, PluginKind::Template)?,
            make_linker(&engine, PluginKind::Tool)?,
            make_linker(&engine, PluginKind::Workflow)?,
            make_workflow_011_linker(&engine)?,
        ];
        let cache_dir = if config.disable_cache {
            None
        } else {
            config
                .cache_dir
                .clone()
                .or_else(RuntimeConfig::default_cache_dir)
        };
        let cache = CompileCache::new(&engine, cache_dir);
        let ticker = Ticker::start(engine.clone());
        Ok(PluginRuntime {
            inner: Arc::new(Inner {
                engine,
                linkers,
                config,
                cache,
                ticker,
            }),
        })
    }

    /// The settings this runtime was created with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The wasmtime engine (for embedders that need it, e.g. to precompile ahead of time).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Counters of the compilation cache.
    pub fn stats(&self) -> RuntimeStats {
        let c = &self.inner.cache.counters;
        RuntimeStats {
            compiled: c.compiled.load(Ordering::Relaxed),
            cache_hits: c.hits.load(Ordering::Relaxed),
            cache_rejected: c.rejected.load(Ordering::Relaxed),
            cache_dir: self.inner.cache.dir().map(Path::to_path_buf),
        }
    }

    fn linker(&self, kind: PluginKind, contract_version: &str) -> &Linker<HostState> {
        if kind == PluginKind::Workflow && before_reasoning(contract_version) {
            return &self.inner.linkers[3];
        }
        &self.inner.linkers[kind as usize]
    }

    /// Compiles (or loads from the cache), inspects, checks and pre-links one plugin.
    pub(crate) fn load_plugin(&self, input: PluginInput<'_>) -> Result<LoadedPlugin> {
        let PluginInput {
            name_hint,
            wasm,
            wasm_label,
            manifest,
            source,
        } = input;
        let name = manifest.name.clone().unwrap_or(name_hint);
        crate::manifest::validate_name(&name).map_err(|reason| PluginError::Incompatible {
            plugin: name.clone(),
            reason: format!("{reason} (set `name` in its plugin.toml)"),
        })?;
        let engine = &self.inner.engine;
        let component = self
            .inner
            .cache
            .load_or_compile(engine, wasm, &name)
            .map_err(|e| PluginError::Compile {
                plugin: name.clone(),
                path: wasm_label.clone(),
                reason: root_message(&e),
            })?;
        let info = inspect_component(engine, &component, &name)?;
        if let Some(declared) = manifest.kind {
            if declared != info.kind {
                return Err(PluginError::Incompatible {
                    plugin: name,
                    reason: format!(
                        "its plugin.toml says kind = \"{declared}\" but the component exports \
                         the {} interface",
                        info.kind
                    ),
                });
            }
        }
        let instance_pre = self
            .linker(info.kind, &info.contract_version)
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Incompatible {
                plugin: name.clone(),
                reason: format!(
                    "cannot be linked as a {} plugin: {}",
                    info.kind,
                    root_message(&e)
                ),
            })?;
        let typed = |e: wasmtime::Error| PluginError::Incompatible {
            plugin: name.clone(),
            reason: format!(
                "does not match world {}: {}",
                info.kind.world(),
                root_message(&e)
            ),
        };
        let pre = match info.kind {
            PluginKind::Template if info.contract_version == LEGACY_TEMPLATE_VERSION => {
                Pre::LegacyTemplate(
                    legacy_template::TemplatePluginPre::new(instance_pre).map_err(typed)?,
                )
            }
            PluginKind::Template if info.contract_version == V011 => {
                Pre::Template011(template_011::TemplatePluginPre::new(instance_pre).map_err(typed)?)
            }
            PluginKind::Template => {
                Pre::Template(template::TemplatePluginPre::new(instance_pre).map_err(typed)?)
            }
            PluginKind::Tool => Pre::Tool(tool::ToolPluginPre::new(instance_pre).map_err(typed)?),
            PluginKind::Workflow => {
                Pre::Workflow(workflow::WorkflowPluginPre::new(instance_pre).map_err(typed)?)
            }
        };

        let caps = resolve_capabilities(&name, &manifest, &self.inner.config);
        let mut config = manifest.config.clone();
        if let Some(over) = self.inner.config.settings.for_plugin(&name) {
            config.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        // Tell the plugin which directories it can read (they are preopened at these paths).
        config.remove(GRANTED_DIRS_KEY);
        if !caps.dirs.is_empty() {
            let list: Vec<String> = caps.dirs.iter().map(|d| d.display().to_string()).collect();
            config.insert(GRANTED_DIRS_KEY.to_string(), list.join("\n"));
        }
        let mut warnings = manifest.warnings.clone();
        let actual_wit = format!("{CONTRACT_PACKAGE}@{}", info.contract_version);
        if let Some(declared) = manifest.wit.as_deref().filter(|w| *w != actual_wit) {
            warnings.push(format!(
                "plugin.toml says wit = \"{declared}\" but the component uses {actual_wit}"
            ));
        }
        warnings.extend(caps.warnings);
        let summary = PluginSummary {
            name: name.clone(),
            kind: info.kind,
            version: manifest
                .version
                .clone()
                .unwrap_or_else(|| "unversioned".into()),
            source,
            description: manifest.description.clone().unwrap_or_default(),
            families: manifest.families.clone(),
            capabilities_requested: caps.requested,
            capabilities_granted: caps.granted,
            warnings,
            memory_limit_mb: caps.memory_mb,
            timeout_ms: self.inner.config.timeout_ms,
        };
        for w in &summary.warnings {
            tracing::warn!(plugin = %name, "{w}");
        }
        Ok(LoadedPlugin {
            summary,
            manifest,
            info,
            meta: Arc::new(PluginMeta { name, config }),
            pre,
            memory_limit: (caps.memory_mb as usize).saturating_mul(1024 * 1024),
            dirs: caps.dirs,
            max_error_bytes: self.inner.config.max_output_bytes,
        })
    }

    /// A fresh store for `plugin`.
    fn new_store(
        &self,
        plugin: &LoadedPlugin,
        host: Option<Arc<dyn WorkflowHost>>,
    ) -> Result<Store<HostState>> {
        let stdout = Capture::default();
        let stderr = Capture::default();
        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for d in &plugin.dirs {
            b.preopened_dir(d, d.to_string_lossy(), FsPerms::ReadOnly)
                .map_err(|e| PluginError::Io {
                    path: d.clone(),
                    source: std::io::Error::other(format!(
                        "cannot open the directory granted to plugin \"{}\": {e}",
                        plugin.summary.name
                    )),
                })?;
        }
        let state = HostState {
            meta: plugin.meta.clone(),
            wasi: b.build(),
            table: ResourceTable::new(),
            limits: Limits::new(plugin.memory_limit),
            clock: CallClock::new(Duration::from_millis(self.inner.config.timeout_ms)),
            workflow_host: host,
            stdout,
            stderr,
            log_lines: 0,
            log_dropped: 0,
            request_settings: BTreeMap::new(),
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut cx| {
            let s = cx.data_mut();
            if s.clock.guest_elapsed() >= s.clock.timeout {
                s.clock.timed_out = true;
                return Err(wasmtime::format_err!("the plugin ran past its time limit"));
            }
            // Let other tasks of the executor run, then check again at the next tick.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }

    /// Instantiates `plugin` in a fresh store: a [`Session`] that runs calls on that one
    /// instance (each under the time limit; the instance under the memory limit).
    /// Instantiating counts against the time limit of the first call.
    pub(crate) async fn session(
        &self,
        plugin: Arc<LoadedPlugin>,
        host: Option<Arc<dyn WorkflowHost>>,
    ) -> Result<Session> {
        // The epoch deadline stops guest code; the watchdog also stops a guest blocked in a
        // host call (a WASI sleep or read) at the same deadline. One watch per session,
        // restarted for each call.
        let watch = watchdog::Watch::start(Duration::from_millis(self.inner.config.timeout_ms));
        let host = host.map(|h| watchdog::watched(h, watch.clone()));
        let mut store = self.new_store(&plugin, host)?;
        let _active = self.inner.ticker.enter();
        store.data_mut().begin_call();
        store.set_epoch_deadline(1);
        let instantiate = async {
            Ok::<_, wasmtime::Error>(match &plugin.pre {
                Pre::Template(p) => Instance::Template(p.instantiate_async(&mut store).await?),
                Pre::Template011(p) => {
                    Instance::Template011(p.instantiate_async(&mut store).await?)
                }
                Pre::LegacyTemplate(p) => {
                    Instance::LegacyTemplate(p.instantiate_async(&mut store).await?)
                }
                Pre::Tool(p) => Instance::Tool(p.instantiate_async(&mut store).await?),
                Pre::Workflow(p) => Instance::Workflow(p.instantiate_async(&mut store).await?),
            })
        };
        let instance = watchdog::run_until_deadline(&watch, instantiate)
            .await
            .unwrap_or_else(|| Err(blocked(&mut store)));
        let state = store.data();
        let instance = instance.map_err(|e| classify(&plugin, state, e));
        state.flush_stdio();
        Ok(Session {
            instance: instance?,
            store,
            plugin,
            runtime: self.clone(),
            watch,
            instantiated: true,
        })
    }

    /// Runs one call on a fresh instance of `plugin`.
    pub(crate) async fn call<C: Call>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        host: Option<Arc<dyn WorkflowHost>>,
        call: C,
    ) -> Result<C::Output> {
        check_kind(plugin, C::KIND)?;
        self.session(plugin.clone(), host).await?.call(call).await
    }
}

/// One instance of a plugin in its own store; calls run on it one after the other. Every
/// call goes through [`Session::call`]: the kind check, the time limit, the classification of
/// failures, the plugin's own errors and the bound on returned data are done there, once.
pub(crate) struct Session {
    plugin: Arc<LoadedPlugin>,
    runtime: PluginRuntime,
    store: Store<HostState>,
    instance: Instance,
    /// The deadline of the running call (shared with the store's workflow host).
    watch: Arc<watchdog::Watch>,
    /// The instantiation's time still counts against the first call.
    instantiated: bool,
}

impl Session {
    /// The plugin this session runs.
    pub(crate) fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// Settings of the request this session serves, read by the plugin through `config` in
    /// front of its own for every later call (see [`crate::RequestSettings`]).
    pub(crate) fn set_request_settings(&mut self, settings: crate::RequestSettings) {
        self.store.data_mut().request_settings = settings;
    }

    /// Whether the plugin is a template of contract 0.1.0 (served by `legacy.rs`).
    pub(crate) fn is_legacy_template(&self) -> bool {
        matches!(self.instance, Instance::LegacyTemplate(_))
    }

    /// Runs `call` on this session's instance and turns any failure into a [`PluginError`]
    /// that names the plugin and the reason.
    pub(crate) async fn call<C: Call>(&mut self, call: C) -> Result<C::Output> {
        let name = &self.plugin.summary.name;
        check_kind(&self.plugin, C::KIND)?;
        let _active = self.runtime.inner.ticker.enter();
        if !std::mem::take(&mut self.instantiated) {
            self.store.data_mut().begin_call();
            self.watch.restart();
        }
        self.store.set_epoch_deadline(1);
        let result =
            watchdog::run_until_deadline(&self.watch, call.run(&mut self.store, &self.instance))
                .await
                .unwrap_or_else(|| Err(blocked(&mut self.store)));
        let state = self.store.data();
        let out = result.map_err(|e| classify(&self.plugin, state, e));
        state.flush_stdio();
        let out = out?.map_err(|error| PluginError::Guest {
            plugin: name.clone(),
            error: cap_guest_error(error, self.plugin.max_error_bytes),
        })?;
        let size = C::size(&out);
        let limit = self.runtime.config().max_output_bytes;
        if size > limit {
            return Err(PluginError::OutputTooLarge {
                plugin: name.clone(),
                what: C::WHAT,
                size,
                limit,
            });
        }
        Ok(out)
    }
}

/// The failure of a call the watchdog cut (marked as a timeout for [`classify`]).
fn blocked(store: &mut Store<HostState>) -> wasmtime::Error {
    store.data_mut().clock.timed_out = true;
    wasmtime::format_err!("the plugin was blocked in a host call past its time limit")
}

/// Fails with [`PluginError::WrongKind`] unless `plugin` is of kind `expected`.
pub(crate) fn check_kind(plugin: &LoadedPlugin, expected: PluginKind) -> Result<()> {
    if plugin.info.kind != expected {
        return Err(PluginError::WrongKind {
            plugin: plugin.summary.name.clone(),
            expected,
            actual: plugin.info.kind,
        });
    }
    Ok(())
}

/// What [`PluginRuntime::load_plugin`] needs.
pub(crate) struct PluginInput<'a> {
    /// Name to use when the manifest has none.
    pub name_hint: String,
    pub wasm: &'a [u8],
    /// Where the wasm came from, for messages.
    pub wasm_label: String,
    pub manifest: Manifest,
    /// Where the plugin came from, for `plugin list`.
    pub source: String,
}

/// A pre-linked plugin, instantiated afresh for each call (or each [`Session`]).
pub(crate) struct LoadedPlugin {
    pub summary: PluginSummary,
    pub manifest: Manifest,
    pub info: ComponentInfo,
    pub meta: Arc<PluginMeta>,
    pub pre: Pre,
    pub memory_limit: usize,
    pub dirs: Vec<PathBuf>,
    /// Most bytes of a message the plugin returns in its own error (as for results:
    /// [`RuntimeConfig::max_output_bytes`]); see [`cap_guest_error`].
    pub max_error_bytes: usize,
}

/// `error` with its message cut to `limit` bytes (at a character boundary) and a note that
/// says so, when it is longer. A plugin's error is as much its output as a result is, and
/// must not carry more.
pub(crate) fn cap_guest_error(error: GuestError, limit: usize) -> GuestError {
    let cap = |message: String| {
        if message.len() <= limit {
            return message;
        }
        let mut end = limit;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}... (truncated: the plugin's error message was {} bytes, more than the \
             {limit}-byte output limit)",
            &message[..end],
            message.len()
        )
    };
    match error {
        GuestError::InvalidInput(m) => GuestError::InvalidInput(cap(m)),
        GuestError::NotFound(m) => GuestError::NotFound(cap(m)),
        GuestError::Unsupported(m) => GuestError::Unsupported(cap(m)),
        GuestError::Denied(m) => GuestError::Denied(cap(m)),
        GuestError::LimitExceeded(m) => GuestError::LimitExceeded(cap(m)),
        GuestError::Failed(m) => GuestError::Failed(cap(m)),
    }
}

/// One line of `plugin list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSummary {
    /// The plugin's name (what calls use).
    pub name: String,
    /// Its kind, from the interface it exports.
    pub kind: PluginKind,
    /// Its own version from `plugin.toml` (`unversioned` when absent).
    pub version: String,
    /// Where it was loaded from: `builtin`, or the path of its `.wasm`.
    pub source: String,
    /// One line from `plugin.toml` (may be empty).
    pub description: String,
    /// Model families a template is meant for (`families` in `plugin.toml`).
    pub families: Vec<String>,
    /// Capabilities its `plugin.toml` asks for, e.g. `memory_mb=256`, `dirs=/srv/data`.
    pub capabilities_requested: Vec<String>,
    /// The subset the operator granted (and that is in effect).
    pub capabilities_granted: Vec<String>,
    /// Load-time remarks: ungranted capabilities, unknown manifest keys, overrides.
    pub warnings: Vec<String>,
    /// Memory limit of each call in MiB.
    pub memory_limit_mb: u64,
    /// Time limit of each call in ms (of guest time).
    pub timeout_ms: u64,
}

/// One interface a component imports or exports, with its functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceInfo {
    /// Full name, e.g. `shimmy:plugin/template@0.1.0` or `wasi:cli/environment@0.2.6`.
    pub name: String,
    /// Function (and resource) names in it.
    pub functions: Vec<String>,
}

/// What a component's type says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// The kind, from its `shimmy:plugin` export.
    pub kind: PluginKind,
    /// The world it targets, e.g. `shimmy:plugin/template-plugin@0.1.0`.
    pub world: String,
    /// The contract version it was built against, e.g. `0.1.0`.
    pub contract_version: String,
    /// Its exports.
    pub exports: Vec<InterfaceInfo>,
    /// Its imports.
    pub imports: Vec<InterfaceInfo>,
}

/// Splits `ns:pkg/iface@ver` into (`ns:pkg`, `iface`, `ver`).
fn split_interface(name: &str) -> Option<(&str, &str, Option<&str>)> {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    let (pkg, iface) = path.split_once('/')?;
    Some((pkg, iface, version))
}

fn interface_info(engine: &Engine, name: &str, item: &ComponentItem) -> InterfaceInfo {
    let functions = match item {
        ComponentItem::ComponentInstance(inst) => inst
            .exports(engine)
            .filter_map(|(n, e)| match e.ty {
                ComponentItem::ComponentFunc(_) | ComponentItem::Resource(_) => Some(n.to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    InterfaceInfo {
        name: name.to_owned(),
        functions,
    }
}

/// Reads the component's imports and exports (without instantiating it), checks the contract
/// version and finds the plugin's kind.
pub(crate) fn inspect_component(
    engine: &Engine,
    component: &Component,
    plugin: &str,
) -> Result<ComponentInfo> {
    let ty = component.component_type();
    let exports: Vec<InterfaceInfo> = ty
        .exports(engine)
        .map(|(n, e)| interface_info(engine, n, &e.ty))
        .collect();
    let imports: Vec<InterfaceInfo> = ty
        .imports(engine)
        .map(|(n, e)| interface_info(engine, n, &e.ty))
        .collect();
    let supported = SUPPORTED_CONTRACT_VERSIONS
        .iter()
        .map(|v| format!("{CONTRACT_PACKAGE}@{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Any use of the contract package at another version is refused, with both versions.
    for i in exports.iter().chain(imports.iter()) {
        if let Some((pkg, _, version)) = split_interface(&i.name) {
            if pkg == CONTRACT_PACKAGE
                && !version.is_some_and(|v| SUPPORTED_CONTRACT_VERSIONS.contains(&v))
            {
                return Err(PluginError::UnsupportedVersion {
                    plugin: plugin.to_owned(),
                    found: match version {
                        Some(v) => format!("{CONTRACT_PACKAGE}@{v} ({})", i.name),
                        None => format!("an unversioned {CONTRACT_PACKAGE} ({})", i.name),
                    },
                    supported: supported.clone(),
                    supported_version: SUPPORTED_CONTRACT_VERSIONS[0].to_owned(),
                });
            }
        }
    }
    let mut kinds = Vec::new();
    let mut version = String::new();
    for e in &exports {
        if let Some((CONTRACT_PACKAGE, iface, Some(v))) = split_interface(&e.name) {
            let k = match iface {
                "template" => PluginKind::Template,
                "tool" => PluginKind::Tool,
                "workflow" => PluginKind::Workflow,
                _ => continue,
            };
            kinds.push(k);
            version = v.to_owned();
        }
    }
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            let names: Vec<&str> = exports.iter().map(|e| e.name.as_str()).collect();
            return Err(PluginError::Incompatible {
                plugin: plugin.to_owned(),
                reason: format!(
                    "is not a shimmy plugin: it exports none of {CONTRACT_PACKAGE}/template, \
                     /tool, /workflow @{} (exports: {})",
                    SUPPORTED_CONTRACT_VERSIONS[0],
                    if names.is_empty() {
                        "nothing".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            });
        }
        _ => {
            return Err(PluginError::Incompatible {
                plugin: plugin.to_owned(),
                reason: "exports more than one of template, tool, workflow; a plugin is one kind"
                    .into(),
            })
        }
    };
    // Imports: the contract interfaces of its world, and WASI; nothing else.
    for i in &imports {
        let ok = match split_interface(&i.name) {
            Some((CONTRACT_PACKAGE, iface, _)) => match iface {
                "types" | "log" | "config" => true,
                "inference" | "tools" => kind == PluginKind::Workflow,
                _ => false,
            },
            Some((pkg, _, _)) => pkg.starts_with("wasi:"),
            None => false,
        };
        if !ok {
            return Err(PluginError::Incompatible {
                plugin: plugin.to_owned(),
                reason: format!(
                    "imports {}, which this host does not provide to {kind} plugins \
                     (world {CONTRACT_PACKAGE}/{}@{version})",
                    i.name,
                    kind.world()
                ),
            });
        }
    }
    Ok(ComponentInfo {
        kind,
        world: format!("{CONTRACT_PACKAGE}/{}@{version}", kind.world()),
        contract_version: version,
        exports,
        imports,
    })
}

struct ResolvedCaps {
    memory_mb: u64,
    dirs: Vec<PathBuf>,
    requested: Vec<String>,
    granted: Vec<String>,
    warnings: Vec<String>,
}

/// Applies the operator's grants to what the manifest asks for.
fn resolve_capabilities(name: &str, m: &Manifest, cfg: &RuntimeConfig) -> ResolvedCaps {
    let g = &cfg.grants;
    let caps = &m.capabilities;
    let mut r = ResolvedCaps {
        memory_mb: cfg.memory_mb,
        dirs: Vec::new(),
        requested: Vec::new(),
        granted: Vec::new(),
        warnings: Vec::new(),
    };
    let hint = |c: Capability| format!("--plugin-grant {name}:{c}");
    if let Some(mb) = caps.memory_mb {
        let item = format!("memory_mb={mb}");
        r.requested.push(item.clone());
        if mb <= cfg.memory_mb || g.allows(name, Capability::Memory) {
            // Asking for less than the default never needs a grant.
            r.memory_mb = mb;
            r.granted.push(item);
        } else {
            r.warnings.push(format!(
                "capability memory_mb = {mb} not granted ({}); its limit stays {} MiB",
                hint(Capability::Memory),
                cfg.memory_mb
            ));
        }
    }
    let mut dirs: Vec<PathBuf> = caps.dirs.clone();
    for d in g.dirs_for(name) {
        if !dirs.contains(d) {
            dirs.push(d.clone());
        }
    }
    for d in &dirs {
        let item = format!("dirs={}", d.display());
        r.requested.push(item.clone());
        if !g.allows(name, Capability::Dirs) {
            r.warnings.push(format!(
                "capability dirs = \"{}\" not granted ({}); the plugin sees no files",
                d.display(),
                hint(Capability::Dirs)
            ));
        } else if !d.is_dir() {
            r.warnings.push(format!(
                "granted directory \"{}\" does not exist or is not a directory; not opened",
                d.display()
            ));
        } else {
            r.dirs.push(d.clone());
            r.granted.push(item);
        }
    }
    for h in &caps.hosts {
        let item = format!("hosts={h}");
        r.requested.push(item.clone());
        if g.allows(name, Capability::Hosts) {
            r.granted.push(item);
        } else {
            r.warnings.push(format!(
                "capability hosts = \"{h}\" not granted ({})",
                hint(Capability::Hosts)
            ));
        }
    }
    if caps.hosts.iter().any(|_| g.allows(name, Capability::Hosts)) {
        r.warnings.push(
            "granted hosts are recorded only: the contract has no network import and WASI \
             sockets are always off"
                .into(),
        );
    }
    r
}

/// Turns a failed call into an error that names the plugin and the reason.
fn classify(plugin: &LoadedPlugin, state: &HostState, e: wasmtime::Error) -> PluginError {
    let name = plugin.summary.name.clone();
    tracing::debug!(plugin = %name, "plugin call failed: {e:?}");
    if state.clock.timed_out {
        return PluginError::Timeout {
            plugin: name,
            timeout_ms: state.clock.timeout.as_millis() as u64,
        };
    }
    if state.limits.memory_exceeded {
        return PluginError::MemoryLimit {
            plugin: name,
            limit_mb: (plugin.memory_limit / (1024 * 1024)) as u64,
        };
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        let detail = state
            .stderr_tail()
            .map(|t| format!("; guest stderr: {t}"))
            .unwrap_or_default();
        return PluginError::Trap {
            plugin: name,
            trap: trap.to_string(),
            detail,
        };
    }
    PluginError::Misbehaved {
        plugin: name,
        reason: root_message(&e),
    }
}

/// The innermost message of a wasmtime error (without the backtrace context).
fn root_message(e: &wasmtime::Error) -> String {
    let msgs: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    // Skip the "error while executing at wasm backtrace" context wasmtime adds.
    let useful: Vec<&String> = msgs
        .iter()
        .filter(|m| !m.starts_with("error while executing at wasm backtrace"))
        .collect();
    match useful.as_slice() {
        [] => msgs.join(": "),
        v => v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(": "),
    }
}

/// Builds the linker of one world: WASI p2 (sandboxed per call by its `WasiCtx`) and the
/// contract's imports.
fn make_linker(engine: &Engine, kind: PluginKind) -> Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    let err = |e: wasmtime::Error| PluginError::Runtime(format!("linker ({kind}): {e:#}"));
    wasmtime_wasi::p2::add_to_linker_async(&mut l).map_err(err)?;
    match kind {
        PluginKind::Template => {
            template::TemplatePlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut l, |s| s)
        }
        PluginKind::Tool => {
            tool::ToolPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut l, |s| s)
        }
        PluginKind::Workflow => {
            workflow::WorkflowPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut l, |s| s)
        }
    }
    .map_err(err)?;
    Ok(l)
}

/// The linker of workflows built against 0.1.1 or 0.1.0: their `inference` is 0.1.1's (see
/// `v011.rs`).
fn make_workflow_011_linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    let err = |e: wasmtime::Error| PluginError::Runtime(format!("linker (workflow 0.1.1): {e:#}"));
    wasmtime_wasi::p2::add_to_linker_async(&mut l).map_err(err)?;
    workflow_011::WorkflowPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut l, |s| s)
        .map_err(err)?;
    Ok(l)
}

// ---- epoch ticker ------------------------------------------------------------------------

/// Background thread that advances the epoch every [`EPOCH_TICK`] while any call runs (it
/// sleeps while none does).
struct Ticker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

struct TickerShared {
    active: AtomicUsize,
    stop: AtomicBool,
}

/// Marks a call as running while alive.
pub(crate) struct ActiveCall<'a>(&'a Ticker);

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let shared = Arc::new(TickerShared {
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("shimmy-plugin-epoch".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Acquire) {
                    if s.active.load(Ordering::Acquire) == 0 {
                        std::thread::park_timeout(Duration::from_millis(500));
                        continue;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch ticker thread");
        Ticker {
            shared,
            thread: Some(thread),
        }
    }

    fn enter(&self) -> ActiveCall<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0 {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
        ActiveCall(self)
    }
}

impl Drop for ActiveCall<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
