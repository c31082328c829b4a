//! Where plugins come from, the set of loaded plugins, and the typed calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::calls::{self, Call};
use crate::error::{PluginError, Result};
use crate::host::WorkflowHost;
use crate::manifest::{Manifest, PluginKind};
use crate::parser::OutputParser;
use crate::runtime::{
    check_kind, InterfaceInfo, LoadedPlugin, PluginInput, PluginRuntime, PluginSummary,
};
use crate::types::{RenderRequest, Rendered, RequestSettings, TemplateInfo, WorkflowInfo};
use shimmy_core::chat::{ParseDelta, Parsed, ToolDefinition};

/// A built-in plugin: `(name, wasm bytes, plugin.toml text)`, embedded in the binary.
pub type BuiltinPlugin = (&'static str, &'static [u8], &'static str);

/// One place plugins are loaded from. Sources are loaded in order; a plugin of the same name
/// from a later source replaces the earlier one (reported in its `warnings`).
#[derive(Debug, Clone)]
pub enum PluginSource {
    /// Plugins compiled into the binary (see [`builtin::BUILTINS`](crate::builtin::BUILTINS)).
    Builtin(&'static [BuiltinPlugin]),
    /// A directory given with `--plugin-dir`; it must exist. Each subdirectory holding a
    /// `.wasm` and a `plugin.toml`, and each `X.wasm` with an `X.toml` beside it, is a plugin.
    Dir(PathBuf),
    /// Like [`PluginSource::Dir`], but a missing directory is skipped silently (used for
    /// `~/.local/share/shimmy/plugins`).
    OptionalDir(PathBuf),
    /// One plugin: an `X.wasm` file (manifest `X.toml` or `plugin.toml` beside it) or a plugin
    /// directory.
    Path(PathBuf),
    /// One plugin whose wasm and manifest live apart (e.g. a build output and its crate).
    Files {
        /// The component.
        wasm: PathBuf,
        /// Its `plugin.toml`.
        manifest: PathBuf,
    },
}

impl PluginSource {
    /// The per-user plugin directory, `~/.local/share/shimmy/plugins` on Linux.
    pub fn user_dir() -> Option<PathBuf> {
        dirs::data_local_dir().map(|d| d.join("shimmy").join("plugins"))
    }

    /// The standard order: the built-ins, then the per-user directory (if it exists), then
    /// each `--plugin-dir` in the order given.
    pub fn standard(builtins: &'static [BuiltinPlugin], plugin_dirs: &[PathBuf]) -> Vec<Self> {
        let mut v = vec![PluginSource::Builtin(builtins)];
        if let Some(d) = PluginSource::user_dir() {
            v.push(PluginSource::OptionalDir(d));
        }
        v.extend(plugin_dirs.iter().cloned().map(PluginSource::Dir));
        v
    }
}

/// A plugin that could not be loaded (the others still are).
#[derive(Debug)]
pub struct LoadFailure {
    /// Where it came from (`builtin:NAME` or a path).
    pub source: String,
    /// Why.
    pub error: PluginError,
}

/// What `plugin inspect` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInspection {
    /// The `plugin list` line.
    pub summary: PluginSummary,
    /// The world the component targets, e.g. `shimmy:plugin/template-plugin@0.1.0`.
    pub world: String,
    /// The contract version it was built against.
    pub contract_version: String,
    /// Its exported interfaces and their functions.
    pub exports: Vec<InterfaceInfo>,
    /// Its imported interfaces and their functions.
    pub imports: Vec<InterfaceInfo>,
    /// Its parsed `plugin.toml`.
    pub manifest: Manifest,
    /// The `[config]` the plugin sees (manifest merged with operator settings).
    pub effective_config: BTreeMap<String, String>,
}

/// The loaded plugins, by name, ready to be called.
///
/// Each plugin is compiled (or loaded from the disk cache) and pre-linked once; each call
/// instantiates it afresh in its own store, with the time and memory limits of the runtime,
/// so a call that traps, times out or runs out of memory fails alone and the next call works.
/// `Send + Sync`: share it behind an `Arc`.
pub struct PluginRegistry {
    runtime: PluginRuntime,
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    failures: Vec<LoadFailure>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .field("failures", &self.failures)
            .finish()
    }
}

/// A plugin found in a source, not loaded yet.
struct Candidate {
    name_hint: String,
    wasm: PathBuf,
    manifest: PathBuf,
}

impl PluginRegistry {
    /// Loads every plugin of `sources`, in order (later ones override earlier ones of the same
    /// name). A plugin that fails to load is skipped and recorded in
    /// [`failures`](Self::failures) (and logged); only an unreadable [`PluginSource::Dir`]
    /// fails the whole load. Compiling is CPU-bound and blocking: call this at startup, or
    /// from `spawn_blocking`.
    pub fn load(runtime: &PluginRuntime, sources: &[PluginSource]) -> Result<PluginRegistry> {
        let mut reg = PluginRegistry {
            runtime: runtime.clone(),
            plugins: BTreeMap::new(),
            failures: Vec::new(),
        };
        for source in sources {
            match source {
                PluginSource::Builtin(list) => {
                    for (name, wasm, manifest) in list.iter() {
                        let label = format!("builtin:{name}");
                        let r = Manifest::parse(manifest, format!("{label}/plugin.toml"))
                            .and_then(|m| {
                                if m.name.as_deref().is_some_and(|n| n != *name) {
                                    tracing::warn!(
                                        "built-in plugin \"{name}\" is named \"{}\" in its manifest; using the manifest's name",
                                        m.name.as_deref().unwrap_or_default()
                                    );
                                }
                                runtime.load_plugin(PluginInput {
                                    name_hint: name.to_string(),
                                    wasm,
                                    wasm_label: label.clone(),
                                    manifest: m,
                                    source: "builtin".into(),
                                })
                            });
                        reg.add(label, r);
                    }
                }
                PluginSource::Dir(dir) | PluginSource::OptionalDir(dir) => {
                    if matches!(source, PluginSource::OptionalDir(_)) && !dir.exists() {
                        continue;
                    }
                    for c in scan_dir(dir)? {
                        match c {
                            Ok(c) => {
                                let label = c.wasm.display().to_string();
                                let r = load_candidate(runtime, &c);
                                reg.add(label, r);
                            }
                            Err(e) => reg.add(dir.display().to_string(), Err(e)),
                        }
                    }
                }
                PluginSource::Path(p) => {
                    let r = candidate_for_path(p).and_then(|c| load_candidate(runtime, &c));
                    reg.add(p.display().to_string(), r);
                }
                PluginSource::Files { wasm, manifest } => {
                    let c = Candidate {
                        name_hint: stem(wasm).replace('_', "-"),
                        wasm: wasm.clone(),
                        manifest: manifest.clone(),
                    };
                    reg.add(wasm.display().to_string(), load_candidate(runtime, &c));
                }
            }
        }
        for name in runtime.config().grants.plugins() {
            if !reg.plugins.contains_key(name) {
                tracing::warn!("--plugin-grant names plugin \"{name}\", which is not loaded");
            }
        }
        Ok(reg)
    }

    fn add(&mut self, source: String, r: Result<LoadedPlugin>) {
        match r {
            Ok(mut p) => {
                let name = p.summary.name.clone();
                if let Some(old) = self.plugins.get(&name) {
                    let note = format!("overrides plugin \"{name}\" from {}", old.summary.source);
                    tracing::info!(plugin = %name, "{note}");
                    p.summary.warnings.push(note);
                }
                self.plugins.insert(name, Arc::new(p));
            }
            Err(error) => {
                tracing::warn!("plugin not loaded: {error}");
                self.failures.push(LoadFailure { source, error });
            }
        }
    }

    /// The runtime the plugins run on.
    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    /// Every loaded plugin, sorted by name.
    pub fn list(&self) -> Vec<PluginSummary> {
        self.plugins.values().map(|p| p.summary.clone()).collect()
    }

    /// The names of the loaded plugins of one kind.
    pub fn names(&self, kind: PluginKind) -> Vec<String> {
        self.plugins
            .values()
            .filter(|p| p.info.kind == kind)
            .map(|p| p.summary.name.clone())
            .collect()
    }

    /// The summary of one plugin.
    pub fn get(&self, name: &str) -> Option<PluginSummary> {
        self.plugins.get(name).map(|p| p.summary.clone())
    }

    /// Plugins that failed to load, with the reason (a bad manifest, an unsupported contract
    /// version...).
    pub fn failures(&self) -> &[LoadFailure] {
        &self.failures
    }

    /// Fails with the first load failure, if any (for a strict startup).
    pub fn ensure_all_loaded(&self) -> Result<()> {
        match self.failures.first() {
            None => Ok(()),
            Some(f) => Err(clone_error(&f.error)),
        }
    }

    /// Describes a loaded plugin by name, or loads a plugin from a path (an `X.wasm` or a
    /// plugin directory) just to describe it: exports, imports and manifest.
    pub fn inspect(&self, name_or_path: &str) -> Result<PluginInspection> {
        let loaded;
        let p: &LoadedPlugin = match self.plugins.get(name_or_path) {
            Some(p) => p,
            None => {
                let path = Path::new(name_or_path);
                if !path.exists() {
                    return Err(self.not_found(name_or_path));
                }
                let c = candidate_for_path(path)?;
                loaded = load_candidate(&self.runtime, &c)?;
                &loaded
            }
        };
        Ok(PluginInspection {
            summary: p.summary.clone(),
            world: p.info.world.clone(),
            contract_version: p.info.contract_version.clone(),
            exports: p.info.exports.clone(),
            imports: p.info.imports.clone(),
            manifest: p.manifest.clone(),
            effective_config: p.meta.config.clone(),
        })
    }

    fn not_found(&self, name: &str) -> PluginError {
        let names: Vec<&str> = self.plugins.keys().map(String::as_str).collect();
        PluginError::NotFound {
            name: name.to_owned(),
            available: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        }
    }

    fn plugin(&self, name: &str) -> Result<&Arc<LoadedPlugin>> {
        self.plugins.get(name).ok_or_else(|| self.not_found(name))
    }

    /// Runs `call` on a fresh instance of plugin `name` (the one path of every call).
    async fn call<C: Call>(
        &self,
        name: &str,
        host: Option<Arc<dyn WorkflowHost>>,
        call: C,
    ) -> Result<C::Output> {
        self.runtime.call(self.plugin(name)?, host, call).await
    }

    // ---- templates ---------------------------------------------------------------------

    /// Renders a conversation into a prompt with template plugin `name`: the prompt text and
    /// its spans of template text and request content (`render-spans`; for a template of
    /// contract 0.1.0, its `render` of the marked request).
    pub async fn render_template(&self, name: &str, request: RenderRequest) -> Result<Rendered> {
        self.render_template_with(name, request, RequestSettings::new())
            .await
    }

    /// [`Self::render_template`] with settings of this request that the plugin reads through
    /// its `config` import in front of its own (see [`RequestSettings`]).
    pub async fn render_template_with(
        &self,
        name: &str,
        request: RenderRequest,
        settings: RequestSettings,
    ) -> Result<Rendered> {
        self.call(name, None, calls::Render(request, settings))
            .await
    }

    /// Splits raw model output into content, reasoning and tool calls with template `name`.
    pub async fn parse_output(
        &self,
        name: &str,
        output: &str,
        tools: &[ToolDefinition],
    ) -> Result<Parsed> {
        let call = calls::Parse {
            output: output.to_owned(),
            tools: tools.to_vec(),
        };
        self.call(name, None, call).await
    }

    /// A parser for one streamed answer of template `name` to a chat that offered `tools`:
    /// one instance of the plugin for the whole answer (see [`OutputParser`]).
    pub async fn output_parser(
        &self,
        name: &str,
        tools: &[ToolDefinition],
    ) -> Result<OutputParser> {
        self.output_parser_with(name, tools, RequestSettings::new())
            .await
    }

    /// [`Self::output_parser`] for an answer to `prompt` (the rendered prompt): the parser
    /// reads its end as [`request_keys::PROMPT_END`](crate::request_keys::PROMPT_END), so it
    /// knows whether the answer starts inside reasoning the prompt opened.
    pub async fn output_parser_after(
        &self,
        name: &str,
        tools: &[ToolDefinition],
        prompt: &str,
    ) -> Result<OutputParser> {
        use crate::types::request_keys;
        let settings = RequestSettings::from([(
            request_keys::PROMPT_END.to_string(),
            request_keys::prompt_end(prompt).to_string(),
        )]);
        self.output_parser_with(name, tools, settings).await
    }

    /// [`Self::output_parser`] with settings the plugin reads through its `config` import in
    /// front of its own while it parses this answer (see [`RequestSettings`]).
    pub async fn output_parser_with(
        &self,
        name: &str,
        tools: &[ToolDefinition],
        settings: RequestSettings,
    ) -> Result<OutputParser> {
        let p = self.plugin(name)?;
        check_kind(p, PluginKind::Template)?;
        let mut session = self.runtime.session(p.clone(), None).await?;
        session.set_request_settings(settings);
        OutputParser::new(session, tools).await
    }

    /// Asks template plugin `name` to describe itself.
    pub async fn describe_template(&self, name: &str) -> Result<TemplateInfo> {
        self.call(name, None, calls::DescribeTemplate).await
    }

    // ---- tools -------------------------------------------------------------------------

    /// The tools that tool plugin `name` provides.
    pub async fn describe_tools(&self, name: &str) -> Result<Vec<ToolDefinition>> {
        self.call(name, None, calls::DescribeTools).await
    }

    /// Runs tool `tool` of tool plugin `name` with JSON `arguments`; returns its JSON result.
    pub async fn invoke_tool(&self, name: &str, tool: &str, arguments: &str) -> Result<String> {
        let call = calls::InvokeTool {
            tool: tool.to_owned(),
            arguments: arguments.to_owned(),
        };
        self.call(name, None, call).await
    }

    // ---- workflows ---------------------------------------------------------------------

    /// Asks workflow plugin `name` to describe itself.
    pub async fn describe_workflow(&self, name: &str) -> Result<WorkflowInfo> {
        self.call(name, None, calls::DescribeWorkflow).await
    }

    /// Runs workflow plugin `name` on a JSON `input`; its `inference` and `tools` imports are
    /// served by `host`. The time limit counts guest time only (not time inside `host`); to
    /// bound the whole run, drop the future (e.g. `tokio::time::timeout`).
    pub async fn run_workflow(
        &self,
        name: &str,
        input: &str,
        host: Arc<dyn WorkflowHost>,
    ) -> Result<String> {
        self.call(name, Some(host), calls::RunWorkflow(input.to_owned()))
            .await
    }

    /// A blocking front of this registry for code without an async runtime (the CLI).
    pub fn blocking(&self) -> Result<BlockingRegistry<'_>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PluginError::Runtime(format!("cannot start a tokio runtime: {e}")))?;
        Ok(BlockingRegistry { registry: self, rt })
    }
}

/// `PluginError` is not `Clone` (it holds `io::Error`); this rebuilds it for
/// [`PluginRegistry::ensure_all_loaded`].
fn clone_error(e: &PluginError) -> PluginError {
    match e {
        PluginError::Io { path, source } => PluginError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        PluginError::Manifest { path, reason } => PluginError::Manifest {
            path: path.clone(),
            reason: reason.clone(),
        },
        PluginError::Compile {
            plugin,
            path,
            reason,
        } => PluginError::Compile {
            plugin: plugin.clone(),
            path: path.clone(),
            reason: reason.clone(),
        },
        PluginError::UnsupportedVersion {
            plugin,
            found,
            supported,
            supported_version,
        } => PluginError::UnsupportedVersion {
            plugin: plugin.clone(),
            found: found.clone(),
            supported: supported.clone(),
            supported_version: supported_version.clone(),
        },
        PluginError::Incompatible { plugin, reason } => PluginError::Incompatible {
            plugin: plugin.clone(),
            reason: reason.clone(),
        },
        other => PluginError::Runtime(other.to_string()),
    }
}

fn load_candidate(runtime: &PluginRuntime, c: &Candidate) -> Result<LoadedPlugin> {
    let manifest = Manifest::from_file(&c.manifest)?;
    let wasm = std::fs::read(&c.wasm).map_err(|e| PluginError::io(&c.wasm, e))?;
    runtime.load_plugin(PluginInput {
        name_hint: c.name_hint.clone(),
        wasm: &wasm,
        wasm_label: c.wasm.display().to_string(),
        manifest,
        source: c.wasm.display().to_string(),
    })
}

/// Lists the plugins of a directory (sorted). Entries that are not plugins are skipped; a
/// half plugin (a `.wasm` without a manifest) is reported as an error entry.
fn scan_dir(dir: &Path) -> Result<Vec<Result<Candidate>>> {
    let rd = std::fs::read_dir(dir).map_err(|e| PluginError::io(dir, e))?;
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            if wasm_files(&p).is_empty() {
                tracing::debug!("{}: no .wasm inside; not a plugin", p.display());
                continue;
            }
            out.push(candidate_for_dir(&p));
        } else if p.extension().is_some_and(|e| e == "wasm") {
            out.push(candidate_for_file(&p));
        }
    }
    Ok(out)
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .or_else(|| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn candidate_for_path(p: &Path) -> Result<Candidate> {
    if p.is_dir() {
        candidate_for_dir(p)
    } else if p.exists() {
        candidate_for_file(p)
    } else {
        Err(PluginError::io(
            p,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ))
    }
}

/// A plugin directory: one `.wasm` (or `DIR.wasm` / `plugin.wasm` among several) and
/// `plugin.toml` (or `X.toml` for `X.wasm`).
fn candidate_for_dir(dir: &Path) -> Result<Candidate> {
    let name = stem(dir);
    let wasms = wasm_files(dir);
    let wasm = match wasms.as_slice() {
        [] => {
            return Err(PluginError::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no .wasm file in the plugin directory",
                ),
            ))
        }
        [one] => one.clone(),
        many => many
            .iter()
            .find(|w| stem(w) == name || stem(w) == "plugin")
            .cloned()
            .ok_or_else(|| {
                PluginError::manifest(
                    dir.join("plugin.toml"),
                    format!(
                    "{} holds several .wasm files; name the plugin's {name}.wasm or plugin.wasm",
                    dir.display()
                ),
                )
            })?,
    };
    let manifest = [dir.join("plugin.toml"), wasm.with_extension("toml")]
        .into_iter()
        .find(|m| m.is_file())
        .unwrap_or_else(|| dir.join("plugin.toml"));
    Ok(Candidate {
        name_hint: name,
        wasm,
        manifest,
    })
}

/// `X.wasm`: manifest `X.toml`, or `plugin.toml` beside it when it is the only `.wasm` there.
fn candidate_for_file(wasm: &Path) -> Result<Candidate> {
    let own = wasm.with_extension("toml");
    let manifest = if own.is_file() {
        own
    } else {
        let dir = wasm.parent().unwrap_or(Path::new("."));
        let shared = dir.join("plugin.toml");
        if shared.is_file() && wasm_files(dir).len() == 1 {
            shared
        } else {
            own
        }
    };
    Ok(Candidate {
        name_hint: stem(wasm),
        wasm: wasm.to_path_buf(),
        manifest,
    })
}

/// The blocking front returned by [`PluginRegistry::blocking`]: the same calls, run to
/// completion on a private current-thread tokio runtime.
pub struct BlockingRegistry<'a> {
    registry: &'a PluginRegistry,
    rt: tokio::runtime::Runtime,
}

impl BlockingRegistry<'_> {
    /// See [`PluginRegistry::render_template`].
    pub fn render_template(&self, name: &str, request: RenderRequest) -> Result<Rendered> {
        self.rt
            .block_on(self.registry.render_template(name, request))
    }
    /// See [`PluginRegistry::parse_output`].
    pub fn parse_output(
        &self,
        name: &str,
        output: &str,
        tools: &[ToolDefinition],
    ) -> Result<Parsed> {
        self.rt
            .block_on(self.registry.parse_output(name, output, tools))
    }
    /// Parses an answer that arrives in `pieces` with template `name`'s output parser (one
    /// instance for all of them): what each piece made visible, and the final parse.
    pub fn parse_streamed(
        &self,
        name: &str,
        pieces: &[&str],
        tools: &[ToolDefinition],
    ) -> Result<(Vec<ParseDelta>, Parsed)> {
        self.rt.block_on(async {
            let mut parser = self.registry.output_parser(name, tools).await?;
            let mut deltas = Vec::new();
            for piece in pieces {
                deltas.push(parser.push(piece).await?);
            }
            Ok((deltas, parser.finish().await?))
        })
    }
    /// See [`PluginRegistry::describe_template`].
    pub fn describe_template(&self, name: &str) -> Result<TemplateInfo> {
        self.rt.block_on(self.registry.describe_template(name))
    }
    /// See [`PluginRegistry::describe_tools`].
    pub fn describe_tools(&self, name: &str) -> Result<Vec<ToolDefinition>> {
        self.rt.block_on(self.registry.describe_tools(name))
    }
    /// See [`PluginRegistry::invoke_tool`].
    pub fn invoke_tool(&self, name: &str, tool: &str, arguments: &str) -> Result<String> {
        self.rt
            .block_on(self.registry.invoke_tool(name, tool, arguments))
    }
    /// See [`PluginRegistry::describe_workflow`].
    pub fn describe_workflow(&self, name: &str) -> Result<WorkflowInfo> {
        self.rt.block_on(self.registry.describe_workflow(name))
    }
    /// See [`PluginRegistry::run_workflow`].
    pub fn run_workflow(
        &self,
        name: &str,
        input: &str,
        host: Arc<dyn WorkflowHost>,
    ) -> Result<String> {
        self.rt
            .block_on(self.registry.run_workflow(name, input, host))
    }
}
