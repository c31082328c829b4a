//! Shared helpers of the end-to-end tests: the real `shimmy-host` binary, hermetic
//! environments, and test-kit models written once per test process.

#![allow(dead_code)]

pub mod real_model;
pub mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shimmy_testkit::{write_model, ModelSpec, ModelSummary, WeightType};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shimmy-host")
}

/// A cache directory shared by every test of this target (plugin compile cache).
pub fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-cache")
}

/// A temporary HOME / working directory so discovery sees only what a test puts there.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `shimmy-host` command with a clean environment rooted in the sandbox.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.path())
            .env("HOME", self.path())
            // Compiled plugins are cached across tests (compiling the built-ins in a debug
            // build takes a while); the per-user plugin dir stays inside HOME.
            .env("XDG_CACHE_HOME", shared_cache_dir())
            .env_remove("XDG_DATA_HOME")
            .env_remove("SHIMMY_CONFIG")
            .env_remove("SHIMMY_MODEL_PATHS")
            .env_remove("SHIMMY_BASE_GGUF")
            .env_remove("OLLAMA_MODELS")
            .env_remove("SHIMMY_BACKENDS_DIR")
            .env_remove("RUST_LOG")
            .env_remove("SHIMMY_API_KEY")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary and returns its output (killed after 120 s so a hang fails the test).
    pub fn run(&self, args: &[&str]) -> Run {
        run_cmd(self.cmd(args))
    }
}

/// Output of one run, decoded.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns self.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts a clean failure: exit code 1 (or 2 for usage errors), no panic, no abort.
    pub fn fails(self) -> Self {
        assert!(
            matches!(self.code, Some(1) | Some(2)),
            "expected a clean failure (exit 1/2), got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        // A host panic starts a line with "thread '...' panicked"; a plugin's own panic text
        // only appears inside log and error lines that quote its stderr.
        let host_panic = self
            .stderr
            .lines()
            .any(|l| l.starts_with("thread '") && l.contains("panicked"));
        assert!(!host_panic, "panic: {}", self.stderr);
        assert!(
            !self.stderr.contains("GGML_ASSERT"),
            "abort: {}",
            self.stderr
        );
        self
    }

    /// The generated text (stdout without the final newline `generate` prints).
    pub fn text(&self) -> &str {
        self.stdout.strip_suffix('\n').unwrap_or(&self.stdout)
    }
}

/// Runs a prepared command with a hard time limit.
pub fn run_cmd(mut cmd: Command) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shimmy-host");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shimmy-host did not finish within 120 s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout must be valid UTF-8"),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Test-kit models shared by all tests of one test binary.
pub struct Models {
    pub dir: PathBuf,
    pub dense: PathBuf,
    pub mixtral: PathBuf,
    pub mixtral_summary: ModelSummary,
    pub qwen3moe: PathBuf,
    pub qwen3moe_summary: ModelSummary,
}

/// Writes the models once (into a directory that lives as long as the test process).
pub fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let dense = dir.join("dense.gguf");
        write_model(&ModelSpec::dense(), &dense).expect("write dense");
        let mixtral = dir.join("mixtral.gguf");
        let mixtral_summary = write_model(
            &ModelSpec::mixtral_moe().with_weight_type(WeightType::Q8_0),
            &mixtral,
        )
        .expect("write mixtral");
        let qwen3moe = dir.join("qwen3moe.gguf");
        let qwen3moe_summary =
            write_model(&ModelSpec::qwen3_moe(), &qwen3moe).expect("write qwen3moe");
        Models {
            dir,
            dense,
            mixtral,
            mixtral_summary,
            qwen3moe,
            qwen3moe_summary,
        }
    })
}

/// `path` as &str (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

// ---- the HTTP server ------------------------------------------------------------------

/// A blocking HTTP client for the server tests (`timeout_s` per request).
pub fn http(timeout_s: u64) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(timeout_s))
        .build()
        .expect("HTTP client")
}

impl Sandbox {
    /// `serve` on the dense test model with a small context and two slots.
    pub fn serve_dense(&self) -> ServerProc {
        self.serve(&[
            "--model",
            s(&models().dense),
            "--ctx-size",
            "512",
            "--parallel",
            "2",
        ])
    }
}

impl ServerProc {
    /// GETs `path` and reads its JSON body (panics on a transport or JSON error).
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        http(60)
            .get(format!("{}{path}", self.base))
            .send()
            .expect("GET")
            .json()
            .expect("JSON body")
    }

    /// POSTs a JSON body to `path`; the status and the body text.
    pub fn post_text(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        let r = http(60)
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .expect("POST");
        (r.status().as_u16(), r.text().expect("body"))
    }
}

/// A running `shimmy-host serve`, killed when dropped.
pub struct ServerProc {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The address bound, `127.0.0.1:PORT`.
    pub addr: String,
    /// Everything printed to stdout so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
    /// Everything printed to stderr so far.
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServerProc {
    /// stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stdout contains `needle` (panics after `secs` seconds).
    pub fn wait_stdout(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.stdout().contains(needle) {
            if Instant::now() > deadline {
                panic!(
                    "server did not print {needle:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    mut pipe: impl std::io::Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<String>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    out
}

impl Sandbox {
    /// Starts `shimmy-host serve ARGS` (with `--bind 127.0.0.1:0` unless ARGS bind) and waits
    /// for its "listening on" line.
    pub fn serve(&self, args: &[&str]) -> ServerProc {
        let mut all = vec!["serve"];
        if !args.contains(&"--bind") {
            all.extend(["--bind", "127.0.0.1:0"]);
        }
        all.extend_from_slice(args);
        self.serve_cmd(self.cmd(&all))
    }

    /// Starts a prepared `serve` command and waits for its "listening on" line.
    pub fn serve_cmd(&self, mut cmd: Command) -> ServerProc {
        cmd.env("XDG_CACHE_HOME", plugin_cache());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shimmy-host serve");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let mut proc = ServerProc {
            child,
            base: String::new(),
            addr: String::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = proc.stdout();
            if let Some(rest) = out.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                proc.addr = addr.trim_end_matches("\u{1b}[0m").to_string();
                proc.base = format!("http://{}", proc.addr);
                return proc;
            }
            if let Some(status) = proc.exited() {
                panic!(
                    "serve exited with {status} before listening\nstdout:\n{}\nstderr:\n{}",
                    proc.stdout(),
                    proc.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "serve did not start within 120 s\nstdout:\n{out}\nstderr:\n{}",
                    proc.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A compiled-plugin cache shared by every server the tests start (a fresh HOME would make
/// each server compile the built-in plugins again, ~30 s on 2 cores); warmed once.
pub fn plugin_cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = shared_cache_dir();
        let run = run_cmd({
            let mut cmd = Command::new(bin());
            cmd.args(["plugin", "list"])
                .env("XDG_CACHE_HOME", &dir)
                .env("RUST_LOG", "off")
                .stdin(Stdio::null());
            cmd
        });
        assert_eq!(run.code, Some(0), "plugin list failed: {}", run.stderr);
        dir
    })
}

/// The Python with the `openai` and `ollama` packages: `SHIMMY_TEST_PYTHON`, else
/// `${SHIMMY_PYTHON_VENV:-$HOME/.cache/shimmy-host/venv}/bin/python`. Fails (never skips)
/// when it is missing or lacks the packages.
pub fn python() -> PathBuf {
    let python = match std::env::var_os("SHIMMY_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let venv = std::env::var_os("SHIMMY_PYTHON_VENV")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".cache/shimmy-host/venv"))
                })
                .expect("HOME or SHIMMY_PYTHON_VENV must be set");
            venv.join("bin").join("python")
        }
    };
    let ok = Command::new(&python)
        .args(["-c", "import openai, ollama"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import the `openai` and `ollama` packages; run .ci/install-deps to create \
         the test venv (or point SHIMMY_TEST_PYTHON at a python that has them)",
        python.display()
    );
    python
}

/// SmolLM2-135M-Instruct (Q4_1), the real instruct model of the client tests: `SHIMMY_SMOLLM2`,
/// else `${SHIMMY_MODEL_CACHE:-$HOME/.cache/shimmy-host/models}/SmolLM2-135M-Instruct.Q4_1.gguf`
/// (what .ci/install-deps puts there). Fails (never skips) when it is missing.
pub fn smollm2() -> PathBuf {
    let path = match std::env::var_os("SHIMMY_SMOLLM2") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("SHIMMY_MODEL_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/shimmy-host/models"))
            })
            .expect("HOME or SHIMMY_MODEL_CACHE must be set")
            .join("SmolLM2-135M-Instruct.Q4_1.gguf"),
    };
    assert!(
        path.is_file(),
        "{} is missing; run .ci/install-deps to fetch it (or point SHIMMY_SMOLLM2 at the file)",
        path.display()
    );
    path
}

/// Runs `tests/e2e/python/SCRIPT BASE_URL` with the test python; returns its stdout after
/// asserting it exited 0.
pub fn run_python(script: &str, base: &str, extra: &[&str]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/e2e/python")
        .join(script);
    let mut cmd = Command::new(python());
    cmd.arg(&path).arg(base).args(extra).stdin(Stdio::null());
    let run = run_cmd(cmd);
    assert_eq!(
        run.code,
        Some(0),
        "{script} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run.stdout
}

// ---- plugins built from plugins/ -----------------------------------------------------

/// `(wasm, plugin.toml)` of a plugin built from plugins/ (tests and examples included).
pub fn built(name: &str) -> (PathBuf, PathBuf) {
    shimmy_plugins::builtin::BUILT_PLUGINS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, wasm, manifest, _)| (PathBuf::from(wasm), PathBuf::from(manifest)))
        .unwrap_or_else(|| panic!("plugin {name} was not built"))
}

/// Installs a built plugin into `dir/<name>/` as `<name>.wasm` + `plugin.toml`.
pub fn install(name: &str, dir: &Path) -> PathBuf {
    let (wasm, manifest) = built(name);
    let target = dir.join(name);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(wasm, target.join(format!("{name}.wasm"))).unwrap();
    std::fs::copy(manifest, target.join("plugin.toml")).unwrap();
    target
}
