//! The one error enum of the engine.
//!
//! Each variant says what went wrong (a job that cannot run as asked, a model that is busy,
//! a plugin that failed, a workflow that hit a limit), never how an adapter reports it: the
//! HTTP server maps these to status codes in its `error` module, the CLI prints the message.

use shimmy_core::Error as CoreError;
use shimmy_plugins::{GuestError, PluginError};

/// Result alias of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything a job, a load or a workflow run can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job cannot run as asked: a field has a wrong value, a message is malformed, a
    /// schema is not a schema... `param` names the request field at fault when there is one.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, written for the client.
        message: String,
        /// The offending field, e.g. `messages[0].role`.
        param: Option<String>,
    },
    /// The job asks for something this engine does not implement; it is refused rather
    /// than silently ignored.
    #[error("{message}")]
    Unsupported {
        /// What is not supported and what to do instead.
        message: String,
        /// The offending field.
        param: Option<String>,
    },
    /// The job asks for more than the engine takes (a prompt over `--max-prompt-bytes`...);
    /// the message names the limit.
    #[error("{message}")]
    TooLarge {
        /// What is too large and the limit, written for the client.
        message: String,
        /// The request field at fault.
        param: Option<String>,
    },
    /// The job names no model and several are available.
    #[error("several models are available, name one in \"model\": {available}")]
    ModelRequired {
        /// The names, comma separated.
        available: String,
    },
    /// A loaded model would have to be unloaded to make room but every loaded model is busy.
    #[error("{loaded} models are loaded (--max-loaded-models {max}) and all are busy; retry shortly or raise --max-loaded-models")]
    AllModelsBusy {
        /// Models loaded now.
        loaded: usize,
        /// The limit.
        max: usize,
    },
    /// An error of the core crate or the backend (model not found, context exceeded, queue
    /// full, load failed...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A template or tool plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A workflow run reached one of its limits (`max_steps`, `max_tokens`, `timeout`).
    #[error("workflow \"{workflow}\" stopped: {message}")]
    WorkflowLimit {
        /// The workflow.
        workflow: String,
        /// Which limit: `max_steps`, `max_tokens` or `timeout`.
        limit: &'static str,
        /// What happened, with the limit's value.
        message: String,
        /// The steps done before it stopped.
        trace: Vec<serde_json::Value>,
    },
    /// A workflow run failed: the plugin returned an error, trapped, ran out of time...
    #[error("workflow \"{workflow}\" failed: {error}")]
    WorkflowFailed {
        /// The workflow.
        workflow: String,
        /// The plugin's failure.
        error: Box<PluginError>,
        /// The steps done before it failed.
        trace: Vec<serde_json::Value>,
    },
    /// A bug or an unexpected failure (a task panicked...).
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// An [`EngineError::InvalidRequest`] about `param` (empty: no particular field).
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        EngineError::InvalidRequest {
            message: message.into(),
            param: (!param.is_empty()).then_some(param),
        }
    }

    /// An [`EngineError::Unsupported`] about `param` (empty: no particular field).
    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        EngineError::Unsupported {
            message: message.into(),
            param: (!param.is_empty()).then_some(param),
        }
    }

    /// An [`EngineError::TooLarge`] about `param` (empty: no particular field).
    pub fn too_large(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        EngineError::TooLarge {
            message: message.into(),
            param: (!param.is_empty()).then_some(param),
        }
    }

    /// The steps a workflow did before this error ended it.
    pub fn trace(&self) -> Option<&[serde_json::Value]> {
        match self {
            EngineError::WorkflowLimit { trace, .. }
            | EngineError::WorkflowFailed { trace, .. } => Some(trace),
            _ => None,
        }
    }

    /// This error as a workflow plugin sees it when one of its host calls fails: the kind
    /// of failure (bad input, not found, denied, unsupported, anything else) with the message.
    pub fn to_guest(&self) -> GuestError {
        self.to_guest_as(self.to_string())
    }

    /// [`EngineError::to_guest`] with `message` instead of this error's own (what the plugin
    /// may see of it, [`crate::redact::report`]).
    pub fn to_guest_as(&self, message: String) -> GuestError {
        match self {
            EngineError::InvalidRequest { .. }
            | EngineError::Unsupported { .. }
            | EngineError::TooLarge { .. }
            | EngineError::ModelRequired { .. } => GuestError::InvalidInput(message),
            EngineError::Core(e) => match e {
                CoreError::ModelNotFound { .. } => GuestError::NotFound(message),
                CoreError::InvalidOption(_)
                | CoreError::PromptTooLong { .. }
                | CoreError::ContextExceeded { .. }
                | CoreError::Tokenize(_) => GuestError::InvalidInput(message),
                _ => GuestError::Failed(message),
            },
            EngineError::Plugin(e) => match e {
                PluginError::NotFound { .. } | PluginError::UnknownTool { .. } => {
                    GuestError::NotFound(message)
                }
                PluginError::InvalidArguments { .. } | PluginError::WrongKind { .. } => {
                    GuestError::InvalidInput(message)
                }
                PluginError::Guest { error, .. } => match error {
                    GuestError::InvalidInput(_) => GuestError::InvalidInput(message),
                    GuestError::NotFound(_) => GuestError::NotFound(message),
                    GuestError::Denied(_) => GuestError::Denied(message),
                    GuestError::Unsupported(_) => GuestError::Unsupported(message),
                    GuestError::LimitExceeded(_) | GuestError::Failed(_) => {
                        GuestError::Failed(message)
                    }
                },
                _ => GuestError::Failed(message),
            },
            EngineError::WorkflowLimit { .. } => GuestError::InvalidInput(message),
            EngineError::AllModelsBusy { .. }
            | EngineError::WorkflowFailed { .. }
            | EngineError::Internal(_) => GuestError::Failed(message),
        }
    }
}

impl From<tokio::task::JoinError> for EngineError {
    fn from(e: tokio::task::JoinError) -> Self {
        EngineError::Internal(format!("a worker task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_call_failures_keep_their_kind_for_the_plugin() {
        let e = EngineError::invalid("tool_choice", "bad");
        assert!(matches!(e.to_guest(), GuestError::InvalidInput(m) if m == "bad"));
        let e = EngineError::Core(CoreError::ModelNotFound {
            name: "x".into(),
            hint: String::new(),
        });
        assert!(matches!(e.to_guest(), GuestError::NotFound(_)));
        let e = EngineError::Core(CoreError::QueueFull {
            queued: 1,
            max_queue: 1,
        });
        assert!(matches!(e.to_guest(), GuestError::Failed(_)));
    }
}
