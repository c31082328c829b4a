//! The one error enum of `shimmy-plugins`.
//!
//! Every message names the plugin (or the file) involved and the reason; [`PluginError::kind`]
//! says what kind of failure it is. Nothing here knows about HTTP: the server maps kinds to
//! status codes in its one error mapping.

use std::path::PathBuf;

use crate::types::GuestError;

/// Result alias used across the crate.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// Everything that can go wrong when loading or calling a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    // ---- configuration ----------------------------------------------------------------
    /// A `--plugin-grant` (or `--plugin-config`) value could not be parsed.
    #[error("invalid {what} \"{spec}\": {reason}")]
    InvalidSpec {
        /// What was being parsed, e.g. `--plugin-grant`.
        what: &'static str,
        /// The value given.
        spec: String,
        /// What is wrong with it and the expected form.
        reason: String,
    },
    /// The runtime could not be set up (engine, linker, cache directory...).
    #[error("plugin runtime: {0}")]
    Runtime(String),

    // ---- loading ----------------------------------------------------------------------
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `plugin.toml` is missing or malformed.
    #[error("{path}: invalid plugin manifest: {reason}")]
    Manifest {
        /// The manifest file (or where it was expected).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A `.wasm` file is not a valid WebAssembly component, or failed to compile.
    #[error("plugin \"{plugin}\": cannot compile {path}: {reason}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// Where the wasm came from (a path or `builtin`).
        path: String,
        /// The compiler's message.
        reason: String,
    },
    /// The component targets a version of the plugin contract this host does not support.
    #[error(
        "plugin \"{plugin}\": built for {found} but this host supports {supported}; \
         rebuild the plugin against the host's WIT (wit/{supported_version}/)"
    )]
    UnsupportedVersion {
        /// The plugin's name.
        plugin: String,
        /// The package and version the component uses, e.g. `shimmy:plugin@9.0.0`.
        found: String,
        /// The package and version(s) the host supports, e.g. `shimmy:plugin@0.1.0`.
        supported: String,
        /// Only the supported version number, e.g. `0.1.0`.
        supported_version: String,
    },
    /// The component is not a plugin of a known kind, or its imports cannot be satisfied.
    #[error("plugin \"{plugin}\": {reason}")]
    Incompatible {
        /// The plugin's name.
        plugin: String,
        /// What does not match (missing exports, unknown imports, kind mismatch...).
        reason: String,
    },

    // ---- lookup -----------------------------------------------------------------------
    /// No plugin of that name is loaded.
    #[error("plugin \"{name}\" not found; loaded plugins: {available}")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The names that are loaded (comma separated, or `none`).
        available: String,
    },
    /// The plugin exists but is of another kind than the call needs.
    #[error("plugin \"{plugin}\" is a {actual} plugin, not a {expected} plugin")]
    WrongKind {
        /// The plugin's name.
        plugin: String,
        /// The kind the call needs.
        expected: crate::PluginKind,
        /// The plugin's kind.
        actual: crate::PluginKind,
    },

    /// No tool plugin offers a tool of that name.
    #[error("no tool \"{name}\"; available tools: {available}")]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The tools there are (comma separated, or `none`).
        available: String,
    },
    /// A tool call's arguments do not validate against the tool's schema.
    #[error("tool \"{tool}\": invalid arguments at {field}: {reason}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// The failing field as a JSON pointer (`/` for the whole object).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A tool's own argument schema is not a usable JSON schema (the plugin's bug).
    #[error("tool \"{tool}\": {reason}; fix the plugin's tool definition")]
    InvalidToolSchema {
        /// The tool.
        tool: String,
        /// What is wrong with the schema.
        reason: String,
    },

    // ---- calls ------------------------------------------------------------------------
    /// The call ran past its time limit (time spent in the guest, not in host calls).
    #[error("plugin \"{plugin}\": timed out after {timeout_ms} ms")]
    Timeout {
        /// The plugin's name.
        plugin: String,
        /// The limit that was reached.
        timeout_ms: u64,
    },
    /// The plugin tried to grow its memory past its limit.
    #[error("plugin \"{plugin}\": exceeded its {limit_mb} MiB memory limit")]
    MemoryLimit {
        /// The plugin's name.
        plugin: String,
        /// The limit in MiB.
        limit_mb: u64,
    },
    /// The plugin trapped (panicked, hit `unreachable`, overflowed its stack...).
    #[error("plugin \"{plugin}\": trapped: {trap}{detail}")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// The trap, e.g. `wasm trap: call stack exhausted`.
        trap: String,
        /// Extra context, e.g. the guest's panic message from its stderr (starts with `; `).
        detail: String,
    },
    /// The plugin broke the calling convention: returned data that cannot be read (bad
    /// pointers, invalid UTF-8, bad discriminants), exceeded a table/instance limit, and so on.
    #[error("plugin \"{plugin}\": misbehaved: {reason}")]
    Misbehaved {
        /// The plugin's name.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
    /// The plugin returned more data than the host accepts.
    #[error("plugin \"{plugin}\": returned {size} bytes of {what}, over the {limit} byte limit")]
    OutputTooLarge {
        /// The plugin's name.
        plugin: String,
        /// What was too large, e.g. `rendered prompt`.
        what: &'static str,
        /// Bytes returned.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The plugin ran and returned a `plugin-error` (its own, well-formed failure).
    #[error("plugin \"{plugin}\": {error}")]
    Guest {
        /// The plugin's name.
        plugin: String,
        /// The error the plugin returned.
        error: GuestError,
    },
}

/// What kind of failure a [`PluginError`] is, for callers that map failures (to HTTP statuses,
/// to a workflow's `plugin-error`...) without naming every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The runtime or an operator setting is wrong (the operator's problem).
    Config,
    /// A plugin could not be loaded (bad file, manifest, contract version...).
    Load,
    /// No such plugin or tool; or the plugin said something does not exist.
    NotFound,
    /// The plugin is of another kind than the call needs.
    WrongKind,
    /// The input was refused: a tool call's arguments, or the plugin's own `invalid-input`.
    InvalidInput,
    /// The call ran past its time limit.
    Timeout,
    /// The plugin ran out of its memory limit.
    OutOfMemory,
    /// The plugin trapped (panicked, stack overflow...).
    Trap,
    /// The plugin broke the calling convention or returned unusable data (bad output, too
    /// much output, an invalid tool schema).
    BadOutput,
    /// The plugin said the operation is not supported.
    Unsupported,
    /// A capability was not granted.
    Denied,
    /// The plugin said a limit was reached.
    LimitExceeded,
    /// The plugin failed for its own reason (its `failed`).
    Failed,
}

impl PluginError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PluginError::InvalidSpec { .. } | PluginError::Runtime(_) => ErrorKind::Config,
            PluginError::Io { .. }
            | PluginError::Manifest { .. }
            | PluginError::Compile { .. }
            | PluginError::UnsupportedVersion { .. }
            | PluginError::Incompatible { .. } => ErrorKind::Load,
            PluginError::NotFound { .. } | PluginError::UnknownTool { .. } => ErrorKind::NotFound,
            PluginError::WrongKind { .. } => ErrorKind::WrongKind,
            PluginError::InvalidArguments { .. } => ErrorKind::InvalidInput,
            PluginError::Timeout { .. } => ErrorKind::Timeout,
            PluginError::MemoryLimit { .. } => ErrorKind::OutOfMemory,
            PluginError::Trap { .. } => ErrorKind::Trap,
            PluginError::InvalidToolSchema { .. }
            | PluginError::Misbehaved { .. }
            | PluginError::OutputTooLarge { .. } => ErrorKind::BadOutput,
            PluginError::Guest { error, .. } => match error {
                GuestError::InvalidInput(_) => ErrorKind::InvalidInput,
                GuestError::NotFound(_) => ErrorKind::NotFound,
                GuestError::Unsupported(_) => ErrorKind::Unsupported,
                GuestError::Denied(_) => ErrorKind::Denied,
                GuestError::LimitExceeded(_) => ErrorKind::LimitExceeded,
                GuestError::Failed(_) => ErrorKind::Failed,
            },
        }
    }

    /// The name of the plugin involved, if the error is about one plugin.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::Compile { plugin, .. }
            | PluginError::UnsupportedVersion { plugin, .. }
            | PluginError::Incompatible { plugin, .. }
            | PluginError::WrongKind { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::MemoryLimit { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Misbehaved { plugin, .. }
            | PluginError::OutputTooLarge { plugin, .. }
            | PluginError::Guest { plugin, .. } => Some(plugin),
            PluginError::NotFound { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Builds a [`PluginError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PluginError::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a [`PluginError::Manifest`] for `path`.
    pub fn manifest(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        PluginError::Manifest {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
