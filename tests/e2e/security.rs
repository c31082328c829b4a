//! Who may use the server, against the real binary over loopback HTTP: API keys (flags,
//! file, environment; 401 in each route family's shape, never logged), JSON-only bodies
//! (415), the `Host` check against DNS rebinding (403), CORS, the warning and the tools of a
//! public address without a key, and SIGTERM draining running streams.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{http, models, s, Sandbox, ServerProc};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{json, Value};

fn json_of(r: Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, v)
}

fn get(server: &ServerProc, path: &str) -> RequestBuilder {
    http(60).get(format!("{}{path}", server.base))
}

fn post(server: &ServerProc, path: &str) -> RequestBuilder {
    http(60).post(format!("{}{path}", server.base))
}

fn serve_dense(sb: &Sandbox, extra: &[&str]) -> ServerProc {
    let mut args = vec!["--model", s(&models().dense), "--ctx-size", "512"];
    args.extend_from_slice(extra);
    sb.serve(&args)
}

const KEY_FLAG: &str = "sk-flag-5d1e0c7a";
const KEY_FILE: &str = "sk-file-93b4aa20";

#[test]
fn api_keys_guard_every_route_but_health_and_the_page() {
    let sb = Sandbox::new();
    let file = sb.path().join("keys.txt");
    std::fs::write(&file, format!("# operators\n\n  {KEY_FILE}  \n")).unwrap();
    let server = serve_dense(
        &sb,
        &["-vv", "--api-key", KEY_FLAG, "--api-key-file", s(&file)],
    );
    assert!(
        server
            .stdout()
            .contains("access: API key required (2 keys); Host: loopback names;"),
        "{}",
        server.stdout()
    );
    for open in ["/health", "/", "/ui/", "/ui/app.js"] {
        assert_eq!(get(&server, open).send().unwrap().status(), 200, "{open}");
    }
    // No key, a wrong key: 401 with WWW-Authenticate, in each family's shape.
    let (status, headers, v) = json_of(get(&server, "/v1/models").send().unwrap());
    assert_eq!(status, 401, "{v}");
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("Bearer"));
    let (status, headers, v) = json_of(
        get(&server, "/api/tags")
            .header("x-api-key", "sk-wrong")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert!(v["error"].as_str().unwrap().contains("not valid"), "{v}");
    for r in [
        get(&server, "/metrics"),
        get(&server, "/api/tools"),
        post(&server, "/v1/chat/completions").json(&json!({})),
    ] {
        let r = r.bearer_auth(&KEY_FLAG[..10]).send().unwrap();
        assert_eq!(r.status(), 401, "{}", r.url());
    }
    // Either key, either header.
    let ok = get(&server, "/api/tags")
        .bearer_auth(KEY_FLAG)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = get(&server, "/v1/models").header("x-api-key", KEY_FILE);
    assert_eq!(ok.send().unwrap().status(), 200);
    let (status, _, v) = json_of(
        post(&server, "/v1/chat/completions")
            .bearer_auth(KEY_FILE)
            .json(&json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    let log = format!("{}{}", server.stdout(), server.stderr());
    assert!(log.contains("401"), "the refusals are logged at -vv: {log}");
    for key in [KEY_FLAG, KEY_FILE, &KEY_FLAG[..10]] {
        assert!(!log.contains(key), "the log shows a key");
    }
}

#[test]
fn api_key_from_the_environment_and_bad_key_files() {
    let sb = Sandbox::new();
    let empty = sb.path().join("empty.txt");
    std::fs::write(&empty, "# no keys yet\n\n").unwrap();
    for (flags, says) in [
        (["--api-key-file", s(&empty)], "holds no key"),
        (
            ["--api-key-file", "nope.txt"],
            "cannot read --api-key-file nope.txt",
        ),
        (["--api-key", ""], "--api-key must not be empty"),
    ] {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0"];
        args.extend(flags);
        let run = sb.run(&args).fails();
        assert!(run.stderr.contains(says), "{flags:?}: {}", run.stderr);
    }

    let mut cmd = sb.cmd(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--model",
        s(&models().dense),
    ]);
    cmd.env("SHIMMY_API_KEY", "sk-env-1");
    let server = sb.serve_cmd(cmd);
    assert_eq!(get(&server, "/api/ps").send().unwrap().status(), 401);
    let ok = get(&server, "/api/ps")
        .bearer_auth("sk-env-1")
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let help = sb.run(&["serve", "--help"]).ok();
    assert!(help.stdout.contains("SHIMMY_API_KEY"), "{}", help.stdout);
}

#[test]
fn json_routes_refuse_other_content_types() {
    let sb = Sandbox::new();
    let server = serve_dense(&sb, &[]);
    let show = r#"{"model": "dense"}"#;
    let send = |path: &str, content_type: Option<&str>, origin: Option<&str>| {
        let mut r = post(&server, path).body(show);
        if let Some(t) = content_type {
            r = r.header("content-type", t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        json_of(r.send().unwrap())
    };
    // What a hostile page can send without a preflight: refused in each family's shape.
    let (status, _, v) = send("/v1/chat/completions", Some("text/plain"), None);
    assert_eq!(status, 415, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_media_type");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("text/plain"));
    let (status, _, v) = send("/api/show", Some("text/plain;charset=UTF-8"), None);
    assert_eq!(status, 415, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("application/json"),
        "{v}"
    );
    for (content_type, origin) in [
        (Some("multipart/form-data; boundary=x"), None),
        (
            Some("application/x-www-form-urlencoded"),
            Some("http://evil.example"),
        ),
        (None, Some("http://evil.example")),
    ] {
        let (status, _, v) = send("/api/show", content_type, origin);
        assert_eq!(status, 415, "{content_type:?} {origin:?}: {v}");
    }
    // JSON types, and what non-browser clients send: curl -d's form type, or no type.
    for content_type in [
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/merge-patch+json"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (status, _, v) = send("/api/show", content_type, None);
        assert_eq!(status, 200, "{content_type:?}: {v}");
    }
    let (status, _, v) = send(
        "/api/show",
        Some("application/json"),
        Some("http://localhost:3000"),
    );
    assert_eq!(status, 200, "{v}");
}

#[test]
fn loopback_server_checks_host_and_answers_cors() {
    let sb = Sandbox::new();
    let server = serve_dense(
        &sb,
        &[
            "--allowed-hosts",
            "box.lan",
            "--cors-origins",
            "https://app.example",
        ],
    );
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let with_host =
        |path: &str, host: &str| get(&server, path).header("host", host).send().unwrap();
    // DNS rebinding: a foreign name pointed at 127.0.0.1 is refused, in each family's shape.
    let (status, _, v) = json_of(with_host("/v1/models", &format!("evil.example:{port}")));
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "host_not_allowed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--allowed-hosts"));
    let (status, _, v) = json_of(with_host("/api/tags", "evil.example"));
    assert_eq!(status, 403);
    assert!(v["error"].as_str().unwrap().contains("evil.example"), "{v}");
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
        "Box.LAN:8080".to_string(),
    ] {
        assert_eq!(with_host("/api/tags", &host).status(), 200, "{host}");
    }

    // A preflight from a localhost page: the methods and headers the API uses.
    let preflight = |origin: &str| {
        http(30)
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/chat/completions", server.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-api-key",
            )
            .send()
            .unwrap()
    };
    let r = preflight("http://localhost:5173");
    assert!(r.status().is_success(), "{}", r.status());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:5173");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in ["authorization", "content-type", "x-api-key"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert_eq!(h["access-control-max-age"], "600");
    let r = preflight("http://evil.example");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Simple requests: the listed origin and localhost ones get the header, others do not.
    let origin_of = |origin: &str| {
        let r = get(&server, "/api/version")
            .header("origin", origin)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(
        origin_of("https://app.example").as_deref(),
        Some("https://app.example")
    );
    assert_eq!(
        origin_of("http://127.0.0.1:8000").as_deref(),
        Some("http://127.0.0.1:8000")
    );
    assert_eq!(origin_of("http://evil.example"), None);
    assert_eq!(origin_of("http://localhost.evil.example"), None);
}

#[test]
fn public_address_without_a_key_warns_and_turns_files_off() {
    let sb = Sandbox::new();
    let tools_of = |server: &ServerProc| -> Vec<String> {
        let port = server.addr.rsplit(':').next().unwrap();
        let r = http(30)
            .get(format!("http://127.0.0.1:{port}/api/tools"))
            .header("host", "box.example")
            .header("origin", "http://evil.example")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "a public address answers any Host");
        let cors = r.headers().get("access-control-allow-origin").cloned();
        let v: Value = r.json().unwrap();
        let mut names: Vec<String> = v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["plugin"].as_str().unwrap().to_string())
            .collect();
        if let Some(c) = cors {
            names.push(format!("cors:{}", c.to_str().unwrap()));
        }
        names
    };
    let open = serve_dense(&sb, &["--bind", "0.0.0.0:0", "--cors-origins", "*"]);
    let stderr = open.stderr();
    assert!(
        stderr.contains("warning: listening on 0.0.0.0:") && stderr.contains("without an API key"),
        "{stderr}"
    );
    assert!(
        open.stdout()
            .contains("access: no API key; any Host; CORS: any origin"),
        "{}",
        open.stdout()
    );
    let tools = tools_of(&open);
    assert!(tools.contains(&"calculator".to_string()), "{tools:?}");
    assert!(!tools.contains(&"files".to_string()), "{tools:?}");
    assert!(tools.contains(&"cors:*".to_string()), "{tools:?}");
    drop(open);
    let allowed = serve_dense(&sb, &["--bind", "0.0.0.0:0", "--allow-remote-tools"]);
    let tools = tools_of(&allowed);
    assert!(tools.contains(&"files".to_string()), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("cors:")), "{tools:?}");
    drop(allowed);
    let keyed = serve_dense(&sb, &["--bind", "0.0.0.0:0", "--api-key", "k"]);
    assert!(
        !keyed.stderr().contains("warning: listening"),
        "{}",
        keyed.stderr()
    );
}

/// SIGTERM to the server process.
fn sigterm(server: &ServerProc) {
    let rc = unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

/// Waits for the server to exit (panics after `secs`); its exit status.
fn wait_exit(server: &mut ServerProc, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = server.exited() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "still running {secs} s after SIGTERM\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a streaming chat and returns its reader once the first event came.
fn start_stream(server: &ServerProc, max_tokens: u32) -> BufReader<Response> {
    let r = http(120)
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({
            "messages": [{"role": "user", "content": "count"}],
            "max_tokens": max_tokens, "stream": true, "temperature": 1.0, "seed": 3,
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("data: "), "{line}");
    reader
}

#[test]
fn sigterm_lets_running_streams_finish_then_exits_0() {
    let sb = Sandbox::new();
    let mut server = serve_dense(&sb, &["--parallel", "1"]);
    let mut stream = start_stream(&server, 200);
    sigterm(&server);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stream, &mut rest).unwrap();
    assert!(rest.contains("finish_reason"), "{rest}");
    assert!(
        rest.trim_end().ends_with("data: [DONE]"),
        "the stream was cut: {rest}"
    );
    let status = wait_exit(&mut server, 30);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(server.stderr().contains("SIGTERM"), "{}", server.stderr());

    // A stream longer than --shutdown-timeout is cut and the server exits 0 anyway.
    let mut server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--ctx-size",
        "4096",
        "--parallel",
        "1",
        "--shutdown-timeout",
        "1s",
    ]);
    let _stream = start_stream(&server, 4000);
    let signalled = Instant::now();
    sigterm(&server);
    let status = wait_exit(&mut server, 20);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    let stderr = server.stderr();
    assert!(
        stderr.contains("exiting without them") || signalled.elapsed() < Duration::from_secs(2),
        "{stderr}"
    );
}
