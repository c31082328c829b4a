//! The chat page at `/` and `/ui/`: a few files compiled into the binary (no CDN, nothing
//! fetched at run time), served with a Content-Security-Policy that lets the page load only
//! its own files and talk only to this server.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// The page's files: name under `/ui/`, content type, content.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("../ui/icon.svg")),
];

/// Only the page's own files, only this server for requests, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

fn serve(content_type: &str, body: &'static str) -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `GET /` and `GET /ui/`: the page.
pub async fn index() -> Response {
    let (_, content_type, body) = ASSETS[0];
    serve(content_type, body)
}

/// `GET /ui`: to `/ui/`.
pub async fn to_index() -> Redirect {
    Redirect::permanent("/ui/")
}

/// `GET /ui/{file}`: one of the page's files.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, ..)| *n == name) {
        Some((_, content_type, body)) => serve(content_type, body),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "no file /ui/{name}; the page is at /ui/ (its files: {})\n",
                ASSETS
                    .iter()
                    .map(|(n, ..)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
            .into_response(),
    }
}

/// Bytes of the page and its files together.
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|(_, _, body)| body.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_and_self_contained() {
        assert!(total_bytes() < 300 * 1024, "{} bytes", total_bytes());
        for (name, _, body) in ASSETS {
            for outside in ["http://", "https://", "//cdn", "@import"] {
                let hits: Vec<&str> = body
                    .lines()
                    .filter(|l| l.contains(outside))
                    .filter(|l| !l.trim_start().starts_with("//") && !l.contains("xmlns"))
                    .filter(|l| !l.contains("https?:"))
                    .collect();
                assert!(hits.is_empty(), "{name} refers outside: {hits:?}");
            }
        }
        let html = ASSETS[0].2;
        for linked in ["/ui/app.js", "/ui/style.css", "/ui/icon.svg"] {
            assert!(html.contains(linked), "{linked}");
        }
        assert!(
            !html.contains("<script>"),
            "no inline script (the CSP forbids it)"
        );
    }
}
