//! API keys (`serve --api-key`, `--api-key-file`, `SHIMMY_API_KEY`): a request must carry one
//! as `Authorization: Bearer KEY` or `x-api-key: KEY`, except `/health` and the chat page's
//! files. Keys are kept as SHA-256 digests and compared in constant time; they are never
//! printed (`Debug` shows only how many there are).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{flavor_of, ApiError, ServerError};

/// The header a key may come in besides `Authorization: Bearer`.
pub const X_API_KEY: &str = "x-api-key";

/// The accepted keys (none: the server is open).
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

fn digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

impl ApiKeys {
    /// The keys given (surrounding white space removed; empty ones are skipped).
    pub fn new<I, S>(keys: I) -> ApiKeys
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut digests: Vec<[u8; 32]> = keys
            .into_iter()
            .filter_map(|k| {
                let k = k.as_ref().trim();
                (!k.is_empty()).then(|| digest(k.as_bytes()))
            })
            .collect();
        digests.sort_unstable();
        digests.dedup();
        ApiKeys { digests }
    }

    /// Whether any key is set (requests must then carry one).
    pub fn required(&self) -> bool {
        !self.digests.is_empty()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `candidate` is one of the keys: every key is compared (no early exit), each in
    /// constant time over the digests, so neither the length nor the content of a key leaks
    /// through timing.
    pub fn accepts(&self, candidate: &str) -> bool {
        let d = digest(candidate.as_bytes());
        let mut found = subtle::Choice::from(0);
        for key in &self.digests {
            found |= key.ct_eq(&d);
        }
        found.into()
    }
}

/// The key a request carries: `Authorization: Bearer KEY` (scheme case-insensitive), else
/// `x-api-key: KEY`.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    bearer.or_else(|| {
        headers
            .get(X_API_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}

/// Paths served without a key: the health check and the chat page (its files hold no data;
/// the page asks for the key when the API answers 401).
pub fn is_open(path: &str) -> bool {
    matches!(path, "/health" | "/" | "/ui" | "/ui/") || path.starts_with("/ui/")
}

/// Middleware: 401 (in the route family's shape, with `WWW-Authenticate: Bearer`) for a
/// request without a valid key when keys are set.
pub async fn require_key(
    State(keys): State<Arc<ApiKeys>>,
    request: Request,
    next: Next,
) -> Response {
    if !keys.required() || is_open(request.uri().path()) {
        return next.run(request).await;
    }
    match presented(request.headers()) {
        Some(key) if keys.accepts(key) => next.run(request).await,
        given => ApiError {
            flavor: flavor_of(request.uri().path()),
            error: ServerError::Unauthorized {
                given: given.is_some_and(|k| !k.is_empty()),
            },
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_match_exactly_and_are_not_shown() {
        let keys = ApiKeys::new(["alpha", " beta ", ""]);
        assert_eq!(keys.len(), 2);
        assert!(keys.accepts("alpha") && keys.accepts("beta"));
        assert!(!keys.accepts("alph") && !keys.accepts("alphaa") && !keys.accepts(""));
        assert_eq!(format!("{keys:?}"), "ApiKeys(2 keys)");
        assert!(!ApiKeys::default().required());
    }

    #[test]
    fn bearer_then_x_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h), None);
        h.insert(X_API_KEY, HeaderValue::from_static("k2"));
        assert_eq!(presented(&h), Some("k2"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer k1"));
        assert_eq!(presented(&h), Some("k1"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic k1"));
        assert_eq!(presented(&h), Some("k2"));
    }

    #[test]
    fn open_paths() {
        for p in ["/health", "/", "/ui/", "/ui/app.js"] {
            assert!(is_open(p), "{p}");
        }
        for p in ["/v1/models", "/api/tags", "/metrics", "/healthz", "/uix"] {
            assert!(!is_open(p), "{p}");
        }
    }
}
