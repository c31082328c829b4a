//! `shimmy-host make-test-model`: write a small random-weight GGUF with the test kit.

use anyhow::{Context as _, Result};
use shimmy_core::placement::format_bytes;
use shimmy_testkit::bert::{write_bert_model, BertSpec};
use shimmy_testkit::{
    write_model, write_shape, write_shape_header_only, ModelSpec, ShapeSpec, WeightType,
};

use crate::cli::{MakeTestModelArgs, TestArch, TestWeights};

/// Writes the model and prints what was written.
pub fn run(args: MakeTestModelArgs) -> Result<()> {
    if let Some(name) = &args.shape {
        return run_shape(name, &args);
    }
    let arch = match (args.moe, args.arch) {
        (true, _) => TestArch::Qwen3moe,
        (false, Some(arch)) => arch,
        (false, None) => TestArch::Dense,
    };
    let weights = match args.weights {
        TestWeights::F32 => WeightType::F32,
        TestWeights::F16 => WeightType::F16,
        TestWeights::Q8_0 => WeightType::Q8_0,
    };
    if let Some(layers) = args.layers {
        anyhow::ensure!(layers > 0, "--layers must be at least 1");
    }
    let mut spec = match arch {
        TestArch::Dense => ModelSpec::dense(),
        TestArch::Mixtral => ModelSpec::mixtral_moe(),
        TestArch::Qwen3moe => ModelSpec::qwen3_moe(),
        TestArch::Bert => return run_bert(&args, weights),
    };
    spec = spec.with_weight_type(weights);
    if let Some(layers) = args.layers {
        spec.n_layer = layers;
    }
    spec.seed = args.seed;
    if args.no_template {
        spec.chat_template = None;
    }
    if let Some(dir) = args.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let summary = write_model(&spec, &args.path)
        .with_context(|| format!("writing {}", args.path.display()))?;
    let experts: Vec<_> = summary.expert_tensors().collect();
    println!(
        "wrote {} ({}, {} tensors, {}; {} expert tensors, {})",
        args.path.display(),
        summary.arch_name,
        summary.tensors.len(),
        format_bytes(summary.file_size),
        experts.len(),
        format_bytes(summary.expert_bytes()),
    );
    Ok(())
}

/// `--arch bert`: the test kit's BERT-style embedding model.
fn run_bert(args: &MakeTestModelArgs, weights: WeightType) -> Result<()> {
    let mut spec = BertSpec::small()
        .with_weight_type(weights)
        .with_seed(args.seed);
    if let Some(layers) = args.layers {
        spec = spec.with_layers(layers);
    }
    if let Some(dir) = args.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let summary = write_bert_model(&spec, &args.path)
        .with_context(|| format!("writing {}", args.path.display()))?;
    println!(
        "wrote {} (bert, {} tensors, {}; {}-dimensional embeddings, mean pooling)",
        args.path.display(),
        summary.tensors.len(),
        format_bytes(summary.file_size),
        spec.n_embd,
    );
    Ok(())
}

/// `--shape NAME`: a full-size shape with random Q4_K blocks.
fn run_shape(name: &str, args: &MakeTestModelArgs) -> Result<()> {
    let mut shape = ShapeSpec::preset(name).with_context(|| {
        format!(
            "unknown --shape {name:?}; use one of {}",
            ShapeSpec::PRESETS.join(", ")
        )
    })?;
    if let Some(layers) = args.layers {
        anyhow::ensure!(layers > 0, "--layers must be at least 1");
        shape = shape.with_layers(layers);
    }
    if let Some(vocab) = args.vocab {
        shape = shape.with_vocab(vocab);
    }
    if let Some(dir) = args.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let started = std::time::Instant::now();
    let summary = if args.header_only {
        write_shape_header_only(&shape, &args.path)
    } else {
        write_shape(&shape, &args.path, args.threads.unwrap_or(0))
    }
    .with_context(|| format!("writing {}", args.path.display()))?;
    let experts: Vec<_> = summary.expert_tensors().collect();
    println!(
        "wrote {} ({}, {} layers, {} tensors, {}; {} expert tensors, {}) in {:.1} s",
        args.path.display(),
        summary.arch_name,
        shape.n_layer,
        summary.tensors.len(),
        format_bytes(summary.file_size),
        experts.len(),
        format_bytes(summary.expert_bytes()),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
