//! `list`, `discover`, `gpu-info`, `make-test-model`, `--version`.

mod common;

use common::{models, s, Sandbox};

#[test]
fn version_is_printed() {
    let run = Sandbox::new().run(&["--version"]).ok();
    assert!(run.stdout.starts_with("shimmy-host "), "{}", run.stdout);
}

#[test]
fn make_test_model_writes_a_model_that_generates() {
    let sb = Sandbox::new();
    let path = sb.path().join("models").join("tiny-moe.gguf");
    let made = sb.run(&["make-test-model", s(&path), "--moe"]).ok();
    assert!(made.stdout.contains("expert tensors"), "{}", made.stdout);
    // ./models is searched, so the name works.
    let run = sb
        .run(&[
            "generate",
            "--model",
            "tiny-moe",
            "--prompt",
            "hello",
            "--max-tokens",
            "4",
        ])
        .ok();
    assert!(run.stderr.contains("generated:"), "{}", run.stderr);
}

#[test]
fn list_shows_name_size_arch_quant_params_path() {
    let sb = Sandbox::new();
    let dir = sb.path().join("models");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&models().mixtral, dir.join("Mixtral-Tiny.gguf")).unwrap();
    let run = sb.run(&["list"]).ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("mixtral-tiny "))
        .unwrap_or_else(|| panic!("lower-cased name expected in\n{}", run.stdout));
    assert!(line.contains("llama"), "{line}");
    assert!(line.contains("Q8_0"), "{line}");
    assert!(line.contains("Mixtral-Tiny.gguf"), "{line}");
}

#[test]
fn same_name_in_two_folders_stays_reachable() {
    let sb = Sandbox::new();
    let a = sb.path().join("a");
    let b = sb.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(&models().dense, a.join("twin.gguf")).unwrap();
    std::fs::copy(&models().qwen3moe, b.join("twin.gguf")).unwrap();
    let dirs = format!("{};{}", s(&a), s(&b));
    let run = sb.run(&["--model-dirs", &dirs, "discover"]).ok();
    assert!(run.stdout.contains("twin "), "{}", run.stdout);
    assert!(run.stdout.contains("twin-2"), "{}", run.stdout);
    assert!(run.stdout.contains("renamed from"), "{}", run.stdout);
    // Both resolve, to different files.
    let first = sb.run(&["--model-dirs", &dirs, "probe", "twin"]).ok();
    let second = sb.run(&["--model-dirs", &dirs, "probe", "twin-2"]).ok();
    assert!(
        first.stdout.contains("architecture:   llama"),
        "{}",
        first.stdout
    );
    assert!(
        second.stdout.contains("architecture:   qwen3moe"),
        "{}",
        second.stdout
    );
}

#[test]
fn ollama_manifests_resolve_to_their_blob() {
    let sb = Sandbox::new();
    let root = sb.path().join(".ollama").join("models");
    let blobs = root.join("blobs");
    let manifest_dir = root.join("manifests/registry.ollama.ai/library/tinyllama");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&manifest_dir).unwrap();
    let digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    std::fs::copy(&models().dense, blobs.join(format!("sha256-{digest}"))).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{digest}"), "size": 1},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:feed", "size": 1}
        ]
    });
    std::fs::write(manifest_dir.join("latest"), manifest.to_string()).unwrap();
    let run = sb.run(&["list"]).ok();
    assert!(run.stdout.contains("tinyllama:latest"), "{}", run.stdout);
    sb.run(&[
        "generate",
        "--model",
        "tinyllama:latest",
        "--prompt",
        "hi",
        "--max-tokens",
        "2",
    ])
    .ok();
}

#[test]
fn discover_reports_skipped_files_with_reasons() {
    let sb = Sandbox::new();
    let dir = sb.path().join("models");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("broken.gguf"), "nope").unwrap();
    std::fs::copy(&models().dense, dir.join("big-00002-of-00003.gguf")).unwrap();
    let run = sb.run(&["discover"]).ok();
    assert!(run.stdout.contains("broken.gguf"), "{}", run.stdout);
    assert!(run.stdout.contains("not a GGUF"), "{}", run.stdout);
    assert!(run.stdout.contains("shard 2 of 3"), "{}", run.stdout);
    assert!(
        run.stdout.contains("huggingface"),
        "HF cache location listed: {}",
        run.stdout
    );
}

#[test]
fn gpu_info_lists_devices_and_libraries() {
    let run = Sandbox::new().run(&["gpu-info"]).ok();
    assert!(run.stdout.contains("libggml-cpu"), "{}", run.stdout);
    assert!(run.stdout.contains("CPU"), "{}", run.stdout);
}

#[test]
fn make_test_model_accepts_every_layout_and_weight_type() {
    let sb = Sandbox::new();
    for (arch, weights) in [("dense", "f32"), ("mixtral", "q8_0"), ("qwen3moe", "f16")] {
        let path = sb.path().join(format!("{arch}-{weights}.gguf"));
        sb.run(&[
            "make-test-model",
            s(&path),
            "--arch",
            arch,
            "--weights",
            weights,
            "--layers",
            "2",
        ])
        .ok();
        let probe = sb.run(&["probe", s(&path)]).ok();
        assert!(
            probe.stdout.contains("layers:         2"),
            "{}",
            probe.stdout
        );
    }
}

#[test]
fn binary_finds_its_libraries_without_ld_library_path() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd(&["gpu-info"]);
    cmd.env_remove("LD_LIBRARY_PATH");
    let run = common::run_cmd(cmd).ok();
    assert!(run.stdout.contains("libggml-cpu"), "{}", run.stdout);
}

#[test]
fn llama_cpp_logs_are_quiet_by_default_and_shown_with_v() {
    let sb = Sandbox::new();
    let m = s(&models().dense);
    let quiet = sb.run(&["probe", m]).ok();
    assert!(
        !quiet.stderr.contains("llama_model_loader"),
        "{}",
        quiet.stderr
    );
    let verbose = sb.run(&["-v", "probe", m]).ok();
    assert!(
        verbose.stderr.contains("llama_model_loader"),
        "{}",
        verbose.stderr
    );
}

/// Unreadable directories are reported, never fatal. Root reads everything, so as root the
/// check runs the binary as `nobody` through setpriv (skipped where that is impossible).
#[test]
fn unreadable_directory_is_reported_not_fatal() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let models_dir = sb.path().join("models");
    let locked = models_dir.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    std::fs::copy(&models().dense, models_dir.join("visible.gguf")).unwrap();
    for dir in [sb.path(), models_dir.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(
        models_dir.join("visible.gguf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let is_root = std::fs::read_dir(&locked).is_ok();
    let mut cmd = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::bin(),
            "discover",
        ]);
        c.current_dir(sb.path())
            .env("HOME", sb.path())
            .env_remove("SHIMMY_MODEL_PATHS");
        c
    } else {
        sb.cmd(&["discover"])
    };
    cmd.env_remove("OLLAMA_MODELS");
    let run = common::run_cmd(cmd);
    if is_root
        && run.code != Some(0)
        && run.stderr.contains("ermission denied")
        && !run.stdout.contains("searched")
    {
        eprintln!(
            "skipped: the binary is not executable by nobody here: {}",
            run.stderr
        );
        return;
    }
    let run = run.ok();
    assert!(run.stdout.contains("locked"), "{}", run.stdout);
    assert!(
        run.stdout.contains("unreadable: Permission denied"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("visible"), "{}", run.stdout);
}
