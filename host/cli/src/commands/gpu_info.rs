//! `shimmy-host gpu-info`: devices and backend libraries.

use anyhow::Result;
use shimmy_core::backend::Backend;
use shimmy_core::placement::format_bytes;

use super::{engine_line, Context};

/// Prints the backend libraries found and every device ggml sees.
pub fn run(ctx: &Context) -> Result<()> {
    let engine = ctx.engine()?;
    println!("backends dir: {}", engine.backends_dir().display());
    println!("libraries:");
    for lib in engine.libraries() {
        println!("  {}", lib.display());
    }
    println!("devices:");
    let devices = engine.devices();
    for d in &devices {
        println!(
            "  {:<8} {:<5} {:<40} {} free of {}",
            d.name,
            d.kind,
            d.description,
            format_bytes(d.memory_free),
            format_bytes(d.memory_total)
        );
    }
    println!("{}", engine_line(&engine));
    if !devices.iter().any(|d| d.kind == "gpu" || d.kind == "igpu") {
        println!(
            "no GPU device: inference runs on the CPU. To use an NVIDIA GPU, put libggml-cuda.so \
             in the backends dir (see docs/gpu.md)."
        );
    }
    Ok(())
}
