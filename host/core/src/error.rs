//! The one error enum of `shimmy-core` and of the backends built on it.
//!
//! Every message names the thing that went wrong (a file, an option, a number) and, where
//! there is one, the fix. The HTTP layer maps these variants to status codes in one place.

use std::path::PathBuf;

/// Result alias used across the core crate and the backends.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong below the CLI / HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- files and GGUF ---------------------------------------------------------------
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a GGUF model (wrong magic bytes).
    #[error("{path}: not a GGUF file (magic bytes {found:?}, expected \"GGUF\"); pass a .gguf model file")]
    NotGguf {
        /// The file involved.
        path: PathBuf,
        /// The first four bytes found.
        found: String,
    },
    /// The GGUF header or tensor table is malformed (truncated, absurd counts, bad types...).
    #[error("{path}: invalid GGUF: {reason}")]
    InvalidGguf {
        /// The file involved.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The model's architecture is not one llama.cpp knows.
    #[error(
        "{path}: unknown architecture \"{arch}\"; this build of llama.cpp supports: {supported}"
    )]
    UnknownArchitecture {
        /// The file involved.
        path: PathBuf,
        /// The value of `general.architecture`.
        arch: String,
        /// A short list of supported architectures.
        supported: String,
    },

    /// The path exists but is not a regular file (a directory, a device...).
    #[error("{path}: is {what}, not a regular file; pass the path of a .gguf model file")]
    NotAFile {
        /// The path involved.
        path: PathBuf,
        /// What it is instead, e.g. `a directory`.
        what: String,
    },

    // ---- discovery --------------------------------------------------------------------
    /// A model name did not resolve to a file.
    #[error("model \"{name}\" not found{hint}")]
    ModelNotFound {
        /// The name or path asked for.
        name: String,
        /// Extra help: close names, where we looked.
        hint: String,
    },

    // ---- options and requests ---------------------------------------------------------
    /// An option value is invalid (conflicting flags, out of range...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The prompt does not fit in the context window.
    #[error("prompt is {prompt_tokens} tokens but the context holds {n_ctx} tokens; shorten the prompt or raise --ctx-size")]
    PromptTooLong {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// The context size in tokens.
        n_ctx: usize,
    },

    /// The prompt plus the requested completion length do not fit in a sequence's context.
    #[error("the prompt is {prompt_tokens} tokens and max_tokens is {max_tokens}, {total} in all, but the context holds {n_ctx} tokens per sequence; shorten the prompt, lower max_tokens or raise --ctx-size")]
    ContextExceeded {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Tokens asked for.
        max_tokens: usize,
        /// Their sum.
        total: usize,
        /// Context size per sequence.
        n_ctx: usize,
    },
    /// The scheduler's queue is full.
    #[error("the server is busy: {queued} requests are already waiting (--max-queue {max_queue}); retry shortly")]
    QueueFull {
        /// Requests waiting now.
        queued: usize,
        /// The configured limit.
        max_queue: usize,
    },
    /// The model's scheduler has stopped (model unloaded) before the request finished.
    #[error("the model \"{model}\" was unloaded before the request could finish; retry")]
    Unloaded {
        /// The model's name or path.
        model: String,
    },

    // ---- backend ----------------------------------------------------------------------
    /// The backend could not be initialised (libraries missing, no device...).
    #[error("backend initialisation failed: {0}")]
    BackendInit(String),
    /// llama.cpp refused to load the model.
    #[error("{path}: failed to load the model: {reason}")]
    ModelLoad {
        /// The file involved.
        path: PathBuf,
        /// What llama.cpp or the host reported.
        reason: String,
    },
    /// Tokenization or detokenization failed.
    #[error("tokenizer error: {0}")]
    Tokenize(String),
    /// Evaluating a batch failed inside llama.cpp.
    #[error("inference failed: {0}")]
    Inference(String),
    /// An rpc worker holding some of the model's layers is down, was lost mid-request, or
    /// speaks another ggml RPC protocol version (the message names it and what to do).
    #[error("rpc worker {endpoint} {problem}")]
    RpcWorker {
        /// The worker, `HOST:PORT` as given to `--rpc`.
        endpoint: String,
        /// What is wrong and what to do.
        problem: String,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::InvalidGguf`] for `path`.
    pub fn invalid_gguf(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::InvalidGguf {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
