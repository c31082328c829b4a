//! The one error enum of the server, and the one place any error becomes an HTTP response.
//!
//! Handlers return [`ServerError`]: the server's own failures (a malformed body, no such
//! route, a busy port, a failed pull) or an [`EngineError`] (which says what went wrong, not
//! how to answer it). [`ServerError::status`] decides the status code by the kind of error, including the
//! kinds of [`CoreError`] and [`PluginError`] inside an engine error; [`ServerError::kind`] and
//! [`ServerError::code`] give the OpenAI `type` / `code`. The body shape depends on the family
//! of the route: [`ApiError`] wraps an error with its [`Flavor`] and is what handlers return,
//! so `IntoResponse` lives here and nowhere else. A 5xx whose message would show internals
//! (paths, llama.cpp's lines, a plugin's stderr; [`shimmy_engine::redact`]) goes out as a plain
//! account with an error id, the whole error logged under that id
//! ([`ServerError::client_message`]), for responses and for errors inside a stream alike.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shimmy_core::Error as CoreError;
use shimmy_engine::{redact, EngineError};
use shimmy_plugins::{ErrorKind as PluginErrorKind, PluginError};

/// Seconds a client is told to wait (`Retry-After`) when the server is busy or loading.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The body is not valid JSON, a field has the wrong type or value, a required field is
    /// missing... `param` names the field when there is one.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, written for the client.
        message: String,
        /// The offending field, e.g. `messages[0].role`.
        param: Option<String>,
    },
    /// A parameter or value this server does not implement (e.g. `n` > 1); it is refused
    /// rather than silently ignored.
    #[error("{message}")]
    Unsupported {
        /// What is not supported and what to do instead.
        message: String,
        /// The offending field.
        param: Option<String>,
    },
    /// The engine refused or failed the job (or the load, or the workflow run).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The server is still loading models (`/health` only).
    #[error("loading models")]
    Loading,
    /// No such route.
    #[error("no route for {method} {path}; see GET /health for the routes")]
    RouteNotFound {
        /// The method used.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// The route exists but not for this method.
    #[error("{path} does not accept {method}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// The request body is larger than the server accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The listen address could not be bound (startup only).
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        reason: String,
    },
    /// Pulling or deleting a model (`/api/pull`, `/api/delete`) failed.
    #[error(transparent)]
    Hub(#[from] shimmy_hub::HubError),
    /// The server has API keys and the request carries none, or a wrong one.
    #[error("{}", if *.given {
        "the API key is not valid"
    } else {
        "this server requires an API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`"
    })]
    Unauthorized {
        /// Whether a key was sent (a wrong one) or none.
        given: bool,
    },
    /// The `Host` of a request to a loopback-bound server is not a loopback name (DNS
    /// rebinding).
    #[error(
        "the Host `{host}` is not allowed: this server listens on a loopback address and \
         answers localhost, 127.0.0.1 and [::1]; start it with --allowed-hosts {host} to \
         accept this name"
    )]
    HostNotAllowed {
        /// The host asked for.
        host: String,
    },
    /// A JSON route got a body of another content type.
    #[error(
        "the request body must be JSON: send `Content-Type: application/json`, not `{content_type}`"
    )]
    UnsupportedMediaType {
        /// The content type sent (`none` when there was none).
        content_type: String,
    },
}

impl From<CoreError> for ServerError {
    fn from(e: CoreError) -> Self {
        ServerError::Engine(EngineError::Core(e))
    }
}

impl From<PluginError> for ServerError {
    fn from(e: PluginError) -> Self {
        ServerError::Engine(EngineError::Plugin(e))
    }
}

impl From<tokio::task::JoinError> for ServerError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServerError::Engine(EngineError::from(e))
    }
}

impl ServerError {
    /// An [`ServerError::InvalidRequest`] about `param` (empty: no particular field).
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        ServerError::InvalidRequest {
            message: message.into(),
            param: (!param.is_empty()).then_some(param),
        }
    }

    /// An [`ServerError::Unsupported`] about `param` (empty: no particular field).
    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        ServerError::Unsupported {
            message: message.into(),
            param: (!param.is_empty()).then_some(param),
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::InvalidRequest { .. } | ServerError::Unsupported { .. } => {
                StatusCode::BAD_REQUEST
            }
            ServerError::Engine(e) => engine_status(e),
            ServerError::Loading => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            ServerError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServerError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::Hub(e) => hub_status(e),
            ServerError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ServerError::HostNotAllowed { .. } => StatusCode::FORBIDDEN,
            ServerError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// The OpenAI error `type`.
    pub fn kind(&self) -> &'static str {
        let status = self.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            "server_busy"
        } else if status == StatusCode::NOT_FOUND {
            "not_found_error"
        } else if status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        }
    }

    /// The OpenAI error `code`: a stable, machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::InvalidRequest { .. } => "invalid_request",
            ServerError::Unsupported { .. } => "unsupported_parameter",
            ServerError::Engine(e) => engine_code(e),
            ServerError::Loading => "loading",
            ServerError::RouteNotFound { .. } => "route_not_found",
            ServerError::MethodNotAllowed { .. } => "method_not_allowed",
            ServerError::PayloadTooLarge { .. } => "payload_too_large",
            ServerError::Hub(e) => hub_code(e),
            ServerError::Bind { .. } => "bind_failed",
            ServerError::Unauthorized { .. } => "invalid_api_key",
            ServerError::HostNotAllowed { .. } => "host_not_allowed",
            ServerError::UnsupportedMediaType { .. } => "unsupported_media_type",
        }
    }

    /// The `param` of an OpenAI error.
    pub fn param(&self) -> Option<&str> {
        match self {
            ServerError::InvalidRequest { param, .. } | ServerError::Unsupported { param, .. } => {
                param.as_deref()
            }
            ServerError::Engine(e) => match e {
                EngineError::InvalidRequest { param, .. }
                | EngineError::Unsupported { param, .. }
                | EngineError::TooLarge { param, .. } => param.as_deref(),
                EngineError::ModelRequired { .. } => Some("model"),
                EngineError::Core(CoreError::ModelNotFound { .. }) => Some("model"),
                EngineError::Core(CoreError::ContextExceeded { .. }) => Some("max_tokens"),
                EngineError::Core(CoreError::PromptTooLong { .. }) => Some("messages"),
                EngineError::Plugin(PluginError::InvalidArguments { field, .. }) => Some(field),
                EngineError::WorkflowLimit { limit, .. } => Some(limit),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the client should retry later (`Retry-After` is sent).
    pub fn retry_after(&self) -> Option<u32> {
        (self.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECONDS)
    }

    /// The steps a workflow did before this error ended it.
    pub fn trace(&self) -> Option<&[serde_json::Value]> {
        match self {
            ServerError::Engine(e) => e.trace(),
            _ => None,
        }
    }

    /// The body of the error in `flavor`'s shape (with the `trace` of a failed workflow).
    pub fn body(&self, flavor: Flavor) -> serde_json::Value {
        let mut body = self.bare_body(flavor);
        if let Some(trace) = self.trace() {
            body["trace"] = json!(trace);
        }
        body
    }

    /// What a client may be told instead of this error's message, when the message holds
    /// what only the operator should see (paths, llama.cpp's lines, a plugin's stderr, an
    /// internal failure; see [`shimmy_engine::redact`]). `None`: the message is for the client.
    pub fn public_message(&self) -> Option<String> {
        use shimmy_hub::HubError as H;
        match self {
            ServerError::Engine(e) => redact::public_message(e),
            ServerError::Hub(H::Io { .. }) => {
                Some("the server could not write to its model cache".into())
            }
            ServerError::Hub(H::NoSpace { .. }) => {
                Some("the server's model cache has not enough free space for this model".into())
            }
            _ => None,
        }
    }

    /// The message the client gets: this error's own, or its public account with an error id
    /// under which the whole error is logged (see [`ServerError::public_message`]).
    pub fn client_message(&self) -> String {
        match self.public_message() {
            Some(public) => redact::log_with_id(&public, self),
            None => self.to_string(),
        }
    }

    fn bare_body(&self, flavor: Flavor) -> serde_json::Value {
        let message = self.client_message();
        match flavor {
            Flavor::OpenAi => json!({
                "error": {
                    "message": message,
                    "type": self.kind(),
                    "param": self.param(),
                    "code": self.code(),
                }
            }),
            Flavor::Ollama => json!({ "error": message }),
            Flavor::Anthropic => json!({
                "type": "error",
                "error": { "type": self.anthropic_kind(), "message": message },
            }),
        }
    }

    /// The Anthropic error `type`, by status: `invalid_request_error` (400 and the other
    /// client errors without a type of their own), `authentication_error` (401),
    /// `permission_error` (403), `not_found_error` (404), `request_too_large` (413),
    /// `rate_limit_error` (429), `overloaded_error` (503), `api_error` (the rest).
    pub fn anthropic_kind(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            StatusCode::SERVICE_UNAVAILABLE => "overloaded_error",
            s if s.is_client_error() => "invalid_request_error",
            _ => "api_error",
        }
    }
}

/// The status of an engine error, by its kind.
fn engine_status(e: &EngineError) -> StatusCode {
    match e {
        EngineError::InvalidRequest { .. }
        | EngineError::Unsupported { .. }
        | EngineError::ModelRequired { .. } => StatusCode::BAD_REQUEST,
        EngineError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        EngineError::AllModelsBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        EngineError::Core(e) => core_status(e),
        EngineError::Plugin(e) => plugin_status(e),
        EngineError::WorkflowFailed { error, .. } => plugin_status(error),
        EngineError::WorkflowLimit { limit, .. } => {
            if *limit == "timeout" {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        }
        EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a core / backend error: the client's mistakes are 400, a missing model
/// 404, a full queue or an unloaded model 503 (retry), a lost rpc worker 502, the rest 500.
fn core_status(e: &CoreError) -> StatusCode {
    match e {
        CoreError::ModelNotFound { .. } => StatusCode::NOT_FOUND,
        CoreError::InvalidOption(_)
        | CoreError::PromptTooLong { .. }
        | CoreError::ContextExceeded { .. }
        | CoreError::Tokenize(_) => StatusCode::BAD_REQUEST,
        CoreError::QueueFull { .. } | CoreError::Unloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        // The worker is the failed "upstream".
        CoreError::RpcWorker { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a plugin failure: configuration and loading errors are 500 (the operator's
/// problem), a missing plugin or tool 404, refused input 400, a denied capability 403, a limit
/// the plugin reports 429, an unsupported operation 501, a timeout 504, a plugin that
/// trapped or returned unusable data 502 (a bad "upstream"), and 413 when the request's data
/// outgrew the plugin's memory limit or the output the host accepts (a 10 MB chat through a
/// template, a workflow that keeps doubling a string).
fn plugin_status(e: &PluginError) -> StatusCode {
    if matches!(e, PluginError::OutputTooLarge { .. }) {
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    match e.kind() {
        PluginErrorKind::NotFound => StatusCode::NOT_FOUND,
        PluginErrorKind::WrongKind | PluginErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        PluginErrorKind::Denied => StatusCode::FORBIDDEN,
        PluginErrorKind::LimitExceeded => StatusCode::TOO_MANY_REQUESTS,
        PluginErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        PluginErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        PluginErrorKind::Trap | PluginErrorKind::BadOutput => StatusCode::BAD_GATEWAY,
        PluginErrorKind::OutOfMemory => StatusCode::PAYLOAD_TOO_LARGE,
        PluginErrorKind::Config | PluginErrorKind::Load | PluginErrorKind::Failed => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The error `code` of an engine error.
fn engine_code(e: &EngineError) -> &'static str {
    match e {
        EngineError::InvalidRequest { .. } => "invalid_request",
        EngineError::Unsupported { .. } => "unsupported_parameter",
        EngineError::TooLarge { .. } => "payload_too_large",
        EngineError::ModelRequired { .. } => "model_required",
        EngineError::AllModelsBusy { .. } => "models_busy",
        EngineError::Core(e) => match e {
            CoreError::ModelNotFound { .. } => "model_not_found",
            CoreError::InvalidOption(_) => "invalid_option",
            CoreError::PromptTooLong { .. } | CoreError::ContextExceeded { .. } => {
                "context_length_exceeded"
            }
            CoreError::QueueFull { .. } => "queue_full",
            CoreError::Unloaded { .. } => "model_unloaded",
            CoreError::Tokenize(_) => "tokenizer_error",
            CoreError::Inference(_) => "inference_failed",
            CoreError::RpcWorker { .. } => "rpc_worker_unavailable",
            _ => "model_load_failed",
        },
        EngineError::Plugin(e) => plugin_code(e),
        EngineError::WorkflowFailed { error, .. } => plugin_code(error),
        EngineError::WorkflowLimit { .. } => "workflow_limit_exceeded",
        EngineError::Internal(_) => "internal_error",
    }
}

/// The status of a failed pull or delete.
fn hub_status(e: &shimmy_hub::HubError) -> StatusCode {
    use shimmy_hub::HubError as H;
    match e {
        _ if e.is_not_found() => StatusCode::NOT_FOUND,
        _ if e.is_bad_request() => StatusCode::BAD_REQUEST,
        H::Gated { .. } | H::Unauthorized { .. } => StatusCode::FORBIDDEN,
        H::NoSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
        H::Network { .. }
        | H::Http { .. }
        | H::Protocol { .. }
        | H::Corrupt { .. }
        | H::IncompleteSplit { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error `code` of a failed pull or delete.
fn hub_code(e: &shimmy_hub::HubError) -> &'static str {
    use shimmy_hub::HubError as H;
    match e {
        H::BadReference { .. } => "invalid_model_reference",
        H::RepoNotFound { .. } | H::RevisionNotFound { .. } => "repo_not_found",
        H::FileNotFound { .. } | H::QuantNotFound { .. } | H::NoGguf { .. } => "file_not_found",
        H::Ambiguous { .. } => "ambiguous_model",
        H::Gated { .. } | H::Unauthorized { .. } => "hub_unauthorized",
        H::NoSpace { .. } => "no_space",
        H::Corrupt { .. } => "download_corrupt",
        H::Cancelled => "cancelled",
        H::NotInCache(_) => "not_in_cache",
        H::Io { .. } => "cache_not_writable",
        _ => "hub_unreachable",
    }
}

/// The error `code` of a plugin failure.
fn plugin_code(e: &PluginError) -> &'static str {
    match e {
        PluginError::UnknownTool { .. } => "tool_not_found",
        PluginError::InvalidArguments { .. } => "invalid_tool_arguments",
        PluginError::NotFound { .. } => "plugin_not_found",
        PluginError::WrongKind { .. } => "wrong_plugin_kind",
        PluginError::Timeout { .. } => "plugin_timeout",
        PluginError::MemoryLimit { .. } => "plugin_memory_limit",
        PluginError::OutputTooLarge { .. } => "plugin_output_too_large",
        PluginError::Trap { .. } => "plugin_trapped",
        PluginError::Guest { .. } => "plugin_error",
        _ => "plugin_failed",
    }
}

/// Which error shape a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `{"error": {"message", "type", "param", "code"}}` (OpenAI and native routes).
    OpenAi,
    /// `{"error": "message"}` (Ollama routes under `/api/`).
    Ollama,
    /// `{"type": "error", "error": {"type", "message"}}` (the Anthropic Messages API,
    /// `/v1/messages...`).
    Anthropic,
}

/// A [`ServerError`] on its way to a client of a given [`Flavor`].
#[derive(Debug)]
pub struct ApiError {
    /// The error.
    pub error: ServerError,
    /// The shape of the body.
    pub flavor: Flavor,
}

/// Errors in the OpenAI (and native) shape; the default for `?` in those handlers.
#[derive(Debug)]
pub struct OpenAiError(pub ServerError);

/// Errors in the Ollama shape; the default for `?` in `/api/*` handlers.
#[derive(Debug)]
pub struct OllamaError(pub ServerError);

/// Errors in the Anthropic shape; the default for `?` in `/v1/messages` handlers.
#[derive(Debug)]
pub struct AnthropicError(pub ServerError);

impl<E: Into<ServerError>> From<E> for AnthropicError {
    fn from(e: E) -> Self {
        AnthropicError(e.into())
    }
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        ApiError {
            error: self.0,
            flavor: Flavor::Anthropic,
        }
        .into_response()
    }
}

impl<E: Into<ServerError>> From<E> for OpenAiError {
    fn from(e: E) -> Self {
        OpenAiError(e.into())
    }
}

impl<E: Into<ServerError>> From<E> for OllamaError {
    fn from(e: E) -> Self {
        OllamaError(e.into())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        ApiError {
            error: self.0,
            flavor: Flavor::OpenAi,
        }
        .into_response()
    }
}

impl IntoResponse for OllamaError {
    fn into_response(self) -> Response {
        ApiError {
            error: self.0,
            flavor: Flavor::Ollama,
        }
        .into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        if status.is_server_error() && self.error.public_message().is_none() {
            tracing::warn!(status = status.as_u16(), "{}", self.error);
        } else if !status.is_server_error() {
            tracing::debug!(status = status.as_u16(), "{}", self.error);
        }
        let mut response = (status, axum::Json(self.error.body(self.flavor))).into_response();
        if let Some(seconds) = self.error.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The flavor of a request path: Ollama's shape under `/api/`, Anthropic's under
/// `/v1/messages`, OpenAI's elsewhere.
pub fn flavor_of(path: &str) -> Flavor {
    let native = ["/api/template/", "/api/tools", "/api/workflows"];
    if path == "/v1/messages" || path.starts_with("/v1/messages/") {
        Flavor::Anthropic
    } else if path.starts_with("/api/") && !native.iter().any(|p| path.starts_with(p)) {
        Flavor::Ollama
    } else {
        Flavor::OpenAi
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shimmy_plugins::GuestError;

    #[test]
    fn queue_full_is_503_with_retry_after() {
        let e = ServerError::from(CoreError::QueueFull {
            queued: 1,
            max_queue: 1,
        });
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after(), Some(RETRY_AFTER_SECONDS));
        assert_eq!(e.code(), "queue_full");
    }

    #[test]
    fn context_exceeded_is_400_naming_the_numbers() {
        let e = ServerError::from(CoreError::ContextExceeded {
            prompt_tokens: 500,
            max_tokens: 100,
            total: 600,
            n_ctx: 512,
        });
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let body = e.body(Flavor::OpenAi);
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("500") && msg.contains("100") && msg.contains("512"),
            "{msg}"
        );
        assert_eq!(body["error"]["code"], "context_length_exceeded");
        assert_eq!(body["error"]["param"], "max_tokens");
    }

    #[test]
    fn ollama_shape_is_a_plain_string() {
        let e = ServerError::invalid("model", "bad");
        assert_eq!(e.body(Flavor::Ollama), json!({"error": "bad"}));
        let v = e.body(Flavor::OpenAi);
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
    }

    #[test]
    fn plugin_errors_map_by_kind() {
        let guest = |error| {
            ServerError::from(PluginError::Guest {
                plugin: "p".into(),
                error,
            })
        };
        assert_eq!(
            guest(GuestError::Denied("x".into())).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            guest(GuestError::Unsupported("x".into())).status(),
            StatusCode::NOT_IMPLEMENTED
        );
        let timeout = ServerError::from(PluginError::Timeout {
            plugin: "p".into(),
            timeout_ms: 5,
        });
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(timeout.code(), "plugin_timeout");
        let bad = ServerError::from(PluginError::InvalidArguments {
            tool: "t".into(),
            field: "/a".into(),
            reason: "r".into(),
        });
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.param(), Some("/a"));
    }

    #[test]
    fn internals_become_an_error_id_in_both_shapes() {
        let e = ServerError::from(CoreError::ModelLoad {
            path: "/srv/models/m.gguf".into(),
            reason: "llama_model_load: error loading model".into(),
        });
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        for (flavor, message) in [
            (Flavor::OpenAi, "/error/message"),
            (Flavor::Ollama, "/error"),
        ] {
            let body = e.body(flavor);
            let text = body.pointer(message).and_then(|m| m.as_str()).unwrap();
            assert!(
                text.starts_with("the model could not be loaded (error id err_"),
                "{text}"
            );
            assert!(
                !text.contains("/srv") && !text.contains("llama_model_load"),
                "{text}"
            );
        }
        // What the client did wrong is said as it is; too large is 413.
        let e = ServerError::from(EngineError::too_large("messages", "too much text"));
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.body(Flavor::OpenAi)["error"]["message"], "too much text");
        assert_eq!(e.param(), Some("messages"));
    }

    #[test]
    fn flavors_by_path() {
        assert_eq!(flavor_of("/api/chat"), Flavor::Ollama);
        assert_eq!(flavor_of("/api/template/render"), Flavor::OpenAi);
        assert_eq!(flavor_of("/api/tools/x/invoke"), Flavor::OpenAi);
        assert_eq!(flavor_of("/api/workflows"), Flavor::OpenAi);
        assert_eq!(flavor_of("/v1/chat/completions"), Flavor::OpenAi);
        assert_eq!(flavor_of("/v1/messages"), Flavor::Anthropic);
        assert_eq!(flavor_of("/v1/messages/count_tokens"), Flavor::Anthropic);
        assert_eq!(flavor_of("/v1/messagesx"), Flavor::OpenAi);
    }

    #[test]
    fn anthropic_shape_has_a_type_per_status() {
        let body =
            ServerError::invalid("max_tokens", "`max_tokens` is required").body(Flavor::Anthropic);
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": "`max_tokens` is required"}})
        );
        let kind = |e: ServerError| e.body(Flavor::Anthropic)["error"]["type"].clone();
        assert_eq!(
            kind(ServerError::Unauthorized { given: false }),
            "authentication_error"
        );
        assert_eq!(
            kind(ServerError::PayloadTooLarge { limit: 1 }),
            "request_too_large"
        );
        assert_eq!(
            kind(ServerError::from(CoreError::QueueFull {
                queued: 1,
                max_queue: 1
            })),
            "overloaded_error"
        );
        assert_eq!(
            kind(ServerError::RouteNotFound {
                method: "GET".into(),
                path: "/v1/messages/x".into()
            }),
            "not_found_error"
        );
    }
}
