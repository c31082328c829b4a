//! The router: every route of [`crate::routes::ROUTES`] with its handler, 404/405 in the right shape,
//! request metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::error::{flavor_of, ApiError, ServerError};
use crate::state::SharedState;
use crate::{anthropic, auth, hosts, native, ollama, openai, responses, tools, ui, workflow_api};

/// Builds the router over `state`. Layers, outermost first: the body limit, request
/// metrics, the `Host` check (403), CORS (preflights answered here), the API key (401).
pub fn router(state: SharedState) -> Router {
    let limit = state.config.max_body_bytes;
    let keys = Arc::new(state.config.api_keys.clone());
    let allowed_hosts = Arc::new(state.config.allowed_hosts.clone());
    let cors = state.config.cors_origins.layer();
    Router::new()
        .route("/", get(ui::index))
        .route("/ui", get(ui::to_index))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/api/pull", post(ollama::pull::pull))
        .route("/api/delete", delete(ollama::pull::delete))
        .route("/v1/chat/completions", post(openai::chat::handler))
        .route("/v1/completions", post(openai::completions::handler))
        .route("/v1/embeddings", post(openai::embeddings::handler))
        .route("/v1/responses", post(responses::handler::respond))
        .route("/v1/messages", post(anthropic::handlers::messages))
        .route(
            "/v1/messages/count_tokens",
            post(anthropic::handlers::count_tokens),
        )
        .route("/v1/models", get(openai::models::list))
        .route("/v1/models/{*model}", get(openai::models::get_one))
        .route("/api/generate", post(ollama::generate::handler))
        .route("/api/chat", post(ollama::chat::handler))
        .route("/api/embed", post(ollama::embed::embed))
        .route("/api/embeddings", post(ollama::embed::embeddings))
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
        .route("/api/workflows", get(workflow_api::list))
        .route("/api/workflows/{name}/run", post(workflow_api::run))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(keys, auth::require_key))
        .layer(cors)
        .layer(middleware::from_fn_with_state(
            allowed_hosts,
            hosts::check_host,
        ))
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
