//! `shimmy-host probe`: load a model and print its facts and placement.

use anyhow::Result;
use shimmy_core::placement::format_bytes;

use super::Context;
use crate::cli::ProbeArgs;
use crate::plugin_host::{model_name, Plugins};

/// Loads the model and prints what it is and where its weights went.
pub fn run(ctx: &Context, args: ProbeArgs) -> Result<()> {
    let (_engine, model) = ctx.load(&args.model, &args.model_args)?;
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
    println!("placement:      {}", model.placement());
    for m in model.memory() {
        println!(
            "memory:         {} weights {} (llama.cpp's buffers)",
            m.device,
            format_bytes(m.model)
        );
    }
    Ok(())
}
