//! One model across several processes over ggml's RPC backend: two `shimmy-host rpc-worker`
//! processes on loopback ports (CPU devices) and a head that splits the dense test-kit model
//! across itself and both workers (`--rpc`, `--gpu-layers 3`: layers 0-1 on the head, 2-3
//! on the first worker, the output layer on the second).

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{http, models, s, Run, Sandbox, ServerProc};
use serde_json::{json, Value};

/// A running `shimmy-host rpc-worker`, killed when dropped.
struct Worker {
    child: Child,
}

impl Worker {
    /// Starts a worker on `addr` and waits until it accepts connections.
    fn start(sandbox: &Sandbox, addr: &str) -> Worker {
        Worker::start_with(sandbox, addr, &[])
    }

    /// [`Worker::start`] with more `rpc-worker` flags (`--mem MB`).
    fn start_with(sandbox: &Sandbox, addr: &str, extra: &[&str]) -> Worker {
        let mut args = vec!["rpc-worker", "--bind", addr, "--threads", "1"];
        args.extend_from_slice(extra);
        let child = sandbox
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rpc-worker");
        let mut worker = Worker { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = worker.child.try_wait() {
                let mut err = String::new();
                let _ = worker.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("rpc-worker on {addr} exited with {status}: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "rpc-worker on {addr} never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        worker
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback address with a port nothing listens on now.
fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn generate(sandbox: &Sandbox, extra: &[&str]) -> String {
    let mut args = vec![
        "generate",
        "-m",
        s(&models().dense),
        "-p",
        "Hello",
        "--temperature",
        "0",
        "--max-tokens",
        "24",
    ];
    args.extend_from_slice(extra);
    sandbox.run(&args).ok().stdout
}

/// `probe` of the dense test model over the workers `rpc`, three layers offloaded.
fn probe_split(sandbox: &Sandbox, rpc: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "probe",
        s(&models().dense),
        "--rpc",
        rpc,
        "--gpu-layers",
        "3",
    ];
    args.extend_from_slice(extra);
    sandbox.run(&args)
}

#[test]
fn a_model_split_over_two_workers_matches_the_local_run() {
    let sandbox = Sandbox::new();
    let (a, b) = (free_addr(), free_addr());
    let _w1 = Worker::start(&sandbox, &a);
    let _w2 = Worker::start(&sandbox, &b);
    let rpc = format!("{a},{b}");
    let local = generate(&sandbox, &[]);
    let split = generate(&sandbox, &["--rpc", &rpc, "--gpu-layers", "3"]);
    assert!(!local.trim().is_empty());
    assert_eq!(
        split, local,
        "greedy text differs when split over the workers"
    );

    let probe = probe_split(&sandbox, &rpc, &[]).ok();
    let expected =
        format!("layer split:    layers 0-1 on CPU, layers 2-3 on rpc {a}, layer 4 on rpc {b}");
    assert!(probe.stdout.contains(&expected), "{}", probe.stdout);
    let placement = probe
        .stdout
        .lines()
        .find(|l| l.starts_with("placement:"))
        .unwrap();
    for worker in [&a, &b] {
        assert!(placement.contains(&format!("rpc {worker} ")), "{placement}");
        assert!(
            probe
                .stdout
                .contains(&format!("memory:         rpc {worker} weights")),
            "{}",
            probe.stdout
        );
    }
    // --tensor-split weighs the devices: one of the three offloaded layers on the first
    // worker, two on the second, and the text stays the same.
    let weighed = probe_split(&sandbox, &rpc, &["--tensor-split", "1,2"]).ok();
    let expected =
        format!("layer split:    layers 0-1 on CPU, layer 2 on rpc {a}, layers 3-4 on rpc {b}");
    assert!(weighed.stdout.contains(&expected), "{}", weighed.stdout);
    let weighed_text = generate(
        &sandbox,
        &["--rpc", &rpc, "--gpu-layers", "3", "--tensor-split", "1,2"],
    );
    assert_eq!(weighed_text, local);
    let wrong = probe_split(&sandbox, &rpc, &["--tensor-split", "1,2,3"]).fails();
    assert!(
        wrong.stderr.contains("--tensor-split lists 3 devices"),
        "{}",
        wrong.stderr
    );

    let info = sandbox.run(&["gpu-info", "--rpc", &rpc]).ok();
    assert!(info.stdout.contains(&format!("rpc {b}")), "{}", info.stdout);

    // Listening beyond loopback warns that ggml RPC has no authentication.
    let port = free_addr().rsplit_once(':').unwrap().1.to_string();
    let mut open = sandbox
        .cmd(&["rpc-worker", "--bind", &format!("0.0.0.0:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(open.stderr.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = open.kill();
    let _ = open.wait();
    assert!(
        line.contains("no authentication and no encryption"),
        "{line}"
    );

    // A worker that is down at startup: a clear error naming it, before llama.cpp connects.
    let down = free_addr();
    let failed = sandbox
        .run(&[
            "generate",
            "-m",
            s(&models().dense),
            "-p",
            "x",
            "--rpc",
            &format!("{a},{down}"),
        ])
        .fails();
    assert!(
        failed
            .stderr
            .contains(&format!("rpc worker {down} is not reachable")),
        "{}",
        failed.stderr
    );
}

fn completion(server: &ServerProc, model: &str, max_tokens: u32) -> (u16, Value) {
    let r = http(120)
        .post(format!("{}/v1/completions", server.base))
        .json(
            &json!({"model": model, "prompt": "Hello", "max_tokens": max_tokens, "temperature": 0}),
        )
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn health(server: &ServerProc) -> (u16, Value) {
    let r = http(60)
        .get(format!("{}/health", server.base))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

#[test]
fn a_worker_killed_mid_stream_fails_that_request_and_service_comes_back() {
    let sandbox = Sandbox::new();
    let (a, b) = (free_addr(), free_addr());
    let _w1 = Worker::start(&sandbox, &a);
    let mut w2 = Worker::start(&sandbox, &b);
    let dense = s(&models().dense);
    let server = sandbox.serve(&[
        "--model",
        dense,
        "--model",
        s(&models().qwen3moe),
        "--rpc",
        &format!("{a},{b}"),
        "--rpc-models",
        "dense",
        "--rpc-retry",
        "1",
        "--gpu-layers",
        "3",
        "--max-loaded-models",
        "2",
        "--ctx-size",
        "2048",
        "--parallel",
        "1",
    ]);
    let (status, before) = completion(&server, "dense", 12);
    assert_eq!(status, 200, "{before}");

    // Stream a long completion, kill the second worker once tokens flow.
    let mut stream = http(120)
        .post(format!("{}/v1/completions", server.base))
        .json(&json!({"model": "dense", "prompt": "Hello", "max_tokens": 2000, "temperature": 0, "stream": true}))
        .send()
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.windows(6).filter(|w| w == b"data: ").count() < 5 {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    w2.kill();
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains(&format!("rpc worker {b} was lost"))
            && rest.contains("rpc_worker_unavailable"),
        "{rest}"
    );

    // The server is up: the other model answers, the split one is a 502 naming the worker,
    // and /health takes the replica out of rotation.
    let (status, other) = completion(&server, "qwen3moe", 4);
    assert_eq!(status, 200, "{other}");
    let (status, err) = completion(&server, "dense", 4);
    assert_eq!(status, 502, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains(&b),
        "{err}"
    );
    let (status, h) = health(&server);
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["status"], "unhealthy");
    assert!(h["error"]["message"].as_str().unwrap().contains(&b), "{h}");

    // The worker comes back: --rpc-retry reloads the model and /health is 200 again.
    let mut w2 = Worker::start(&sandbox, &b);
    let deadline = Instant::now() + Duration::from_secs(90);
    while health(&server).0 != 200 {
        assert!(Instant::now() < deadline, "{}", health(&server).1);
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, after) = completion(&server, "dense", 12);
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["choices"][0]["text"], before["choices"][0]["text"]);

    // A worker that dies while nothing runs shows in /health without a request.
    w2.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    while health(&server).0 != 503 {
        assert!(Instant::now() < deadline, "{}", health(&server).1);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--moe-offload auto` plans the workers like GPUs: each within the memory it reports
/// (`--mem`), the experts that do not fit in the head's host memory, the same greedy text.
#[test]
fn auto_fits_the_experts_into_the_workers_memory() {
    let sandbox = Sandbox::new();
    let (a, b) = (free_addr(), free_addr());
    let _w1 = Worker::start_with(&sandbox, &a, &["--mem", "12"]);
    let _w2 = Worker::start_with(&sandbox, &b, &["--mem", "14"]);
    let rpc = format!("{a},{b}");
    let moe = s(&models().qwen3moe);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "-m",
            moe,
            "-p",
            "Hello",
            "--temperature",
            "0",
            "--max-tokens",
            "16",
            "--ctx-size",
            "512",
        ];
        args.extend_from_slice(extra);
        sandbox.run(&args).ok().stdout
    };
    let local = run(&[]);
    let split = run(&["--rpc", &rpc, "--moe-offload", "auto"]);
    assert_eq!(
        split, local,
        "greedy text differs with auto over the workers"
    );
    let probe = sandbox
        .run(&[
            "probe",
            moe,
            "--rpc",
            &rpc,
            "--moe-offload",
            "auto",
            "--ctx-size",
            "512",
        ])
        .ok();
    let placement = probe
        .stdout
        .lines()
        .find(|l| l.starts_with("placement:"))
        .unwrap();
    // Some experts on the workers, some in the head's host memory.
    let host: usize = placement
        .split("auto fit, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{placement}"));
    assert!(host > 0, "{placement}");
    assert!(placement.contains("expert tensors"), "{placement}");
    assert!(!placement.contains("every expert tensor"), "{placement}");
    for worker in [&a, &b] {
        assert!(placement.contains(&format!("rpc {worker} ")), "{placement}");
    }
    // Too little memory for the model even with every expert on the host: the error names
    // the workers and the fix.
    let tight = sandbox
        .run(&[
            "probe",
            moe,
            "--rpc",
            &a,
            "--moe-offload",
            "auto",
            "--ctx-size",
            "512",
        ])
        .fails();
    assert!(
        tight.stderr.contains("too small") && tight.stderr.contains(&format!("rpc {a}")),
        "{}",
        tight.stderr
    );
}
