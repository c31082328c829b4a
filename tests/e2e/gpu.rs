//! Device selection, `--moe-offload auto`, memory reporting and `bench` on the CPU-only
//! test machine (the GPU side runs in tests/gpu/run-moe-check.sh on a GPU machine).

mod common;

use common::{http, models, s, Sandbox};
use serde_json::Value;

#[test]
fn moe_offload_auto_loads_and_generates() {
    let sb = Sandbox::new();
    let m = models();
    let run = sb
        .run(&[
            "-v",
            "generate",
            "--model",
            s(&m.qwen3moe),
            "--moe-offload",
            "auto",
            "--prompt",
            "Once upon a time",
            "--max-tokens",
            "8",
            "--temperature",
            "0",
        ])
        .ok();
    assert!(
        run.stderr.contains("MoE offload: auto fit"),
        "placement line missing:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("backend: cpu (auto)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("memory: CPU weights "),
        "no memory line:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("generated: ") && !run.stderr.contains("generated: 0 tokens"),
        "{}",
        run.stderr
    );
    // `--fit` is the same mode.
    let probe = sb.run(&["probe", s(&m.qwen3moe), "--fit"]).ok();
    assert!(
        probe
            .stdout
            .contains("placement:      MoE offload: auto fit, no GPU layers"),
        "{}",
        probe.stdout
    );
    assert!(
        probe.stdout.contains("memory:         CPU weights "),
        "{}",
        probe.stdout
    );
}

#[test]
fn moe_offload_values_and_conflicts_are_checked() {
    let sb = Sandbox::new();
    let m = models();
    let run = sb
        .run(&["probe", s(&m.qwen3moe), "--moe-offload", "2"])
        .ok();
    assert!(
        run.stdout.contains("(first 2 of 4 layers)"),
        "{}",
        run.stdout
    );
    let bad = sb
        .run(&["probe", s(&m.qwen3moe), "--moe-offload", "most"])
        .fails();
    assert!(
        bad.stderr.contains("none, all, auto"),
        "no hint at the valid values: {}",
        bad.stderr
    );
    let both = sb
        .run(&[
            "probe",
            s(&m.qwen3moe),
            "--moe-offload",
            "auto",
            "--cpu-moe",
        ])
        .fails();
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
}

#[test]
fn a_missing_gpu_backend_is_a_clean_error_naming_what_is_available() {
    let sb = Sandbox::new();
    let m = models();
    for args in [
        vec!["--gpu-backend", "cuda", "probe", s(&m.dense)],
        vec!["gpu-info", "--gpu-backend", "cuda"],
        vec![
            "generate",
            "--gpu-backend",
            "vulkan",
            "--model",
            s(&m.dense),
            "--prompt",
            "hi",
        ],
    ] {
        let run = sb.run(&args).fails();
        assert!(
            run.stderr.contains("no libggml-cuda.so")
                || run.stderr.contains("no libggml-vulkan.so"),
            "{args:?}: does not name the missing module:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("Available: auto, cpu (CPU:"),
            "{args:?}: does not list what is available:\n{}",
            run.stderr
        );
    }
    let bad = sb.run(&["gpu-info", "--gpu-backend", "metal"]).fails();
    assert!(
        bad.stderr.contains("auto, cpu, cuda, vulkan"),
        "{}",
        bad.stderr
    );
    let cpu = sb.run(&["gpu-info", "--gpu-backend", "cpu"]).ok();
    assert!(
        cpu.stdout.contains("backend: cpu (cpu), device CPU"),
        "{}",
        cpu.stdout
    );
    assert!(cpu.stdout.contains(" free of "), "{}", cpu.stdout);
}

#[test]
fn bench_reports_every_placement_as_json() {
    let sb = Sandbox::new();
    let m = models();
    let run = sb
        .run(&[
            "bench",
            "--model",
            s(&m.qwen3moe),
            "--moe",
            "none,all,2,auto",
            "--runs",
            "1",
            "--prompt-tokens",
            "16",
            "--gen-tokens",
            "8",
            "--json",
        ])
        .ok();
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("bench --json is not JSON ({e}):\n{}", run.stdout));
    assert!(
        run.stderr.contains("decode tok/s"),
        "no table: {}",
        run.stderr
    );
    assert_eq!(report["runs"], 1);
    assert_eq!(report["gen_tokens"], 8);
    let prompt = report["prompt_tokens"].as_u64().unwrap();
    assert!((8..=24).contains(&prompt), "prompt tokens {prompt}");
    let configs = report["configs"].as_array().unwrap();
    let moes: Vec<&str> = configs.iter().map(|c| c["moe"].as_str().unwrap()).collect();
    assert_eq!(moes, ["none", "all", "2", "auto"]);
    let total = m.qwen3moe_summary.expert_tensors().count() as u64;
    let weights = m.qwen3moe_summary.total_tensor_bytes();
    for c in configs {
        assert!(c.get("error").is_none(), "{c}");
        assert_eq!(c["expert_tensors_total"], total, "{c}");
        let generated = c["host"]["generated_tokens"].as_u64().unwrap();
        assert!((1..=8).contains(&generated), "{c}");
        assert_eq!(
            c["plain"]["generated_tokens"], c["host"]["generated_tokens"],
            "same greedy tokens on both paths: {c}"
        );
        for path in ["host", "plain"] {
            let d = &c[path]["decode_tok_s"];
            assert!(d["median"].as_f64().unwrap() > 0.0, "{c}");
            assert!(d["min"].as_f64() <= d["max"].as_f64(), "{c}");
        }
        assert!(c["decode_vs_plain_pct"].is_number(), "{c}");
        assert!(c["host_rss_bytes"].as_u64().unwrap() > 0, "{c}");
        // CPU only: everything is host memory, the weights as llama.cpp allocated them.
        let mem = c["memory"].as_array().unwrap();
        assert_eq!(mem.len(), 1, "{c}");
        assert_eq!(mem[0]["device"], "CPU");
        let model = mem[0]["model"].as_u64().unwrap();
        // llama.cpp logs sizes in MiB with two decimals (±5 KiB per buffer), plus padding.
        assert!(model.abs_diff(weights) < 64 << 10, "{model} vs {weights}");
        assert!(mem[0]["kv_cache"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["vram_bytes"], 0);
    }
    assert_eq!(configs[1]["expert_tensors_in_host_memory"], total);
    assert_eq!(configs[2]["expert_layers_in_host_memory"], 2);
    assert!(report["summary"]["best_fixed"].is_string(), "{report}");
}

#[test]
fn health_and_metrics_report_memory_per_device() {
    let sb = Sandbox::new();
    let m = models();
    let server = sb.serve(&[
        "--model",
        s(&m.dense),
        "--ctx-size",
        "256",
        "--parallel",
        "1",
        "--preload",
    ]);
    server.wait_stdout("ready", 120);
    assert!(
        server.stdout().contains("backend: cpu (auto)"),
        "{}",
        server.stdout()
    );
    assert!(
        server.stdout().contains("CPU memory: weights "),
        "{}",
        server.stdout()
    );
    let health: Value = http(30)
        .get(format!("{}/health", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mem = &health["models"][0]["memory"][0];
    assert_eq!(mem["device"], "CPU", "{health}");
    // Where the model is, as Ollama's /api/ps has it: everything in host memory.
    let place = &health["models"][0]["placement"];
    assert_eq!(place["processor"], "100% CPU", "{health}");
    assert_eq!(place["size_vram"], 0, "{health}");
    assert!(
        place["size"].as_u64().unwrap() > mem["kv_cache"].as_u64().unwrap(),
        "{health}"
    );
    let ps: Value = http(30)
        .get(format!("{}/api/ps", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ps["models"][0]["size"], place["size"], "{ps}");
    assert_eq!(ps["models"][0]["size_vram"], 0, "{ps}");
    assert!(mem["model"].as_u64().unwrap() > 0, "{health}");
    assert!(mem["kv_cache"].as_u64().unwrap() > 0, "{health}");
    assert!(mem["compute"].as_u64().unwrap() > 0, "{health}");
    let metrics = http(30)
        .get(format!("{}/metrics", server.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for kind in ["model", "kv_cache", "compute"] {
        let needle =
            format!("shimmy_model_memory_bytes{{model=\"dense\",device=\"CPU\",kind=\"{kind}\"}} ");
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{metrics}"));
        let value: u64 = line[needle.len()..].trim().parse().unwrap();
        assert!(value > 0, "{line}");
    }
}

#[test]
fn a_gpu_plan_without_a_gpu_and_the_limits_of_budget_and_micro_batch() {
    let sb = Sandbox::new();
    let m = models();
    let model = s(&m.qwen3moe);
    let plan = |budget: &str| {
        sb.run(&[
            "probe",
            model,
            "--moe-offload",
            "auto",
            "--vram-budget-mb",
            budget,
            "--ctx-size",
            "512",
        ])
    };
    // No GPU here: `auto` with a budget plans for a CUDA device of that size, loads nothing.
    let fits = plan("4000").ok();
    assert!(
        fits.stdout.contains("no GPU here: planned, not loaded"),
        "{}",
        fits.stdout
    );
    assert!(
        fits.stdout
            .contains("plan for CUDA0: every expert tensor (12) on the device"),
        "{}",
        fits.stdout
    );
    // Too small: refused with the smallest budget that works, which then works (every expert
    // in host memory).
    let small = plan("100").fails();
    let needed: String = small
        .stderr
        .split("give --vram-budget-mb ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no smallest budget named: {}", small.stderr))
        .to_string();
    assert!(
        small.stderr.contains("KV cache for one slot of 512 tokens"),
        "{}",
        small.stderr
    );
    let least = plan(&needed).ok();
    assert!(
        least
            .stdout
            .contains("experts of 4 of 4 layers in host memory"),
        "{}",
        least.stdout
    );
    // The micro-batch: at least 1, at most the context.
    for (value, says) in [
        ("0", "at least 1"),
        ("600", "larger than the context of 512"),
    ] {
        let bad = sb
            .run(&[
                "generate",
                "--model",
                model,
                "--ctx-size",
                "512",
                "--ubatch-size",
                value,
                "--prompt",
                "hi",
            ])
            .fails();
        assert!(
            bad.stderr.contains(says),
            "--ubatch-size {value}: {}",
            bad.stderr
        );
    }
    let ok = sb
        .run(&[
            "generate",
            "--model",
            model,
            "--ctx-size",
            "512",
            "--ubatch-size",
            "8",
            "--prompt",
            "Once upon a time there was",
            "--max-tokens",
            "4",
            "--temperature",
            "0",
        ])
        .ok();
    assert!(ok.stderr.contains("generated: 4 tokens"), "{}", ok.stderr);
}
