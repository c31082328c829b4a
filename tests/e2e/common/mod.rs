//! Shared helpers of the end-to-end tests: the real `shimmy-host` binary, hermetic
//! environments, and test-kit models written once per test process.

#![allow(dead_code)]

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
