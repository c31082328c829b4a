//! The chat page (`GET /`, `/ui/`): served from the binary with its files and a strict
//! Content-Security-Policy, and driven in headless Chromium (tests/e2e/python/ui_browser.py)
//! against the real server on a test-kit model.

mod common;

use common::{http, models, run_python, s, Sandbox};

#[test]
fn the_page_and_its_files_come_from_the_binary() {
    let sb = Sandbox::new();
    let server = sb.serve_dense();
    let get = |path: &str| {
        http(30)
            .get(format!("{}{path}", server.base))
            .send()
            .unwrap()
    };
    let page = get("/");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().unwrap();
    assert_eq!(get("/ui/").text().unwrap(), html);
    let mut total = html.len();
    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
    ] {
        assert!(html.contains(&format!("/ui/{file}")), "{file} not linked");
        let r = get(&format!("/ui/{file}"));
        assert_eq!(r.status(), 200, "{file}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        total += r.text().unwrap().len();
    }
    assert!(total < 300 * 1024, "page and files: {total} bytes");
    let missing = get("/ui/nothing.js");
    assert_eq!(missing.status(), 404);
    assert!(missing.text().unwrap().contains("app.js"));
}

#[test]
fn the_chat_page_works_in_headless_chromium() {
    let sb = Sandbox::new();
    // A context large enough for an answer long enough to be stopped.
    let server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--ctx-size",
        "4096",
        "--parallel",
        "1",
    ]);
    let shots = std::env::var("SHIMMY_UI_SCREENSHOTS").unwrap_or_default();
    let out = run_python(
        "ui_browser.py",
        &server.base,
        &[&server.pid().to_string(), "dense", &shots],
    );
    assert!(out.trim_end().ends_with("ok"), "{out}");
}
