//! `shimmy-host serve`: the HTTP server.
//!
//! Discovery, plugins and the backend are set up here (blocking), then a multi-threaded tokio
//! runtime runs `shimmy_server::Server` over the engine. The startup banner goes to stdout
//! whatever `RUST_LOG` says; `NO_COLOR` (or a non-terminal stdout) turns colors off.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use shimmy_core::placement::format_bytes;
use shimmy_server::diagnostics::Colors;
use shimmy_server::{Server, ServerConfig};

use super::setup::{engine_config, prepare, start_engine, workflow_limits};
use super::Context;
use crate::cli::ServeArgs;

/// Runs the server until Ctrl-C.
pub fn run(ctx: &Context, args: ServeArgs) -> Result<()> {
    if args.max_loaded_models == 0 {
        anyhow::bail!("--max-loaded-models must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shimmy-http")
        .build()
        .context("starting the async runtime")?;
    // Bind first: a busy port is reported before anything slow happens.
    let listener = runtime.block_on(shimmy_server::bind(&args.bind))?;
    let parts = prepare(ctx, &args.model)?;
    let mut config = engine_config(
        &args.model_args,
        args.parallel,
        args.max_queue,
        parts.operator_templates.clone(),
    )?;
    config.keep_alive = args.keep_alive;
    config.workflow_limits = workflow_limits(&args.workflow_limits)?;
    config.max_loaded_models = args.max_loaded_models;
    config.hub = shimmy_hub::HubSettings::from_env();
    let preload: Vec<String> = if args.preload {
        parts
            .catalog
            .models
            .iter()
            .take(config.max_loaded_models)
            .map(|m| m.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let engine_line = parts.engine_line.clone();
    runtime.block_on(async move {
        let engine = start_engine(parts, config);
        let server = Server::with_listener(listener, engine.clone(), ServerConfig::default())?;
        print!(
            "{}",
            server.banner(env!("CARGO_PKG_VERSION"), Colors::for_stdout())
        );
        println!("{engine_line}");
        let stop = Arc::new(tokio::sync::Notify::new());
        let stop2 = stop.clone();
        let serving = tokio::spawn(server.run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = stop2.notified() => {}
            }
        }));
        if !preload.is_empty() {
            if let Err(e) = engine.models().preload(&preload).await {
                stop.notify_one();
                let _ = serving.await;
                return Err(anyhow::Error::new(e).context("--preload"));
            }
            for l in engine.models().loaded_models() {
                println!(
                    "loaded {} in {:.1} s (template {})",
                    l.name,
                    l.load_duration.as_secs_f64(),
                    l.template.name
                );
                println!("  {}", l.model.placement());
                for m in l.model.memory() {
                    println!(
                        "  {} memory: weights {}, KV cache {}, compute {}",
                        m.device,
                        format_bytes(m.model),
                        format_bytes(m.kv_cache),
                        format_bytes(m.compute)
                    );
                }
            }
            println!("ready");
        }
        serving.await.context("the server task failed")??;
        eprintln!("shut down");
        Ok(())
    })
}
