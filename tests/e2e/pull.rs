//! `shimmy-host pull` and Ollama's `/api/pull` / `/api/delete` against a local mirror of
//! the Hugging Face hub protocol (tests/e2e/python/hub_mirror.py; there is no internet):
//! full, resumed, corrupt and refused downloads, the hub cache layout other tools share,
//! and a split model pulled and served as one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{http, models, python, s, Sandbox};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A running hub mirror, killed when dropped.
struct Mirror {
    child: Child,
    /// `http://127.0.0.1:PORT` (what HF_ENDPOINT is set to).
    endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mirror {
    /// Serves the repositories under `root` (`ORG/NAME/FILES`), with mirror flags `extra`.
    fn start(root: &Path, extra: &[&str]) -> Mirror {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("ports");
        let log = dir.path().join("requests.jsonl");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/python/hub_mirror.py");
        let child = Command::new(python())
            .arg(script)
            .args([
                "--root",
                s(root),
                "--port-file",
                s(&port_file),
                "--log",
                s(&log),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the hub mirror");
        let deadline = Instant::now() + Duration::from_secs(20);
        let ports = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text;
            }
            assert!(Instant::now() < deadline, "the hub mirror did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let api = ports.split_whitespace().next().unwrap().to_string();
        Mirror {
            child,
            endpoint: format!("http://127.0.0.1:{api}"),
            log,
            _dir: dir,
        }
    }

    /// Every request seen so far.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A mirror root with `test-org/Tiny-GGUF` (two quantizations and a README) made of the dense
/// test model.
fn tiny_repo() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("test-org/Tiny-GGUF");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(&models().dense, repo.join("tiny-Q8_0.gguf")).unwrap();
    std::fs::copy(&models().dense, repo.join("tiny-F16.gguf")).unwrap();
    std::fs::write(repo.join("README.md"), "# tiny\n").unwrap();
    root
}

/// `shimmy-host ARGS` in the sandbox, pointed at the mirror, with the cache in `HF_HOME`.
fn hub_cmd(sb: &Sandbox, mirror: &Mirror, args: &[&str]) -> Command {
    let mut cmd = sb.cmd(args);
    cmd.env("HF_ENDPOINT", &mirror.endpoint)
        .env("HF_HOME", sb.path().join("hf"))
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env_remove("HF_TOKEN");
    cmd
}

fn hub(sb: &Sandbox) -> PathBuf {
    sb.path().join("hf/hub")
}

/// Every file below `dir` (relative paths), to show what a failure left behind.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn pull_fills_the_hub_cache_that_discovery_and_other_tools_read() {
    let root = tiny_repo();
    let mirror = Mirror::start(root.path(), &["--token", "hf_secret"]);
    let sb = Sandbox::new();
    let run = common::run_cmd({
        let mut cmd = hub_cmd(&sb, &mirror, &["pull", "hf.co/test-org/Tiny-GGUF:q8_0"]);
        cmd.env("HF_TOKEN", "hf_secret");
        cmd
    })
    .ok();
    assert!(run.stdout.contains("name: tiny-q8_0"), "{}", run.stdout);
    assert!(
        run.stderr.contains("tiny-Q8_0.gguf: verifying"),
        "plain lines: {}",
        run.stderr
    );

    // huggingface_hub's layout: blobs/SHA256, snapshots/COMMIT/FILE -> ../../blobs/SHA256, refs/main.
    let repo = hub(&sb).join("models--test-org--Tiny-GGUF");
    let etag = sha256(&models().dense);
    let commit = std::fs::read_to_string(repo.join("refs/main")).unwrap();
    assert_eq!(commit.len(), 40, "{commit}");
    let link = repo.join("snapshots").join(&commit).join("tiny-Q8_0.gguf");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../../blobs").join(&etag)
    );
    assert_eq!(sha256(&link), etag);
    assert_eq!(
        tree(&repo),
        [
            format!("blobs/{etag}"),
            "refs/main".to_string(),
            format!("snapshots/{commit}/tiny-Q8_0.gguf")
        ],
        "only the file asked for, nothing partial"
    );
    // The token went to the hub, never to the blob host it redirects to.
    let requests = mirror.requests();
    assert!(
        requests
            .iter()
            .filter(|r| r["server"] == "api")
            .all(|r| r["auth"] == true),
        "{requests:?}"
    );
    let blob_gets: Vec<&Value> = requests.iter().filter(|r| r["server"] == "cdn").collect();
    assert_eq!(blob_gets.len(), 1, "{requests:?}");
    assert_eq!(blob_gets[0]["auth"], false, "token leaked to the blob host");

    let list = common::run_cmd(hub_cmd(&sb, &mirror, &["list"])).ok();
    assert!(list.stdout.contains("tiny-q8_0"), "{}", list.stdout);
    // huggingface_hub finds the file offline, and what it downloads shimmy-host does not fetch again.
    let hf = |mode: &str, file: &str| {
        let mut cmd = Command::new(python());
        cmd.arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/e2e/python/hf_cache_interop.py"),
        )
        .args([mode, "test-org/Tiny-GGUF", file])
        .env("HF_ENDPOINT", &mirror.endpoint)
        .env("HF_HUB_CACHE", hub(&sb))
        .env("HF_TOKEN", "hf_secret")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .stdin(Stdio::null());
        let out = common::run_cmd(cmd).ok();
        PathBuf::from(out.stdout.trim())
    };
    assert_eq!(hf("read", "tiny-Q8_0.gguf"), link);
    let theirs = hf("download", "README.md");
    assert_eq!(std::fs::read_to_string(theirs).unwrap(), "# tiny\n");

    // Again: nothing is downloaded; a wrong token is refused clearly.
    let again = common::run_cmd({
        let mut cmd = hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF/tiny-Q8_0.gguf"]);
        cmd.env("HF_TOKEN", "hf_secret");
        cmd
    })
    .ok();
    assert!(
        again.stderr.contains("already in the cache"),
        "{}",
        again.stderr
    );
    assert!(
        again.stdout.contains("(0 B downloaded)"),
        "{}",
        again.stdout
    );
    let refused =
        common::run_cmd(hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF:Q8_0"])).fails();
    assert!(
        refused.stderr.contains("refused the token") && refused.stderr.contains("HF_TOKEN"),
        "{}",
        refused.stderr
    );
}

#[test]
fn an_interrupted_download_resumes_with_range() {
    let root = tiny_repo();
    let mirror = Mirror::start(root.path(), &["--cut-after", "100000"]);
    let sb = Sandbox::new();
    // A broken connection is resumed within the same pull.
    let run = common::run_cmd(hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF:Q8_0"])).ok();
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    let ranges: Vec<Value> = mirror
        .requests()
        .into_iter()
        .filter(|r| r["server"] == "cdn")
        .map(|r| r["range"].clone())
        .collect();
    assert_eq!(ranges, [Value::Null, json!("bytes=100000-")]);
    let etag = sha256(&models().dense);
    let blob = hub(&sb)
        .join("models--test-org--Tiny-GGUF/blobs")
        .join(&etag);
    assert_eq!(sha256(&blob), etag);

    // A download killed earlier left `.incomplete`: the next pull asks only for the rest.
    let partial = hub(&sb)
        .join("models--test-org--Tiny-GGUF/blobs")
        .join(format!("{etag}.incomplete"));
    std::fs::remove_file(&blob).unwrap();
    let bytes = std::fs::read(&models().dense).unwrap();
    std::fs::write(&partial, &bytes[..54321]).unwrap();
    common::run_cmd(hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF:F16"])).ok();
    let last = mirror
        .requests()
        .into_iter()
        .rev()
        .find(|r| r["server"] == "cdn")
        .unwrap();
    assert_eq!(last["range"], "bytes=54321-", "{last}");
    assert_eq!(sha256(&blob), etag);
    assert!(!partial.exists());
}

#[test]
fn a_corrupt_download_is_refused_and_leaves_nothing_discoverable() {
    let root = tiny_repo();
    let mirror = Mirror::start(root.path(), &["--corrupt", "tiny-Q8_0.gguf"]);
    let sb = Sandbox::new();
    let run = common::run_cmd(hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF:Q8_0"])).fails();
    assert!(
        run.stderr.contains("corrupt")
            && run.stderr.contains("sha256")
            && run.stderr.contains("pull again"),
        "{}",
        run.stderr
    );
    let repo = hub(&sb).join("models--test-org--Tiny-GGUF");
    let left: Vec<String> = tree(&repo).into_iter().filter(|f| !f.is_empty()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let list = common::run_cmd(hub_cmd(&sb, &mirror, &["list"])).ok();
    assert!(list.stdout.contains("no models found"), "{}", list.stdout);
}

#[test]
fn bad_names_missing_repos_and_unknown_quants_are_clear_errors() {
    let root = tiny_repo();
    let mirror = Mirror::start(root.path(), &[]);
    let sb = Sandbox::new();
    let fails = |args: &[&str]| common::run_cmd(hub_cmd(&sb, &mirror, args)).fails().stderr;
    let e = fails(&["pull", "nobody/Nothing-GGUF"]);
    assert!(
        e.contains("repository nobody/Nothing-GGUF not found") && e.contains(&mirror.endpoint),
        "{e}"
    );
    let e = fails(&["pull", "test-org/Tiny-GGUF:Q3_K_M"]);
    assert!(
        e.contains("no GGUF file with quantization Q3_K_M")
            && e.contains("Q8_0 (tiny-Q8_0.gguf)")
            && e.contains("F16 (tiny-F16.gguf)"),
        "{e}"
    );
    let e = fails(&["pull", "test-org/Tiny-GGUF"]);
    assert!(
        e.contains("several GGUF models") && e.contains("tiny-Q8_0.gguf"),
        "{e}"
    );
    let e = fails(&["pull", "llama3.2"]);
    assert!(e.contains("ORG/NAME"), "{e}");
    let e = fails(&["pull", "test-org/Tiny-GGUF@v9:Q8_0"]);
    assert!(e.contains("no revision \"v9\""), "{e}");
    assert!(!hub(&sb).join("models--nobody--Nothing-GGUF").exists());
}

#[test]
fn an_unwritable_or_full_cache_is_a_clear_error_and_leaves_no_model() {
    let root = tiny_repo();
    let mirror = Mirror::start(root.path(), &[]);
    let sb = Sandbox::new();
    // HF_HUB_CACHE below a regular file: nothing can be created there (even as root).
    std::fs::write(sb.path().join("a-file"), "x").unwrap();
    let e = common::run_cmd({
        let mut cmd = hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF:Q8_0"]);
        cmd.env("HF_HUB_CACHE", sb.path().join("a-file/hub"));
        cmd
    })
    .fails()
    .stderr;
    assert!(
        e.contains("cannot create") && e.contains("HF_HUB_CACHE"),
        "{e}"
    );

    // The disk fills up while writing (the partial file is /dev/full).
    let blobs = hub(&sb).join("models--test-org--Tiny-GGUF/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let etag = sha256(&models().dense);
    std::os::unix::fs::symlink("/dev/full", blobs.join(format!("{etag}.incomplete"))).unwrap();
    let e = common::run_cmd(hub_cmd(&sb, &mirror, &["pull", "test-org/Tiny-GGUF:Q8_0"]))
        .fails()
        .stderr;
    assert!(
        e.contains("disk is full") && e.contains("free some space"),
        "{e}"
    );
    assert!(!hub(&sb)
        .join("models--test-org--Tiny-GGUF/snapshots")
        .exists());
    let list = common::run_cmd(hub_cmd(&sb, &mirror, &["list"])).ok();
    assert!(list.stdout.contains("no models found"), "{}", list.stdout);
}

#[test]
fn a_split_model_is_pulled_over_the_ollama_route_and_served_as_one() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("test-org/Split-GGUF");
    std::fs::create_dir_all(&repo).unwrap();
    let shards = shimmy_testkit::split_model(&models().dense, &repo, "split-Q8_0", 3).unwrap();
    let total: u64 = shards
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let mirror = Mirror::start(root.path(), &[]);
    let sb = Sandbox::new();
    let server = sb.serve_cmd(hub_cmd(
        &sb,
        &mirror,
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--ctx-size",
            "256",
            "--parallel",
            "1",
        ],
    ));

    let r = http(120)
        .post(format!("{}/api/pull", server.base))
        .json(&json!({"model": "hf.co/test-org/Split-GGUF:Q8_0"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = r
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!({"status": "pulling manifest"}));
    assert_eq!(
        lines.last().unwrap(),
        &json!({"status": "success"}),
        "{lines:?}"
    );
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    let at = |s: &str| {
        statuses
            .iter()
            .position(|x| *x == s)
            .unwrap_or_else(|| panic!("{s} missing: {statuses:?}"))
    };
    assert!(at("verifying sha256 digest") < at("writing manifest"));
    for shard in &shards {
        let digest = format!("sha256:{}", sha256(shard));
        let done = lines
            .iter()
            .rfind(|l| l["digest"] == digest.as_str())
            .unwrap_or_else(|| panic!("no progress for {digest}: {lines:?}"));
        let size = std::fs::metadata(shard).unwrap().len();
        assert_eq!(
            (done["total"].as_u64(), done["completed"].as_u64()),
            (Some(size), Some(size))
        );
        assert_eq!(done["status"], format!("pulling {}", &digest[7..19]));
    }

    // Offered at once, once, with the size of every shard; answers under the name pulled.
    let tags: Value = http(30)
        .get(format!("{}/api/tags", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let listed = tags["models"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{tags}");
    assert_eq!(listed[0]["name"], "split-q8_0");
    assert_eq!(listed[0]["size"], total);
    let (status, text) = server.post_text(
        "/v1/chat/completions",
        &json!({"model": "hf.co/test-org/Split-GGUF:Q8_0", "max_tokens": 4, "temperature": 0,
                "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 4, "{v}");
    let list = common::run_cmd(hub_cmd(&sb, &mirror, &["list"])).ok();
    assert_eq!(
        list.stdout.matches("split-q8_0").count(),
        1,
        "{}",
        list.stdout
    );

    // The official client reads the same stream; errors come as Ollama's.
    let out = common::run_python(
        "ollama_pull.py",
        &server.base,
        &["hf.co/test-org/Split-GGUF:Q8_0"],
    );
    assert!(out.contains("success"), "{out}");
    let (status, text) = server.post_text(
        "/api/pull",
        &json!({"model": "nobody/None-GGUF", "stream": false}),
    );
    assert_eq!(status, 404, "{text}");
    assert!(
        text.contains("repository nobody/None-GGUF not found"),
        "{text}"
    );
    let (status, text) = server.post_text("/api/pull", &json!({"model": "nobody/None-GGUF"}));
    assert_eq!(status, 200);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(
        last["error"].as_str().unwrap().contains("not found"),
        "{text}"
    );

    // Delete: unloaded, no longer offered, files gone; twice is a 404.
    let delete = |name: &str| {
        let r = http(30)
            .delete(format!("{}/api/delete", server.base))
            .json(&json!({"model": name}))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(delete("split-q8_0").0, 200);
    let tags: Value = http(30)
        .get(format!("{}/api/tags", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tags["models"], json!([]));
    let snapshots = hub(&sb).join("models--test-org--Split-GGUF/snapshots");
    assert!(tree(&snapshots).is_empty(), "{:?}", tree(&snapshots));
    assert!(tree(&hub(&sb).join("models--test-org--Split-GGUF/blobs")).is_empty());
    let (status, text) = delete("split-q8_0");
    assert_eq!(status, 404, "{text}");
}
