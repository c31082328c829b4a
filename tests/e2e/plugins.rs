//! Template plugins through the real binary: built-ins, choice of template, exact prompts,
//! chat generation, plugin list/inspect/check, plugins installed as the authoring guide says,
//! and misbehaving plugins failing cleanly.

mod common;

use std::path::PathBuf;

use common::{built, install, models, s, Sandbox};

const BUILTIN_TEMPLATES: [&str; 7] = [
    "jinja", "chatml", "llama3", "mistral", "phi3", "gemma", "deepseek",
];

fn chat_file(sb: &Sandbox) -> PathBuf {
    let path = sb.path().join("chat.json");
    std::fs::write(
        &path,
        r#"{"messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi!"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Sum 2+2"}
        ]}"#,
    )
    .unwrap();
    path
}

#[test]
fn plugin_list_shows_every_builtin_template() {
    let run = Sandbox::new().run(&["plugin", "list"]).ok();
    for name in BUILTIN_TEMPLATES {
        let line = run
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from\n{}", run.stdout));
        assert!(
            line.contains("template") && line.contains("builtin"),
            "{line}"
        );
    }
}

#[test]
fn plugin_inspect_shows_world_imports_and_manifest() {
    let run = Sandbox::new().run(&["plugin", "inspect", "chatml"]).ok();
    for want in [
        "shimmy:plugin/template@0.1.2",
        "shimmy:plugin/config@0.1.2",
        "render",
        "render-spans",
        "output-parser",
        "manifest:",
    ] {
        assert!(
            run.stdout.contains(want),
            "want {want:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn embedded_template_is_rendered_byte_for_byte() {
    let sb = Sandbox::new();
    let chat = chat_file(&sb);
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&models().dense),
            "--messages",
            s(&chat),
        ])
        .ok();
    assert_eq!(
        run.stdout,
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n\
         <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nSum 2+2<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    assert!(run.stderr.contains("template: jinja"), "{}", run.stderr);
    assert!(
        run.stderr.contains("<|im_end|>"),
        "stop strings: {}",
        run.stderr
    );
}

#[test]
fn requested_template_wins_and_llama3_prompt_is_exact() {
    let sb = Sandbox::new();
    let chat = chat_file(&sb);
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&models().dense),
            "--messages",
            s(&chat),
            "--template",
            "llama3",
        ])
        .ok();
    assert_eq!(
        run.stdout,
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nSum 2+2<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert!(
        run.stderr.contains("asked for by the request"),
        "{}",
        run.stderr
    );
}

#[test]
fn template_choice_follows_operator_then_family_then_default() {
    let sb = Sandbox::new();
    let dir = sb.path().join("models");
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("plain.gguf");
    sb.run(&["make-test-model", s(&plain), "--no-template"])
        .ok();
    let moe = dir.join("plainmoe.gguf");
    sb.run(&["make-test-model", s(&moe), "--moe", "--no-template"])
        .ok();
    // No embedded template: the qwen3moe architecture belongs to chatml.
    let probe = sb.run(&["probe", "plainmoe"]).ok();
    assert!(
        probe
            .stdout
            .contains("template:       chatml (matches the model's architecture)"),
        "{}",
        probe.stdout
    );
    // A llama without a template: the test kit's vocabulary has ChatML's special tokens.
    let probe = sb.run(&["probe", "plain"]).ok();
    assert!(
        probe
            .stdout
            .contains("template:       chatml (the model's vocabulary has its special tokens)"),
        "{}",
        probe.stdout
    );
    // The operator's per-model setting beats the embedded template.
    let config = sb.path().join("shimmy.toml");
    std::fs::write(&config, "[models.dense]\ntemplate = \"phi3\"\n").unwrap();
    std::fs::copy(&models().dense, dir.join("dense.gguf")).unwrap();
    let probe = sb.run(&["--config", s(&config), "probe", "dense"]).ok();
    assert!(
        probe
            .stdout
            .contains("template:       phi3 (configured for this model)"),
        "{}",
        probe.stdout
    );
    let probe = sb.run(&["probe", "dense"]).ok();
    assert!(
        probe
            .stdout
            .contains("template:       jinja (the model's embedded chat template)"),
        "{}",
        probe.stdout
    );
}

#[test]
fn generate_chat_renders_through_the_template_and_stops_on_its_stop_strings() {
    let sb = Sandbox::new();
    let m = s(&models().qwen3moe);
    let run = sb
        .run(&[
            "generate",
            "-v",
            "--model",
            m,
            "--user",
            "Hello",
            "--system",
            "Be brief",
            "--max-tokens",
            "16",
            "--temperature",
            "0",
        ])
        .ok();
    assert!(run.stderr.contains("template: jinja"), "{}", run.stderr);
    assert!(!run.stdout.contains("<|im_end|>"), "{}", run.stdout);
    let chat = chat_file(&sb);
    sb.run(&[
        "generate",
        "--model",
        m,
        "--chat",
        s(&chat),
        "--max-tokens",
        "8",
    ])
    .ok();
    // The rendered prompt equals a raw prompt with the same text: same greedy output.
    let raw = sb
        .run(&[
            "generate", "--model", m, "--max-tokens", "16", "--temperature", "0", "--stop", "<|im_end|>", "--prompt",
            "<|im_start|>system\nBe brief<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
        ])
        .ok();
    assert_eq!(raw.stdout, run.stdout);
}

#[test]
fn bad_chat_input_is_explained() {
    let sb = Sandbox::new();
    let path = sb.path().join("bad.json");
    std::fs::write(&path, r#"[{"role": "wizard", "content": "x"}]"#).unwrap();
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&models().dense),
            "--messages",
            s(&path),
        ])
        .fails();
    assert!(run.stderr.contains("role \"wizard\""), "{}", run.stderr);
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&models().dense),
            "--messages",
            s(&path),
            "--template",
            "nope",
        ])
        .fails();
    assert!(run.stderr.contains("role"), "{}", run.stderr);
    let good = chat_file(&sb);
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&models().dense),
            "--messages",
            s(&good),
            "--template",
            "nope",
        ])
        .fails();
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn example_plugin_installs_and_renders_as_the_guide_says() {
    let sb = Sandbox::new();
    let user_dir = sb.path().join(".local/share/shimmy/plugins");
    install("hello-template", &user_dir);
    let list = sb.run(&["plugin", "list"]).ok();
    assert!(list.stdout.contains("hello-template"), "{}", list.stdout);
    let (wasm, _) = built("hello-template");
    let check = sb
        .run(&["plugin", "check", s(&user_dir.join("hello-template"))])
        .ok();
    assert!(check.stdout.contains("ok"), "{}", check.stdout);
    assert!(wasm.exists());
    let chat = chat_file(&sb);
    let run = sb
        .run(&[
            "template",
            "render",
            "--model",
            s(&models().dense),
            "--messages",
            s(&chat),
            "--template",
            "hello-template",
        ])
        .ok();
    assert!(run.stdout.contains("Sum 2+2"), "{}", run.stdout);
}

#[test]
fn misbehaving_plugins_fail_cleanly_with_the_reason() {
    let sb = Sandbox::new();
    let dir = sb.path().join("bad-plugins");
    for (name, reason) in [
        ("bad-loop", "timed out"),
        ("bad-memory", "memory"),
        ("bad-trap", "trap"),
        ("bad-recursion", "stack"),
    ] {
        install(name, &dir);
        let started = std::time::Instant::now();
        let run = sb
            .run(&[
                "--plugin-timeout-ms",
                "500",
                "plugin",
                "check",
                s(&dir.join(name)),
            ])
            .fails();
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
        assert!(
            run.stderr.to_lowercase().contains(reason),
            "{name}: want {reason:?} in {}",
            run.stderr
        );
        assert!(
            started.elapsed().as_secs() < 30,
            "{name} took {:?}",
            started.elapsed()
        );
    }
    let run = sb.run(&["--plugin-dir", s(&dir), "plugin", "list"]).ok();
    assert!(
        run.stdout.contains("chatml"),
        "the good plugins still load: {}",
        run.stdout
    );
}

#[test]
fn sandbox_denies_files_and_network() {
    let sb = Sandbox::new();
    let dir = sb.path().join("bad-plugins");
    for name in ["bad-fs", "bad-net"] {
        install(name, &dir);
        let run = sb.run(&["plugin", "check", s(&dir.join(name))]);
        assert!(
            !run.stdout.contains("root:x:0:0"),
            "{name} read /etc/passwd: {}",
            run.stdout
        );
        assert_ne!(
            run.code,
            Some(0),
            "{name} must not succeed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

#[test]
fn unsupported_contract_version_is_refused_naming_both_versions() {
    let sb = Sandbox::new();
    let dir = sb.path().join("bad-plugins");
    install("bad-version", &dir);
    let run = sb
        .run(&["plugin", "check", s(&dir.join("bad-version"))])
        .fails();
    assert!(
        run.stderr.contains("9.0.0") && run.stderr.contains("0.1.0"),
        "{}",
        run.stderr
    );
}
