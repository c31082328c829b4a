//! The one error enum of the hub client.

use std::path::PathBuf;

/// Everything pulling a model can fail with. Messages name the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The model reference cannot be parsed.
    #[error("\"{reference}\" is not a Hugging Face model: {reason}")]
    BadReference {
        /// What was asked for.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The hub does not have the repository (or hides it: private and no token).
    #[error("repository {repo} not found on {endpoint} (check the name; a private repository needs HF_TOKEN)")]
    RepoNotFound {
        /// `org/name`.
        repo: String,
        /// The hub asked.
        endpoint: String,
    },
    /// The repository is gated: its terms must be accepted on the hub first.
    #[error("repository {repo} is gated: accept its terms on the hub, then set HF_TOKEN to a token of that account")]
    Gated {
        /// `org/name`.
        repo: String,
    },
    /// The token was refused.
    #[error("{endpoint} refused the token for {repo} (HTTP {status}); check HF_TOKEN")]
    Unauthorized {
        /// `org/name`.
        repo: String,
        /// The hub asked.
        endpoint: String,
        /// 401 or 403.
        status: u16,
    },
    /// The branch, tag or commit does not exist.
    #[error("repository {repo} has no revision \"{revision}\"")]
    RevisionNotFound {
        /// `org/name`.
        repo: String,
        /// What was asked for.
        revision: String,
    },
    /// A file asked for by name is not in the repository.
    #[error("{repo} has no file {file}; its GGUF files: {available}")]
    FileNotFound {
        /// `org/name`.
        repo: String,
        /// The file asked for.
        file: String,
        /// The GGUF files there are, comma separated.
        available: String,
    },
    /// No GGUF file matches the quantization asked for.
    #[error("{repo} has no GGUF file with quantization {quant}; it has: {available} (pull {repo}:QUANT with one of these, or {repo}/FILE.gguf)")]
    QuantNotFound {
        /// `org/name`.
        repo: String,
        /// The quantization asked for.
        quant: String,
        /// The quantizations (or files) there are.
        available: String,
    },
    /// The choice is ambiguous: several models match.
    #[error("{repo} has several GGUF models{what}: {candidates}; pick one with {repo}:QUANT or {repo}/FILE.gguf")]
    Ambiguous {
        /// `org/name`.
        repo: String,
        /// ` for Q4_K_M`, or empty.
        what: String,
        /// The files, comma separated.
        candidates: String,
    },
    /// The repository holds no GGUF file at all.
    #[error(
        "{repo} has no GGUF file (llama.cpp needs GGUF; look for a repository named ...-GGUF)"
    )]
    NoGguf {
        /// `org/name`.
        repo: String,
    },
    /// Some shards of a split model are not in the repository.
    #[error("{repo}: split model {first} is incomplete on the hub: {missing} missing")]
    IncompleteSplit {
        /// `org/name`.
        repo: String,
        /// The first shard.
        first: String,
        /// The missing shards, comma separated.
        missing: String,
    },
    /// The hub could not be reached or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// What was asked.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The hub answered something unexpected.
    #[error("{url} answered HTTP {status}: {message}")]
    Http {
        /// What was asked.
        url: String,
        /// The status.
        status: u16,
        /// The hub's message, or the body's beginning.
        message: String,
    },
    /// The hub's answer is missing something a download needs (an ETag, a size...).
    #[error("{url}: {reason}")]
    Protocol {
        /// What was asked.
        url: String,
        /// What is missing.
        reason: String,
    },
    /// The bytes downloaded are not the file the hub announced; nothing was kept.
    #[error("{file}: the download is corrupt ({reason}); it was deleted, pull again")]
    Corrupt {
        /// The file.
        file: String,
        /// Size or checksum mismatch, with both values.
        reason: String,
    },
    /// Not enough free space for the download.
    #[error("not enough free space in {dir}: {file} needs {needed} more bytes, {available} are free; free some space or set HF_HUB_CACHE to a larger disk")]
    NoSpace {
        /// The cache folder.
        dir: PathBuf,
        /// The file.
        file: String,
        /// Bytes still to download.
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// A file or folder of the cache could not be written or read.
    #[error("cannot {action} {path}: {source}{hint}")]
    Io {
        /// What was being done: `write`, `create`, `rename`...
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
        /// A hint at the fix (starts with `; `), or empty.
        hint: String,
    },
    /// The pull was stopped (the client went away, Ctrl-C).
    #[error("the download was stopped; pull again to resume it")]
    Cancelled,
    /// The model asked to be deleted is not in the hub cache.
    #[error("{0}")]
    NotInCache(String),
}

impl HubError {
    /// An [`HubError::Io`] with the hint that fits the OS error.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        let hint = match source.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                "; the Hugging Face cache is not writable: fix its permissions or set HF_HUB_CACHE (or HF_HOME) to a writable folder".to_string()
            }
            std::io::ErrorKind::StorageFull => {
                "; the disk is full: free some space or set HF_HUB_CACHE to a larger disk (the partial download is kept and resumes)".to_string()
            }
            std::io::ErrorKind::NotADirectory => {
                "; a part of the path is a file, not a folder: set HF_HUB_CACHE (or HF_HOME) to a folder".to_string()
            }
            _ => String::new(),
        };
        HubError::Io {
            action,
            path,
            source,
            hint,
        }
    }

    /// Whether the model (or file) asked for does not exist: 404 for HTTP clients.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            HubError::RepoNotFound { .. }
                | HubError::RevisionNotFound { .. }
                | HubError::FileNotFound { .. }
                | HubError::QuantNotFound { .. }
                | HubError::NoGguf { .. }
        )
    }

    /// Whether the request itself is at fault (a bad name, an ambiguous choice): 400.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            HubError::BadReference { .. } | HubError::Ambiguous { .. } | HubError::NotInCache(_)
        )
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, HubError>;
