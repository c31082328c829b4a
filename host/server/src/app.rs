//! The router, the shared state, and the plumbing every handler shares: JSON bodies with
//! client-readable errors, request metrics, 404/405 in the right shape.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shimmy_core::backend::Backend;
use shimmy_plugins::{PluginRegistry, ToolCatalog};

use crate::catalog::Catalog;
use crate::config::ServerConfig;
use crate::error::{flavor_of, ApiError, ServerError};
use crate::metrics::Metrics;
use crate::models::ModelManager;
use crate::templates::Templates;
use crate::{native, ollama, openai, pull, tools, ui, workflows};

/// What every handler can reach.
pub struct AppState {
    /// The models.
    pub manager: Arc<ModelManager>,
    /// The plugins (template rendering and parsing).
    pub plugins: Arc<PluginRegistry>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// When the server started.
    pub started: SystemTime,
    /// The tools of the tool plugins, described once on first use.
    tools: tokio::sync::OnceCell<Arc<ToolCatalog>>,
}

impl AppState {
    /// The state of a server (or of an in-process run, e.g. `shimmy-host workflow run`).
    pub fn new(
        backend: Arc<dyn Backend>,
        plugins: Arc<PluginRegistry>,
        catalog: Catalog,
        config: ServerConfig,
    ) -> SharedState {
        let metrics = Arc::new(Metrics::new());
        let templates = Templates::new(&plugins, config.operator_templates.clone());
        let manager = ModelManager::new(backend, templates, catalog, config, metrics.clone());
        Arc::new(AppState {
            manager,
            plugins,
            metrics,
            started: SystemTime::now(),
            tools: tokio::sync::OnceCell::new(),
        })
    }

    /// Every tool of the loaded tool plugins (asked once, then kept).
    pub async fn tools(&self) -> Arc<ToolCatalog> {
        self.tools
            .get_or_init(|| async { Arc::new(ToolCatalog::load(&self.plugins).await) })
            .await
            .clone()
    }
}

/// The state as handlers take it.
pub type SharedState = Arc<AppState>;

/// Every route: method, path, what it does (shown in the startup banner).
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/", "the chat page (also /ui/)"),
    (
        "POST",
        "/v1/chat/completions",
        "OpenAI chat completions (SSE with stream)",
    ),
    (
        "POST",
        "/v1/completions",
        "OpenAI text completions (SSE with stream)",
    ),
    ("GET", "/v1/models", "OpenAI model list"),
    (
        "POST",
        "/api/generate",
        "Ollama / shimmy generate (NDJSON stream by default)",
    ),
    (
        "POST",
        "/api/chat",
        "Ollama chat (NDJSON stream by default)",
    ),
    ("GET", "/api/tags", "Ollama: models available"),
    ("POST", "/api/show", "Ollama: model details"),
    ("GET", "/api/ps", "Ollama: models loaded"),
    ("GET", "/api/version", "Ollama: version"),
    (
        "POST",
        "/api/pull",
        "Ollama: pull hf.co/ORG/NAME:QUANT from Hugging Face (NDJSON progress)",
    ),
    (
        "DELETE",
        "/api/delete",
        "Ollama: delete a pulled model from the Hugging Face cache",
    ),
    ("GET", "/health", "readiness, models and slot usage"),
    ("GET", "/metrics", "Prometheus metrics"),
    ("POST", "/tokenize", "text to token ids"),
    ("POST", "/detokenize", "token ids to text"),
    (
        "POST",
        "/api/template/render",
        "the exact prompt a chat request produces",
    ),
    ("GET", "/api/tools", "tools of the tool plugins"),
    (
        "POST",
        "/api/tools/{name}/invoke",
        "run a tool (arguments checked against its schema)",
    ),
    ("GET", "/api/workflows", "workflow plugins"),
    (
        "POST",
        "/api/workflows/{name}/run",
        "run a workflow (SSE progress with stream)",
    ),
];

/// Builds the router over `state`.
pub fn router(state: SharedState) -> Router {
    let limit = state.manager.config().max_body_bytes;
    Router::new()
        .route("/", get(ui::index))
        .route("/ui", get(ui::to_index))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/api/pull", post(pull::pull))
        .route("/api/delete", delete(pull::delete))
        .route("/v1/chat/completions", post(openai::chat::handler))
        .route("/v1/completions", post(openai::completions::handler))
        .route("/v1/models", get(openai::models::list))
        .route("/v1/models/{*model}", get(openai::models::get_one))
        .route("/api/generate", post(ollama::generate::handler))
        .route("/api/chat", post(ollama::chat::handler))
        .route("/api/tags", get(ollama::info::tags))
        .route("/api/show", post(ollama::info::show))
        .route("/api/ps", get(ollama::info::ps))
        .route("/api/version", get(ollama::info::version))
        .route("/health", get(native::health))
        .route("/metrics", get(native::metrics))
        .route("/tokenize", post(native::tokenize))
        .route("/detokenize", post(native::detokenize))
        .route("/api/template/render", post(native::render_template))
        .route("/api/tools", get(tools::list))
        .route("/api/tools/{name}/invoke", post(tools::invoke))
        .route("/api/workflows", get(workflows::list))
        .route("/api/workflows/{name}/run", post(workflows::run_handler))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError {
        flavor: flavor_of(uri.path()),
        error: ServerError::RouteNotFound {
            method: method.to_string(),
            path: uri.path().to_string(),
        },
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        flavor: flavor_of(uri.path()),
        error: ServerError::MethodNotAllowed {
            method: method.to_string(),
            path: uri.path().to_string(),
        },
    }
}

/// Counts each request by route and status.
async fn track(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// A JSON request body. Any `Content-Type` is accepted (curl's `-d` sends a form type); a
/// body that is not JSON, or too large, is refused in the route's error shape.
pub struct JsonBody(pub Value);

impl FromRequest<SharedState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, Self::Rejection> {
        let flavor = flavor_of(req.uri().path());
        let limit = state.manager.config().max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ServerError::PayloadTooLarge { limit }
            } else {
                ServerError::invalid("", rejection.body_text())
            };
            ApiError { error, flavor }
        })?;
        parse_json(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError { error, flavor })
    }
}

/// Parses a JSON body; the message says where it broke.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ServerError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ServerError::invalid(
            "",
            "the request body is empty; send a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ServerError::invalid("", format!("the request body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ServerError::invalid(
            "",
            format!(
                "the request body must be a JSON object, not {}",
                json_kind(&value)
            ),
        ));
    }
    Ok(value)
}

/// `a string`, `an array`... for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts a JSON object into a request type; the message names the field at fault.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T, ServerError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path.is_empty() || path == "." {
            ServerError::invalid("", inner)
        } else {
            ServerError::invalid(path.clone(), format!("`{path}`: {inner}"))
        }
    })
}

/// Refuses fields outside `known` (so that nothing a client asks for is silently ignored).
pub fn check_fields(value: &Value, known: &[&str], what: &str) -> Result<(), ServerError> {
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    match unknown.as_slice() {
        [] => Ok(()),
        [one] => Err(ServerError::unsupported(
            *one,
            format!("`{one}` is not a parameter {what} supports"),
        )),
        many => Err(ServerError::unsupported(
            many[0],
            format!(
                "these parameters are not supported {what}: {}",
                many.join(", ")
            ),
        )),
    }
}

/// The Unix time now, in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random id with a prefix, e.g. `chatcmpl-3fZ...`.
pub fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..24)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}
