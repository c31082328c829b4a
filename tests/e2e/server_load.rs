//! `shimmy-host serve` on real llama.cpp under load and over its life: concurrent streams,
//! clients that go away, a full queue, the startup banner, /health and /metrics, model
//! loading, keep-alive and eviction, a busy port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{http, models, s, Sandbox, ServerProc};
use serde_json::{json, Value};

fn get_json(server: &ServerProc, path: &str) -> (u16, Value) {
    let r = http(120)
        .get(format!("{}{path}", server.base))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().unwrap()).unwrap())
}

fn busy_slots(server: &ServerProc) -> u64 {
    get_json(server, "/health").1["slots"]["busy"]
        .as_u64()
        .unwrap()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Opens a streaming chat completion on a raw socket and reads until the first content
/// chunk; the caller drops the socket to go away mid-stream.
fn open_stream(server: &ServerProc, body: &Value) -> TcpStream {
    let mut sock = TcpStream::connect(&server.addr).unwrap();
    let body = body.to_string();
    write!(
        sock,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"content\":\"") || seen.len() < 600 {
        let n = sock.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stream closed early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    sock
}

fn completion(prompt: &str, tokens: u32, stream: bool) -> Value {
    json!({"model": "dense", "prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": stream})
}

fn text_of_stream(body: &str) -> String {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn eight_concurrent_streams_complete_with_the_single_request_outputs() {
    let sb = Sandbox::new();
    let server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--ctx-size",
        "512",
        "--parallel",
        "8",
    ]);
    let prompts: Vec<String> = (0..8)
        .map(|i| format!("<|im_start|>user\nStory number {i} about the sea<|im_end|>\n<|im_start|>assistant\n"))
        .collect();
    let single: Vec<String> = prompts
        .iter()
        .map(|p| {
            let v: Value = http(120)
                .post(format!("{}/v1/completions", server.base))
                .json(&completion(p, 24, false))
                .send()
                .unwrap()
                .json()
                .unwrap();
            v["choices"][0]["text"].as_str().unwrap().to_string()
        })
        .collect();
    let handles: Vec<_> = prompts
        .iter()
        .map(|p| {
            let url = format!("{}/v1/completions", server.base);
            let body = completion(p, 24, true);
            std::thread::spawn(move || {
                http(120)
                    .post(url)
                    .json(&body)
                    .send()
                    .unwrap()
                    .text()
                    .unwrap()
            })
        })
        .collect();
    let streamed: Vec<String> = handles
        .into_iter()
        .map(|h| text_of_stream(&h.join().unwrap()))
        .collect();
    assert_eq!(
        streamed, single,
        "batched greedy outputs must equal the single-request ones"
    );
    assert_eq!(busy_slots(&server), 0);
}

/// Requests the scheduler finished so far (cancelled ones included).
fn finished_requests(server: &ServerProc) -> u64 {
    get_json(server, "/health").1["models"][0]["scheduler"]["finished"]
        .as_u64()
        .unwrap_or(0)
}

/// Tokens the scheduler generated so far (cancelled requests included).
fn generated_tokens(server: &ServerProc) -> u64 {
    get_json(server, "/health").1["models"][0]["scheduler"]["generated_tokens"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_client_that_goes_away_frees_its_slot_and_others_are_unaffected() {
    let sb = Sandbox::new();
    let server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--ctx-size",
        "4096",
        "--parallel",
        "2",
    ]);
    let long = json!({"model": "dense", "messages": [{"role": "user", "content": "Go on forever"}], "max_tokens": 4000, "stream": true});
    // The other client: a bounded stream whose result is known in advance.
    let prompt = "<|im_start|>user\nA short one<|im_end|>\n<|im_start|>assistant\n";
    let expected: Value = http(120)
        .post(format!("{}/v1/completions", server.base))
        .json(&completion(prompt, 300, false))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let before = generated_tokens(&server);
    let sock = open_stream(&server, &long);
    wait_for("the long stream to hold a slot", 30, || {
        busy_slots(&server) >= 1
    });
    let url = format!("{}/v1/completions", server.base);
    let other = std::thread::spawn(move || {
        http(120)
            .post(url)
            .json(&completion(prompt, 300, true))
            .send()
            .unwrap()
            .text()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(50));
    let finished = finished_requests(&server);
    drop(sock);
    let dropped_at = Instant::now();
    wait_for("the dropped stream to end", 10, || {
        finished_requests(&server) > finished
    });
    let freed_after = dropped_at.elapsed();
    assert_eq!(
        text_of_stream(&other.join().unwrap()),
        expected["choices"][0]["text"].as_str().unwrap(),
        "the other stream is unaffected"
    );
    wait_for("all slots idle", 10, || busy_slots(&server) == 0);
    let long_tokens = generated_tokens(&server) - before - 300;
    assert!(
        long_tokens < 4000,
        "the dropped stream was not cancelled: {long_tokens} tokens generated"
    );
    assert!(freed_after < Duration::from_secs(3), "{freed_after:?}");
    let metrics = http(120)
        .get(format!("{}/metrics", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("shimmy_busy_slots{model=\"dense\"} 0"),
        "{metrics}"
    );
    // A non-streaming client that times out is cancelled too.
    let before = generated_tokens(&server);
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient
        .post(format!("{}/v1/completions", server.base))
        .json(&completion("Once", 4000, false))
        .send();
    assert!(r.is_err(), "the request should have timed out");
    wait_for("the abandoned request to stop", 10, || {
        busy_slots(&server) == 0
    });
    assert!(generated_tokens(&server) - before < 4000);
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let sb = Sandbox::new();
    let server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--ctx-size",
        "4096",
        "--parallel",
        "1",
        "--max-queue",
        "1",
    ]);
    let long = json!({"model": "dense", "messages": [{"role": "user", "content": "Go on"}], "max_tokens": 4000, "stream": true});
    let running = open_stream(&server, &long);
    // The second waits in the queue (its headers come once it runs).
    let mut queued = TcpStream::connect(&server.addr).unwrap();
    let body = long.to_string();
    write!(
        queued,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .unwrap();
    wait_for("one queued request", 30, || {
        get_json(&server, "/health").1["queued"] == 1
    });
    let r = http(120)
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({"model": "dense", "messages": [{"role": "user", "content": "me too"}], "max_tokens": 4}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "queue_full", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--max-queue 1"));
    // Ollama routes say it in their shape.
    let r = http(120)
        .post(format!("{}/api/generate", server.base))
        .json(&json!({"model": "dense", "prompt": "me too", "stream": false}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    drop(queued);
    drop(running);
    wait_for("the server to drain", 10, || busy_slots(&server) == 0);
    let (status, _) = get_json(&server, "/health");
    assert_eq!(status, 200);
}

#[test]
fn startup_banner_health_and_metrics() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--model",
        s(&models().dense),
        "--model",
        s(&models().qwen3moe),
        "--cpu-moe",
        "--ctx-size",
        "512",
        "--preload",
        "--max-loaded-models",
        "2",
    ]);
    cmd.env("RUST_LOG", "off");
    let server = sb.serve_cmd(cmd);
    server.wait_stdout("ready", 120);
    let out = server.stdout();
    for needle in [
        "shimmy-host 0.",
        "compute backend: llama.cpp",
        "device CPU",
        "MoE offload: all expert weights in host memory (--cpu-moe)",
        "models available: 2",
        "dense",
        "qwen3moe",
        "template jinja (the model's embedded chat template)",
        "plugins loaded:",
        "chatml",
        "routes:",
        "/v1/chat/completions",
        "/api/generate",
        "/metrics",
        "listening on http://127.0.0.1:",
        "loaded dense in",
        "loaded qwen3moe in",
    ] {
        assert!(out.contains(needle), "banner lacks {needle:?}:\n{out}");
    }
    assert!(!out.contains('\u{1b}'), "NO_COLOR: no escape codes:\n{out}");
    let (status, health) = get_json(&server, "/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["slots"]["total"], 8, "{health}");
    assert_eq!(health["models"].as_array().unwrap().len(), 2);
    assert!(health["models"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["loaded"] == true));
    // Some traffic, then the metrics.
    http(120)
        .post(format!("{}/v1/completions", server.base))
        .json(&json!({"model": "qwen3moe", "prompt": "Hello", "max_tokens": 4}))
        .send()
        .unwrap();
    let metrics = http(120)
        .get(format!("{}/metrics", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for needle in [
        "shimmy_requests_total{route=\"/v1/completions\",status=\"200\"} 1",
        "shimmy_prompt_tokens_total{model=\"qwen3moe\"}",
        "shimmy_generated_tokens_total{model=\"qwen3moe\"} 4",
        "shimmy_generated_tokens_per_second",
        "shimmy_time_to_first_token_seconds_bucket{le=",
        "shimmy_time_per_output_token_seconds_count{model=\"qwen3moe\"}",
        "shimmy_queue_depth{model=\"dense\"} 0",
        "shimmy_busy_slots{model=\"qwen3moe\"} 0",
        "shimmy_loaded_models 2",
        "shimmy_device_memory_total_bytes{device=\"CPU\"",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle:?}:\n{metrics}"
        );
    }
    // The same address again is a clear error.
    let busy = sb
        .run(&[
            "serve",
            "--bind",
            &server.addr,
            "--model",
            s(&models().dense),
        ])
        .fails();
    assert!(busy.stderr.contains("already in use"), "{}", busy.stderr);
    assert!(busy.stderr.contains(&server.addr), "{}", busy.stderr);
}

#[test]
fn models_load_lazily_and_are_evicted_for_room_and_idleness() {
    let sb = Sandbox::new();
    let server = sb.serve(&[
        "--model",
        s(&models().dense),
        "--model",
        s(&models().qwen3moe),
        "--ctx-size",
        "512",
        "--max-loaded-models",
        "1",
        "--keep-alive",
        "2s",
    ]);
    let loaded = || -> Vec<String> {
        get_json(&server, "/api/ps").1["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        loaded().is_empty(),
        "nothing is loaded before the first request"
    );
    // Several models: a request must name one.
    let r = http(120)
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let ask = |model: &str| {
        let r = http(120)
            .post(format!("{}/v1/completions", server.base))
            .json(&json!({"model": model, "prompt": "Hi", "max_tokens": 2}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    ask("dense");
    assert_eq!(loaded(), vec!["dense"]);
    ask("qwen3moe");
    assert_eq!(loaded(), vec!["qwen3moe"], "dense made room for qwen3moe");
    wait_for("the idle model to be unloaded", 10, || loaded().is_empty());
    // --bind auto prints the address it got.
    let auto = sb.serve(&["--bind", "auto", "--model", s(&models().dense)]);
    assert!(auto.stdout().contains("listening on http://127.0.0.1:"));
    assert_eq!(get_json(&auto, "/health").0, 200);
}
