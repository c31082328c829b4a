//! The CORS policy (`--cors-origins`): which web pages may read the answers. By default only
//! pages served from a loopback origin (`http(s)://localhost`, `127.0.0.1`, `[::1]`, any port),
//! as Ollama's `OLLAMA_ORIGINS` default; `--cors-origins ORIGIN` adds exact origins, `*` allows
//! every one. A request from another origin gets no CORS headers (the browser then keeps the
//! answer from the page); preflights are answered with the methods and headers the API uses.

use std::time::Duration;

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::allowlist::Allowlist;
use crate::auth::X_API_KEY;

/// How long a browser may cache a preflight answer.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins allowed besides the loopback ones.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(Allowlist);

/// An origin as compared: lower case, no trailing `/`.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl CorsOrigins {
    /// The loopback origins plus `origins` (`scheme://host[:port]`, case-insensitive, a
    /// trailing `/` ignored; `*`: every origin).
    pub fn new<I, S>(origins: I) -> CorsOrigins
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        CorsOrigins(Allowlist::new(origins, normalize))
    }

    /// The origins given besides the loopback ones.
    pub fn listed(&self) -> usize {
        self.0.len()
    }

    /// Whether every origin is allowed.
    pub fn is_any(&self) -> bool {
        self.0.is_any()
    }

    /// Whether a page of `origin` (an `Origin` header value) may read the answers.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = normalize(origin);
        self.0.is_any() || is_loopback_origin(&origin) || self.0.accepts(&origin)
    }

    /// The tower-http layer for this policy.
    pub fn layer(&self) -> CorsLayer {
        let allow = if self.is_any() {
            AllowOrigin::any()
        } else {
            let policy = self.clone();
            AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|o| policy.allows(o))
            })
        };
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static(X_API_KEY),
                // What the Anthropic SDKs send from a browser.
                HeaderName::from_static("anthropic-version"),
                HeaderName::from_static("anthropic-beta"),
                HeaderName::from_static("anthropic-dangerous-direct-browser-access"),
            ])
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// `http(s)://localhost`, `127.0.0.1` or `[::1]` with any port (or none).
fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || is_port(port),
        None => rest,
    };
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    (name == "localhost" || name == "127.0.0.1")
        && (port.is_empty() || is_port(&format!(":{port}")))
}

/// `:DIGITS`.
fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_by_default() {
        let p = CorsOrigins::default();
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:11435",
            "HTTP://LOCALHOST:1",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://localhost:3000.evil.example",
            "http://127.0.0.1.nip.io",
            "http://[::1].evil",
            "null",
            "file://",
            "ftp://localhost",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        let p = CorsOrigins::new(["https://app.example/"]);
        assert!(p.allows("https://app.example") && !p.allows("http://app.example"));
        assert!(CorsOrigins::new(["*"]).allows("http://evil.example"));
    }
}
