//! `shimmy-host serve`: the HTTP server.
//!
//! Discovery, plugins and the engine are set up here (blocking), then a multi-threaded tokio
//! runtime runs `shimmy_server::Server`. The startup banner goes to stdout whatever `RUST_LOG`
//! says; `NO_COLOR` (or a non-terminal stdout) turns colors off.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use shimmy_core::backend::{Backend, ModelOptions};
use shimmy_core::placement::format_bytes;
use shimmy_plugins::PluginRegistry;
use shimmy_server::diagnostics::Colors;
use shimmy_server::{Catalog, Server, ServerConfig};

use super::{model_options, Context};
use crate::cli::{ModelArgs, ServeArgs};
use crate::plugin_host::{model_name, Plugins};

/// What a server needs besides its configuration.
pub(super) struct Parts {
    pub backend: Arc<dyn Backend>,
    pub registry: Arc<PluginRegistry>,
    pub catalog: Catalog,
    pub operator_templates: BTreeMap<String, String>,
    /// The backend and device in use (see `engine_line`).
    pub engine_line: String,
}

/// Discovers the models (all of them, or those named), loads the plugins and the engine.
pub(super) fn prepare(ctx: &Context, models: &[String]) -> Result<Parts> {
    let report = ctx.discover();
    let chosen: Vec<(String, std::path::PathBuf)> = if models.is_empty() {
        report
            .models
            .iter()
            .map(|m| (m.name.clone(), m.path.clone()))
            .collect()
    } else {
        models
            .iter()
            .map(|asked| {
                let path = ctx.resolve(&report, asked)?;
                let name = report
                    .find(asked)
                    .map_or_else(|| model_name(asked), |m| m.name.clone());
                Ok((name, path))
            })
            .collect::<Result<_>>()?
    };
    let Plugins { registry, config } = Plugins::load(&ctx.plugins)?;
    let operator_templates: BTreeMap<String, String> = config
        .models
        .iter()
        .filter_map(|(name, m)| Some((name.clone(), m.template.clone()?)))
        .collect();
    let catalog = Catalog::build(chosen, &registry, &operator_templates);
    let engine = ctx.engine()?;
    let engine_line = super::engine_line(&engine);
    let backend: Arc<dyn Backend> = Arc::new(engine);
    Ok(Parts {
        engine_line,
        backend,
        registry: Arc::new(registry),
        catalog,
        operator_templates,
    })
}

/// The server configuration from the model flags and the serve flags.
pub(super) fn server_config(
    model_args: &ModelArgs,
    parallel: u32,
    max_queue: usize,
    operator_templates: BTreeMap<String, String>,
) -> Result<ServerConfig> {
    if parallel == 0 {
        anyhow::bail!("--parallel must be at least 1");
    }
    let model_options = model_options(model_args)?;
    Ok(ServerConfig {
        ctx_per_sequence: model_args.ctx_size,
        parallel,
        max_queue,
        prompt_chunk: model_args.batch_size,
        operator_templates,
        show_progress: std::io::stderr().is_terminal(),
        model_options: ModelOptions {
            parallel,
            ..model_options
        },
        ..ServerConfig::default()
    })
}

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
    let mut config = server_config(
        &args.model_args,
        args.parallel,
        args.max_queue,
        parts.operator_templates.clone(),
    )?;
    config.keep_alive = args.keep_alive;
    config.workflow_limits = super::workflow::limits(&args.workflow_limits)?;
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
        let server = Server::with_listener(
            listener,
            parts.backend,
            parts.registry,
            parts.catalog,
            config,
        )?;
        print!(
            "{}",
            server.banner(env!("CARGO_PKG_VERSION"), Colors::for_stdout())
        );
        println!("{engine_line}");
        let stop = Arc::new(tokio::sync::Notify::new());
        let state = server.state().clone();
        let stop2 = stop.clone();
        let serving = tokio::spawn(server.run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = stop2.notified() => {}
            }
        }));
        if !preload.is_empty() {
            if let Err(e) = state.manager.preload(&preload).await {
                stop.notify_one();
                let _ = serving.await;
                return Err(anyhow::Error::new(e).context("--preload"));
            }
            for l in state.manager.loaded_models() {
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
