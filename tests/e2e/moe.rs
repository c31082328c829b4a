//! MoE offload: `--cpu-moe` / `--n-cpu-moe N` placement numbers, checked against the test
//! kit's own tensor table and against llama.cpp's log of the overrides it applied.

mod common;

use common::{models, s, Sandbox};
use shimmy_core::placement::format_bytes;
use shimmy_testkit::ModelSummary;

/// Expert tensors of the first `layers` blocks: (count, bytes).
fn experts_of_first(summary: &ModelSummary, layers: u32) -> (usize, u64) {
    let chosen: Vec<_> = summary
        .expert_tensors()
        .filter(|t| {
            let layer: u32 = t
                .name
                .split('.')
                .nth(1)
                .and_then(|l| l.parse().ok())
                .unwrap();
            layer < layers
        })
        .collect();
    (chosen.len(), chosen.iter().map(|t| t.n_bytes).sum())
}

fn probe(sb: &Sandbox, model: &str, flags: &[&str]) -> common::Run {
    let mut args = vec!["probe", model];
    args.extend_from_slice(flags);
    sb.run(&args)
}

/// Counts llama.cpp's own "buffer type overridden" debug lines.
fn overridden_by_llama_cpp(sb: &Sandbox, model: &str, flags: &[&str]) -> usize {
    let mut args = vec!["probe", model];
    args.extend_from_slice(flags);
    let mut cmd = sb.cmd(&args);
    cmd.env("RUST_LOG", "llama.cpp=debug");
    let run = common::run_cmd(cmd).ok();
    run.stderr.matches("buffer type overridden").count()
}

#[test]
fn cpu_moe_keeps_every_expert_tensor_in_host_memory() {
    let sb = Sandbox::new();
    let m = models();
    let total = m.mixtral_summary.expert_tensors().count();
    assert_eq!(total, 12, "4 layers x (gate, up, down) experts");
    let run = probe(&sb, s(&m.mixtral), &["--cpu-moe"]).ok();
    let expected = format!(
        "MoE offload: {total} expert tensors ({}) in host memory",
        format_bytes(m.mixtral_summary.expert_bytes())
    );
    assert!(
        run.stdout.contains(&expected),
        "want {expected:?} in\n{}",
        run.stdout
    );
    assert_eq!(
        overridden_by_llama_cpp(&sb, s(&m.mixtral), &["--cpu-moe"]),
        total
    );
}

#[test]
fn n_cpu_moe_keeps_only_the_first_layers_experts() {
    let sb = Sandbox::new();
    let m = models();
    for (model, summary) in [
        (&m.mixtral, &m.mixtral_summary),
        (&m.qwen3moe, &m.qwen3moe_summary),
    ] {
        let (count, bytes) = experts_of_first(summary, 2);
        assert_eq!(count, 6);
        let run = probe(&sb, s(model), &["--n-cpu-moe", "2"]).ok();
        let expected = format!(
            "MoE offload: {count} of {} expert tensors ({} of {}) in host memory (first 2 of 4 layers)",
            summary.expert_tensors().count(),
            format_bytes(bytes),
            format_bytes(summary.expert_bytes())
        );
        assert!(
            run.stdout.contains(&expected),
            "want {expected:?} in\n{}",
            run.stdout
        );
        assert_eq!(
            overridden_by_llama_cpp(&sb, s(model), &["--n-cpu-moe", "2"]),
            count
        );
    }
}

#[test]
fn generate_verbose_prints_the_placement_line() {
    let sb = Sandbox::new();
    let m = models();
    let run = sb
        .run(&[
            "generate",
            "-v",
            "--model",
            s(&m.qwen3moe),
            "--prompt",
            "hello",
            "--max-tokens",
            "4",
            "--cpu-moe",
        ])
        .ok();
    let expected = format!(
        "MoE offload: {} expert tensors ({}) in host memory",
        m.qwen3moe_summary.expert_tensors().count(),
        format_bytes(m.qwen3moe_summary.expert_bytes())
    );
    assert!(
        run.stderr.contains(&expected),
        "want {expected:?} in\n{}",
        run.stderr
    );
}

#[test]
fn n_cpu_moe_above_layer_count_is_clamped_with_a_warning() {
    let sb = Sandbox::new();
    let m = models();
    let run = probe(&sb, s(&m.mixtral), &["--n-cpu-moe", "99"]).ok();
    assert!(
        run.stderr.contains("99"),
        "warning expected: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("MoE offload: 12 expert tensors"),
        "{}",
        run.stdout
    );
}

#[test]
fn both_moe_flags_together_are_an_error() {
    let sb = Sandbox::new();
    let run = probe(
        &sb,
        s(&models().mixtral),
        &["--cpu-moe", "--n-cpu-moe", "2"],
    )
    .fails();
    assert!(
        run.stderr.contains("--cpu-moe") && run.stderr.contains("--n-cpu-moe"),
        "{}",
        run.stderr
    );
}

#[test]
fn dense_model_reports_nothing_to_offload() {
    let sb = Sandbox::new();
    let run = probe(&sb, s(&models().dense), &["--cpu-moe"]).ok();
    assert!(run.stdout.contains("nothing to offload"), "{}", run.stdout);
    assert_eq!(
        overridden_by_llama_cpp(&sb, s(&models().dense), &["--cpu-moe"]),
        0
    );
}

#[test]
fn probe_reports_architecture_layers_experts_and_template() {
    let sb = Sandbox::new();
    let run = probe(&sb, s(&models().qwen3moe), &[]).ok();
    for want in [
        "architecture:   qwen3moe",
        "layers:         4",
        "experts:        8 total, 2 active per token",
        "chat template:  embedded in the GGUF",
    ] {
        assert!(
            run.stdout.contains(want),
            "want {want:?} in\n{}",
            run.stdout
        );
    }
}
