//! `shimmy-plugins`: the sandboxed WebAssembly plugin runtime of shimmy-host.
//!
//! Prompt templates, tools and workflows are WebAssembly components that implement the WIT
//! contract `shimmy:plugin@0.1.2` (`wit/0.1.2`; templates and workflows built against `0.1.1`
//! or `0.1.0` are served through adapters, tools of every version are the same). They run in
//! wasmtime with:
//!
//! * one [`Engine`](wasmtime::Engine) (Cranelift, component model, async, epoch interruption),
//!   each plugin compiled once (and cached on disk, see [`RuntimeConfig::cache_dir`]) and
//!   pre-linked into an `InstancePre`;
//! * a fresh store and instance per call, so a plugin that trapped is fine on the next call
//!   (a streamed answer's [`OutputParser`] keeps one instance for the whole answer);
//! * one typed call path: every export is a `Call` run by one function that checks the kind,
//!   applies the time limit, classifies failures and bounds the returned data;
//! * a sandbox: WASI with no files, no network, no environment, no arguments, stdio captured
//!   into the log; a time limit ([`RuntimeConfig::timeout_ms`]), a memory limit
//!   ([`RuntimeConfig::memory_mb`]), instance/table limits and a bound on returned data;
//! * capabilities (`[capabilities]` in `plugin.toml`) that only take effect when the operator
//!   grants them ([`Grants`], `--plugin-grant NAME:CAPABILITY`).
//!
//! ```no_run
//! use shimmy_plugins::{PluginRegistry, PluginRuntime, PluginSource, RuntimeConfig, RenderRequest, ChatMessage};
//! # async fn demo() -> shimmy_plugins::Result<()> {
//! let runtime = PluginRuntime::new(RuntimeConfig::default())?;
//! let sources = PluginSource::standard(shimmy_plugins::builtin::BUILTINS, &[]);
//! let registry = PluginRegistry::load(&runtime, &sources)?;
//! let req = RenderRequest { messages: vec![ChatMessage::new("user", "Hi")], ..Default::default() };
//! let rendered = registry.render_template("chatml", req).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod bindings;
mod cache;
mod calls;
mod error;
mod grants;
mod host;
mod instance;
mod legacy;
mod manifest;
mod parser;
mod registry;
mod runtime;
mod tool_catalog;
mod types;
mod v011;

pub use error::{ErrorKind, PluginError, Result};
pub use grants::{Capability, Grants, Settings};
pub use host::{GenerationState, WorkflowHost};
pub use manifest::{Capabilities, Manifest, PluginKind};
pub use parser::OutputParser;
pub use registry::{
    BlockingRegistry, BuiltinPlugin, LoadFailure, PluginInspection, PluginRegistry, PluginSource,
};
pub use runtime::{
    ComponentInfo, InterfaceInfo, PluginRuntime, PluginSummary, RuntimeConfig, RuntimeStats,
    CONTRACT_PACKAGE, GRANTED_DIRS_KEY, SUPPORTED_CONTRACT_VERSIONS,
};
pub use shimmy_core::chat::{
    ChatMessage, GenerationOptions, ParseDelta, Parsed, ToolCall, ToolDefinition, Usage,
};
pub use shimmy_core::prompt::{PromptSpan, SpanKind};
pub use tool_catalog::{ToolCatalog, ToolEntry};
pub use types::{
    request_keys, ChatResult, GenerationResult, GuestError, ModelContext, RenderRequest, Rendered,
    RequestSettings, TemplateInfo, WorkflowInfo,
};

/// The plugins built from `plugins/` by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}
