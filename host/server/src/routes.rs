//! The route table: what the startup banner and `/health` list, and what the router serves
//! (a test checks that they agree).

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
    (
        "POST",
        "/v1/embeddings",
        "OpenAI embeddings (float or base64)",
    ),
    (
        "POST",
        "/v1/responses",
        "OpenAI Responses API, stateless (SSE events with stream)",
    ),
    (
        "POST",
        "/v1/messages",
        "Anthropic Messages API (SSE events with stream)",
    ),
    (
        "POST",
        "/v1/messages/count_tokens",
        "Anthropic: tokens of a messages request",
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
    ("POST", "/api/embed", "Ollama embeddings"),
    (
        "POST",
        "/api/embeddings",
        "Ollama embeddings, older form (prompt)",
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
