//! `shimmy-host probe`: load a model and print its facts and placement, or (`--plan-only`, or
//! `--moe-offload auto --vram-budget-mb N` without a GPU) print the placement plan for a GPU
//! without loading anything.

use anyhow::{Context as _, Result};
use shimmy_core::backend::ModelOptions;
use shimmy_core::gguf::GgufFile;
use shimmy_core::placement::{self, format_bytes, MoeOffload};
use shimmy_core::planner::devices::{plan_devices, DeviceSlot, DevicesRequest};
use shimmy_core::planner::{self, DeviceProfile, PlanRequest, MIB};

use super::{model_options, Context};
use crate::cli::ProbeArgs;
use crate::plugin_host::{model_name, Plugins};

/// Loads the model and prints what it is and where its weights went.
pub fn run(ctx: &Context, args: ProbeArgs) -> Result<()> {
    let mut options = model_options(&args.model_args)?;
    anyhow::ensure!(args.parallel > 0, "--parallel must be at least 1");
    options.parallel = args.parallel;
    let path = ctx.discover().resolve(&args.model)?;
    let no_gpu_budget = options.moe == MoeOffload::Auto && options.vram_budget_mb.is_some();
    if args.plan_only || no_gpu_budget {
        let engine = ctx.engine()?;
        let gpu = engine.gpu_device();
        if args.plan_only || gpu.is_none() {
            return print_plan(
                &path,
                &options,
                gpu.as_ref().map(|d| (d.name.as_str(), d.memory_free)),
            );
        }
    }
    let (_engine, model) = ctx.load_with(&args.model, &options)?;
    let info = model.info();
    println!("model:          {}", info.path.display());
    println!("architecture:   {}", info.architecture);
    println!("layers:         {}", info.n_layer);
    if info.n_expert > 0 {
        println!(
            "experts:        {} total, {} active per token",
            info.n_expert, info.n_expert_used
        );
    } else {
        println!("experts:        none (dense model)");
    }
    println!(
        "context:        {} trained, {} this load",
        info.n_ctx_train, info.n_ctx
    );
    println!("vocabulary:     {} tokens", info.n_vocab);
    println!("parameters:     {}", info.n_params);
    println!("weights:        {}", format_bytes(info.size_bytes));
    println!(
        "chat template:  {}",
        if info.chat_template.is_some() {
            "embedded in the GGUF"
        } else {
            "none"
        }
    );
    match Plugins::load(&ctx.plugins) {
        Ok(plugins) => {
            let choice = plugins.choose_template(&model_name(&args.model), model.as_ref(), None);
            println!("template:       {} ({})", choice.name, choice.reason);
        }
        Err(err) => println!("template:       unavailable: {err:#}"),
    }
    println!("gpu layers:     {}", info.gpu_layers);
    let split = model.layer_split();
    if !split.is_empty() {
        println!("layer split:    {}", split.join(", "));
    }
    let placement = model.placement();
    println!("placement:      {placement}");
    println!("micro-batch:    {} tokens", placement.ubatch);
    if let Some(e) = &placement.estimate {
        println!(
            "planned:        {} {} (weights {}, KV cache {}, compute {}, context {})",
            e.device,
            format_bytes(e.total()),
            format_bytes(e.weights),
            format_bytes(e.kv_cache),
            format_bytes(e.compute),
            format_bytes(e.context)
        );
    }
    for m in model.memory() {
        println!(
            "memory:         {} weights {} (llama.cpp's buffers)",
            m.device,
            format_bytes(m.model)
        );
    }
    Ok(())
}

/// Prints the plan for `path` on a CUDA device: the budget given, else `gpu`'s free memory
/// minus the margin.
fn print_plan(
    path: &std::path::Path,
    options: &ModelOptions,
    gpu: Option<(&str, u64)>,
) -> Result<()> {
    let gguf = GgufFile::open(path)?;
    let n_ctx = options
        .ctx_size
        .unwrap_or_else(|| gguf.context_length().unwrap_or(4096).clamp(1, 4096));
    let free_budget =
        gpu.map(|(_, free)| free.saturating_sub(options.vram_margin_mb.saturating_mul(MIB)));
    let budget = match (options.vram_budget_mb, free_budget) {
        (Some(mb), Some(free)) => Some((mb * MIB).min(free)),
        (Some(mb), None) => Some(mb * MIB),
        (None, free) => free,
    };
    if options.vram_budgets_mb.len() > 1 {
        return print_devices_plan(path, &gguf, options, n_ctx);
    }
    let device_name = gpu.map_or("CUDA0", |(name, _)| name).to_string();
    let request = PlanRequest {
        mode: options.moe,
        budget,
        ctx_per_seq: n_ctx,
        parallel: options.parallel,
        ubatch: options.ubatch_size,
        device: DeviceProfile::CUDA,
        device_name: device_name.clone(),
    };
    let plan = planner::plan(&gguf, &request).context("planning the placement")?;
    let placement = placement::plan_with(
        &gguf,
        &options.moe,
        plan.patterns.clone(),
        Some(&device_name),
        gguf.block_count().unwrap_or(0) + 1,
    );
    let e = &plan.estimate;
    println!("model:          {}", path.display());
    match (gpu, budget) {
        (None, Some(b)) => println!(
            "device:         a CUDA device with {} for the model (no GPU here: planned, not loaded)",
            format_bytes(b)
        ),
        (Some((name, _)), Some(b)) => println!(
            "device:         {name}, {} for the model (planned, not loaded)",
            format_bytes(b)
        ),
        (_, None) => println!("device:         {device_name}, no budget (planned, not loaded)"),
    }
    println!(
        "context:        {} slot(s) of {n_ctx} tokens, micro-batch {}",
        options.parallel, plan.ubatch
    );
    println!("placement:      {placement}");
    println!("{plan}");
    println!("  weights on {}: {}", e.device, format_bytes(e.weights));
    println!("  KV cache:       {}", format_bytes(e.kv_cache));
    println!("  compute:        {}", format_bytes(e.compute));
    println!("  {} context:   {}", plan.backend, format_bytes(e.context));
    println!(
        "  total:          {} ({} MiB){}",
        format_bytes(e.total()),
        e.total().div_ceil(MIB),
        e.budget
            .map(|b| format!(" of {} MiB", b / MIB))
            .unwrap_or_default()
    );
    if !plan.patterns.is_empty() {
        println!("  overrides:      {}", plan.patterns.join(" "));
    }
    Ok(())
}

/// Prints the plan over several CUDA devices, one per `--vram-budget-mb` entry (`CUDA0`,
/// `CUDA1`...), with `--tensor-split` if given.
fn print_devices_plan(
    path: &std::path::Path,
    gguf: &GgufFile,
    options: &ModelOptions,
    n_ctx: u32,
) -> Result<()> {
    let request = DevicesRequest {
        mode: options.moe,
        devices: options
            .vram_budgets_mb
            .iter()
            .enumerate()
            .map(|(i, mb)| DeviceSlot {
                name: format!("CUDA{i}"),
                budget: mb.saturating_mul(MIB),
                profile: DeviceProfile::CUDA,
            })
            .collect(),
        tensor_split: options.tensor_split.clone(),
        ctx_per_seq: n_ctx,
        parallel: options.parallel,
        ubatch: options.ubatch_size,
    };
    let plan = plan_devices(gguf, &request).context("planning the placement")?;
    println!("model:          {}", path.display());
    println!(
        "devices:        {} CUDA devices (planned, not loaded)",
        request.devices.len()
    );
    println!(
        "context:        {} slot(s) of {n_ctx} tokens, micro-batch {}",
        options.parallel, plan.ubatch
    );
    println!(
        "experts:        {} of {} expert tensors in host memory",
        plan.expert_tensors_host, plan.expert_tensors_total
    );
    for part in &plan.parts {
        let e = &part.estimate;
        if part.layers.is_empty() {
            println!(
                "{}:          no layers (no room in {})",
                e.device,
                e.budget.map_or("its memory".into(), format_bytes)
            );
            continue;
        }
        println!(
            "{}:          layers {}-{}, {} of {} expert tensors in host memory; weights {} + \
             KV {} + compute {} + {} context {} = {} ({} MiB) of {} MiB",
            e.device,
            part.layers.start,
            part.layers.end - 1,
            part.expert_tensors_host,
            part.expert_tensors,
            format_bytes(e.weights),
            format_bytes(e.kv_cache),
            format_bytes(e.compute),
            DeviceProfile::CUDA.backend,
            format_bytes(e.context),
            format_bytes(e.total()),
            e.total().div_ceil(MIB),
            e.budget.unwrap_or(0) / MIB
        );
    }
    println!("  tensor split:   {:?}", plan.tensor_split());
    if !plan.patterns.is_empty() {
        println!("  overrides:      {}", plan.patterns.join(" "));
    }
    Ok(())
}
